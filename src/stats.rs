//! Order statistics over seeds: nearest-rank percentiles and the p50/p95/max spread that
//! `compare`, `sweep` and `merge` print.

use serde::Serialize;

/// The nearest-rank percentile `p` (0-100) of sorted values.
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as u64).div_ceil(100).max(1) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// p50, p95 and max of a set of values (absent when there is none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: Option<u64>,
    /// 95th percentile.
    pub p95: Option<u64>,
    /// Largest.
    pub max: Option<u64>,
}

impl Spread {
    /// The spread of `values`.
    pub fn of(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        Spread {
            p50: percentile(&values, 50),
            p95: percentile(&values, 95),
            max: values.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&[7], 95), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(Spread::of(vec![3, 1, 2]).max, Some(3));
    }
}

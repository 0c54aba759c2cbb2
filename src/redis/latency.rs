//! Per-command latency histograms as `INFO latencystats` keeps them: HdrHistogram with Redis's
//! parameters (1 ns to 1 s, 2 significant digits), log-linear buckets in a fixed array, and the
//! same percentile rule, so a percentile here is the value Redis would print.

/// server.h: `LATENCY_HISTOGRAM_MIN_VALUE` (ns).
const MIN_VALUE_NS: u64 = 1;
/// server.h: `LATENCY_HISTOGRAM_MAX_VALUE` (ns): longer durations are recorded as one second.
pub const MAX_VALUE_NS: u64 = 1_000_000_000;
/// `LATENCY_HISTOGRAM_PRECISION` = 2 significant digits: hdr_init's `sub_bucket_count` is the
/// power of two at or above 2 × 10², i.e. 256 (2^8).
const SUB_BUCKET_COUNT_MAGNITUDE: u32 = 8;
const SUB_BUCKET_COUNT: u64 = 1 << SUB_BUCKET_COUNT_MAGNITUDE;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT: u64 = SUB_BUCKET_COUNT / 2;
const SUB_BUCKET_MASK: u64 = SUB_BUCKET_COUNT - 1;
/// hdr_histogram.c: `buckets_needed_to_cover_value(1e9)`: 256 << 22 is the first power of two
/// past one second, so 23 buckets.
const BUCKET_COUNT: usize = 23;
/// `counts_len = (bucket_count + 1) * sub_bucket_half_count`: 3,072 counters (24 KiB).
const COUNTS_LEN: usize = (BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT as usize;

/// One command's latency histogram (ns), bounded in memory whatever the number of samples.
#[derive(Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Box<[u64; COUNTS_LEN]>,
    total: u64,
    max_ns: u64,
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LatencyHistogram({} samples)", self.total)
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: Box::new([0; COUNTS_LEN]),
            total: 0,
            max_ns: 0,
        }
    }
}

/// hdr_histogram.c: `get_bucket_index` (unit magnitude 0, as the lowest value is 1).
fn bucket_index(value: u64) -> u32 {
    let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
    pow2ceiling - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
}

/// `get_sub_bucket_index`.
fn sub_bucket_index(value: u64, bucket: u32) -> u64 {
    value >> bucket
}

/// `counts_index`.
fn counts_index(bucket: u32, sub_bucket: u64) -> usize {
    let base = (u64::from(bucket) + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
    (base + sub_bucket - SUB_BUCKET_HALF_COUNT) as usize
}

/// `hdr_value_at_index`.
fn value_at_index(index: usize) -> u64 {
    let index = index as u64;
    let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let mut sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        sub_bucket -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    sub_bucket << bucket
}

/// `highest_equivalent_value`: the top of the range of values that share `value`'s counter.
fn highest_equivalent_value(value: u64) -> u64 {
    let bucket = bucket_index(value);
    let sub_bucket = sub_bucket_index(value, bucket);
    let lowest = sub_bucket << bucket;
    let adjusted = if sub_bucket >= SUB_BUCKET_COUNT {
        bucket + 1
    } else {
        bucket
    };
    lowest + (1u64 << adjusted) - 1
}

impl LatencyHistogram {
    /// server.c: `updateCommandLatencyHistogram`: one duration in nanoseconds, clamped to
    /// [1 ns, 1 s] as Redis clamps it.
    pub fn record(&mut self, duration_ns: u64) {
        let v = duration_ns.clamp(MIN_VALUE_NS, MAX_VALUE_NS);
        let b = bucket_index(v);
        self.counts[counts_index(b, sub_bucket_index(v, b))] += 1;
        self.total += 1;
        self.max_ns = self.max_ns.max(v);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// hdr_histogram.c: `hdr_value_at_percentile` (in ns): the highest value equivalent to the
    /// first counter at which the cumulative count reaches `percentile`% of the samples
    /// (rounded to the nearest count, at least one). 0 when empty.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let requested = percentile.min(100.0);
        let wanted = (((requested / 100.0) * self.total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                return highest_equivalent_value(value_at_index(i));
            }
        }
        0
    }

    /// `INFO latencystats`' default percentiles (`latency-tracking-info-percentiles "50 99
    /// 99.9"`) in microseconds, as `fillPercentileDistributionLatencies` prints them (ns / 1000).
    pub fn percentiles_usec(&self) -> Percentiles {
        let us = |p| self.value_at_percentile(p) as f64 / 1000.0;
        Percentiles {
            p50: us(50.0),
            p99: us(99.0),
            p999: us(99.9),
        }
    }
}

/// p50/p99/p99.9 of one command, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    #[serde(rename = "p99.9")]
    pub p999: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact_and_large_ones_within_one_percent() {
        for v in [1u64, 2, 100, 255] {
            assert_eq!(highest_equivalent_value(v), v, "{v}");
        }
        for v in [1_000u64, 123_456, 10_000_000, 999_999_999] {
            let h = highest_equivalent_value(v);
            assert!(h >= v && (h - v) * 128 <= v, "{v} -> {h}");
        }
    }

    #[test]
    fn every_value_lands_in_a_counter_that_gives_it_back() {
        for v in [1u64, 255, 256, 257, 1023, 65_536, 1_000_000_000] {
            let b = bucket_index(v);
            let i = counts_index(b, sub_bucket_index(v, b));
            assert!(i < COUNTS_LEN, "{v}");
            let back = highest_equivalent_value(value_at_index(i));
            assert_eq!(back, highest_equivalent_value(v), "{v}");
        }
    }

    #[test]
    fn percentiles_follow_hdr_rounding() {
        let mut h = LatencyHistogram::default();
        for _ in 0..99 {
            h.record(0);
        }
        h.record(5_000_000_000);
        // 0 is recorded as 1 ns; 5 s as 1 s (its counter's highest value).
        assert_eq!(h.value_at_percentile(50.0), 1);
        assert_eq!(h.value_at_percentile(99.0), 1);
        let top = h.value_at_percentile(99.9);
        assert_eq!(top, highest_equivalent_value(MAX_VALUE_NS));
        assert!((MAX_VALUE_NS..MAX_VALUE_NS + MAX_VALUE_NS / 100).contains(&top));
        assert_eq!(h.percentiles_usec().p50, 0.001);
        assert_eq!(LatencyHistogram::default().value_at_percentile(99.0), 0);
    }
}

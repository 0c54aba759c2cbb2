//! Sweeps: one scenario over many seeds, in parallel (one run per thread at a time), with
//! sharding so that a CI matrix or a batch scheduler can split a sweep over machines.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::report::Summary;
use crate::runner::run_scenario;
use crate::scenario::Scenario;

/// Parses `A..B` (B excluded) or `A..=B` into the list of seeds.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("\"{text}\" is not a seed range; write e.g. 1..1000 or 1..=1000");
    let (a, b, inclusive) = match text.split_once("..=") {
        Some((a, b)) => (a, b, true),
        None => {
            let (a, b) = text.split_once("..").ok_or_else(bad)?;
            (a, b, false)
        }
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        b.checked_add(1).ok_or_else(bad)?
    } else {
        b
    };
    if end <= a {
        return Err(format!("\"{text}\" is empty"));
    }
    if end - a > 100_000_000 {
        return Err(format!("\"{text}\" has more than 100 million seeds"));
    }
    Ok((a..end).collect())
}

/// Parses `K/N` (0 <= K < N): this machine takes every N-th seed starting at the K-th.
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let bad = || format!("\"{text}\" is not a shard; write K/N with 0 <= K < N, e.g. 0/4");
    let (k, n) = text.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The seeds of shard `k` of `n`.
pub fn shard(seeds: &[u64], (k, n): (usize, usize)) -> Vec<u64> {
    seeds.iter().copied().skip(k).step_by(n).collect()
}

/// The outcome of one seed.
pub type SeedResult = Result<Summary, String>;

/// Runs every seed with `jobs` threads; `on_done` is told after each run (for a progress bar).
/// Results come back in seed order.
pub fn run(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    on_done: &(dyn Fn() + Sync),
) -> Vec<(u64, SeedResult)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, SeedResult)>> = Mutex::new(Vec::with_capacity(seeds.len()));
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    let r = run_scenario(scenario, seed, &mut |_| {}, &mut |_| {}, &mut || 0)
                        .map(|r| r.summary)
                        .map_err(|e| e.to_string());
                    results.lock().expect("no thread panicked").push((seed, r));
                    on_done();
                }
            });
        }
    });
    let mut out = results.into_inner().expect("no thread panicked");
    out.sort_by_key(|(seed, _)| *seed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards() {
        assert_eq!(parse_seeds("1..4").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1..=4").unwrap(), vec![1, 2, 3, 4]);
        assert!(parse_seeds("4..1").is_err());
        assert!(parse_seeds("x").is_err());
        assert_eq!(parse_shard("1/3").unwrap(), (1, 3));
        assert!(parse_shard("3/3").is_err());
        let all = parse_seeds("0..10").unwrap();
        let mut merged: Vec<u64> = (0..3).flat_map(|k| shard(&all, (k, 3))).collect();
        merged.sort();
        assert_eq!(merged, all, "shards partition the seeds");
    }
}

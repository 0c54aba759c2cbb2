//! Sweeps: one scenario over many seeds, in parallel (one run per thread at a time), with
//! sharding so that a CI matrix or a batch scheduler can split a sweep over machines, and the
//! merge of their outputs: keyed by (scenario hash, seed), checked for conflicts and coverage.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;

use crate::report::{Summary, Verdict, plural, replay_command};
use crate::runner::{Provenance, run_from, scenario_hash};
use crate::scenario::Scenario;

/// The most seeds one sweep may cover.
pub const MAX_SEEDS: u64 = 100_000_000;

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
    if end - a > MAX_SEEDS {
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

/// The threads a sweep uses: `--jobs` (at least 1) or the cores, never more than the seeds.
pub fn threads(requested: Option<usize>, seeds: usize, cores: usize) -> Result<usize, String> {
    match requested {
        Some(0) => Err("--jobs must be at least 1".into()),
        Some(n) => Ok(n.min(seeds).max(1)),
        None => Ok(cores.min(seeds).max(1)),
    }
}

/// The outcome of one seed.
pub type SeedResult = Result<Summary, String>;

/// What a sweep runs: the scenario, where it came from, and its seeds.
pub struct Plan<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Its file and overrides.
    pub source: &'a Provenance,
    /// The seeds, in order.
    pub seeds: &'a [u64],
}

/// Runs every seed with up to `jobs` threads (fewer if the system refuses to start more; the
/// calling thread works too); `on_done` is told after each run. Results come back in seed order.
pub fn run(plan: &Plan, jobs: usize, on_done: &(dyn Fn() + Sync)) -> Vec<(u64, SeedResult)> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(u64, SeedResult)>> = Mutex::new(Vec::with_capacity(plan.seeds.len()));
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&seed) = plan.seeds.get(i) else {
                break;
            };
            let r = run_from(
                plan.scenario,
                plan.source,
                seed,
                &mut |_| {},
                &mut |_| {},
                &mut || 0,
            )
            .map(|r| r.summary)
            .map_err(|e| e.to_string());
            results.lock().expect("no thread panicked").push((seed, r));
            on_done();
        }
    };
    std::thread::scope(|s| {
        for _ in 1..jobs.max(1) {
            if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                break;
            }
        }
        work();
    });
    let mut out = results.into_inner().expect("no thread panicked");
    out.sort_by_key(|(seed, _)| *seed);
    out
}

/// The JSON line a sweep prints for one seed: the summary (or the error, with the scenario's
/// identity) plus `sweep_seeds` and `shard`, which let `merge` check coverage.
pub fn seed_line(
    plan: &Plan,
    result: &(u64, SeedResult),
    seeds: &str,
    shard: (usize, usize),
) -> String {
    let mut v = match &result.1 {
        Ok(summary) => serde_json::to_value(summary).expect("the summary serialises"),
        Err(e) => serde_json::json!({
            "scenario": plan.scenario.name,
            "seed": result.0,
            "error": e,
            "verdict": "error",
            "scenario_file": plan.source.scenario_file,
            "overrides": plan.source.overrides,
            "scenario_hash": scenario_hash(plan.scenario),
        }),
    };
    v["sweep_seeds"] = serde_json::json!(seeds);
    v["shard"] = serde_json::json!(format!("{}/{}", shard.0, shard.1));
    v.to_string()
}

/// How one seed ended, as a sweep line records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// An expectation failed.
    Fail,
    /// The run did not complete.
    Error,
}

impl From<Verdict> for Outcome {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Pass => Outcome::Pass,
            Verdict::Fail => Outcome::Fail,
        }
    }
}

/// One seed of a sweep, as the table and the merge see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedLine {
    /// The scenario's name.
    pub scenario: String,
    /// The effective scenario's hash.
    pub scenario_hash: String,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The trace hash (absent for errors).
    pub trace_hash: Option<String>,
    /// The unmet expectations, or the error.
    pub unmet: Vec<String>,
    /// The command that replays it.
    pub replay: String,
    /// The sweep's seed range and shard, when the line records them.
    pub sweep: Option<(String, String)>,
    /// What the seed measured (absent for errors).
    pub stats: Option<SeedStats>,
}

/// What one seed measured, for the statistics that end a sweep's table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedStats {
    /// Lost acknowledged writes (`acked-writes-durable`), when judged.
    pub lost: Option<u64>,
    /// Acknowledged set members in no final read (`acked-adds-durable`), when judged.
    pub lost_adds: Option<u64>,
    /// Each failover's detection and completion after its fault (ms).
    pub failovers: Vec<(u64, u64)>,
    /// Full resyncs.
    pub full_resyncs: u64,
    /// Operations that definitely failed.
    pub ops_failed: u64,
    /// Operations whose outcome is unknown.
    pub ops_indeterminate: u64,
}

impl SeedStats {
    fn of(s: &Summary) -> Self {
        let count = |name: &str| {
            s.checks
                .iter()
                .find(|c| c.name == name && c.status != crate::check::Status::Skipped)
                .map(|c| c.count)
        };
        SeedStats {
            lost: count("acked-writes-durable"),
            lost_adds: count("acked-adds-durable"),
            failovers: s
                .failovers
                .iter()
                .map(|f| (f.detected_after_ms, f.completed_after_ms))
                .collect(),
            full_resyncs: s.replication.full_resyncs,
            ops_failed: s.ops.failed,
            ops_indeterminate: s.ops.indeterminate,
        }
    }

    /// From a summary line's JSON (the fields `simkv run --json` writes).
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let count = |name: &str| {
            v["checks"].as_array()?.iter().find_map(|c| {
                (c["name"] == name && c["status"] != "skipped")
                    .then(|| c["count"].as_u64())
                    .flatten()
            })
        };
        let failovers = v["failovers"]
            .as_array()?
            .iter()
            .filter_map(|f| {
                Some((
                    f["detected_after_ms"].as_u64()?,
                    f["completed_after_ms"].as_u64()?,
                ))
            })
            .collect();
        Some(SeedStats {
            lost: count("acked-writes-durable"),
            lost_adds: count("acked-adds-durable"),
            failovers,
            full_resyncs: v["replication"]["full_resyncs"].as_u64()?,
            ops_failed: v["ops"]["failed"].as_u64()?,
            ops_indeterminate: v["ops"]["indeterminate"].as_u64()?,
        })
    }
}

/// The figures of a group of seeds: p50, p95 and max of each (rows without values left out).
fn statistics(lines: &[&SeedLine]) -> String {
    let stats: Vec<&SeedStats> = lines.iter().filter_map(|l| l.stats.as_ref()).collect();
    if stats.is_empty() {
        return String::new();
    }
    let per_seed = |f: &dyn Fn(&SeedStats) -> Option<u64>| -> Vec<u64> {
        stats.iter().filter_map(|s| f(s)).collect()
    };
    let failovers: Vec<(u64, u64)> = stats.iter().flat_map(|s| s.failovers.clone()).collect();
    let rows: Vec<(&str, Vec<u64>)> = vec![
        ("lost acknowledged writes", per_seed(&|s| s.lost)),
        ("lost set members (final reads)", per_seed(&|s| s.lost_adds)),
        ("failovers", per_seed(&|s| Some(s.failovers.len() as u64))),
        (
            "failover detected after (ms)",
            failovers.iter().map(|f| f.0).collect(),
        ),
        (
            "failover completed after (ms)",
            failovers.iter().map(|f| f.1).collect(),
        ),
        ("full resyncs", per_seed(&|s| Some(s.full_resyncs))),
        ("failed operations", per_seed(&|s| Some(s.ops_failed))),
        (
            "indeterminate operations",
            per_seed(&|s| Some(s.ops_indeterminate)),
        ),
    ];
    let mut out = format!(
        "{:<32}{:>10}{:>10}{:>10}{:>10}\n",
        format!("over {}", plural(stats.len() as u64, "seed")),
        "min",
        "p50",
        "p95",
        "max"
    );
    for (name, values) in rows {
        if values.is_empty() {
            continue;
        }
        let min = values.iter().min().copied();
        let s = crate::stats::Spread::of(values);
        let cell = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        out.push_str(&format!(
            "{name:<32}{:>10}{:>10}{:>10}{:>10}\n",
            cell(min),
            cell(s.p50),
            cell(s.p95),
            cell(s.max)
        ));
    }
    out
}

impl SeedLine {
    /// The line of a finished run.
    pub fn of(summary: &Summary) -> Self {
        SeedLine {
            scenario: summary.scenario.clone(),
            scenario_hash: summary.scenario_hash.clone(),
            seed: summary.seed,
            outcome: summary.verdict.into(),
            trace_hash: Some(summary.trace_hash.clone()),
            unmet: summary
                .expectations
                .iter()
                .filter(|e| !e.met)
                .map(|e| format!("{} {} (actual {})", e.name, e.expected, e.actual))
                .collect(),
            replay: summary.replay_command(),
            sweep: None,
            stats: Some(SeedStats::of(summary)),
        }
    }

    /// The line of a run that did not complete.
    pub fn error(plan: &Plan, seed: u64, error: &str) -> Self {
        SeedLine {
            scenario: plan.scenario.name.clone(),
            scenario_hash: scenario_hash(plan.scenario),
            seed,
            outcome: Outcome::Error,
            trace_hash: None,
            unmet: vec![format!("the run did not complete: {error}")],
            replay: replay_command(&plan.source.scenario_file, seed, &plan.source.overrides),
            sweep: None,
            stats: None,
        }
    }
}

#[derive(Deserialize)]
struct ExpectationLine {
    name: String,
    expected: String,
    actual: String,
    met: bool,
}

/// The fields of a sweep line that a merge reads.
#[derive(Deserialize)]
struct LineFields {
    seed: Option<u64>,
    scenario_hash: Option<String>,
    verdict: Option<String>,
    #[serde(default)]
    scenario: String,
    trace_hash: Option<String>,
    #[serde(default)]
    scenario_file: String,
    #[serde(default)]
    overrides: Vec<String>,
    #[serde(default)]
    expectations: Vec<ExpectationLine>,
    error: Option<String>,
    sweep_seeds: Option<String>,
    shard: Option<String>,
}

/// Reads one line of `simkv sweep` output.
pub fn parse_line(text: &str) -> Result<SeedLine, String> {
    let f: LineFields = serde_json::from_str(text)
        .map_err(|e| format!("not a complete sweep line (JSON object): {e}"))?;
    let seed = f.seed.ok_or("the line has no \"seed\"")?;
    let scenario_hash = f.scenario_hash.ok_or(
        "the line has no \"scenario_hash\" (was it written by an older simkv? re-run the sweep)",
    )?;
    let outcome = match f.verdict.as_deref() {
        Some("pass") => Outcome::Pass,
        Some("fail") => Outcome::Fail,
        Some("error") => Outcome::Error,
        other => {
            return Err(format!(
                "the line's \"verdict\" is {other:?}, not pass, fail or error"
            ));
        }
    };
    let mut unmet: Vec<String> = f
        .expectations
        .iter()
        .filter(|e| !e.met)
        .map(|e| format!("{} {} (actual {})", e.name, e.expected, e.actual))
        .collect();
    unmet.extend(f.error.map(|e| format!("the run did not complete: {e}")));
    Ok(SeedLine {
        scenario: f.scenario,
        scenario_hash,
        seed,
        outcome,
        trace_hash: f.trace_hash,
        unmet,
        replay: replay_command(&f.scenario_file, seed, &f.overrides),
        sweep: f.sweep_seeds.zip(f.shard),
        stats: serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| SeedStats::from_json(&v)),
    })
}

/// A problem in a merge's input, located by file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// One scenario's seeds in a merge.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// Seed → its line and where it came from.
    pub seeds: BTreeMap<u64, (SeedLine, String)>,
}

/// Merged sweep outputs: scenario hash → its seeds. Sweeps of different scenarios (or of one
/// scenario with different overrides) stay apart.
#[derive(Clone, Debug, Default)]
pub struct Merged {
    /// The groups, by scenario hash.
    pub groups: BTreeMap<String, Group>,
}

impl Merged {
    /// Adds the lines of one file (`name` is used in errors). The same (scenario hash, seed)
    /// twice is accepted when both agree on verdict and trace hash, and is an error otherwise.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), InputError> {
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let at = |message: String| InputError {
                file: name.to_string(),
                line: i + 1,
                message,
            };
            let line = parse_line(l).map_err(at)?;
            let group = self.groups.entry(line.scenario_hash.clone()).or_default();
            let here = format!("{name}:{}", i + 1);
            if let Some((seen, there)) = group.seeds.get(&line.seed) {
                if seen.outcome != line.outcome || seen.trace_hash != line.trace_hash {
                    return Err(at(format!(
                        "seed {} of scenario {} ({}) conflicts with {there}: {:?} with trace {:?} \
                         here, {:?} with trace {:?} there",
                        line.seed,
                        line.scenario,
                        line.scenario_hash,
                        line.outcome,
                        line.trace_hash,
                        seen.outcome,
                        seen.trace_hash
                    )));
                }
                continue;
            }
            group.seeds.insert(line.seed, (line, here));
        }
        Ok(())
    }

    /// The seed range the lines say their sweeps covered, if they all agree.
    pub fn recorded_range(&self, shards: usize) -> Result<String, String> {
        let mut ranges: Vec<&str> = Vec::new();
        for (line, at) in self.groups.values().flat_map(|g| g.seeds.values()) {
            let Some((range, shard)) = &line.sweep else {
                return Err(format!(
                    "{at}: the line does not record its sweep's --seeds"
                ));
            };
            let (_, n) = parse_shard(shard).map_err(|e| format!("{at}: shard {e}"))?;
            if n != shards {
                return Err(format!(
                    "{at}: the line comes from a sweep split into {n} shards"
                ));
            }
            if !ranges.contains(&range.as_str()) {
                ranges.push(range);
            }
        }
        match ranges.as_slice() {
            [one] => Ok(one.to_string()),
            [] => Err("no sweep lines to check".into()),
            many => Err(format!(
                "the lines come from sweeps over different seeds: {}",
                many.join(", ")
            )),
        }
    }

    /// Per scenario, the seeds of `expected` that no line covers.
    pub fn missing(&self, expected: &[u64]) -> Vec<(String, Vec<u64>)> {
        self.groups
            .values()
            .filter_map(|g| {
                let (first, _) = g.seeds.values().next()?;
                let gaps: Vec<u64> = expected
                    .iter()
                    .copied()
                    .filter(|s| !g.seeds.contains_key(s))
                    .collect();
                (!gaps.is_empty()).then(|| (first.scenario.clone(), gaps))
            })
            .collect()
    }
}

/// The seeds a merge must cover: `--seeds`, or with `--shards N` the range the lines' sweeps
/// recorded (every line must come from a sweep split into N shards); `None` without either.
pub fn expected_seeds(
    merged: &Merged,
    seeds: Option<&str>,
    shards: Option<usize>,
) -> Result<Option<Vec<u64>>, String> {
    let recorded = shards.map(|n| merged.recorded_range(n)).transpose()?;
    match seeds.or(recorded.as_deref()) {
        Some(range) => parse_seeds(range).map(Some),
        None => Ok(None),
    }
}

/// Seeds written compactly: `3, 7..=9, 12`.
pub fn seed_list(seeds: &[u64]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let mut j = i;
        while j + 1 < seeds.len() && seeds[j + 1] == seeds[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            seeds[i].to_string()
        } else {
            format!("{}..={}", seeds[i], seeds[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// The table of a sweep or merge (one block per scenario), with the replay command of every
/// seed that did not pass; and whether every seed passed.
pub fn table(lines: &[&SeedLine]) -> (String, bool) {
    let mut by_scenario: BTreeMap<(&str, &str), Vec<&SeedLine>> = BTreeMap::new();
    for l in lines {
        by_scenario
            .entry((&l.scenario, &l.scenario_hash))
            .or_default()
            .push(l);
    }
    let mut s = String::new();
    let mut all_pass = true;
    for ((scenario, hash), ls) in by_scenario {
        let count = |o: Outcome| ls.iter().filter(|l| l.outcome == o).count();
        s.push_str(&format!(
            "scenario {scenario} (scenario hash {hash}): {}\n",
            plural(ls.len() as u64, "seed")
        ));
        s.push_str("verdict   seeds\n");
        s.push_str(&format!("pass      {}\n", count(Outcome::Pass)));
        s.push_str(&format!("fail      {}\n", count(Outcome::Fail)));
        if count(Outcome::Error) > 0 {
            s.push_str(&format!("error     {}\n", count(Outcome::Error)));
        }
        s.push_str(&statistics(&ls));
        for f in ls.iter().filter(|l| l.outcome != Outcome::Pass) {
            all_pass = false;
            s.push_str(&format!("seed {}: {}\n", f.seed, f.unmet.join("; ")));
            s.push_str(&format!("  replay: {}\n", f.replay));
        }
    }
    (s, all_pass)
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

    #[test]
    fn threads_are_at_least_one_and_at_most_the_seeds() {
        assert!(threads(Some(0), 10, 4).is_err());
        assert_eq!(threads(Some(100_000), 3, 4), Ok(3));
        assert_eq!(threads(None, 2, 8), Ok(2));
        assert_eq!(threads(None, 100, 8), Ok(8));
    }

    fn line(hash: &str, seed: u64, verdict: &str, trace: &str) -> String {
        format!(
            r#"{{"scenario":"s","scenario_hash":"{hash}","seed":{seed},"verdict":"{verdict}","trace_hash":"{trace}","scenario_file":"s.toml","overrides":["a=b c"],"sweep_seeds":"1..4","shard":"{}/2"}}"#,
            (seed - 1) % 2
        )
    }

    #[test]
    fn merge_keys_by_scenario_hash_and_seed() {
        let mut m = Merged::default();
        let a = [line("h1", 1, "pass", "t1"), line("h1", 2, "fail", "t2")].join("\n");
        m.add("a", &a).unwrap();
        m.add("again", &line("h1", 1, "pass", "t1")).unwrap();
        m.add("other", &line("h2", 1, "pass", "t9")).unwrap();
        assert_eq!(m.groups.len(), 2, "two scenarios stay apart");
        let conflict = m.add("c", &line("h1", 2, "pass", "t2")).unwrap_err();
        assert_eq!((conflict.file.as_str(), conflict.line), ("c", 1));
        assert!(conflict.message.contains("a:2"), "{}", conflict.message);
        let (_, replay) = &m.groups["h1"].seeds[&2];
        assert_eq!(replay, "a:2");
        assert_eq!(
            m.groups["h1"].seeds[&2].0.replay,
            "simkv run s.toml --set 'a=b c' --seed 2"
        );
        assert_eq!(
            m.missing(&[1, 2, 3]),
            vec![("s".to_string(), vec![3]), ("s".to_string(), vec![2, 3])]
        );
        assert_eq!(m.recorded_range(2), Ok("1..4".to_string()));
        assert!(m.recorded_range(3).is_err());
    }

    #[test]
    fn bad_lines_are_located() {
        for bad in [
            "{}",
            r#"{"seed": 1, "verdict": "pass"}"#,
            r#"{"seed": 1, "scen"#,
            "[1]",
        ] {
            let mut m = Merged::default();
            let text = format!("{}\n\n{bad}\n", line("h", 1, "pass", "t"));
            let e = m.add("f.jsonl", &text).unwrap_err();
            assert_eq!(e.line, 3, "{bad}");
            assert!(e.to_string().starts_with("f.jsonl:3: "), "{e}");
        }
    }

    #[test]
    fn seed_lists_are_compact() {
        assert_eq!(seed_list(&[1, 3, 4, 5, 9]), "1, 3..=5, 9");
        assert_eq!(seed_list(&[]), "");
    }

    /// A sweep's table ends with each figure's spread over the seeds, read back from the
    /// summary lines as a merge sees them.
    #[test]
    fn the_table_ends_with_statistics_over_the_seeds() {
        let line = |seed: u64, lost: u64, completed: u64| {
            let v = serde_json::json!({
                "scenario": "s", "scenario_hash": "h", "seed": seed, "verdict": "pass",
                "trace_hash": "t", "scenario_file": "s.toml", "overrides": [],
                "expectations": [],
                "checks": [{"name": "acked-writes-durable", "status": "fail", "count": lost}],
                "failovers": [{"detected_after_ms": 5000, "completed_after_ms": completed}],
                "replication": {"full_resyncs": 2},
                "ops": {"failed": 0, "indeterminate": 1},
            });
            parse_line(&v.to_string()).unwrap()
        };
        let lines: Vec<SeedLine> = (1..=20).map(|s| line(s, 100 * s, 6000 + s)).collect();
        let (table, pass) = table(&lines.iter().collect::<Vec<_>>());
        assert!(pass);
        let row = |name: &str| -> Vec<String> {
            let l = table
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{table}"));
            l[name.len()..]
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        assert!(table.contains("over 20 seeds"), "{table}");
        assert_eq!(
            row("lost acknowledged writes"),
            ["100", "1000", "1900", "2000"]
        );
        assert_eq!(
            row("failover completed after (ms)"),
            ["6001", "6010", "6019", "6020"]
        );
        assert_eq!(row("full resyncs"), ["2", "2", "2", "2"]);
        assert!(
            !table.contains("lost set members"),
            "not judged: no row\n{table}"
        );
    }
}

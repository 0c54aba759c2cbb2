//! MSET and MGET in a cluster: keys that share a hash tag are served like one key, keys that do
//! not are refused with -CROSSSLOT before the command runs, and a command whose keys a
//! resharding has split between two nodes is refused with -TRYAGAIN. Each multi-key command is
//! one history operation per key, made and completed together, and lost (or kept) whole.

mod common;

use simkv::history::{EventType, HistoryEvent};
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let path = common::root().join("scenarios").join(name);
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> simkv::runner::RunReport {
    run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap()
}

fn tagged(e: &HistoryEvent) -> bool {
    e.key.contains('{')
}

/// The multi-key commands' completions, grouped: one group per command (same process, same
/// time), keys in order.
fn commands(events: &[HistoryEvent]) -> Vec<Vec<&HistoryEvent>> {
    let mut out: Vec<Vec<&HistoryEvent>> = Vec::new();
    for e in events.iter().filter(|e| e.kind != EventType::Invoke) {
        if !matches!(e.f(), "mset" | "mget") {
            continue;
        }
        match out.last_mut() {
            Some(g) if g[0].process == e.process && g[0].time_ns == e.time_ns => g.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

#[test]
fn hash_tags_decide_whether_a_multi_key_command_runs() {
    let r = run(&load("cluster-multi-key.toml", &[]), 1);
    let events = &r.output.history.events;
    let groups = commands(events);
    assert!(
        groups.iter().all(|g| g.len() == 3),
        "three keys per command"
    );
    let (with_tags, without): (Vec<_>, Vec<_>) = groups.iter().partition(|g| tagged(g[0]));
    assert!(without.len() > 1000 && with_tags.len() > 1000);
    // Without hash tags, every command is refused before it runs, on every key.
    for g in &without {
        for e in g.iter() {
            assert_eq!(e.kind, EventType::Fail);
            assert_eq!(
                e.error(),
                Some("CROSSSLOT Keys in request don't hash to the same slot")
            );
        }
    }
    // With them, a command's keys complete together and alike.
    for g in &with_tags {
        assert!(
            g.iter()
                .all(|e| e.kind == g[0].kind && e.error() == g[0].error())
        );
        assert!(g.iter().all(|e| e.server() == g[0].server()));
    }
    let served = with_tags
        .iter()
        .filter(|g| g[0].kind == EventType::Ok)
        .count();
    assert!(
        served * 100 >= with_tags.len() * 99,
        "{served} of {}",
        with_tags.len()
    );
    // An MGET reads the values an MSET wrote to the same group (the values are unique).
    let written: std::collections::BTreeSet<(&str, &str)> = events
        .iter()
        .filter(|e| e.kind == EventType::Invoke && e.f() == "mset")
        .filter_map(|e| Some((&*e.key, e.value.as_str()?)))
        .collect();
    let read: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f() == "mget")
        .filter_map(|e| Some((&*e.key, e.value.as_str()?)))
        .collect();
    assert!(read.len() > 1000);
    assert!(read.iter().all(|kv| written.contains(kv)));
    for check in ["linearizable", "acked-writes-durable", "read-your-writes"] {
        let c = r.summary.checks.iter().find(|c| c.name == check).unwrap();
        assert_eq!(
            c.status,
            simkv::check::Status::Pass,
            "{check}: {}",
            c.detail
        );
    }
}

#[test]
fn a_resharding_that_splits_a_tagged_group_answers_tryagain() {
    for seed in 1..=3 {
        let r = run(&load("cluster-multi-key.toml", &[]), seed);
        let tryagain: Vec<u64> = commands(&r.output.history.events)
            .iter()
            .filter(|g| {
                g[0].error() == Some("TRYAGAIN Multiple keys request during rehashing of slot")
            })
            .map(|g| g[0].time_ns / 1_000_000)
            .collect();
        assert!(!tryagain.is_empty(), "seed {seed}: no TRYAGAIN");
        // Only while slots move: the resharding starts at 20 s and moves ~20 groups, two keys
        // per MIGRATE every 100 ms.
        assert!(
            tryagain.iter().all(|t| (20_000..30_000).contains(t)),
            "seed {seed}: {tryagain:?}"
        );
    }
    // With a batch that moves a whole group at once, no group is ever split.
    let whole = run(&load("cluster-multi-key.toml", &["faults.0.batch=10"]), 1);
    assert!(
        commands(&whole.output.history.events)
            .iter()
            .all(|g| !g[0].error().unwrap_or("").starts_with("TRYAGAIN"))
    );
}

#[test]
fn an_mset_is_lost_whole_or_not_at_all() {
    // The Jepsen split brain: box1's clients keep writing to the old primary, whose writes are
    // discarded when it rejoins. An MSET has one place in the replication stream, so its keys
    // are lost together: every lost MSET key has its two siblings, with the same process and
    // acknowledgement time, among the lost.
    let s = load(
        "sentinel-split-brain.toml",
        &["workloads.box1.mix={mset=50,set=50}", "expect={}"],
    );
    let r = run(&s, 1);
    let msets: Vec<&simkv::check::LostWrite> =
        r.lost.iter().filter(|l| l.key.contains("m{")).collect();
    assert!(msets.len() > 1000, "{} MSET keys lost", msets.len());
    let mut commands: std::collections::BTreeMap<(u32, u64, &str), usize> = Default::default();
    for l in &msets {
        let tag = &l.key[..l.key.find('}').unwrap()];
        *commands.entry((l.process, l.ack_ms, tag)).or_default() += 1;
    }
    let split: Vec<_> = commands.iter().filter(|(_, n)| **n != 2).collect();
    assert!(split.is_empty(), "MSETs lost in part: {split:?}");
}

#[test]
fn multi_key_knobs_are_checked() {
    let out = common::simkv(&[
        "run",
        "scenarios/cluster-multi-key.toml",
        "--set",
        "workloads.tagged.multi_keys=17",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("workloads.tagged.multi_keys"),
        "{}",
        out.stderr
    );
    let out = common::simkv(&[
        "run",
        "scenarios/cluster-shard-failover.toml",
        "--set",
        "workloads.app.hash_tags=false",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("only applies to MSET and MGET"),
        "{}",
        out.stdout
    );
}

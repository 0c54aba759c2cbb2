//! Jepsen's set workload: acknowledged `SADD`s that no final `SMEMBERS` returns are lost. The set
//! check decides this from the history alone, the lineage check from the replication history
//! alone: on sentinel-best-replica both name exactly the same adds, and neither count depends on
//! how long the run goes on after the loss.

mod common;

use std::collections::BTreeSet;

use simkv::check::Status;
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn scenario(overrides: &[&str]) -> Scenario {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/sentinel-best-replica.toml");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&p, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> RunReport {
    run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).expect("the run completes")
}

fn check<'r>(r: &'r RunReport, name: &str) -> &'r simkv::check::CheckResult {
    r.summary
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn the_set_check_and_the_lineage_agree_on_every_lost_add() {
    let s = scenario(&[]);
    for seed in 1..=3 {
        let r = run(&s, seed);
        let by_reads: BTreeSet<(String, String)> = r
            .lost_adds
            .iter()
            .map(|l| (l.key.clone(), l.member.clone()))
            .collect();
        let by_lineage: BTreeSet<(String, String)> = r
            .lost
            .iter()
            .filter(|l| l.f == "sadd")
            .map(|l| (l.key.to_string(), l.value.to_string()))
            .collect();
        assert!(
            by_reads.len() > 1000,
            "seed {seed}: the pinned set clients lose what p1 acknowledged ({})",
            by_reads.len()
        );
        assert_eq!(by_reads, by_lineage, "seed {seed}");
        let adds = check(&r, "acked-adds-durable");
        assert_eq!(adds.status, Status::Fail, "{}", adds.detail);
        assert_eq!(adds.count as usize, by_reads.len());
        // Every client read every set at the end, and the reads agree.
        let reads = r
            .output
            .history
            .operations()
            .into_iter()
            .filter(|o| o.f == "smembers" && o.outcome == simkv::history::EventType::Ok)
            .count();
        assert_eq!(reads, 2 * 10, "seed {seed}: 2 clients x 10 sets");
        assert!(!adds.detail.contains("disagree"), "{}", adds.detail);
    }
}

#[test]
fn set_loss_does_not_depend_on_the_run_length() {
    let lost = |duration: &str| {
        let r = run(&scenario(&[&format!("duration={duration}")]), 2);
        (check(&r, "acked-adds-durable").count, r.lost_adds.len())
    };
    let short = lost("80s");
    assert!(short.0 > 1000, "{short:?}");
    assert_eq!(lost("200s"), short);
    assert_eq!(lost("500s"), short);
}

#[test]
fn without_a_failover_no_add_is_lost() {
    // No partition: p1 stays primary, every add is in the final reads.
    let r = run(&scenario(&["faults=[]", "expect={}"]), 1);
    let adds = check(&r, "acked-adds-durable");
    assert_eq!(
        (adds.status, adds.count),
        (Status::Pass, 0),
        "{}",
        adds.detail
    );
    assert!(
        adds.detail
            .contains("acknowledged adds are in the final reads")
    );
}

/// `simkv check` judges registers: it leaves set operations out and says so, and a history of
/// sets alone is refused (exit 2) rather than called linearizable over 0 keys.
#[test]
fn simkv_check_leaves_sets_to_the_run() {
    let dir = std::env::temp_dir().join(format!("simkv-sets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let line = |p: u32, kind: &str, f: &str, key: &str, value: &str, t: u64| {
        format!(
            r#"{{"process":{p},"type":"{kind}","f":"{f}","key":"{key}","value":{value},"time_ns":{t}}}"#
        )
    };
    let sets = [
        line(1, "invoke", "sadd", "s0", r#""a""#, 1),
        line(1, "ok", "sadd", "s0", r#""a""#, 2),
        line(1, "invoke", "smembers", "s0", "null", 3),
        line(1, "ok", "smembers", "s0", r#"["a"]"#, 4),
    ];
    let only_sets = dir.join("sets.jsonl");
    std::fs::write(&only_sets, sets.join("\n")).unwrap();
    let out = common::simkv(&["check", only_sets.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("only set operations"), "{}", out.stderr);
    let mixed = dir.join("mixed.jsonl");
    let mut lines = sets.to_vec();
    lines.push(line(2, "invoke", "set", "k0", r#""x""#, 5));
    lines.push(line(2, "ok", "set", "k0", r#""x""#, 6));
    std::fs::write(&mixed, lines.join("\n")).unwrap();
    let out = common::simkv(&["check", mixed.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("1 operation over 1 key"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("2 set operations (sadd, smembers) were left out"),
        "{}",
        out.stdout
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

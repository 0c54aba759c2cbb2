//! Cluster clients that read from replicas (`read_from_replicas = true`): each node connection
//! sends `READONLY`, reads go to a replica of the slot's shard (as `CLUSTER SLOTS` lists it) and
//! the replica serves them itself instead of answering `-MOVED`; writes still go to the
//! primaries. The price is the replica's lag: stale reads. The input checks refuse the option
//! where it cannot apply.

mod common;

use simkv::history::EventType;
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;

fn load(overrides: &[&str]) -> Scenario {
    let path = common::root().join("scenarios/cluster-replica-reads.toml");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> simkv::runner::RunReport {
    run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap()
}

/// The servers that answered the successful operations named `f` before `until_ms`.
fn answered_by(r: &simkv::runner::RunReport, f: &str, until_ms: u64) -> Vec<String> {
    let mut servers: Vec<String> = r
        .output
        .history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f() == f && e.time_ns < until_ms * 1_000_000)
        .filter_map(|e| e.server().map(str::to_string))
        .collect();
    servers.sort();
    servers.dedup();
    servers
}

#[test]
fn reads_are_served_by_the_replicas_and_writes_by_the_primaries() {
    let s = load(&[]);
    for seed in 1..=3 {
        let r = run(&s, seed);
        // Before the crash at 30 s: every read from a replica, every write at a primary.
        assert_eq!(
            answered_by(&r, "get", 30_000),
            ["c1r1", "c2r1", "c3r1"],
            "seed {seed}"
        );
        assert_eq!(
            answered_by(&r, "set", 30_000),
            ["c1p", "c2p", "c3p"],
            "seed {seed}"
        );
        // READONLY made the replicas serve the reads: no read was redirected to a primary
        // until the crash moved slots (a client without READONLY gets -MOVED from the replica
        // on every read).
        let moved_before_crash = r
            .output
            .history
            .events
            .iter()
            .filter(|e| e.time_ns < 30_000_000_000)
            .filter(|e| e.kind == EventType::Fail)
            .count();
        assert_eq!(moved_before_crash, 0, "seed {seed}");
        assert!(
            r.output
                .redirects
                .keys()
                .all(|k| !k.contains("c1p") && !k.contains("c3p")),
            "seed {seed}: the shards that never failed over redirect nothing: {:?}",
            r.output.redirects
        );
        // The replicas lag: some reads are stale.
        let stale = r
            .summary
            .checks
            .iter()
            .find(|c| c.name == "stale-reads")
            .expect("the stale-reads check ran");
        assert_eq!(stale.status, simkv::check::Status::Fail, "seed {seed}");
    }
}

#[test]
fn reads_of_a_dead_primarys_slots_go_on_at_its_replica() {
    // c2p's machine is off from 30 s; the nodes flag it FAIL about 6 s later (then the whole
    // cluster answers CLUSTERDOWN until c2r1 is promoted at about 38.7 s). Reading from
    // replicas, the reads of c2p's slots go on at c2r1 until the FAIL; reading from primaries,
    // none of them succeeds.
    let served = |s: &Scenario| {
        let r = run(s, 1);
        r.output
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Ok && e.f() == "get")
            .filter(|e| e.server().is_some_and(|n| n.starts_with("c2")))
            .filter(|e| (31_000_000_000..36_000_000_000).contains(&e.time_ns))
            .count()
    };
    let from_replicas = served(&load(&[]));
    let from_primaries = served(&load(&[
        "workloads.app.read_from_replicas=false",
        "expect={}",
    ]));
    assert!(
        from_replicas >= 15,
        "c2r1 serves the reads of c2p's slots: {from_replicas} between 31 and 36 s"
    );
    assert_eq!(from_primaries, 0, "nobody serves them while c2p is down");
}

#[test]
fn reading_from_primaries_keeps_the_replicas_idle_and_the_reads_fresh() {
    let r = run(
        &load(&["workloads.app.read_from_replicas=false", "expect={}"]),
        1,
    );
    assert_eq!(answered_by(&r, "get", 30_000), ["c1p", "c2p", "c3p"]);
    let stale = r
        .summary
        .checks
        .iter()
        .find(|c| c.name == "stale-reads")
        .expect("the stale-reads check ran");
    assert_eq!(stale.status, simkv::check::Status::Pass);
}

#[test]
fn the_option_is_refused_where_it_cannot_apply() {
    let out = common::simkv(&[
        "run",
        "scenarios/cluster-replica-reads.toml",
        "--set",
        "workloads.app.read_from=c1r1",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("workloads.app.read_from"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("read_from_replicas = true"),
        "{}",
        out.stderr
    );
    let out = common::simkv(&[
        "run",
        "scenarios/replica-reads.toml",
        "--set",
        "workloads.app.read_from_replicas=true",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("workloads.app.read_from_replicas"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("discovery = \"cluster\""),
        "{}",
        out.stderr
    );
}

#[test]
fn mgets_go_to_the_replicas_too() {
    let r = run(
        &load(&["workloads.app.mix={mset=40,mget=60}", "expect={}"]),
        1,
    );
    assert_eq!(answered_by(&r, "mget", 30_000), ["c1r1", "c2r1", "c3r1"]);
    assert_eq!(answered_by(&r, "mset", 30_000), ["c1p", "c2p", "c3p"]);
}

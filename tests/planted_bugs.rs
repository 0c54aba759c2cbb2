//! Every planted bug is caught by at least one checker within five seeds, on a scenario where the
//! clean model passes that checker on the same seeds; and the clean model passes all checkers
//! over many seeds of the nemesis scenario (tests/convergence.rs covers 200 of them).

use simkv::check::Status;
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;

/// A primary with a close and a far replica, Sentinel, clients that WAIT for one replica, and the
/// primary cut off with its clients: the best replica (the close one) has every acknowledged
/// write, the far one lags by a round trip.
const WAIT_FAILOVER: &str = r#"
name = "wait-failover"
duration = "80s"
quiet = "20s"
regions = ["a", "b"]
[[network.paths]]
between = ["a", "b"]
latency = "60ms"
[servers.defaults]
save = ""
[servers.p1]
region = "a"
[servers.r1]
region = "a"
replicaof = "p1"
[servers.r2]
region = "b"
replicaof = "p1"
[sentinels.defaults]
monitor = "p1"
quorum = 2
down-after-milliseconds = 3000
failover-timeout = 30000
[sentinels.s1]
region = "a"
[sentinels.s2]
region = "a"
[sentinels.s3]
region = "b"
[workloads.app]
region = "a"
clients = 4
discovery = "sentinel"
think = "1ms"
keys = 500
mix = { set = 100 }
wait = { replicas = 1, timeout = "200ms" }
[[faults]]
kind = "partition"
between = [["p1", "app"], ["r1", "r2", "s1", "s2", "s3"]]
at = "30s"
heal = "50s"
"#;

fn load(source: Source, overrides: &[&str]) -> Scenario {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    match source {
        Source::File(name) => {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(name);
            Scenario::load(&p, &o).unwrap_or_else(|e| panic!("{e}"))
        }
        Source::Inline(text) => {
            Scenario::parse("inline.toml", text, &o).unwrap_or_else(|e| panic!("{e}"))
        }
    }
}

#[derive(Clone, Copy)]
enum Source {
    File(&'static str),
    Inline(&'static str),
}

fn status(s: &Scenario, seed: u64, check: &str) -> Status {
    let r = run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).expect("the run completes");
    r.summary
        .checks
        .iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no check {check}"))
        .status
}

#[test]
fn every_planted_bug_is_caught() {
    let table: &[(&str, Source, &[&str], &str)] = &[
        (
            "promote_lowest_offset",
            Source::Inline(WAIT_FAILOVER),
            &[],
            "acked-writes-durable",
        ),
        (
            "accept_any_psync",
            Source::File("sentinel-split-brain.toml"),
            &[],
            "converged",
        ),
        (
            "skip_fsync",
            Source::File("fsync-policies.toml"),
            &["servers.defaults.appendfsync=always"],
            "acked-writes-durable",
        ),
        (
            "demoted_primary_accepts_writes",
            Source::File("wait-vs-async.toml"),
            &["quiet=5s"],
            "converged",
        ),
        (
            "drop_propagation",
            Source::File("basic.toml"),
            &[],
            "converged",
        ),
        (
            "cluster_keeps_stale_slots",
            Source::File("cluster-shard-failover.toml"),
            &[],
            "slot-owners-at-end",
        ),
        (
            "migrate_without_restore",
            Source::File("cluster-resharding-under-partition.toml"),
            &[],
            "acked-writes-durable",
        ),
    ];
    assert_eq!(
        table.len(),
        simkv::bugs::Bugs::NAMES.len(),
        "every bug is in the table"
    );
    for (bug, source, overrides, check) in table {
        let clean = load(*source, overrides);
        let mut with_bug: Vec<&str> = overrides.to_vec();
        let set = format!("bugs.{bug}=true");
        with_bug.push(&set);
        let buggy = load(*source, &with_bug);
        let mut caught = None;
        for seed in 1..=5 {
            assert_eq!(
                status(&clean, seed, check),
                Status::Pass,
                "{bug}: the clean model fails {check} on seed {seed}"
            );
            if status(&buggy, seed, check) == Status::Fail {
                caught = Some(seed);
                break;
            }
        }
        assert!(
            caught.is_some(),
            "{bug}: {check} did not catch it in 5 seeds"
        );
    }
}

/// The shipped scenario suite catches every planted bug as it stands: run with the bug, the
/// scenario's own `[expect]` block fails on every one of the first seeds, and for the reason the
/// bug causes (the named expectation is among the unmet ones); without the bug it passes.
/// (tests/scenario_seeds.rs runs every scenario clean over its CI seeds.)
#[test]
fn the_shipped_suite_catches_every_planted_bug() {
    let table: &[(&str, &str, &str)] = &[
        // The far replica (60 ms behind) is promoted, losing WAIT-acknowledged writes.
        (
            "promote_lowest_offset",
            "sentinel-best-replica.toml",
            "failover_to",
        ),
        // The demoted p1 goes on acknowledging the pinned clients' adds: more than rate x window.
        (
            "demoted_primary_accepts_writes",
            "sentinel-best-replica.toml",
            "lost_acked_adds:sets",
        ),
        (
            "demoted_primary_accepts_writes",
            "min-replicas.toml",
            "converged",
        ),
        // A replica past the backlog continues instead of resyncing in full.
        (
            "accept_any_psync",
            "backlog-overflow.toml",
            "partial_resyncs",
        ),
        // appendfsync always without fsync loses writes to a power loss.
        ("skip_fsync", "fsync-policies.toml", "lost_acked_writes"),
        // Writes the replicas never received.
        ("drop_propagation", "basic.toml", "converged"),
        // The old primary returns still serving the slots its replica took over.
        (
            "cluster_keeps_stale_slots",
            "cluster-shard-failover.toml",
            "slot_owners_at_end",
        ),
        // Keys moved by resharding vanish: their acknowledged writes are lost.
        (
            "migrate_without_restore",
            "cluster-resharding-under-partition.toml",
            "lost_acked_writes",
        ),
    ];
    for bug in simkv::bugs::Bugs::NAMES {
        assert!(
            table.iter().any(|(b, ..)| b == bug),
            "{bug}: no shipped scenario is named as catching it"
        );
    }
    for (bug, file, expectation) in table {
        let clean = load(Source::File(file), &[]);
        let set = format!("bugs.{bug}=true");
        let buggy = load(Source::File(file), &[set.as_str()]);
        for seed in 1..=3 {
            let run = |s: &Scenario| {
                run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0)
                    .expect("the run completes")
                    .summary
            };
            let unmet = |s: &Scenario| -> Vec<String> {
                run(s)
                    .expectations
                    .iter()
                    .filter(|e| !e.met)
                    .map(|e| e.name.clone())
                    .collect()
            };
            assert_eq!(
                unmet(&clean),
                Vec::<String>::new(),
                "{file} seed {seed} clean"
            );
            let caught = unmet(&buggy);
            assert!(
                caught.iter().any(|n| n == expectation),
                "{bug} on {file} seed {seed}: expected `{expectation}` unmet, got {caught:?}"
            );
        }
    }
}

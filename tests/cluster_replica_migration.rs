//! Replica migration (`clusterHandleSlaveMigration` of Redis 7.0.15): a primary left without
//! working replicas gets one from a shard with the most, once it has been orphaned for 5 s, as
//! long as that shard keeps more than `cluster-migration-barrier`; `cluster-allow-replica-migration
//! no` turns it off.

use simkv::check::Status;
use simkv::fact::{ClusterFact, Fact};
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

const BASE: &str = r#"
name = "migration"
duration = "60s"
quiet = "15s"
regions = ["local"]
[servers.defaults]
save = ""
[cluster]
shards = 3
replicas = 2
cluster-node-timeout = 5000
[workloads.app]
clients = 4
discovery = "cluster"
think = "10ms"
keys = 300
timeout = "1s"
start = "3s"
mix = { set = 80, get = 20 }
"#;

fn run(extra: &str, overrides: &[&str]) -> RunReport {
    let text = format!("{BASE}{extra}");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = Scenario::parse("inline.toml", &text, &o).unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

/// `(time ms, replica, orphaned primary)` of every migration.
fn migrations(r: &RunReport) -> Vec<(u64, String, String)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Cluster {
                node,
                event: ClusterFact::ReplicaMigration { to },
            } => Some((n.time.as_ms(), node.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

/// When `about` was first flagged FAIL by anyone.
fn failed_at(r: &RunReport, about: &str) -> u64 {
    r.output
        .notes
        .iter()
        .find(|n| {
            matches!(&n.fact, Fact::Cluster { event: ClusterFact::Fail { about: a, .. }, .. } if a == about)
        })
        .map(|n| n.time.as_ms())
        .expect("flagged FAIL")
}

fn status(r: &RunReport, check: &str) -> Status {
    r.summary
        .checks
        .iter()
        .find(|c| c.name == check)
        .unwrap()
        .status
}

fn master_of(r: &RunReport, server: &str) -> Option<String> {
    r.output
        .servers
        .iter()
        .find(|s| s.name == server)
        .and_then(|s| s.master.clone())
}

const BOTH_REPLICAS_OF_C1P: &str =
    "[[faults]]\nkind = \"machine-crash\"\ntargets = [\"c1r1\", \"c1r2\"]\nat = \"20s\"\n";

#[test]
fn an_orphaned_primary_gets_a_replica_from_the_shard_with_the_most() {
    let r = run(BOTH_REPLICAS_OF_C1P, &[]);
    let m = migrations(&r);
    // The candidate is the smallest id among the replicas of the primaries with the most
    // working replicas (c2p and c3p, two each): c2r1.
    assert_eq!(m.len(), 1, "{m:?}");
    let (at, who, to) = &m[0];
    assert_eq!((who.as_str(), to.as_str()), ("c2r1", "c1p"));
    let orphaned = failed_at(&r, "c1r1").max(failed_at(&r, "c1r2"));
    assert!(
        *at > orphaned + 5_000 && *at < orphaned + 6_500,
        "orphaned at {orphaned} ms, migrated at {at} ms"
    );
    // It resyncs from c1p in full and ends holding c1p's data; c2p keeps c2r2.
    let resynced = r.output.notes.iter().any(|n| {
        n.time.as_ms() > *at
            && matches!(&n.fact, Fact::FullResyncDone { server, .. } if server == "c2r1")
    });
    assert!(resynced);
    assert_eq!(master_of(&r, "c2r1").as_deref(), Some("c1p"));
    assert_eq!(master_of(&r, "c2r2").as_deref(), Some("c2p"));
    assert_eq!(status(&r, "converged"), Status::Pass);
    assert_eq!(status(&r, "slot-owners-at-end"), Status::Pass);
    assert!(r.lost.is_empty());
}

#[test]
fn a_replica_that_took_over_from_a_primary_with_replicas_gets_one_too() {
    // c1p and c1r2 die: c1r1 wins the election and is left alone, a migration target because
    // the primary it replaced had replicas (MIGRATE_TO).
    let crash =
        "[[faults]]\nkind = \"machine-crash\"\ntargets = [\"c1p\", \"c1r2\"]\nat = \"20s\"\n";
    let r = run(crash, &[]);
    let m = migrations(&r);
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!((m[0].1.as_str(), m[0].2.as_str()), ("c2r1", "c1r1"));
    assert_eq!(status(&r, "converged"), Status::Pass);
}

#[test]
fn the_barrier_and_the_switch_keep_replicas_home() {
    // With a barrier of 2, c2p and c3p (two working replicas each) may not give one away.
    let r = run(
        BOTH_REPLICAS_OF_C1P,
        &["cluster.cluster-migration-barrier=2"],
    );
    assert!(migrations(&r).is_empty());
    assert_eq!(master_of(&r, "c2r1").as_deref(), Some("c2p"));
    let r = run(
        BOTH_REPLICAS_OF_C1P,
        &["cluster.cluster-allow-replica-migration=no"],
    );
    assert!(migrations(&r).is_empty());
    // With one replica per shard nobody has two to spare (max_slaves >= 2 in clusterCron).
    let only = "[[faults]]\nkind = \"machine-crash\"\ntargets = [\"c1r1\"]\nat = \"20s\"\n";
    let r = run(only, &["cluster.replicas=1"]);
    assert!(migrations(&r).is_empty());
}

#[test]
fn the_knobs_are_spelled_as_redis_conf_spells_them() {
    let bad = BASE.replace(
        "cluster-node-timeout = 5000",
        "cluster-node-timeout = 5000\ncluster-migration-barier = 1",
    );
    let e = Scenario::parse("c.toml", &bad, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("did you mean `cluster-migration-barrier`?"),
        "{e}"
    );
    let bad = BASE.replace(
        "cluster-node-timeout = 5000",
        "cluster-node-timeout = 5000\ncluster-migration-barrier = -1",
    );
    assert!(Scenario::parse("c.toml", &bad, &[]).is_err());
}

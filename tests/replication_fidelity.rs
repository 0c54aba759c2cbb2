//! Replication details as Redis 7.0.15 has them (replication.c, networking.c), end to end:
//! long RDB transfers, output-buffer accounting, keep-alives, reconnection, when a diskless
//! replica goes ONLINE, and replicas that stop during a transfer.

use simkv::fact::FactNote;
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

fn run(text: &str) -> RunOutput {
    let s = Scenario::parse("inline.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, 1)
        .run(&mut |_| {})
        .expect("the run completes")
}

/// The notes of `kind` about `server`.
fn notes<'a>(out: &'a RunOutput, kind: &str, server: &str) -> Vec<&'a FactNote> {
    out.notes
        .iter()
        .filter(|n| n.fact.kind() == kind && n.fact.server() == Some(server))
        .collect()
}

fn full_resyncs(out: &RunOutput, server: &str) -> u64 {
    let s = out
        .servers
        .iter()
        .find(|s| s.name == server)
        .expect("known");
    s.stats.full_resyncs
}

/// readSyncBulkPayload refreshes repl_transfer_lastio on every read: a transfer that takes
/// four times repl-timeout completes, because bytes keep arriving.
#[test]
fn full_sync_longer_than_repl_timeout_completes() {
    let out = run(r#"
name = "slow-rdb"
duration = "120s"
quiet = "60s"
regions = ["a", "b"]
[[network.paths]]
between = ["a", "b"]
latency = "10ms"
bandwidth = "100kb/s"
[servers.defaults]
repl-timeout = 5
repl-ping-replica-period = 1
[servers.p1]
region = "a"
[servers.r1]
region = "b"
replicaof = "p1"
[workloads.fill]
region = "a"
target = "p1"
clients = 2
think = "2ms"
keys = 2000
value_size = "1000b"
mix = { set = 100 }
stop = "10s"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "0s"
heal = "30s"
"#);
    // About 2 MB at 100 kB/s: some 20 s on the wire, four repl-timeouts.
    assert!(
        full_resyncs(&out, "r1") >= 1,
        "the full sync completed; timeouts: {}",
        notes(&out, "repl:timeout", "r1").len()
    );
    let after_heal = notes(&out, "repl:timeout", "r1")
        .into_iter()
        .filter(|n| n.time.as_ms() > 31_000)
        .count();
    assert_eq!(after_heal, 0, "no timeout while the RDB is arriving");
}

/// checkClientOutputBufferLimits: a replica's hard limit below repl-backlog-size is raised to
/// it, so a short burst the backlog holds anyway does not cut the replica.
#[test]
fn replica_hard_limit_is_at_least_the_backlog_size() {
    let out = run(r#"
name = "obuf-raise"
duration = "40s"
quiet = "10s"
[servers.defaults]
client-output-buffer-limit = "replica 64kb 0 0"
repl-backlog-size = "1mb"
tcp-send-buffer = "16kb"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
keys = 500
value_size = "200b"
mix = { set = 100 }
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "10s"
heal = "13s"
"#);
    // Three seconds of about 80 kB/s pile up some 240 kB for r1: over 64 kB, under 1 MB.
    assert_eq!(notes(&out, "repl:obuf-limit", "p1").len(), 0);
    assert_eq!(full_resyncs(&out, "r1"), 1, "only the initial sync");
}

/// getClientOutputBufferMemoryUsage counts the replication buffer a replica references,
/// never the RDB on its way: a 2 MB RDB under a 1 MB limit does not cut the replica.
#[test]
fn output_buffer_limit_does_not_count_the_rdb() {
    let out = run(r#"
name = "obuf-rdb"
duration = "120s"
quiet = "60s"
regions = ["a", "b"]
[[network.paths]]
between = ["a", "b"]
latency = "10ms"
bandwidth = "400kb/s"
[servers.defaults]
client-output-buffer-limit = "replica 1mb 512kb 10"
tcp-send-buffer = "16kb"
[servers.p1]
region = "a"
[servers.r1]
region = "b"
replicaof = "p1"
[workloads.fill]
region = "a"
target = "p1"
clients = 2
think = "2ms"
keys = 2000
value_size = "1000b"
mix = { set = 100 }
stop = "10s"
[workloads.trickle]
region = "a"
target = "p1"
think = "200ms"
start = "10s"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "0s"
heal = "20s"
"#);
    assert_eq!(notes(&out, "repl:obuf-limit", "p1").len(), 0);
    assert_eq!(full_resyncs(&out, "r1"), 1);
}

/// A replica the primary drops in the middle of the RDB transfer gets a truncated payload:
/// it does not load it (its old data stays), and tries again.
#[test]
fn a_replica_cut_during_the_transfer_does_not_load_a_truncated_rdb() {
    let out = run(r#"
name = "loop"
duration = "120s"
quiet = "5s"
regions = ["a", "b"]
[[network.paths]]
between = ["a", "b"]
latency = "20ms"
bandwidth = "200kb/s"
[servers.defaults]
client-output-buffer-limit = "replica 64kb 32kb 5"
repl-backlog-size = "16kb"
tcp-send-buffer = "16kb"
[servers.p1]
region = "a"
[servers.r1]
region = "b"
replicaof = "p1"
[workloads.load]
region = "a"
target = "p1"
clients = 4
think = "1ms"
keys = 20000
value_size = "200b"
mix = { set = 100 }
"#);
    let cuts = notes(&out, "repl:obuf-limit", "p1").len();
    let starts = notes(&out, "repl:fullresync", "r1").len();
    let loads = notes(&out, "repl:flush", "r1").len();
    assert!(cuts >= 2, "the replica was cut {cuts} times");
    assert!(
        loads + cuts <= starts,
        "{loads} loads, {cuts} cut transfers, {starts} attempts: a cut transfer is never loaded"
    );
}

/// replicationCron (7.0) writes "\n" only to replicas waiting for their RDB: the sub-replica
/// of an intermediate cut off from its primary times out (here r1 gives up on p1 after 5 s,
/// and r2, with a 10 s timeout, hears nothing from r1 from the cut on).
#[test]
fn sub_replica_of_a_cut_off_intermediate_times_out() {
    let out = run(r#"
name = "chain-cut"
duration = "60s"
quiet = "10s"
[servers.defaults]
repl-timeout = 5
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "r1"
repl-timeout = 10
[workloads.w]
target = "p1"
think = "50ms"
[[faults]]
kind = "partition"
between = [["p1"], ["r1", "r2"]]
at = "10s"
heal = "30s"
"#);
    let timeouts: Vec<u64> = notes(&out, "repl:timeout", "r2")
        .iter()
        .map(|n| n.time.as_ms())
        .collect();
    assert!(
        timeouts.iter().any(|t| (20_000..30_000).contains(t)),
        "r2 times out a repl-timeout after the cut: {timeouts:?}"
    );
}

/// replicationHandleMasterDisconnection and cancelReplicationHandshake(1) call
/// connectWithMaster at once, not at the next cron tick.
#[test]
fn reconnection_is_immediate() {
    let out = run(r#"
name = "reconnect"
duration = "60s"
quiet = "10s"
[servers.defaults]
repl-timeout = 5
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
think = "50ms"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "10s"
heal = "30s"
"#);
    let timeouts = notes(&out, "repl:timeout", "r1");
    assert!(timeouts.len() >= 2, "a streaming and a handshake timeout");
    let connects: Vec<u64> = notes(&out, "repl:connect", "r1")
        .iter()
        .map(|n| n.time.0)
        .collect();
    for t in timeouts {
        assert!(
            connects.contains(&t.time.0),
            "a connection attempt right at the timeout ({} ms)",
            t.time.as_ms()
        );
    }
}

/// replicaPutOnline: a diskless replica is ONLINE once the RDB child is done, so it counts
/// for min-replicas-to-write while it loads.
#[test]
fn diskless_replica_counts_for_min_replicas_while_it_loads() {
    let out = run(r#"
name = "online"
duration = "60s"
quiet = "10s"
[servers.defaults]
min-replicas-to-write = 1
rdb-load-rate = "50kb/s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
keys = 300
value_size = "1000b"
mix = { set = 100 }
[[faults]]
kind = "crash"
targets = ["r1"]
wipe_disk = true
at = "20s"
heal = "22s"
"#);
    // The resync after the restart: the child starts after the diskless delay, the RDB is on
    // the wire for milliseconds (checked every 100 ms), the load of about 300 kB at 50 kB/s
    // takes some 6 s.
    let child = notes(&out, "bgsave:start", "p1")
        .into_iter()
        .find(|n| n.time.as_ms() > 22_000)
        .expect("a second sync")
        .time;
    let loaded = notes(&out, "repl:full-resync-done", "r1")
        .into_iter()
        .find(|n| n.time > child)
        .expect("the second sync completes")
        .time;
    assert!(loaded.since(child) > 3_000_000_000, "the load takes time");
    let refused = out
        .history
        .events
        .iter()
        .filter(|e| e.time_ns > child.0 + 200_000_000 && e.time_ns < loaded.0)
        .filter(|e| e.error().is_some_and(|s| s.starts_with("NOREPLICAS")))
        .count();
    assert_eq!(refused, 0, "no NOREPLICAS while the online replica loads");
}

/// A replica that stops during its diskless transfer is dropped a repl-timeout later
/// ("Disconnecting timedout replica (full sync)" while its RDB is stuck, "(streaming sync)"
/// once ONLINE without ACKs).
#[test]
fn replica_stopped_during_a_diskless_transfer_is_dropped() {
    let out = run(r#"
name = "stopped"
duration = "60s"
quiet = "10s"
regions = ["a", "b"]
[[network.paths]]
between = ["a", "b"]
latency = "10ms"
bandwidth = "100kb/s"
[servers.defaults]
repl-timeout = 5
[servers.p1]
region = "a"
[servers.r1]
region = "b"
replicaof = "p1"
[workloads.w]
region = "a"
target = "p1"
clients = 2
think = "5ms"
keys = 400
value_size = "500b"
mix = { set = 100 }
[[faults]]
kind = "pause"
targets = ["r1"]
at = "6500ms"
heal = "30s"
"#);
    let child = notes(&out, "bgsave:start", "p1")[0].time.as_ms();
    assert!(child < 6_500, "the child ran before the pause ({child} ms)");
    let dropped: Vec<u64> = notes(&out, "repl:replica-timeout", "p1")
        .iter()
        .map(|n| n.time.as_ms())
        .collect();
    assert!(
        dropped.iter().any(|t| (10_000..14_000).contains(t)),
        "dropped a repl-timeout after it stopped: {dropped:?}"
    );
}

/// replicationCron compares whole seconds: `time(NULL) - server.master->lastinteraction >
/// server.repl_timeout`, both from `server.unixtime`. r1 restarts at 12.5 s, so its cron runs at
/// x.5 s (and it comes back empty, to a full sync); its link is cut at 20.3 s (its last read about 20.29 s, second 20). The timeout fires
/// at 26.5 s (26 - 20 = 6 > 5), not at 25.5 s (where 25.5 - 20.29 > 5 in nanoseconds). And the
/// diskless sync of the restarted replica starts at the first cron with `unixtime -
/// lastinteraction >= repl-diskless-sync-delay` in whole seconds.
#[test]
fn master_timeout_fires_at_the_whole_second_redis_would() {
    let out = run(r#"
name = "whole-seconds"
duration = "40s"
quiet = "5s"
[servers.defaults]
repl-timeout = 5
repl-diskless-sync-delay = "2s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
keys = 100
mix = { set = 100 }
[[faults]]
kind = "crash"
targets = ["r1"]
wipe_disk = true
at = "10s"
heal = "12500ms"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "20300ms"
heal = "35s"
"#);
    let timeouts: Vec<u64> = notes(&out, "repl:timeout", "r1")
        .iter()
        .map(|n| n.time.as_ms())
        .collect();
    assert_eq!(timeouts.first(), Some(&26_500), "{timeouts:?}");
    // p1's cron runs at whole seconds; r1's PSYNC reached it at about 12.5 s (second 12), so
    // the diskless child forks at 14 s (14 - 12 >= 2), not at 15 s.
    let forks: Vec<u64> = notes(&out, "repl:fullresync", "r1")
        .iter()
        .map(|n| n.time.as_ms())
        .collect();
    assert!(forks.len() >= 2, "{forks:?}");
    assert!((14_000..14_100).contains(&forks[1]), "{forks:?}");
}

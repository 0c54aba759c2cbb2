//! Replication end to end: chained replicas proxy the exact stream, disk-based and diskless full
//! syncs both converge, a replica whose output buffer overflows during a full sync is cut and
//! retries (the classic full-sync loop), the backlog is freed after `repl-backlog-ttl`, and a
//! sentinel whose clock jumps enters TILT.

use simkv::check::{Status, converged};
use simkv::runner::final_states;
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

fn run(text: &str, overrides: &[&str]) -> RunOutput {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = Scenario::parse("inline.toml", text, &o).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, 1)
        .run(&mut |_| {})
        .expect("the run completes")
}

const CHAIN: &str = r#"
name = "chain"
duration = "40s"
quiet = "10s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "r1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
mix = { set = 60, incr = 20, append = 20 }
[[faults]]
kind = "isolate"
targets = ["r2"]
at = "15s"
heal = "18s"
"#;

#[test]
fn chained_replica_gets_the_same_stream_and_offsets() {
    let out = run(CHAIN, &[]);
    let [p1, r1, r2] = &out.servers[..] else {
        panic!()
    };
    // The primary may have a PING (14 bytes) in flight at the very end.
    assert!(
        p1.offset - r1.offset <= 14,
        "{} vs {}",
        p1.offset,
        r1.offset
    );
    assert_eq!(
        r1.offset, r2.offset,
        "a sub-replica's offset is its primary's primary's"
    );
    assert_eq!(r2.master.as_deref(), Some("r1"));
    assert_eq!(converged(&final_states(&out)).status, Status::Pass);
}

#[test]
fn disk_and_diskless_full_syncs_converge() {
    for mode in ["yes", "no"] {
        let set = format!("servers.defaults.repl-diskless-sync={mode}");
        let out = run(CHAIN, &[&set]);
        assert_eq!(
            converged(&final_states(&out)).status,
            Status::Pass,
            "diskless={mode}"
        );
        let full: u64 = out.servers.iter().map(|s| s.stats.full_resyncs).sum();
        assert_eq!(full, 2, "diskless={mode}");
        let saved = out.notes.iter().any(|n| n.fact.kind() == "bgsave:done");
        assert_eq!(saved, mode == "no", "only disk-based syncs write dump.rdb");
    }
}

#[test]
fn output_buffer_overflow_during_full_sync_loops() {
    // A big dataset over a thin link and a tight output buffer limit: the stream that piles up
    // while the RDB crosses the link exceeds the limit, the primary drops the replica, and the
    // replica starts over.
    let text = r#"
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
start = "0s"
"#;
    let out = run(text, &[]);
    let cut = out
        .notes
        .iter()
        .filter(|n| n.fact.kind() == "repl:obuf-limit")
        .count();
    assert!(cut >= 2, "the replica was cut {cut} times");
    let full_tries = out
        .notes
        .iter()
        .filter(|n| n.fact.kind() == "repl:fullresync")
        .count();
    assert!(
        full_tries >= 2,
        "and it retried the full sync ({full_tries} tries)"
    );
}

#[test]
fn backlog_is_freed_after_ttl_without_replicas() {
    let text = r#"
name = "ttl"
duration = "60s"
quiet = "5s"
[servers.defaults]
repl-backlog-ttl = 10
repl-timeout = 5
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
think = "50ms"
[[faults]]
kind = "crash"
targets = ["r1"]
at = "10s"
heal = "50s"
"#;
    let out = run(text, &[]);
    let freed = out
        .notes
        .iter()
        .find(|n| n.fact.kind() == "repl:backlog-freed");
    let t = freed.expect("the backlog is freed").time.as_ms();
    assert!(
        (20_000..30_000).contains(&t),
        "freed at {t} ms: timeout 5 s + ttl 10 s after the crash"
    );
    // The replica comes back to a primary with a new replication ID: full resync.
    let full: u64 = out.servers.iter().map(|s| s.stats.full_resyncs).sum();
    assert_eq!(full, 2);
}

/// initServer sets `repl_no_slaves_since = time(NULL)`: a primary restarted from an RDB (which
/// gives it a backlog) and left without replicas frees that backlog `repl-backlog-ttl` after its
/// start. The SAVE comes before r1's diskless sync forks at 5 s (a SAVE while that child runs
/// is refused: "Background save already in progress").
#[test]
fn backlog_ttl_counts_from_a_restart_without_replicas() {
    let text = r#"
name = "ttl-restart"
duration = "40s"
quiet = "5s"
[servers.defaults]
repl-backlog-ttl = 10
save = ""
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
think = "50ms"
[[faults]]
kind = "command"
target = "p1"
command = "SAVE"
at = "3s"
[[faults]]
kind = "crash"
targets = ["r1"]
at = "6s"
heal = "39s"
[[faults]]
kind = "crash"
targets = ["p1"]
at = "7s"
heal = "9s"
"#;
    let out = run(text, &[]);
    let freed: Vec<u64> = out
        .notes
        .iter()
        .filter(|n| n.fact.kind() == "repl:backlog-freed")
        .map(|n| n.time.as_ms())
        .collect();
    // Restarted at 9 s: the first cron with more than 10 whole seconds since then is at 20 s.
    assert_eq!(freed.len(), 1, "{freed:?}");
    assert!((19_000..=21_000).contains(&freed[0]), "freed at {freed:?}");
}

#[test]
fn sentinel_enters_tilt_when_its_clock_jumps() {
    let text = r#"
name = "tilt"
duration = "80s"
quiet = "5s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[sentinels.defaults]
monitor = "p1"
quorum = 1
down-after-milliseconds = 3000
[sentinels.s1]
[[faults]]
kind = "clock"
targets = ["s1"]
jump = "10s"
at = "10s"
[[faults]]
kind = "isolate"
targets = ["p1"]
at = "12s"
heal = "30s"
"#;
    let out = run(text, &[]);
    assert!(out.notes.iter().any(|n| n.fact.kind() == "+tilt"));
    // In TILT (30 s) the sentinel takes no action: p1 is isolated from 12 s to 30 s, yet no
    // failover happens.
    assert!(!out.notes.iter().any(|n| n.fact.kind() == "role:promoted"));
    let exit = out
        .notes
        .iter()
        .find(|n| n.fact.kind() == "-tilt")
        .expect("TILT ends");
    assert!(exit.time.as_ms() >= 40_000);
}

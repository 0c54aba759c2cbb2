//! A process killed with `kill -9` while its machine stays up: the OS closes its sockets, so its
//! peers see their connections close at once, and whatever reaches it later is refused. Only a
//! machine crash (power loss) leaves peers to notice by their own timeouts.

use simkv::fact::FactNote;
use simkv::history::{EventType, HistoryEvent};
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

fn run(text: &str) -> RunOutput {
    let s = Scenario::parse("inline.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, 1)
        .run(&mut |_| {})
        .expect("the run completes")
}

fn notes<'a>(out: &'a RunOutput, kind: &str, server: &str) -> Vec<&'a FactNote> {
    out.notes
        .iter()
        .filter(|n| n.fact.kind() == kind && n.fact.server() == Some(server))
        .collect()
}

/// The first completion at or after `from_ms` whose error starts with `prefix`.
fn first_error(out: &RunOutput, from_ms: u64, prefix: &str) -> Option<u64> {
    out.history
        .events
        .iter()
        .filter(|e| e.time_ns >= from_ms * 1_000_000)
        .find(|e| e.error().is_some_and(|s| s.starts_with(prefix)))
        .map(|e| e.time_ns / 1_000_000)
}

/// A primary with `min-replicas-to-write 1` and one replica, which dies at 20 s by `kind`.
fn replica_dies(kind: &str) -> RunOutput {
    run(&format!(
        r#"
name = "replica-dies"
duration = "40s"
quiet = "5s"
[servers.defaults]
min-replicas-to-write = 1
min-replicas-max-lag = 10
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "20ms"
keys = 50
mix = {{ set = 100 }}
[[faults]]
kind = "{kind}"
targets = ["r1"]
at = "20s"
heal = "35s"
"#
    ))
}

/// networking.c: a killed replica's socket is closed by its OS, the primary frees the replica
/// client on the read error, and `refreshGoodSlavesCount` counts it out at once: writes are
/// refused with NOREPLICAS right after the kill. After a power loss the primary hears nothing
/// and counts the replica until its last ACK is `min-replicas-max-lag` (10 s) old.
#[test]
fn a_killed_replica_stops_counting_for_min_replicas_at_once() {
    let killed = replica_dies("crash");
    let first = first_error(&killed, 20_000, "NOREPLICAS").expect("writes are refused");
    assert!(
        first < 20_100,
        "refused at {first} ms, right after the kill at 20,000 ms"
    );
    let powered_off = replica_dies("machine-crash");
    let first = first_error(&powered_off, 20_000, "NOREPLICAS").expect("writes are refused");
    assert!(
        (29_000..31_500).contains(&first),
        "after a power loss, refused only once the last ACK is 10 s old: {first} ms"
    );
}

/// A primary killed at 10 s and restarted at 20 s: its replica sees the link close at once
/// (replicationHandleMasterDisconnection) and reconnects; each attempt is refused
/// (ECONNREFUSED), so `replicationCron` tries again every second, and the first attempt after the
/// restart is answered. Clients' commands to the dead primary fail at once with "connection
/// refused" (they never ran), not after a timeout.
#[test]
fn a_killed_primary_closes_its_replicas_link_and_refuses_connections() {
    let out = run(r#"
name = "primary-dies"
duration = "40s"
quiet = "5s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "20ms"
keys = 50
mix = { set = 100 }
[[faults]]
kind = "crash"
targets = ["p1"]
at = "10s"
heal = "20s"
"#);
    let closed = notes(&out, "repl:link-closed", "r1")
        .into_iter()
        .find(|n| n.time.as_ms() >= 10_000)
        .expect("the replica saw its link close")
        .time
        .as_ms();
    assert!(closed < 10_050, "the link closed at {closed} ms");
    assert!(
        notes(&out, "repl:timeout", "r1").is_empty(),
        "no repl-timeout was needed"
    );
    let attempts: Vec<u64> = notes(&out, "repl:connect", "r1")
        .into_iter()
        .map(|n| n.time.as_ms())
        .filter(|&t| (10_000..20_000).contains(&t))
        .collect();
    assert!(
        (8..=11).contains(&attempts.len()),
        "about one refused attempt per second while p1 is dead: {attempts:?}"
    );
    let resynced = notes(&out, "repl:partial-resync-done", "r1")
        .into_iter()
        .chain(notes(&out, "repl:full-resync-done", "r1"))
        .map(|n| n.time.as_ms())
        .filter(|&t| t >= 20_000)
        .min()
        .expect("the replica resyncs after the restart");
    // The restarted p1 lost its replication ID: a full sync, diskless after the default
    // 5 s repl-diskless-sync-delay.
    assert!(resynced < 26_500, "resynced at {resynced} ms");

    let during: Vec<&HistoryEvent> = out
        .history
        .events
        .iter()
        .filter(|e| e.kind != EventType::Invoke)
        .filter(|e| (10_100_000_000..20_000_000_000).contains(&e.time_ns))
        .collect();
    assert!(!during.is_empty(), "the clients kept trying");
    assert!(
        during
            .iter()
            .all(|e| e.kind == EventType::Fail && e.error() == Some("connection refused")),
        "every command to the dead primary was refused: {:?}",
        during.iter().find(|e| e.kind != EventType::Fail)
    );
}

/// A power loss leaves the replica to notice by `repl-timeout` (60 s by default here cut to
/// 5 s), and clients' commands to time out: nothing answers for a machine that is off.
#[test]
fn a_powered_off_primary_is_noticed_only_by_timeouts() {
    let out = run(r#"
name = "primary-powered-off"
duration = "40s"
quiet = "5s"
[servers.defaults]
repl-timeout = 5
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "20ms"
keys = 50
mix = { set = 100 }
[[faults]]
kind = "machine-crash"
targets = ["p1"]
at = "10s"
heal = "20s"
"#);
    let timed_out = notes(&out, "repl:timeout", "r1")
        .into_iter()
        .map(|n| n.time.as_ms())
        .find(|&t| t >= 10_000)
        .expect("the replica timed out");
    assert!(
        (14_000..16_500).contains(&timed_out),
        "timed out at {timed_out} ms"
    );
    assert!(
        first_error(&out, 10_000, "connection refused").is_none(),
        "nothing refuses for a machine that is off"
    );
}

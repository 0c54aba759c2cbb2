//! Disks that fail or are slow, each behaviour as Redis 7.0.15 has it: `aof.c:
//! flushAppendOnlyFile` (a failed AOF write refuses writes with `-MISCONF`, is retried every
//! second and clears; under `appendfsync always` Redis exits; `everysec` postpones a write behind
//! a slow fsync for up to 2 s, then blocks; `always` fsyncs in the event loop before replying,
//! once for every command of an iteration), `rdb.c`/`server.c` (a failed BGSAVE with
//! `stop-writes-on-bgsave-error`), `processCommand` (PING refused too, so Sentinel sees the
//! server down; a replica panics on its primary's writes), `readSyncBulkPayload` (a full sync
//! cannot write its RDB).

use simkv::fact::{DiskFact, Fact};
use simkv::history::{EventType, HistoryEvent};
use simkv::redis::errors;
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn run(text: &str) -> RunReport {
    let s = Scenario::parse("disk.toml", text, &["expect={}".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

/// One primary and one replica, a writer on the primary; `p1` and `r1` add their knobs.
fn pair(p1: &str, r1: &str, faults: &str) -> String {
    format!(
        r#"
name = "disk"
duration = "40s"
quiet = "5s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
{p1}
[servers.r1]
replicaof = "p1"
{r1}
[workloads.w]
target = "p1"
clients = 1
think = "20ms"
keys = 50
mix = {{ set = 100 }}
{faults}
"#
    )
}

fn fault(kind: &str, target: &str, extra: &str, at: &str, heal: &str) -> String {
    format!(
        "[[faults]]\nkind = \"{kind}\"\ntargets = [\"{target}\"]\n{extra}\nat = \"{at}\"\nheal = \"{heal}\"\n"
    )
}

/// (ms, server, event) of every disk fact.
fn disk_facts(r: &RunReport) -> Vec<(u64, String, DiskFact)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Disk { server, event } => Some((n.time.as_ms(), server.clone(), event.clone())),
            _ => None,
        })
        .collect()
}

fn first(r: &RunReport, kind: &str) -> Option<u64> {
    disk_facts(r)
        .into_iter()
        .find(|(_, _, e)| e.kind() == kind)
        .map(|(t, _, _)| t)
}

fn completions(r: &RunReport) -> impl Iterator<Item = &HistoryEvent> {
    r.output
        .history
        .events
        .iter()
        .filter(|e| e.kind != EventType::Invoke)
}

fn ms(e: &HistoryEvent) -> u64 {
    e.time_ns / 1_000_000
}

/// Times (ms) of writes failed with exactly `text`.
fn refusals(r: &RunReport, text: &str) -> Vec<u64> {
    completions(r)
        .filter(|e| e.kind == EventType::Fail && e.error() == Some(text))
        .map(ms)
        .collect()
}

fn acks(r: &RunReport) -> Vec<u64> {
    completions(r)
        .filter(|e| e.kind == EventType::Ok)
        .map(ms)
        .collect()
}

fn exits(r: &RunReport, server: &str) -> Vec<u64> {
    r.output
        .notes
        .iter()
        .filter(|n| matches!(&n.fact, Fact::ServerExited { server: s } if s == server))
        .map(|n| n.time.as_ms())
        .collect()
}

fn starts(r: &RunReport, server: &str) -> Vec<u64> {
    r.output
        .notes
        .iter()
        .filter(|n| matches!(&n.fact, Fact::Started { server: s, .. } if s == server))
        .map(|n| n.time.as_ms())
        .collect()
}

const AOF_EVERYSEC: &str = "appendonly = true\nappendfsync = \"everysec\"";
const AOF_ALWAYS: &str = "appendonly = true\nappendfsync = \"always\"";

/// A full disk under `everysec`: the first failed write is still answered, every later write
/// gets `-MISCONF Errors writing to the AOF file: No space left on device` until serverCron's
/// retry (once a second) writes the buffer after the heal.
#[test]
fn aof_write_error_refuses_writes_until_a_retry_succeeds() {
    let r = run(&pair(
        AOF_EVERYSEC,
        "",
        &fault("disk-error", "p1", "", "10s", "15s"),
    ));
    let failed = first(&r, "disk:aof-write-error").expect("the write failed");
    assert!((10_000..10_100).contains(&failed), "at {failed} ms");
    let recovered = first(&r, "disk:aof-write-recovered").expect("the retry wrote");
    assert!(
        (15_000..=16_000).contains(&recovered),
        "the first retry after the heal (once a second): {recovered} ms"
    );
    let refused = refusals(&r, errors::MISCONF_AOF_FULL);
    assert!(refused.len() > 100, "{} refusals", refused.len());
    assert!(
        refused.iter().all(|&t| t >= failed && t <= recovered + 30),
        "refused only while the error stood: {refused:?}"
    );
    assert!(
        acks(&r).iter().any(|&t| t > recovered + 100),
        "writes are acknowledged again"
    );
    // The replica kept streaming: the error is the primary's alone, and nothing was lost.
    assert_eq!(r.lost.len(), 0);
}

/// `disk-error` with `error = "io"` reports EIO's text.
#[test]
fn an_io_error_names_itself() {
    let r = run(&pair(
        AOF_EVERYSEC,
        "",
        &fault("disk-error", "p1", "error = \"io\"", "10s", "12s"),
    ));
    assert!(!refusals(&r, errors::MISCONF_AOF_IO).is_empty());
    assert!(refusals(&r, errors::MISCONF_AOF_FULL).is_empty());
}

/// Under `appendfsync always` Redis cannot take back a write it already applied, so it exits;
/// the write that failed is never answered. The run restarts it when the disk works again.
#[test]
fn aof_write_error_under_always_exits() {
    let r = run(&pair(
        AOF_ALWAYS,
        "",
        &fault("disk-error", "p1", "", "10s", "15s"),
    ));
    let fatal = first(&r, "disk:aof-write-fatal").expect("the write failed");
    assert_eq!(
        exits(&r, "p1"),
        vec![fatal],
        "p1 exited at its failed write"
    );
    assert!(
        refusals(&r, errors::MISCONF_AOF_FULL).is_empty(),
        "no -MISCONF"
    );
    assert!(
        acks(&r).iter().all(|&t| t < fatal || t >= 15_000),
        "nothing is acknowledged while p1 is gone"
    );
    let restarts: Vec<u64> = starts(&r, "p1").into_iter().filter(|&t| t > 0).collect();
    assert_eq!(
        restarts,
        vec![15_000],
        "restarted when the disk works again"
    );
    assert_eq!(r.lost.len(), 0);
}

/// A failed BGSAVE with `stop-writes-on-bgsave-error yes` refuses writes with the RDB `-MISCONF`
/// until a BGSAVE works; serverCron tries again only 5 s after the last attempt.
#[test]
fn failed_bgsave_refuses_writes_until_a_save_succeeds() {
    let r = run(&pair(
        "save = \"1 1\"",
        "",
        &fault("disk-error", "p1", "", "10s", "12s"),
    ));
    let failed = first(&r, "disk:bgsave-error").expect("a BGSAVE failed");
    assert!((10_000..12_000).contains(&failed));
    let recovered = first(&r, "disk:bgsave-recovered").expect("a later BGSAVE worked");
    assert!(
        recovered >= 12_000 && recovered > failed + 5_000,
        "retried 5 s after the failed attempt: failed {failed}, recovered {recovered}"
    );
    let refused = refusals(&r, errors::MISCONF_RDB);
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|&t| t >= failed && t <= recovered + 30));

    // The same with the knob off: the BGSAVE fails, writes go on.
    let r = run(&pair(
        "save = \"1 1\"\nstop-writes-on-bgsave-error = false",
        "",
        &fault("disk-error", "p1", "", "10s", "12s"),
    ));
    assert!(first(&r, "disk:bgsave-error").is_some());
    assert!(refusals(&r, errors::MISCONF_RDB).is_empty());
}

/// A primary whose disk is full answers Sentinel's PING with `-MISCONF`, which
/// `sentinelPingReplyCallback` does not count as available: the sentinels agree it is down and
/// promote the replica.
#[test]
fn sentinels_fail_over_a_primary_whose_disk_is_full() {
    let sentinels = r#"
[sentinels.defaults]
monitor = "p1"
quorum = 2
down-after-milliseconds = 3000
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
"#;
    let text = pair(
        AOF_EVERYSEC,
        "",
        &format!("{sentinels}{}", fault("disk-error", "p1", "", "10s", "35s")),
    );
    let r = run(&text);
    let f = r.summary.failovers.first().expect("a failover");
    assert_eq!((f.from.as_str(), f.to.as_str()), ("p1", "r1"));
    assert!(
        (13_000..20_000).contains(&f.at_ms),
        "down-after (3 s) after the error, then the election: {} ms",
        f.at_ms
    );
    // Without the fault nobody fails over.
    let r = run(&pair(AOF_EVERYSEC, "", sentinels));
    assert!(r.summary.failovers.is_empty());
}

/// A replica whose AOF write failed panics on the next write its primary sends
/// (`serverPanic("Replica was unable to write command to disk.")`); with
/// `replica-ignore-disk-write-errors yes` it goes on applying them.
#[test]
fn replica_panics_on_its_primarys_writes_unless_told_to_ignore() {
    let r = run(&pair(
        "",
        AOF_EVERYSEC,
        &fault("disk-error", "r1", "", "10s", "15s"),
    ));
    let facts = disk_facts(&r);
    let failed = first(&r, "disk:aof-write-error").expect("r1's write failed");
    let panic = first(&r, "disk:replica-panic").expect("r1 panicked");
    assert!(facts.iter().all(|(_, s, _)| s == "r1"));
    assert!(
        panic >= failed && panic < failed + 100,
        "{failed} then {panic}"
    );
    assert_eq!(exits(&r, "r1"), vec![panic]);
    let restarts: Vec<u64> = starts(&r, "r1").into_iter().filter(|&t| t > 0).collect();
    assert_eq!(restarts, vec![15_000]);

    let r = run(&pair(
        "",
        &format!("{AOF_EVERYSEC}\nreplica-ignore-disk-write-errors = true"),
        &fault("disk-error", "r1", "", "10s", "15s"),
    ));
    assert!(first(&r, "disk:aof-write-error").is_some());
    assert!(first(&r, "disk:replica-panic").is_none());
    assert!(exits(&r, "r1").is_empty());
    assert_eq!(r.summary.replication.full_resyncs, 1, "only the first sync");
}

/// A replica that must full-sync onto a failing disk cannot write the RDB: the sync is
/// cancelled and starts over until the disk works.
#[test]
fn a_full_sync_cannot_write_its_rdb_on_a_failing_disk() {
    let faults = format!(
        "{}{}",
        fault("disk-error", "r1", "", "10s", "20s"),
        "[[faults]]\nkind = \"crash\"\ntargets = [\"r1\"]\nwipe_disk = true\nat = \"11s\"\nheal = \"12s\"\n"
    );
    let r = run(&pair("", "", &faults));
    let errors: Vec<u64> = disk_facts(&r)
        .into_iter()
        .filter(|(_, _, e)| e.kind() == "disk:sync-write-error")
        .map(|(t, _, _)| t)
        .collect();
    assert!(errors.len() >= 2, "tried again and again: {errors:?}");
    assert!(errors.iter().all(|&t| (12_000..20_000).contains(&t)));
    let done: Vec<u64> = r
        .output
        .notes
        .iter()
        .filter(|n| matches!(&n.fact, Fact::FullResyncDone { server, .. } if server == "r1"))
        .map(|n| n.time.as_ms())
        .collect();
    assert!(
        done.iter().any(|&t| t >= 20_000),
        "synced once the disk works"
    );
    assert!(!done.iter().any(|&t| (12_000..20_000).contains(&t)));
}

/// `everysec` on a slow disk: while the background fsync runs, writes are postponed (still
/// acknowledged) for up to 2 s; then the write goes ahead and blocks the event loop until the
/// fsync completes, so acknowledgements stop for a while.
#[test]
fn a_slow_everysec_fsync_postpones_then_blocks() {
    let r = run(&pair(
        AOF_EVERYSEC,
        "",
        &fault("slow-disk", "p1", "fsync = \"6s\"", "10s", "30s"),
    ));
    let slow = first(&r, "disk:fsync-too-slow").expect("a write waited 2 s");
    assert!((11_000..14_000).contains(&slow), "at {slow} ms");
    let acked = acks(&r);
    let gap = acked
        .windows(2)
        .filter(|w| w[0] >= 10_000)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap();
    assert!(
        gap >= 2_000,
        "the blocking write stalls replies: longest gap {gap} ms"
    );
    // Before the slow fsync blocked, writes were acknowledged during the postponement.
    assert!(acked.iter().any(|&t| t > 11_000 && t < slow));
    // On a healthy disk the longest gap is a think time and a round trip.
    let r = run(&pair(AOF_EVERYSEC, "", ""));
    let acked = acks(&r);
    let gap = acked.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(gap < 100, "{gap} ms");
}

/// A process crash during the postponement loses acknowledged writes that a fast disk would
/// have had in the page cache: they were only in `aof_buf`.
#[test]
fn a_crash_during_a_postponed_flush_loses_acknowledged_writes() {
    let crash =
        "[[faults]]\nkind = \"crash\"\ntargets = [\"p1\"]\nat = \"11500ms\"\nheal = \"13s\"\n";
    let text = |slow: bool| {
        let f = if slow {
            fault("slow-disk", "p1", "fsync = \"6s\"", "10s", "30s")
        } else {
            String::new()
        };
        // No replica: what p1 restarts with is all there is.
        format!(
            r#"
name = "disk"
duration = "20s"
quiet = "3s"
[servers.p1]
save = ""
{AOF_EVERYSEC}
[workloads.w]
target = "p1"
clients = 1
think = "20ms"
keys = 50
mix = {{ set = 100 }}
{f}{crash}
"#
        )
    };
    let fast = run(&text(false));
    assert_eq!(fast.lost.len(), 0, "kill -9 keeps the page cache");
    let slow = run(&text(true));
    assert!(
        !slow.lost.is_empty(),
        "postponed writes were only in memory"
    );
}

/// `appendfsync always` with `disk-fsync-latency`: every reply waits for the fsync the event
/// loop runs before replying, and the commands of one iteration share it (group commit).
#[test]
fn always_waits_for_the_fsync_and_shares_it_across_clients() {
    let text = |clients: u32| {
        format!(
            r#"
name = "disk"
duration = "10s"
quiet = "2s"
[servers.p1]
save = ""
{AOF_ALWAYS}
disk-fsync-latency = "50ms"
[workloads.w]
target = "p1"
clients = {clients}
think = "0ms"
keys = 50
mix = {{ set = 100 }}
"#
        )
    };
    let latencies = |r: &RunReport| -> Vec<u64> {
        let ev = &r.output.history.events;
        let mut out = Vec::new();
        for (i, e) in ev.iter().enumerate() {
            if e.kind != EventType::Ok {
                continue;
            }
            let inv = ev[..i]
                .iter()
                .rev()
                .find(|x| x.process == e.process && x.kind == EventType::Invoke)
                .expect("an invoke");
            out.push((e.time_ns - inv.time_ns) / 1_000_000);
        }
        out
    };
    let one = run(&text(1));
    let l1 = latencies(&one);
    assert!(
        l1.iter().all(|&l| l >= 50),
        "every write waits for its fsync"
    );
    let per_second_1 = l1.len() as f64 / 10.0;
    assert!(
        per_second_1 <= 20.0,
        "one client: at most one fsync per write"
    );
    let eight = run(&text(8));
    let l8 = latencies(&eight);
    assert!(l8.iter().all(|&l| l >= 50));
    let per_second_8 = l8.len() as f64 / 10.0;
    assert!(
        per_second_8 > 4.0 * per_second_1,
        "eight clients share fsyncs: {per_second_8}/s vs {per_second_1}/s"
    );
}

/// A stalled disk under `everysec`: the background fsync hangs, writes are postponed for up
/// to 2 s and then the server blocks until the stall ends.
#[test]
fn a_disk_stall_under_everysec_blocks_after_two_seconds() {
    let r = run(&pair(
        AOF_EVERYSEC,
        "",
        &fault("disk-stall", "p1", "", "10s", "20s"),
    ));
    let slow = first(&r, "disk:fsync-too-slow").expect("a write waited 2 s");
    assert!((11_000..14_000).contains(&slow), "at {slow} ms");
    let acked = acks(&r);
    assert!(acked.iter().any(|&t| t > 10_100 && t < slow));
    assert!(!acked.iter().any(|&t| t > slow + 50 && t < 20_000));
    assert!(acked.iter().any(|&t| (20_000..20_500).contains(&t)));
}

/// Nemesis kinds: `disk-error` and `slow-disk` are drawn when named (and not otherwise).
#[test]
fn the_nemesis_draws_disk_faults_when_named() {
    let text = |kinds: &str| {
        format!(
            r#"
name = "disk"
duration = "60s"
quiet = "5s"
[servers.defaults]
save = ""
{AOF_EVERYSEC}
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 1
think = "20ms"
keys = 50
mix = {{ set = 100 }}
[nemesis]
interval = "5s"
max_duration = "4s"
{kinds}
"#
        )
    };
    let r = run(&text("kinds = [\"disk-error\", \"slow-disk\"]"));
    let kinds: Vec<&str> = r.summary.faults.iter().map(|f| f.kind.as_str()).collect();
    assert!(
        kinds.contains(&"nemesis disk-error") && kinds.contains(&"nemesis slow-disk"),
        "{kinds:?}"
    );
    assert!(!disk_facts(&r).is_empty());
    let r = run(&text(""));
    assert!(
        r.summary
            .faults
            .iter()
            .all(|f| !f.kind.contains("disk-error") && !f.kind.contains("slow-disk"))
    );
}

/// Impossible input is refused with where and why.
#[test]
fn disk_faults_check_their_keys() {
    let bad = |extra: &str| {
        let text = pair("", "", extra);
        Scenario::parse("disk.toml", &text, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = bad(&fault("disk-error", "p1", "error = \"melted\"", "1s", "2s"));
    assert!(e.contains("unknown disk error `melted`"), "{e}");
    let e = bad(&fault("slow-disk", "p1", "", "1s", "2s"));
    assert!(e.contains("a slow-disk fault needs `fsync`"), "{e}");
    let e = bad(&fault("slow-disk", "w", "fsync = \"1s\"", "1s", "2s"));
    assert!(!e.is_empty());
}

/// A server restarted while its disk still stalls comes back onto the stalled disk: under
/// `appendfsync always` its first fsync hangs, so it answers nothing until the stall heals.
#[test]
fn a_server_restarted_onto_a_stalled_disk_freezes_under_always() {
    let faults = format!(
        "{}{}",
        fault("disk-stall", "p1", "", "12s", "30s"),
        "[[faults]]\nkind = \"crash\"\ntargets = [\"p1\"]\nat = \"10s\"\nheal = \"20s\"\n"
    );
    let r = run(&pair(AOF_ALWAYS, "", &faults));
    assert!(starts(&r, "p1").contains(&20_000), "restarted at 20 s");
    let acked = acks(&r);
    assert!(
        !acked.iter().any(|&t| (10_000..30_000).contains(&t)),
        "nothing acknowledged while crashed, then frozen: {:?}",
        acked.iter().find(|&&t| (10_000..30_000).contains(&t))
    );
    assert!(acked.iter().any(|&t| (30_000..31_000).contains(&t)));
}

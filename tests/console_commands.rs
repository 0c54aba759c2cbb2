//! The operator's console beyond topology: data commands and WAIT on the console's own
//! connection, SAVE and BGSAVE, DEBUG SLEEP, SHUTDOWN and the coordinated FAILOVER of Redis
//! 6.2+, each with the reply Redis gives, at the time Redis gives it.

use simkv::expect::Figure;
use simkv::fact::Fact;
use simkv::history::EventType;
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

const BASE: &str = r#"
name = "console"
duration = "40s"
quiet = "5s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
keys = 200
value_size = "200b"
timeout = "5s"
mix = { set = 100 }
"#;

fn run(extra: &str) -> RunReport {
    run_text(&format!("{BASE}{extra}"))
}

fn run_text(text: &str) -> RunReport {
    let s = Scenario::parse("inline.toml", text, &["expect={}".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

fn command(target: &str, command: &str, at: &str) -> String {
    format!(
        "[[faults]]\nkind = \"command\"\ntarget = \"{target}\"\ncommand = \"{command}\"\nat = \"{at}\"\n"
    )
}

/// The console's replies: (ms, command, reply).
fn replies(r: &RunReport) -> Vec<(u64, String, String)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::OperatorReply { command, reply, .. } => {
                Some((n.time.as_ms(), command.clone(), reply.clone()))
            }
            _ => None,
        })
        .collect()
}

fn kinds(r: &RunReport, kind: &str) -> Vec<(u64, String)> {
    r.output
        .notes
        .iter()
        .filter(|n| n.fact.kind() == kind)
        .map(|n| (n.time.as_ms(), n.fact.to_string()))
        .collect()
}

fn lost(r: &RunReport) -> i64 {
    match r.summary.figure("lost_acked_writes") {
        Figure::Number(n) => n,
        other => panic!("{other:?}"),
    }
}

/// Writes acknowledged in [from, to) ms.
fn acked_writes(r: &RunReport, from: u64, to: u64) -> usize {
    let h = &r.output.history.events;
    h.iter()
        .filter(|e| e.kind == EventType::Ok && e.f() == "set")
        .filter(|e| (from..to).contains(&(e.time_ns / 1_000_000)))
        .count()
}

#[test]
fn data_commands_run_on_the_consoles_connection_and_replicate() {
    let r = run(&[
        command("p1", "SET console:x hello", "10s"),
        command("r1", "GET console:x", "10500ms"),
        command("p1", "WAIT 2 1000", "11s"),
        command("p1", "INCR console:x", "12s"),
        command("p1", "GET console:missing", "12s"),
    ]
    .concat());
    let got = replies(&r);
    assert_eq!(got[0].1, "SET console:x hello");
    assert_eq!(got[0].2, "OK");
    assert_eq!(got[1], (10_500, "GET console:x".into(), "\"hello\"".into()));
    assert_eq!(got[2].2, "(integer) 2", "both replicas acknowledged");
    assert!(
        got.contains(&(
            12_000,
            "INCR console:x".into(),
            "(error) ERR value is not an integer or out of range".into()
        )),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|x| x.1 == "GET console:missing" && x.2 == "(nil)")
    );
    assert_eq!(lost(&r), 0, "a console key is not judged as a workload's");
}

/// server.c: `c->woff = server.master_repl_offset` after every command, reads too: a WAIT
/// after a read waits for what other clients wrote before it.
#[test]
fn wait_after_a_read_waits_for_other_clients_writes() {
    let r = run(&[
        "[[faults]]\nkind = \"pause\"\ntargets = [\"r1\", \"r2\"]\nat = \"10s\"\nheal = \"20s\"\n"
            .to_string(),
        command("p1", "GET console:nothing", "12s"),
        command("p1", "WAIT 1 500", "12100ms"),
    ]
    .concat());
    let got = replies(&r);
    // Before: the console had written nothing, so its WAIT answered 2 at once.
    assert_eq!(
        got[1],
        (12_600, "WAIT 1 500".into(), "(integer) 0".into()),
        "the paused replicas never acknowledge the workload's writes: WAIT times out"
    );
}

#[test]
fn bgsave_runs_in_a_child_and_a_second_one_is_refused() {
    let r = run(&[
        command("p1", "BGSAVE", "10s"),
        command("p1", "BGSAVE", "10s"),
    ]
    .concat());
    let got = replies(&r);
    assert_eq!(got[0].2, "Background saving started");
    assert_eq!(got[1].2, "(error) ERR Background save already in progress");
    let saved = kinds(&r, "bgsave:done");
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(
        acked_writes(&r, 10_001, 10_500) > 0,
        "the server goes on while its child saves"
    );
}

#[test]
fn save_blocks_the_server_until_dump_rdb_is_written() {
    // 200 keys of 200 bytes at 100 kb/s: about half a second of saving.
    let text = format!("{BASE}{}", command("p1", "SAVE", "10s")).replace(
        "[servers.p1]\n",
        "[servers.p1]\nrdb-save-rate = \"100kb/s\"\n",
    );
    let r = run_text(&text);
    let got = replies(&r);
    assert_eq!(got.len(), 1);
    let (at, cmd, reply) = &got[0];
    assert_eq!((cmd.as_str(), reply.as_str()), ("SAVE", "OK"));
    assert!(
        (10_300..11_000).contains(at),
        "OK after the save, at {at} ms"
    );
    assert_eq!(
        acked_writes(&r, 10_001, *at),
        0,
        "nothing runs while SAVE writes the file"
    );
    assert!(acked_writes(&r, *at, at + 500) > 0, "the writes resume");
    let saved = kinds(&r, "bgsave:done");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].0, *at, "dump.rdb is in place when SAVE answers");
}

#[test]
fn debug_sleep_is_refused_by_default_and_blocks_when_enabled() {
    let refused = run(&command("p1", "DEBUG SLEEP 1.5", "10s"));
    let got = replies(&refused);
    assert!(
        got[0]
            .2
            .starts_with("(error) ERR DEBUG command not allowed."),
        "{got:?}"
    );
    assert!(acked_writes(&refused, 10_001, 11_000) > 0);
    let text = format!("{BASE}{}", command("p1", "DEBUG SLEEP 1.5", "10s")).replace(
        "repl-diskless-sync-delay = \"0s\"",
        "repl-diskless-sync-delay = \"0s\"\nenable-debug-command = \"local\"",
    );
    let slept = run_text(&text);
    assert_eq!(
        replies(&slept),
        [(11_500, "DEBUG SLEEP 1.5".into(), "OK".into())]
    );
    assert_eq!(
        acked_writes(&slept, 10_001, 11_500),
        0,
        "the event loop sleeps"
    );
    assert!(acked_writes(&slept, 11_500, 12_000) > 0);
}

/// server.c: prepareForShutdown waits up to `shutdown-timeout` for lagging replicas with writes
/// paused, finishShutdown saves and exits; the OS closes the sockets.
#[test]
fn shutdown_waits_for_the_replicas_then_exits() {
    let pause =
        "[[faults]]\nkind = \"pause\"\ntargets = [\"r1\", \"r2\"]\nat = \"9s\"\nheal = \"12s\"\n";
    // After it, the operator makes r1 the primary, so the run has a final state to judge.
    let r = run(&[
        pause.to_string(),
        command("p1", "SHUTDOWN", "10s"),
        command("r1", "REPLICAOF NO ONE", "20s"),
        command("r2", "REPLICAOF r1", "20s"),
    ]
    .concat());
    let shut = kinds(&r, "server:shutdown");
    assert_eq!(shut.len(), 1, "{shut:?}");
    let (at, text) = &shut[0];
    // The replicas resume at 12 s; an ACK that covers the whole stream comes with their next
    // once-a-second REPLCONF ACK, and serverCron looks every 100 ms.
    assert!(
        (12_000..14_200).contains(at),
        "it waited for the replicas (resumed at 12 s): {at}"
    );
    assert!(text.contains("2 of 2 replicas are in sync"), "{text}");
    let exit = kinds(&r, "server:exit");
    assert_eq!(exit[0].0, *at, "no save rules: it exits at once");
    assert_eq!(
        replies(&r)[0],
        (*at, "SHUTDOWN".into(), "(server exited)".into())
    );
    assert_eq!(
        acked_writes(&r, 10_001, 40_000),
        0,
        "writes paused, then refused"
    );
    let refused = r
        .output
        .history
        .events
        .iter()
        .any(|e| e.time_ns / 1_000_000 > *at && e.error() == Some("connection refused"));
    assert!(refused, "the process is gone");
    let closed = kinds(&r, "repl:link-closed");
    assert!(
        closed.iter().filter(|(t, _)| t >= at).count() >= 2,
        "both replicas see the connection close: {closed:?}"
    );
    assert_eq!(lost(&r), 0, "every acknowledged write reached the replicas");

    // With a 1 s shutdown-timeout it gives up waiting and says so.
    let text = format!("{BASE}{pause}{}", command("p1", "SHUTDOWN NOSAVE", "10s")).replace(
        "repl-diskless-sync-delay = \"0s\"",
        "repl-diskless-sync-delay = \"0s\"\nshutdown-timeout = \"1s\"",
    );
    let r = run_text(&text);
    let shut = kinds(&r, "server:shutdown");
    assert!((11_000..11_200).contains(&shut[0].0), "{shut:?}");
    assert!(
        shut[0].1.contains("0 of 2 replicas are in sync"),
        "{shut:?}"
    );
}

#[test]
fn shutdown_with_save_rules_writes_a_final_rdb() {
    let text = format!("{BASE}{}", command("p1", "SHUTDOWN", "10s"))
        .replace("save = \"\"", "save = \"3600 1\"");
    let r = run_text(&text);
    let saved = kinds(&r, "bgsave:done");
    let exit = kinds(&r, "server:exit");
    assert_eq!(exit.len(), 1);
    assert!(
        saved.iter().any(|(t, _)| *t == exit[0].0),
        "the final RDB is written as it exits: {saved:?} {exit:?}"
    );
    let nosave = run_text(&text.replace("\"SHUTDOWN\"", "\"SHUTDOWN NOSAVE\""));
    let exit = kinds(&nosave, "server:exit");
    assert!(
        !kinds(&nosave, "bgsave:done")
            .iter()
            .any(|(t, _)| *t == exit[0].0),
        "NOSAVE skips it"
    );
}

/// replication.c: failoverCommand and updateFailoverStatus: writes pause, the first replica
/// that acknowledged the whole stream takes over with PSYNC FAILOVER, the old primary follows
/// it with a partial resync, and no acknowledged write is lost.
#[test]
fn failover_hands_the_role_to_a_caught_up_replica() {
    let r = run(&command("p1", "FAILOVER", "10s"));
    assert_eq!(replies(&r), [(10_000, "FAILOVER".into(), "OK".into())]);
    let states: Vec<String> = kinds(&r, "operator:failover")
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        states,
        [
            "p1 FAILOVER: waiting-for-sync",
            "p1 FAILOVER to r1: failover-in-progress",
            "p1 FAILOVER to r1: done"
        ]
    );
    let promoted = kinds(&r, "role:promoted");
    assert!(
        promoted
            .iter()
            .any(|(t, x)| *t >= 10_000 && x.starts_with("r1")),
        "{promoted:?}"
    );
    let partial = kinds(&r, "repl:partial-resync-done");
    assert!(
        partial.iter().any(|(_, x)| x.starts_with("p1")),
        "the old primary continues from r1's backlog: {partial:?}"
    );
    assert_eq!(lost(&r), 0, "a coordinated failover loses nothing");

    let to = run(&command("p1", "FAILOVER TO r2 TIMEOUT 5000", "10s"));
    let promoted = kinds(&to, "role:promoted");
    assert!(
        promoted.iter().any(|(_, x)| x.starts_with("r2")),
        "{promoted:?}"
    );
}

#[test]
fn failover_is_refused_or_aborted_as_redis_does() {
    let r = run(&[
        command("r1", "FAILOVER", "10s"),
        command("p1", "FAILOVER ABORT", "10s"),
        command("p1", "FAILOVER TO r2 FORCE", "10s"),
    ]
    .concat());
    let got: Vec<String> = replies(&r).into_iter().map(|x| x.2).collect();
    assert_eq!(
        got,
        [
            "(error) ERR FAILOVER is not valid when server is a replica.",
            "(error) ERR No failover in progress.",
            "(error) ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ]
    );
    // The target never catches up (paused): the timeout aborts the failover and writes resume.
    let r = run(&[
        "[[faults]]\nkind = \"pause\"\ntargets = [\"r2\"]\nat = \"9s\"\nheal = \"20s\"\n"
            .to_string(),
        command("p1", "FAILOVER TO r2 TIMEOUT 2000", "10s"),
        command("p1", "INFO replication", "11s"),
    ]
    .concat());
    let info = replies(&r);
    assert!(
        info[1].2.contains("master_failover_state:waiting-for-sync"),
        "{info:?}"
    );
    let states: Vec<(u64, String)> = kinds(&r, "operator:failover");
    assert_eq!(states.len(), 2, "{states:?}");
    assert!(states[1].1.ends_with("aborted"));
    assert!((12_000..13_100).contains(&states[1].0), "{states:?}");
    assert_eq!(acked_writes(&r, 10_001, states[1].0), 0, "writes wait");
    assert!(
        acked_writes(&r, states[1].0, states[1].0 + 500) > 0,
        "then resume"
    );
}

#[test]
fn console_commands_are_checked_when_read() {
    let bad = |cmd: &str| {
        let text = format!("{BASE}{}", command("p1", cmd, "10s"));
        Scenario::parse("inline.toml", &text, &[])
            .expect_err(cmd)
            .to_string()
    };
    assert!(bad("SET k3 v").contains("a key a workload writes"));
    assert!(bad("SET a").contains("wrong number of arguments for 'set'"));
    assert!(bad("DEBUG SLEEP x").contains("is not a number of seconds"));
    assert!(bad("FAILOVER TO nobody").contains("unknown server \"nobody\""));
    assert!(bad("FAILOVER TO p1").contains("names the server it is sent to"));
    assert!(bad("FAILOVER TIMEOUT 0").contains("greater than 0"));
    assert!(bad("WAIT x 1").contains("not a count"));
}

/// replicationFeedSlaves writes nothing on a replica: a replica's SHUTDOWN sends its own
/// sub-replicas no GETACK (it would put bytes in a stream that is its primary's).
#[test]
fn a_replica_with_a_sub_replica_shuts_down_without_writing_to_their_stream() {
    let text = format!("{BASE}{}", command("r1", "SHUTDOWN", "10s")).replace(
        "[servers.r2]\nreplicaof = \"p1\"",
        "[servers.r2]\nreplicaof = \"r1\"",
    );
    let r = run_text(&text);
    let exit = kinds(&r, "server:exit");
    assert_eq!(exit.len(), 1, "r1 exits");
    assert!(exit[0].1.starts_with("r1"));
    // p1's writes keep r1's offset moving, so r2's once-a-second ACK is always a little behind
    // it (isReadyToShutdown compares with master_repl_offset): SHUTDOWN waits its whole
    // shutdown-timeout, as on Redis.
    assert!(
        (20_000..20_200).contains(&exit[0].0),
        "after the 10 s shutdown-timeout: {exit:?}"
    );
    let shut = kinds(&r, "server:shutdown");
    assert!(
        shut[0].1.contains("0 of 1 replicas are in sync"),
        "{shut:?}"
    );
}

/// REPLICAOF to an address no server has: the server becomes a replica, keeps its data, and
/// tries to connect every second (replicationCron); nothing is sent anywhere.
#[test]
fn replicaof_an_address_no_server_has_keeps_trying() {
    let r = run(&command("r1", "REPLICAOF 10.0.0.9 6379", "10s"));
    let tries: Vec<u64> = r
        .output
        .notes
        .iter()
        .filter(|n| n.fact.kind() == "repl:connect" && n.fact.server() == Some("r1"))
        .map(|n| n.time.as_ms())
        .filter(|t| *t >= 10_000)
        .collect();
    assert!(tries.len() >= 25, "once a second until the end: {tries:?}");
    assert!(tries.windows(2).all(|w| w[1] - w[0] <= 1_000));
    let r1 = r
        .output
        .servers
        .iter()
        .find(|s| s.name == "r1")
        .expect("r1");
    assert!(!r1.is_master && !r1.link_up);
    assert_eq!(r1.master.as_deref(), Some("(an address no server has)"));
    assert!(!r1.keyspace.is_empty(), "it keeps the data it had");
}

const SENTINELS: &str = r#"
name = "sentinel-console"
duration = "40s"
quiet = "5s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"
replica-priority = 10
[sentinels.defaults]
monitor = "p1"
name = "mymaster"
quorum = 2
down-after-milliseconds = 5000
failover-timeout = 20000
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
[workloads.w]
clients = 2
discovery = "sentinel"
think = "10ms"
keys = 100
mix = { set = 100 }
timeout = "1s"
"#;

/// sentinel.c: sentinelCommand "failover" starts a failover with no ODOWN and no election
/// (SRI_FORCE_FAILOVER): the healthy primary is replaced by the best replica at once.
#[test]
fn sentinel_failover_replaces_a_healthy_primary_without_an_election() {
    let text = format!(
        "{SENTINELS}{}{}{}",
        command("s1", "SENTINEL FAILOVER mymaster", "10s"),
        command("s2", "SENTINEL FAILOVER nosuch", "10s"),
        command("s1", "SENTINEL FAILOVER mymaster", "10050ms"),
    );
    let r = run_text(&text);
    let got: Vec<String> = replies(&r).into_iter().map(|x| x.2).collect();
    assert_eq!(
        got,
        [
            "OK",
            "(error) ERR No such master with that name",
            "(error) INPROG Failover already in progress"
        ]
    );
    let events = |kind: &str| kinds(&r, kind);
    assert!(events("+odown").is_empty(), "nobody thinks p1 is down");
    let elected = events("+elected-leader");
    assert!(
        elected.len() == 1 && elected[0].1.starts_with("s1") && elected[0].0 < 11_000,
        "s1 leads without votes: {elected:?}"
    );
    let switch = events("+switch-master");
    assert!(
        switch
            .iter()
            .any(|(_, t)| t.contains("p1") && t.contains("r2")),
        "r2 (priority 10) replaces p1: {switch:?}"
    );
    let to: Vec<&str> = r.summary.failovers.iter().map(|f| f.to.as_str()).collect();
    assert_eq!(to, ["r2"]);
}

#[test]
fn sentinel_failover_needs_a_good_replica() {
    let pause =
        "[[faults]]\nkind = \"pause\"\ntargets = [\"r1\", \"r2\"]\nat = \"5s\"\nheal = \"20s\"\n";
    let text = format!(
        "{SENTINELS}{pause}{}",
        command("s1", "SENTINEL FAILOVER mymaster", "12s")
    );
    let got = replies(&run_text(&text));
    assert_eq!(
        got[0].2,
        "(error) NOGOODSLAVE No suitable replica to promote"
    );
}

/// REPLICAOF typed while the server loads an RDB: processCommand refuses it with shared.loadingerr
/// (REPLICAOF has no CMD_LOADING flag) and the role does not change; after the load it runs.
#[test]
fn replicaof_during_a_load_answers_loading() {
    let base = BASE.replace(
        "replicaof = \"p1\"\n[servers.r2]",
        "replicaof = \"p1\"\nrdb-load-rate = \"5kb/s\"\n[servers.r2]",
    );
    assert_ne!(base, BASE);
    let r = run_text(&format!(
        r#"{base}
[[faults]]
kind = "crash"
targets = ["r1"]
wipe_disk = true
at = "10s"
heal = "11s"
{}{}"#,
        command("r1", "REPLICAOF NO ONE", "13s"),
        command("r1", "REPLICAOF NO ONE", "30s"),
    ));
    let got = replies(&r);
    assert_eq!(
        got,
        vec![
            (
                13_000,
                "REPLICAOF NO ONE".to_string(),
                "(error) LOADING Redis is loading the dataset in memory".to_string()
            ),
            (30_000, "REPLICAOF NO ONE".to_string(), "OK".to_string()),
        ]
    );
    let promoted: Vec<u64> = kinds(&r, "role:promoted").iter().map(|k| k.0).collect();
    assert_eq!(
        promoted,
        vec![30_000],
        "only the second REPLICAOF promotes r1"
    );
}

//! Commands an operator types at a server's console, at given times (`kind = "command"`):
//! REPLICAOF, CLIENT KILL TYPE replica and CONFIG SET repl-backlog-size, each with the reply
//! Redis gives, recorded in the trace.

use simkv::fact::{Fact, FactNote};
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

const BASE: &str = r#"
name = "operator"
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
mix = { set = 100 }
"#;

fn run(extra: &str) -> RunOutput {
    run_with(extra, &[])
}

fn run_with(extra: &str, overrides: &[&str]) -> RunOutput {
    let text = format!("{BASE}{extra}");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = Scenario::parse("inline.toml", &text, &o).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, 1).run(&mut |_| {}).expect("runs")
}

fn replies(out: &RunOutput) -> Vec<(u64, String, String)> {
    out.notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::OperatorReply { command, reply, .. } => {
                Some((n.time.as_ms(), command.clone(), reply.clone()))
            }
            _ => None,
        })
        .collect()
}

fn notes<'a>(out: &'a RunOutput, kind: &str, server: &str) -> Vec<&'a FactNote> {
    out.notes
        .iter()
        .filter(|n| n.fact.kind() == kind && n.fact.server() == Some(server))
        .collect()
}

#[test]
fn replicaof_no_one_promotes_and_replicaof_points_back() {
    let out = run(r#"
[[faults]]
kind = "command"
target = "r1"
command = "REPLICAOF NO ONE"
at = "10s"
[[faults]]
kind = "command"
target = "r1"
command = "replicaof p1"
at = "20s"
"#);
    let r = replies(&out);
    assert_eq!(
        r,
        [
            (10_000, "REPLICAOF NO ONE".into(), "OK".into()),
            (20_000, "replicaof p1".into(), "OK".into())
        ]
    );
    let promoted: Vec<u64> = notes(&out, "role:promoted", "r1")
        .iter()
        .map(|n| n.time.as_ms())
        .collect();
    assert_eq!(promoted, [10_000], "r1 became a primary when told");
    let resynced = notes(&out, "repl:full-resync-done", "r1")
        .into_iter()
        .chain(notes(&out, "repl:partial-resync-done", "r1"))
        .any(|n| n.time.as_ms() > 20_000);
    assert!(resynced, "r1 follows p1 again after REPLICAOF p1");
    let r1 = out.servers.iter().find(|s| s.name == "r1").unwrap();
    assert_eq!(r1.master.as_deref(), Some("p1"));
}

/// networking.c: CLIENT KILL TYPE replica replies with the number of clients killed; the
/// replicas reconnect at once and continue from the backlog.
#[test]
fn client_kill_type_replica_disconnects_both_replicas_who_continue() {
    let out = run(r#"
[[faults]]
kind = "command"
target = "p1"
command = "CLIENT KILL TYPE replica"
at = "10s"
"#);
    assert_eq!(
        replies(&out),
        [(
            10_000,
            "CLIENT KILL TYPE replica".into(),
            "(integer) 2".into()
        )]
    );
    for r in ["r1", "r2"] {
        let continued = notes(&out, "repl:partial-resync-done", r)
            .iter()
            .any(|n| (10_000..11_000).contains(&n.time.as_ms()));
        assert!(continued, "{r} continued from the backlog at once");
    }
}

/// config.c / replication.c: resizeReplicationBacklog raises a size below 16kb to 16kb and
/// trims the backlog, so a replica cut off (past its 2 s repl-timeout) for 4 s of writes, some
/// 380 kB, then needs a full resync, where the default 1mb backlog lets it continue.
#[test]
fn config_set_repl_backlog_size_is_clamped_and_trims() {
    let cut = r#"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "15s"
heal = "19s"
"#;
    let short_timeout = ["servers.defaults.repl-timeout=2"];
    let default = run_with(cut, &short_timeout);
    let small = run_with(
        &format!(
            r#"{cut}
[[faults]]
kind = "command"
target = "p1"
command = "CONFIG SET repl-backlog-size 100"
at = "10s"
"#
        ),
        &short_timeout,
    );
    assert_eq!(
        replies(&small),
        [(
            10_000,
            "CONFIG SET repl-backlog-size 100".into(),
            "OK".into()
        )]
    );
    // Resyncs after the heal (before the writes stop at 35 s, when a 2 s repl-timeout below the
    // 10 s ping period makes the idle replica time out again).
    let after_heal = |out: &RunOutput, kind: &str| {
        notes(out, kind, "r1")
            .iter()
            .filter(|n| (19_000..30_000).contains(&n.time.as_ms()))
            .count()
    };
    assert_eq!(after_heal(&default, "repl:partial-resync-done"), 1);
    assert_eq!(after_heal(&small, "repl:partial-resync-done"), 0);
    assert_eq!(after_heal(&small, "repl:full-resync-done"), 1);
}

#[test]
fn commands_are_checked() {
    let bad = |extra: &str| {
        let text = format!("{BASE}{extra}");
        Scenario::parse("inline.toml", &text, &[])
            .expect_err("refused")
            .to_string()
    };
    let e = bad(
        "[[faults]]\nkind = \"command\"\ntarget = \"p1\"\ncommand = \"FLUSHALL\"\nat = \"5s\"\n",
    );
    assert!(
        e.contains("unknown command \"FLUSHALL\"") && e.contains("REPLICAOF NO ONE"),
        "{e}"
    );
    let e = bad(
        "[[faults]]\nkind = \"command\"\ntarget = \"p1\"\ncommand = \"REPLICAOF p9\"\nat = \"5s\"\n",
    );
    assert!(e.contains("unknown server \"p9\""), "{e}");
    let e = bad(
        "[[faults]]\nkind = \"command\"\ntarget = \"p1\"\ncommand = \"REPLICAOF p1\"\nat = \"5s\"\n",
    );
    assert!(e.contains("cannot replicate from itself"), "{e}");
    let e = bad(
        "[[faults]]\nkind = \"command\"\ntarget = \"p1\"\ncommand = \"CLIENT KILL TYPE replica\"\nat = \"5s\"\nheal = \"6s\"\n",
    );
    assert!(e.contains("not healed"), "{e}");
}

/// INFO replication at given times records what Redis's own tests assert on: the role, the
/// offsets and the backlog's extent.
#[test]
fn info_replication_records_offsets_and_the_backlog() {
    let out = run(r#"
[[faults]]
kind = "command"
target = "p1"
command = "INFO replication"
at = "10s"
[[faults]]
kind = "command"
target = "r1"
command = "info replication"
at = "10s"
"#);
    let r = replies(&out);
    assert_eq!(r.len(), 2);
    let field = |reply: &str, key: &str| -> String {
        reply
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{key}:")))
            .unwrap_or_else(|| panic!("no {key} in {reply}"))
            .to_string()
    };
    let p1 = &r[0].2;
    assert_eq!(field(p1, "role"), "master");
    assert_eq!(field(p1, "connected_slaves"), "2");
    assert_eq!(field(p1, "repl_backlog_active"), "1");
    assert_eq!(field(p1, "repl_backlog_first_byte_offset"), "1");
    let offset: u64 = field(p1, "master_repl_offset").parse().unwrap();
    let histlen: u64 = field(p1, "repl_backlog_histlen").parse().unwrap();
    assert!(offset > 100_000, "ten seconds of writes: {offset}");
    assert_eq!(
        histlen, offset,
        "the 1mb backlog still holds the whole stream"
    );
    let r1 = &r[1].2;
    assert_eq!(field(r1, "role"), "slave");
    assert_eq!(field(r1, "master_host"), "p1");
    assert_eq!(field(r1, "master_link_status"), "up");
    let replica_offset: u64 = field(r1, "slave_repl_offset").parse().unwrap();
    assert!(replica_offset <= offset && offset - replica_offset < 10_000);
}

/// networking.c: CLIENT PAUSE ... WRITE holds clients' writes (they wait, they do not fail)
/// and lets reads through; ALL holds every command. What waited runs when the pause ends.
#[test]
fn client_pause_holds_writes_or_everything_until_it_ends() {
    let with = |mode: &str| {
        // A 5 s client timeout outlasts the 2 s pause (with a shorter one the held writes
        // time out in the clients, as they would against Redis).
        let text = BASE.replace(
            "mix = { set = 100 }",
            "mix = { set = 50, get = 50 }\ntimeout = \"5s\"",
        );
        let text = format!(
            "{text}[[faults]]\nkind = \"command\"\ntarget = \"p1\"\ncommand = \"CLIENT PAUSE 2000 {mode}\"\nat = \"10s\"\n"
        );
        let s = Scenario::parse("inline.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"));
        World::new(&s, 1).run(&mut |_| {}).expect("runs")
    };
    let completions = |out: &RunOutput, f: &str| -> Vec<u64> {
        out.history
            .events
            .iter()
            .filter(|e| e.kind == simkv::history::EventType::Ok && e.f() == f)
            .map(|e| e.time_ns / 1_000_000)
            .filter(|t| (10_001..12_000).contains(t))
            .collect()
    };
    let write = with("WRITE");
    assert_eq!(
        replies(&write),
        [(10_000, "CLIENT PAUSE 2000 WRITE".into(), "OK".into())]
    );
    assert!(
        completions(&write, "set").is_empty(),
        "no write completes during the pause"
    );
    assert!(!completions(&write, "get").is_empty(), "reads go on");
    let failed = write.history.events.iter().any(|e| {
        e.kind != simkv::history::EventType::Ok && e.kind != simkv::history::EventType::Invoke
    });
    assert!(!failed, "held writes wait, they do not fail");
    let resumed = write.history.events.iter().any(|e| {
        e.kind == simkv::history::EventType::Ok && e.f() == "set" && e.time_ns / 1_000_000 == 12_000
    });
    assert!(resumed, "the held writes run when the pause ends");
    let all = with("ALL");
    assert!(completions(&all, "get").is_empty(), "ALL holds reads too");
}

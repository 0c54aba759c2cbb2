//! WAITAOF (Redis 7.2): a write's acknowledgement once the local AOF and N replicas' AOFs have
//! fsynced it, each rule as `waitaofCommand`, `processClientsWaitingReplicas` and
//! `replicationSendAck` (FACK) of 7.2.4 have them; `[redis] version = "7.0"` does not know it.

use simkv::fact::Fact;
use simkv::history::EventType;
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn base(version: &str, primary: &str, replicas: &str) -> String {
    format!(
        r#"
name = "waitaof"
duration = "30s"
quiet = "5s"
[redis]
version = "{version}"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
{primary}
[servers.r1]
replicaof = "p1"
{replicas}
[servers.r2]
replicaof = "p1"
{replicas}
[workloads.w]
target = "p1"
clients = 1
think = "20ms"
keys = 50
mix = {{ set = 100 }}
"#
    )
}

const AOF_ALWAYS: &str = "appendonly = true\nappendfsync = \"always\"";

fn run(text: &str) -> RunReport {
    let s = Scenario::parse("waitaof.toml", text, &["expect={}".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

fn console(target: &str, command: &str, at: &str) -> String {
    format!(
        "[[faults]]\nkind = \"command\"\ntarget = \"{target}\"\ncommand = \"{command}\"\nat = \"{at}\"\n"
    )
}

/// (ms, command, reply) of the console.
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

/// The console's WAITAOF, after a console SET at 10 s.
fn waitaof(text: String, command: &str) -> (u64, String) {
    let text = format!(
        "{text}{}{}",
        console("p1", "SET console:x 1", "10s"),
        console("p1", command, "10001ms")
    );
    let r = run(&text);
    let got = replies(&r);
    let (at, _, reply) = got
        .into_iter()
        .find(|x| x.1 == command)
        .expect("WAITAOF answered");
    (at, reply)
}

#[test]
fn counts_the_local_and_the_replicas_fsyncs() {
    let (at, reply) = waitaof(base("7.2", AOF_ALWAYS, AOF_ALWAYS), "WAITAOF 1 2 1000");
    assert_eq!(reply, "1) (integer) 1 2) (integer) 2");
    assert!(
        at < 10_100,
        "fsync always: answered within a round trip ({at} ms)"
    );
}

#[test]
fn times_out_with_what_it_has() {
    let pause =
        "[[faults]]\nkind = \"pause\"\ntargets = [\"r1\", \"r2\"]\nat = \"9s\"\nheal = \"20s\"\n";
    let text = format!("{}{pause}", base("7.2", AOF_ALWAYS, AOF_ALWAYS));
    let (at, reply) = waitaof(text, "WAITAOF 1 1 500");
    assert_eq!(reply, "1) (integer) 1 2) (integer) 0");
    assert_eq!(at, 10_501, "after its 500 ms timeout");
}

#[test]
fn numlocal_with_appendonly_off_is_refused() {
    let (_, reply) = waitaof(base("7.2", "", AOF_ALWAYS), "WAITAOF 1 0 100");
    assert_eq!(
        reply,
        "(error) ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
    );
    // Without numlocal it waits for the replicas only.
    let (_, reply) = waitaof(base("7.2", "", AOF_ALWAYS), "WAITAOF 0 2 1000");
    assert_eq!(reply, "1) (integer) 0 2) (integer) 2");
}

#[test]
fn redis_7_0_does_not_know_it() {
    let (_, reply) = waitaof(base("7.0", AOF_ALWAYS, AOF_ALWAYS), "WAITAOF 1 0 100");
    assert_eq!(
        reply,
        "(error) ERR unknown command 'WAITAOF', with args beginning with: '1' '0' '100' "
    );
    // A workload asking for it records every write as indeterminate, with the error.
    let text = base("7.0", AOF_ALWAYS, AOF_ALWAYS).replace(
        "mix = { set = 100 }",
        "mix = { set = 100 }\nwaitaof = { local = 1, replicas = 0, timeout = \"100ms\" }",
    );
    let s = Scenario::parse("waitaof.toml", &text, &["expect={}".to_string()]).expect("valid");
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("Redis 7.0 has no WAITAOF")),
        "{:?}",
        s.warnings
    );
    let r = run(&text);
    let writes: Vec<_> = r
        .output
        .history
        .events
        .iter()
        .filter(|e| e.f() == "set" && e.kind != EventType::Invoke)
        .collect();
    assert!(!writes.is_empty());
    assert!(writes.iter().all(|e| {
        e.kind == EventType::Info
            && e.error()
                .is_some_and(|t| t.starts_with("ERR unknown command 'WAITAOF'"))
    }));
}

#[test]
fn a_replica_refuses_it() {
    let text = format!(
        "{}{}",
        base("7.2", AOF_ALWAYS, AOF_ALWAYS),
        console("r1", "WAITAOF 0 0 100", "10s")
    );
    let got = replies(&run(&text));
    assert_eq!(
        got[0].2,
        "(error) ERR WAITAOF cannot be used with replica instances. Please also note that writes \
         to replicas are just local and are not propagated."
    );
}

/// `appendfsync no`: Redis never fsyncs, so `fsynced_reploff` never reaches the write (the OS
/// writeback the model keeps for crashes does not count); `everysec` reaches it with the next
/// second's fsync.
#[test]
fn the_local_part_follows_the_fsync_policy() {
    let no = "appendonly = true\nappendfsync = \"no\"";
    let (at, reply) = waitaof(base("7.2", no, AOF_ALWAYS), "WAITAOF 1 0 2000");
    assert_eq!(
        reply, "1) (integer) 0 2) (integer) 2",
        "the replicas (always) fsynced it, the primary never does"
    );
    assert_eq!(at, 12_001, "never: it times out");
    let everysec = "appendonly = true\nappendfsync = \"everysec\"";
    let (at, reply) = waitaof(base("7.2", everysec, AOF_ALWAYS), "WAITAOF 1 0 2000");
    assert_eq!(reply, "1) (integer) 1 2) (integer) 2");
    assert!(
        (10_001..=11_001).contains(&at),
        "the next second's fsync covers it ({at} ms)"
    );
}

/// A replica without an AOF sends no FACK (replicationSendAck: `fsynced_reploff == -1`): it
/// counts for WAIT, never for WAITAOF; 7.0 replicas send none either.
#[test]
fn replicas_count_only_with_an_aof_and_7_2() {
    let (_, reply) = waitaof(base("7.2", AOF_ALWAYS, ""), "WAITAOF 0 1 1500");
    assert_eq!(reply, "1) (integer) 1 2) (integer) 0");
    let text = format!(
        "{}{}{}",
        base("7.2", AOF_ALWAYS, ""),
        console("p1", "SET console:y 1", "10s"),
        console("p1", "WAIT 2 1500", "10001ms")
    );
    let got = replies(&run(&text));
    assert_eq!(got[1].2, "(integer) 2", "WAIT counts them");
}

#[test]
fn scenario_checks() {
    let text = base("7.2", AOF_ALWAYS, AOF_ALWAYS).replace(
        "mix = { set = 100 }",
        "mix = { set = 100 }\nwaitaof = { local = 1, replicas = 3 }",
    );
    let e = Scenario::parse("waitaof.toml", &text, &[])
        .expect_err("3 replicas")
        .to_string();
    assert!(e.contains("can never be satisfied"), "{e}");
    let both = base("7.2", AOF_ALWAYS, AOF_ALWAYS).replace(
        "mix = { set = 100 }",
        "mix = { set = 100 }\nwait = { replicas = 1 }\nwaitaof = { local = 1 }",
    );
    let e = Scenario::parse("waitaof.toml", &both, &[])
        .expect_err("both")
        .to_string();
    assert!(e.contains("not both"), "{e}");
    let e = Scenario::parse("v.toml", &base("6.2", "", ""), &[])
        .expect_err("6.2")
        .to_string();
    assert!(e.contains("unknown Redis version"), "{e}");
    let no_aof = base("7.2", AOF_ALWAYS, "").replace(
        "mix = { set = 100 }",
        "mix = { set = 100 }\nwaitaof = { local = 1, replicas = 1 }",
    );
    let s = Scenario::parse("waitaof.toml", &no_aof, &[]).expect("valid");
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("report no fsynced offset")),
        "{:?}",
        s.warnings
    );
}

//! The operator's console against real redis-server 7.0.15: the same commands at the same
//! times through the simulator and through real processes give the same replies, word for word,
//! and a coordinated FAILOVER hands the role over at the same second.

mod real_support;

use simkv::fact::Fact;
use simkv::real::run::{RealOptions, run_real};
use simkv::scenario::Scenario;
use simkv::world::World;

const CONSOLE: &str = r#"
name = "console"
duration = "14s"
quiet = "2s"
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
clients = 1
think = "50ms"
keys = 50
mix = { set = 100 }
"#;

const COMMANDS: &[(&str, &str, &str)] = &[
    ("p1", "SET console:x hello", "3s"),
    ("r1", "GET console:x", "4s"),
    ("p1", "WAIT 2 1000", "4500ms"),
    ("p1", "INCR console:x", "5s"),
    ("p1", "SMEMBERS console:none", "5s"),
    ("p1", "BGSAVE", "5500ms"),
    ("p1", "DEBUG SLEEP 0.5", "6s"),
    ("r1", "FAILOVER", "7s"),
    ("p1", "FAILOVER ABORT", "7s"),
    ("p1", "FAILOVER TO r2 FORCE", "7s"),
    ("p1", "FAILOVER TO r1 TIMEOUT 3000", "8s"),
    ("p1", "SHUTDOWN NOSAVE", "11s"),
];

fn replies(notes: &[simkv::fact::FactNote]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::OperatorReply {
                server,
                command,
                reply,
            } => Some((server.clone(), command.clone(), reply.clone())),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn demoted_ms(notes: &[simkv::fact::FactNote]) -> u64 {
    notes
        .iter()
        .find(|n| matches!(&n.fact, Fact::Demoted { server, .. } if server == "p1"))
        .map(|n| n.time.0 / 1_000_000)
        .expect("p1 hands its role over")
}

#[test]
fn console_replies_agree_with_real_redis() {
    let Some(binaries) = real_support::binaries("console_replies_agree_with_real_redis") else {
        return;
    };
    let mut text = CONSOLE.to_string();
    for (target, command, at) in COMMANDS {
        text.push_str(&format!(
            "[[faults]]\nkind = \"command\"\ntarget = \"{target}\"\ncommand = \"{command}\"\nat = \"{at}\"\n"
        ));
    }
    let s = Scenario::parse("console.toml", &text, &[]).expect("valid");
    let sim = World::new(&s, 1).run(&mut |_| {}).expect("runs");
    let opts = RealOptions {
        binaries: Some(binaries),
        ..RealOptions::default()
    };
    let real = run_real(&s, 1, &opts).expect("the real run completes");
    let (sim_replies, real_replies) = (replies(&sim.notes), replies(&real.notes));
    assert_eq!(sim_replies.len(), COMMANDS.len(), "{sim_replies:#?}");
    assert_eq!(sim_replies, real_replies);
    // FAILOVER is checked once a second (replicationCron) on both sides.
    let (s_ms, r_ms) = (demoted_ms(&sim.notes), demoted_ms(&real.notes));
    assert!(
        (8_000..=9_500).contains(&r_ms) && s_ms.abs_diff(r_ms) <= 1_100,
        "p1 hands over at {s_ms} ms in the model, {r_ms} ms on real Redis"
    );
}

const SENTINELS: &str = r#"
name = "sentinel-console"
duration = "16s"
quiet = "3s"
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
[[faults]]
kind = "command"
target = "s1"
command = "SENTINEL FAILOVER mymaster"
at = "6s"
[[faults]]
kind = "command"
target = "s2"
command = "SENTINEL FAILOVER nosuch"
at = "6s"
[[faults]]
kind = "command"
target = "s1"
command = "SENTINEL FAILOVER mymaster"
at = "6050ms"
"#;

fn promoted_ms(notes: &[simkv::fact::FactNote], server: &str) -> u64 {
    notes
        .iter()
        .find(|n| matches!(&n.fact, Fact::Promoted { server: s, .. } if s == server))
        .map(|n| n.time.0 / 1_000_000)
        .unwrap_or_else(|| panic!("{server} is promoted"))
}

/// `SENTINEL FAILOVER`: the same replies, and the best replica promoted within a second of the
/// command on both sides.
#[test]
fn sentinel_failover_agrees_with_real_redis() {
    let Some(binaries) = real_support::binaries("sentinel_failover_agrees_with_real_redis") else {
        return;
    };
    let s = Scenario::parse("sentinel-console.toml", SENTINELS, &[]).expect("valid");
    let sim = World::new(&s, 1).run(&mut |_| {}).expect("runs");
    let opts = RealOptions {
        binaries: Some(binaries),
        ..RealOptions::default()
    };
    let real = run_real(&s, 1, &opts).expect("the real run completes");
    assert_eq!(replies(&sim.notes), replies(&real.notes));
    assert!(replies(&sim.notes).iter().any(|r| r.2 == "OK"));
    for (side, notes) in [("model", &sim.notes), ("real", &real.notes)] {
        let at = promoted_ms(notes, "r2");
        assert!(
            (6_000..7_000).contains(&at),
            "{side}: r2 promoted at {at} ms"
        );
    }
}

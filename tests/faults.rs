//! Fault injection, end to end: what crosses a cut link and when, one-way cuts, pauses, crashes,
//! and the nemesis's determinism and independence from the workload's randomness.

use simkv::history::EventType;
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

fn scenario(extra: &str) -> Scenario {
    let text = scenario_text(extra);
    Scenario::parse("inline.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn scenario_text(extra: &str) -> String {
    format!(
        r#"name = "t"
duration = "60s"
quiet = "10s"
[servers.defaults]
repl-timeout = 100
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "10ms"
keys = 20
mix = {{ set = 100 }}
{extra}"#
    )
}

fn run(s: &Scenario, seed: u64) -> RunOutput {
    World::new(s, seed)
        .run(&mut |_| {})
        .expect("the run completes")
}

fn replica_offset_at(out: &RunOutput, server: usize, t_ms: u64) -> u64 {
    let i = out
        .metrics
        .times
        .iter()
        .position(|t| t.as_ms() >= t_ms)
        .expect("sampled");
    out.metrics.samples[i][server].offset
}

#[test]
fn nothing_crosses_a_cut_link_until_it_heals() {
    let s = scenario(
        "[[faults]]\nkind = \"partition\"\nbetween = [[\"p1\"], [\"r1\"]]\nat = \"20s\"\nheal = \"40s\"\n",
    );
    let out = run(&s, 1);
    let frozen = replica_offset_at(&out, 1, 21_000);
    assert_eq!(
        frozen,
        replica_offset_at(&out, 1, 39_000),
        "the replica got nothing during the cut"
    );
    assert!(
        replica_offset_at(&out, 0, 39_000) > frozen,
        "the primary went on writing"
    );
    assert_eq!(
        replica_offset_at(&out, 1, 45_000),
        replica_offset_at(&out, 0, 45_000),
        "after the heal the held bytes arrive, in order, without a resync"
    );
    let partial: u64 = out.servers.iter().map(|s| s.stats.partial_resyncs).sum();
    assert_eq!(
        partial, 0,
        "repl-timeout 100 s: nobody noticed the 20 s cut"
    );
}

#[test]
fn one_way_partition_blocks_one_direction_only() {
    // p1 -> r1 is cut: the stream stops, but r1's ACKs still reach p1.
    let s = scenario(
        "[[faults]]\nkind = \"one-way-partition\"\nfrom = [\"p1\"]\nto = [\"r1\"]\nat = \"20s\"\nheal = \"40s\"\n",
    );
    let out = run(&s, 1);
    assert_eq!(
        replica_offset_at(&out, 1, 21_000),
        replica_offset_at(&out, 1, 39_000)
    );
    // The reverse cut stops ACKs, not the stream: the replica keeps up.
    let s = scenario(
        "[[faults]]\nkind = \"one-way-partition\"\nfrom = [\"r1\"]\nto = [\"p1\"]\nat = \"20s\"\nheal = \"40s\"\n",
    );
    let out = run(&s, 1);
    let gap = replica_offset_at(&out, 0, 39_000) - replica_offset_at(&out, 1, 39_000);
    assert!(
        gap < 2_000,
        "the replica follows the stream while its ACKs are cut (gap {gap})"
    );
}

#[test]
fn paused_primary_handles_queued_requests_on_resume() {
    // A million keys, so that a later write almost never overwrites the evidence.
    let text = scenario_text(
        "[[faults]]\nkind = \"pause\"\ntargets = [\"p1\"]\nat = \"20s\"\nheal = \"30s\"\n",
    )
    .replace("keys = 20", "keys = 1000000");
    let s = Scenario::parse("inline.toml", &text, &[]).unwrap();
    let out = run(&s, 1);
    assert_eq!(
        replica_offset_at(&out, 0, 21_000),
        replica_offset_at(&out, 0, 29_000),
        "no timers, no writes"
    );
    let ops = out.history.operations();
    let timed_out: Vec<_> = ops
        .iter()
        .filter(|o| o.outcome == EventType::Info)
        .collect();
    assert!(!timed_out.is_empty());
    // A write that timed out during the pause was applied when the primary woke up.
    let applied = timed_out.iter().filter(|o| {
        let v = o.input.as_str().unwrap();
        out.servers[0]
            .keyspace
            .iter()
            .any(|(_, x)| x.as_str().is_some_and(|s| s.as_ref() == v))
    });
    assert!(applied.count() >= 1, "queued requests ran after SIGCONT");
}

#[test]
fn machine_crash_loses_what_was_not_fsynced_and_process_crash_does_not() {
    let base = "[servers.p1]\nappendonly = \"yes\"\nappendfsync = \"no\"\nsave = \"\"\n";
    let make = |kind: &str| {
        let text = format!(
            "name = \"t\"\nduration = \"40s\"\nquiet = \"5s\"\n{base}[workloads.w]\ntarget = \"p1\"\nclients = 2\nthink = \"10ms\"\nmix = {{ set = 100 }}\nstop = \"20s\"\n[[faults]]\nkind = \"{kind}\"\ntargets = [\"p1\"]\nat = \"25s\"\nheal = \"26s\"\n"
        );
        Scenario::parse("inline.toml", &text, &[]).unwrap()
    };
    let lost = |kind: &str| {
        let s = make(kind);
        let r = run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
        r.lost.len()
    };
    assert_eq!(lost("crash"), 0, "kill -9: the page cache survives");
    assert!(
        lost("machine-crash") > 100,
        "power loss with appendfsync no loses the unsynced tail"
    );
}

#[test]
fn nemesis_is_deterministic_and_leaves_the_workload_alone() {
    let quiet = scenario("");
    let noisy = scenario("[nemesis]\ninterval = \"5s\"\nstart = \"30s\"\n");
    let a = run(&noisy, 9);
    let b = run(&noisy, 9);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_ne!(run(&noisy, 10).trace_hash, a.trace_hash);
    assert!(!a.faults.is_empty());
    // Before the first fault, the workload draws exactly the same operations.
    let first_fault_ns = a.faults[0].at_ms * 1_000_000;
    let before = |o: &RunOutput| -> Vec<(u32, String, String)> {
        o.history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Invoke && e.time_ns < first_fault_ns / 2)
            .map(|e| (e.process, e.key.to_string(), e.value.to_string()))
            .collect()
    };
    let plain = run(&quiet, 9);
    assert!(!before(&plain).is_empty());
    assert_eq!(before(&plain), before(&a));
}

#[test]
fn divergence_is_located_in_simulated_time() {
    use simkv::world::first_divergence;
    let s = scenario("");
    let a = run(&s, 5);
    assert_eq!(
        first_divergence(&a, &run(&s, 5)),
        None,
        "same seed, same run"
    );
    // The same scenario with a fault that starts at 30 s: identical up to 30 s, different after.
    let later = scenario(
        "[[faults]]\nkind = \"isolate\"\ntargets = [\"r1\"]\nat = \"30s\"\nheal = \"35s\"\n",
    );
    let (after, by) = first_divergence(&a, &run(&later, 5)).expect("they differ");
    assert!(
        after.as_ms() >= 29_000 && after.as_ms() <= 30_000,
        "agree until {after}"
    );
    assert!(by.as_ms() <= 31_000, "differ by {by}");
}

/// When each server (re)started, from its `start` facts, in ms.
fn starts(out: &RunOutput, server: &str) -> Vec<u64> {
    out.notes
        .iter()
        .filter_map(|n| match &n.fact {
            simkv::fact::Fact::Started { server: s, .. } if s == server => Some(n.time.as_ms()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_inner_crash_does_not_end_an_outer_one() {
    // r1 crashes 3 s..10 s and, inside that, 4 s..5 s: it must stay down until 10 s.
    let s = scenario(
        "[[faults]]\nkind = \"crash\"\ntargets = [\"r1\"]\nat = \"3s\"\nheal = \"10s\"\n\
         [[faults]]\nkind = \"crash\"\ntargets = [\"r1\"]\nat = \"4s\"\nheal = \"5s\"\n",
    );
    let out = run(&s, 1);
    assert_eq!(
        starts(&out, "r1"),
        vec![0, 10_000],
        "restarted only at 10 s"
    );
    let up_at = |t| {
        let i = out
            .metrics
            .times
            .iter()
            .position(|x| x.as_ms() >= t)
            .unwrap();
        out.metrics.samples[i][1].up
    };
    assert!(
        !up_at(7_000),
        "still down between the inner heal and the outer heal"
    );
    assert!(up_at(12_000));
}

#[test]
fn an_inner_pause_does_not_resume_an_outer_one() {
    let s = scenario(
        "[[faults]]\nkind = \"pause\"\ntargets = [\"p1\"]\nat = \"20s\"\nheal = \"30s\"\n\
         [[faults]]\nkind = \"pause\"\ntargets = [\"p1\"]\nat = \"22s\"\nheal = \"23s\"\n",
    );
    let out = run(&s, 1);
    assert_eq!(
        replica_offset_at(&out, 0, 24_000),
        replica_offset_at(&out, 0, 29_000),
        "p1 is still paused after the inner pause healed"
    );
    assert!(replica_offset_at(&out, 0, 35_000) > replica_offset_at(&out, 0, 29_000));
}

/// A `failover` without `heal` is a one-shot action: the servers it re-pointed are not sent
/// REPLICAOF again when the quiet phase heals what is still active, so a later operator
/// command stands.
#[test]
fn a_failover_without_heal_is_not_applied_again_at_the_quiet_phase() {
    let s = scenario(
        r#"[servers.r2]
replicaof = "p1"
[[faults]]
kind = "failover"
target = "r1"
at = "10s"
[[faults]]
kind = "command"
target = "r2"
command = "REPLICAOF NO ONE"
at = "20s"
"#,
    );
    let out = run(&s, 1);
    let r2 = out.servers.iter().find(|s| s.name == "r2").expect("r2");
    assert!(r2.is_master, "r2 stays the primary the operator made it");
    let p1 = out.servers.iter().find(|s| s.name == "p1").expect("p1");
    assert_eq!(p1.master.as_deref(), Some("r1"), "p1 follows r1");
    // r2 was re-pointed at r1 once (at 10 s), and never demoted after its promotion.
    let count = |kind: &str| {
        out.notes
            .iter()
            .filter(|n| n.fact.kind() == kind && n.fact.server() == Some("r2"))
            .count()
    };
    assert_eq!(count("role:replicaof"), 1);
    assert_eq!(count("role:promoted"), 1);
    assert_eq!(count("role:demoted"), 0);
}

//! Properties of Sentinel failover under random faults (200 seeds of a nemesis that crashes,
//! pauses and partitions servers watched by three sentinels): at most one leader per epoch, no
//! two running primaries once the quiet period has passed, replicas converged, no acknowledged
//! write lost by a workload that waits for every replica, and no write acknowledged by a server
//! that was not a primary at that moment unless the `single-primary` check reports that split
//! brain. The last one is judged from the history and the role facts alone, and it is what
//! catches the planted bug `demoted_primary_accepts_writes` (through a client pinned to p1, as
//! Jepsen pins clients to nodes: clients that follow Sentinel leave a demoted primary at once).

use std::collections::BTreeMap;

use simkv::check::{Evidence, Status, run_all};
use simkv::fact::{EventSubject, Fact};
use simkv::history::EventType;
use simkv::runner::final_states;
use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

const SCENARIO: &str = r#"
name = "sentinel-nemesis"
duration = "120s"
quiet = "40s"

[servers.defaults]
repl-timeout = 10
appendonly = "yes"
appendfsync = "always"

[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"

[sentinels.defaults]
monitor = "p1"
name = "mymaster"
quorum = 2
down-after-milliseconds = 2000
failover-timeout = 20000

[sentinels.s1]
[sentinels.s2]
[sentinels.s3]

[workloads.async]
clients = 2
discovery = "sentinel"
think = "20ms"
keys = 1000
mix = { set = 100 }
timeout = "1s"

[workloads.safe]
clients = 1
discovery = "sentinel"
think = "20ms"
keys = 1000
key_prefix = "safe:"
mix = { set = 100 }
timeout = "2s"
wait = { replicas = 2, timeout = "500ms" }

# A Jepsen-style client pinned to p1 whatever its role: once p1 is demoted its writes must be
# refused (READONLY).
[workloads.pinned]
clients = 1
target = "p1"
think = "50ms"
keys = 1000
key_prefix = "pinned:"
mix = { set = 100 }
timeout = "1s"

[nemesis]
interval = "6s"
min_duration = "1s"
max_duration = "12s"
start = "5s"
kinds = ["crash", "pause", "partition", "isolate"]
swarm = true
"#;

fn scenario(bugs: &str) -> Scenario {
    Scenario::parse("sentinel-nemesis.toml", &format!("{SCENARIO}{bugs}"), &[])
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sentinels elected in each epoch.
fn leaders(out: &RunOutput) -> BTreeMap<u64, Vec<String>> {
    let mut by_epoch: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for n in &out.notes {
        if let Fact::Sentinel {
            sentinel,
            subject: EventSubject::Epoch { epoch, .. },
            ..
        } = &n.fact
        {
            let v = by_epoch.entry(*epoch).or_default();
            if !v.contains(sentinel) {
                v.push(sentinel.clone());
            }
        }
    }
    by_epoch
}

/// Writes acknowledged by a server at a moment its role facts say it was not a primary.
fn acks_by_non_primaries(out: &RunOutput) -> Vec<String> {
    let mut primary_since: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    let mut intervals: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for n in &out.notes {
        let (Some(server), Some(is_primary)) = (n.fact.server(), n.fact.primary_role()) else {
            continue;
        };
        let t = n.time.as_nanos();
        let open = primary_since.entry(server).or_default();
        match (is_primary, *open) {
            (true, None) => *open = Some(t),
            (false, Some(s)) => {
                intervals.entry(server).or_default().push((s, t));
                *open = None;
            }
            _ => {}
        }
    }
    for (server, open) in primary_since {
        if let Some(s) = open {
            intervals.entry(server).or_default().push((s, u64::MAX));
        }
    }
    // The server applied the write at some moment between its invoke and its acknowledgement
    // (the reply crosses the network): it must have been a primary at some moment of that span.
    let mut bad = Vec::new();
    for op in out.history.operations() {
        if op.outcome != EventType::Ok || op.f == "get" {
            continue;
        }
        let Some(server) = op.server else {
            continue;
        };
        let primary = intervals.get(server).is_some_and(|iv| {
            iv.iter()
                .any(|(a, b)| *a <= op.complete_ns && op.invoke_ns <= *b)
        });
        if !primary {
            bad.push(format!(
                "{} {} acknowledged by {server} at {} ns",
                op.f, op.key, op.complete_ns
            ));
        }
    }
    bad
}

/// The properties for one seed; the failures found.
fn properties(s: &Scenario, seed: u64) -> Vec<String> {
    let out = World::new(s, seed)
        .run(&mut |_| {})
        .expect("the run completes");
    let mut failures = Vec::new();
    for (epoch, who) in leaders(&out) {
        if who.len() > 1 {
            failures.push(format!("epoch {epoch} has two leaders: {who:?}"));
        }
    }
    let finals = final_states(&out);
    let primaries = finals.iter().filter(|f| f.up && f.is_master).count();
    if primaries != 1 {
        failures.push(format!("{primaries} running primaries at the end"));
    }
    let evidence = Evidence {
        history: &out.history,
        notes: &out.notes,
        finals: &finals,
    };
    let findings = run_all(&evidence);
    let status = |name: &str| {
        findings
            .checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.status)
    };
    if status("converged") != Some(Status::Pass) {
        failures.push("replicas did not converge after the quiet period".into());
    }
    let safe_lost = findings
        .lost
        .iter()
        .filter(|l| l.key.starts_with("safe:"))
        .count();
    if safe_lost > 0 {
        failures.push(format!(
            "{safe_lost} writes acknowledged after WAIT for every replica were lost"
        ));
    }
    let bad_acks = acks_by_non_primaries(&out);
    if !bad_acks.is_empty() && status("single-primary") != Some(Status::Fail) {
        failures.push(format!(
            "{} writes acknowledged by a non-primary without a reported split brain; first: {}",
            bad_acks.len(),
            bad_acks[0]
        ));
    }
    failures
        .into_iter()
        .map(|f| format!("seed {seed}: {f}"))
        .collect()
}

#[test]
fn sentinel_failover_holds_its_properties_under_random_faults() {
    let s = scenario("");
    let mut failures = Vec::new();
    let mut failovers = 0;
    for seed in 1..=200 {
        failures.extend(properties(&s, seed));
        if seed <= 20 {
            let out = World::new(&s, seed).run(&mut |_| {}).unwrap();
            failovers += out
                .notes
                .iter()
                .filter(|n| matches!(n.fact, Fact::Promoted { .. }))
                .count();
        }
    }
    assert!(
        failovers >= 10,
        "the nemesis must reach failover: {failovers} promotions in 20 seeds"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_demoted_primary_that_accepts_writes_breaks_the_property() {
    let s = scenario("\n[bugs]\ndemoted_primary_accepts_writes = true\n");
    let caught = (1..=40).find(|&seed| {
        properties(&s, seed)
            .iter()
            .any(|f| f.contains("acknowledged by a non-primary") || f.contains("converge"))
    });
    assert!(
        caught.is_some(),
        "the planted bug went unnoticed on 40 seeds"
    );
}

//! Sentinel end to end: the failover state machine in Redis's order, one leader per epoch, the
//! right replica promoted, and no seed of the region outage ending with two primaries.

use std::collections::BTreeMap;

use simkv::check::{Status, converged};
use simkv::fact::{EventSubject, Fact, FactNote};
use simkv::runner::{final_states, run_scenario};
use simkv::scenario::Scenario;
use simkv::world::World;

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &o).unwrap_or_else(|e| panic!("{e}"))
}

/// Each (sentinel, epoch) elected at most once, and no two sentinels elected in one epoch.
fn leaders_per_epoch(notes: &[FactNote]) -> BTreeMap<u64, Vec<u32>> {
    let mut out: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for n in notes.iter().filter(|n| n.fact.kind() == "+elected-leader") {
        let Fact::Sentinel {
            subject: EventSubject::Epoch { epoch, .. },
            ..
        } = &n.fact
        else {
            panic!("+elected-leader names its epoch: {:?}", n.fact);
        };
        out.entry(*epoch).or_default().push(n.process);
    }
    out
}

#[test]
fn region_outage_runs_the_state_machine_in_order() {
    let s = load("region-outage.toml", &[]);
    let out = World::new(&s, 1).run(&mut |_| {}).unwrap();
    let order = [
        "+sdown",
        "+odown",
        "+new-epoch",
        "+try-failover",
        "+vote-for-leader",
        "+elected-leader",
        "+selected-slave",
        "+failover-state-send-slaveof-noone",
        "role:promoted",
        "+promoted-slave",
        "+failover-state-reconf-slaves",
        "+failover-end",
        "+switch-master",
        "+convert-to-slave",
        "role:demoted",
    ];
    let mut at = 0;
    for kind in order {
        let found = out.notes[at..].iter().position(|n| n.fact.kind() == kind);
        let i = found.unwrap_or_else(|| panic!("{kind} missing after note {at}"));
        at += i + 1;
    }
    let promoted: Vec<&str> = out
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Promoted { server, .. } => Some(server.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(promoted, ["r2"], "the us-east replica is promoted, once");
}

#[test]
fn lost_writes_are_exactly_the_old_primarys() {
    let s = load("region-outage.toml", &[]);
    let r = run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
    assert!(!r.lost.is_empty());
    for l in &r.lost {
        assert_eq!(l.server, "p1", "{l:?}");
        assert!(l.doomed_ms.is_some(), "every loss is explained: {l:?}");
    }
}

#[test]
fn one_leader_per_epoch_and_no_two_primaries_after_the_outage() {
    // A lighter load than the scenario's, same topology and faults: 200 seeds.
    let s = load(
        "region-outage.toml",
        &[
            "workloads.west.clients=1",
            "workloads.east.clients=1",
            "workloads.eu.clients=1",
            "workloads.west.think=200ms",
            "workloads.east.think=200ms",
            "workloads.eu.think=200ms",
        ],
    );
    let mut failures = Vec::new();
    let mut elections = 0;
    for seed in 1..=200 {
        let out = World::new(&s, seed).run(&mut |_| {}).unwrap();
        for (epoch, leaders) in leaders_per_epoch(&out.notes) {
            elections += 1;
            if leaders.len() > 1 {
                failures.push(format!(
                    "seed {seed}: epoch {epoch} has leaders {leaders:?}"
                ));
            }
        }
        let c = converged(&final_states(&out));
        if c.status != Status::Pass {
            failures.push(format!("seed {seed}: {}", c.detail));
        }
    }
    assert!(elections >= 200, "every seed elects a leader ({elections})");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn min_replicas_bounds_the_split_brain_loss() {
    let lost = |overrides: &[&str]| {
        let s = load("sentinel-split-brain.toml", overrides);
        let r = run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
        (r.lost.len(), r.summary.replication.noreplicas_refusals)
    };
    let (unbounded, refusals_off) = lost(&[]);
    let (bounded, refusals_on) = lost(&["servers.defaults.min-replicas-to-write=1"]);
    assert_eq!(refusals_off, 0);
    assert!(
        refusals_on > 100,
        "p1 refused writes once its replicas went quiet"
    );
    assert!(
        bounded * 4 < unbounded,
        "{bounded} lost with min-replicas vs {unbounded} without"
    );
    assert!(bounded > 0, "bounded, not prevented");
}

#[test]
fn no_quorum_means_no_failover_and_says_why() {
    let s = load("sentinel-no-quorum.toml", &[]);
    let out = World::new(&s, 1).run(&mut |_| {}).unwrap();
    assert!(out.notes.iter().any(|n| n.fact.kind() == "+odown"));
    assert!(
        out.notes
            .iter()
            .any(|n| n.fact.kind() == "-failover-abort-not-elected")
    );
    assert!(!out.notes.iter().any(|n| n.fact.kind() == "role:promoted"));
}

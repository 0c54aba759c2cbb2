//! End-to-end Redis Cluster failure handling on the small deterministic driver: a dead primary
//! is detected (PFAIL, FAIL), its replica is elected and every node follows the new owner; a
//! primary cut off in a minority stops serving.

use simkv::cluster::harness::{Harness, Logged};
use simkv::cluster::node::{ClusterConfig, ClusterEvent};
use simkv::cluster::state::ClusterState;
use simkv::cluster::topology::NodeId;
use simkv::sim::SimTime;

const LATENCY_MS: u64 = 1;
const NODE_TIMEOUT_MS: u64 = 15_000;

fn config() -> ClusterConfig {
    ClusterConfig {
        node_timeout_ms: NODE_TIMEOUT_MS,
        ..ClusterConfig::default()
    }
}

fn ms(t: SimTime) -> u64 {
    t.as_ms()
}

/// Three shards of one primary and one replica, running until every node's state is OK.
fn settled(seed: u64) -> Harness {
    let mut h = Harness::new(3, 1, &config(), LATENCY_MS, seed);
    h.run_until(SimTime::from_secs(10));
    for id in h.ids() {
        assert_eq!(
            h.node(id).state(),
            ClusterState::Ok,
            "{id} not OK after boot"
        );
    }
    assert!(
        h.log
            .iter()
            .all(|l| !matches!(l.event, ClusterEvent::PFail { .. })),
        "no PFAIL in a healthy cluster"
    );
    h
}

fn is_pfail_of(target: NodeId) -> impl Fn(&Logged) -> bool {
    move |l| l.event == ClusterEvent::PFail { node: target }
}

#[test]
fn dead_primary_is_failed_over_to_its_replica() {
    for seed in [1u64, 2, 3] {
        run_failover(seed);
    }
}

fn run_failover(seed: u64) {
    let (primary, replica) = (NodeId(0), NodeId(100));
    let mut h = settled(seed);
    let killed_at = h.now();
    h.kill(primary);
    h.run_until(killed_at.plus(60 * SimTime::NANOS_PER_SEC));

    let others: Vec<NodeId> = h.live_ids();
    let mut last_pfail = killed_at;
    for &id in &others {
        let pfail = h.first(killed_at, |l| l.node == id && is_pfail_of(primary)(l));
        let fail = h.first(killed_at, |l| {
            l.node == id && matches!(l.event, ClusterEvent::Fail { node, .. } if node == primary)
        });
        // A node may learn FAIL (by message) before its own PFAIL fires.
        let fail = fail.unwrap_or_else(|| panic!("seed {seed}: {id} never saw FAIL"));
        if let Some(p) = pfail {
            let after = p.at.since(killed_at) / SimTime::NANOS_PER_MS;
            assert!(
                (NODE_TIMEOUT_MS..=NODE_TIMEOUT_MS * 3 / 2 + 200).contains(&after),
                "seed {seed}: {id} PFAIL {after} ms after the kill"
            );
            last_pfail = last_pfail.max(p.at);
        }
        assert!(fail.at > killed_at.plus(NODE_TIMEOUT_MS * SimTime::NANOS_PER_MS));
    }
    let quorum_fail = h
        .first(
            killed_at,
            |l| matches!(l.event, ClusterEvent::Fail { node, by_quorum: true } if node == primary),
        )
        .expect("someone gathered a quorum");
    let replica_fail = h
        .first(killed_at, |l| {
            l.node == replica
                && matches!(l.event, ClusterEvent::Fail { node, .. } if node == primary)
        })
        .expect("replica saw FAIL");
    let scheduled = h
        .first(killed_at, |l| {
            l.node == replica && matches!(l.event, ClusterEvent::ElectionScheduled { .. })
        })
        .expect("election scheduled");
    let ClusterEvent::ElectionScheduled { delay_ms, rank } = scheduled.event else {
        unreachable!()
    };
    assert_eq!(rank, 0, "the only replica has rank 0");
    assert!((500..1000).contains(&delay_ms), "delay {delay_ms}");
    assert!(
        scheduled.at.since(replica_fail.at) <= 100 * SimTime::NANOS_PER_MS,
        "next cron"
    );
    let started = h
        .first(killed_at, |l| {
            l.node == replica && matches!(l.event, ClusterEvent::ElectionStarted { .. })
        })
        .expect("election started");
    let waited = started.at.since(scheduled.at) / SimTime::NANOS_PER_MS;
    assert!(
        (delay_ms..delay_ms + 100).contains(&waited),
        "started {waited} ms after scheduling"
    );
    let promoted = h
        .first(killed_at, |l| {
            l.node == replica && matches!(l.event, ClusterEvent::Promoted { .. })
        })
        .expect("replica promoted");
    assert_eq!(
        promoted.event,
        ClusterEvent::Promoted {
            replaced: primary,
            epoch: 4
        }
    );
    assert!(
        promoted.at.since(started.at) <= 4 * LATENCY_MS * SimTime::NANOS_PER_MS,
        "two votes, one round trip"
    );
    let votes = h
        .log
        .iter()
        .filter(|l| matches!(l.event, ClusterEvent::VoteGranted { to, epoch: 4 } if to == replica))
        .count();
    assert_eq!(votes, 2, "both live primaries vote");

    for &id in &others {
        let view = h.node(id).view();
        assert_eq!(
            view.owner(0),
            Some(replica),
            "{id} still routes slot 0 elsewhere"
        );
        assert_eq!(view.owner(5460), Some(replica));
        assert_eq!(view.node(replica).config_epoch, 4, "{id}");
        assert_eq!(view.current_epoch, 4, "{id}");
        assert_eq!(h.node(id).state(), ClusterState::Ok, "{id}");
    }
    println!(
        "seed {seed}: kill at {}; PFAIL (last) +{} ms; FAIL by quorum +{} ms (at {}); replica saw FAIL +{} ms; \
         election delay {delay_ms} ms; votes asked +{} ms; promoted +{} ms; bus bytes {}",
        killed_at,
        ms(last_pfail) - ms(killed_at),
        ms(quorum_fail.at) - ms(killed_at),
        quorum_fail.node,
        ms(replica_fail.at) - ms(killed_at),
        ms(started.at) - ms(killed_at),
        ms(promoted.at) - ms(killed_at),
        h.bytes_sent,
    );

    // The old primary comes back and becomes a replica of the new one.
    let back_at = h.now();
    h.revive(primary);
    h.run_until(back_at.plus(5 * SimTime::NANOS_PER_SEC));
    let demoted = h
        .first(back_at, |l| {
            l.node == primary && l.event == ClusterEvent::BecameReplica { of: replica }
        })
        .expect("old primary follows the new one");
    assert_eq!(
        h.node(primary).view().node(primary).primary(),
        Some(replica)
    );
    assert_eq!(h.node(primary).view().owner(0), Some(replica));
    for id in h.ids() {
        assert!(
            !h.node(id).view().node(primary).failed(),
            "{id} still flags the old primary FAIL"
        );
    }
    println!(
        "seed {seed}: old primary rejoined as a replica +{} ms after revival",
        ms(demoted.at) - ms(back_at)
    );
}

#[test]
fn primary_cut_off_in_a_minority_stops_serving() {
    let (primary, replica) = (NodeId(1), NodeId(110));
    let mut h = settled(7);
    let cut_at = h.now();
    h.partition(&[primary]);
    h.run_until(cut_at.plus(40 * SimTime::NANOS_PER_SEC));
    let down = h
        .first(cut_at, |l| {
            l.node == primary
                && l.event
                    == ClusterEvent::StateChanged {
                        state: ClusterState::Fail,
                    }
        })
        .expect("minority primary goes FAIL");
    let after = down.at.since(cut_at) / SimTime::NANOS_PER_MS;
    assert!(
        (NODE_TIMEOUT_MS..=NODE_TIMEOUT_MS * 3 / 2 + 200).contains(&after),
        "FAIL state {after} ms after the cut"
    );
    assert_eq!(h.node(primary).state(), ClusterState::Fail);
    let exists = |_: &[u8]| true;
    let view = h.node(primary).route_view(&exists);
    let query = simkv::cluster::redirect::Query {
        keys: &[b"{x}" as &[u8]],
        is_write: true,
        asking: false,
        readonly: false,
    };
    let refused = simkv::cluster::redirect::route(&query, &view).unwrap_err();
    assert_eq!(refused.to_string(), "-CLUSTERDOWN The cluster is down");
    let promoted = h
        .first(cut_at, |l| {
            l.node == replica && matches!(l.event, ClusterEvent::Promoted { .. })
        })
        .expect("majority side promotes the replica");
    println!(
        "minority: cut at {cut_at}; cut-off primary state FAIL +{after} ms; majority promoted {replica} +{} ms",
        ms(promoted.at) - ms(cut_at)
    );
    for id in h.ids().into_iter().filter(|&id| id != primary) {
        assert_eq!(
            h.node(id).state(),
            ClusterState::Ok,
            "{id} on the majority side"
        );
    }

    let healed_at = h.now();
    h.heal();
    h.run_until(healed_at.plus(10 * SimTime::NANOS_PER_SEC));
    let demoted = h
        .first(healed_at, |l| {
            l.node == primary && l.event == ClusterEvent::BecameReplica { of: replica }
        })
        .expect("the old primary follows the new one after the heal");
    let ok_again = h.first(healed_at, |l| {
        l.node == primary
            && l.event
                == ClusterEvent::StateChanged {
                    state: ClusterState::Ok,
                }
    });
    println!(
        "minority: healed at {healed_at}; old primary became replica +{} ms; state OK again {:?}",
        ms(demoted.at) - ms(healed_at),
        ok_again.map(|l| ms(l.at) - ms(healed_at))
    );
    assert_eq!(h.node(primary).state(), ClusterState::Ok);
}

#[test]
fn same_seed_same_history() {
    let run = |seed| {
        let mut h = settled(seed);
        h.kill(NodeId(2));
        h.run_until(SimTime::from_secs(50));
        h.log.clone()
    };
    assert_eq!(run(11), run(11));
}

#[test]
fn the_replica_with_the_best_offset_wins_and_its_sibling_follows() {
    let (primary, behind, ahead) = (NodeId(0), NodeId(100), NodeId(101));
    let mut h = Harness::new(3, 2, &config(), LATENCY_MS, 5);
    h.set_offset(behind, 500);
    h.set_offset(ahead, 900);
    h.run_until(SimTime::from_secs(10));
    let killed_at = h.now();
    h.kill(primary);
    h.run_until(killed_at.plus(60 * SimTime::NANOS_PER_SEC));
    let rank_of = |id: NodeId| {
        h.log.iter().find_map(|l| match l.event {
            ClusterEvent::ElectionScheduled { delay_ms, rank } if l.node == id => {
                Some((delay_ms, rank))
            }
            _ => None,
        })
    };
    let (ahead_delay, ahead_rank) = rank_of(ahead).expect("the better replica schedules");
    assert_eq!(ahead_rank, 0);
    assert!((500..1000).contains(&ahead_delay));
    if let Some((delay, rank)) = rank_of(behind) {
        assert_eq!(rank, 1);
        assert!((1500..2000).contains(&delay), "rank 1 delay {delay}");
    }
    let promoted: Vec<NodeId> = h
        .log
        .iter()
        .filter(|l| matches!(l.event, ClusterEvent::Promoted { .. }))
        .map(|l| l.node)
        .collect();
    assert_eq!(
        promoted,
        vec![ahead],
        "exactly one promotion, of the better replica"
    );
    assert!(
        h.first(killed_at, |l| l.node == behind
            && l.event == ClusterEvent::BecameReplica { of: ahead })
            .is_some(),
        "the sibling follows the new primary"
    );
    for id in h.live_ids() {
        assert_eq!(h.node(id).view().owner(42), Some(ahead), "{id}");
    }
    println!(
        "two replicas: rank 0 delay {ahead_delay} ms, rank 1 delay {:?}",
        rank_of(behind)
    );
}

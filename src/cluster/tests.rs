//! Unit tests of one node's rules, each fed hand-made messages: failure detection, gossip,
//! election timing and every voting rule.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bus::{Body, BusMessage, Gossip, WireFlags};
use super::election::{FailoverBlock, VoteRefusal};
use super::node::{ClusterConfig, ClusterEvent, ClusterNode, Output, ReplicationStatus};
use super::topology::{Endpoint, NodeId, Shard, Topology};
use crate::sim::SimTime;

const TIMEOUT: u64 = 15_000;

fn n(id: u32) -> NodeId {
    NodeId(id)
}

fn endpoint(id: u32) -> Endpoint {
    Endpoint {
        host: format!("10.0.0.{id}"),
        port: 6379,
    }
}

/// Shard 0: primary 0, replicas 100 and 101. Shard 1: 1 and 110. Shard 2: 2 and 120.
fn topology() -> Topology {
    let replicas = [vec![100, 101], vec![110], vec![120]];
    let shards: Vec<Shard> = (0..3u32)
        .map(|i| Shard {
            primary: (n(i), endpoint(i)),
            replicas: replicas[i as usize]
                .iter()
                .map(|&r| (n(r), endpoint(r)))
                .collect(),
        })
        .collect();
    Topology::from_shards(&shards)
}

fn node_with(id: u32, config: ClusterConfig) -> ClusterNode {
    ClusterNode::new(n(id), config, topology())
}

fn node(id: u32) -> ClusterNode {
    node_with(id, ClusterConfig::default())
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(42)
}

fn at(ms: u64) -> SimTime {
    SimTime::from_ms(ms)
}

fn message(from: &ClusterNode, body: Body) -> BusMessage {
    BusMessage {
        header: from.header(),
        body,
    }
}

fn events_of(outputs: &[Output]) -> Vec<ClusterEvent> {
    outputs.iter().flat_map(|o| o.events.clone()).collect()
}

/// Ticks `node` every 100 ms over `[from_ms, to_ms)`, returning every output.
fn tick_range(node: &mut ClusterNode, from_ms: u64, to_ms: u64) -> Vec<Output> {
    let mut rng = rng();
    (from_ms..to_ms)
        .step_by(100)
        .map(|t| node.tick(at(t), &mut rng))
        .collect()
}

fn fail_primary_zero(node: &mut ClusterNode) {
    node.view.node_mut(n(0)).flags.fail = true;
}

fn scheduled(events: &[ClusterEvent]) -> Option<(u64, u32)> {
    events.iter().find_map(|e| match e {
        ClusterEvent::ElectionScheduled { delay_ms, rank } => Some((*delay_ms, *rank)),
        _ => None,
    })
}

fn gossip_about(node: NodeId, pfail: bool) -> Gossip {
    Gossip {
        node,
        ping_sent_ms: 0,
        pong_received_ms: 0,
        flags: WireFlags {
            primary: true,
            pfail,
            ..WireFlags::default()
        },
    }
}

#[test]
fn pfail_after_node_timeout_without_pong() {
    let mut me = node(1);
    let first = tick_range(&mut me, 0, 100);
    let pings = first[0]
        .sends
        .iter()
        .filter(|(_, m)| m.type_code() == 0)
        .count();
    assert_eq!(pings, 6, "every peer is pinged on the first cron");
    let outputs = tick_range(&mut me, 100, 15_100);
    let early = events_of(&outputs);
    assert!(
        !early
            .iter()
            .any(|e| matches!(e, ClusterEvent::PFail { .. })),
        "nothing before node_timeout"
    );
    let outputs = tick_range(&mut me, 15_100, 15_200);
    let pfails = events_of(&outputs)
        .iter()
        .filter(|e| matches!(e, ClusterEvent::PFail { .. }))
        .count();
    assert_eq!(pfails, 6);
}

/// The peers `out` sends a PING to.
fn pinged(out: &Output) -> Vec<NodeId> {
    out.sends
        .iter()
        .filter(|(_, m)| matches!(m.body, Body::Ping { .. }))
        .map(|(to, _)| *to)
        .collect()
}

/// `clusterCron`: a peer without a pending ping whose last PONG is older than node_timeout/2 is
/// pinged at once (`ping_sent == 0 && now - pong_received > cluster_node_timeout/2`), and not
/// again while that ping is pending.
#[test]
fn a_peer_whose_pong_is_older_than_half_the_node_timeout_is_pinged() {
    let mut me = node(1);
    let half = me.config.node_timeout_ms / 2;
    let now = 100_000;
    for peer in me.peers.values_mut() {
        peer.pong_received_ms = Some(now - 1_000);
        peer.data_received_ms = Some(now - 1_000);
        peer.ping_sent_ms = None;
    }
    // Exactly half the timeout old: not yet. One millisecond more: pinged.
    me.peers.get_mut(&n(2)).unwrap().pong_received_ms = Some(now - half);
    me.peers.get_mut(&n(110)).unwrap().pong_received_ms = Some(now - half - 1);
    // The first cron of this node: not one of the every-10th random pings.
    let out = me.tick(at(now), &mut rng());
    assert_eq!(pinged(&out), vec![n(110)]);
    assert_eq!(me.peers[&n(110)].ping_sent_ms, Some(now));
    let out = me.tick(at(now + 100), &mut rng());
    assert_eq!(
        pinged(&out),
        vec![n(2)],
        "n(2)'s pong is now older than half the timeout; n(110) has a ping pending"
    );
}

#[test]
fn a_pong_answering_a_ping_clears_pfail() {
    let mut me = node(1);
    tick_range(&mut me, 0, 15_200);
    assert!(me.view().node(n(2)).flags.pfail);
    let peer = node(2);
    let pong = message(
        &peer,
        Body::Pong {
            gossip: vec![],
            answers_ping: false,
        },
    );
    me.on_message(at(15_300), &pong, &mut rng());
    assert!(
        me.view().node(n(2)).flags.pfail,
        "a broadcast PONG does not answer our PING"
    );
    let pong = message(
        &peer,
        Body::Pong {
            gossip: vec![],
            answers_ping: true,
        },
    );
    let out = me.on_message(at(15_300), &pong, &mut rng());
    assert_eq!(out.events, vec![ClusterEvent::PFailCleared { node: n(2) }]);
}

#[test]
fn gossip_carries_three_entries_plus_pfail_nodes() {
    let mut me = node(1);
    let out = tick_range(&mut me, 0, 100);
    let (_, ping) = &out[0].sends[0];
    assert_eq!(ping.gossip().len(), 3, "max(3, 7/10) entries");
    assert!(
        ping.gossip().iter().all(|g| g.node != n(1)),
        "never about itself"
    );
    assert_eq!(ping.size_bytes(), 2256 + 3 * 104);
    me.view.node_mut(n(0)).flags.pfail = true;
    me.view.node_mut(n(120)).flags.pfail = true;
    let body = me.header();
    assert_eq!(body.sender, n(1));
    let mut rng = rng();
    me.send_ping(n(2), &mut rng);
    let out = std::mem::take(&mut me.out);
    let gossip = out.sends[0].1.gossip().to_vec();
    assert_eq!(gossip.len(), 5);
    assert_eq!(gossip[3].node, n(0));
    assert_eq!(gossip[4].node, n(120));
}

#[test]
fn fail_needs_reports_from_a_majority_of_primaries() {
    // A primary counts itself: one report from another primary is enough (2 of 3).
    let mut primary = node(1);
    primary.view.node_mut(n(0)).flags.pfail = true;
    let reporter = node(2);
    let ping = message(
        &reporter,
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    let out = primary.on_message(at(1_000), &ping, &mut rng());
    assert!(out.events.contains(&ClusterEvent::Fail {
        node: n(0),
        by_quorum: true
    }));
    let fails = out
        .sends
        .iter()
        .filter(|(_, m)| m.body == Body::Fail { about: n(0) });
    assert_eq!(fails.count(), 6, "FAIL goes to every other node");

    // A replica does not count itself; reports from replicas do not count at all.
    let mut replica = node(110);
    replica.view.node_mut(n(0)).flags.pfail = true;
    let from_replica = message(
        &node(120),
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    replica.on_message(at(1_000), &from_replica, &mut rng());
    let ping = message(
        &reporter,
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    let out = replica.on_message(at(1_000), &ping, &mut rng());
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, ClusterEvent::Fail { .. }))
    );
    let second = message(
        &node(1),
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    let out = replica.on_message(at(2_000), &second, &mut rng());
    assert!(out.events.contains(&ClusterEvent::Fail {
        node: n(0),
        by_quorum: true
    }));
}

#[test]
fn failure_reports_expire_after_twice_the_node_timeout() {
    let mut replica = node(110);
    replica.view.node_mut(n(0)).flags.pfail = true;
    let early = message(
        &node(2),
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    replica.on_message(at(1_000), &early, &mut rng());
    let late = message(
        &node(1),
        Body::Ping {
            gossip: vec![gossip_about(n(0), true)],
        },
    );
    let out = replica.on_message(at(1_000 + 2 * TIMEOUT + 1), &late, &mut rng());
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, ClusterEvent::Fail { .. }))
    );
    assert_eq!(replica.failure_report_count(n(0)), 1);
}

#[test]
fn fail_is_cleared_at_once_for_replicas_and_late_for_primaries_with_slots() {
    let mut me = node(1);
    for id in [0, 120] {
        let fail = message(&node(2), Body::Fail { about: n(id) });
        me.on_message(at(1_000), &fail, &mut rng());
    }
    let mut rng = rng();
    me.send_ping(n(120), &mut rng);
    me.send_ping(n(0), &mut rng);
    let pong = |from: u32| {
        message(
            &node(from),
            Body::Pong {
                gossip: vec![],
                answers_ping: true,
            },
        )
    };
    let out = me.on_message(at(2_000), &pong(120), &mut rng);
    assert_eq!(out.events, vec![ClusterEvent::FailCleared { node: n(120) }]);
    let out = me.on_message(at(2_000), &pong(0), &mut rng);
    assert!(out.events.is_empty(), "primary with slots stays FAIL");
    me.send_ping(n(0), &mut rng);
    let out = me.on_message(at(1_000 + 2 * TIMEOUT + 1), &pong(0), &mut rng);
    assert_eq!(out.events[0], ClusterEvent::FailCleared { node: n(0) });
}

#[test]
fn election_delay_grows_with_rank() {
    // Replica 100 at offset 100; its sibling 101 advertised 200: rank 1.
    let mut behind = node(100);
    behind.set_replication(ReplicationStatus {
        offset: 100,
        primary_last_seen_ms: 1_000,
    });
    behind.view.node_mut(n(101)).repl_offset = 200;
    fail_primary_zero(&mut behind);
    let (delay, rank) = scheduled(&events_of(&tick_range(&mut behind, 1_000, 1_100))).unwrap();
    assert_eq!(rank, 1);
    assert!((1_500..2_000).contains(&delay), "delay {delay}");

    let mut ahead = node(101);
    ahead.set_replication(ReplicationStatus {
        offset: 200,
        primary_last_seen_ms: 1_000,
    });
    ahead.view.node_mut(n(100)).repl_offset = 100;
    fail_primary_zero(&mut ahead);
    let out = tick_range(&mut ahead, 1_000, 1_100);
    let (delay, rank) = scheduled(&events_of(&out)).unwrap();
    assert_eq!(rank, 0);
    assert!((500..1_000).contains(&delay), "delay {delay}");
    let pongs: Vec<NodeId> = out[0]
        .sends
        .iter()
        .filter(|(_, m)| m.type_code() == 1)
        .map(|(to, _)| *to)
        .collect();
    assert_eq!(
        pongs,
        vec![n(100)],
        "the offset goes to the sibling replica only"
    );

    // A sibling overtaking before the vote adds 1000 ms per rank lost.
    let before = ahead.election().auth_time_ms.unwrap();
    ahead.view.node_mut(n(100)).repl_offset = 300;
    tick_range(&mut ahead, 1_100, 1_200);
    assert_eq!(ahead.election().auth_time_ms, Some(before + 1_000));
    assert_eq!(ahead.election().auth_rank, 1);
}

#[test]
fn votes_are_requested_once_the_delay_is_over_and_a_majority_promotes() {
    let mut replica = node(100);
    replica.set_replication(ReplicationStatus {
        offset: 10,
        primary_last_seen_ms: 1_000,
    });
    fail_primary_zero(&mut replica);
    let outputs = tick_range(&mut replica, 1_000, 3_000);
    let events = events_of(&outputs);
    let (delay, _) = scheduled(&events).unwrap();
    let started = outputs
        .iter()
        .position(|o| {
            o.events
                .contains(&ClusterEvent::ElectionStarted { epoch: 4 })
        })
        .expect("election started");
    let started_ms = 1_000 + 100 * started as u64;
    assert!(started_ms >= 1_000 + delay && started_ms < 1_100 + delay);
    let requests = outputs[started]
        .sends
        .iter()
        .filter(|(_, m)| m.body == Body::AuthRequest);
    assert_eq!(requests.count(), 6);
    assert_eq!(replica.current_epoch(), 4);

    let mut voter1 = node(1);
    voter1.view.current_epoch = 4;
    let ack = message(&voter1, Body::AuthAck);
    let out = replica.on_message(at(3_000), &ack, &mut rng());
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, ClusterEvent::Promoted { .. })),
        "1 of 3 is no majority"
    );
    let stale = message(&node(2), Body::AuthAck);
    replica.on_message(at(3_000), &stale, &mut rng());
    assert_eq!(
        replica.election().auth_count,
        1,
        "an ack from an older epoch does not count"
    );
    let mut voter2 = node(2);
    voter2.view.current_epoch = 4;
    let out = replica.on_message(at(3_001), &message(&voter2, Body::AuthAck), &mut rng());
    assert!(out.events.contains(&ClusterEvent::Promoted {
        replaced: n(0),
        epoch: 4
    }));
    assert!(replica.is_primary());
    assert_eq!(replica.config_epoch(), 4);
    assert_eq!(replica.view().owner(0), Some(n(100)));
    assert_eq!(replica.view().num_slots(n(0)), 0);
}

#[test]
fn validity_factor_refuses_a_stale_replica() {
    // Last heard from the primary at 0 s; at 200 s the data age is 200 - 15 = 185 s, over the
    // limit of 10 s + 15 s × 10 = 160 s.
    let mut stale = node(100);
    fail_primary_zero(&mut stale);
    let events = events_of(&tick_range(&mut stale, 200_000, 201_000));
    assert_eq!(
        events,
        vec![ClusterEvent::FailoverBlocked {
            reason: FailoverBlock::DataAge
        }]
    );

    let mut fresh = node(100);
    fresh.set_replication(ReplicationStatus {
        offset: 0,
        primary_last_seen_ms: 100_000,
    });
    fail_primary_zero(&mut fresh);
    assert!(scheduled(&events_of(&tick_range(&mut fresh, 200_000, 200_100))).is_some());

    let unlimited = ClusterConfig {
        replica_validity_factor: 0,
        ..ClusterConfig::default()
    };
    let mut any_age = node_with(100, unlimited);
    fail_primary_zero(&mut any_age);
    assert!(scheduled(&events_of(&tick_range(&mut any_age, 200_000, 200_100))).is_some());
}

#[test]
fn no_failover_replica_never_runs_an_election() {
    let config = ClusterConfig {
        replica_no_failover: true,
        ..ClusterConfig::default()
    };
    let mut replica = node_with(100, config);
    fail_primary_zero(&mut replica);
    let outputs = tick_range(&mut replica, 1_000, 10_000);
    assert!(scheduled(&events_of(&outputs)).is_none());
    assert!(
        outputs
            .iter()
            .all(|o| o.sends.iter().all(|(_, m)| m.body != Body::AuthRequest))
    );
    // Its siblings see the flag and leave it out of their rank.
    assert!(replica.header().flags.no_failover);
}

/// A vote request from `replica` (a replica of node 0) in `epoch`.
fn request(replica: u32, epoch: u64) -> BusMessage {
    let mut from = node(replica);
    from.view.current_epoch = epoch;
    message(&from, Body::AuthRequest)
}

fn vote_events(voter: &mut ClusterNode, now_ms: u64, msg: &BusMessage) -> Vec<ClusterEvent> {
    voter.on_message(at(now_ms), msg, &mut rng()).events
}

#[test]
fn one_vote_per_epoch() {
    let mut voter = node(1);
    fail_primary_zero(&mut voter);
    let first = vote_events(&mut voter, 1_000, &request(100, 4));
    assert_eq!(
        first,
        vec![ClusterEvent::VoteGranted {
            to: n(100),
            epoch: 4
        }]
    );
    assert_eq!(voter.last_vote_epoch(), 4);
    let second = vote_events(&mut voter, 1_001, &request(101, 4));
    assert_eq!(
        second,
        vec![ClusterEvent::VoteRefused {
            to: n(101),
            reason: VoteRefusal::AlreadyVoted
        }]
    );
}

#[test]
fn no_second_vote_for_the_same_primary_within_twice_the_node_timeout() {
    let mut voter = node(1);
    fail_primary_zero(&mut voter);
    vote_events(&mut voter, 1_000, &request(100, 4));
    let soon = vote_events(&mut voter, 1_000 + 2 * TIMEOUT - 1, &request(101, 5));
    assert_eq!(
        soon,
        vec![ClusterEvent::VoteRefused {
            to: n(101),
            reason: VoteRefusal::VotedRecently
        }]
    );
    let later = vote_events(&mut voter, 1_000 + 2 * TIMEOUT, &request(101, 6));
    assert_eq!(
        later,
        vec![ClusterEvent::VoteGranted {
            to: n(101),
            epoch: 6
        }]
    );
}

#[test]
fn votes_need_a_failed_primary_a_fresh_epoch_and_a_current_config() {
    let mut voter = node(1);
    let up = vote_events(&mut voter, 1_000, &request(100, 4));
    assert_eq!(
        up,
        vec![ClusterEvent::VoteRefused {
            to: n(100),
            reason: VoteRefusal::PrimaryUp
        }]
    );
    fail_primary_zero(&mut voter);
    voter.view.current_epoch = 9;
    let old = vote_events(&mut voter, 1_000, &request(100, 4));
    assert_eq!(
        old,
        vec![ClusterEvent::VoteRefused {
            to: n(100),
            reason: VoteRefusal::StaleRequestEpoch
        }]
    );
    // Someone already took slot 0 at configEpoch 8: the requester's claim (epoch 1) is stale.
    voter.view.node_mut(n(2)).config_epoch = 8;
    voter.view.assign_slot(0, n(2));
    let stale = vote_events(&mut voter, 1_000, &request(100, 10));
    assert_eq!(
        stale,
        vec![ClusterEvent::VoteRefused {
            to: n(100),
            reason: VoteRefusal::StaleConfigEpoch { slot: 0 }
        }]
    );
    // Replicas and slot-less primaries do not vote at all.
    let mut replica = node(110);
    fail_primary_zero(&mut replica);
    assert!(vote_events(&mut replica, 1_000, &request(100, 4)).is_empty());
}

#[test]
fn a_stale_primary_is_updated_and_follows_the_new_owner() {
    // Node 100 won epoch 4 and took shard 0; node 0 has not heard of it.
    let mut old = node(0);
    let mut winner = node(100);
    winner.view.set_primary(n(100));
    for slot in 0..=5460 {
        winner.view.assign_slot(slot, n(100));
    }
    winner.view.node_mut(n(100)).config_epoch = 4;
    winner.view.current_epoch = 4;
    // Another node that knows the new owner answers node 0's stale claim with an UPDATE.
    let mut informed = node(1);
    informed.view = winner.view.clone();
    let ping = message(&old, Body::Ping { gossip: vec![] });
    let out = informed.on_message(at(1_000), &ping, &mut rng());
    let update = out
        .sends
        .iter()
        .find(|(_, m)| m.type_code() == 7)
        .expect("UPDATE sent");
    assert_eq!(update.0, n(0));
    let out = old.on_message(at(1_001), &update.1, &mut rng());
    assert_eq!(out.events[0], ClusterEvent::BecameReplica { of: n(100) });
    assert_eq!(old.view().owner(0), Some(n(100)));
    assert!(!old.is_primary());
}

#[test]
fn config_epoch_collision_bumps_the_smaller_id() {
    let mut small = node(1);
    let mut big = node(2);
    big.view.node_mut(n(2)).config_epoch = 2;
    let out = small.on_message(
        at(1_000),
        &message(&big, Body::Ping { gossip: vec![] }),
        &mut rng(),
    );
    assert!(
        out.events
            .contains(&ClusterEvent::ConfigEpochBumped { epoch: 4 })
    );
    assert_eq!(small.config_epoch(), 4);
    let mut big = node(2);
    big.view.node_mut(n(2)).config_epoch = 2;
    let out = big.on_message(
        at(1_000),
        &message(&node(1), Body::Ping { gossip: vec![] }),
        &mut rng(),
    );
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e, ClusterEvent::ConfigEpochBumped { .. }))
    );
}

#[test]
fn event_kinds_are_distinct() {
    let events = [
        ClusterEvent::PFail { node: n(0) },
        ClusterEvent::Fail {
            node: n(0),
            by_quorum: true,
        },
        ClusterEvent::FailCleared { node: n(0) },
        ClusterEvent::Promoted {
            replaced: n(0),
            epoch: 4,
        },
        ClusterEvent::BecameReplica { of: n(1) },
    ];
    let mut kinds: Vec<&str> = events.iter().map(ClusterEvent::kind).collect();
    assert!(kinds.iter().all(|k| k.starts_with("cluster:")));
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), events.len());
}

/// `clusterHandleManualFailover`: the replica waits until its own offset equals the offset its
/// paused primary announced, then starts its election at once with FORCEACK.
#[test]
fn a_manual_failover_starts_only_at_the_paused_primarys_offset() {
    use super::manual::ManualMode;
    let mut rng = rng();
    let mut replica = node(100);
    let mut primary = node(0);
    replica.set_replication(ReplicationStatus {
        offset: 900,
        primary_last_seen_ms: 10_000,
    });
    let (reply, out) = replica.cluster_failover(at(10_000), ManualMode::Default, &mut rng);
    assert_eq!(reply, Ok(()));
    let mfstart = out
        .sends
        .iter()
        .find(|(to, m)| *to == n(0) && m.body == Body::MfStart)
        .expect("MFSTART to the primary")
        .1
        .clone();
    primary.set_replication(ReplicationStatus {
        offset: 1000,
        primary_last_seen_ms: 10_000,
    });
    let out = primary.on_message(at(10_001), &mfstart, &mut rng);
    assert!(out.events.contains(&ClusterEvent::ManualFailoverRequested {
        by: n(100),
        pause_ms: 10_000
    }));
    let (_, ping) = out
        .sends
        .iter()
        .find(|(to, _)| *to == n(100))
        .expect("a PING to the replica")
        .clone();
    assert!(ping.header.paused && ping.header.offset == 1000);
    let out = replica.on_message(at(10_002), &ping, &mut rng);
    assert!(
        out.events
            .contains(&ClusterEvent::ManualFailoverOffset { offset: 1000 })
    );
    // Behind the primary: nothing starts, before_sleep keeps checking.
    let out = replica.before_sleep(at(10_002), &mut rng);
    assert!(out.events.is_empty(), "{:?}", out.events);
    assert!(replica.has_todo());
    // Caught up: the election starts at once, rank 0, votes asked with FORCEACK.
    replica.set_replication(ReplicationStatus {
        offset: 1000,
        primary_last_seen_ms: 10_003,
    });
    let out = replica.before_sleep(at(10_003), &mut rng);
    assert_eq!(
        out.events[..3],
        [
            ClusterEvent::ManualFailoverCanStart,
            ClusterEvent::ElectionScheduled {
                delay_ms: 0,
                rank: 0
            },
            ClusterEvent::ElectionStarted { epoch: 4 },
        ]
    );
    let request = out
        .sends
        .iter()
        .find(|(to, m)| *to == n(1) && m.body == Body::AuthRequest)
        .expect("a vote request")
        .1
        .clone();
    assert!(request.header.force_ack);
    // A primary votes although the requester's primary is up (FORCEACK).
    let mut voter = node(1);
    let out = voter.on_message(at(10_004), &request, &mut rng);
    assert!(out.events.contains(&ClusterEvent::VoteGranted {
        to: n(100),
        epoch: 4
    }));
}

/// `CLUSTER SETSLOT`: the importing target closes the slot with a configEpoch of its own and
/// PONGs everyone; the source, told by that PONG before its own `SETSLOT NODE`, gives the slot
/// up and deletes what it still holds of it (`clusterUpdateSlotsConfigWith`'s dirty slots).
#[test]
fn closing_an_imported_slot_bumps_the_epoch_and_dirties_the_source() {
    use super::reshard::SetSlot;
    let mut rng = rng();
    let mut target = node(1);
    let (r, _) = target.set_slot(at(1_000), 7, SetSlot::Importing(n(0)), 0, &mut rng);
    assert_eq!(r, Ok(()));
    assert_eq!(target.view().importing_from.get(&7), Some(&n(0)));
    let (r, _) = target.set_slot(at(1_000), 7, SetSlot::Migrating(n(2)), 0, &mut rng);
    assert_eq!(r, Err("ERR I'm not the owner of hash slot 7".into()));
    let (r, out) = target.set_slot(at(1_100), 7, SetSlot::Node(n(1)), 0, &mut rng);
    assert_eq!(r, Ok(()));
    assert_eq!(target.view().owner(7), Some(n(1)));
    assert!(target.view().importing_from.is_empty());
    assert!(
        out.events
            .contains(&ClusterEvent::ConfigEpochWithoutConsensus { epoch: 4 })
    );
    let pong = out
        .sends
        .iter()
        .find(|(to, m)| *to == n(0) && matches!(m.body, Body::Pong { .. }))
        .expect("a PONG to the source")
        .1
        .clone();
    assert!(pong.header.slots.contains(7) && pong.header.config_epoch == 4);
    let mut source = node(0);
    let out = source.on_message(at(1_101), &pong, &mut rng);
    assert_eq!(source.view().owner(7), Some(n(1)));
    assert!(
        out.events
            .contains(&ClusterEvent::DirtySlots { slots: vec![7] })
    );
    assert!(source.is_primary(), "it still serves its other slots");
    // SETSLOT NODE elsewhere while keys remain is refused.
    let mut other = node(0);
    let (r, _) = other.set_slot(at(1_000), 8, SetSlot::Node(n(1)), 3, &mut rng);
    assert_eq!(
        r,
        Err(
            "ERR Can't assign hashslot 8 to a different node while I still hold keys for this hash slot."
                .into()
        )
    );
}

//! A small deterministic driver for cluster tests: nodes tick every 100 ms (staggered), messages
//! take a fixed one-way latency, each node draws from its own seeded ChaCha8 stream, and nodes
//! can be killed, revived, or cut off from each other. Not the simulation kernel: just enough
//! world to exercise [`ClusterNode`] end to end.

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::bus::BusMessage;
use super::node::{
    CRON_PERIOD_MS, ClusterConfig, ClusterEvent, ClusterNode, Output, ReplicationStatus,
};
use super::topology::{Endpoint, NodeId, Shard, Topology};
use crate::sim::SimTime;

/// The most events one `run_until` may process before it gives up (a runaway guard).
pub const MAX_EVENTS_PER_RUN: usize = 10_000_000;

/// One event a node reported, with when and who.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// When it happened.
    pub at: SimTime,
    /// The node that reported it.
    pub node: NodeId,
    /// What happened.
    pub event: ClusterEvent,
}

enum Pending {
    Tick(NodeId),
    Deliver(NodeId, Box<BusMessage>),
}

/// Nodes, a fixed-latency network and a time-ordered queue.
pub struct Harness {
    nodes: BTreeMap<NodeId, ClusterNode>,
    rngs: BTreeMap<NodeId, ChaCha8Rng>,
    queue: BTreeMap<(u64, u64), Pending>,
    sequence: u64,
    now: SimTime,
    latency_ns: u64,
    dead: BTreeSet<NodeId>,
    cut: BTreeSet<(NodeId, NodeId)>,
    offsets: BTreeMap<NodeId, u64>,
    last_seen_primary_ms: BTreeMap<NodeId, u64>,
    /// Every event, in order.
    pub log: Vec<Logged>,
    /// Bus bytes sent so far.
    pub bytes_sent: u64,
}

/// Node ids of `shards` shards with `replicas` replicas each: primary `i` is `i`, its replicas
/// `100 + i * 10 + j`.
pub fn shard_ids(shards: u32, replicas: u32) -> Vec<(NodeId, Vec<NodeId>)> {
    (0..shards)
        .map(|i| {
            let r = (0..replicas).map(|j| NodeId(100 + i * 10 + j)).collect();
            (NodeId(i), r)
        })
        .collect()
}

fn endpoint(id: NodeId) -> Endpoint {
    Endpoint {
        host: format!("10.0.0.{}", id.0 % 250),
        port: 6379,
    }
}

impl Harness {
    /// A cluster of `shards` × (1 primary + `replicas` replicas), every node with the view of
    /// a freshly created cluster, the RNG of node `n` seeded from `seed` and `n`.
    pub fn new(
        shards: u32,
        replicas: u32,
        config: &ClusterConfig,
        latency_ms: u64,
        seed: u64,
    ) -> Harness {
        let specs: Vec<Shard> = shard_ids(shards, replicas)
            .into_iter()
            .map(|(p, rs)| Shard {
                primary: (p, endpoint(p)),
                replicas: rs.into_iter().map(|r| (r, endpoint(r))).collect(),
            })
            .collect();
        let view = Topology::from_shards(&specs);
        let ids: Vec<NodeId> = view.nodes.keys().copied().collect();
        let mut harness = Harness {
            nodes: BTreeMap::new(),
            rngs: BTreeMap::new(),
            queue: BTreeMap::new(),
            sequence: 0,
            now: SimTime::ZERO,
            latency_ns: latency_ms * SimTime::NANOS_PER_MS,
            dead: BTreeSet::new(),
            cut: BTreeSet::new(),
            offsets: BTreeMap::new(),
            last_seen_primary_ms: BTreeMap::new(),
            log: Vec::new(),
            bytes_sent: 0,
        };
        for (i, &id) in ids.iter().enumerate() {
            let node = ClusterNode::new(id, config.clone(), view.clone());
            harness.nodes.insert(id, node);
            let stream = seed ^ (u64::from(id.0) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            harness.rngs.insert(id, ChaCha8Rng::seed_from_u64(stream));
            let first_tick = (i as u64 * 37) % CRON_PERIOD_MS;
            harness.push(SimTime::from_ms(first_tick), Pending::Tick(id));
        }
        harness
    }

    /// The current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }
    /// A node.
    pub fn node(&self, id: NodeId) -> &ClusterNode {
        &self.nodes[&id]
    }
    /// All node ids.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }
    /// Nodes that are alive.
    pub fn live_ids(&self) -> Vec<NodeId> {
        self.ids()
            .into_iter()
            .filter(|id| !self.dead.contains(id))
            .collect()
    }
    /// Sets the replication offset `id` reports.
    pub fn set_offset(&mut self, id: NodeId, offset: u64) {
        self.offsets.insert(id, offset);
    }
    /// Stops `id`: no ticks, nothing delivered to or from it.
    pub fn kill(&mut self, id: NodeId) {
        self.dead.insert(id);
    }
    /// Starts delivering to and from `id` again (its state was kept, as after a pause).
    pub fn revive(&mut self, id: NodeId) {
        self.dead.remove(&id);
        self.push(self.now.plus(1), Pending::Tick(id));
    }
    /// Cuts every link between `side` and the other nodes, both ways.
    pub fn partition(&mut self, side: &[NodeId]) {
        for a in side {
            for b in self.ids() {
                if !side.contains(&b) {
                    self.cut.insert((*a, b));
                    self.cut.insert((b, *a));
                }
            }
        }
    }
    /// Heals every cut.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    fn push(&mut self, at: SimTime, what: Pending) {
        self.sequence += 1;
        self.queue.insert((at.as_nanos(), self.sequence), what);
    }

    fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        !self.dead.contains(&from) && !self.dead.contains(&to) && !self.cut.contains(&(from, to))
    }

    /// Processes everything up to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        for _ in 0..MAX_EVENTS_PER_RUN {
            let Some((&(at, seq), _)) = self.queue.first_key_value() else {
                break;
            };
            if at > until.as_nanos() {
                self.now = until;
                return;
            }
            let what = self.queue.remove(&(at, seq)).expect("present");
            self.now = SimTime(at);
            match what {
                Pending::Tick(id) => self.tick(id),
                Pending::Deliver(to, msg) => self.deliver(to, &msg),
            }
        }
        assert!(
            self.queue.is_empty() || self.now >= until,
            "event limit reached"
        );
        self.now = until;
    }

    fn tick(&mut self, id: NodeId) {
        if self.dead.contains(&id) {
            return;
        }
        self.refresh_replication(id);
        let node = self.nodes.get_mut(&id).expect("known");
        let out = node.tick(self.now, self.rngs.get_mut(&id).expect("rng"));
        self.apply(id, out);
        self.push(
            self.now.plus(CRON_PERIOD_MS * SimTime::NANOS_PER_MS),
            Pending::Tick(id),
        );
    }

    /// A replica hears from its primary while both are up and connected.
    fn refresh_replication(&mut self, id: NodeId) {
        let now_ms = self.now.as_ms();
        let primary = self.nodes[&id].view().node(id).primary();
        if primary.is_some_and(|p| self.reachable(p, id)) || primary.is_none() {
            self.last_seen_primary_ms.insert(id, now_ms);
        }
        let status = ReplicationStatus {
            offset: self.offsets.get(&id).copied().unwrap_or(0),
            primary_last_seen_ms: self.last_seen_primary_ms.get(&id).copied().unwrap_or(0),
        };
        self.nodes
            .get_mut(&id)
            .expect("known")
            .set_replication(status);
    }

    fn deliver(&mut self, to: NodeId, msg: &BusMessage) {
        if !self.reachable(msg.header.sender, to) {
            return;
        }
        let node = self.nodes.get_mut(&to).expect("known");
        let out = node.on_message(self.now, msg, self.rngs.get_mut(&to).expect("rng"));
        self.apply(to, out);
    }

    fn apply(&mut self, from: NodeId, out: Output) {
        for event in out.events {
            self.log.push(Logged {
                at: self.now,
                node: from,
                event,
            });
        }
        for (to, msg) in out.sends {
            self.bytes_sent += msg.size_bytes() as u64;
            if self.reachable(from, to) {
                self.push(
                    self.now.plus(self.latency_ns),
                    Pending::Deliver(to, Box::new(msg)),
                );
            }
        }
    }

    /// The first logged event matching `pred`, after `since`.
    pub fn first(&self, since: SimTime, pred: impl Fn(&Logged) -> bool) -> Option<&Logged> {
        self.log.iter().find(|l| l.at >= since && pred(l))
    }
}

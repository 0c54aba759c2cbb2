//! PING and PONG with their gossip sections (`cluster.c: clusterSendPing`) and what a node
//! learns from the gossip it receives (`cluster.c: clusterProcessGossipSection`).

use rand::{Rng, RngExt};

use super::bus::{Body, Gossip, WireFlags};
use super::node::ClusterNode;
use super::topology::NodeId;

/// Redis sends pong/ping times in gossip as whole seconds (`clusterSetGossipEntry`).
fn whole_seconds_ms(ms: u64) -> u64 {
    ms / 1000 * 1000
}

impl ClusterNode {
    /// Sends a PING to `to` and notes it pending.
    pub(super) fn send_ping<R: Rng + ?Sized>(&mut self, to: NodeId, rng: &mut R) {
        let gossip = self.gossip_section(rng);
        self.peers.get_mut(&to).expect("known peer").ping_sent_ms = Some(self.now_ms);
        self.send(to, Body::Ping { gossip });
    }

    /// Sends a PONG to `to`; `answers_ping` when it replies to a PING or MEET.
    pub(super) fn send_pong<R: Rng + ?Sized>(
        &mut self,
        to: NodeId,
        answers_ping: bool,
        rng: &mut R,
    ) {
        let gossip = self.gossip_section(rng);
        self.send(
            to,
            Body::Pong {
                gossip,
                answers_ping,
            },
        );
    }

    /// PONG to every other node, or only to the replicas of this shard
    /// (`cluster.c: clusterBroadcastPong`, `CLUSTER_BROADCAST_ALL` / `_LOCAL_SLAVES`).
    pub(super) fn broadcast_pong<R: Rng + ?Sized>(
        &mut self,
        local_replicas_only: bool,
        rng: &mut R,
    ) {
        let my_primary = self.view.node(self.me).primary();
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for id in ids {
            let of = self.view.node(id).primary();
            let local = of.is_some() && (of == Some(self.me) || of == my_primary);
            if local_replicas_only && !local {
                continue;
            }
            self.send_pong(id, false, rng);
        }
    }

    /// The gossip entries of one PING/PONG (`clusterSendPing`): `max(3, nodes/10)` random
    /// nodes (at most nodes - 2, `3 × wanted` tries), never itself nor a PFAIL node, then
    /// every PFAIL node.
    fn gossip_section<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<Gossip> {
        let all: Vec<NodeId> = self.view.nodes.keys().copied().collect();
        let fresh = all.len().saturating_sub(2);
        let wanted = (all.len() / 10).max(3).min(fresh);
        let mut chosen: Vec<NodeId> = Vec::with_capacity(wanted);
        for _ in 0..wanted * 3 {
            if chosen.len() >= wanted {
                break;
            }
            let id = all[rng.random_range(0..all.len())];
            if id == self.me || self.view.node(id).flags.pfail || chosen.contains(&id) {
                continue;
            }
            chosen.push(id);
        }
        let pfail = all
            .iter()
            .copied()
            .filter(|&id| self.view.node(id).flags.pfail);
        chosen.extend(pfail);
        chosen.into_iter().map(|id| self.gossip_entry(id)).collect()
    }

    /// One gossip entry (`clusterSetGossipEntry`).
    fn gossip_entry(&self, id: NodeId) -> Gossip {
        let info = self.view.node(id);
        let peer = &self.peers[&id];
        Gossip {
            node: id,
            ping_sent_ms: peer.ping_sent_ms.map_or(0, whole_seconds_ms),
            pong_received_ms: peer.pong_received_ms.map_or(0, whole_seconds_ms),
            flags: WireFlags {
                primary: info.is_primary(),
                pfail: info.flags.pfail,
                fail: info.flags.fail,
                no_failover: info.flags.no_failover,
            },
        }
    }

    /// `cluster.c: clusterProcessGossipSection`: failure reports from primaries, and pong
    /// times of nodes that are fine. Unknown nodes are ignored (no handshakes).
    pub(super) fn process_gossip(&mut self, sender: NodeId, gossip: &[Gossip]) {
        let sender_is_primary = self.view.node(sender).is_primary();
        for entry in gossip {
            let node = entry.node;
            if !self.peers.contains_key(&node) {
                continue;
            }
            let failing = entry.flags.pfail || entry.flags.fail;
            if sender_is_primary {
                if failing {
                    self.add_failure_report(node, sender);
                    self.mark_failing_if_needed(node);
                } else {
                    self.remove_failure_report(node, sender);
                }
            }
            if !failing
                && self.peers[&node].ping_sent_ms.is_none()
                && self.failure_report_count(node) == 0
            {
                self.adopt_gossiped_pong(node, entry.pong_received_ms);
            }
        }
    }

    /// Takes a newer pong time seen by another node, unless it is in the future by more than
    /// 500 ms.
    fn adopt_gossiped_pong(&mut self, node: NodeId, pong_ms: u64) {
        let now = self.now_ms;
        let peer = self.peers.get_mut(&node).expect("known peer");
        if pong_ms > 0 && pong_ms <= now + 500 && peer.pong_received_ms.is_none_or(|t| pong_ms > t)
        {
            peer.pong_received_ms = Some(pong_ms);
        }
    }
}

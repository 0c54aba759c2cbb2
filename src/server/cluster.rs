//! The cluster part of a server (`cluster-enabled yes`): the bus state machine driven every
//! 100 ms (`clusterCron`) and by bus messages, replication status fed to it, its events turned
//! into facts and role changes, and client commands routed before they run
//! (`cluster.c: getNodeByQuery`, called from `server.c: processCommand`).

use std::collections::BTreeSet;
use std::rc::Rc;

use super::{Server, TIMER_CLUSTER};
use crate::cluster::bus::BusMessage;
use crate::cluster::manual::ManualMode;
use crate::cluster::node::{CRON_PERIOD_MS, ClusterEvent, ClusterNode, Output, ReplicationStatus};
use crate::cluster::redirect::{Query, route};
use crate::cluster::state::ClusterState;
use crate::cluster::topology::NodeId;
use crate::fact::{ClusterFact, Fact};
use crate::proto::Msg;
use crate::redis::{Command, Reply};
use crate::sim::{Ctx, ProcessId, SimTime};

/// A server's cluster state: the node and the clients that sent `ASKING` or `READONLY`.
#[derive(Clone, Debug)]
pub(crate) struct ClusterPart {
    pub(crate) node: ClusterNode,
    /// Clients whose next command carries `CLIENT_ASKING`.
    asking: BTreeSet<ProcessId>,
    /// Clients whose connection carries `CLIENT_READONLY` (a client opens one connection at
    /// a time and sends READONLY again on each new one).
    readonly: BTreeSet<ProcessId>,
}

/// The process of a cluster node: node `i` is server (and process) `i`.
fn process_of(n: NodeId) -> ProcessId {
    ProcessId(n.0)
}

impl Server {
    /// Makes this server a cluster node (`cluster-enabled yes`) with `node` as its bus state.
    pub fn with_cluster(mut self, node: Option<ClusterNode>) -> Self {
        self.cluster = node.map(|node| ClusterPart {
            node,
            asking: BTreeSet::new(),
            readonly: BTreeSet::new(),
        });
        self
    }

    /// The cluster node, when cluster mode is on.
    pub fn cluster(&self) -> Option<&ClusterNode> {
        self.cluster.as_ref().map(|c| &c.node)
    }

    /// What the node comes back as after a crash (what `nodes.conf` kept).
    pub fn cluster_after_restart(&self) -> Option<ClusterNode> {
        self.cluster.as_ref().map(|c| c.node.restarted())
    }

    /// Starts the 100 ms cluster cron at a phase of its own. Redis runs `clusterCron` from
    /// `serverCron`, every 100 ms counted from the process's start (server.c: `initServer`
    /// registers `serverCron` 1 ms after it), so the crons of nodes started at different moments
    /// tick at different instants; the simulator starts every node at once, and without a phase
    /// drawn per node every node's cron (and its once-a-second random PING) would tick on the
    /// same instants, including the instant of any fault scheduled at a whole second.
    pub(super) fn cluster_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.cluster.is_some() {
            let period = CRON_PERIOD_MS * SimTime::NANOS_PER_MS;
            let phase = rand::RngExt::random_range(ctx.rng(), 0..period);
            ctx.set_timer(period + phase, TIMER_CLUSTER);
        }
    }

    /// `clusterCron`: feeds the replication status, then ticks the node. A server loading an
    /// RDB is blocked and runs no cron.
    pub(super) fn cluster_tick(&mut self, ctx: &mut Ctx<'_, Msg>) {
        ctx.set_timer(CRON_PERIOD_MS * SimTime::NANOS_PER_MS, TIMER_CLUSTER);
        if self.is_loading() {
            return;
        }
        let status = self.replication_status(ctx.now());
        let Some(part) = self.cluster.as_mut() else {
            return;
        };
        part.node.set_replication(status);
        let out = part.node.tick(ctx.now(), ctx.rng());
        self.apply_cluster_output(ctx, out);
    }

    /// `clusterProcessPacket` for one bus message.
    pub(super) fn on_cluster_bus(&mut self, ctx: &mut Ctx<'_, Msg>, msg: &BusMessage) {
        let status = self.replication_status(ctx.now());
        let Some(part) = self.cluster.as_mut() else {
            return;
        };
        part.node.set_replication(status);
        let out = part.node.on_message(ctx.now(), msg, ctx.rng());
        self.apply_cluster_output(ctx, out);
    }

    /// `clusterBeforeSleep`, after each message this server handled: only when the node left
    /// work for it (a manual failover waiting for the offset, an election to re-check).
    pub(super) fn cluster_before_sleep(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if !self.cluster.as_ref().is_some_and(|c| c.node.has_todo()) || self.is_loading() {
            return;
        }
        let status = self.replication_status(ctx.now());
        let Some(part) = self.cluster.as_mut() else {
            return;
        };
        part.node.set_replication(status);
        let out = part.node.before_sleep(ctx.now(), ctx.rng());
        self.apply_cluster_output(ctx, out);
    }

    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` at this server's console: Redis's error text when
    /// refused.
    pub(super) fn cluster_failover(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        mode: ManualMode,
    ) -> Result<(), String> {
        let status = self.replication_status(ctx.now());
        let Some(part) = self.cluster.as_mut() else {
            return Err("ERR This instance has cluster support disabled".into());
        };
        part.node.set_replication(status);
        let (reply, out) = part.node.cluster_failover(ctx.now(), mode, ctx.rng());
        self.apply_cluster_output(ctx, out);
        reply.map_err(String::from)
    }

    /// Whether this primary holds writes for a replica's manual failover now: its
    /// replication cron sends no PING then (`replicationCron`), which would move the offset
    /// the replica waits for.
    pub(super) fn pausing_for_manual_failover(&self) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.node.manual_failover().end_ms.is_some())
            && self.failover_pause.is_some()
    }

    /// `askingCommand`: the client's next command may run on an importing slot.
    pub(super) fn on_asking(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64) {
        let reply = match self.cluster.as_mut() {
            Some(part) => {
                part.asking.insert(client);
                Reply::Ok
            }
            None => Reply::Error(Rc::from("ERR This instance has cluster support disabled")),
        };
        ctx.send(
            client,
            Msg::Reply {
                id,
                reply,
                at: None,
            },
        );
    }

    /// `readonlyCommand`: this connection may read keys of the slots this node's primary
    /// serves (`getNodeByQuery` then answers them here instead of `-MOVED`).
    pub(super) fn on_readonly(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64) {
        let reply = match self.cluster.as_mut() {
            Some(part) => {
                part.readonly.insert(client);
                Reply::Ok
            }
            None => Reply::Error(Rc::from("ERR This instance has cluster support disabled")),
        };
        ctx.send(
            client,
            Msg::Reply {
                id,
                reply,
                at: None,
            },
        );
    }

    /// `CLUSTER SLOTS`: this node's slot map (node `i` is process `i`), each owner with the
    /// replicas listed beside it (`addNodeReplyForClusterSlot`). Outside cluster mode Redis
    /// answers an error; the simulated clients only ask cluster nodes.
    pub(super) fn on_cluster_slots(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64) {
        let Some(part) = self.cluster.as_ref() else {
            return;
        };
        let view = part.node.view();
        let ranges: Vec<_> = view
            .owner_ranges()
            .into_iter()
            .map(|(a, b, owner)| (a, b, owner.map(process_of)))
            .collect();
        let owners: std::collections::BTreeSet<ProcessId> =
            ranges.iter().filter_map(|r| r.2).collect();
        let (me, offset) = (part.node.id(), self.data.repl.offset);
        let replicas = owners
            .into_iter()
            .map(|o| {
                let of = view.available_replicas_of(NodeId(o.0), me, offset);
                (o, of.into_iter().map(process_of).collect())
            })
            .collect();
        ctx.send(
            client,
            Msg::SlotsReply {
                id,
                ranges: Rc::new(ranges),
                replicas: Rc::new(replicas),
            },
        );
    }

    /// The redirection or CLUSTERDOWN error a command gets before it runs, as
    /// `processCommand` asks `getNodeByQuery` (keyless commands always run).
    pub(super) fn cluster_refusal(&mut self, client: ProcessId, cmd: &Command) -> Option<String> {
        let part = self.cluster.as_mut()?;
        // resetClient clears CLIENT_ASKING after every command.
        let asking = part.asking.remove(&client);
        let readonly = part.readonly.contains(&client);
        let keys: Vec<&[u8]> = cmd.keys().iter().map(|k| k.as_bytes()).collect();
        if keys.is_empty() {
            return None;
        }
        let query = Query {
            keys: &keys,
            is_write: cmd.is_write(),
            asking,
            readonly,
        };
        let keyspace = &self.data.keyspace;
        let exists = |k: &[u8]| std::str::from_utf8(k).is_ok_and(|k| keyspace.get(k).is_some());
        let view = part.node.route_view(&exists);
        route(&query, &view).err().map(|r| r.error_text())
    }

    /// The offset and, for a replica, when it last heard from its primary
    /// (`master->lastinteraction`) or since when the link is down (`repl_down_since`).
    fn replication_status(&self, now: SimTime) -> ReplicationStatus {
        let last_seen = match &self.replica {
            None => now,
            Some(r) => match &r.link {
                Some(link) if r.link_up() => link.last_io,
                _ => r.link_down_since.unwrap_or(SimTime::ZERO),
            },
        };
        ReplicationStatus {
            offset: self.data.repl.offset,
            primary_last_seen_ms: last_seen.as_ms(),
        }
    }

    /// Sends the node's messages, records its events and carries out role changes.
    pub(super) fn apply_cluster_output(&mut self, ctx: &mut Ctx<'_, Msg>, out: Output) {
        for (to, msg) in out.sends {
            ctx.send(process_of(to), Msg::ClusterBus(Rc::new(msg)));
        }
        for event in out.events {
            let fact = self.cluster_fact(&event);
            ctx.note(Fact::Cluster {
                node: self.name.clone(),
                event: fact,
            });
            match event {
                // clusterFailoverReplaceYourMaster: replicationUnsetMaster.
                ClusterEvent::Promoted { .. } => self.on_replicaof(ctx, None),
                // clusterSetMaster: replicationSetMaster.
                ClusterEvent::BecameReplica { of } => self.on_replicaof(ctx, Some(process_of(of))),
                // MFSTART: pauseClients(PAUSE_DURING_FAILOVER, now + 2 × CLUSTER_MF_TIMEOUT,
                // CLIENT_PAUSE_WRITE).
                ClusterEvent::ManualFailoverRequested { pause_ms, .. } => {
                    let ns = pause_ms * SimTime::NANOS_PER_MS;
                    let until = ctx.now().plus(ns);
                    self.failover_pause = Some(self.failover_pause.map_or(until, |u| u.max(until)));
                    ctx.set_timer(ns, super::TIMER_UNPAUSE);
                }
                // resetManualFailover: unpauseClients(PAUSE_DURING_FAILOVER).
                ClusterEvent::FailoverPauseEnded => {
                    self.failover_pause = None;
                    self.on_unpause(ctx);
                }
                // clusterUpdateSlotsConfigWith: delKeysInSlot for each dirty slot.
                ClusterEvent::DirtySlots { ref slots } => self.delete_keys_in_slots(ctx, slots),
                _ => {}
            }
        }
    }

    /// The fact of a cluster event, nodes named by their servers.
    fn cluster_fact(&self, event: &ClusterEvent) -> ClusterFact {
        let name = |n: &NodeId| self.peer(process_of(*n)).to_string();
        match event {
            ClusterEvent::PFail { node } => ClusterFact::Pfail { about: name(node) },
            ClusterEvent::PFailCleared { node } => ClusterFact::PfailCleared { about: name(node) },
            ClusterEvent::Fail { node, by_quorum } => ClusterFact::Fail {
                about: name(node),
                by_quorum: *by_quorum,
            },
            ClusterEvent::FailCleared { node } => ClusterFact::FailCleared { about: name(node) },
            ClusterEvent::StateChanged { state } => ClusterFact::State {
                ok: *state == ClusterState::Ok,
            },
            ClusterEvent::ElectionScheduled { delay_ms, rank } => ClusterFact::ElectionScheduled {
                delay_ms: *delay_ms,
                rank: *rank,
            },
            ClusterEvent::ElectionStarted { epoch } => {
                ClusterFact::ElectionStarted { epoch: *epoch }
            }
            ClusterEvent::FailoverBlocked { reason } => ClusterFact::FailoverBlocked {
                reason: reason.text().to_string(),
            },
            ClusterEvent::VoteGranted { to, epoch } => ClusterFact::VoteGranted {
                to: name(to),
                epoch: *epoch,
            },
            ClusterEvent::VoteRefused { to, reason } => ClusterFact::VoteRefused {
                to: name(to),
                reason: reason.text(),
            },
            ClusterEvent::Promoted { replaced, epoch } => ClusterFact::Promoted {
                replaced: name(replaced),
                epoch: *epoch,
            },
            ClusterEvent::BecameReplica { of } => ClusterFact::BecameReplica { of: name(of) },
            ClusterEvent::ConfigEpochBumped { epoch } => {
                ClusterFact::ConfigEpochBumped { epoch: *epoch }
            }
            ClusterEvent::ManualFailoverAccepted { mode } => ClusterFact::ManualFailover {
                mode: match mode {
                    ManualMode::Default => "default",
                    ManualMode::Force => "force",
                    ManualMode::Takeover => "takeover",
                }
                .into(),
            },
            ClusterEvent::ManualFailoverRequested { by, pause_ms } => {
                ClusterFact::ManualFailoverRequested {
                    by: name(by),
                    pause_ms: *pause_ms,
                }
            }
            ClusterEvent::ManualFailoverOffset { offset } => {
                ClusterFact::ManualFailoverOffset { offset: *offset }
            }
            ClusterEvent::ManualFailoverCanStart => ClusterFact::ManualFailoverCanStart,
            ClusterEvent::ManualFailoverTimedOut => ClusterFact::ManualFailoverTimedOut,
            ClusterEvent::FailoverPauseEnded => ClusterFact::FailoverPauseEnded,
            ClusterEvent::ConfigEpochWithoutConsensus { epoch } => {
                ClusterFact::ConfigEpochWithoutConsensus { epoch: *epoch }
            }
            ClusterEvent::ReplicaMigration { to } => ClusterFact::ReplicaMigration { to: name(to) },
            ClusterEvent::SlotMigrating { slot, to } => ClusterFact::SetSlot {
                slot: *slot,
                action: "migrating".into(),
                server: Some(name(to)),
            },
            ClusterEvent::SlotImporting { slot, from } => ClusterFact::SetSlot {
                slot: *slot,
                action: "importing".into(),
                server: Some(name(from)),
            },
            ClusterEvent::SlotStable { slot } => ClusterFact::SetSlot {
                slot: *slot,
                action: "stable".into(),
                server: None,
            },
            ClusterEvent::SlotAssigned { slot, to } => ClusterFact::SetSlot {
                slot: *slot,
                action: "node".into(),
                server: Some(name(to)),
            },
            ClusterEvent::DirtySlots { slots } => ClusterFact::DirtySlots {
                count: slots.len(),
                first: slots.first().copied().unwrap_or(0),
            },
        }
    }
}

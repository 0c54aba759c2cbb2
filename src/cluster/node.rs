//! One cluster node's bus logic as a sans-IO state machine: `tick` is `clusterCron` (call it
//! every 100 ms), `on_message` is `clusterProcessPacket`; both return the messages to send and
//! typed events. Time and randomness come in as arguments.

use std::collections::BTreeMap;

use rand::Rng;

use super::bus::{Body, BusMessage, Header, WireFlags};
use super::election::{Election, FailoverBlock, VoteRefusal};
use super::manual::{ManualFailover, ManualMode};
use super::redirect::RouteView;
use super::state::{ClusterState, StateTracker};
use super::topology::{NodeId, Role, Topology};
use crate::sim::SimTime;

/// `clusterCron` runs every 100 ms (`server.c: serverCron` at hz 10).
pub const CRON_PERIOD_MS: u64 = 100;

/// The cluster knobs of `redis.conf`, with Redis's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `cluster-node-timeout`, ms (default 15000).
    pub node_timeout_ms: u64,
    /// `cluster-replica-validity-factor` (default 10; 0: any data age may fail over).
    pub replica_validity_factor: u64,
    /// `cluster-require-full-coverage` (default yes).
    pub require_full_coverage: bool,
    /// `cluster-allow-reads-when-down` (default no).
    pub allow_reads_when_down: bool,
    /// `cluster-replica-no-failover` (default no).
    pub replica_no_failover: bool,
    /// `cluster-allow-replica-migration` (default yes).
    pub allow_replica_migration: bool,
    /// `cluster-migration-barrier` (default 1): a replica migrates only if its primary keeps
    /// more working replicas than this.
    pub migration_barrier: u64,
    /// `repl-ping-replica-period`, seconds (default 10), part of the data-age limit.
    pub repl_ping_replica_period_s: u64,
    /// Planted bug `cluster_keeps_stale_slots` (see `crate::bugs::Bugs`).
    pub bug_keeps_stale_slots: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_timeout_ms: 15_000,
            replica_validity_factor: 10,
            require_full_coverage: true,
            allow_reads_when_down: false,
            replica_no_failover: false,
            allow_replica_migration: true,
            migration_barrier: 1,
            repl_ping_replica_period_s: 10,
            bug_keeps_stale_slots: false,
        }
    }
}

/// What the replication layer tells the cluster layer about this node's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// The replication offset (`master_repl_offset`, or the replica's processed offset).
    pub offset: u64,
    /// For a replica: when it last heard from its primary (`master->lastinteraction`) or, when
    /// the link is down, since when it is down (`repl_down_since`), in ms.
    pub primary_last_seen_ms: u64,
}

/// Typed facts a node reports, in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// `node` missed its pong for node_timeout: flagged PFAIL.
    PFail { node: NodeId },
    /// `node` answered again: PFAIL cleared.
    PFailCleared { node: NodeId },
    /// `node` flagged FAIL; `by_quorum` when this node gathered the reports itself.
    Fail { node: NodeId, by_quorum: bool },
    /// `node`'s FAIL flag cleared (`clearNodeFailureIfNeeded`).
    FailCleared { node: NodeId },
    /// This node's cluster state changed.
    StateChanged { state: ClusterState },
    /// An election is scheduled `delay_ms` from now at `rank`.
    ElectionScheduled { delay_ms: u64, rank: u32 },
    /// Votes requested for `epoch`.
    ElectionStarted { epoch: u64 },
    /// This node cannot fail over (reported when the reason changes).
    FailoverBlocked { reason: FailoverBlock },
    /// This primary voted for `to` in `epoch`.
    VoteGranted { to: NodeId, epoch: u64 },
    /// This primary refused its vote to `to`.
    VoteRefused { to: NodeId, reason: VoteRefusal },
    /// This replica won its election (or took over): it now serves `replaced`'s slots at
    /// configEpoch `epoch`.
    Promoted { replaced: NodeId, epoch: u64 },
    /// This node now replicates `of` (a demoted primary, or a replica following a new primary).
    BecameReplica { of: NodeId },
    /// Two primaries had the same configEpoch; this one moved to `epoch`.
    ConfigEpochBumped { epoch: u64 },
    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` accepted by this replica.
    ManualFailoverAccepted { mode: ManualMode },
    /// This primary's replica `by` asked for a manual failover: client writes pause for
    /// `pause_ms` (or until the failover ends).
    ManualFailoverRequested { by: NodeId, pause_ms: u64 },
    /// This replica heard its paused primary's final offset.
    ManualFailoverOffset { offset: u64 },
    /// This replica processed the stream up to that offset: the election may start.
    ManualFailoverCanStart,
    /// The manual failover was abandoned after `CLUSTER_MF_TIMEOUT`.
    ManualFailoverTimedOut,
    /// This primary's write pause for a manual failover ended (`resetManualFailover`).
    FailoverPauseEnded,
    /// A takeover gave this node configEpoch `epoch` without a vote.
    ConfigEpochWithoutConsensus { epoch: u64 },
    /// This replica migrates to the orphaned primary `to` (followed by `BecameReplica`).
    ReplicaMigration { to: NodeId },
    /// `CLUSTER SETSLOT <slot> MIGRATING <to>` on this owner.
    SlotMigrating { slot: u16, to: NodeId },
    /// `CLUSTER SETSLOT <slot> IMPORTING <from>` on this primary.
    SlotImporting { slot: u16, from: NodeId },
    /// `CLUSTER SETSLOT <slot> STABLE`.
    SlotStable { slot: u16 },
    /// `CLUSTER SETSLOT <slot> NODE <to>`: this node's view gives `slot` to `to`.
    SlotAssigned { slot: u16, to: NodeId },
    /// A newer claim took slots this primary still served (and may hold keys of): the server
    /// deletes those keys (`clusterUpdateSlotsConfigWith`, `delKeysInSlot`).
    DirtySlots { slots: Vec<u16> },
}

impl ClusterEvent {
    /// A stable name for trace notes (`cluster:<what>`); consumers match on it, never on
    /// the `Debug` text.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterEvent::PFail { .. } => "cluster:pfail",
            ClusterEvent::PFailCleared { .. } => "cluster:pfail-cleared",
            ClusterEvent::Fail { .. } => "cluster:fail",
            ClusterEvent::FailCleared { .. } => "cluster:fail-cleared",
            ClusterEvent::StateChanged { .. } => "cluster:state",
            ClusterEvent::ElectionScheduled { .. } => "cluster:election-scheduled",
            ClusterEvent::ElectionStarted { .. } => "cluster:election-started",
            ClusterEvent::FailoverBlocked { .. } => "cluster:failover-blocked",
            ClusterEvent::VoteGranted { .. } => "cluster:vote-granted",
            ClusterEvent::VoteRefused { .. } => "cluster:vote-refused",
            ClusterEvent::Promoted { .. } => "cluster:promoted",
            ClusterEvent::BecameReplica { .. } => "cluster:became-replica",
            ClusterEvent::ConfigEpochBumped { .. } => "cluster:config-epoch-bumped",
            ClusterEvent::ManualFailoverAccepted { .. } => "cluster:manual-failover",
            ClusterEvent::ManualFailoverRequested { .. } => "cluster:manual-failover-requested",
            ClusterEvent::ManualFailoverOffset { .. } => "cluster:manual-failover-offset",
            ClusterEvent::ManualFailoverCanStart => "cluster:manual-failover-can-start",
            ClusterEvent::ManualFailoverTimedOut => "cluster:manual-failover-timed-out",
            ClusterEvent::FailoverPauseEnded => "cluster:failover-pause-ended",
            ClusterEvent::ConfigEpochWithoutConsensus { .. } => {
                "cluster:config-epoch-without-consensus"
            }
            ClusterEvent::ReplicaMigration { .. } => "cluster:replica-migration",
            ClusterEvent::SlotMigrating { .. }
            | ClusterEvent::SlotImporting { .. }
            | ClusterEvent::SlotStable { .. }
            | ClusterEvent::SlotAssigned { .. } => "cluster:setslot",
            ClusterEvent::DirtySlots { .. } => "cluster:dirty-slots",
        }
    }
}

/// What one call asks the world to do.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Messages to send, in order.
    pub sends: Vec<(NodeId, BusMessage)>,
    /// Facts to record.
    pub events: Vec<ClusterEvent>,
}

/// A failure report: `reporter` (a primary) saw the node PFAIL or FAIL at `time_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FailReport {
    pub reporter: NodeId,
    pub time_ms: u64,
}

/// This node's link-level knowledge of a peer (`clusterNode` timing fields).
#[derive(Clone, Debug, Default)]
pub(super) struct Peer {
    /// When the pending PING was sent (`ping_sent`), `None` when none is pending.
    pub ping_sent_ms: Option<u64>,
    /// When the last PONG arrived (`pong_received`), `None` before the first.
    pub pong_received_ms: Option<u64>,
    /// When anything last arrived from it (`data_received`).
    pub data_received_ms: Option<u64>,
    /// When it was flagged FAIL (`fail_time`).
    pub fail_time_ms: u64,
    /// Failure reports about it (`fail_reports`).
    pub fail_reports: Vec<FailReport>,
    /// The link was dropped for silence and is being re-established (`node->link == NULL`).
    pub link_down: bool,
}

/// One Redis Cluster node's bus state machine.
#[derive(Clone, Debug)]
pub struct ClusterNode {
    pub(super) me: NodeId,
    pub(super) config: ClusterConfig,
    pub(super) view: Topology,
    pub(super) peers: BTreeMap<NodeId, Peer>,
    pub(super) last_vote_epoch: u64,
    /// When this node last voted for a replica of each primary (`voted_time`).
    pub(super) voted_time_ms: BTreeMap<NodeId, u64>,
    pub(super) cant_failover_reason: Option<FailoverBlock>,
    pub(super) state: StateTracker,
    pub(super) election: Election,
    pub(super) replication: ReplicationStatus,
    pub(super) iteration: u64,
    pub(super) todo_update_state: bool,
    pub(super) now_ms: u64,
    pub(super) out: Output,
    /// The manual failover in progress (`mf_*`).
    pub(super) mf: ManualFailover,
    /// `CLUSTER_TODO_HANDLE_MANUALFAILOVER` for the next `before_sleep`.
    pub(super) todo_manual_failover: bool,
    /// `CLUSTER_TODO_HANDLE_FAILOVER` for the next `before_sleep`.
    pub(super) todo_handle_failover: bool,
    /// Since when each primary has been seen orphaned (`orphaned_time`).
    pub(super) orphaned_since_ms: BTreeMap<NodeId, u64>,
}

impl ClusterNode {
    /// Node `me` with an initial view (e.g. [`Topology::from_shards`]) that must contain it.
    pub fn new(me: NodeId, config: ClusterConfig, view: Topology) -> ClusterNode {
        assert!(view.nodes.contains_key(&me), "{me} is not in its own view");
        let peers = view
            .nodes
            .keys()
            .filter(|&&id| id != me)
            .map(|&id| (id, Peer::default()))
            .collect();
        ClusterNode {
            me,
            config,
            view,
            peers,
            last_vote_epoch: 0,
            voted_time_ms: BTreeMap::new(),
            cant_failover_reason: None,
            state: StateTracker::new(),
            election: Election::default(),
            replication: ReplicationStatus::default(),
            iteration: 0,
            todo_update_state: false,
            now_ms: 0,
            out: Output::default(),
            mf: ManualFailover::default(),
            todo_manual_failover: false,
            todo_handle_failover: false,
            orphaned_since_ms: BTreeMap::new(),
        }
    }

    /// The node as it comes back after a restart: the view, epochs and last vote it saved in
    /// `nodes.conf` (`clusterSaveConfig`), fresh links and timers, state FAIL (`clusterInit`,
    /// `clusterLoadConfig`).
    pub fn restarted(&self) -> ClusterNode {
        let mut node = ClusterNode::new(self.me, self.config.clone(), self.view.clone());
        node.last_vote_epoch = self.last_vote_epoch;
        node
    }

    /// This node.
    pub fn id(&self) -> NodeId {
        self.me
    }
    /// Its view of the cluster.
    pub fn view(&self) -> &Topology {
        &self.view
    }
    /// Its configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
    /// Its cluster state.
    pub fn state(&self) -> ClusterState {
        self.state.state()
    }
    /// Whether it is a primary.
    pub fn is_primary(&self) -> bool {
        self.view.node(self.me).is_primary()
    }
    /// Its currentEpoch.
    pub fn current_epoch(&self) -> u64 {
        self.view.current_epoch
    }
    /// Its configEpoch.
    pub fn config_epoch(&self) -> u64 {
        self.view.node(self.me).config_epoch
    }
    /// The epoch it last voted in (`lastVoteEpoch`).
    pub fn last_vote_epoch(&self) -> u64 {
        self.last_vote_epoch
    }
    /// Updates what replication reports (offset, last contact with the primary).
    pub fn set_replication(&mut self, status: ReplicationStatus) {
        self.replication = status;
        self.view.node_mut(self.me).repl_offset = status.offset;
    }
    /// The routing inputs for `redirect::route` as this node sees them.
    pub fn route_view<'a>(&'a self, key_exists: &'a dyn Fn(&[u8]) -> bool) -> RouteView<'a> {
        RouteView {
            topology: &self.view,
            me: self.me,
            state: self.state(),
            allow_reads_when_down: self.config.allow_reads_when_down,
            key_exists,
        }
    }

    /// `cluster.c: clusterCron`, once per [`CRON_PERIOD_MS`].
    pub fn tick<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Output {
        self.now_ms = now.as_ms();
        self.iteration += 1;
        if self.iteration.is_multiple_of(10) {
            self.ping_oldest_of_five(rng);
        }
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for id in ids {
            self.check_peer(id, rng);
        }
        self.manual_failover_check_timeout();
        if !self.is_primary() {
            self.handle_manual_failover();
            self.handle_replica_failover(rng);
            if !self.is_primary() {
                self.maybe_migrate();
            }
        }
        if self.todo_update_state || self.state() == ClusterState::Fail {
            self.update_state();
        }
        std::mem::take(&mut self.out)
    }

    /// Every 10th cron: ping the node with the oldest pong among 5 random picks, skipping those
    /// with a ping pending (`clusterCron`).
    fn ping_oldest_of_five<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let all: Vec<NodeId> = self.view.nodes.keys().copied().collect();
        let mut best: Option<(Option<u64>, NodeId)> = None;
        for _ in 0..5 {
            let id = all[rand::RngExt::random_range(rng, 0..all.len())];
            let Some(peer) = self.peers.get(&id) else {
                continue;
            };
            if peer.ping_sent_ms.is_some() {
                continue;
            }
            if best.is_none_or(|(pong, _)| pong > peer.pong_received_ms) {
                best = Some((peer.pong_received_ms, id));
            }
        }
        if let Some((_, id)) = best {
            self.send_ping(id, rng);
        }
    }

    /// The per-node part of `clusterCron`: ping when the last pong is older than
    /// node_timeout/2, drop a silent link and reconnect it, flag PFAIL when a ping waited
    /// longer than node_timeout.
    fn check_peer<R: Rng + ?Sized>(&mut self, id: NodeId, rng: &mut R) {
        let now = self.now_ms;
        let half_timeout = self.config.node_timeout_ms / 2;
        let peer = &self.peers[&id];
        let pong_age = peer
            .pong_received_ms
            .map_or(u64::MAX, |t| now.saturating_sub(t));
        if peer.ping_sent_ms.is_none() && pong_age > half_timeout {
            self.send_ping(id, rng);
            return;
        }
        // A primary in a manual failover pings the replica that asked every cron.
        let manual_ping = self.mf.end_ms.is_some() && self.mf.replica == Some(id);
        if manual_ping && self.is_primary() && !self.peers[&id].link_down {
            self.send_ping(id, rng);
            return;
        }
        let peer = &self.peers[&id];
        let Some(ping_sent) = peer.ping_sent_ms else {
            return;
        };
        let ping_delay = now.saturating_sub(ping_sent);
        let data_delay = peer
            .data_received_ms
            .map_or(u64::MAX, |t| now.saturating_sub(t));
        if peer.link_down {
            self.retry_link(id, rng);
        } else if ping_delay > half_timeout && data_delay > half_timeout {
            self.peers.get_mut(&id).expect("known").link_down = true;
        }
        let flags = self.view.node(id).flags;
        if ping_delay.min(data_delay) > self.config.node_timeout_ms && !flags.pfail && !flags.fail {
            self.view.node_mut(id).flags.pfail = true;
            self.out.events.push(ClusterEvent::PFail { node: id });
            self.todo_update_state = true;
        }
    }

    /// A dropped link is reconnected by `clusterNodeCronHandleReconnect`, and the new link
    /// starts with a PING that keeps the old `ping_sent` (`clusterLinkConnectHandler`).
    /// Connection attempts are not modelled: the PING is re-sent once a second until a PONG
    /// answers it.
    fn retry_link<R: Rng + ?Sized>(&mut self, id: NodeId, rng: &mut R) {
        if !self.iteration.is_multiple_of(10) {
            return;
        }
        let pending = self.peers[&id].ping_sent_ms;
        self.send_ping(id, rng);
        self.peers.get_mut(&id).expect("known").ping_sent_ms = pending;
    }

    /// `cluster.c: clusterProcessPacket`.
    pub fn on_message<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        msg: &BusMessage,
        rng: &mut R,
    ) -> Output {
        self.now_ms = now.as_ms();
        let sender = msg.header.sender;
        if sender == self.me {
            return Output::default();
        }
        if !self.peers.contains_key(&sender) {
            // Unknown senders are ignored; MEET handshakes are not modelled (the initial view
            // is given, as after `redis-cli --cluster create`).
            return Output::default();
        }
        self.note_sender(&msg.header);
        match &msg.body {
            Body::Ping { .. } | Body::Meet { .. } => {
                self.send_pong(sender, true, rng);
                self.process_heartbeat(msg, false);
            }
            Body::Pong { answers_ping, .. } => self.process_heartbeat(msg, *answers_ping),
            Body::Fail { about } => self.process_fail(*about),
            Body::AuthRequest => self.vote_if_needed(&msg.header),
            Body::AuthAck => self.process_auth_ack(&msg.header, rng),
            Body::Update {
                about,
                config_epoch,
                slots,
            } => self.process_update(*about, *config_epoch, slots),
            Body::MfStart => self.process_mf_start(sender, rng),
        }
        if self.todo_update_state {
            self.update_state();
        }
        std::mem::take(&mut self.out)
    }

    /// Data received and epochs adopted from any message of a known sender.
    fn note_sender(&mut self, header: &Header) {
        let now = self.now_ms;
        self.peers
            .get_mut(&header.sender)
            .expect("known sender")
            .data_received_ms = Some(now);
        if header.current_epoch > self.view.current_epoch {
            self.view.current_epoch = header.current_epoch;
        }
        let info = self.view.node_mut(header.sender);
        if header.config_epoch > info.config_epoch {
            info.config_epoch = header.config_epoch;
        }
        info.repl_offset = header.offset;
        self.note_paused_offset(header);
    }

    /// PING, PONG and MEET: pong bookkeeping, role, slots, collisions, gossip.
    fn process_heartbeat(&mut self, msg: &BusMessage, answers_ping: bool) {
        let header = &msg.header;
        let sender = header.sender;
        self.view.node_mut(sender).flags.no_failover = header.flags.no_failover;
        if answers_ping {
            self.process_pong(sender);
        }
        self.process_role(header);
        self.process_slots_claim(header);
        self.handle_config_epoch_collision(header);
        self.process_gossip(sender, msg.gossip());
    }

    /// A PONG answering our PING: the peer is reachable (`clusterProcessPacket`).
    fn process_pong(&mut self, sender: NodeId) {
        let peer = self.peers.get_mut(&sender).expect("known sender");
        peer.pong_received_ms = Some(self.now_ms);
        peer.ping_sent_ms = None;
        peer.link_down = false;
        let flags = self.view.node(sender).flags;
        if flags.pfail {
            self.view.node_mut(sender).flags.pfail = false;
            self.out
                .events
                .push(ClusterEvent::PFailCleared { node: sender });
            self.todo_update_state = true;
        } else if flags.fail {
            self.clear_failure_if_needed(sender);
        }
    }

    /// The sender's role as its header states it (`clusterProcessPacket`, "update our info
    /// about the node").
    fn process_role(&mut self, header: &Header) {
        let sender = header.sender;
        match header.replica_of {
            None => self.view.set_primary(sender),
            Some(primary) => {
                if self.view.node(sender).is_primary() {
                    self.todo_update_state = true;
                }
                let known = self.view.nodes.contains_key(&primary);
                if known && self.view.node(sender).role != (Role::Replica { of: Some(primary) }) {
                    self.view.set_replica_of(sender, primary);
                }
            }
        }
    }

    /// `clusterRecvFailure` part of `clusterProcessPacket`: a FAIL message.
    fn process_fail(&mut self, about: NodeId) {
        if about == self.me || !self.view.nodes.contains_key(&about) {
            return;
        }
        if self.view.node(about).flags.fail {
            return;
        }
        let info = self.view.node_mut(about);
        info.flags.fail = true;
        info.flags.pfail = false;
        self.peers.get_mut(&about).expect("known node").fail_time_ms = self.now_ms;
        self.out.events.push(ClusterEvent::Fail {
            node: about,
            by_quorum: false,
        });
        self.todo_update_state = true;
    }

    /// `cluster.c: clusterUpdateState`, reporting a change.
    pub(super) fn update_state(&mut self) {
        self.todo_update_state = false;
        let changed = self.state.update(
            self.now_ms,
            &self.view,
            self.is_primary(),
            self.config.require_full_coverage,
            self.config.node_timeout_ms,
        );
        if let Some(state) = changed {
            self.out.events.push(ClusterEvent::StateChanged { state });
        }
    }

    /// The header this node puts on every message (`cluster.c: clusterBuildMessageHdr`).
    pub(super) fn header(&self) -> Header {
        let me = self.view.node(self.me);
        let shard_primary = me.primary().map_or(me, |p| self.view.node(p));
        Header {
            sender: self.me,
            current_epoch: self.view.current_epoch,
            config_epoch: shard_primary.config_epoch,
            offset: self.replication.offset,
            slots: shard_primary.slots.clone(),
            replica_of: me.primary(),
            flags: WireFlags {
                primary: me.is_primary(),
                pfail: false,
                fail: false,
                no_failover: self.config.replica_no_failover,
            },
            state_ok: self.state() == ClusterState::Ok,
            force_ack: false,
            paused: me.is_primary() && self.mf.end_ms.is_some(),
        }
    }

    /// Queues `body` to `to` with this node's header.
    pub(super) fn send(&mut self, to: NodeId, body: Body) {
        let msg = BusMessage {
            header: self.header(),
            body,
        };
        self.out.sends.push((to, msg));
    }

    /// Queues `body` to every other known node (`clusterBroadcastMessage`).
    pub(super) fn broadcast(&mut self, body: Body) {
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for id in ids {
            self.send(id, body.clone());
        }
    }
}

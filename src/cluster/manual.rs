//! Manual failover, `CLUSTER FAILOVER [FORCE|TAKEOVER]` sent to a replica (`cluster.c:
//! clusterCommand` "failover", `clusterHandleManualFailover`, `resetManualFailover`,
//! `manualFailoverCheckTimeout`, the MFSTART message, `clusterBumpConfigEpochWithoutConsensus`).
//!
//! - Default: the replica sends MFSTART; its primary pauses client writes for
//!   2 × `CLUSTER_MF_TIMEOUT` and pings the replica every cron with its (now final) offset,
//!   flagged PAUSED; once the replica has processed the stream up to that offset it starts an
//!   election at once (no delay, rank 0) whose vote requests carry FORCEACK, so primaries vote
//!   although its primary is up. No acknowledged write is lost.
//! - FORCE: no handshake with the primary (which may be down); the election starts at once.
//! - TAKEOVER: no election: the replica takes a new configEpoch without consensus and claims
//!   the slots.
//!
//! The whole attempt is abandoned after `CLUSTER_MF_TIMEOUT` (5 s).

use rand::Rng;

use super::bus::{Body, Header};
use super::node::{ClusterEvent, ClusterNode, Output};
use super::topology::NodeId;
use crate::sim::SimTime;

/// `cluster.h: CLUSTER_MF_TIMEOUT`: a manual failover is abandoned after this long (ms).
pub const MF_TIMEOUT_MS: u64 = 5000;
/// `cluster.h: CLUSTER_MF_PAUSE_MULT`: the primary pauses writes for this × the timeout.
pub const MF_PAUSE_MULT: u64 = 2;
/// `before_sleep` passes per call: schedule, then request votes.
const BEFORE_SLEEP_PASSES: usize = 3;

/// The option of `CLUSTER FAILOVER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManualMode {
    /// No option: coordinated with the primary, no acknowledged write lost.
    Default,
    /// `FORCE`: no coordination with the primary, still an election.
    Force,
    /// `TAKEOVER`: no election either.
    Takeover,
}

impl ManualMode {
    /// The log line of `clusterCommand` when the request is accepted.
    pub fn accepted_text(self) -> &'static str {
        match self {
            ManualMode::Default => "Manual failover user request accepted.",
            ManualMode::Force => "Forced failover user request accepted.",
            ManualMode::Takeover => "Taking over the master (user request).",
        }
    }
}

/// The `mf_*` fields of `clusterState`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManualFailover {
    /// When the attempt is abandoned (`mf_end`), `None` when none is in progress.
    pub end_ms: Option<u64>,
    /// Replica side: the election may start (`mf_can_start`).
    pub can_start: bool,
    /// Primary side: the replica that asked (`mf_slave`).
    pub replica: Option<NodeId>,
    /// Replica side: the primary's offset once it paused (`mf_master_offset`).
    pub primary_offset: Option<u64>,
}

impl ClusterNode {
    /// The manual failover in progress, if any.
    pub fn manual_failover(&self) -> &ManualFailover {
        &self.mf
    }

    /// Whether this primary pauses its clients' writes for a replica's manual failover
    /// (`PAUSE_DURING_FAILOVER`).
    pub fn pausing_for_failover(&self) -> bool {
        self.mf.replica.is_some()
    }

    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]` typed at this node (`clusterCommand`): the error
    /// text Redis replies with when refused, and what to send.
    pub fn cluster_failover<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        mode: ManualMode,
        rng: &mut R,
    ) -> (Result<(), &'static str>, Output) {
        self.now_ms = now.as_ms();
        let reply = self.start_manual_failover(mode, rng);
        (reply, std::mem::take(&mut self.out))
    }

    fn start_manual_failover<R: Rng + ?Sized>(
        &mut self,
        mode: ManualMode,
        rng: &mut R,
    ) -> Result<(), &'static str> {
        if self.is_primary() {
            return Err("ERR You should send CLUSTER FAILOVER to a replica");
        }
        let Some(primary) = self.view.node(self.me).primary() else {
            return Err("ERR I'm a replica but my master is unknown to me");
        };
        let force = mode != ManualMode::Default;
        let unreachable = self.peers.get(&primary).is_none_or(|p| p.link_down);
        if !force && (self.view.node(primary).failed() || unreachable) {
            return Err("ERR Master is down or failed, please use CLUSTER FAILOVER FORCE");
        }
        self.reset_manual_failover();
        self.mf.end_ms = Some(self.now_ms + MF_TIMEOUT_MS);
        self.out
            .events
            .push(ClusterEvent::ManualFailoverAccepted { mode });
        match mode {
            ManualMode::Takeover => {
                self.bump_config_epoch_without_consensus();
                self.replace_primary(rng);
            }
            ManualMode::Force => self.mf.can_start = true,
            ManualMode::Default => self.send(primary, Body::MfStart),
        }
        Ok(())
    }

    /// `cluster.c: clusterBumpConfigEpochWithoutConsensus`: a new configEpoch unless this
    /// node already has the greatest one.
    pub(super) fn bump_config_epoch_without_consensus(&mut self) {
        let max_epoch = self
            .view
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0)
            .max(self.view.current_epoch);
        let mine = self.config_epoch();
        if mine == 0 || mine != max_epoch {
            self.view.current_epoch += 1;
            let epoch = self.view.current_epoch;
            self.view.node_mut(self.me).config_epoch = epoch;
            self.out
                .events
                .push(ClusterEvent::ConfigEpochWithoutConsensus { epoch });
        }
    }

    /// `cluster.c: resetManualFailover`; a primary that paused its clients unpauses them.
    pub(super) fn reset_manual_failover(&mut self) {
        if self.mf.replica.is_some() {
            self.out.events.push(ClusterEvent::FailoverPauseEnded);
        }
        self.mf = ManualFailover::default();
    }

    /// `cluster.c: manualFailoverCheckTimeout`, from cron.
    pub(super) fn manual_failover_check_timeout(&mut self) {
        if self.mf.end_ms.is_some_and(|end| end < self.now_ms) {
            self.out.events.push(ClusterEvent::ManualFailoverTimedOut);
            self.reset_manual_failover();
        }
    }

    /// `cluster.c: clusterHandleManualFailover`: once this replica's offset reaches the one its
    /// paused primary announced, the election may start.
    pub(super) fn handle_manual_failover(&mut self) {
        if self.mf.end_ms.is_none() || self.mf.can_start {
            return;
        }
        let Some(target) = self.mf.primary_offset else {
            return; // waiting for the paused primary's offset
        };
        if target == self.replication.offset {
            self.mf.can_start = true;
            self.out.events.push(ClusterEvent::ManualFailoverCanStart);
            self.todo_handle_failover = true;
            return;
        }
        self.todo_manual_failover = true;
    }

    /// MFSTART from one of this primary's replicas: pause writes, remember the replica, and
    /// ping it at once so it learns the final offset (`clusterProcessPacket`).
    pub(super) fn process_mf_start<R: Rng + ?Sized>(&mut self, sender: NodeId, rng: &mut R) {
        if self.view.node(sender).primary() != Some(self.me) {
            return;
        }
        self.reset_manual_failover();
        self.mf.end_ms = Some(self.now_ms + MF_TIMEOUT_MS);
        self.mf.replica = Some(sender);
        self.out.events.push(ClusterEvent::ManualFailoverRequested {
            by: sender,
            pause_ms: MF_TIMEOUT_MS * MF_PAUSE_MULT,
        });
        // The PING goes out on the link the replica opened: it leaves `ping_sent` alone.
        let pending = self.peers[&sender].ping_sent_ms;
        self.send_ping(sender, rng);
        self.peers.get_mut(&sender).expect("known").ping_sent_ms = pending;
    }

    /// A replica in a manual failover hears its primary's offset flagged PAUSED
    /// (`clusterProcessPacket`).
    pub(super) fn note_paused_offset(&mut self, header: &Header) {
        let from_my_primary = self.view.node(self.me).primary() == Some(header.sender);
        if self.mf.end_ms.is_some()
            && !self.is_primary()
            && from_my_primary
            && header.paused
            && self.mf.primary_offset.is_none()
        {
            self.mf.primary_offset = Some(header.offset);
            self.out.events.push(ClusterEvent::ManualFailoverOffset {
                offset: header.offset,
            });
            self.todo_manual_failover = true;
        }
    }

    /// Whether `before_sleep` has work (`todo_before_sleep`).
    pub fn has_todo(&self) -> bool {
        self.todo_manual_failover || self.todo_handle_failover
    }

    /// `cluster.c: clusterBeforeSleep`, after each event the server handled: a manual failover
    /// checks its offset, an election that may have its quorum is re-checked.
    pub fn before_sleep<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Output {
        self.now_ms = now.as_ms();
        // Work one pass leaves for the next runs at once: the event loop turns again right away
        // (the replication stream keeps it busy). Each pass clears what it handles.
        for _ in 0..BEFORE_SLEEP_PASSES {
            let manual = std::mem::take(&mut self.todo_manual_failover);
            let failover = std::mem::take(&mut self.todo_handle_failover);
            if manual {
                if !self.is_primary() {
                    self.handle_manual_failover();
                    self.handle_replica_failover(rng);
                }
            } else if failover {
                self.handle_replica_failover(rng);
            } else {
                break;
            }
            if self.todo_manual_failover && !self.todo_handle_failover {
                break; // still waiting for the offset: the next event may bring it
            }
        }
        if self.todo_update_state {
            self.update_state();
        }
        std::mem::take(&mut self.out)
    }
}

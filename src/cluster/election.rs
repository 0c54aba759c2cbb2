//! Replica elections: the replica's side (`cluster.c: clusterHandleSlaveFailover`,
//! `clusterGetSlaveRank`, `clusterFailoverReplaceYourMaster`) and the voter's side
//! (`cluster.c: clusterSendFailoverAuthIfNeeded`).

use rand::{Rng, RngExt};

use super::bus::{Body, Header};
use super::node::{ClusterEvent, ClusterNode};
use super::topology::NodeId;

/// Fixed part of the election delay, letting the FAIL message propagate (ms).
pub const ELECTION_FIXED_DELAY_MS: u64 = 500;
/// The random part is drawn in `0..ELECTION_RANDOM_DELAY_MS` (ms).
pub const ELECTION_RANDOM_DELAY_MS: u64 = 500;
/// Extra delay per rank (ms).
pub const ELECTION_RANK_DELAY_MS: u64 = 1000;

/// A replica's election in progress (`failover_auth_*` of `clusterState`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Election {
    /// When votes may be requested (`failover_auth_time`), `None` before the first schedule.
    pub auth_time_ms: Option<u64>,
    /// Votes received (`failover_auth_count`).
    pub auth_count: usize,
    /// Votes were requested (`failover_auth_sent`).
    pub auth_sent: bool,
    /// This replica's rank (`failover_auth_rank`).
    pub auth_rank: u32,
    /// The epoch votes were requested in (`failover_auth_epoch`).
    pub auth_epoch: u64,
}

/// Why a replica whose primary is FAIL does not (yet) fail over
/// (`CLUSTER_CANT_FAILOVER_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverBlock {
    /// Its data is older than the validity factor allows.
    DataAge,
    /// Waiting for the scheduled election time.
    WaitingDelay,
    /// The attempt timed out; waiting for the retry time.
    Expired,
    /// Votes requested, majority not reached yet.
    WaitingVotes,
}

/// Why a primary refused its vote (the warnings of `clusterSendFailoverAuthIfNeeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteRefusal {
    /// The request's currentEpoch is older than ours.
    StaleRequestEpoch,
    /// Already voted in this epoch.
    AlreadyVoted,
    /// The requester is a primary.
    RequesterIsPrimary,
    /// We do not know the requester's primary.
    UnknownPrimary,
    /// Its primary is not FAIL (and this is no manual failover).
    PrimaryUp,
    /// We voted for a replica of this primary less than node_timeout × 2 ago.
    VotedRecently,
    /// A claimed slot is served at a higher configEpoch than the requester's.
    StaleConfigEpoch { slot: u16 },
}

impl ClusterNode {
    /// The election's state.
    pub fn election(&self) -> &Election {
        &self.election
    }

    /// `cluster.c: clusterGetSlaveRank`: sibling replicas (not no-failover) with a strictly
    /// greater offset.
    pub(super) fn replica_rank(&self) -> u32 {
        let Some(primary) = self.view.node(self.me).primary() else {
            return 0;
        };
        let mine = self.replication.offset;
        let better = self.view.replicas_of(primary).into_iter().filter(|&id| {
            let info = self.view.node(id);
            id != self.me && !info.flags.no_failover && info.repl_offset > mine
        });
        better.count() as u32
    }

    /// `data_age` of `clusterHandleSlaveFailover`: whole seconds since the primary was last
    /// heard from, minus node_timeout once it exceeds it.
    fn data_age_ms(&self) -> u64 {
        let seconds = self.now_ms / 1000 - self.replication.primary_last_seen_ms / 1000;
        let age = seconds * 1000;
        let timeout = self.config.node_timeout_ms;
        if age > timeout { age - timeout } else { age }
    }

    /// Whether the data is too old to fail over (`cluster-replica-validity-factor`).
    fn data_too_old(&self) -> bool {
        let factor = self.config.replica_validity_factor;
        let limit =
            self.config.repl_ping_replica_period_s * 1000 + self.config.node_timeout_ms * factor;
        factor != 0 && self.data_age_ms() > limit
    }

    /// Reports a blocking reason once per change (`clusterLogCantFailover`).
    fn block(&mut self, reason: FailoverBlock, last: &mut Option<FailoverBlock>) {
        if *last != Some(reason) {
            *last = Some(reason);
            self.out
                .events
                .push(ClusterEvent::FailoverBlocked { reason });
        }
    }

    /// The preconditions of `clusterHandleSlaveFailover`: a replica of a FAIL primary that
    /// serves slots, and `cluster-replica-no-failover no`.
    /// A manual failover (`CLUSTER FAILOVER`) needs neither a FAIL primary nor
    /// `cluster-replica-no-failover no`.
    fn failover_wanted(&self) -> Option<NodeId> {
        let primary = self.view.node(self.me).primary()?;
        let info = self.view.node(primary);
        let manual = self.manual_failover_can_start();
        let automatic = info.failed() && !self.config.replica_no_failover;
        let wanted = (manual || automatic) && info.slots.count() > 0;
        wanted.then_some(primary)
    }

    /// `manual_failover` of `clusterHandleSlaveFailover`: `mf_end` set and `mf_can_start`.
    fn manual_failover_can_start(&self) -> bool {
        self.mf.end_ms.is_some() && self.mf.can_start
    }

    /// `cluster.c: clusterHandleSlaveFailover`, run from cron and after each vote.
    pub(super) fn handle_replica_failover<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        self.todo_handle_failover = false;
        let mut last_block = self.cant_failover_reason.take();
        self.replica_failover_step(rng, &mut last_block);
        self.cant_failover_reason = last_block;
    }

    fn replica_failover_step<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        last_block: &mut Option<FailoverBlock>,
    ) {
        let now = self.now_ms as i64;
        let auth_age = self
            .election
            .auth_time_ms
            .map_or(i64::MAX, |t| now - t as i64);
        let auth_timeout = (self.config.node_timeout_ms * 2).max(2000) as i64;
        let auth_retry_time = auth_timeout * 2;
        if self.failover_wanted().is_none() {
            *last_block = None;
            return;
        }
        if self.data_too_old() && !self.manual_failover_can_start() {
            return self.block(FailoverBlock::DataAge, last_block);
        }
        if auth_age > auth_retry_time {
            return self.schedule_election(rng);
        }
        if !self.election.auth_sent && self.mf.end_ms.is_none() {
            let rank = self.replica_rank();
            if rank > self.election.auth_rank {
                let added = u64::from(rank - self.election.auth_rank) * ELECTION_RANK_DELAY_MS;
                self.election.auth_time_ms = self.election.auth_time_ms.map(|t| t + added);
                self.election.auth_rank = rank;
            }
        }
        if self.election.auth_time_ms.is_some_and(|t| self.now_ms < t) {
            return self.block(FailoverBlock::WaitingDelay, last_block);
        }
        if auth_age > auth_timeout {
            return self.block(FailoverBlock::Expired, last_block);
        }
        if !self.election.auth_sent {
            return self.request_votes();
        }
        if self.election.auth_count >= self.view.quorum() {
            self.win_election(rng);
        } else {
            self.block(FailoverBlock::WaitingVotes, last_block);
        }
    }

    /// Schedules the election: 500 ms + random 0-499 ms + 1000 ms × rank (at once, rank 0,
    /// in a manual failover), then tells sibling replicas our offset.
    fn schedule_election<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let mut rank = self.replica_rank();
        let mut delay = ELECTION_FIXED_DELAY_MS
            + rng.random_range(0..ELECTION_RANDOM_DELAY_MS)
            + u64::from(rank) * ELECTION_RANK_DELAY_MS;
        if self.mf.end_ms.is_some() {
            (delay, rank) = (0, 0);
            self.todo_handle_failover = true;
        }
        self.election = Election {
            auth_time_ms: Some(self.now_ms + delay),
            auth_count: 0,
            auth_sent: false,
            auth_rank: rank,
            auth_epoch: self.election.auth_epoch,
        };
        self.out.events.push(ClusterEvent::ElectionScheduled {
            delay_ms: delay,
            rank,
        });
        self.broadcast_pong(true, rng);
    }

    /// Bumps currentEpoch and asks every node for its vote.
    fn request_votes(&mut self) {
        self.view.current_epoch += 1;
        let epoch = self.view.current_epoch;
        self.election.auth_epoch = epoch;
        self.election.auth_sent = true;
        self.out
            .events
            .push(ClusterEvent::ElectionStarted { epoch });
        // A manual failover's requests carry FORCEACK (`clusterRequestFailoverAuth`).
        let force_ack = self.mf.end_ms.is_some();
        let ids: Vec<NodeId> = self.peers.keys().copied().collect();
        for id in ids {
            let mut header = self.header();
            header.force_ack = force_ack;
            let msg = super::bus::BusMessage {
                header,
                body: Body::AuthRequest,
            };
            self.out.sends.push((id, msg));
        }
        self.todo_update_state = true;
    }

    /// Won: take the election's epoch as configEpoch and replace the primary.
    fn win_election<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let epoch = self.election.auth_epoch;
        if self.config_epoch() < epoch {
            self.view.node_mut(self.me).config_epoch = epoch;
        }
        self.replace_primary(rng);
    }

    /// `cluster.c: clusterFailoverReplaceYourMaster`: become a primary, take every slot of the
    /// old primary, update the state, PONG everyone, end any manual failover.
    pub(super) fn replace_primary<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let Some(old) = self.view.node(self.me).primary() else {
            return;
        };
        self.view.set_primary(self.me);
        let slots: Vec<u16> = self.view.node(old).slots.iter().collect();
        for slot in slots {
            self.view.assign_slot(slot, self.me);
        }
        self.update_state();
        let epoch = self.config_epoch();
        self.out.events.push(ClusterEvent::Promoted {
            replaced: old,
            epoch,
        });
        self.broadcast_pong(false, rng);
        self.reset_manual_failover();
    }

    /// FAILOVER_AUTH_ACK: counted when it comes from a primary with slots in this election's
    /// epoch or later; then the election is re-checked at once (`CLUSTER_TODO_HANDLE_FAILOVER`).
    pub(super) fn process_auth_ack<R: Rng + ?Sized>(&mut self, header: &Header, rng: &mut R) {
        let sender = self.view.node(header.sender);
        let voter = sender.is_primary() && sender.slots.count() > 0;
        if voter && header.current_epoch >= self.election.auth_epoch {
            self.election.auth_count += 1;
            if !self.is_primary() {
                self.handle_replica_failover(rng);
            }
        }
    }

    /// `cluster.c: clusterSendFailoverAuthIfNeeded`: the voter's rules, in Redis's order.
    pub(super) fn vote_if_needed(&mut self, request: &Header) {
        if !self.is_primary() || self.view.num_slots(self.me) == 0 {
            return;
        }
        let requester = request.sender;
        match self.vote_refusal(request) {
            Some(reason) => self.out.events.push(ClusterEvent::VoteRefused {
                to: requester,
                reason,
            }),
            None => {
                let epoch = self.view.current_epoch;
                self.last_vote_epoch = epoch;
                let primary = self.view.node(requester).primary().expect("checked");
                self.voted_time_ms.insert(primary, self.now_ms);
                self.send(requester, Body::AuthAck);
                self.out.events.push(ClusterEvent::VoteGranted {
                    to: requester,
                    epoch,
                });
            }
        }
    }

    /// The first rule a vote request breaks, if any.
    fn vote_refusal(&self, request: &Header) -> Option<VoteRefusal> {
        if request.current_epoch < self.view.current_epoch {
            return Some(VoteRefusal::StaleRequestEpoch);
        }
        if self.last_vote_epoch == self.view.current_epoch {
            return Some(VoteRefusal::AlreadyVoted);
        }
        let requester = self.view.node(request.sender);
        if requester.is_primary() {
            return Some(VoteRefusal::RequesterIsPrimary);
        }
        let Some(primary) = requester.primary() else {
            return Some(VoteRefusal::UnknownPrimary);
        };
        if !self.view.node(primary).failed() && !request.force_ack {
            return Some(VoteRefusal::PrimaryUp);
        }
        let window = self.config.node_timeout_ms * 2;
        let voted = self.voted_time_ms.get(&primary);
        if voted.is_some_and(|&t| self.now_ms.saturating_sub(t) < window) {
            return Some(VoteRefusal::VotedRecently);
        }
        request.slots.iter().find_map(|slot| {
            let owner = self.view.owner(slot)?;
            let stale = self.view.node(owner).config_epoch > request.config_epoch;
            stale.then_some(VoteRefusal::StaleConfigEpoch { slot })
        })
    }
}

impl FailoverBlock {
    /// The reason as `clusterLogCantFailover` words it.
    pub fn text(self) -> &'static str {
        match self {
            FailoverBlock::DataAge => "Disconnected from master for longer than allowed",
            FailoverBlock::WaitingDelay => "Waiting the delay before I can start a new failover",
            FailoverBlock::Expired => "Failover attempt expired",
            FailoverBlock::WaitingVotes => "Waiting for votes, but majority still not reached",
        }
    }
}

impl VoteRefusal {
    /// The reason as the warnings of `clusterSendFailoverAuthIfNeeded` word it.
    pub fn text(self) -> String {
        match self {
            VoteRefusal::StaleRequestEpoch => "reqEpoch is older than my currentEpoch".into(),
            VoteRefusal::AlreadyVoted => "already voted in this epoch".into(),
            VoteRefusal::RequesterIsPrimary => "it is a master node".into(),
            VoteRefusal::UnknownPrimary => "I don't know its master".into(),
            VoteRefusal::PrimaryUp => "its master is up".into(),
            VoteRefusal::VotedRecently => {
                "can't vote for any slave of this master before node timeout * 2".into()
            }
            VoteRefusal::StaleConfigEpoch { slot } => {
                format!("slot {slot} epoch is greater than its configEpoch")
            }
        }
    }
}

//! The failover state machine (`sentinelFailoverStateMachine`): wait for the election, select a
//! replica, promote it, reconfigure the others `parallel-syncs` at a time, then switch.

use std::collections::BTreeMap;

use rand::RngExt;

use super::monitor::{INFO_PERIOD, PING_PERIOD};
use super::{MS, Sentinel};
use crate::fact::{EventSubject as S, SentinelEventKind as K};
use crate::proto::Msg;
use crate::redis::ReplId;
use crate::sim::{Ctx, ProcessId, SimTime};

/// `sentinel_slave_reconf_timeout`.
const SLAVE_RECONF_TIMEOUT: u64 = 10_000 * MS;
/// `SENTINEL_MAX_DESYNC`.
pub(super) const MAX_DESYNC: u64 = 1000 * MS;
/// `sentinel_election_timeout` (capped by failover-timeout).
const ELECTION_TIMEOUT: u64 = 10_000 * MS;

/// `SENTINEL_FAILOVER_STATE_*`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum FailoverState {
    #[default]
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

/// A replica's reconfiguration towards the promoted one (`SRI_RECONF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reconf {
    Sent(SimTime),
    InProgress,
    Done,
}

/// One failover attempt. Invariants: `promoted` is set exactly from `SendSlaveofNoone` to
/// `UpdateConfig`; `reconf` is empty outside `ReconfSlaves`/`UpdateConfig`.
#[derive(Clone, Debug, Default)]
pub(super) struct Failover {
    state: FailoverState,
    /// The epoch the attempt was started in.
    epoch: u64,
    /// `failover_start_time` (desynchronised by up to `MAX_DESYNC`); zero: never.
    start: SimTime,
    state_change: SimTime,
    promoted: Option<ProcessId>,
    reconf: BTreeMap<ProcessId, Reconf>,
    /// `SRI_FORCE_FAILOVER`: started by `SENTINEL FAILOVER`, it needs no election.
    forced: bool,
}

impl Failover {
    pub fn in_progress(&self) -> bool {
        self.state != FailoverState::None
    }

    /// Moves to `state` at `now`, checking that a promoted replica exists where one must.
    fn enter(&mut self, state: FailoverState, now: SimTime) {
        self.state = state;
        self.state_change = now;
        let needs_promoted = matches!(
            state,
            FailoverState::SendSlaveofNoone
                | FailoverState::WaitPromotion
                | FailoverState::ReconfSlaves
                | FailoverState::UpdateConfig
        );
        assert_eq!(needs_promoted, self.promoted.is_some(), "{state:?}");
    }

    /// Ends the attempt (aborted, or overtaken by a newer configuration).
    pub fn cancel(&mut self) {
        self.state = FailoverState::None;
        self.promoted = None;
        self.reconf.clear();
        self.forced = false;
    }

    // sentinel.c: sentinelResetMaster
    /// The switch's side here: no failover, and "we can failover again ASAP"
    /// (`failover_start_time = 0`).
    pub fn reset(&mut self) {
        self.cancel();
        self.start = SimTime::ZERO;
        self.state_change = SimTime::ZERO;
    }

    /// A vote for another sentinel delays our own attempt (`sentinelVoteLeader`).
    pub fn delay_start(&mut self, at: SimTime) {
        self.start = at;
    }

    /// The promoted replica, from RECONF_SLAVES on (`sentinelGetCurrentMasterAddress`).
    pub fn advertised(&self) -> Option<ProcessId> {
        let reconfiguring = matches!(
            self.state,
            FailoverState::ReconfSlaves | FailoverState::UpdateConfig
        );
        self.promoted.filter(|_| reconfiguring)
    }

    fn promoted(&self) -> ProcessId {
        self.promoted.expect("a promoted replica")
    }
}

impl Sentinel {
    // sentinel.c: sentinelStartFailoverIfNeeded, sentinelStartFailover
    pub(super) fn start_failover_if_needed(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        now: SimTime,
    ) -> bool {
        let f = &self.failover;
        if self.monitor.odown_since.is_none() || f.in_progress() {
            return false;
        }
        if now.0 < f.start.0 + 2 * self.cfg.failover_timeout_ns && f.start != SimTime::ZERO {
            return false;
        }
        self.start_failover(ctx, now);
        true
    }

    // sentinel.c: sentinelStartFailover
    fn start_failover(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let epoch = self.election.next_epoch();
        self.failover.epoch = epoch;
        self.event(ctx, K::NewEpoch, S::NewEpoch { epoch });
        let subject = self.master_subject(self.monitor.master);
        self.event(ctx, K::TryFailover, subject);
        let desync = ctx.rng().random_range(0..MAX_DESYNC);
        self.failover.start = now.plus(desync);
        self.failover.enter(FailoverState::WaitStart, now);
    }

    // sentinel.c: sentinelCommand "failover"
    /// `SENTINEL FAILOVER <name>`: a failover now, without ODOWN and without an election
    /// (`SRI_FORCE_FAILOVER`); the reply as redis-cli prints it.
    pub(super) fn manual_failover(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) -> String {
        if self.failover.in_progress() {
            return "(error) INPROG Failover already in progress".into();
        }
        if self.select_slave(now).is_none() {
            return "(error) NOGOODSLAVE No suitable replica to promote".into();
        }
        self.start_failover(ctx, now);
        self.failover.forced = true;
        "OK".into()
    }

    pub(super) fn abort(&mut self, ctx: &mut Ctx<'_, Msg>, why: K) {
        let subject = self.master_subject(self.monitor.master);
        self.event(ctx, why, subject);
        self.failover.cancel();
    }

    pub(super) fn failover_step(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        match self.failover.state {
            FailoverState::None => {}
            FailoverState::WaitStart => self.failover_wait_start(ctx, now),
            // sentinel.c: sentinelFailoverSelectSlave
            FailoverState::SelectSlave => match self.select_slave(now) {
                None => self.abort(ctx, K::FailoverAbortNoGoodSlave),
                Some(r) => {
                    self.event(ctx, K::SelectedSlave, self.slave(r));
                    self.failover.promoted = Some(r);
                    self.failover.enter(FailoverState::SendSlaveofNoone, now);
                    self.event(ctx, K::FailoverStateSendSlaveofNoone, self.slave(r));
                }
            },
            // sentinel.c: sentinelFailoverSendSlaveOfNoOne
            FailoverState::SendSlaveofNoone => {
                let r = self.failover.promoted();
                ctx.send(r, Msg::ReplicaOf { master: None });
                self.event(ctx, K::FailoverStateWaitPromotion, self.slave(r));
                self.failover.enter(FailoverState::WaitPromotion, now);
            }
            FailoverState::WaitPromotion => {
                if now.since(self.failover.state_change) > self.cfg.failover_timeout_ns {
                    self.abort(ctx, K::FailoverAbortSlaveTimeout);
                }
            }
            FailoverState::ReconfSlaves => self.reconf_next_slaves(ctx, now),
            // Applied at the end of the tick (`sentinelHandleDictOfRedisInstances`).
            FailoverState::UpdateConfig => {}
        }
    }

    // sentinel.c: sentinelFailoverWaitStart
    fn failover_wait_start(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let epoch = self.failover.epoch;
        // "If I'm not the leader, and it is not a forced failover via SENTINEL FAILOVER, then
        // I can't continue with the failover."
        if self.get_leader(ctx, epoch) != Some(self.me) && !self.failover.forced {
            let timeout = ELECTION_TIMEOUT.min(self.cfg.failover_timeout_ns);
            if now.0 > self.failover.start.0 + timeout {
                self.abort(ctx, K::FailoverAbortNotElected);
            }
            return;
        }
        let subject = S::Epoch {
            master: self.cfg.name.clone(),
            server: self.name(self.monitor.master).to_string(),
            epoch,
        };
        self.event(ctx, K::ElectedLeader, subject);
        // One state per timer tick, as sentinelFailoverStateMachine does: the INFO sent
        // to the replicas this tick is answered before the selection looks at it.
        self.failover.enter(FailoverState::SelectSlave, now);
        let subject = self.master_subject(self.monitor.master);
        self.event(ctx, K::FailoverStateSelectSlave, subject);
    }

    // sentinel.c: sentinelSelectSlave, compareSlavesForPromotion
    /// Drops replicas that are down, silent, stale, priority 0, or disconnected from the
    /// primary for too long; then lowest priority, highest offset, smallest run ID.
    pub(super) fn select_slave(&self, now: SimTime) -> Option<ProcessId> {
        let m = &self.monitor;
        let master_down_ns = m.get(m.master).sdown_since.map_or(0, |s| now.since(s));
        let max_link_down_ns = master_down_ns + self.cfg.down_after_ns * 10;
        let info_validity = if m.master_sdown() {
            PING_PERIOD * 5
        } else {
            INFO_PERIOD * 3
        };
        let mut candidates: Vec<(u32, std::cmp::Reverse<u64>, ReplId, ProcessId)> = Vec::new();
        for (&p, inst) in &m.instances {
            if p == m.master || inst.sdown_since.is_some() {
                continue;
            }
            if now.since(inst.last_avail) > PING_PERIOD * 5 {
                continue;
            }
            let Some(info) = &inst.info else { continue };
            if info.is_master || info.priority == 0 || now.since(inst.info_time) > info_validity {
                continue;
            }
            if info.master_link_down_secs.max(0) as u64 * SimTime::NANOS_PER_SEC > max_link_down_ns
            {
                continue;
            }
            // Planted bug: rank by the smallest offset instead of the largest.
            let offset = if self.cfg.promote_lowest_offset {
                std::cmp::Reverse(u64::MAX - info.offset)
            } else {
                std::cmp::Reverse(info.offset)
            };
            candidates.push((info.priority, offset, info.run_id, p));
        }
        candidates.sort();
        candidates.first().map(|c| c.3)
    }

    /// The promoted replica's INFO says `role:master` (`+promoted-slave`); true when this
    /// INFO was that.
    pub(super) fn observe_promotion(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        now: SimTime,
        from: ProcessId,
    ) -> bool {
        let f = &self.failover;
        if f.state != FailoverState::WaitPromotion || f.promoted != Some(from) {
            return false;
        }
        self.monitor.config_epoch = self.failover.epoch;
        self.event(ctx, K::PromotedSlave, self.slave(from));
        let subject = self.master_subject(self.monitor.master);
        self.event(ctx, K::FailoverStateReconfSlaves, subject);
        self.failover.enter(FailoverState::ReconfSlaves, now);
        // sentinel.c: sentinelForceHelloUpdateForMaster
        self.monitor.force_hello();
        true
    }

    /// A replica's INFO while reconfiguring: it follows the promoted replica (`inprog`), then
    /// its link is up (`done`). True when the replica follows the promoted one.
    pub(super) fn observe_reconf(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        its_master: Option<ProcessId>,
        link_up: bool,
    ) -> bool {
        let f = &self.failover;
        if f.state != FailoverState::ReconfSlaves || its_master != f.promoted {
            return false;
        }
        // Both steps are checked in turn, so one reply can take a replica from sent to done.
        if let Some(Reconf::Sent(_)) = f.reconf.get(&from) {
            self.failover.reconf.insert(from, Reconf::InProgress);
            self.event(ctx, K::SlaveReconfInprog, self.slave(from));
        }
        if link_up && self.failover.reconf.get(&from) == Some(&Reconf::InProgress) {
            self.failover.reconf.insert(from, Reconf::Done);
            self.event(ctx, K::SlaveReconfDone, self.slave(from));
        }
        true
    }

    /// The replicas to reconfigure: all but the promoted one and the old primary.
    fn reconf_targets(&self) -> Vec<ProcessId> {
        let promoted = self.failover.promoted();
        let old_master = self.monitor.master;
        let targets = self.monitor.ids().into_iter();
        targets
            .filter(|p| *p != promoted && *p != old_master)
            .collect()
    }

    // sentinel.c: sentinelFailoverReconfNextSlave
    /// Sends `REPLICAOF <promoted>` while fewer than `parallel-syncs` are in flight. The 10 s
    /// RECONF_SENT timeout is checked only for the replicas this loop reaches.
    fn reconf_next_slaves(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let targets = self.reconf_targets();
        let promoted = self.failover.promoted();
        let mut in_progress = targets
            .iter()
            .filter(|p| {
                matches!(
                    self.failover.reconf.get(p),
                    Some(Reconf::Sent(_) | Reconf::InProgress)
                )
            })
            .count() as u32;
        for &p in &targets {
            if in_progress >= self.cfg.parallel_syncs {
                break;
            }
            match self.failover.reconf.get(&p) {
                Some(Reconf::Done) => continue,
                Some(Reconf::Sent(t)) if now.since(*t) > SLAVE_RECONF_TIMEOUT => {
                    self.event(ctx, K::SlaveReconfSentTimeout, self.slave(p));
                    self.failover.reconf.insert(p, Reconf::Done);
                    continue;
                }
                Some(Reconf::Sent(_) | Reconf::InProgress) => continue,
                None => {}
            }
            // A replica that does not answer stands for Redis's disconnected link.
            if self.monitor.get(p).sdown_since.is_some() {
                continue;
            }
            ctx.send(
                p,
                Msg::ReplicaOf {
                    master: Some(promoted),
                },
            );
            self.failover.reconf.insert(p, Reconf::Sent(now));
            self.event(ctx, K::SlaveReconfSent, self.slave(p));
            in_progress += 1;
        }
        self.detect_end(ctx, now, &targets);
    }

    // sentinel.c: sentinelFailoverDetectEnd
    /// Ends the failover once every reachable replica is reconfigured, or at failover-timeout
    /// (then `REPLICAOF` goes, best effort, to the replicas not yet sent one).
    fn detect_end(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, targets: &[ProcessId]) {
        let promoted = self.failover.promoted();
        if self.monitor.get(promoted).sdown_since.is_some() {
            return;
        }
        let pending = targets.iter().any(|p| {
            self.failover.reconf.get(p) != Some(&Reconf::Done)
                && self.monitor.get(*p).sdown_since.is_none()
        });
        let timed_out = now.since(self.failover.state_change) > self.cfg.failover_timeout_ns;
        if timed_out {
            let master = self.cfg.name.clone();
            self.event(ctx, K::FailoverEndForTimeout, S::MasterName { master });
        }
        if !pending || timed_out {
            let subject = self.master_subject(self.monitor.master);
            self.event(ctx, K::FailoverEnd, subject);
            self.failover.enter(FailoverState::UpdateConfig, now);
        }
        if !timed_out {
            return;
        }
        for &p in targets {
            let skip = matches!(
                self.failover.reconf.get(&p),
                Some(Reconf::Done | Reconf::Sent(_))
            );
            if skip || self.monitor.get(p).sdown_since.is_some() {
                continue;
            }
            ctx.send(
                p,
                Msg::ReplicaOf {
                    master: Some(promoted),
                },
            );
            self.event(ctx, K::SlaveReconfSentBe, self.slave(p));
            self.failover.reconf.insert(p, Reconf::Sent(now));
        }
    }

    // sentinel.c: sentinelFailoverSwitchToPromotedSlave
    /// Applies a finished failover (state UPDATE_CONFIG), in the tick that finished it.
    pub(super) fn switch_to_promoted_if_done(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        if self.failover.state != FailoverState::UpdateConfig {
            return;
        }
        let promoted = self.failover.promoted();
        self.failover.cancel();
        self.switch_master(ctx, now, promoted);
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::proto::InfoReply;
    use crate::sentinel::SentinelConfig;

    fn info(priority: u32, offset: u64, run: u8) -> InfoReply {
        InfoReply {
            is_master: false,
            master: Some(ProcessId(0)),
            master_link_up: true,
            master_link_down_secs: 0,
            offset,
            priority,
            replid: ReplId([0; 20]),
            run_id: ReplId([run; 20]),
            replicas: vec![],
        }
    }

    fn sentinel_with(replicas: &[(u32, InfoReply)]) -> Sentinel {
        let cfg = SentinelConfig {
            name: "m".into(),
            master: ProcessId(0),
            quorum: 2,
            down_after_ns: 5_000 * MS,
            failover_timeout_ns: 60_000 * MS,
            parallel_syncs: 1,
            master_reboot_down_after_ns: 0,
            promote_lowest_offset: false,
        };
        let mut s = Sentinel::new("s", cfg, Rc::new(vec![]));
        let now = SimTime::from_secs(100);
        s.monitor.add(ProcessId(0), now);
        for (p, i) in replicas {
            s.monitor.add(ProcessId(*p), now);
            let inst = s.monitor.get_mut(ProcessId(*p));
            inst.info = Some(i.clone());
            inst.info_time = now;
        }
        s
    }

    #[test]
    fn replica_selection_order() {
        let now = SimTime::from_secs(100);
        // Priority first (lower wins), then offset (higher wins), then run id (smaller wins).
        let s = sentinel_with(&[
            (1, info(100, 500, 9)),
            (2, info(50, 10, 9)),
            (3, info(100, 900, 9)),
        ]);
        assert_eq!(s.select_slave(now), Some(ProcessId(2)));
        let s = sentinel_with(&[(1, info(100, 500, 9)), (3, info(100, 900, 9))]);
        assert_eq!(s.select_slave(now), Some(ProcessId(3)));
        let s = sentinel_with(&[(1, info(100, 900, 9)), (3, info(100, 900, 2))]);
        assert_eq!(s.select_slave(now), Some(ProcessId(3)));
        // Priority 0 is never promoted; a stale or disconnected replica is skipped.
        let s = sentinel_with(&[(1, info(0, 900, 1))]);
        assert_eq!(s.select_slave(now), None);
        let mut stale = info(100, 900, 1);
        stale.master_link_down_secs = 10_000;
        let s = sentinel_with(&[(1, stale), (2, info(100, 1, 1))]);
        assert_eq!(s.select_slave(now), Some(ProcessId(2)));
    }
}

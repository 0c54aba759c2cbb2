//! Redis Sentinel as a state machine: monitoring (PING every second, INFO every 10 s, hellos
//! every 2 s through the monitored servers), SDOWN and ODOWN by quorum, epochs and leader
//! election (one vote per epoch), replica selection in Redis's order, promotion, reconfiguration
//! of the other replicas (`parallel-syncs`), conversion of a returning old primary, failover
//! timeout and retry, and TILT mode. Follows src/sentinel.c; simplifications are listed in
//! docs/fidelity.md.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use rand::RngExt;

use crate::fact::{EventSubject as S, Fact, SentinelEventKind as K};
use crate::proto::{Hello, InfoReply, Msg};
use crate::sim::{Ctx, ProcessId, SimTime};

const MS: u64 = SimTime::NANOS_PER_MS;
/// `SENTINEL_PING_PERIOD`.
const PING_PERIOD: u64 = 1000 * MS;
/// `sentinel_info_period`.
const INFO_PERIOD: u64 = 10_000 * MS;
/// `sentinel_publish_period` (hello).
const PUBLISH_PERIOD: u64 = 2000 * MS;
/// `sentinel_ask_period`.
const ASK_PERIOD: u64 = 1000 * MS;
/// `sentinel_tilt_trigger`.
const TILT_TRIGGER: u64 = 2000 * MS;
/// `sentinel_tilt_period`.
const TILT_PERIOD: u64 = 30_000 * MS;
/// `sentinel_slave_reconf_timeout`.
const SLAVE_RECONF_TIMEOUT: u64 = 10_000 * MS;
/// `SENTINEL_MAX_DESYNC`.
const MAX_DESYNC: u64 = 1000 * MS;
/// `sentinel_election_timeout` (capped by failover-timeout).
const ELECTION_TIMEOUT: u64 = 10_000 * MS;
/// Request ids carry the monitor's slot above this bit.
const SLOT_SHIFT: u32 = 48;

/// `sentinel monitor` and the per-primary sentinel.conf knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelConfig {
    /// The primary's name (`mymaster`).
    pub name: String,
    /// The primary at start.
    pub master: ProcessId,
    /// `quorum`.
    pub quorum: u32,
    /// `down-after-milliseconds` (default 30000).
    pub down_after_ns: u64,
    /// `failover-timeout` (default 180000).
    pub failover_timeout_ns: u64,
    /// `parallel-syncs` (default 1).
    pub parallel_syncs: u32,
    /// Planted bug: promote the replica with the smallest offset.
    pub promote_lowest_offset: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reconf {
    None,
    Sent(SimTime),
    InProgress,
    Done,
}

#[derive(Clone, Debug)]
struct Instance {
    last_avail: SimTime,
    act_ping_time: Option<SimTime>,
    last_ping_sent: SimTime,
    last_info_sent: SimTime,
    last_hello_sent: SimTime,
    info: Option<InfoReply>,
    info_time: SimTime,
    role_reported_master: Option<bool>,
    role_reported_time: SimTime,
    sdown_since: Option<SimTime>,
    reconf: Reconf,
}

impl Instance {
    fn new(now: SimTime) -> Self {
        Instance {
            last_avail: now,
            act_ping_time: None,
            last_ping_sent: SimTime::ZERO,
            last_info_sent: SimTime::ZERO,
            last_hello_sent: SimTime::ZERO,
            info: None,
            info_time: SimTime::ZERO,
            role_reported_master: None,
            role_reported_time: now,
            sdown_since: None,
            reconf: Reconf::None,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Peer {
    down: bool,
    reply_time: Option<SimTime>,
    leader: Option<ProcessId>,
    leader_epoch: u64,
    last_ask: Option<SimTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

/// One Sentinel process.
#[derive(Clone, Debug)]
pub struct Sentinel {
    slot: u64,
    label: String,
    names: Rc<Vec<String>>,
    cfg: SentinelConfig,
    me: ProcessId,
    current_epoch: u64,
    master: ProcessId,
    config_epoch: u64,
    instances: BTreeMap<ProcessId, Instance>,
    peers: BTreeMap<ProcessId, Peer>,
    leader: Option<ProcessId>,
    leader_epoch: u64,
    odown_since: Option<SimTime>,
    state: FailoverState,
    failover_epoch: u64,
    failover_start: SimTime,
    state_change: SimTime,
    promoted: Option<ProcessId>,
    tilt_since: Option<SimTime>,
    last_tick: SimTime,
    next_id: u64,
    pending: BTreeMap<u64, ProcessId>,
    clients: BTreeSet<ProcessId>,
}

impl Sentinel {
    /// A sentinel named `label` monitoring `cfg.master`; `names` maps process ids to names.
    pub fn new(label: &str, cfg: SentinelConfig, names: Rc<Vec<String>>) -> Self {
        Sentinel {
            slot: 0,
            label: label.to_string(),
            names,
            master: cfg.master,
            cfg,
            me: ProcessId(0),
            current_epoch: 0,
            config_epoch: 0,
            instances: BTreeMap::new(),
            peers: BTreeMap::new(),
            leader: None,
            leader_epoch: 0,
            odown_since: None,
            state: FailoverState::None,
            failover_epoch: 0,
            failover_start: SimTime::ZERO,
            state_change: SimTime::ZERO,
            promoted: None,
            tilt_since: None,
            last_tick: SimTime::ZERO,
            next_id: 0,
            pending: BTreeMap::new(),
            clients: BTreeSet::new(),
        }
    }

    /// The primary this sentinel currently believes in.
    pub fn master(&self) -> ProcessId {
        self.master
    }
    /// The current epoch.
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }
    /// Votes cast: (epoch, for whom).
    pub fn vote(&self) -> Option<(u64, ProcessId)> {
        self.leader.map(|l| (self.leader_epoch, l))
    }

    fn name(&self, p: ProcessId) -> &str {
        self.names.get(p.index()).map_or("?", String::as_str)
    }

    fn event(&mut self, ctx: &mut Ctx<'_, Msg>, event: K, subject: S) {
        ctx.note(Fact::Sentinel {
            sentinel: self.label.clone(),
            event,
            subject,
        });
    }

    fn slave(&self, p: ProcessId) -> S {
        S::Slave {
            server: self.name(p).to_string(),
        }
    }

    fn instance(&self, p: ProcessId, is_master: bool) -> S {
        S::Instance {
            is_master,
            server: self.name(p).to_string(),
        }
    }

    fn master_subject(&self, p: ProcessId) -> S {
        S::Master {
            master: self.cfg.name.clone(),
            server: self.name(p).to_string(),
        }
    }

    fn tilted(&self) -> bool {
        self.tilt_since.is_some()
    }

    /// Starts monitoring (the [`SentinelProcess`] drives the timer).
    fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.me = ctx.me();
        let now = ctx.now();
        self.last_tick = now;
        self.instances.insert(self.master, Instance::new(now));
        let subject = S::Monitor {
            master: self.cfg.name.clone(),
            server: self.name(self.master).to_string(),
            quorum: self.cfg.quorum,
        };
        self.event(ctx, K::Monitor, subject);
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let now = ctx.now();
        if now < self.last_tick || now.since(self.last_tick) > TILT_TRIGGER {
            self.tilt_since = Some(now);
            self.event(ctx, K::Tilt, S::Tilt { entered: true });
        }
        self.last_tick = now;
        if let Some(t) = self.tilt_since
            && now.since(t) > TILT_PERIOD
        {
            self.tilt_since = None;
            self.event(ctx, K::TiltExit, S::Tilt { entered: false });
        }
        self.periodic(ctx, now);
        self.check_sdown(ctx, now);
        if self.tilted() {
            return;
        }
        self.check_odown(ctx, now);
        if self.start_failover_if_needed(ctx, now) {
            // SENTINEL_ASK_FORCED: ask for votes at once, not at the next ask period.
            self.ask_others(ctx, now, true);
        }
        self.failover_step(ctx, now);
        self.ask_others(ctx, now, false);
    }

    /// A request id: the monitor's slot in the top 16 bits routes the reply back to it.
    fn next_id(&mut self, to: ProcessId) -> u64 {
        self.next_id += 1;
        let id = (self.slot << SLOT_SHIFT) | self.next_id;
        self.pending.insert(id, to);
        id
    }

    fn periodic(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let fast_info = self.odown_since.is_some() || self.state != FailoverState::None;
        let ids: Vec<ProcessId> = self.instances.keys().copied().collect();
        for p in ids {
            let is_master = p == self.master;
            let inst = &self.instances[&p];
            let info_period = if !is_master && fast_info {
                PING_PERIOD
            } else {
                INFO_PERIOD
            };
            let send_info = now.since(inst.last_info_sent) >= info_period
                || inst.info.is_none() && now.since(inst.last_info_sent) >= PING_PERIOD;
            let send_ping =
                now.since(inst.last_ping_sent) >= PING_PERIOD.min(self.cfg.down_after_ns);
            let send_hello = now.since(inst.last_hello_sent) >= PUBLISH_PERIOD;
            if send_info {
                let id = self.next_id(p);
                ctx.send(p, Msg::Info { id });
                self.instances.get_mut(&p).expect("listed").last_info_sent = now;
            }
            if send_ping {
                let id = self.next_id(p);
                ctx.send(p, Msg::Ping { id });
                let inst = self.instances.get_mut(&p).expect("listed");
                inst.last_ping_sent = now;
                inst.act_ping_time.get_or_insert(now);
            }
            if send_hello {
                let hello = Rc::new(Hello {
                    sentinel: self.me,
                    name: Rc::from(self.cfg.name.as_str()),
                    current_epoch: self.current_epoch,
                    master: self.master,
                    config_epoch: self.config_epoch,
                });
                ctx.send(p, Msg::Hello(hello));
                self.instances.get_mut(&p).expect("listed").last_hello_sent = now;
            }
        }
        // Bound the table of outstanding requests: replies older than a minute never come.
        if self.pending.len() > 10_000 {
            let keep_from = (self.slot << SLOT_SHIFT) | self.next_id.saturating_sub(5_000);
            self.pending.retain(|id, _| *id >= keep_from);
        }
    }

    fn check_sdown(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let ids: Vec<ProcessId> = self.instances.keys().copied().collect();
        for p in ids {
            let is_master = p == self.master;
            let inst = &self.instances[&p];
            let elapsed = inst.act_ping_time.map_or(0, |t| now.since(t));
            let reports_replica = is_master
                && inst.role_reported_master == Some(false)
                && now.since(inst.role_reported_time) > self.cfg.down_after_ns + 2 * INFO_PERIOD;
            let down = elapsed > self.cfg.down_after_ns || reports_replica;
            match (down, inst.sdown_since.is_some()) {
                (true, false) => {
                    self.instances.get_mut(&p).expect("listed").sdown_since = Some(now);
                    let subject = self.instance(p, is_master);
                    self.event(ctx, K::Sdown, subject);
                }
                (false, true) => {
                    self.instances.get_mut(&p).expect("listed").sdown_since = None;
                    let subject = self.instance(p, is_master);
                    self.event(ctx, K::SdownExit, subject);
                }
                _ => {}
            }
        }
    }

    fn master_sdown(&self) -> bool {
        self.instances
            .get(&self.master)
            .is_some_and(|i| i.sdown_since.is_some())
    }

    fn check_odown(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let mut votes = 0;
        if self.master_sdown() {
            votes = 1 + self.peers.values().filter(|p| p.down).count() as u32;
        }
        let odown = votes >= self.cfg.quorum && self.master_sdown();
        match (odown, self.odown_since.is_some()) {
            (true, false) => {
                self.odown_since = Some(now);
                let subject = S::Quorum {
                    master: self.cfg.name.clone(),
                    server: self.name(self.master).to_string(),
                    votes,
                    quorum: self.cfg.quorum,
                };
                self.event(ctx, K::Odown, subject);
            }
            (false, true) => {
                self.odown_since = None;
                self.event(ctx, K::OdownExit, self.master_subject(self.master));
            }
            _ => {}
        }
    }

    fn start_failover_if_needed(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) -> bool {
        if self.odown_since.is_none() || self.state != FailoverState::None {
            return false;
        }
        if now.0 < self.failover_start.0 + 2 * self.cfg.failover_timeout_ns
            && self.failover_start != SimTime::ZERO
        {
            return false;
        }
        self.current_epoch += 1;
        self.failover_epoch = self.current_epoch;
        self.event(
            ctx,
            K::NewEpoch,
            S::NewEpoch {
                epoch: self.current_epoch,
            },
        );
        self.event(ctx, K::TryFailover, self.master_subject(self.master));
        self.state = FailoverState::WaitStart;
        let desync = ctx.rng().random_range(0..MAX_DESYNC);
        self.failover_start = now.plus(desync);
        self.state_change = now;
        true
    }

    fn abort(&mut self, ctx: &mut Ctx<'_, Msg>, why: K) {
        let subject = self.master_subject(self.master);
        self.event(ctx, why, subject);
        self.state = FailoverState::None;
        self.promoted = None;
        for i in self.instances.values_mut() {
            i.reconf = Reconf::None;
        }
    }

    /// `sentinelVoteLeader`: one vote per epoch, first come first served.
    fn vote_leader(&mut self, ctx: &mut Ctx<'_, Msg>, epoch: u64, candidate: ProcessId) {
        if epoch > self.current_epoch {
            self.current_epoch = epoch;
            self.event(ctx, K::NewEpoch, S::NewEpoch { epoch });
        }
        if self.leader_epoch < epoch && self.current_epoch <= epoch {
            self.leader = Some(candidate);
            self.leader_epoch = self.current_epoch;
            let subject = S::Vote {
                leader: self.name(candidate).to_string(),
                epoch: self.leader_epoch,
            };
            self.event(ctx, K::VoteForLeader, subject);
            if candidate != self.me {
                let desync = ctx.rng().random_range(0..MAX_DESYNC);
                self.failover_start = ctx.now().plus(desync);
            }
        }
    }

    /// `sentinelGetLeader`: the winner needs a majority of all known sentinels and the quorum.
    fn get_leader(&mut self, ctx: &mut Ctx<'_, Msg>, epoch: u64) -> Option<ProcessId> {
        let mut counts: BTreeMap<ProcessId, u32> = BTreeMap::new();
        for p in self.peers.values() {
            if let Some(l) = p.leader
                && p.leader_epoch == epoch
            {
                *counts.entry(l).or_default() += 1;
            }
        }
        let best = counts
            .iter()
            .max_by_key(|(p, c)| (**c, std::cmp::Reverse(**p)))
            .map(|(p, _)| *p);
        self.vote_leader(ctx, epoch, best.unwrap_or(self.me));
        if let Some(l) = self.leader
            && self.leader_epoch == epoch
        {
            *counts.entry(l).or_default() += 1;
        }
        let (winner, votes) = counts
            .iter()
            .max_by_key(|(p, c)| (**c, std::cmp::Reverse(**p)))
            .map(|(p, c)| (*p, *c))?;
        let voters = self.peers.len() as u32 + 1;
        (votes > voters / 2 && votes >= self.cfg.quorum).then_some(winner)
    }

    fn failover_step(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        match self.state {
            FailoverState::None => {}
            FailoverState::WaitStart => {
                let leader = self.get_leader(ctx, self.failover_epoch);
                if leader != Some(self.me) {
                    let timeout = ELECTION_TIMEOUT.min(self.cfg.failover_timeout_ns);
                    if now.0 > self.failover_start.0 + timeout {
                        self.abort(ctx, K::FailoverAbortNotElected);
                    }
                    return;
                }
                let subject = S::Epoch {
                    master: self.cfg.name.clone(),
                    server: self.name(self.master).to_string(),
                    epoch: self.failover_epoch,
                };
                self.event(ctx, K::ElectedLeader, subject);
                // One state per timer tick, as sentinelFailoverStateMachine does: the INFO sent
                // to the replicas this tick is answered before the selection looks at it.
                self.state = FailoverState::SelectSlave;
                self.state_change = now;
            }
            FailoverState::SelectSlave => match self.select_slave(now) {
                None => self.abort(ctx, K::FailoverAbortNoGoodSlave),
                Some(r) => {
                    self.event(ctx, K::SelectedSlave, self.slave(r));
                    self.promoted = Some(r);
                    self.state = FailoverState::SendSlaveofNoone;
                    self.state_change = now;
                }
            },
            FailoverState::SendSlaveofNoone => {
                let r = self.promoted.expect("selected");
                ctx.send(r, Msg::ReplicaOf { master: None });
                self.event(ctx, K::FailoverStateSendSlaveofNoone, self.slave(r));
                self.state = FailoverState::WaitPromotion;
                self.state_change = now;
            }
            FailoverState::WaitPromotion => {
                if now.since(self.state_change) > self.cfg.failover_timeout_ns {
                    self.abort(ctx, K::FailoverAbortSlaveTimeout);
                }
            }
            FailoverState::ReconfSlaves => self.reconf_next_slaves(ctx, now),
            FailoverState::UpdateConfig => self.switch_to_promoted(ctx, now),
        }
    }

    /// `sentinelSelectSlave`: drop replicas that are down, silent, stale, priority 0, or
    /// disconnected from the primary for too long; then lowest priority, highest offset,
    /// smallest run ID.
    fn select_slave(&self, now: SimTime) -> Option<ProcessId> {
        let master_down_ns = self
            .instances
            .get(&self.master)
            .and_then(|m| m.sdown_since)
            .map_or(0, |s| now.since(s));
        let max_link_down_ns = master_down_ns + self.cfg.down_after_ns * 10;
        let info_validity = if self.master_sdown() {
            PING_PERIOD * 5
        } else {
            INFO_PERIOD * 3
        };
        let mut candidates: Vec<(u32, std::cmp::Reverse<u64>, crate::redis::ReplId, ProcessId)> =
            Vec::new();
        for (&p, inst) in &self.instances {
            if p == self.master || inst.sdown_since.is_some() {
                continue;
            }
            if now.since(inst.last_avail) > PING_PERIOD * 5 {
                continue;
            }
            let Some(info) = &inst.info else { continue };
            if info.is_master || info.priority == 0 {
                continue;
            }
            if now.since(inst.info_time) > info_validity {
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

    fn reconf_next_slaves(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let promoted = self.promoted.expect("a promoted replica");
        let old_master = self.master;
        let targets: Vec<ProcessId> = self
            .instances
            .keys()
            .copied()
            .filter(|p| *p != promoted && *p != old_master)
            .collect();
        for &p in &targets {
            let inst = self.instances.get_mut(&p).expect("listed");
            if let Reconf::Sent(t) = inst.reconf
                && now.since(t) > SLAVE_RECONF_TIMEOUT
            {
                inst.reconf = Reconf::Done;
                self.event(ctx, K::SlaveReconfSentTimeout, self.slave(p));
            }
        }
        let in_progress = targets
            .iter()
            .filter(|p| {
                matches!(
                    self.instances[p].reconf,
                    Reconf::Sent(_) | Reconf::InProgress
                )
            })
            .count() as u32;
        let mut budget = self.cfg.parallel_syncs.saturating_sub(in_progress);
        let timed_out = now.since(self.state_change) > self.cfg.failover_timeout_ns;
        for &p in &targets {
            let inst = &self.instances[&p];
            if inst.reconf != Reconf::None || inst.sdown_since.is_some() {
                continue;
            }
            if budget == 0 && !timed_out {
                break;
            }
            ctx.send(
                p,
                Msg::ReplicaOf {
                    master: Some(promoted),
                },
            );
            self.instances.get_mut(&p).expect("listed").reconf = Reconf::Sent(now);
            self.event(ctx, K::SlaveReconfSent, self.slave(p));
            budget = budget.saturating_sub(1);
        }
        let all_done = targets.iter().all(|p| {
            let i = &self.instances[p];
            i.reconf == Reconf::Done || i.sdown_since.is_some()
        });
        if all_done || timed_out {
            if timed_out {
                let subject = S::MasterName {
                    master: self.cfg.name.clone(),
                };
                self.event(ctx, K::FailoverEndForTimeout, subject);
            }
            self.state = FailoverState::UpdateConfig;
            self.state_change = now;
        }
    }

    fn switch_to_promoted(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let promoted = self.promoted.expect("a promoted replica");
        let old = self.master;
        self.event(ctx, K::FailoverEnd, self.master_subject(old));
        self.state = FailoverState::None;
        self.promoted = None;
        self.switch_master(ctx, now, promoted);
    }

    /// `sentinelResetMasterAndChangeAddress`: the new primary, and every other known server
    /// (the old primary included) as its replicas.
    fn switch_master(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, new: ProcessId) {
        let old = self.master;
        let subject = S::Switch {
            master: self.cfg.name.clone(),
            from: self.name(old).to_string(),
            to: self.name(new).to_string(),
        };
        self.event(ctx, K::SwitchMaster, subject);
        self.master = new;
        self.odown_since = None;
        let ids: Vec<ProcessId> = self.instances.keys().copied().collect();
        for p in ids {
            let i = self.instances.get_mut(&p).expect("listed");
            i.reconf = Reconf::None;
            i.role_reported_time = now;
            i.sdown_since = None;
            i.act_ping_time = None;
            i.last_avail = now;
        }
        self.instances
            .entry(new)
            .or_insert_with(|| Instance::new(now));
        for p in self.peers.values_mut() {
            p.down = false;
        }
        for &c in &self.clients {
            let name = Rc::from(self.cfg.name.as_str());
            ctx.send(c, Msg::SwitchMaster { name, master: new });
        }
    }

    fn ask_others(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, force: bool) {
        let sdown = self.master_sdown();
        let ids: Vec<ProcessId> = self.peers.keys().copied().collect();
        for p in ids {
            let peer = self.peers.get_mut(&p).expect("listed");
            if peer
                .reply_time
                .is_some_and(|t| now.since(t) > ASK_PERIOD * 5)
            {
                peer.down = false;
                peer.leader = None;
                peer.reply_time = None;
            }
            if !sdown {
                continue;
            }
            if !force && peer.last_ask.is_some_and(|t| now.since(t) < ASK_PERIOD) {
                continue;
            }
            peer.last_ask = Some(now);
            let vote_for = (self.state != FailoverState::None).then_some(self.me);
            let epoch = self.current_epoch;
            let id = self.next_id(p);
            ctx.send(
                p,
                Msg::IsMasterDown {
                    name: Rc::from(self.cfg.name.as_str()),
                    id,
                    master: self.master,
                    epoch,
                    vote_for,
                },
            );
        }
    }

    /// Handles a message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        let now = ctx.now();
        match msg {
            Msg::Pong { id } => {
                if self.pending.remove(&id) == Some(from)
                    && let Some(i) = self.instances.get_mut(&from)
                {
                    i.last_avail = now;
                    i.act_ping_time = None;
                }
            }
            Msg::InfoReply { id, info } if self.pending.get(&id) == Some(&from) => {
                self.pending.remove(&id);
                self.on_info(ctx, now, from, *info);
            }
            Msg::Hello(h) => self.on_hello(ctx, now, &h),
            Msg::IsMasterDown {
                id,
                master,
                epoch,
                vote_for,
                ..
            } => {
                self.peers.entry(from).or_default();
                let down = !self.tilted() && master == self.master && self.master_sdown();
                if let Some(c) = vote_for
                    && !self.tilted()
                    && master == self.master
                {
                    self.vote_leader(ctx, epoch, c);
                }
                ctx.send(
                    from,
                    Msg::IsMasterDownReply {
                        id,
                        down,
                        leader: self.leader,
                        leader_epoch: self.leader_epoch,
                    },
                );
            }
            Msg::IsMasterDownReply {
                id,
                down,
                leader,
                leader_epoch,
            } if self.pending.get(&id) == Some(&from) => {
                self.pending.remove(&id);
                let p = self.peers.entry(from).or_default();
                p.down = down;
                p.reply_time = Some(now);
                if leader.is_some() {
                    p.leader = leader;
                    p.leader_epoch = leader_epoch;
                }
            }
            Msg::GetMasterAddr { id, .. } => {
                self.clients.insert(from);
                ctx.send(
                    from,
                    Msg::MasterAddr {
                        id,
                        master: Some(self.master),
                    },
                );
            }
            _ => {}
        }
    }

    fn on_hello(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, h: &Hello) {
        if h.sentinel == self.me {
            return;
        }
        if let std::collections::btree_map::Entry::Vacant(e) = self.peers.entry(h.sentinel) {
            e.insert(Peer::default());
            self.event(
                ctx,
                K::Sentinel,
                S::Sentinel {
                    name: self.name(h.sentinel).to_string(),
                },
            );
        }
        if h.current_epoch > self.current_epoch {
            self.current_epoch = h.current_epoch;
            self.event(
                ctx,
                K::NewEpoch,
                S::NewEpoch {
                    epoch: h.current_epoch,
                },
            );
        }
        if h.config_epoch > self.config_epoch && h.master != self.master {
            self.event(
                ctx,
                K::ConfigUpdateFrom,
                S::Sentinel {
                    name: self.name(h.sentinel).to_string(),
                },
            );
            self.config_epoch = h.config_epoch;
            if self.state != FailoverState::None {
                self.state = FailoverState::None;
                self.promoted = None;
            }
            self.switch_master(ctx, now, h.master);
        }
    }

    fn on_info(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, from: ProcessId, info: InfoReply) {
        let Some(inst) = self.instances.get_mut(&from) else {
            return;
        };
        inst.last_avail = now;
        if inst.role_reported_master != Some(info.is_master) {
            inst.role_reported_master = Some(info.is_master);
            inst.role_reported_time = now;
        }
        inst.info_time = now;
        let reports_master = info.is_master;
        let its_master = info.master;
        let link_up = info.master_link_up;
        let replicas = info.replicas.clone();
        inst.info = Some(info);
        if from == self.master && reports_master {
            for (r, _) in replicas {
                if let std::collections::btree_map::Entry::Vacant(e) = self.instances.entry(r) {
                    e.insert(Instance::new(now));
                    self.event(ctx, K::Slave, self.slave(r));
                }
            }
        }
        if from != self.master {
            self.on_replica_info(ctx, now, from, reports_master, its_master, link_up);
        }
    }

    fn on_replica_info(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        now: SimTime,
        from: ProcessId,
        reports_master: bool,
        its_master: Option<ProcessId>,
        link_up: bool,
    ) {
        if reports_master {
            if self.state == FailoverState::WaitPromotion && self.promoted == Some(from) {
                self.config_epoch = self.failover_epoch;
                self.event(ctx, K::PromotedSlave, self.slave(from));
                self.event(
                    ctx,
                    K::FailoverStateReconfSlaves,
                    self.master_subject(self.master),
                );
                self.state = FailoverState::ReconfSlaves;
                self.state_change = now;
                return;
            }
            // A replica in our view turned primary (the old primary came back): once it has
            // reported so for a while and our primary looks sane, demote it.
            let wait = PUBLISH_PERIOD * 4;
            let inst = &self.instances[&from];
            if self.state == FailoverState::None
                && self.master_looks_sane(now)
                && inst.sdown_since.is_none()
                && now.since(inst.role_reported_time) > wait
            {
                self.repoint(ctx, now, from, K::ConvertToSlave);
            }
            return;
        }
        if self.state == FailoverState::ReconfSlaves && its_master == self.promoted {
            let inst = self.instances.get_mut(&from).expect("listed");
            match inst.reconf {
                Reconf::Sent(_) => {
                    inst.reconf = Reconf::InProgress;
                    self.event(ctx, K::SlaveReconfInprog, self.slave(from));
                }
                Reconf::InProgress if link_up => {
                    inst.reconf = Reconf::Done;
                    self.event(ctx, K::SlaveReconfDone, self.slave(from));
                }
                _ => {}
            }
            return;
        }
        if self.state == FailoverState::None
            && its_master.is_some()
            && its_master != Some(self.master)
            && self.master_looks_sane(now)
            && now.since(self.instances[&from].role_reported_time) > self.cfg.failover_timeout_ns
        {
            self.repoint(ctx, now, from, K::FixSlaveConfig);
        }
    }

    /// Sends `REPLICAOF <our primary>` to a server whose role disagrees with our configuration.
    fn repoint(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, server: ProcessId, kind: K) {
        let master = self.master;
        ctx.send(
            server,
            Msg::ReplicaOf {
                master: Some(master),
            },
        );
        self.instances
            .get_mut(&server)
            .expect("listed")
            .role_reported_time = now;
        let subject = self.slave(server);
        self.event(ctx, kind, subject);
    }

    fn master_looks_sane(&self, now: SimTime) -> bool {
        self.instances.get(&self.master).is_some_and(|m| {
            m.sdown_since.is_none()
                && m.info.as_ref().is_some_and(|i| i.is_master)
                && now.since(m.info_time) < INFO_PERIOD * 2
        })
    }
}

/// A Sentinel process: one monitor (a [`Sentinel`] state machine) per primary it watches, driven
/// by one timer, with replies routed back to the monitor that asked.
#[derive(Clone, Debug)]
pub struct SentinelProcess {
    monitors: Vec<Sentinel>,
}

impl SentinelProcess {
    /// A process named `label` watching each of `configs` (`sentinel monitor` lines).
    pub fn new(label: &str, configs: Vec<SentinelConfig>, names: Rc<Vec<String>>) -> Self {
        let monitors = configs
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut s = Sentinel::new(label, c, names.clone());
                s.slot = i as u64;
                s
            })
            .collect();
        SentinelProcess { monitors }
    }

    /// The monitors, one per watched primary.
    pub fn monitors(&self) -> &[Sentinel] {
        &self.monitors
    }

    fn by_name(&mut self, name: &str) -> Option<&mut Sentinel> {
        self.monitors.iter_mut().find(|m| m.cfg.name == name)
    }

    fn schedule_tick(ctx: &mut Ctx<'_, Msg>) {
        // sentinelTimer runs at 10 + rand()%10 Hz, re-rolled every tick, to desynchronise.
        let hz = 10 + ctx.rng().random_range(0..10u64);
        ctx.set_timer(SimTime::NANOS_PER_SEC / hz, 0);
    }

    /// Starts every monitor and the timer.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        for m in &mut self.monitors {
            m.start(ctx);
        }
        Self::schedule_tick(ctx);
    }

    /// The periodic timer: every monitor ticks.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, _tag: u64) {
        for m in &mut self.monitors {
            m.tick(ctx);
        }
        Self::schedule_tick(ctx);
    }

    /// Routes a message to the monitor it concerns.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        let slot = |id: u64| (id >> SLOT_SHIFT) as usize;
        let target = match &msg {
            Msg::Pong { id } | Msg::InfoReply { id, .. } | Msg::IsMasterDownReply { id, .. } => {
                self.monitors.get_mut(slot(*id))
            }
            Msg::Hello(h) => {
                let name = h.name.clone();
                self.by_name(&name)
            }
            Msg::IsMasterDown { name, .. } => {
                let name = name.clone();
                self.by_name(&name)
            }
            Msg::GetMasterAddr { id, name } => {
                let (id, name) = (*id, name.clone());
                if self.by_name(&name).is_none() {
                    // `SENTINEL get-master-addr-by-name` of an unknown name replies nil.
                    ctx.send(from, Msg::MasterAddr { id, master: None });
                    return;
                }
                self.by_name(&name)
            }
            _ => None,
        };
        if let Some(m) = target {
            m.on_message(ctx, from, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::ReplId;

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
            promote_lowest_offset: false,
        };
        let mut s = Sentinel::new("s", cfg, Rc::new(vec![]));
        let now = SimTime::from_secs(100);
        s.instances.insert(ProcessId(0), Instance::new(now));
        for (p, i) in replicas {
            let mut inst = Instance::new(now);
            inst.info = Some(i.clone());
            inst.info_time = now;
            s.instances.insert(ProcessId(*p), inst);
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

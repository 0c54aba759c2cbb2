//! The watched servers: the primary and its replicas as this sentinel sees them, PING/INFO/hello
//! pacing (`sentinelSendPeriodicCommands`), SDOWN and ODOWN, what INFO replies teach, and the
//! role fixes (`+convert-to-slave`, `+fix-slave-config`) outside a failover.

use std::collections::BTreeMap;

use super::{MS, Sentinel};
use crate::fact::{EventSubject as S, SentinelEventKind as K};
use crate::proto::{InfoReply, Msg};
use crate::sim::{Ctx, ProcessId, ProcessIds, SimTime};

/// `SENTINEL_PING_PERIOD`.
pub(super) const PING_PERIOD: u64 = 1000 * MS;
/// `sentinel_info_period`.
pub(super) const INFO_PERIOD: u64 = 10_000 * MS;
/// `sentinel_publish_period` (hello).
pub(super) const PUBLISH_PERIOD: u64 = 2000 * MS;

/// One watched server.
#[derive(Clone, Debug)]
pub(super) struct Instance {
    pub last_avail: SimTime,
    /// When the oldest unanswered PING was sent.
    pub act_ping_time: Option<SimTime>,
    pub last_ping_sent: SimTime,
    pub last_info_sent: Option<SimTime>,
    pub last_hello_sent: SimTime,
    pub info: Option<InfoReply>,
    /// When the last INFO reply came (`info_refresh`); meaningful once `info` is set.
    pub info_time: SimTime,
    /// The role it last reported (`role_reported`): `true` for a primary.
    pub role_reported_master: bool,
    pub role_reported_time: SimTime,
    /// When the primary it reports last changed, or it turned replica
    /// (`slave_conf_change_time`).
    pub conf_change_time: SimTime,
    /// Set while SDOWN, from when.
    pub sdown_since: Option<SimTime>,
    /// When it last went SDOWN (`s_down_since_time`, kept after `-sdown`).
    pub last_sdown: Option<SimTime>,
    /// When a reboot of the primary was seen (`SRI_MASTER_REBOOT`); cleared by a PONG.
    pub reboot_since: Option<SimTime>,
}

impl Instance {
    // sentinel.c: createSentinelRedisInstance, createInstanceLink
    /// A new instance: its role is the one it is watched as, and a new link counts as a PING
    /// awaiting its reply.
    fn new(now: SimTime, is_master: bool) -> Self {
        Instance {
            last_avail: now,
            act_ping_time: Some(now),
            last_ping_sent: SimTime::ZERO,
            last_info_sent: None,
            last_hello_sent: SimTime::ZERO,
            info: None,
            info_time: SimTime::ZERO,
            role_reported_master: is_master,
            role_reported_time: now,
            conf_change_time: now,
            sdown_since: None,
            last_sdown: None,
            reboot_since: None,
        }
    }

    // sentinel.c: sentinelRedisInstanceNoDownFor
    /// Whether it did not go SDOWN within the last `ns`.
    pub fn no_down_for(&self, now: SimTime, ns: u64) -> bool {
        self.last_sdown.is_none_or(|t| now.since(t) > ns)
    }
}

/// What to send one instance this tick.
#[derive(Clone, Copy, Debug)]
struct Due {
    info: bool,
    ping: bool,
    hello: bool,
}

/// The primary and its replicas. Invariants: once started, `master` is in `instances`;
/// `odown_since` is set only while the primary is SDOWN.
#[derive(Clone, Debug)]
pub(super) struct Monitor {
    pub master: ProcessId,
    /// The configuration epoch of `master` (`master->config_epoch`).
    pub config_epoch: u64,
    pub instances: BTreeMap<ProcessId, Instance>,
    pub odown_since: Option<SimTime>,
}

impl Monitor {
    pub fn new(master: ProcessId) -> Self {
        Monitor {
            master,
            config_epoch: 0,
            instances: BTreeMap::new(),
            odown_since: None,
        }
    }

    /// Starts watching `p`; true when it was new.
    pub fn add(&mut self, p: ProcessId, now: SimTime) -> bool {
        if self.instances.contains_key(&p) {
            return false;
        }
        self.instances
            .insert(p, Instance::new(now, p == self.master));
        true
    }

    pub fn ids(&self) -> ProcessIds {
        self.instances.keys().copied().collect()
    }

    pub fn get(&self, p: ProcessId) -> &Instance {
        &self.instances[&p]
    }

    pub fn get_mut(&mut self, p: ProcessId) -> &mut Instance {
        self.instances.get_mut(&p).expect("a watched server")
    }

    pub fn on_pong(&mut self, from: ProcessId, now: SimTime) {
        if let Some(i) = self.instances.get_mut(&from) {
            i.last_avail = now;
            i.act_ping_time = None;
            // sentinel.c: sentinelPingReplyCallback clears SRI_MASTER_REBOOT on a PONG.
            i.reboot_since = None;
        }
    }

    /// Makes a hello due to every instance at the next tick.
    pub fn force_hello(&mut self) {
        for i in self.instances.values_mut() {
            i.last_hello_sent = SimTime::ZERO;
        }
    }

    pub fn master_sdown(&self) -> bool {
        self.instances
            .get(&self.master)
            .is_some_and(|i| i.sdown_since.is_some())
    }

    /// `sentinelRedisInstanceLooksSane` on the primary: up, says it is a primary, fresh INFO.
    pub fn master_looks_sane(&self, now: SimTime) -> bool {
        self.instances.get(&self.master).is_some_and(|m| {
            m.sdown_since.is_none()
                && m.info.as_ref().is_some_and(|i| i.is_master)
                && now.since(m.info_time) < INFO_PERIOD * 2
        })
    }

    // sentinel.c: sentinelResetMasterAndChangeAddress, sentinelResetMaster
    /// The switch's side here: `new` is the primary and every instance is created afresh,
    /// the old primary as a replica; returns the replicas, in order.
    pub fn switch_to(&mut self, new: ProcessId, now: SimTime) -> Vec<ProcessId> {
        let old = self.ids();
        self.master = new;
        self.reset(now);
        let replicas: Vec<ProcessId> = old.into_iter().filter(|p| *p != new).collect();
        for &p in &replicas {
            self.add(p, now);
        }
        replicas
    }

    // sentinel.c: sentinelResetMaster
    /// Forgets every replica; the primary is created afresh.
    pub fn reset(&mut self, now: SimTime) {
        self.odown_since = None;
        self.instances.clear();
        self.add(self.master, now);
    }

    // sentinel.c: sentinelSendPeriodicCommands
    /// INFO goes `info_period` after the last *reply* (1 s for a replica while the primary is
    /// ODOWN or failing over, or while it reports its link down). An unanswered INFO is sent
    /// again at most every `PING_PERIOD`, where Redis would queue one per tick on a silent link.
    fn due(&self, p: ProcessId, now: SimTime, fast_info: bool, down_after_ns: u64) -> Due {
        let inst = &self.instances[&p];
        let link_down = inst
            .info
            .as_ref()
            .is_some_and(|i| i.master_link_down_secs != 0);
        let info_period = if p != self.master && (fast_info || link_down) {
            PING_PERIOD
        } else {
            INFO_PERIOD
        };
        let stale = inst.info.is_none() || now.since(inst.info_time) > info_period;
        let info = stale
            && inst
                .last_info_sent
                .is_none_or(|t| now.since(t) >= PING_PERIOD);
        Due {
            info,
            ping: now.since(inst.last_ping_sent) >= PING_PERIOD.min(down_after_ns),
            hello: now.since(inst.last_hello_sent) >= PUBLISH_PERIOD,
        }
    }
}

impl Sentinel {
    // sentinel.c: sentinelSendPeriodicCommands, sentinelSendHello
    pub(super) fn periodic(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let fast_info = self.monitor.odown_since.is_some() || self.failover.in_progress();
        for p in self.monitor.ids() {
            let due = self.monitor.due(p, now, fast_info, self.cfg.down_after_ns);
            if due.info {
                let id = self.requests.open(p);
                ctx.send(p, Msg::Info { id });
                self.monitor.get_mut(p).last_info_sent = Some(now);
            }
            if due.ping {
                let id = self.requests.open(p);
                ctx.send(p, Msg::Ping { id });
                let inst = self.monitor.get_mut(p);
                inst.last_ping_sent = now;
                inst.act_ping_time.get_or_insert(now);
            }
            if due.hello {
                ctx.send(p, Msg::Hello(self.hello()));
                self.monitor.get_mut(p).last_hello_sent = now;
            }
        }
        self.ping_peers(ctx, now);
        self.requests.trim();
    }

    // sentinel.c: sentinelSendPeriodicCommands ("Send PING to all the three kinds of
    // instances")
    fn ping_peers(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let period = PING_PERIOD.min(self.cfg.down_after_ns);
        for p in self.peers.ids() {
            let peer = self.peers.get_mut(p);
            if peer.last_ping_sent.is_some_and(|t| now.since(t) < period) {
                continue;
            }
            peer.last_ping_sent = Some(now);
            peer.act_ping_time.get_or_insert(now);
            let id = self.requests.open(p);
            ctx.send(p, Msg::Ping { id });
        }
    }

    // sentinel.c: sentinelCheckSubjectivelyDown, for the other sentinels
    fn check_peers_sdown(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        for p in self.peers.ids() {
            let peer = self.peers.get_mut(p);
            let down = peer
                .act_ping_time
                .is_some_and(|t| now.since(t) > self.cfg.down_after_ns);
            if down == peer.sdown {
                continue;
            }
            peer.sdown = down;
            let name = self.name(p).to_string();
            let kind = if down { K::Sdown } else { K::SdownExit };
            self.event(ctx, kind, S::Sentinel { name });
        }
    }

    // sentinel.c: sentinelCheckSubjectivelyDown
    pub(super) fn check_sdown(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        for p in self.monitor.ids() {
            let is_master = p == self.monitor.master;
            let inst = self.monitor.get(p);
            let elapsed = inst.act_ping_time.map_or(0, |t| now.since(t));
            let reports_replica = is_master
                && !inst.role_reported_master
                && now.since(inst.role_reported_time) > self.cfg.down_after_ns + 2 * INFO_PERIOD;
            let reboot = self.cfg.master_reboot_down_after_ns;
            let rebooted = is_master && inst.reboot_since.is_some_and(|t| now.since(t) > reboot);
            let down = elapsed > self.cfg.down_after_ns || reports_replica || rebooted;
            let was_down = inst.sdown_since.is_some();
            if down == was_down {
                continue;
            }
            let inst = self.monitor.get_mut(p);
            inst.sdown_since = down.then_some(now);
            if down {
                inst.last_sdown = Some(now);
            }
            let server = self.name(p).to_string();
            let subject = S::Instance { is_master, server };
            self.event(ctx, if down { K::Sdown } else { K::SdownExit }, subject);
        }
        self.check_peers_sdown(ctx, now);
    }

    // sentinel.c: sentinelCheckObjectivelyDown
    pub(super) fn check_odown(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let sdown = self.monitor.master_sdown();
        let votes = if sdown {
            1 + self.peers.down_count()
        } else {
            0
        };
        let odown = votes >= self.cfg.quorum && sdown;
        match (odown, self.monitor.odown_since.is_some()) {
            (true, false) => {
                self.monitor.odown_since = Some(now);
                let subject = S::Quorum {
                    master: self.cfg.name.clone(),
                    server: self.name(self.monitor.master).to_string(),
                    votes,
                    quorum: self.cfg.quorum,
                };
                self.event(ctx, K::Odown, subject);
            }
            (false, true) => {
                self.monitor.odown_since = None;
                let subject = self.master_subject(self.monitor.master);
                self.event(ctx, K::OdownExit, subject);
            }
            _ => {}
        }
    }

    // sentinel.c: sentinelRefreshInstanceInfo
    pub(super) fn on_info(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        now: SimTime,
        from: ProcessId,
        info: InfoReply,
    ) {
        let Some(inst) = self.monitor.instances.get_mut(&from) else {
            return;
        };
        inst.last_avail = now;
        let rebooted = inst.info.as_ref().is_some_and(|i| i.run_id != info.run_id);
        let reported_master_changed = inst.info.as_ref().is_none_or(|i| i.master != info.master);
        if !info.is_master && reported_master_changed {
            inst.conf_change_time = now;
        }
        if inst.role_reported_master != info.is_master {
            inst.role_reported_master = info.is_master;
            inst.role_reported_time = now;
            if !info.is_master {
                inst.conf_change_time = now;
            }
        }
        inst.info_time = now;
        let (reports_master, its_master, link_up) =
            (info.is_master, info.master, info.master_link_up);
        let replicas: Vec<ProcessId> = info.replicas.iter().map(|(r, _)| *r).collect();
        inst.info = Some(info);
        if rebooted {
            self.on_reboot(ctx, now, from);
        }
        if from == self.monitor.master && reports_master {
            for r in replicas {
                if self.monitor.add(r, now) {
                    self.event(ctx, K::Slave, self.slave(r));
                }
            }
        }
        // None of what follows is done in TILT (the acting half of sentinelRefreshInstanceInfo).
        if from == self.monitor.master || self.tilted() {
            return;
        }
        if reports_master {
            if !self.observe_promotion(ctx, now, from) {
                self.maybe_convert_to_slave(ctx, now, from);
            }
            return;
        }
        if !self.observe_reconf(ctx, from, its_master, link_up) {
            self.maybe_fix_slave_config(ctx, now, from, its_master);
        }
    }

    // sentinel.c: sentinelRefreshInstanceInfo (a new run_id: +reboot)
    fn on_reboot(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, from: ProcessId) {
        let is_master = from == self.monitor.master;
        if is_master && self.cfg.master_reboot_down_after_ns != 0 {
            self.monitor.get_mut(from).reboot_since = Some(now);
        }
        let server = self.name(from).to_string();
        self.event(ctx, K::Reboot, S::Instance { is_master, server });
    }

    /// A replica in our view turned primary (the old primary came back): once it has
    /// reported so for a while and our primary looks sane, demote it.
    fn maybe_convert_to_slave(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, from: ProcessId) {
        let inst = self.monitor.get(from);
        if !self.failover.in_progress()
            && self.monitor.master_looks_sane(now)
            && inst.no_down_for(now, PUBLISH_PERIOD * 4)
            && now.since(inst.role_reported_time) > PUBLISH_PERIOD * 4
        {
            self.repoint(ctx, now, from, K::ConvertToSlave);
        }
    }

    /// A replica following another primary than ours, unchanged for failover-timeout, and
    /// not SDOWN within that time.
    fn maybe_fix_slave_config(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        now: SimTime,
        from: ProcessId,
        its_master: Option<ProcessId>,
    ) {
        let wait = self.cfg.failover_timeout_ns;
        let inst = self.monitor.get(from);
        if !self.failover.in_progress()
            && its_master.is_some()
            && its_master != Some(self.monitor.master)
            && self.monitor.master_looks_sane(now)
            && inst.no_down_for(now, wait)
            && now.since(inst.conf_change_time) > wait
        {
            self.repoint(ctx, now, from, K::FixSlaveConfig);
        }
    }

    /// Sends `REPLICAOF <our primary>` to a server whose role disagrees with our configuration.
    fn repoint(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, server: ProcessId, kind: K) {
        let master = Some(self.monitor.master);
        ctx.send(server, Msg::ReplicaOf { master });
        self.monitor.get_mut(server).role_reported_time = now;
        let subject = self.slave(server);
        self.event(ctx, kind, subject);
    }
}

//! Redis Sentinel as a state machine: monitoring (PING every second, INFO every 10 s, hellos
//! every 2 s through the monitored servers), SDOWN and ODOWN by quorum, epochs and leader
//! election (one vote per epoch), replica selection in Redis's order, promotion, reconfiguration
//! of the other replicas (`parallel-syncs`), conversion of a returning old primary, failover
//! timeout and retry, and TILT mode. Follows src/sentinel.c; simplifications are listed in
//! docs/fidelity.md.
//!
//! A [`Sentinel`] is one `sentinel monitor` line, split into parts with their own invariants:
//! [`monitor`] (the watched servers, SDOWN/ODOWN, INFO/PING/hello pacing, role fixes),
//! [`peers`] (the other sentinels' answers), [`election`] (epochs and votes) and [`failover`]
//! (the failover state machine). [`process`] runs several of them in one sentinel process.

mod election;
mod failover;
mod monitor;
mod peers;
mod process;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use crate::fact::{EventSubject as S, Fact, SentinelEventKind as K};
use crate::proto::{Hello, Msg};
use crate::sim::{Ctx, ProcessId, SimTime};

use election::Election;
use failover::Failover;
use monitor::Monitor;
use peers::Peers;

pub use election::Vote;
pub use process::SentinelProcess;

const MS: u64 = SimTime::NANOS_PER_MS;
/// `sentinel_tilt_trigger`.
const TILT_TRIGGER: u64 = 2000 * MS;
/// `sentinel_tilt_period`.
const TILT_PERIOD: u64 = 30_000 * MS;
/// Request ids carry the monitor's slot above this bit.
const SLOT_SHIFT: u32 = 48;
/// Outstanding requests kept before the oldest are dropped (their replies never come).
const MAX_PENDING: usize = 10_000;

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
    /// `master-reboot-down-after-period` (default 0: off): a primary seen rebooting is SDOWN
    /// if it does not answer a PING within this time.
    pub master_reboot_down_after_ns: u64,
    /// Planted bug: promote the replica with the smallest offset.
    pub promote_lowest_offset: bool,
}

/// TILT mode (`sentinelCheckTiltCondition`). Invariant: `last_tick` never passes the clock.
#[derive(Clone, Debug, Default)]
struct Tilt {
    since: Option<SimTime>,
    last_tick: SimTime,
}

/// Requests awaiting a reply, by id. Invariant: at most `MAX_PENDING` entries.
#[derive(Clone, Debug, Default)]
struct Requests {
    slot: u64,
    next_id: u64,
    pending: BTreeMap<u64, ProcessId>,
}

impl Requests {
    /// A request id: the monitor's slot in the top 16 bits routes the reply back to it.
    fn open(&mut self, to: ProcessId) -> u64 {
        self.next_id += 1;
        let id = (self.slot << SLOT_SHIFT) | self.next_id;
        self.pending.insert(id, to);
        id
    }

    fn is_from(&self, id: u64, from: ProcessId) -> bool {
        self.pending.get(&id) == Some(&from)
    }

    fn close(&mut self, id: u64) -> Option<ProcessId> {
        self.pending.remove(&id)
    }

    /// Drops the requests sent to `targets` (their replies will be ignored).
    fn forget(&mut self, targets: &[ProcessId]) {
        self.pending.retain(|_, to| !targets.contains(to));
    }

    /// Bounds the table: replies to the oldest requests never come.
    fn trim(&mut self) {
        if self.pending.len() > MAX_PENDING {
            let keep_from = (self.slot << SLOT_SHIFT) | self.next_id.saturating_sub(5_000);
            self.pending.retain(|id, _| *id >= keep_from);
        }
    }
}

/// One `sentinel monitor`: a sentinel's view of one primary and its replicas.
#[derive(Clone, Debug)]
pub struct Sentinel {
    label: String,
    names: Rc<Vec<String>>,
    cfg: SentinelConfig,
    me: ProcessId,
    monitor: Monitor,
    peers: Peers,
    election: Election,
    failover: Failover,
    tilt: Tilt,
    requests: Requests,
    clients: BTreeSet<ProcessId>,
}

impl Sentinel {
    /// A sentinel named `label` monitoring `cfg.master`; `names` maps process ids to names.
    pub fn new(label: &str, cfg: SentinelConfig, names: Rc<Vec<String>>) -> Self {
        Sentinel {
            label: label.to_string(),
            names,
            monitor: Monitor::new(cfg.master),
            cfg,
            me: ProcessId(0),
            peers: Peers::default(),
            election: Election::default(),
            failover: Failover::default(),
            tilt: Tilt::default(),
            requests: Requests::default(),
            clients: BTreeSet::new(),
        }
    }

    /// The primary this sentinel currently believes in.
    pub fn master(&self) -> ProcessId {
        self.monitor.master
    }
    /// The name the primary is watched under (`sentinel monitor <name> ...`).
    pub fn master_name(&self) -> &str {
        &self.cfg.name
    }
    /// The current epoch.
    pub fn current_epoch(&self) -> u64 {
        self.election.current_epoch()
    }
    /// The last vote cast.
    pub fn vote(&self) -> Option<Vote> {
        self.election.vote()
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

    fn master_subject(&self, p: ProcessId) -> S {
        S::Master {
            master: self.cfg.name.clone(),
            server: self.name(p).to_string(),
        }
    }

    fn tilted(&self) -> bool {
        self.tilt.since.is_some()
    }

    /// Starts monitoring (the [`SentinelProcess`] drives the timer).
    fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.me = ctx.me();
        let now = ctx.now();
        self.tilt.last_tick = now;
        self.monitor.add(self.monitor.master, now);
        let subject = S::Monitor {
            master: self.cfg.name.clone(),
            server: self.name(self.monitor.master).to_string(),
            quorum: self.cfg.quorum,
        };
        self.event(ctx, K::Monitor, subject);
    }

    // sentinel.c: sentinelCheckTiltCondition
    fn check_tilt(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let last = self.tilt.last_tick;
        if now < last || now.since(last) > TILT_TRIGGER {
            self.tilt.since = Some(now);
            self.event(ctx, K::Tilt, S::Tilt { entered: true });
        }
        self.tilt.last_tick = now;
    }

    // sentinel.c: sentinelHandleRedisInstance
    /// Whether TILT still holds: it ends `TILT_PERIOD` after it began (`-tilt`).
    fn still_tilted(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) -> bool {
        let Some(t) = self.tilt.since else {
            return false;
        };
        if now.since(t) < TILT_PERIOD {
            return true;
        }
        self.tilt.since = None;
        self.event(ctx, K::TiltExit, S::Tilt { entered: false });
        false
    }

    // sentinel.c: sentinelHandleRedisInstance
    /// Monitoring always; the acting half (SDOWN, ODOWN, failover) only out of TILT.
    fn tick(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let now = ctx.now();
        self.check_tilt(ctx, now);
        self.periodic(ctx, now);
        if self.still_tilted(ctx, now) {
            return;
        }
        self.check_sdown(ctx, now);
        self.check_odown(ctx, now);
        if self.start_failover_if_needed(ctx, now) {
            // SENTINEL_ASK_FORCED: ask for votes at once, not at the next ask period.
            self.ask_others(ctx, now, true);
        }
        self.failover_step(ctx, now);
        self.ask_others(ctx, now, false);
        self.switch_to_promoted_if_done(ctx, now);
    }

    /// Handles a message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        let now = ctx.now();
        match msg {
            Msg::Pong { id, refused } if self.requests.is_from(id, from) => {
                self.requests.close(id);
                // sentinel.c: sentinelPingReplyCallback: only PONG, LOADING and MASTERDOWN
                // make an instance available; any other error (a -MISCONF) leaves it pending.
                if refused {
                    return;
                }
                if self.peers.knows(from) {
                    self.peers.on_pong(from);
                } else {
                    self.monitor.on_pong(from, now);
                }
            }
            Msg::InfoReply { id, info } if self.requests.is_from(id, from) => {
                self.requests.close(id);
                self.on_info(ctx, now, from, *info);
            }
            Msg::Hello(h) => self.on_hello(ctx, now, &h),
            Msg::IsMasterDown {
                id,
                master,
                epoch,
                vote_for,
                ..
            } => self.on_is_master_down(ctx, from, id, master, epoch, vote_for),
            Msg::IsMasterDownReply {
                id,
                down,
                leader,
                leader_epoch,
            } if self.requests.is_from(id, from) => {
                self.requests.close(id);
                let vote = leader.map(|leader| Vote {
                    leader,
                    epoch: leader_epoch,
                });
                self.peers.on_reply(from, now, down, vote);
            }
            Msg::Subscribe { .. } => {
                self.clients.insert(from);
            }
            Msg::GetMasterAddr { id, subscribe, .. } => {
                if subscribe {
                    self.clients.insert(from);
                }
                let master = Some(self.current_master());
                ctx.send(from, Msg::MasterAddr { id, master });
            }
            _ => {}
        }
    }

    // sentinel.c: sentinelProcessHelloMessage
    fn on_hello(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, h: &Hello) {
        if h.sentinel == self.me {
            return;
        }
        if self.peers.learn(h.sentinel) {
            let name = self.name(h.sentinel).to_string();
            self.event(ctx, K::Sentinel, S::Sentinel { name });
        }
        if self.election.observe_epoch(h.current_epoch) {
            let epoch = h.current_epoch;
            self.event(ctx, K::NewEpoch, S::NewEpoch { epoch });
        }
        if h.config_epoch > self.monitor.config_epoch && h.master != self.monitor.master {
            let name = self.name(h.sentinel).to_string();
            self.event(ctx, K::ConfigUpdateFrom, S::Sentinel { name });
            self.monitor.config_epoch = h.config_epoch;
            self.failover.cancel();
            self.switch_master(ctx, now, h.master);
        }
    }

    // sentinel.c: sentinelGetCurrentMasterAddress
    /// The primary to advertise: the promoted replica once the failover reached
    /// RECONF_SLAVES (its configuration epoch is then the failover's), else the primary.
    fn current_master(&self) -> ProcessId {
        self.failover.advertised().unwrap_or(self.monitor.master)
    }

    // sentinel.c: sentinelSendHello
    fn hello(&self) -> Rc<Hello> {
        Rc::new(Hello {
            sentinel: self.me,
            name: Rc::from(self.cfg.name.as_str()),
            current_epoch: self.election.current_epoch(),
            master: self.current_master(),
            config_epoch: self.monitor.config_epoch,
        })
    }

    // sentinel.c: sentinelResetMaster(ri, SENTINEL_GENERATE_EVENT), as `SENTINEL RESET` runs it
    /// (the ASAP reset after a switch is `switch_master`): the replicas and the other sentinels
    /// are forgotten (INFO and hellos find them again), the failover state goes, and the primary
    /// counts as just heard from.
    pub(super) fn reset_master(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let subject = self.master_subject(self.monitor.master);
        self.forget_failover_and_links();
        self.monitor.reset(now);
        self.peers = Peers::default();
        self.event(ctx, K::ResetMaster, subject);
    }

    /// What every `sentinelResetMaster` does: no failover, no leader, and the links to the
    /// watched servers closed, so replies to what they carried are lost.
    fn forget_failover_and_links(&mut self) {
        self.failover.reset();
        self.election.forget_leader();
        let watched = self.monitor.ids();
        self.requests.forget(watched.as_slice());
    }

    // sentinel.c: sentinelResetMasterAndChangeAddress
    /// The new primary, and every other known server (the old primary included) as its
    /// replicas.
    fn switch_master(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, new: ProcessId) {
        let subject = S::Switch {
            master: self.cfg.name.clone(),
            from: self.name(self.monitor.master).to_string(),
            to: self.name(new).to_string(),
        };
        self.event(ctx, K::SwitchMaster, subject);
        self.forget_failover_and_links();
        for r in self.monitor.switch_to(new, now) {
            self.event(ctx, K::Slave, self.slave(r));
        }
        self.peers.clear_down();
        for &c in &self.clients {
            let name = Rc::from(self.cfg.name.as_str());
            ctx.send(c, Msg::SwitchMaster { name, master: new });
        }
    }
}

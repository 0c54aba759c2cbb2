//! A Redis server as a state machine: command execution, the primary and replica sides of
//! replication (handshake, PSYNC, RDB transfer, streaming, ACKs, timeouts), WAIT,
//! `min-replicas-to-write`, AOF and RDB persistence, promotion and demotion.

mod cron;
mod primary;
mod replica;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::fact::{Fact, ReplTimeout, StartRole};
use crate::proto::{InfoReply, Msg};
use crate::redis::backlog::{Backlog, StreamEntry, StreamItem};
use crate::redis::command::{Command, Reply, errors};
use crate::redis::config::{Fsync, ServerConfig};
use crate::redis::keyspace::Keyspace;
use crate::redis::persistence::{AofFile, Disk, RdbFile};
use crate::redis::replication::{PsyncDecision, ReplId, ReplIdentity, decide_psync};
use crate::sim::{Ctx, ProcessId, SimTime};

/// `-NOMASTERLINK` reply to a PSYNC sent to a replica whose own link is down.
const NOMASTERLINK: &str = "NOMASTERLINK Can't SYNC while not connected with my master";

/// Timer tags: the kind lives in the top byte, a generation or id in the rest.
const TIMER_CRON: u64 = 1 << 56;
const TIMER_CHILD_DONE: u64 = 2 << 56;
const TIMER_LOAD_DONE: u64 = 3 << 56;
const TIMER_WAIT_TIMEOUT: u64 = 4 << 56;
const TIMER_KIND_MASK: u64 = 0xff << 56;

/// Counters a server keeps for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Full resyncs this server completed as a replica.
    pub full_resyncs: u64,
    /// Partial resyncs this server completed as a replica.
    pub partial_resyncs: u64,
    /// RDB bytes this server sent as a primary.
    pub rdb_bytes_sent: u64,
    /// Backlog bytes sent in partial resyncs.
    pub partial_bytes_sent: u64,
    /// Nanoseconds spent between connecting to a primary and being in sync.
    pub sync_time_ns: u64,
    /// Replicas disconnected for exceeding the output buffer limit.
    pub output_buffer_disconnects: u64,
    /// Writes refused with NOREPLICAS.
    pub noreplicas_refusals: u64,
    /// Keys discarded by full-resync flushes.
    pub keys_flushed: u64,
}

/// The role a server plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A primary.
    Master,
    /// A replica of the given primary.
    Replica(ProcessId),
}

#[derive(Clone, Debug)]
enum Phase {
    AwaitPong,
    AwaitReplconf,
    AwaitPsync,
    AwaitRdb {
        replid: ReplId,
        offset: u64,
    },
    Loading {
        replid: ReplId,
        offset: u64,
        snapshot: Rc<Keyspace>,
        buffered: Vec<Rc<StreamEntry>>,
    },
    Connected,
}

#[derive(Clone, Debug)]
struct MasterLink {
    master: ProcessId,
    conn: u64,
    phase: Phase,
    last_io: SimTime,
    started: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ReplicaState {
    /// Waiting for the fork of a new RDB child (diskless delay, or another child running).
    WaitBgsaveStart,
    /// The child is writing the RDB; stream entries accumulate in the output buffer.
    WaitBgsaveEnd,
    /// RDB sent, stream flowing; becomes `Online` with the first ACK.
    Streaming,
    /// ONLINE: counts for WAIT and min-replicas.
    Online,
}

#[derive(Clone, Debug)]
struct ReplicaConn {
    conn: u64,
    state: ReplicaState,
    ack_offset: u64,
    ack_time_secs: u64,
    pending: Vec<Rc<StreamEntry>>,
    pending_bytes: u64,
    soft_limit_since: Option<SimTime>,
}

#[derive(Clone, Debug)]
struct Child {
    snapshot: Rc<Keyspace>,
    replid: ReplId,
    offset: u64,
    for_replication: bool,
    generation: u64,
}

#[derive(Clone, Debug)]
struct BlockedWait {
    client: ProcessId,
    request: u64,
    numreplicas: u32,
    target: u64,
    token: u64,
}

/// A simulated Redis server.
#[derive(Clone, Debug)]
pub struct Server {
    was_primary: bool,
    writes_applied: u64,
    subscribers: std::collections::BTreeSet<ProcessId>,
    peers: Rc<Vec<String>>,
    deferred: Vec<(ProcessId, Msg)>,
    disk_stalled: bool,
    name: String,
    cfg: ServerConfig,
    disk: Disk,
    run_id: ReplId,
    keyspace: Keyspace,
    repl: ReplIdentity,
    psync_capable: bool,
    backlog: Option<Backlog>,
    role: Role,
    link: Option<MasterLink>,
    link_down_since: Option<SimTime>,
    replicas: BTreeMap<ProcessId, ReplicaConn>,
    select_emitted: bool,
    client_offsets: BTreeMap<ProcessId, u64>,
    blocked: Vec<BlockedWait>,
    child: Option<Child>,
    diskless_wait_since: Option<SimTime>,
    good_replicas: u32,
    no_replicas_since: Option<SimTime>,
    dirty_since_save: u64,
    last_save: SimTime,
    last_writeback: SimTime,
    cron_ticks: u64,
    conn_base: u64,
    next_token: u64,
    pending_load_token: u64,
    stats: ServerStats,
}

impl Server {
    /// A server that will start from `disk` (its `replicaof` line decides its first role).
    pub fn new(name: &str, cfg: ServerConfig, disk: Disk, peers: Rc<Vec<String>>) -> Self {
        Server {
            was_primary: false,
            writes_applied: 0,
            subscribers: Default::default(),
            peers,
            deferred: Vec::new(),
            disk_stalled: false,
            name: name.to_string(),
            cfg,
            role: disk.replicaof.map_or(Role::Master, Role::Replica),
            disk,
            run_id: ReplId([0; 20]),
            keyspace: Keyspace::default(),
            repl: ReplIdentity::fresh(ReplId([0; 20])),
            psync_capable: false,
            backlog: None,
            link: None,
            link_down_since: None,
            replicas: BTreeMap::new(),
            select_emitted: false,
            client_offsets: BTreeMap::new(),
            blocked: Vec::new(),
            child: None,
            diskless_wait_since: None,
            good_replicas: 0,
            no_replicas_since: None,
            dirty_since_save: 0,
            last_save: SimTime::ZERO,
            last_writeback: SimTime::ZERO,
            cron_ticks: 0,
            conn_base: 0,
            next_token: 0,
            pending_load_token: 0,
            stats: ServerStats::default(),
        }
    }

    /// The server's name in the scenario.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }
    /// The dataset.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The replication identity.
    pub fn repl(&self) -> &ReplIdentity {
        &self.repl
    }
    /// The disk (survives crashes; the world moves it into the restarted server).
    pub fn disk(&self) -> &Disk {
        &self.disk
    }
    /// Rewrites the `replicaof` line of the config file (an operator's edit while it is down).
    pub fn set_config_replicaof(&mut self, master: Option<ProcessId>) {
        self.disk.replicaof = master;
    }

    /// Stalls or releases the disk: while stalled, fsyncs do not complete.
    pub fn set_disk_stalled(&mut self, stalled: bool) {
        self.disk_stalled = stalled;
    }

    /// A machine crash: what was not fsynced is gone from the disk.
    pub fn power_loss(&mut self) {
        self.disk.after_power_loss();
    }
    /// Carries the counters of a previous incarnation over to a restarted server (the summary
    /// counts per server, not per process lifetime).
    pub fn with_stats(mut self, stats: ServerStats) -> Self {
        self.stats = stats;
        self
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }
    /// Whether this replica's link to its primary is in sync.
    pub fn link_up(&self) -> bool {
        matches!(
            self.link,
            Some(MasterLink {
                phase: Phase::Connected,
                ..
            })
        )
    }
    /// The backlog, if any.
    pub fn backlog(&self) -> Option<&Backlog> {
        self.backlog.as_ref()
    }
    /// Replicas attached to this server and their acknowledged offsets.
    pub fn attached_replicas(&self) -> Vec<(ProcessId, u64)> {
        self.replicas
            .iter()
            .map(|(p, r)| (*p, r.ack_offset))
            .collect()
    }

    /// The scenario name of a process, for notes.
    fn peer(&self, p: ProcessId) -> &str {
        self.peers.get(p.index()).map_or("?", String::as_str)
    }

    /// The table of process names this server uses in its notes.
    pub fn peer_names(&self) -> Rc<Vec<String>> {
        self.peers.clone()
    }

    fn next_conn(&mut self) -> u64 {
        self.next_token += 1;
        self.conn_base | self.next_token
    }

    // ----- start-up ---------------------------------------------------------------------------

    /// Called by the process adapter on start: load from disk, draw IDs, start the cron.
    pub fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.run_id = ReplId::random(ctx.rng());
        self.repl = ReplIdentity::fresh(ReplId::random(ctx.rng()));
        // Connection ids: a random base per incarnation (low 32 bits clear) plus a counter, so a
        // restarted server never mistakes an old connection's messages for a new one's.
        self.conn_base = rand::Rng::next_u64(ctx.rng()) & !0xffff_ffff;
        let (keyspace, rdb_info) = self.disk.load(self.cfg.appendonly);
        self.keyspace = keyspace;
        if self.cfg.appendonly && self.disk.aof.is_none() {
            self.disk.aof = Some(AofFile {
                base_fsynced: true,
                ..AofFile::default()
            });
        }
        match (self.role, rdb_info) {
            (Role::Replica(_), Some((replid, offset))) => {
                self.repl.replid = replid;
                self.repl.offset = offset;
                self.psync_capable = true;
            }
            (Role::Master, Some((replid, offset))) => {
                self.repl.replid2 = Some(replid);
                self.repl.second_replid_offset = offset + 1;
                self.repl.offset = offset;
                self.backlog = Some(Backlog::new(self.cfg.repl_backlog_size, offset + 1));
            }
            _ => {}
        }
        let role = match self.role {
            Role::Master => StartRole::Primary,
            Role::Replica(m) => StartRole::Replica {
                primary: self.peer(m).to_string(),
            },
        };
        ctx.note(Fact::Started {
            server: self.name.clone(),
            role,
            keys: self.keyspace.len() as u64,
            replid: self.repl.replid.to_string(),
            offset: self.repl.offset,
            data_from: None,
        });
        self.last_save = ctx.now();
        self.last_writeback = ctx.now();
        ctx.set_timer(SimTime::NANOS_PER_SEC, TIMER_CRON);
        if let Role::Replica(master) = self.role {
            self.connect(ctx, master);
        }
    }

    // ----- dispatch ---------------------------------------------------------------------------

    /// Handles one message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        // Loading an RDB blocks Redis: connection closes and role changes wait until it is done
        // (clients meanwhile get -LOADING).
        if self.is_loading() && matches!(msg, Msg::Close { .. } | Msg::ReplicaOf { .. }) {
            self.deferred.push((from, msg));
            return;
        }
        match msg {
            Msg::Request { id, cmd } => self.on_request(ctx, from, id, cmd),
            Msg::ReplPing { conn } => ctx.send(from, Msg::ReplPong { conn }),
            Msg::Replconf { conn } => ctx.send(from, Msg::ReplconfOk { conn }),
            Msg::Psync { conn, from: req } => self.on_psync(ctx, from, conn, req),
            Msg::Ack { conn, offset } => self.on_ack(ctx, from, conn, offset),
            Msg::Close { conn } => self.on_close(ctx, from, conn),
            Msg::ReplPong { conn } => self.on_handshake_reply(ctx, from, conn, Phase::AwaitPong),
            Msg::ReplconfOk { conn } => {
                self.on_handshake_reply(ctx, from, conn, Phase::AwaitReplconf)
            }
            Msg::FullResync {
                conn,
                replid,
                offset,
            } => self.on_fullresync(ctx, from, conn, replid, offset),
            Msg::Continue { conn, replid } => self.on_continue(ctx, from, conn, replid),
            Msg::SyncError { conn, text } => self.on_sync_error(ctx, from, conn, text),
            Msg::Rdb {
                conn,
                snapshot,
                size,
            } => self.on_rdb(ctx, from, conn, snapshot, size),
            Msg::Stream { conn, entries } => self.on_stream(ctx, from, conn, entries),
            Msg::KeepAlive { conn } => {
                if let Some(link) = self.link.as_mut().filter(|l| l.conn == conn) {
                    link.last_io = ctx.now();
                }
            }
            Msg::ReplicaOf { master } => self.on_replicaof(ctx, master),
            Msg::Info { id } => {
                let info = self.info(ctx.now());
                ctx.send(
                    from,
                    Msg::InfoReply {
                        id,
                        info: Box::new(info),
                    },
                );
            }
            Msg::Ping { id } => {
                self.subscribers.insert(from);
                ctx.send(from, Msg::Pong { id });
            }
            Msg::Hello(h) => {
                // Pub/sub relay of __sentinel__:hello to every subscribed sentinel.
                self.subscribers.insert(from);
                for &s in &self.subscribers {
                    if s != from {
                        ctx.send(s, Msg::Hello(h.clone()));
                    }
                }
            }
            Msg::Reply { .. }
            | Msg::InfoReply { .. }
            | Msg::Pong { .. }
            | Msg::IsMasterDown { .. }
            | Msg::IsMasterDownReply { .. }
            | Msg::GetMasterAddr { .. }
            | Msg::MasterAddr { .. }
            | Msg::SwitchMaster { .. } => {}
        }
    }

    /// Handles one timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        match tag & TIMER_KIND_MASK {
            TIMER_CRON => {
                self.cron(ctx);
                ctx.set_timer(SimTime::NANOS_PER_SEC, TIMER_CRON);
            }
            TIMER_CHILD_DONE => self.on_child_done(ctx, tag & !TIMER_KIND_MASK),
            TIMER_LOAD_DONE => self.on_load_done(ctx, tag & !TIMER_KIND_MASK),
            TIMER_WAIT_TIMEOUT => self.on_wait_timeout(ctx, tag & !TIMER_KIND_MASK),
            _ => unreachable!("unknown timer tag {tag:#x}"),
        }
    }

    // ----- client commands --------------------------------------------------------------------

    fn on_request(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64, cmd: Command) {
        if let Some(err) = self.refusal(&cmd) {
            if err == errors::NOREPLICAS {
                self.stats.noreplicas_refusals += 1;
            }
            ctx.send(
                client,
                Msg::Reply {
                    id,
                    reply: Reply::Error(Rc::from(err)),
                },
            );
            return;
        }
        if let Command::Wait(n, timeout_ms) = cmd {
            self.on_wait(ctx, client, id, n, timeout_ms);
            return;
        }
        let applied = self.keyspace.apply(&cmd);
        if applied.dirty {
            self.dirty_since_save += 1;
            self.append_aof(&cmd);
            self.writes_applied += 1;
            // Planted bug: every 50th write is acknowledged but never propagated.
            let dropped = self.cfg.bugs.drop_propagation && self.writes_applied.is_multiple_of(50);
            if self.role == Role::Master && !dropped {
                let before = self.repl.offset;
                self.propagate(ctx, StreamItem::Command(cmd));
                if self.repl.offset != before {
                    self.client_offsets.insert(client, self.repl.offset);
                }
            }
        }
        ctx.send(
            client,
            Msg::Reply {
                id,
                reply: applied.reply,
            },
        );
    }

    /// The error a command gets before it runs, in `processCommand`'s order.
    fn refusal(&self, cmd: &Command) -> Option<&'static str> {
        if cmd.is_write()
            && self.role == Role::Master
            && self.cfg.min_replicas_to_write > 0
            && self.cfg.min_replicas_max_lag_secs > 0
            && self.good_replicas < self.cfg.min_replicas_to_write
        {
            return Some(errors::NOREPLICAS);
        }
        let is_replica = matches!(self.role, Role::Replica(_));
        let buggy_demoted = self.cfg.bugs.demoted_primary_accepts_writes && self.was_primary;
        if cmd.is_write() && is_replica && self.cfg.replica_read_only && !buggy_demoted {
            return Some(errors::READONLY);
        }
        if is_replica && !self.link_up() && !self.cfg.replica_serve_stale_data {
            return Some(errors::MASTERDOWN);
        }
        if self.is_loading() {
            return Some(errors::LOADING);
        }
        if matches!(cmd, Command::Wait(..)) && is_replica {
            return Some(errors::WAIT_ON_REPLICA);
        }
        None
    }

    fn append_aof(&mut self, cmd: &Command) {
        if !self.cfg.appendonly {
            return;
        }
        let aof = self.disk.aof.get_or_insert_with(AofFile::default);
        // Redis writes the AOF buffer in beforeSleep, before replies go out: the command is in the
        // page cache by the time the client sees the reply.
        aof.commands.push(cmd.clone());
        if self.cfg.appendfsync == Fsync::Always && !self.disk_stalled && !self.cfg.bugs.skip_fsync
        {
            aof.fsynced = aof.commands.len();
        }
    }

    // ----- WAIT -------------------------------------------------------------------------------

    fn acked_count(&self, target: u64) -> u32 {
        self.replicas
            .values()
            .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= target)
            .count() as u32
    }

    fn on_wait(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64, n: u32, ms: u64) {
        let target = self.client_offsets.get(&client).copied().unwrap_or(0);
        let count = self.acked_count(target);
        if count >= n {
            ctx.send(
                client,
                Msg::Reply {
                    id,
                    reply: Reply::Int(i64::from(count)),
                },
            );
            return;
        }
        self.next_token += 1;
        let token = self.next_token & !TIMER_KIND_MASK;
        self.blocked.push(BlockedWait {
            client,
            request: id,
            numreplicas: n,
            target,
            token,
        });
        if ms > 0 {
            ctx.set_timer(ms * SimTime::NANOS_PER_MS, TIMER_WAIT_TIMEOUT | token);
        }
        // replicationRequestAckFromSlaves: REPLCONF GETACK * goes into the stream in beforeSleep.
        self.propagate(ctx, StreamItem::Getack);
    }

    fn on_wait_timeout(&mut self, ctx: &mut Ctx<'_, Msg>, token: u64) {
        if let Some(i) = self.blocked.iter().position(|b| b.token == token) {
            let b = self.blocked.remove(i);
            let count = self.acked_count(b.target);
            ctx.send(
                b.client,
                Msg::Reply {
                    id: b.request,
                    reply: Reply::Int(i64::from(count)),
                },
            );
        }
    }

    fn unblock_waits(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let mut i = 0;
        while i < self.blocked.len() {
            let count = self.acked_count(self.blocked[i].target);
            if count >= self.blocked[i].numreplicas {
                let b = self.blocked.remove(i);
                ctx.send(
                    b.client,
                    Msg::Reply {
                        id: b.request,
                        reply: Reply::Int(i64::from(count)),
                    },
                );
            } else {
                i += 1;
            }
        }
    }
}

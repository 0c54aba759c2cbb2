//! A Redis server as a state machine, in parts: the dataset and its replication history
//! (`data`), the primary side (replicas, the stream they get, WAIT), the replica side (the link
//! to a primary), and persistence (disk, AOF, RDB children). This module holds the state and the
//! dispatch; each part's module operates on its part.

mod admin;
mod aof_flush;
mod clients;
mod cluster;
mod console;
mod cron;
mod data;
mod disk;
mod persistence;
mod primary;
mod replica;
mod reshard;
mod role;
mod sync;
#[cfg(test)]
mod tests;
mod vitals;

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::fact::{Fact, Position, StartRole};
use crate::proto::Msg;
use crate::redis::{
    AofFile, Backlog, Disk, Hello, Keyspace, ReplId, ReplIdentity, ServerConfig, StreamItem,
};
use crate::sim::{Ctx, ProcessId, SimTime};

use data::Data;
use persistence::Persistence;
use primary::PrimarySide;
use replica::{Phase, ReplicaSide};
pub use vitals::{CommandLatency, CommandVitals, KEY_OVERHEAD_BYTES, VitalsAtEnd};

/// A primary address no process of the run listens on (`REPLICAOF <host> <port>` to an address
/// outside the scenario): every connection attempt fails, and is retried every second.
pub const NOWHERE: ProcessId = ProcessId(u32::MAX);

/// Timer tags: the kind lives in the top byte, a generation or id in the rest.
const TIMER_CRON: u64 = 1 << 56;
const TIMER_CHILD_DONE: u64 = 2 << 56;
const TIMER_LOAD_DONE: u64 = 3 << 56;
const TIMER_WAIT_TIMEOUT: u64 = 4 << 56;
const TIMER_TRANSFER_POLL: u64 = 5 << 56;
const TIMER_CLUSTER: u64 = 6 << 56;
const TIMER_UNPAUSE: u64 = 7 << 56;
const TIMER_CONSOLE: u64 = 8 << 56;
const TIMER_SHUTDOWN: u64 = 9 << 56;
const TIMER_MIGRATE: u64 = 10 << 56;
const TIMER_AOF_FSYNC: u64 = 11 << 56;
const TIMER_AOF_STALL: u64 = 12 << 56;
const TIMER_GETACK: u64 = 13 << 56;
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
    /// INFO requests answered (Sentinel's `INFO`, every `info_period`).
    pub info_requests: u64,
}

/// The role a server plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A primary.
    Master,
    /// A replica of the given primary.
    Replica(ProcessId),
}

/// Connection ids and timer generations: a random base per incarnation (low 32 bits clear) plus
/// a counter, so a restarted server never mistakes an old connection's messages for a new one's.
#[derive(Clone, Debug, Default)]
struct Tokens {
    conn_base: u64,
    next: u64,
}

impl Tokens {
    fn conn(&mut self) -> u64 {
        self.next += 1;
        self.conn_base | self.next
    }
    /// A token that fits below a timer tag's kind byte.
    fn timer(&mut self) -> u64 {
        self.next += 1;
        self.next & !TIMER_KIND_MASK
    }
}

/// A simulated Redis server.
#[derive(Clone, Debug)]
pub struct Server {
    name: String,
    cfg: ServerConfig,
    peers: Rc<Vec<String>>,
    run_id: ReplId,
    data: Data,
    primary: PrimarySide,
    /// `Some` exactly while the server is a replica.
    replica: Option<ReplicaSide>,
    persistence: Persistence,
    /// Sentinels subscribed to hellos (pub/sub relay).
    subscribers: BTreeSet<ProcessId>,
    /// The normal clients connected (every process that sent a command since the last
    /// CLIENT KILL).
    clients: BTreeSet<ProcessId>,
    /// Messages that arrived while an RDB load blocked the server.
    deferred: Vec<(ProcessId, Msg)>,
    /// `CLIENT PAUSE`: until when, and whether only writes wait.
    paused: Option<admin::ClientPause>,
    /// Until when a Redis Cluster primary pauses writes for a replica's manual failover.
    failover_pause: Option<SimTime>,
    /// Client commands (and hellos, which PUBLISH) held by `CLIENT PAUSE`, in arrival order.
    paused_messages: Vec<(ProcessId, Msg)>,
    /// Planted-bug bookkeeping: whether the server was ever a primary, and writes applied.
    was_primary: bool,
    writes_applied: u64,
    cron_ticks: u64,
    tokens: Tokens,
    stats: ServerStats,
    /// `Some` when `cluster-enabled yes`.
    cluster: Option<cluster::ClusterPart>,
    /// The operator's console connection, and the SHUTDOWN or FAILOVER it started.
    console: console::Console,
    /// The `MIGRATE` this server is blocked on, if any.
    migrate: Option<reshard::MigrateCall>,
    /// Messages that arrived while a `MIGRATE` blocked the server, in order.
    blocked_messages: Vec<(ProcessId, Msg)>,
    /// Timers that fired while a `MIGRATE` blocked the server, in order.
    blocked_timers: Vec<u64>,
    /// What the disk does to the server: replies held for an fsync, an exit it caused.
    disk: disk::DiskEffects,
    /// Commands counted, their latencies and the slow log, over the whole run.
    vitals: CommandVitals,
}

impl Server {
    /// A server that will start from `disk` (its `replicaof` line decides its first role).
    pub fn new(name: &str, cfg: ServerConfig, disk: Disk, peers: Rc<Vec<String>>) -> Self {
        Server {
            name: name.to_string(),
            replica: disk.replicaof.map(|m| ReplicaSide::new(m, false)),
            vitals: CommandVitals::new(&cfg),
            cfg,
            peers,
            run_id: ReplId([0; 20]),
            data: Data::new(ReplIdentity::fresh(ReplId([0; 20]))),
            primary: PrimarySide::default(),
            persistence: Persistence::new(disk),
            subscribers: BTreeSet::new(),
            clients: BTreeSet::new(),
            deferred: Vec::new(),
            paused: None,
            failover_pause: None,
            paused_messages: Vec::new(),
            was_primary: false,
            writes_applied: 0,
            cron_ticks: 0,
            tokens: Tokens::default(),
            stats: ServerStats::default(),
            cluster: None,
            console: console::Console::default(),
            migrate: None,
            blocked_messages: Vec::new(),
            blocked_timers: Vec::new(),
            disk: disk::DiskEffects::default(),
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
        &self.data.keyspace
    }
    /// The current role.
    pub fn role(&self) -> Role {
        self.replica
            .as_ref()
            .map_or(Role::Master, |r| Role::Replica(r.master))
    }
    /// The replication identity.
    pub fn repl(&self) -> &ReplIdentity {
        &self.data.repl
    }
    /// Where the data stands in its replication history, unstreamed writes included.
    pub fn position(&self) -> crate::history::Position {
        self.data.position()
    }
    /// The disk (survives crashes; the world moves it into the restarted server).
    pub fn disk(&self) -> &Disk {
        &self.persistence.disk
    }
    /// Rewrites the `replicaof` line of the config file (an operator's edit while it is down).
    pub fn set_config_replicaof(&mut self, master: Option<ProcessId>) {
        self.persistence.disk.replicaof = master;
    }
    /// Stalls or releases the disk: while stalled, fsyncs do not complete.
    pub fn set_disk_stalled(&mut self, stalled: bool) {
        self.persistence.set_stalled(stalled);
    }
    /// A machine crash: what was not fsynced is gone from the disk.
    pub fn power_loss(&mut self) {
        self.persistence.disk.after_power_loss();
    }
    /// Carries the counters of a previous incarnation over to a restarted server (the summary
    /// counts per server, not per process lifetime).
    pub fn with_stats(mut self, stats: ServerStats) -> Self {
        self.stats = stats;
        self
    }
    /// A new process of this server on `disk`: the same name, configuration and peers, its
    /// counters carried over.
    pub fn reborn(&self, disk: Disk) -> Self {
        Server::new(&self.name, self.cfg.clone(), disk, self.peers.clone())
            .with_stats(self.stats.clone())
    }
    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }
    /// Whether a `MIGRATE` blocks this server now.
    pub fn migrating(&self) -> bool {
        self.migrate.is_some()
    }
    /// Whether this replica's link to its primary is in sync.
    pub fn link_up(&self) -> bool {
        self.replica.as_ref().is_some_and(ReplicaSide::link_up)
    }
    /// The backlog, if any.
    pub fn backlog(&self) -> Option<&Backlog> {
        self.data.backlog.as_ref()
    }
    /// Replicas attached to this server and their acknowledged offsets.
    pub fn attached_replicas(&self) -> Vec<(ProcessId, u64)> {
        self.primary.attached()
    }
    /// The scenario name of a process, for notes.
    fn peer(&self, p: ProcessId) -> &str {
        if p == NOWHERE {
            return "(an address no server has)";
        }
        self.peers.get(p.index()).map_or("?", String::as_str)
    }

    /// Delivers a hello to every sentinel subscribed to `__sentinel__:hello` here but `except`
    /// (the publisher: a sentinel ignores its own hellos anyway).
    fn publish(&self, ctx: &mut Ctx<'_, Msg>, h: &Rc<Hello>, except: Option<ProcessId>) {
        for &s in &self.subscribers {
            if Some(s) != except {
                ctx.send(s, Msg::Hello(h.clone()));
            }
        }
    }

    fn is_loading(&self) -> bool {
        self.replica.as_ref().is_some_and(ReplicaSide::is_loading)
    }

    // ----- start-up ---------------------------------------------------------------------------

    /// Called by the process adapter on start: load from disk, draw IDs, start the cron.
    pub fn start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.run_id = ReplId::random(ctx.rng());
        self.data.repl = ReplIdentity::fresh(ReplId::random(ctx.rng()));
        self.tokens.conn_base = rand::Rng::next_u64(ctx.rng()) & !0xffff_ffff;
        let loaded = self.persistence.disk.load(self.cfg.appendonly);
        let rdb_info = loaded.rdb_info;
        self.data.keyspace = loaded.keyspace;
        if self.cfg.appendonly && self.persistence.disk.aof.is_none() {
            self.persistence.disk.aof = Some(AofFile {
                base_fsynced: true,
                ..AofFile::default()
            });
        }
        if let Some((replid, offset)) = rdb_info {
            match self.replica.as_mut() {
                // rdbPopulateSaveInfo / loadDataFromDisk: a replica continues the saved history.
                Some(r) => {
                    self.data.repl.replid = replid;
                    self.data.repl.offset = offset;
                    r.psync_capable = true;
                }
                // A primary keeps the saved history as replid2 so its old replicas can continue.
                None => {
                    self.data.repl.replid2 = Some(replid);
                    self.data.repl.second_replid_offset = offset + 1;
                    self.data.repl.offset = offset;
                    self.data.backlog = Some(Backlog::new(self.cfg.repl_backlog_size, offset + 1));
                }
            }
        }
        let data_from = loaded.position.map(|m| m.position());
        self.note_started(ctx, data_from);
        self.persistence.last_save = ctx.now();
        // initServer: `server.repl_no_slaves_since = time(NULL)`: the backlog TTL of a primary
        // restarted from an RDB counts from its start.
        self.primary.no_replicas_since = Some(ctx.now());
        // The OS's writeback clock runs from the machine's boot, not the process's start.
        let booted = self
            .persistence
            .disk
            .last_writeback_ns
            .get_or_insert(ctx.now().0);
        debug_assert!(*booted <= ctx.now().0);
        ctx.set_timer(SimTime::NANOS_PER_SEC, TIMER_CRON);
        self.cluster_start(ctx);
        if let Role::Replica(master) = self.role() {
            self.connect(ctx, master);
        }
        self.data.assert_invariants(self.cfg.bugs.any());
    }

    fn note_started(&self, ctx: &mut Ctx<'_, Msg>, data_from: Option<Position>) {
        let role = match self.role() {
            Role::Master => StartRole::Primary,
            Role::Replica(m) => StartRole::Replica {
                primary: self.peer(m).to_string(),
            },
        };
        ctx.note(Fact::Started {
            server: self.name.clone(),
            role,
            keys: self.data.keyspace.len() as u64,
            replid: self.data.repl.replid.to_string(),
            offset: self.data.repl.offset,
            data_from,
        });
    }

    // ----- dispatch ---------------------------------------------------------------------------

    /// Handles one message.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        // migrateCommand waits on its socket: the event loop runs nothing else meanwhile.
        if self.blocked_by_migrate(from, &msg) || self.disk.stalled_write {
            return self.blocked_messages.push((from, msg));
        }
        // Loading an RDB blocks Redis: connection closes wait until it is done. Commands get
        // -LOADING, REPLICAOF too (it has no CMD_LOADING flag: processCommand refuses it).
        if self.is_loading() {
            match msg {
                Msg::Close { .. } => return self.deferred.push((from, msg)),
                Msg::ReplicaOf { .. } => return,
                Msg::Admin(c @ crate::fault::AdminCommand::ReplicaOf(_)) => {
                    let typed = self.take_typed_replicaof(&c);
                    // server.c: processCommand answers shared.loadingerr.
                    let reply = format!("(error) {}", crate::redis::errors::LOADING);
                    return self.operator_reply(ctx, typed, reply);
                }
                _ => {}
            }
        }
        if self.holds_while_paused(ctx.now(), &msg) {
            return self.paused_messages.push((from, msg));
        }
        match msg {
            Msg::Request { id, cmd } => self.on_request(ctx, from, id, cmd),
            Msg::Psync {
                conn,
                from: req,
                failover,
            } => self.on_psync(ctx, from, conn, req, failover),
            Msg::Ack { conn, offset, aof } => self.on_ack(ctx, from, conn, offset, aof),
            Msg::Close { conn } => self.on_close(ctx, from, conn),
            Msg::ReplPing { .. }
            | Msg::Replconf { .. }
            | Msg::ReplPong { .. }
            | Msg::ReplconfOk { .. }
            | Msg::FullResync { .. }
            | Msg::Continue { .. }
            | Msg::SyncError { .. }
            | Msg::Rdb { .. }
            | Msg::RdbChunk { .. }
            | Msg::Stream { .. }
            | Msg::KeepAlive { .. } => self.on_replication(ctx, from, msg),
            // replication.c: replicaofCommand refuses "REPLICAOF not allowed while failing
            // over." (Sentinel's MULTI/EXEC then fails as a whole).
            Msg::ReplicaOf { .. } if self.console.failover.is_some() => {}
            Msg::ReplicaOf { master } => {
                self.on_replicaof(ctx, master);
                // An operator's REPLICAOF (injected by the server itself) keeps its clients.
                if from != ctx.me() {
                    self.kill_normal_clients(ctx);
                }
            }
            Msg::Admin(c) => self.on_admin(ctx, &c),
            Msg::ClusterBus(m) => self.on_cluster_bus(ctx, &m),
            Msg::Asking { id } => self.on_asking(ctx, from, id),
            Msg::ReadOnly { id } => self.on_readonly(ctx, from, id),
            Msg::ClusterSlots { id } => self.on_cluster_slots(ctx, from, id),
            Msg::MigrateKeys { id, keys } => self.on_migrate_keys(ctx, from, id, &keys),
            Msg::MigrateReply { id, error } => self.on_migrate_reply(ctx, id, error),
            Msg::Info { id } => {
                self.stats.info_requests += 1;
                let info = Box::new(self.info(ctx.now()));
                ctx.send(from, Msg::InfoReply { id, info });
            }
            Msg::Ping { id } => {
                self.subscribers.insert(from);
                // server.c: processCommand refuses PING too while the disk fails.
                let refused = self.persistence.write_denied(&self.cfg).is_some();
                ctx.send(from, Msg::Pong { id, refused });
            }
            Msg::Hello(h) => {
                self.subscribers.insert(from);
                self.publish(ctx, &h, Some(from));
                // pubsub.c: publishCommand propagates PUBLISH to the replicas (outside Cluster),
                // so on a primary a hello advances the replication offset like a write.
                if self.replica.is_none() && self.cluster.is_none() {
                    self.propagate(ctx, StreamItem::Publish(h));
                }
            }
            Msg::Reply { id, reply, .. } if from == ctx.me() => {
                self.on_console_reply(ctx, id, &reply);
            }
            Msg::Reply { .. }
            | Msg::InfoReply { .. }
            | Msg::Pong { .. }
            | Msg::IsMasterDown { .. }
            | Msg::IsMasterDownReply { .. }
            | Msg::GetMasterAddr { .. }
            | Msg::MasterAddr { .. }
            | Msg::SwitchMaster { .. }
            | Msg::Refused { .. }
            | Msg::SlotsReply { .. }
            | Msg::Subscribe { .. } => {}
        }
        self.cluster_before_sleep(ctx);
        self.data.assert_invariants(self.cfg.bugs.any());
    }

    /// The replication protocol's messages: the primary's half of the handshake, and every
    /// message a replica gets from its primary.
    fn on_replication(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        match msg {
            // syncWithMaster treats an error reply to its PING (a -MISCONF) as a failed
            // handshake and tries again from replicationCron.
            Msg::ReplPing { conn } => match self.persistence.write_denied(&self.cfg) {
                Some(text) => ctx.send(from, Msg::SyncError { conn, text }),
                None => ctx.send(from, Msg::ReplPong { conn }),
            },
            Msg::Replconf { conn } => ctx.send(from, Msg::ReplconfOk { conn }),
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
            Msg::RdbChunk { conn, transfer, .. } => self.on_rdb_chunk(ctx, from, conn, &transfer),
            Msg::Rdb { conn, transfer, .. } => self.on_rdb(ctx, from, conn, &transfer),
            Msg::Stream { conn, entries } => self.on_stream(ctx, from, conn, entries),
            Msg::KeepAlive { conn } => {
                let now = ctx.now();
                if let Some(link) = self.replica.as_mut().and_then(|r| r.link_with_conn(conn)) {
                    link.last_io = now;
                }
                // networking.c: processInlineBuffer: a replica's newline (sent while it loads
                // the RDB) refreshes its ACK time.
                if let Some(r) = self
                    .primary
                    .replicas
                    .get_mut(&from)
                    .filter(|r| r.conn == conn)
                {
                    r.ack_time_secs = now.as_secs();
                }
            }
            _ => unreachable!("not a replication message"),
        }
    }

    /// The event loop runs again after a blocking call (`MIGRATE`, a write behind a stalled
    /// fsync): the timers that fired meanwhile (a periodic one once, as a late cron), then the
    /// messages, in arrival order.
    fn release_blocked(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let mut timers: Vec<u64> = Vec::new();
        for tag in std::mem::take(&mut self.blocked_timers) {
            if !timers.contains(&tag) {
                timers.push(tag);
            }
        }
        for tag in timers {
            self.on_timer(ctx, tag);
        }
        for (from, msg) in std::mem::take(&mut self.blocked_messages) {
            self.on_message(ctx, from, msg);
        }
    }

    /// Handles one timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        let kind = tag & TIMER_KIND_MASK;
        if (self.migrate.is_some() && kind != TIMER_MIGRATE)
            || (self.disk.stalled_write && kind != TIMER_AOF_STALL)
        {
            return self.blocked_timers.push(tag);
        }
        match tag & TIMER_KIND_MASK {
            TIMER_CRON => {
                self.cron(ctx);
                ctx.set_timer(SimTime::NANOS_PER_SEC, TIMER_CRON);
            }
            TIMER_CHILD_DONE => self.on_child_done(ctx, tag & !TIMER_KIND_MASK),
            TIMER_LOAD_DONE => self.on_load_done(ctx, tag & !TIMER_KIND_MASK),
            TIMER_WAIT_TIMEOUT => {
                let fsynced = self.persistence.fsynced_reploff(&self.cfg);
                self.primary
                    .on_wait_timeout(ctx, tag & !TIMER_KIND_MASK, fsynced);
            }
            TIMER_TRANSFER_POLL => self.poll_transfers(ctx),
            TIMER_CLUSTER => self.cluster_tick(ctx),
            TIMER_UNPAUSE => self.on_unpause(ctx),
            TIMER_CONSOLE => self.on_console_timer(ctx),
            TIMER_SHUTDOWN => self.on_shutdown_timer(ctx),
            TIMER_MIGRATE => self.on_migrate_timeout(ctx, tag),
            TIMER_AOF_FSYNC => self.on_aof_fsync_timer(ctx),
            TIMER_AOF_STALL => self.on_stalled_write_timer(ctx),
            TIMER_GETACK => self.on_getack_timer(ctx),
            _ => unreachable!("unknown timer tag {tag:#x}"),
        }
        self.cluster_before_sleep(ctx);
        self.data.assert_invariants(self.cfg.bugs.any());
    }
}

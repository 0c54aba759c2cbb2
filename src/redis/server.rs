//! A Redis server as a state machine: command execution, the primary and replica sides of
//! replication (handshake, PSYNC, RDB transfer, streaming, ACKs, timeouts), WAIT,
//! `min-replicas-to-write`, AOF and RDB persistence, promotion and demotion.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::backlog::{Backlog, StreamEntry, StreamItem};
use super::command::{Command, Reply, errors};
use super::config::{Fsync, ServerConfig};
use super::keyspace::Keyspace;
use super::persistence::{AofFile, Disk, RdbFile};
use super::replication::{PsyncDecision, ReplId, ReplIdentity, decide_psync};
use crate::proto::{InfoReply, Msg};
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
            Role::Master => "primary".to_string(),
            Role::Replica(m) => format!("replica of {}", self.peer(m)),
        };
        ctx.note(
            "start",
            format!(
                "{} started as {} with {} keys (replid {}, offset {})",
                self.name,
                role,
                self.keyspace.len(),
                self.repl.replid.short(),
                self.repl.offset
            ),
        );
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
        let loading = matches!(
            self.link,
            Some(MasterLink {
                phase: Phase::Loading { .. },
                ..
            })
        );
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
        if loading {
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

    // ----- feeding the replication stream -----------------------------------------------------

    /// `replicationFeedSlaves` on a primary: SELECT first when the stream needs one, then the item.
    fn propagate(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        if self.backlog.is_none() && self.replicas.is_empty() {
            return;
        }
        if matches!(item, StreamItem::Command(_)) && !self.select_emitted {
            self.select_emitted = true;
            self.feed(ctx, StreamItem::Select(0));
        }
        self.feed(ctx, item);
    }

    fn output_buffer(&self, ctx: &Ctx<'_, Msg>, replica: ProcessId, r: &ReplicaConn) -> u64 {
        let in_socket = ctx
            .unsent_bytes(replica)
            .saturating_sub(self.cfg.tcp_send_buffer_bytes);
        r.pending_bytes + in_socket
    }

    fn feed(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        let entry = Rc::new(StreamEntry {
            offset: self.repl.offset + 1,
            len: item.resp_len(),
            item,
        });
        self.append_entry(ctx, entry);
    }

    /// Adds an entry to the backlog and every replica's output, as the primary or as an
    /// intermediate replica proxying its primary's stream.
    fn append_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
        if self.cfg.bugs.any() && entry.offset != self.repl.offset + 1 {
            // Only a planted bug can send a gap; a real replica just counts the bytes it gets.
            self.repl.offset = entry.offset - 1;
            self.backlog = None;
        }
        assert_eq!(entry.offset, self.repl.offset + 1, "the stream has no gaps");
        self.repl.offset += entry.len;
        let mut pinned: Option<u64> = None;
        for (&pid, r) in &self.replicas {
            if r.state == ReplicaState::WaitBgsaveStart {
                continue;
            }
            let buffered = self.output_buffer(ctx, pid, r);
            let first_unsent = entry.offset.saturating_sub(buffered);
            pinned = Some(pinned.map_or(first_unsent, |p: u64| p.min(first_unsent)));
        }
        if let Some(b) = self.backlog.as_mut() {
            b.feed(entry.clone(), pinned);
        }
        let pids: Vec<ProcessId> = self.replicas.keys().copied().collect();
        for pid in pids {
            let r = self.replicas.get_mut(&pid).expect("listed replica");
            match r.state {
                ReplicaState::WaitBgsaveStart => {}
                ReplicaState::WaitBgsaveEnd => {
                    r.pending_bytes += entry.len;
                    r.pending.push(entry.clone());
                }
                ReplicaState::Streaming | ReplicaState::Online => {
                    let conn = r.conn;
                    ctx.send(
                        pid,
                        Msg::Stream {
                            conn,
                            entries: vec![entry.clone()],
                        },
                    );
                }
            }
            self.enforce_output_limit(ctx, pid);
        }
    }

    /// `client-output-buffer-limit replica`: disconnect a replica whose buffer is too large.
    fn enforce_output_limit(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
        let limit = self.cfg.replica_output_buffer;
        let Some(r) = self.replicas.get(&pid) else {
            return;
        };
        let used = self.output_buffer(ctx, pid, r);
        let now = ctx.now();
        let r = self.replicas.get_mut(&pid).expect("present");
        let over_hard = limit.hard_bytes > 0 && used > limit.hard_bytes;
        let over_soft = limit.soft_bytes > 0 && used > limit.soft_bytes;
        if over_soft {
            r.soft_limit_since.get_or_insert(now);
        } else {
            r.soft_limit_since = None;
        }
        let soft_expired = r
            .soft_limit_since
            .is_some_and(|s| now.since(s) > limit.soft_secs * SimTime::NANOS_PER_SEC);
        if over_hard || soft_expired {
            self.stats.output_buffer_disconnects += 1;
            ctx.note(
                "repl:obuf-limit",
                format!(
                    "{} disconnects replica {}: output buffer {} bytes exceeds client-output-buffer-limit",
                    self.name, self.peer(pid), used
                ),
            );
            self.drop_replica(ctx, pid);
        }
    }

    fn drop_replica(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
        if let Some(r) = self.replicas.remove(&pid) {
            ctx.send(pid, Msg::Close { conn: r.conn });
        }
        if self.replicas.is_empty() {
            self.no_replicas_since = Some(ctx.now());
        }
        self.refresh_good_replicas(ctx.now());
        if let Some(b) = self.backlog.as_mut() {
            b.trim(None);
        }
    }

    fn refresh_good_replicas(&mut self, now: SimTime) {
        let now_s = now.as_secs();
        let lag = self.cfg.min_replicas_max_lag_secs;
        self.good_replicas = self
            .replicas
            .values()
            .filter(|r| {
                r.state == ReplicaState::Online && now_s.saturating_sub(r.ack_time_secs) <= lag
            })
            .count() as u32;
    }

    // ----- primary side of the handshake --------------------------------------------------------

    fn on_psync(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        req: Option<(ReplId, u64)>,
    ) {
        if matches!(self.role, Role::Replica(_)) && !self.link_up() {
            ctx.send(
                replica,
                Msg::SyncError {
                    conn,
                    text: NOMASTERLINK,
                },
            );
            return;
        }
        if let Some(old) = self.replicas.remove(&replica) {
            ctx.send(replica, Msg::Close { conn: old.conn });
        }
        let req = match (req, self.backlog.as_ref()) {
            // Planted bug: pretend the replica asked for our history, at an offset we hold.
            (Some((_, off)), Some(b)) if self.cfg.bugs.accept_any_psync => {
                let end = b.first_offset() + b.histlen();
                let nearest = b
                    .entries_from(off.clamp(b.first_offset(), end))
                    .map_or(end, |e| e.first().map_or(end, |x| x.offset));
                Some((self.repl.replid, nearest))
            }
            (other, _) => other,
        };
        match decide_psync(&self.repl, self.backlog.as_ref(), req) {
            PsyncDecision::Continue => self.accept_partial(ctx, replica, conn, req),
            PsyncDecision::FullResync(reason) => {
                ctx.note(
                    "repl:full-resync-needed",
                    format!(
                        "{} answers PSYNC from {} with a full resync: {}",
                        self.name,
                        self.peer(replica),
                        reason
                    ),
                );
                self.accept_full(ctx, replica, conn);
            }
        }
    }

    fn accept_partial(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        req: Option<(ReplId, u64)>,
    ) {
        let (_, offset) = req.expect("a partial resync has an offset");
        let entries = self
            .backlog
            .as_ref()
            .and_then(|b| b.entries_from(offset))
            .expect("decide_psync checked the backlog covers the offset");
        let bytes: u64 = entries.iter().map(|e| e.len).sum();
        self.stats.partial_bytes_sent += bytes;
        ctx.note(
            "repl:continue",
            format!(
                "{} accepts partial resync of {} from offset {} ({} bytes from the backlog)",
                self.name,
                self.peer(replica),
                offset,
                bytes
            ),
        );
        self.replicas.insert(
            replica,
            ReplicaConn {
                conn,
                state: ReplicaState::Online,
                ack_offset: offset.saturating_sub(1),
                ack_time_secs: ctx.now().as_secs(),
                pending: Vec::new(),
                pending_bytes: 0,
                soft_limit_since: None,
            },
        );
        ctx.send(
            replica,
            Msg::Continue {
                conn,
                replid: self.repl.replid,
            },
        );
        if !entries.is_empty() {
            ctx.send(replica, Msg::Stream { conn, entries });
        }
        self.no_replicas_since = None;
        self.refresh_good_replicas(ctx.now());
    }

    fn accept_full(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId, conn: u64) {
        if self.backlog.is_none() {
            // syncCommand: the first replica ever creates the backlog under a fresh history.
            self.repl.reset(ReplId::random(ctx.rng()));
            self.backlog = Some(Backlog::new(
                self.cfg.repl_backlog_size,
                self.repl.offset + 1,
            ));
        }
        // replicationSetupSlaveForFullResync forces a SELECT into the stream.
        self.select_emitted = false;
        self.replicas.insert(
            replica,
            ReplicaConn {
                conn,
                state: ReplicaState::WaitBgsaveStart,
                ack_offset: 0,
                ack_time_secs: ctx.now().as_secs(),
                pending: Vec::new(),
                pending_bytes: 0,
                soft_limit_since: None,
            },
        );
        self.no_replicas_since = None;
        let attachable = self
            .child
            .as_ref()
            .is_some_and(|c| c.for_replication && !self.cfg.repl_diskless_sync);
        if attachable {
            self.attach_to_running_child(ctx, replica);
        } else if self.cfg.repl_diskless_sync {
            self.diskless_wait_since.get_or_insert(ctx.now());
        } else if self.child.is_none() {
            self.fork_child(ctx, true);
        }
    }

    /// A disk-based BGSAVE for replication is running: the new replica shares its RDB, and its
    /// output buffer is a copy of one already waiting for it (as `syncCommand` does).
    fn attach_to_running_child(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId) {
        let child = self.child.as_ref().expect("checked");
        let (replid, offset) = (child.replid, child.offset);
        let donor = self
            .replicas
            .iter()
            .find(|(p, r)| **p != replica && r.state == ReplicaState::WaitBgsaveEnd)
            .map(|(_, r)| (r.pending.clone(), r.pending_bytes));
        let Some((pending, pending_bytes)) = donor else {
            return; // no buffer to copy: it waits for the next child
        };
        let r = self.replicas.get_mut(&replica).expect("inserted");
        r.state = ReplicaState::WaitBgsaveEnd;
        r.pending = pending;
        r.pending_bytes = pending_bytes;
        let conn = r.conn;
        ctx.send(
            replica,
            Msg::FullResync {
                conn,
                replid,
                offset,
            },
        );
    }

    /// Forks an RDB child: the snapshot is the dataset now, at the current offset.
    fn fork_child(&mut self, ctx: &mut Ctx<'_, Msg>, for_replication: bool) {
        assert!(self.child.is_none(), "one child at a time");
        let snapshot = Rc::new(self.keyspace.clone());
        let size = snapshot.rdb_size_bytes();
        self.next_token += 1;
        let generation = self.next_token & !TIMER_KIND_MASK;
        let child = Child {
            snapshot: snapshot.clone(),
            replid: self.repl.replid,
            offset: self.repl.offset,
            for_replication,
            generation,
        };
        ctx.note(
            "bgsave:start",
            format!(
                "{} forks an RDB child at offset {} ({} keys, {} bytes, {})",
                self.name,
                child.offset,
                snapshot.len(),
                size,
                if for_replication && self.cfg.repl_diskless_sync {
                    "diskless"
                } else {
                    "to disk"
                }
            ),
        );
        if for_replication {
            let waiting: Vec<ProcessId> = self
                .replicas
                .iter()
                .filter(|(_, r)| r.state == ReplicaState::WaitBgsaveStart)
                .map(|(p, _)| *p)
                .collect();
            for pid in waiting {
                let r = self.replicas.get_mut(&pid).expect("listed");
                r.state = ReplicaState::WaitBgsaveEnd;
                let conn = r.conn;
                ctx.send(
                    pid,
                    Msg::FullResync {
                        conn,
                        replid: child.replid,
                        offset: child.offset,
                    },
                );
            }
        }
        let diskless = for_replication && self.cfg.repl_diskless_sync;
        let duration_ns = if diskless {
            0
        } else {
            (u128::from(size) * u128::from(SimTime::NANOS_PER_SEC)
                / u128::from(self.cfg.rdb_save_bytes_per_sec.max(1))) as u64
        };
        self.child = Some(child);
        ctx.set_timer(duration_ns, TIMER_CHILD_DONE | generation);
    }

    fn on_child_done(&mut self, ctx: &mut Ctx<'_, Msg>, generation: u64) {
        let Some(child) = self.child.take_if(|c| c.generation == generation) else {
            return;
        };
        let size = child.snapshot.rdb_size_bytes();
        let diskless = child.for_replication && self.cfg.repl_diskless_sync;
        if !diskless {
            // rdbSave fsyncs the file before renaming it into place.
            self.disk.rdb = Some(RdbFile {
                keyspace: child.snapshot.clone(),
                replid: child.replid,
                offset: child.offset,
            });
            self.dirty_since_save = 0;
            self.last_save = ctx.now();
            ctx.note(
                "bgsave:done",
                format!("{} saved dump.rdb at offset {}", self.name, child.offset),
            );
        }
        let pids: Vec<ProcessId> = self
            .replicas
            .iter()
            .filter(|(_, r)| r.state == ReplicaState::WaitBgsaveEnd)
            .map(|(p, _)| *p)
            .collect();
        for pid in pids {
            let r = self.replicas.get_mut(&pid).expect("listed");
            let conn = r.conn;
            let pending = std::mem::take(&mut r.pending);
            r.pending_bytes = 0;
            r.state = ReplicaState::Streaming;
            self.stats.rdb_bytes_sent += size;
            ctx.send(
                pid,
                Msg::Rdb {
                    conn,
                    snapshot: child.snapshot.clone(),
                    size,
                },
            );
            if !pending.is_empty() {
                ctx.send(
                    pid,
                    Msg::Stream {
                        conn,
                        entries: pending,
                    },
                );
            }
        }
        if self
            .replicas
            .values()
            .any(|r| r.state == ReplicaState::WaitBgsaveStart)
        {
            if self.cfg.repl_diskless_sync {
                self.diskless_wait_since.get_or_insert(ctx.now());
            } else {
                self.fork_child(ctx, true);
            }
        }
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId, conn: u64, offset: u64) {
        let now_s = ctx.now().as_secs();
        let Some(r) = self.replicas.get_mut(&replica).filter(|r| r.conn == conn) else {
            // An ACK on a connection this server does not know (it restarted): reset it.
            ctx.send(replica, Msg::Close { conn });
            return;
        };
        r.ack_offset = r.ack_offset.max(offset);
        r.ack_time_secs = now_s;
        if r.state == ReplicaState::Streaming {
            r.state = ReplicaState::Online;
            self.refresh_good_replicas(ctx.now());
        }
        if !self.blocked.is_empty() {
            self.unblock_waits(ctx);
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, conn: u64) {
        if self.replicas.get(&from).is_some_and(|r| r.conn == conn) {
            self.replicas.remove(&from);
            if self.replicas.is_empty() {
                self.no_replicas_since = Some(ctx.now());
            }
            self.refresh_good_replicas(ctx.now());
        }
        if self
            .link
            .as_ref()
            .is_some_and(|l| l.conn == conn && l.master == from)
        {
            ctx.note(
                "repl:link-closed",
                format!(
                    "{}: connection with primary {} closed",
                    self.name,
                    self.peer(from)
                ),
            );
            self.drop_link(ctx);
        }
    }

    // ----- replica side -----------------------------------------------------------------------

    fn connect(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
        let conn = self.next_conn();
        self.link = Some(MasterLink {
            master,
            conn,
            phase: Phase::AwaitPong,
            last_io: ctx.now(),
            started: ctx.now(),
        });
        self.link_down_since.get_or_insert(ctx.now());
        ctx.note(
            "repl:connect",
            format!(
                "{} connecting to primary {} (PING)",
                self.name,
                self.peer(master)
            ),
        );
        ctx.send(master, Msg::ReplPing { conn });
    }

    /// Drops the link to the primary; the cron reconnects within a second and tries PSYNC with
    /// the cached primary (this server's own replid and offset).
    fn drop_link(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if let Some(link) = self.link.take() {
            if matches!(link.phase, Phase::Connected) {
                self.psync_capable = true;
            }
            ctx.send(link.master, Msg::Close { conn: link.conn });
            self.link_down_since = Some(ctx.now());
        }
    }

    fn current_link(&mut self, from: ProcessId, conn: u64) -> Option<&mut MasterLink> {
        self.link
            .as_mut()
            .filter(|l| l.conn == conn && l.master == from)
    }

    fn on_handshake_reply(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        at: Phase,
    ) {
        let psync_from = self
            .psync_capable
            .then_some((self.repl.replid, self.repl.offset + 1));
        let now = ctx.now();
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        link.last_io = now;
        match (&link.phase, at) {
            (Phase::AwaitPong, Phase::AwaitPong) => {
                link.phase = Phase::AwaitReplconf;
                ctx.send(from, Msg::Replconf { conn });
                ctx.note(
                    "repl:replconf",
                    format!(
                        "{} got +PONG, sends REPLCONF listening-port and REPLCONF capa eof capa psync2",
                        self.name
                    ),
                );
            }
            (Phase::AwaitReplconf, Phase::AwaitReplconf) => {
                link.phase = Phase::AwaitPsync;
                let text = match psync_from {
                    Some((id, off)) => format!("PSYNC {id} {off}"),
                    None => "PSYNC ? -1".to_string(),
                };
                ctx.send(
                    from,
                    Msg::Psync {
                        conn,
                        from: psync_from,
                    },
                );
                ctx.note("repl:psync", format!("{} sends {}", self.name, text));
            }
            _ => {}
        }
    }

    fn on_sync_error(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, conn: u64, text: &str) {
        if self.current_link(from, conn).is_some() {
            ctx.note(
                "repl:psync-error",
                format!("{}: primary replied -{text}; retrying later", self.name),
            );
            self.drop_link(ctx);
        }
    }

    fn on_fullresync(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        replid: ReplId,
        offset: u64,
    ) {
        let now = ctx.now();
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        link.last_io = now;
        link.phase = Phase::AwaitRdb { replid, offset };
        ctx.note(
            "repl:fullresync",
            format!(
                "{} got +FULLRESYNC {} {}",
                self.name,
                replid.short(),
                offset
            ),
        );
    }

    fn on_rdb(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        snapshot: Rc<Keyspace>,
        size: u64,
    ) {
        let now = ctx.now();
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        let Phase::AwaitRdb { replid, offset } = link.phase.clone() else {
            return;
        };
        link.last_io = now;
        link.phase = Phase::Loading {
            replid,
            offset,
            snapshot,
            buffered: Vec::new(),
        };
        // replicationAttachToNewMaster: sub-replicas must full-sync too, the backlog goes.
        let subs: Vec<ProcessId> = self.replicas.keys().copied().collect();
        for pid in subs {
            self.drop_replica(ctx, pid);
        }
        self.backlog = None;
        // replicationDiscardCachedMaster: the old history is gone with the data.
        self.psync_capable = false;
        let flushed = self.keyspace.len() as u64;
        self.stats.keys_flushed += flushed;
        self.keyspace.flush();
        ctx.note(
            "repl:flush",
            format!(
                "{} flushes its old data ({} keys) and loads a {} byte RDB",
                self.name, flushed, size
            ),
        );
        let load_ns = (u128::from(size) * u128::from(SimTime::NANOS_PER_SEC)
            / u128::from(self.cfg.rdb_load_bytes_per_sec.max(1))) as u64;
        self.next_token += 1;
        let token = self.next_token & !TIMER_KIND_MASK;
        self.link.as_mut().expect("checked").conn = conn;
        ctx.set_timer(load_ns, TIMER_LOAD_DONE | token);
        self.pending_load_token = token;
    }

    fn on_load_done(&mut self, ctx: &mut Ctx<'_, Msg>, token: u64) {
        if token != self.pending_load_token {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            unreachable!("loading is not interruptible: the link stays until the load is done")
        };
        let Phase::Loading {
            replid,
            offset,
            snapshot,
            buffered,
        } = std::mem::replace(&mut link.phase, Phase::Connected)
        else {
            unreachable!("a load-done timer fires only while loading")
        };
        let (master, conn, started) = (link.master, link.conn, link.started);
        link.last_io = ctx.now();
        self.keyspace = (*snapshot).clone();
        self.repl.reset(replid);
        self.repl.offset = offset;
        self.psync_capable = true;
        self.backlog = Some(Backlog::new(self.cfg.repl_backlog_size, offset + 1));
        self.disk.rdb = Some(RdbFile {
            keyspace: snapshot.clone(),
            replid,
            offset,
        });
        if self.cfg.appendonly {
            // restartAOFAfterSYNC: the AOF is rewritten with the new dataset as its base.
            self.disk.aof = Some(AofFile {
                base: Some(snapshot),
                commands: Vec::new(),
                fsynced: 0,
                base_fsynced: true,
            });
        }
        self.link_down_since = None;
        self.stats.full_resyncs += 1;
        self.stats.sync_time_ns += ctx.now().since(started);
        ctx.note(
            "repl:full-resync-done",
            format!(
                "{} loaded the RDB: {} keys at offset {}; streaming from {}",
                self.name,
                self.keyspace.len(),
                offset,
                self.peer(master)
            ),
        );
        for e in buffered {
            self.apply_entry(ctx, e);
        }
        ctx.send(
            master,
            Msg::Ack {
                conn,
                offset: self.repl.offset,
            },
        );
        // What arrived while Redis was blocked loading is handled now.
        for (from, msg) in std::mem::take(&mut self.deferred) {
            self.on_message(ctx, from, msg);
        }
    }

    fn is_loading(&self) -> bool {
        matches!(
            self.link,
            Some(MasterLink {
                phase: Phase::Loading { .. },
                ..
            })
        )
    }

    fn on_continue(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, conn: u64, replid: ReplId) {
        let now = ctx.now();
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        link.phase = Phase::Connected;
        link.last_io = now;
        let started = link.started;
        if replid != self.repl.replid {
            // The primary's history changed (a promotion): keep ours as replid2 and make our own
            // sub-replicas reconnect so they learn the new ID.
            let new = replid;
            self.repl.shift(new);
            let subs: Vec<ProcessId> = self.replicas.keys().copied().collect();
            for pid in subs {
                self.drop_replica(ctx, pid);
            }
        }
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(
                self.cfg.repl_backlog_size,
                self.repl.offset + 1,
            ));
        }
        self.link_down_since = None;
        self.stats.partial_resyncs += 1;
        self.stats.sync_time_ns += now.since(started);
        ctx.note(
            "repl:partial-resync-done",
            format!(
                "{} continues from offset {} with primary {} (+CONTINUE {})",
                self.name,
                self.repl.offset + 1,
                self.peer(from),
                replid.short()
            ),
        );
    }

    fn on_stream(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        entries: Vec<Rc<StreamEntry>>,
    ) {
        let now = ctx.now();
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        link.last_io = now;
        match &mut link.phase {
            Phase::Loading { buffered, .. } => buffered.extend(entries),
            Phase::Connected => {
                for e in entries {
                    self.apply_entry(ctx, e);
                }
            }
            _ => {}
        }
    }

    /// Applies one entry of the primary's stream and proxies it to this server's own replicas.
    fn apply_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
        if entry.end() <= self.repl.offset {
            return; // already applied (a partial resync may resend the caught-up edge)
        }
        match &entry.item {
            StreamItem::Command(cmd) => {
                let applied = self.keyspace.apply(cmd);
                if applied.dirty {
                    self.dirty_since_save += 1;
                    self.append_aof(cmd);
                }
            }
            StreamItem::Getack => {
                if let Some(link) = &self.link {
                    ctx.send(
                        link.master,
                        Msg::Ack {
                            conn: link.conn,
                            offset: self.repl.offset,
                        },
                    );
                }
            }
            StreamItem::Select(_) | StreamItem::Ping => {}
        }
        self.append_entry(ctx, entry);
    }

    // ----- promotion and demotion ---------------------------------------------------------------

    fn on_replicaof(&mut self, ctx: &mut Ctx<'_, Msg>, master: Option<ProcessId>) {
        match master {
            None => self.promote(ctx),
            Some(m) => self.demote(ctx, m),
        }
    }

    /// `REPLICAOF NO ONE`: keep the data, shift IDs, disconnect replicas so they learn the new ID.
    fn promote(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.role == Role::Master {
            return;
        }
        self.drop_link(ctx);
        self.link_down_since = None;
        self.role = Role::Master;
        self.disk.replicaof = None;
        self.repl.shift(ReplId::random(ctx.rng()));
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(
                self.cfg.repl_backlog_size,
                self.repl.offset + 1,
            ));
        }
        let subs: Vec<ProcessId> = self.replicas.keys().copied().collect();
        for pid in subs {
            self.drop_replica(ctx, pid);
        }
        self.select_emitted = false;
        self.no_replicas_since = Some(ctx.now());
        ctx.note(
            "role:promoted",
            format!(
                "{} is now a primary (MASTER MODE enabled): replid {}, replid2 {} valid up to {}",
                self.name,
                self.repl.replid.short(),
                self.repl.replid2.map_or("-".into(), |r| r.short()),
                self.repl.offset
            ),
        );
    }

    /// `REPLICAOF host port`: follow a new primary, trying a partial resync with our own history.
    fn demote(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
        if self.role == Role::Replica(master) {
            return; // "+OK Already connected to specified master"
        }
        let was_master = self.role == Role::Master;
        self.was_primary |= was_master;
        self.drop_link(ctx);
        self.role = Role::Replica(master);
        self.disk.replicaof = Some(master);
        // replicationCacheMasterUsingMyself: PSYNC with our own replid and offset.
        self.psync_capable = true;
        for b in std::mem::take(&mut self.blocked) {
            ctx.send(b.client, Msg::Close { conn: 0 });
        }
        ctx.note(
            if was_master {
                "role:demoted"
            } else {
                "role:replicaof"
            },
            format!(
                "{} becomes a replica of {} (offset {})",
                self.name,
                self.peer(master),
                self.repl.offset
            ),
        );
        self.connect(ctx, master);
    }

    fn info(&self, now: SimTime) -> InfoReply {
        InfoReply {
            is_master: self.role == Role::Master,
            master: match self.role {
                Role::Replica(m) => Some(m),
                Role::Master => None,
            },
            master_link_up: self.link_up(),
            master_link_down_secs: self
                .link_down_since
                .map_or(0, |s| now.since(s) / SimTime::NANOS_PER_SEC),
            offset: self.repl.offset,
            priority: self.cfg.replica_priority,
            replid: self.repl.replid,
            run_id: self.run_id,
            replicas: self.attached_replicas(),
        }
    }

    // ----- cron ---------------------------------------------------------------------------------

    fn cron(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.cron_ticks += 1;
        let now = ctx.now();
        let timeout_ns = self.cfg.repl_timeout_secs * SimTime::NANOS_PER_SEC;
        self.replica_cron(ctx, now, timeout_ns);
        self.primary_cron(ctx, now);
        self.persistence_cron(ctx, now);
    }

    fn replica_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, timeout_ns: u64) {
        let Role::Replica(master) = self.role else {
            return;
        };
        let Some(link) = &self.link else {
            self.connect(ctx, master);
            return;
        };
        let idle = now.since(link.last_io);
        match link.phase {
            Phase::Connected if idle > timeout_ns => {
                ctx.note(
                    "repl:timeout",
                    format!("{}: MASTER timeout: no data nor PING received", self.name),
                );
                self.drop_link(ctx);
            }
            Phase::Connected => {
                let (m, conn) = (link.master, link.conn);
                ctx.send(
                    m,
                    Msg::Ack {
                        conn,
                        offset: self.repl.offset,
                    },
                );
            }
            Phase::Loading { .. } => {}
            _ if idle > timeout_ns => {
                ctx.note(
                    "repl:timeout",
                    format!("{}: Timeout connecting to the MASTER", self.name),
                );
                self.drop_link(ctx);
            }
            _ => {}
        }
        if !self.link_up() {
            // An intermediate replica keeps its sub-replicas alive with newlines, never PINGs.
            for (&pid, r) in &self.replicas {
                ctx.send(pid, Msg::KeepAlive { conn: r.conn });
            }
        }
    }

    fn primary_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let now_s = now.as_secs();
        let timed_out: Vec<ProcessId> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                r.state == ReplicaState::Online
                    && now_s.saturating_sub(r.ack_time_secs) > self.cfg.repl_timeout_secs
            })
            .map(|(p, _)| *p)
            .collect();
        for pid in timed_out {
            ctx.note(
                "repl:replica-timeout",
                format!(
                    "{}: Disconnecting timedout replica (streaming sync) {}",
                    self.name,
                    self.peer(pid)
                ),
            );
            self.drop_replica(ctx, pid);
        }
        let waiting: Vec<(ProcessId, u64)> = self
            .replicas
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.state,
                    ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd
                )
            })
            .map(|(p, r)| (*p, r.conn))
            .collect();
        for (pid, conn) in waiting {
            ctx.send(pid, Msg::KeepAlive { conn });
        }
        if self.role == Role::Master
            && !self.replicas.is_empty()
            && self
                .cron_ticks
                .is_multiple_of(self.cfg.repl_ping_replica_period_secs.max(1))
        {
            self.propagate(ctx, StreamItem::Ping);
        }
        self.refresh_good_replicas(now);
        if let Some(since) = self.diskless_wait_since
            && self.child.is_none()
            && now.since(since) >= self.cfg.repl_diskless_sync_delay_secs * SimTime::NANOS_PER_SEC
        {
            self.diskless_wait_since = None;
            self.fork_child(ctx, true);
        }
        self.backlog_ttl(ctx, now);
    }

    /// A primary without replicas for `repl-backlog-ttl` frees its backlog and changes replid.
    fn backlog_ttl(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let ttl = self.cfg.repl_backlog_ttl_secs;
        if self.role != Role::Master || ttl == 0 || self.backlog.is_none() {
            return;
        }
        if let Some(since) = self.no_replicas_since
            && self.replicas.is_empty()
            && now.since(since) > ttl * SimTime::NANOS_PER_SEC
        {
            self.backlog = None;
            self.repl.reset(ReplId::random(ctx.rng()));
            self.no_replicas_since = None;
            ctx.note(
                "repl:backlog-freed",
                format!(
                    "{}: replication backlog freed after {ttl} seconds without replicas",
                    self.name
                ),
            );
        }
    }

    fn persistence_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let fsync_works = !self.disk_stalled && !self.cfg.bugs.skip_fsync;
        if let Some(aof) = self.disk.aof.as_mut().filter(|_| fsync_works) {
            match self.cfg.appendfsync {
                Fsync::Everysec => aof.fsynced = aof.commands.len(),
                Fsync::No => {
                    if now.since(self.last_writeback)
                        >= self.cfg.os_writeback_interval_ms * SimTime::NANOS_PER_MS
                    {
                        aof.fsynced = aof.commands.len();
                        self.last_writeback = now;
                    }
                }
                // A stall that ended lets the pending fsync of the last write complete.
                Fsync::Always => aof.fsynced = aof.commands.len(),
            }
        }
        if self.child.is_none() {
            let elapsed_s = now.since(self.last_save) / SimTime::NANOS_PER_SEC;
            let due = self
                .cfg
                .save
                .iter()
                .any(|&(secs, changes)| self.dirty_since_save >= changes && elapsed_s >= secs);
            if due {
                self.fork_child(ctx, false);
            }
        }
    }
}

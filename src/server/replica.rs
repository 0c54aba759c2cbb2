//! The replica side of a server: the link to its primary, the handshake, full and partial
//! resyncs, loading the RDB, and applying (and proxying) the primary's stream.

use std::rc::Rc;

use super::{Server, TIMER_LOAD_DONE};
use crate::fact::{DiskFact, Fact};
use crate::proto::{Msg, RdbTransfer};
use crate::redis::{
    Backlog, Keyspace, Mark, RedisVersion, ReplId, ReplIdentity, StreamEntry, StreamItem,
};
use crate::sim::{Ctx, ProcessId, SimTime};

/// Where the link to the primary stands (`server.repl_state`).
#[derive(Clone, Debug)]
pub(crate) enum Phase {
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

/// One connection to the primary.
#[derive(Clone, Debug)]
pub(crate) struct MasterLink {
    pub(crate) master: ProcessId,
    pub(crate) conn: u64,
    pub(crate) phase: Phase,
    pub(crate) last_io: SimTime,
    pub(crate) started: SimTime,
}

/// The replica part of a server: present exactly while it is a replica.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaSide {
    pub(crate) master: ProcessId,
    pub(crate) link: Option<MasterLink>,
    pub(crate) link_down_since: Option<SimTime>,
    /// Whether the data belongs to a history a PSYNC can continue (a cached primary).
    pub(crate) psync_capable: bool,
    pub(crate) load_token: u64,
}

impl ReplicaSide {
    pub(crate) fn new(master: ProcessId, psync_capable: bool) -> Self {
        ReplicaSide {
            master,
            link: None,
            link_down_since: None,
            psync_capable,
            load_token: 0,
        }
    }

    pub(crate) fn link_up(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| matches!(l.phase, Phase::Connected))
    }

    pub(crate) fn is_loading(&self) -> bool {
        self.link
            .as_ref()
            .is_some_and(|l| matches!(l.phase, Phase::Loading { .. }))
    }

    /// The link, if `conn` from `from` is its connection (messages of older ones are ignored).
    pub(crate) fn link_on(&mut self, from: ProcessId, conn: u64) -> Option<&mut MasterLink> {
        self.link
            .as_mut()
            .filter(|l| l.conn == conn && l.master == from)
    }

    pub(crate) fn link_with_conn(&mut self, conn: u64) -> Option<&mut MasterLink> {
        self.link.as_mut().filter(|l| l.conn == conn)
    }

    /// What PSYNC asks for: our history's ID and the first byte we lack, or `PSYNC ? -1`.
    fn psync_request(&self, repl: &ReplIdentity) -> Option<(ReplId, u64)> {
        self.psync_capable.then_some((repl.replid, repl.offset + 1))
    }
}

impl Server {
    fn replica_mut(&mut self) -> &mut ReplicaSide {
        self.replica.as_mut().expect("a replica")
    }

    fn link_on(&mut self, from: ProcessId, conn: u64) -> Option<&mut MasterLink> {
        self.replica.as_mut().and_then(|r| r.link_on(from, conn))
    }

    /// `connectWithMaster`: a new connection, starting the handshake with PING.
    pub(super) fn connect(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
        if master == super::NOWHERE {
            // connectWithMaster fails at once ("Unable to connect to MASTER"); replicationCron
            // tries again in a second.
            ctx.note(Fact::Connecting {
                server: self.name.clone(),
                primary: self.peer(master).to_string(),
            });
            return;
        }
        let conn = self.tokens.conn();
        let now = ctx.now();
        let r = self.replica_mut();
        r.link = Some(MasterLink {
            master,
            conn,
            phase: Phase::AwaitPong,
            last_io: now,
            started: now,
        });
        ctx.note(Fact::Connecting {
            server: self.name.clone(),
            primary: self.peer(master).to_string(),
        });
        ctx.send(master, Msg::ReplPing { conn });
    }

    /// Drops the link to the primary; a later connection tries PSYNC with the cached primary
    /// (this server's own replid and offset). Only an established link going down starts the
    /// `master_link_down_since_seconds` clock (replicationHandleMasterDisconnection).
    pub(super) fn drop_link(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let Some(r) = self.replica.as_mut() else {
            return;
        };
        if let Some(link) = r.link.take() {
            if matches!(link.phase, Phase::Connected) {
                r.psync_capable = true;
                r.link_down_since = Some(ctx.now());
            }
            ctx.send(link.master, Msg::Close { conn: link.conn });
        }
    }

    /// Drops the link and connects again at once, as replicationHandleMasterDisconnection and
    /// cancelReplicationHandshake(1) do (not at the next cron tick).
    pub(super) fn reconnect(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.drop_link(ctx);
        if let Some(master) = self.replica.as_ref().map(|r| r.master) {
            self.connect(ctx, master);
        }
    }

    /// Whether losing the link now reconnects at once: an established link
    /// (replicationHandleMasterDisconnection) or an RDB transfer (cancelReplicationHandshake(1)),
    /// not a handshake (syncWithMaster's error path leaves it to the cron).
    pub(super) fn reconnects_at_once(&self) -> bool {
        let link = self.replica.as_ref().and_then(|r| r.link.as_ref());
        link.is_some_and(|l| matches!(l.phase, Phase::Connected | Phase::AwaitRdb { .. }))
    }

    /// `syncWithMaster`: the replies to PING and REPLCONF move the handshake on.
    pub(super) fn on_handshake_reply(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        at: Phase,
    ) {
        let now = ctx.now();
        let Some(r) = self.replica.as_mut() else {
            return;
        };
        let psync_from = r.psync_request(&self.data.repl);
        // replication.c: slaveTryPartialResynchronization adds FAILOVER while this server hands
        // its role over (FAILOVER_IN_PROGRESS).
        let failover = self
            .console
            .failover
            .as_ref()
            .is_some_and(|f| f.in_progress);
        let Some(link) = r.link_on(from, conn) else {
            return;
        };
        link.last_io = now;
        match (&link.phase, at) {
            (Phase::AwaitPong, Phase::AwaitPong) => {
                link.phase = Phase::AwaitReplconf;
                ctx.send(from, Msg::Replconf { conn });
                let server = self.name.clone();
                ctx.note(Fact::Replconf { server });
            }
            (Phase::AwaitReplconf, Phase::AwaitReplconf) => {
                link.phase = Phase::AwaitPsync;
                ctx.send(
                    from,
                    Msg::Psync {
                        conn,
                        from: psync_from,
                        failover,
                    },
                );
                ctx.note(Fact::PsyncSent {
                    server: self.name.clone(),
                    replid: psync_from.map(|(id, _)| id.to_string()),
                    offset: psync_from.map(|(_, off)| off),
                });
            }
            _ => {}
        }
    }

    pub(super) fn on_sync_error(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        text: &str,
    ) {
        if self.link_on(from, conn).is_some() {
            ctx.note(Fact::PsyncError {
                server: self.name.clone(),
                error: text.to_string(),
            });
            self.drop_link(ctx);
            self.failover_psync_answered(ctx, false);
        }
    }

    pub(super) fn on_fullresync(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        replid: ReplId,
        offset: u64,
    ) {
        let now = ctx.now();
        let Some(link) = self.link_on(from, conn) else {
            return;
        };
        link.last_io = now;
        link.phase = Phase::AwaitRdb { replid, offset };
        ctx.note(Fact::FullResyncStarted {
            server: self.name.clone(),
            replid: replid.to_string(),
            offset,
        });
        self.failover_psync_answered(ctx, true);
    }

    /// `readSyncBulkPayload` reading a part of the payload: the transfer is alive.
    pub(super) fn on_rdb_chunk(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        transfer: &RdbTransfer,
    ) {
        let now = ctx.now();
        let Some(link) = self.link_on(from, conn) else {
            return;
        };
        if !matches!(link.phase, Phase::AwaitRdb { .. }) {
            return;
        }
        link.last_io = now;
        if transfer.truncated.get() {
            self.on_short_read(ctx, from);
        }
    }

    /// The primary closed the connection before the whole payload was sent: "I/O error
    /// trying to sync with MASTER: connection lost", the partial RDB is discarded and the old
    /// data stays (cancelReplicationHandshake(1) reconnects at once).
    fn on_short_read(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId) {
        ctx.note(Fact::LinkClosed {
            server: self.name.clone(),
            primary: self.peer(from).to_string(),
        });
        self.reconnect(ctx);
    }

    /// `readSyncBulkPayload` once the payload is in: flush the old data and load the RDB,
    /// which blocks the server for the load time.
    pub(super) fn on_rdb(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        transfer: &RdbTransfer,
    ) {
        let now = ctx.now();
        let disk_error = self.persistence.disk_error;
        let Some(link) = self.link_on(from, conn) else {
            return;
        };
        if transfer.truncated.get() && matches!(link.phase, Phase::AwaitRdb { .. }) {
            return self.on_short_read(ctx, from);
        }
        let (snapshot, size) = (transfer.snapshot.clone(), transfer.size);
        let Phase::AwaitRdb { replid, offset } = link.phase.clone() else {
            return;
        };
        link.last_io = now;
        // readSyncBulkPayload writes the payload to a temp file first (disk-based load): a
        // failing disk cancels the sync (cancelReplicationHandshake(1)) and it starts over. The
        // model finds out when the payload is in, not at its first bytes.
        if let Some(err) = disk_error {
            let error = err.strerror().to_string();
            self.note_disk(ctx, DiskFact::SyncWriteError { error });
            return self.reconnect(ctx);
        }
        link.phase = Phase::Loading {
            replid,
            offset,
            snapshot,
            buffered: Vec::new(),
        };
        // replicationAttachToNewMaster: sub-replicas must full-sync too, the backlog goes.
        self.drop_all_replicas(ctx);
        self.data.backlog = None;
        // replicationDiscardCachedMaster: the old history is gone with the data.
        self.replica_mut().psync_capable = false;
        let flushed = self.data.keyspace.len() as u64;
        self.stats.keys_flushed += flushed;
        self.data.keyspace.flush();
        ctx.note(Fact::Flushed {
            server: self.name.clone(),
            keys: flushed,
            rdb_bytes: size,
        });
        let load_ns = (u128::from(size) * u128::from(SimTime::NANOS_PER_SEC)
            / u128::from(self.cfg.rdb_load_bytes_per_sec.max(1))) as u64;
        let token = self.tokens.timer();
        ctx.set_timer(load_ns, TIMER_LOAD_DONE | token);
        self.replica_mut().load_token = token;
    }

    pub(super) fn on_load_done(&mut self, ctx: &mut Ctx<'_, Msg>, token: u64) {
        let now = ctx.now();
        let Some(r) = self.replica.as_mut().filter(|r| r.load_token == token) else {
            return;
        };
        let Some(link) = r.link.as_mut() else {
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
        link.last_io = now;
        r.psync_capable = true;
        r.link_down_since = None;
        self.data.keyspace = (*snapshot).clone();
        self.data.repl.reset(replid);
        self.data.repl.offset = offset;
        self.data.backlog = Some(Backlog::new(self.cfg.repl_backlog_size, offset + 1));
        self.persistence
            .synced_from_primary(&self.cfg, snapshot, replid, offset);
        self.stats.full_resyncs += 1;
        self.stats.sync_time_ns += now.since(started);
        ctx.note(Fact::FullResyncDone {
            server: self.name.clone(),
            keys: self.data.keyspace.len() as u64,
            offset,
            primary: self.peer(master).to_string(),
        });
        for e in buffered {
            if self.disk.dead {
                return;
            }
            self.apply_entry(ctx, e);
        }
        let offset = self.data.repl.offset;
        let aof = self.fack();
        ctx.send(master, Msg::Ack { conn, offset, aof });
        // What arrived while Redis was blocked loading is handled now.
        for (from, msg) in std::mem::take(&mut self.deferred) {
            self.on_message(ctx, from, msg);
        }
    }

    /// `+CONTINUE`: the link is up again on the same history (or its successor).
    pub(super) fn on_continue(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        replid: ReplId,
    ) {
        let now = ctx.now();
        let Some(link) = self.link_on(from, conn) else {
            return;
        };
        link.phase = Phase::Connected;
        link.last_io = now;
        let started = link.started;
        if replid != self.data.repl.replid {
            // The primary's history changed (a promotion): keep ours as replid2 and make our own
            // sub-replicas reconnect so they learn the new ID.
            self.data.repl.shift(replid);
            self.drop_all_replicas(ctx);
        }
        self.data.ensure_backlog(self.cfg.repl_backlog_size);
        self.replica_mut().link_down_since = None;
        self.stats.partial_resyncs += 1;
        self.stats.sync_time_ns += now.since(started);
        ctx.note(Fact::PartialResyncDone {
            server: self.name.clone(),
            from_offset: self.data.repl.offset + 1,
            primary: self.peer(from).to_string(),
            replid: replid.to_string(),
        });
        self.failover_psync_answered(ctx, true);
    }

    pub(super) fn on_stream(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        entries: Vec<Rc<StreamEntry>>,
    ) {
        let now = ctx.now();
        let Some(link) = self.link_on(from, conn) else {
            return;
        };
        link.last_io = now;
        match &mut link.phase {
            Phase::Loading { buffered, .. } => buffered.extend(entries),
            Phase::Connected => {
                for e in entries {
                    if self.disk.dead {
                        break;
                    }
                    self.apply_entry(ctx, e);
                }
            }
            _ => {}
        }
    }

    /// 7.2's replicationSendAck adds `FACK <fsynced_reploff>` when the replica has an AOF.
    pub(super) fn fack(&self) -> Option<u64> {
        if self.cfg.version < RedisVersion::V7_2 {
            return None;
        }
        self.persistence.fsynced_reploff(&self.cfg)
    }

    /// Applies one entry of the primary's stream and proxies it to this server's own replicas.
    fn apply_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
        if entry.end() <= self.data.repl.offset {
            return; // already applied (a partial resync may resend the caught-up edge)
        }
        match &entry.item {
            StreamItem::Command(cmd) => {
                if cmd.is_write() && self.panics_on_primary_write(ctx) {
                    return;
                }
                self.vitals.replicated += 1;
                if self.data.keyspace.apply(cmd).dirty {
                    let position = Mark::streamed(self.data.repl.replid, entry.end());
                    let flushed = self.persistence.record_write(
                        &self.cfg,
                        cmd,
                        position,
                        ctx.now(),
                        entry.end(),
                    );
                    if !self.after_flush(ctx, flushed) {
                        return;
                    }
                }
            }
            StreamItem::Getack => {
                let link = self.replica.as_ref().and_then(|r| r.link.as_ref());
                if let Some(link) = link {
                    let (conn, offset, aof) = (link.conn, self.data.repl.offset, self.fack());
                    ctx.send(link.master, Msg::Ack { conn, offset, aof });
                }
            }
            // The replica runs the primary's PUBLISH: its own subscribers hear the hello.
            StreamItem::Publish(h) => self.publish(ctx, h, None),
            StreamItem::Select(_) | StreamItem::Ping => {}
        }
        self.append_entry(ctx, entry);
    }
}

//! The primary side of a server: its replicas and their output buffers, the stream fed into
//! the backlog and to every replica, output-buffer limits, ACKs, and clients blocked in WAIT.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::Server;
use crate::fact::Fact;
use crate::proto::Msg;
use crate::proto::RdbTransfer;
use crate::redis::{Reply, StreamEntry, StreamItem};
use crate::sim::{Ctx, ProcessId, ProcessIds, SimTime};

/// Where a replica stands on this primary (`slave->replstate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReplicaState {
    /// Waiting for the fork of a new RDB child (diskless delay, or another child running).
    WaitBgsaveStart,
    /// The child is writing the RDB; stream entries accumulate in the output buffer.
    WaitBgsaveEnd,
    /// RDB sent, stream flowing; becomes `Online` with the first ACK.
    Streaming,
    /// ONLINE: counts for WAIT and min-replicas.
    Online,
}

/// One replica's connection to this server.
#[derive(Clone, Debug)]
pub(crate) struct ReplicaConn {
    pub(crate) conn: u64,
    pub(crate) state: ReplicaState,
    pub(crate) ack_offset: u64,
    /// 7.2: the offset its AOF has fsynced (`REPLCONF ACK ... FACK`, `repl_aof_off`).
    pub(crate) aof_ack_offset: u64,
    pub(crate) ack_time_secs: u64,
    pub(crate) pending: Vec<Rc<StreamEntry>>,
    pub(crate) pending_bytes: u64,
    pub(crate) soft_limit_since: Option<SimTime>,
    /// Stream bytes sent on this connection (what of its socket queue is not the RDB).
    pub(crate) stream_sent: u64,
    /// The RDB being sent, until the connection ends.
    pub(crate) rdb: Option<Rc<RdbTransfer>>,
    /// While the RDB leaves the output buffer: the bytes still queued when it last moved, and
    /// when (`repl_last_partial_write`).
    pub(crate) rdb_progress: Option<(u64, SimTime)>,
    /// Whether that RDB comes from a diskless child (only those time out while sending).
    pub(crate) rdb_diskless: bool,
}

impl ReplicaConn {
    pub(crate) fn new(conn: u64, state: ReplicaState, ack_offset: u64, now: SimTime) -> Self {
        ReplicaConn {
            conn,
            state,
            ack_offset,
            aof_ack_offset: 0,
            ack_time_secs: now.as_secs(),
            pending: Vec::new(),
            pending_bytes: 0,
            soft_limit_since: None,
            stream_sent: 0,
            rdb: None,
            rdb_progress: None,
            rdb_diskless: false,
        }
    }

    /// networking.c: getClientOutputBufferMemoryUsage: the replication stream this replica
    /// still references (buffered while its RDB is made, or queued beyond the socket's
    /// buffer), never the RDB itself. The queue is FIFO, so its newest bytes are the stream.
    pub(crate) fn output_buffer(&self, ctx: &Ctx<'_, Msg>, pid: ProcessId, tcp: u64) -> u64 {
        self.output_buffer_given(ctx.unsent_bytes(pid), tcp)
    }

    /// [`ReplicaConn::output_buffer`] given the bytes the link has not delivered.
    pub(crate) fn output_buffer_given(&self, unsent: u64, tcp: u64) -> u64 {
        let beyond_socket = unsent.saturating_sub(tcp);
        self.pending_bytes + beyond_socket.min(self.stream_sent)
    }

    /// Whether part of the RDB has not left the output buffer yet (closing the connection
    /// now truncates it).
    pub(crate) fn rdb_unsent(&self, ctx: &Ctx<'_, Msg>, pid: ProcessId, tcp: u64) -> bool {
        self.rdb.is_some() && ctx.unsent_bytes(pid).saturating_sub(tcp) > self.stream_sent
    }

    /// Sends stream entries on this connection.
    pub(crate) fn send_stream(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        pid: ProcessId,
        entries: Vec<Rc<StreamEntry>>,
    ) {
        self.stream_sent += entries.iter().map(|e| e.len).sum::<u64>();
        ctx.send(
            pid,
            Msg::Stream {
                conn: self.conn,
                entries,
            },
        );
    }

    /// Closes this connection (`freeClient`): an RDB still on its way is cut short.
    pub(crate) fn close(&self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId, tcp: u64) {
        if self.rdb_unsent(ctx, pid, tcp)
            && let Some(rdb) = &self.rdb
        {
            rdb.truncated.set(true);
        }
        ctx.send(pid, Msg::Close { conn: self.conn });
    }
}

/// A client blocked in WAIT.
#[derive(Clone, Debug)]
pub(crate) struct BlockedWait {
    pub(crate) client: ProcessId,
    pub(crate) request: u64,
    pub(crate) numreplicas: u32,
    pub(crate) target: u64,
    pub(crate) token: u64,
    /// WAITAOF's `numlocal` (`None` for WAIT).
    pub(crate) numlocal: Option<u32>,
}

impl BlockedWait {
    /// What the blocked command would answer now: (whether it is satisfied, the reply).
    pub(crate) fn answer(&self, side: &PrimarySide, fsynced: Option<u64>) -> (bool, Reply) {
        match self.numlocal {
            None => {
                let n = side.acked_count(self.target);
                (n >= self.numreplicas, Reply::Int(i64::from(n)))
            }
            Some(numlocal) => {
                let n = side.aof_acked_count(self.target);
                let local = u32::from(fsynced.is_some_and(|f| f >= self.target));
                let done = n >= self.numreplicas && local >= numlocal;
                (
                    done,
                    Reply::Ints(Rc::from([i64::from(local), i64::from(n)])),
                )
            }
        }
    }
}

/// The primary part of a server (an intermediate replica has one too, for its sub-replicas).
#[derive(Clone, Debug, Default)]
pub(crate) struct PrimarySide {
    pub(crate) replicas: BTreeMap<ProcessId, ReplicaConn>,
    /// Whether a poll of the RDB transfers is scheduled.
    pub(crate) transfer_poll_pending: bool,
    /// Whether the stream already carries a SELECT for the current database.
    pub(crate) select_emitted: bool,
    /// The offset each client's last write reached (what its WAIT waits for).
    pub(crate) client_offsets: BTreeMap<ProcessId, u64>,
    pub(crate) blocked: Vec<BlockedWait>,
    pub(crate) diskless_wait_since: Option<SimTime>,
    /// ONLINE replicas that ACKed within `min-replicas-max-lag` (`refreshGoodSlavesCount`).
    pub(crate) good_replicas: u32,
    pub(crate) no_replicas_since: Option<SimTime>,
    /// `server.get_ack_from_slaves`: a WAIT blocked; beforeSleep sends one `REPLCONF GETACK *`
    /// for every WAIT of the event-loop iteration.
    pub(crate) getack_pending: bool,
}

impl PrimarySide {
    /// The replicas in `state`, in id order.
    pub(crate) fn replicas_in(&self, state: ReplicaState) -> Vec<ProcessId> {
        self.replicas
            .iter()
            .filter(|(_, r)| r.state == state)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Replicas and their acknowledged offsets.
    pub(crate) fn attached(&self) -> Vec<(ProcessId, u64)> {
        self.replicas
            .iter()
            .map(|(p, r)| (*p, r.ack_offset))
            .collect()
    }

    /// Forgets a replica; returns its connection if it was attached. Without replicas left, the
    /// `repl-backlog-ttl` clock starts.
    pub(crate) fn remove(&mut self, pid: ProcessId, now: SimTime) -> Option<ReplicaConn> {
        let r = self.replicas.remove(&pid);
        if self.replicas.is_empty() {
            self.no_replicas_since = Some(now);
        }
        r
    }

    /// `refreshGoodSlavesCount`.
    pub(crate) fn refresh_good_replicas(&mut self, now: SimTime, max_lag_secs: u64) {
        let now_s = now.as_secs();
        self.good_replicas = self
            .replicas
            .values()
            .filter(|r| {
                r.state == ReplicaState::Online
                    && now_s.saturating_sub(r.ack_time_secs) <= max_lag_secs
            })
            .count() as u32;
    }

    /// The smallest offset still referenced by a replica's output buffer, as seen when the
    /// entry starting at `next` is fed.
    pub(crate) fn pinned_from(&self, ctx: &Ctx<'_, Msg>, next: u64, tcp: u64) -> Option<u64> {
        self.replicas
            .iter()
            .filter(|(_, r)| r.state != ReplicaState::WaitBgsaveStart)
            .map(|(&pid, r)| next.saturating_sub(r.output_buffer(ctx, pid, tcp)))
            .min()
    }

    /// Hands one stream entry to one replica: buffered while its RDB is being produced, sent
    /// once its RDB is on the way.
    pub(crate) fn deliver(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        pid: ProcessId,
        entry: &Rc<StreamEntry>,
    ) {
        let r = self.replicas.get_mut(&pid).expect("listed replica");
        match r.state {
            ReplicaState::WaitBgsaveStart => {}
            ReplicaState::WaitBgsaveEnd => {
                r.pending_bytes += entry.len;
                r.pending.push(entry.clone());
            }
            ReplicaState::Streaming | ReplicaState::Online => {
                r.send_stream(ctx, pid, vec![entry.clone()]);
            }
        }
    }

    // ----- WAIT -------------------------------------------------------------------------------

    /// ONLINE replicas that acknowledged `target` (`replicationCountAcksByOffset`).
    pub(crate) fn acked_count(&self, target: u64) -> u32 {
        self.replicas
            .values()
            .filter(|r| r.state == ReplicaState::Online && r.ack_offset >= target)
            .count() as u32
    }

    /// ONLINE replicas whose AOF holds `target` fsynced (7.2: `replicationCountAOFAcksByOffset`).
    pub(crate) fn aof_acked_count(&self, target: u64) -> u32 {
        self.replicas
            .values()
            .filter(|r| r.state == ReplicaState::Online && r.aof_ack_offset >= target)
            .count() as u32
    }

    /// The timeout of a blocked WAIT or WAITAOF: it answers with what it has. `fsynced` is this
    /// server's `fsynced_reploff` (`None` without an AOF).
    pub(crate) fn on_wait_timeout(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        token: u64,
        fsynced: Option<u64>,
    ) {
        if let Some(i) = self.blocked.iter().position(|b| b.token == token) {
            let b = self.blocked.remove(i);
            let (_, reply) = b.answer(self, fsynced);
            send_reply(ctx, &b, reply);
        }
    }

    /// `processClientsWaitingReplicas`.
    pub(crate) fn unblock_waits(&mut self, ctx: &mut Ctx<'_, Msg>, fsynced: Option<u64>) {
        let mut i = 0;
        while i < self.blocked.len() {
            let (done, reply) = self.blocked[i].answer(self, fsynced);
            if done {
                let b = self.blocked.remove(i);
                send_reply(ctx, &b, reply);
            } else {
                i += 1;
            }
        }
    }
}

fn send_reply(ctx: &mut Ctx<'_, Msg>, b: &BlockedWait, reply: Reply) {
    ctx.send(
        b.client,
        Msg::Reply {
            id: b.request,
            reply,
            at: None,
        },
    );
}

impl Server {
    /// `replicationFeedSlaves` on a primary: SELECT first when the stream needs one, then the item.
    pub(super) fn propagate(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        if self.data.backlog.is_none() && self.primary.replicas.is_empty() {
            return;
        }
        // replicationFeedSlaves: a SELECT precedes the first command of a client's database
        // (writes and PUBLISH run in db 0; PING and GETACK use the stream's own).
        if matches!(item, StreamItem::Command(_) | StreamItem::Publish(_))
            && !self.primary.select_emitted
        {
            self.primary.select_emitted = true;
            self.feed(ctx, StreamItem::Select(0));
        }
        self.feed(ctx, item);
    }

    fn feed(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        let entry = Rc::new(StreamEntry {
            offset: self.data.repl.offset + 1,
            len: item.resp_len(),
            item,
        });
        self.append_entry(ctx, entry);
    }

    /// Adds an entry to the backlog and every replica's output, as the primary or as an
    /// intermediate replica proxying its primary's stream.
    pub(super) fn append_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
        if self.cfg.bugs.any() && entry.offset != self.data.repl.offset + 1 {
            // Only a planted bug can send a gap; a real replica just counts the bytes it gets.
            self.data.repl.offset = entry.offset - 1;
            self.data.backlog = None;
        }
        assert_eq!(
            entry.offset,
            self.data.repl.offset + 1,
            "the stream has no gaps"
        );
        self.data.repl.offset += entry.len;
        let tcp = self.cfg.tcp_send_buffer_bytes;
        let pinned = self.primary.pinned_from(ctx, entry.offset, tcp);
        if let Some(b) = self.data.backlog.as_mut() {
            b.feed(entry.clone(), pinned);
        }
        let pids: ProcessIds = self.primary.replicas.keys().copied().collect();
        for pid in pids {
            self.primary.deliver(ctx, pid, &entry);
            self.enforce_output_limit(ctx, pid);
        }
    }

    /// `client-output-buffer-limit replica`: disconnect a replica whose buffer is too large.
    /// networking.c: checkClientOutputBufferLimits: a replica's hard limit is at least
    /// repl-backlog-size (the replica shares the backlog's memory anyway).
    fn enforce_output_limit(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
        let mut limit = self.cfg.replica_output_buffer;
        if limit.hard_bytes > 0 {
            limit.hard_bytes = limit.hard_bytes.max(self.cfg.repl_backlog_size);
        }
        let tcp = self.cfg.tcp_send_buffer_bytes;
        let now = ctx.now();
        let Some(r) = self.primary.replicas.get_mut(&pid) else {
            return;
        };
        let used = r.output_buffer(ctx, pid, tcp);
        let over_hard = limit.hard_bytes > 0 && used >= limit.hard_bytes;
        let over_soft = limit.soft_bytes > 0 && used >= limit.soft_bytes;
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
            ctx.note(Fact::OutputBufferLimit {
                server: self.name.clone(),
                replica: self.peer(pid).to_string(),
                bytes: used,
            });
            self.drop_replica(ctx, pid);
        }
    }

    /// Closes a replica's connection (`freeClient` of a replica). Its references to the
    /// replication buffer go (`freeReplicaReferencedReplBuffer`), and the backlog is trimmed
    /// of blocks no other replica references (`incrementalTrimReplicationBacklog`).
    pub(super) fn drop_replica(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
        let tcp = self.cfg.tcp_send_buffer_bytes;
        if let Some(r) = self.primary.remove(pid, ctx.now()) {
            r.close(ctx, pid, tcp);
        }
        self.refresh_good_replicas(ctx.now());
        let pinned = self
            .primary
            .pinned_from(ctx, self.data.repl.offset + 1, tcp);
        if let Some(b) = self.data.backlog.as_mut() {
            b.trim(pinned);
        }
    }

    /// Drops every replica of this server (they must resync to learn a new history).
    pub(super) fn drop_all_replicas(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let subs: Vec<ProcessId> = self.primary.replicas.keys().copied().collect();
        for pid in subs {
            self.drop_replica(ctx, pid);
        }
    }

    pub(super) fn refresh_good_replicas(&mut self, now: SimTime) {
        let lag = self.cfg.min_replicas_max_lag_secs;
        self.primary.refresh_good_replicas(now, lag);
    }
}

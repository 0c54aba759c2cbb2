//! The primary's half of synchronisation: answering PSYNC (partial or full), RDB children for
//! replicas, handing the RDB and the buffered stream over, ACKs and closed connections.

use std::rc::Rc;

use super::persistence::Child;
use super::primary::{ReplicaConn, ReplicaState};
use super::{Role, Server, TIMER_CHILD_DONE, TIMER_TRANSFER_POLL};
use crate::fact::Fact;
use crate::proto::{Msg, RdbTransfer};
use crate::redis::{PsyncDecision, ReplId, decide_psync};
use crate::sim::{Ctx, ProcessId, SimTime};

/// How often the RDBs on their way are checked (serverCron at the default `hz` 10).
const TRANSFER_POLL_NS: u64 = 100 * SimTime::NANOS_PER_MS;

/// `-NOMASTERLINK` reply to a PSYNC sent to a replica whose own link is down.
const NOMASTERLINK: &str = "NOMASTERLINK Can't SYNC while not connected with my master";

impl Server {
    /// `syncCommand`: a replica asks to synchronise.
    pub(super) fn on_psync(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        req: Option<(ReplId, u64)>,
        failover: bool,
    ) {
        if failover && let Some(text) = self.on_psync_failover(ctx, req.map(|(id, _)| id)) {
            ctx.send(replica, Msg::SyncError { conn, text });
            return;
        }
        // syncCommand: "Don't let replicas sync with us while we're failing over".
        if self.console.failover.is_some() {
            let text = "NOMASTERLINK Can't SYNC while failing over";
            ctx.send(replica, Msg::SyncError { conn, text });
            return;
        }
        if matches!(self.role(), Role::Replica(_)) && !self.link_up() {
            let text = NOMASTERLINK;
            ctx.send(replica, Msg::SyncError { conn, text });
            return;
        }
        if let Some(old) = self.primary.replicas.remove(&replica) {
            old.close(ctx, replica, self.cfg.tcp_send_buffer_bytes);
        }
        let req = self.planted_psync_request(req);
        match decide_psync(&self.data.repl, self.data.backlog.as_ref(), req) {
            PsyncDecision::Continue => self.accept_partial(ctx, replica, conn, req),
            PsyncDecision::FullResync(reason) => {
                ctx.note(Fact::FullResyncNeeded {
                    server: self.name.clone(),
                    replica: self.peer(replica).to_string(),
                    reason,
                });
                self.accept_full(ctx, replica, conn);
            }
        }
    }

    /// Planted bug: pretend the replica asked for our history, at an offset we hold.
    fn planted_psync_request(&self, req: Option<(ReplId, u64)>) -> Option<(ReplId, u64)> {
        match (req, self.data.backlog.as_ref()) {
            (Some((_, off)), Some(b)) if self.cfg.bugs.accept_any_psync => {
                let end = b.first_offset() + b.histlen();
                let nearest = b
                    .entries_from(off.clamp(b.first_offset(), end))
                    .map_or(end, |e| e.first().map_or(end, |x| x.offset));
                Some((self.data.repl.replid, nearest))
            }
            (other, _) => other,
        }
    }

    /// `+CONTINUE`: the replica gets the backlog from its offset and is ONLINE at once.
    fn accept_partial(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        req: Option<(ReplId, u64)>,
    ) {
        let (_, offset) = req.expect("a partial resync has an offset");
        let entries = self
            .data
            .backlog
            .as_ref()
            .and_then(|b| b.entries_from(offset))
            .expect("decide_psync checked the backlog covers the offset");
        let bytes: u64 = entries.iter().map(|e| e.len).sum();
        self.stats.partial_bytes_sent += bytes;
        ctx.note(Fact::PartialResyncAccepted {
            server: self.name.clone(),
            replica: self.peer(replica).to_string(),
            offset,
            backlog_bytes: bytes,
        });
        // A new client's repl_ack_off is 0 until its first REPLCONF ACK (createClient).
        let mut r = ReplicaConn::new(conn, ReplicaState::Online, 0, ctx.now());
        let replid = self.data.repl.replid;
        ctx.send(replica, Msg::Continue { conn, replid });
        if !entries.is_empty() {
            r.send_stream(ctx, replica, entries);
        }
        self.primary.replicas.insert(replica, r);
        self.primary.no_replicas_since = None;
        self.refresh_good_replicas(ctx.now());
    }

    /// `+FULLRESYNC`: the replica waits for an RDB child (a new one, or a running disk-based
    /// one it can share).
    fn accept_full(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId, conn: u64) {
        if self.data.backlog.is_none() {
            // syncCommand: the first replica ever creates the backlog under a fresh history.
            let parent = self.data.position();
            self.data.repl.reset(ReplId::random(ctx.rng()));
            self.data.ensure_backlog(self.cfg.repl_backlog_size);
            ctx.note(Fact::BacklogCreated {
                server: self.name.clone(),
                replid: self.data.repl.replid.to_string(),
                parent,
            });
        }
        // replicationSetupSlaveForFullResync forces a SELECT into the stream.
        self.primary.select_emitted = false;
        let r = ReplicaConn::new(conn, ReplicaState::WaitBgsaveStart, 0, ctx.now());
        self.primary.replicas.insert(replica, r);
        self.primary.no_replicas_since = None;
        let diskless = self.cfg.repl_diskless_sync;
        let child = self.persistence.child.as_ref();
        if child.is_some_and(|c| c.for_replication && !diskless) {
            self.attach_to_running_child(ctx, replica);
        } else if diskless {
            self.primary.diskless_wait_since.get_or_insert(ctx.now());
        } else if child.is_none() {
            self.fork_child(ctx, true);
        }
    }

    /// A disk-based BGSAVE for replication is running: the new replica shares its RDB, and its
    /// output buffer is a copy of one already waiting for it (as `syncCommand` does).
    fn attach_to_running_child(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId) {
        let child = self.persistence.child.as_ref().expect("checked");
        let (replid, offset) = (child.replid, child.offset);
        let donor = self
            .primary
            .replicas
            .iter()
            .find(|(p, r)| **p != replica && r.state == ReplicaState::WaitBgsaveEnd)
            .map(|(_, r)| (r.pending.clone(), r.pending_bytes));
        let Some((pending, pending_bytes)) = donor else {
            return; // no buffer to copy: it waits for the next child
        };
        let r = self.primary.replicas.get_mut(&replica).expect("inserted");
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
    pub(super) fn fork_child(&mut self, ctx: &mut Ctx<'_, Msg>, for_replication: bool) {
        assert!(self.persistence.child.is_none(), "one child at a time");
        let snapshot = Rc::new(self.data.keyspace.clone());
        let size = snapshot.rdb_size_bytes();
        let generation = self.tokens.timer();
        let child = Child {
            snapshot: snapshot.clone(),
            replid: self.data.repl.replid,
            offset: self.data.repl.offset,
            holds: self.data.mark(),
            for_replication,
            generation,
        };
        let diskless = for_replication && self.cfg.repl_diskless_sync;
        ctx.note(Fact::BgsaveStarted {
            server: self.name.clone(),
            offset: child.offset,
            keys: snapshot.len() as u64,
            bytes: size,
            diskless,
        });
        if for_replication {
            for pid in self.primary.replicas_in(ReplicaState::WaitBgsaveStart) {
                let r = self.primary.replicas.get_mut(&pid).expect("listed");
                r.state = ReplicaState::WaitBgsaveEnd;
                let (conn, replid, offset) = (r.conn, child.replid, child.offset);
                ctx.send(
                    pid,
                    Msg::FullResync {
                        conn,
                        replid,
                        offset,
                    },
                );
            }
        }
        let duration_ns = if diskless { 0 } else { self.rdb_save_ns() };
        self.persistence.last_bgsave_try = ctx.now();
        self.persistence.child = Some(child);
        ctx.set_timer(duration_ns, TIMER_CHILD_DONE | generation);
    }

    /// The child exited: dump.rdb is written (disk-based), and every replica waiting for this
    /// RDB gets it followed by the stream buffered meanwhile (`updateSlavesWaitingBgsave`).
    pub(super) fn on_child_done(&mut self, ctx: &mut Ctx<'_, Msg>, generation: u64) {
        let Some(child) = self
            .persistence
            .child
            .take_if(|c| c.generation == generation)
        else {
            return;
        };
        let diskless = child.for_replication && self.cfg.repl_diskless_sync;
        if !diskless {
            if let Some(err) = self.persistence.disk_error {
                // backgroundSaveDoneHandlerDisk: "Background saving error"; the replicas that
                // waited for this RDB are dropped (updateSlavesWaitingBgsave(C_ERR)).
                self.bgsave_failed(ctx, err);
                for pid in self.primary.replicas_in(ReplicaState::WaitBgsaveEnd) {
                    self.drop_replica(ctx, pid);
                }
                return;
            }
            self.persistence.rdb_written(ctx, &self.name, &child);
            self.bgsave_succeeded(ctx);
        }
        self.send_rdb_to_waiting(ctx, &child);
        if !self
            .primary
            .replicas_in(ReplicaState::WaitBgsaveStart)
            .is_empty()
        {
            if self.cfg.repl_diskless_sync {
                self.primary.diskless_wait_since.get_or_insert(ctx.now());
            } else {
                self.fork_child(ctx, true);
            }
        }
    }

    /// updateSlavesWaitingBgsave: every replica waiting for this RDB gets it, then the
    /// stream buffered meanwhile. It goes ONLINE once the RDB has left its output buffer
    /// (see `poll_transfers`).
    fn send_rdb_to_waiting(&mut self, ctx: &mut Ctx<'_, Msg>, child: &Child) {
        let now = ctx.now();
        let waiting = self.primary.replicas_in(ReplicaState::WaitBgsaveEnd);
        for &pid in &waiting {
            let r = self.primary.replicas.get_mut(&pid).expect("listed");
            let pending = std::mem::take(&mut r.pending);
            r.pending_bytes = 0;
            r.state = ReplicaState::Streaming;
            let (transfer, parts) = RdbTransfer::messages(r.conn, child.snapshot.clone());
            self.stats.rdb_bytes_sent += transfer.size;
            for part in parts {
                ctx.send(pid, part);
            }
            r.rdb = Some(transfer);
            if !pending.is_empty() {
                r.send_stream(ctx, pid, pending);
            }
            // The parts are queued once this event is handled: the first poll sees them.
            r.rdb_progress = Some((u64::MAX, now));
            r.rdb_diskless = child.for_replication && self.cfg.repl_diskless_sync;
        }
        if !waiting.is_empty() {
            self.schedule_transfer_poll(ctx);
        }
    }

    fn schedule_transfer_poll(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if !self.primary.transfer_poll_pending {
            self.primary.transfer_poll_pending = true;
            ctx.set_timer(TRANSFER_POLL_NS, TIMER_TRANSFER_POLL);
        }
    }

    /// serverCron's checkChildrenDone at `hz` 10, for the RDBs on their way: a replica whose
    /// RDB left the output buffer is put ONLINE (`replicaPutOnline`: diskless when the child
    /// exits, disk-based when `sendBulkToSlave` wrote the last byte), with a fresh ACK time.
    /// The time of the last progress is kept for replicationCron, which drops a diskless one
    /// that made none for `repl-timeout` (cron.rs; a disk-based transfer is not fed by the
    /// child and has no such timeout).
    pub(super) fn poll_transfers(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.primary.transfer_poll_pending = false;
        let (now, tcp) = (ctx.now(), self.cfg.tcp_send_buffer_bytes);
        let (mut online, mut sending) = (false, false);
        for (&pid, r) in self.primary.replicas.iter_mut() {
            let Some((last_unsent, _)) = r.rdb_progress else {
                continue;
            };
            let unsent = ctx.unsent_bytes(pid);
            if !r.rdb_unsent(ctx, pid, tcp) {
                r.rdb_progress = None;
                r.state = ReplicaState::Online;
                r.ack_time_secs = now.as_secs();
                online = true;
            } else if unsent < last_unsent {
                r.rdb_progress = Some((unsent, now));
                sending = true;
            } else {
                sending = true;
            }
        }
        if online {
            self.refresh_good_replicas(now);
        }
        if sending {
            self.schedule_transfer_poll(ctx);
        }
    }

    /// `REPLCONF ACK <offset>`.
    pub(super) fn on_ack(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        offset: u64,
        aof: Option<u64>,
    ) {
        let now_s = ctx.now().as_secs();
        let mine = self.data.repl.offset;
        let bugs = self.cfg.bugs.any();
        let Some(r) = self
            .primary
            .replicas
            .get_mut(&replica)
            .filter(|r| r.conn == conn)
        else {
            // An ACK on a connection this server does not know (it restarted): reset it.
            ctx.send(replica, Msg::Close { conn });
            return;
        };
        assert!(
            bugs || offset <= mine,
            "a replica acknowledged {offset}, beyond the {mine} bytes it was sent"
        );
        r.ack_offset = r.ack_offset.max(offset);
        if let Some(aof) = aof {
            r.aof_ack_offset = r.aof_ack_offset.max(aof);
        }
        r.ack_time_secs = now_s;
        if r.state == ReplicaState::Streaming {
            r.state = ReplicaState::Online;
            self.refresh_good_replicas(ctx.now());
        }
        if !self.primary.blocked.is_empty() {
            let fsynced = self.persistence.fsynced_reploff(&self.cfg);
            self.primary.unblock_waits(ctx, fsynced);
        }
    }

    /// What the OS sends when this server is killed while its machine stays up: a FIN on every
    /// connection it has open (its replicas', its link to its primary, its clients'), so each
    /// peer sees the connection close at once, as `freeClient` on the other side of a reset.
    /// The output buffer this server holds for each replica (`getClientOutputBufferMemoryUsage`),
    /// given the bytes its links have not delivered to each.
    pub fn replica_output_buffers(
        &self,
        unsent: &dyn Fn(ProcessId) -> u64,
    ) -> Vec<(ProcessId, u64)> {
        let tcp = self.cfg.tcp_send_buffer_bytes;
        self.primary
            .replicas
            .iter()
            .map(|(&pid, r)| (pid, r.output_buffer_given(unsent(pid), tcp)))
            .collect()
    }

    /// INFO's `mem_total_replication_buffers`.
    pub fn replication_buffer_memory(&self) -> u64 {
        self.data.backlog.as_ref().map_or(0, |b| b.buffer_memory())
    }

    pub fn sockets_closed_by_kill(&self) -> Vec<(ProcessId, Msg)> {
        let replicas = self.primary.replicas.iter().map(|(&r, c)| (r, c.conn));
        let link = self.replica.as_ref().and_then(|r| r.link.as_ref());
        let primary = link.map(|l| (l.master, l.conn));
        let clients = self.clients.iter().map(|&c| (c, 0));
        let mut closes: Vec<(ProcessId, Msg)> = replicas
            .chain(primary)
            .chain(clients)
            .map(|(peer, conn)| (peer, Msg::Close { conn }))
            .collect();
        closes.sort_by_key(|(peer, _)| *peer);
        closes
    }

    /// The peer closed a connection: a replica's, or this server's link to its primary.
    pub(super) fn on_close(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, conn: u64) {
        if self
            .primary
            .replicas
            .get(&from)
            .is_some_and(|r| r.conn == conn)
        {
            self.primary.remove(from, ctx.now());
            self.refresh_good_replicas(ctx.now());
        }
        let closes_link = self
            .replica
            .as_mut()
            .is_some_and(|r| r.link_on(from, conn).is_some());
        if closes_link {
            ctx.note(Fact::LinkClosed {
                server: self.name.clone(),
                primary: self.peer(from).to_string(),
            });
            if self.reconnects_at_once() {
                self.reconnect(ctx);
            } else {
                self.drop_link(ctx);
            }
        }
    }
}

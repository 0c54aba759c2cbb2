//! The primary side of replication: feeding the stream into the backlog and the replicas'
//! output buffers, output-buffer limits, PSYNC answers, RDB children, ACKs.

use super::*;

impl Server {
    /// The replicas in `state`, in id order.
    pub(super) fn replicas_in(&self, state: ReplicaState) -> Vec<ProcessId> {
        self.replicas
            .iter()
            .filter(|(_, r)| r.state == state)
            .map(|(p, _)| *p)
            .collect()
    }

    // ----- feeding the replication stream -----------------------------------------------------

    /// `replicationFeedSlaves` on a primary: SELECT first when the stream needs one, then the item.
    pub(super) fn propagate(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        if self.backlog.is_none() && self.replicas.is_empty() {
            return;
        }
        if matches!(item, StreamItem::Command(_)) && !self.select_emitted {
            self.select_emitted = true;
            self.feed(ctx, StreamItem::Select(0));
        }
        self.feed(ctx, item);
    }

    pub(super) fn output_buffer(
        &self,
        ctx: &Ctx<'_, Msg>,
        replica: ProcessId,
        r: &ReplicaConn,
    ) -> u64 {
        let in_socket = ctx
            .unsent_bytes(replica)
            .saturating_sub(self.cfg.tcp_send_buffer_bytes);
        r.pending_bytes + in_socket
    }

    pub(super) fn feed(&mut self, ctx: &mut Ctx<'_, Msg>, item: StreamItem) {
        let entry = Rc::new(StreamEntry {
            offset: self.repl.offset + 1,
            len: item.resp_len(),
            item,
        });
        self.append_entry(ctx, entry);
    }

    /// Adds an entry to the backlog and every replica's output, as the primary or as an
    /// intermediate replica proxying its primary's stream.
    pub(super) fn append_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
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
    pub(super) fn enforce_output_limit(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
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
            ctx.note(Fact::OutputBufferLimit {
                server: self.name.clone(),
                replica: self.peer(pid).to_string(),
                bytes: used,
            });
            self.drop_replica(ctx, pid);
        }
    }

    pub(super) fn drop_replica(&mut self, ctx: &mut Ctx<'_, Msg>, pid: ProcessId) {
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

    pub(super) fn refresh_good_replicas(&mut self, now: SimTime) {
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

    pub(super) fn on_psync(
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
                ctx.note(Fact::FullResyncNeeded {
                    server: self.name.clone(),
                    replica: self.peer(replica).to_string(),
                    reason,
                });
                self.accept_full(ctx, replica, conn);
            }
        }
    }

    pub(super) fn accept_partial(
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
        ctx.note(Fact::PartialResyncAccepted {
            server: self.name.clone(),
            replica: self.peer(replica).to_string(),
            offset,
            backlog_bytes: bytes,
        });
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

    pub(super) fn accept_full(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId, conn: u64) {
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
    pub(super) fn attach_to_running_child(&mut self, ctx: &mut Ctx<'_, Msg>, replica: ProcessId) {
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
    pub(super) fn fork_child(&mut self, ctx: &mut Ctx<'_, Msg>, for_replication: bool) {
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
        ctx.note(Fact::BgsaveStarted {
            server: self.name.clone(),
            offset: child.offset,
            keys: snapshot.len() as u64,
            bytes: size,
            diskless: for_replication && self.cfg.repl_diskless_sync,
        });
        if for_replication {
            for pid in self.replicas_in(ReplicaState::WaitBgsaveStart) {
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

    pub(super) fn on_child_done(&mut self, ctx: &mut Ctx<'_, Msg>, generation: u64) {
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
            ctx.note(Fact::BgsaveDone {
                server: self.name.clone(),
                offset: child.offset,
            });
        }
        for pid in self.replicas_in(ReplicaState::WaitBgsaveEnd) {
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

    pub(super) fn on_ack(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replica: ProcessId,
        conn: u64,
        offset: u64,
    ) {
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

    pub(super) fn on_close(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, conn: u64) {
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
            ctx.note(Fact::LinkClosed {
                server: self.name.clone(),
                primary: self.peer(from).to_string(),
            });
            self.drop_link(ctx);
        }
    }
}

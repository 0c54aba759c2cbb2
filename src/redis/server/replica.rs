//! The replica side of replication: connecting, the handshake, full and partial resyncs,
//! applying and proxying the stream; and promotion and demotion.

use super::*;

impl Server {
    // ----- replica side -----------------------------------------------------------------------

    pub(super) fn connect(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
        let conn = self.next_conn();
        self.link = Some(MasterLink {
            master,
            conn,
            phase: Phase::AwaitPong,
            last_io: ctx.now(),
            started: ctx.now(),
        });
        self.link_down_since.get_or_insert(ctx.now());
        ctx.note(Fact::Connecting {
            server: self.name.clone(),
            primary: self.peer(master).to_string(),
        });
        ctx.send(master, Msg::ReplPing { conn });
    }

    /// Drops the link to the primary; the cron reconnects within a second and tries PSYNC with
    /// the cached primary (this server's own replid and offset).
    pub(super) fn drop_link(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if let Some(link) = self.link.take() {
            if matches!(link.phase, Phase::Connected) {
                self.psync_capable = true;
            }
            ctx.send(link.master, Msg::Close { conn: link.conn });
            self.link_down_since = Some(ctx.now());
        }
    }

    pub(super) fn current_link(&mut self, from: ProcessId, conn: u64) -> Option<&mut MasterLink> {
        self.link
            .as_mut()
            .filter(|l| l.conn == conn && l.master == from)
    }

    pub(super) fn on_handshake_reply(
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
                ctx.note(Fact::Replconf {
                    server: self.name.clone(),
                });
            }
            (Phase::AwaitReplconf, Phase::AwaitReplconf) => {
                link.phase = Phase::AwaitPsync;
                ctx.send(
                    from,
                    Msg::Psync {
                        conn,
                        from: psync_from,
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
        if self.current_link(from, conn).is_some() {
            ctx.note(Fact::PsyncError {
                server: self.name.clone(),
                error: text.to_string(),
            });
            self.drop_link(ctx);
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
        let Some(link) = self.current_link(from, conn) else {
            return;
        };
        link.last_io = now;
        link.phase = Phase::AwaitRdb { replid, offset };
        ctx.note(Fact::FullResyncStarted {
            server: self.name.clone(),
            replid: replid.to_string(),
            offset,
        });
    }

    pub(super) fn on_rdb(
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
        ctx.note(Fact::Flushed {
            server: self.name.clone(),
            keys: flushed,
            rdb_bytes: size,
        });
        let load_ns = (u128::from(size) * u128::from(SimTime::NANOS_PER_SEC)
            / u128::from(self.cfg.rdb_load_bytes_per_sec.max(1))) as u64;
        self.next_token += 1;
        let token = self.next_token & !TIMER_KIND_MASK;
        self.link.as_mut().expect("checked").conn = conn;
        ctx.set_timer(load_ns, TIMER_LOAD_DONE | token);
        self.pending_load_token = token;
    }

    pub(super) fn on_load_done(&mut self, ctx: &mut Ctx<'_, Msg>, token: u64) {
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
        ctx.note(Fact::FullResyncDone {
            server: self.name.clone(),
            keys: self.keyspace.len() as u64,
            offset,
            primary: self.peer(master).to_string(),
        });
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

    pub(super) fn is_loading(&self) -> bool {
        matches!(
            self.link,
            Some(MasterLink {
                phase: Phase::Loading { .. },
                ..
            })
        )
    }

    pub(super) fn on_continue(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        conn: u64,
        replid: ReplId,
    ) {
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
        ctx.note(Fact::PartialResyncDone {
            server: self.name.clone(),
            from_offset: self.repl.offset + 1,
            primary: self.peer(from).to_string(),
            replid: replid.to_string(),
        });
    }

    pub(super) fn on_stream(
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
    pub(super) fn apply_entry(&mut self, ctx: &mut Ctx<'_, Msg>, entry: Rc<StreamEntry>) {
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

    pub(super) fn on_replicaof(&mut self, ctx: &mut Ctx<'_, Msg>, master: Option<ProcessId>) {
        match master {
            None => self.promote(ctx),
            Some(m) => self.demote(ctx, m),
        }
    }

    /// `REPLICAOF NO ONE`: keep the data, shift IDs, disconnect replicas so they learn the new ID.
    pub(super) fn promote(&mut self, ctx: &mut Ctx<'_, Msg>) {
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
        ctx.note(Fact::Promoted {
            server: self.name.clone(),
            replid: self.repl.replid.to_string(),
            replid2: self.repl.replid2.map(|r| r.to_string()),
            offset: self.repl.offset,
        });
    }

    /// `REPLICAOF host port`: follow a new primary, trying a partial resync with our own history.
    pub(super) fn demote(&mut self, ctx: &mut Ctx<'_, Msg>, master: ProcessId) {
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
        let (server, primary, offset) = (
            self.name.clone(),
            self.peer(master).to_string(),
            self.repl.offset,
        );
        ctx.note(if was_master {
            Fact::Demoted {
                server,
                primary,
                offset,
            }
        } else {
            Fact::Repointed {
                server,
                primary,
                offset,
            }
        });
        self.connect(ctx, master);
    }

    pub(super) fn info(&self, now: SimTime) -> InfoReply {
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
}

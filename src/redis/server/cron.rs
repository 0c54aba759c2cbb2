//! The once-a-second cron: replica timeouts and ACKs, primary timeouts, PINGs, diskless sync
//! start, backlog TTL, and persistence (fsync policies, save rules).

use super::*;

impl Server {
    // ----- cron ---------------------------------------------------------------------------------

    pub(super) fn cron(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.cron_ticks += 1;
        let now = ctx.now();
        let timeout_ns = self.cfg.repl_timeout_secs * SimTime::NANOS_PER_SEC;
        self.replica_cron(ctx, now, timeout_ns);
        self.primary_cron(ctx, now);
        self.persistence_cron(ctx, now);
    }

    pub(super) fn replica_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime, timeout_ns: u64) {
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
                ctx.note(Fact::ReplTimeout {
                    server: self.name.clone(),
                    phase: ReplTimeout::Streaming,
                });
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
                ctx.note(Fact::ReplTimeout {
                    server: self.name.clone(),
                    phase: ReplTimeout::Handshake,
                });
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

    pub(super) fn primary_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
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
            ctx.note(Fact::ReplicaTimedOut {
                server: self.name.clone(),
                replica: self.peer(pid).to_string(),
            });
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
    pub(super) fn backlog_ttl(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
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
            ctx.note(Fact::BacklogFreed {
                server: self.name.clone(),
                after_s: ttl,
            });
        }
    }

    pub(super) fn persistence_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
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

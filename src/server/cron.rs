//! The once-a-second cron (`replicationCron` and the persistence part of `serverCron`):
//! replica timeouts and ACKs, primary timeouts, PINGs and keep-alives, the diskless sync
//! start, the backlog TTL, fsync policies and save rules.

use super::primary::ReplicaState;
use super::replica::Phase;
use super::{Role, Server};
use crate::fact::{Fact, ReplTimeout};
use crate::proto::Msg;
use crate::redis::{ReplId, StreamItem};
use crate::sim::{Ctx, ProcessId, SimTime};

impl Server {
    pub(super) fn cron(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.cron_ticks += 1;
        let now = ctx.now();
        // replicationCron starts with updateFailoverStatus.
        self.update_failover_status(ctx);
        self.replica_cron(ctx, now);
        self.primary_cron(ctx, now);
        let flushed = self
            .persistence
            .fsync_cron(&self.cfg, now, self.data.repl.offset);
        if !self.after_flush(ctx, flushed) {
            return;
        }
        // A fsync can satisfy a blocked WAITAOF's local part.
        if !self.primary.blocked.is_empty() {
            let fsynced = self.persistence.fsynced_reploff(&self.cfg);
            self.primary.unblock_waits(ctx, fsynced);
        }
        if self.persistence.save_due(&self.cfg, now) {
            self.fork_child(ctx, false);
        }
    }

    fn replica_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let timeout = self.cfg.repl_timeout_secs;
        let Some(r) = &self.replica else {
            return;
        };
        let Some(link) = &r.link else {
            self.connect(ctx, r.master);
            return;
        };
        // replicationCron compares whole seconds: `time(NULL) - server.master->lastinteraction`
        // (connected) or `time(NULL) - server.repl_transfer_lastio` (handshake, transfer), both
        // set from `server.unixtime`, `> server.repl_timeout`.
        let idle = now.as_secs().saturating_sub(link.last_io.as_secs());
        match link.phase {
            Phase::Connected if idle > timeout => {
                self.repl_timeout(ctx, ReplTimeout::Streaming);
            }
            Phase::Connected => {
                let (master, conn, offset) = (link.master, link.conn, self.data.repl.offset);
                let aof = self.fack();
                ctx.send(master, Msg::Ack { conn, offset, aof });
            }
            // rdbLoadProgressCallback: replicationSendNewlineToMaster, so that the primary
            // does not time the loading replica out.
            Phase::Loading { .. } => {
                let (master, conn) = (link.master, link.conn);
                ctx.send(master, Msg::KeepAlive { conn });
            }
            _ if idle > timeout => self.repl_timeout(ctx, ReplTimeout::Handshake),
            _ => {}
        }
        // 7.0 sends no newline to the sub-replicas of a replica whose own link is down (the
        // comment in replicationCron says otherwise; the code writes only to pre-sync ones).
    }

    /// "MASTER timeout" (freeClient: replicationHandleMasterDisconnection) or "Timeout
    /// connecting to the MASTER" (cancelReplicationHandshake(1)): both reconnect at once.
    fn repl_timeout(&mut self, ctx: &mut Ctx<'_, Msg>, phase: ReplTimeout) {
        let server = self.name.clone();
        ctx.note(Fact::ReplTimeout { server, phase });
        self.reconnect(ctx);
    }

    fn primary_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        self.drop_timed_out_replicas(ctx, now);
        // replicationCron: replicas waiting for their RDB get a newline so they do not time out.
        for (pid, conn) in self.waiting_for_rdb() {
            ctx.send(pid, Msg::KeepAlive { conn });
        }
        if self.role() == Role::Master
            && !self.primary.replicas.is_empty()
            && self
                .cron_ticks
                .is_multiple_of(self.cfg.repl_ping_replica_period_secs.max(1))
            && !self.pausing_for_manual_failover()
        {
            self.propagate(ctx, StreamItem::Ping);
        }
        self.refresh_good_replicas(now);
        // shouldStartChildForReplication: `max_idle >= server.repl_diskless_sync_delay`, with
        // `idle = server.unixtime - slave->lastinteraction`: whole seconds.
        let delay = self.cfg.repl_diskless_sync_delay_secs;
        if let Some(since) = self.primary.diskless_wait_since
            && self.persistence.child.is_none()
            && now.as_secs().saturating_sub(since.as_secs()) >= delay
        {
            self.primary.diskless_wait_since = None;
            self.fork_child(ctx, true);
        }
        self.backlog_ttl(ctx, now);
    }

    /// replicationCron: ONLINE replicas silent for longer than `repl-timeout` are dropped
    /// ("(streaming sync)"), and so are diskless ones whose RDB made no progress for that long
    /// ("(full sync)": `server.unixtime - slave->repl_last_partial_write`), in whole seconds.
    fn drop_timed_out_replicas(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let now_s = now.as_secs();
        let timeout = self.cfg.repl_timeout_secs;
        let timed_out: Vec<ProcessId> = self
            .primary
            .replicas
            .iter()
            .filter(|(_, r)| {
                let streaming = r.state == ReplicaState::Online
                    && now_s.saturating_sub(r.ack_time_secs) > timeout;
                let full_sync = r.rdb_diskless
                    && r.rdb_progress
                        .is_some_and(|(_, since)| now_s.saturating_sub(since.as_secs()) > timeout);
                streaming || full_sync
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
    }

    /// Replicas in the pre-sync stage: waiting for a child, or for a disk-based child's RDB
    /// (a diskless child writes to their sockets itself).
    fn waiting_for_rdb(&self) -> Vec<(ProcessId, u64)> {
        let socket_child = self
            .persistence
            .child
            .as_ref()
            .is_some_and(|c| c.for_replication && self.cfg.repl_diskless_sync);
        self.primary
            .replicas
            .iter()
            .filter(|(_, r)| match r.state {
                ReplicaState::WaitBgsaveStart => true,
                ReplicaState::WaitBgsaveEnd => !socket_child,
                ReplicaState::Streaming | ReplicaState::Online => false,
            })
            .map(|(p, r)| (*p, r.conn))
            .collect()
    }

    /// A primary without replicas for `repl-backlog-ttl` frees its backlog and changes replid.
    fn backlog_ttl(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let ttl = self.cfg.repl_backlog_ttl_secs;
        if self.role() != Role::Master || ttl == 0 || self.data.backlog.is_none() {
            return;
        }
        if let Some(since) = self.primary.no_replicas_since
            && self.primary.replicas.is_empty()
            // `server.unixtime - server.repl_no_slaves_since > repl_backlog_time_limit`.
            && now.as_secs().saturating_sub(since.as_secs()) > ttl
        {
            self.data.backlog = None;
            let parent = self.data.position();
            self.data.repl.reset(ReplId::random(ctx.rng()));
            self.primary.no_replicas_since = None;
            ctx.note(Fact::BacklogFreed {
                server: self.name.clone(),
                after_s: ttl,
                replid: self.data.repl.replid.to_string(),
                parent,
            });
        }
    }
}

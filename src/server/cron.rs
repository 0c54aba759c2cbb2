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
        self.replica_cron(ctx, now);
        self.primary_cron(ctx, now);
        self.persistence.fsync_cron(&self.cfg, now);
        if self.persistence.save_due(&self.cfg, now) {
            self.fork_child(ctx, false);
        }
    }

    fn replica_cron(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let timeout_ns = self.cfg.repl_timeout_secs * SimTime::NANOS_PER_SEC;
        let Some(r) = &self.replica else {
            return;
        };
        let Some(link) = &r.link else {
            self.connect(ctx, r.master);
            return;
        };
        let idle = now.since(link.last_io);
        match link.phase {
            Phase::Connected if idle > timeout_ns => {
                self.repl_timeout(ctx, ReplTimeout::Streaming);
            }
            Phase::Connected => {
                let (master, conn, offset) = (link.master, link.conn, self.data.repl.offset);
                ctx.send(master, Msg::Ack { conn, offset });
            }
            Phase::Loading { .. } => {}
            _ if idle > timeout_ns => self.repl_timeout(ctx, ReplTimeout::Handshake),
            _ => {}
        }
        if !self.link_up() {
            // An intermediate replica keeps its sub-replicas alive with newlines, never PINGs.
            for (&pid, r) in &self.primary.replicas {
                ctx.send(pid, Msg::KeepAlive { conn: r.conn });
            }
        }
    }

    fn repl_timeout(&mut self, ctx: &mut Ctx<'_, Msg>, phase: ReplTimeout) {
        let server = self.name.clone();
        ctx.note(Fact::ReplTimeout { server, phase });
        self.drop_link(ctx);
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
        {
            self.propagate(ctx, StreamItem::Ping);
        }
        self.refresh_good_replicas(now);
        let delay_ns = self.cfg.repl_diskless_sync_delay_secs * SimTime::NANOS_PER_SEC;
        if let Some(since) = self.primary.diskless_wait_since
            && self.persistence.child.is_none()
            && now.since(since) >= delay_ns
        {
            self.primary.diskless_wait_since = None;
            self.fork_child(ctx, true);
        }
        self.backlog_ttl(ctx, now);
    }

    /// ONLINE replicas silent for longer than `repl-timeout` are dropped.
    fn drop_timed_out_replicas(&mut self, ctx: &mut Ctx<'_, Msg>, now: SimTime) {
        let now_s = now.as_secs();
        let timed_out: Vec<ProcessId> = self
            .primary
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
    }

    fn waiting_for_rdb(&self) -> Vec<(ProcessId, u64)> {
        self.primary
            .replicas
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.state,
                    ReplicaState::WaitBgsaveStart | ReplicaState::WaitBgsaveEnd
                )
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
            && now.since(since) > ttl * SimTime::NANOS_PER_SEC
        {
            self.data.backlog = None;
            self.data.repl.reset(ReplId::random(ctx.rng()));
            self.primary.no_replicas_since = None;
            ctx.note(Fact::BacklogFreed {
                server: self.name.clone(),
                after_s: ttl,
            });
        }
    }
}

//! Commands an operator types at a server's console, with the replies Redis gives.

use super::Server;
use crate::fact::Fact;
use crate::fault::AdminCommand;
use crate::proto::Msg;
use crate::redis::BACKLOG_MIN_SIZE;
use crate::sim::{Ctx, SimTime};

use super::primary::ReplicaState;
use crate::cluster::manual::ManualMode;

/// An active `CLIENT PAUSE`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ClientPause {
    /// When it ends.
    pub(super) until: SimTime,
    /// Only writes wait (`WRITE`), or every command (`ALL`).
    pub(super) writes_only: bool,
}

impl Server {
    pub(super) fn on_admin(&mut self, ctx: &mut Ctx<'_, Msg>, command: &AdminCommand) {
        let reply = match *command {
            // replication.c: replicaofCommand, typed at the console (Sentinel sends
            // `Msg::ReplicaOf`). The -LOADING refusal is processCommand's (server/mod.rs).
            AdminCommand::ReplicaOf(master) => {
                let typed = self.take_typed_replicaof(command);
                let reply = if self.cluster.is_some() {
                    "(error) ERR REPLICAOF not allowed in cluster mode.".to_string()
                } else if self.console.failover.is_some() {
                    "(error) ERR REPLICAOF not allowed while failing over.".to_string()
                } else if master.is_some_and(|m| self.role() == super::Role::Replica(m)) {
                    "OK Already connected to specified master".to_string()
                } else {
                    self.on_replicaof(ctx, master);
                    "OK".to_string()
                };
                return self.operator_reply(ctx, typed, reply);
            }
            // networking.c: clientKillCommand with TYPE replica frees every replica client
            // and replies with how many it killed.
            AdminCommand::KillReplicas => {
                let n = self.primary.replicas.len();
                self.drop_all_replicas(ctx);
                self.refresh_good_replicas(ctx.now());
                format!("(integer) {n}")
            }
            // config.c: repl-backlog-size applies through resizeReplicationBacklog, which
            // raises a size below CONFIG_REPL_BACKLOG_MIN_SIZE to it and trims the backlog to
            // the new size (incrementalTrimReplicationBacklog).
            AdminCommand::SetBacklogSize(bytes) => {
                let size = bytes.max(BACKLOG_MIN_SIZE);
                self.cfg.repl_backlog_size = size;
                let tcp = self.cfg.tcp_send_buffer_bytes;
                let pinned = self
                    .primary
                    .pinned_from(ctx, self.data.repl.offset + 1, tcp);
                if let Some(b) = self.data.backlog.as_mut() {
                    b.resize(size, pinned);
                }
                "OK".to_string()
            }
            // networking.c: pauseClients keeps the later end and the stricter mode of
            // overlapping pauses; unpauseClients runs what waited.
            AdminCommand::Pause { ns, writes_only } => {
                let until = ctx.now().plus(ns);
                let p = self
                    .paused
                    .get_or_insert(ClientPause { until, writes_only });
                if until > p.until {
                    p.until = until;
                }
                p.writes_only &= writes_only;
                ctx.set_timer(ns, super::TIMER_UNPAUSE);
                "OK".to_string()
            }
            AdminCommand::InfoReplication => self.info_replication(ctx),
            AdminCommand::SetSlot { slot, action } => self.admin_set_slot(ctx, slot, action),
            AdminCommand::Migrate {
                to,
                ref keys,
                timeout_ms,
            } => {
                let text = self.admin_text(command);
                match self.admin_migrate(ctx, to, keys, timeout_ms, text) {
                    Some(reply) => reply,
                    None => return, // noted when the target answers or the timeout passes
                }
            }
            AdminCommand::ClusterFailover { force, takeover } => {
                let mode = match (force, takeover) {
                    (_, true) => ManualMode::Takeover,
                    (true, false) => ManualMode::Force,
                    (false, false) => ManualMode::Default,
                };
                match self.cluster_failover(ctx, mode) {
                    Ok(()) => "OK".to_string(),
                    Err(e) => format!("(error) {e}"),
                }
            }
            AdminCommand::Data(_) => unreachable!("sent as a request on the console's connection"),
            _ => match self.on_console_command(ctx, command, self.console_text(command)) {
                Some(reply) => reply,
                None => return,
            },
        };
        ctx.note(Fact::OperatorReply {
            server: self.name.clone(),
            command: self.console_text(command),
            reply,
        });
    }

    /// The command as the trace writes it: Redis's words, servers by name.
    pub(super) fn console_text(&self, command: &AdminCommand) -> String {
        if let Some(words) = command.words() {
            return words.join(" ");
        }
        match *command {
            AdminCommand::ReplicaOf(Some(m)) => format!("REPLICAOF {}", self.peer(m)),
            AdminCommand::Failover {
                to: Some(t),
                force,
                timeout_ms,
            } => {
                let mut s = format!("FAILOVER TO {}", self.peer(t));
                if force {
                    s.push_str(" FORCE");
                }
                if timeout_ms > 0 {
                    s.push_str(&format!(" TIMEOUT {timeout_ms}"));
                }
                s
            }
            AdminCommand::SetSlot { .. } | AdminCommand::Migrate { .. } => self.admin_text(command),
            _ => unreachable!("every other command has its words"),
        }
    }

    /// checkClientPauseTimeoutAndReturnIfPaused: whether any pause (CLIENT PAUSE, SHUTDOWN's
    /// or FAILOVER's, a Cluster manual failover's) is in force now.
    pub(super) fn clients_paused(&self, now: SimTime) -> bool {
        self.console.pauses_writes()
            || self.failover_pause.is_some_and(|until| now < until)
            || self.paused.as_ref().is_some_and(|p| now < p.until)
    }

    /// replicationRequestAckFromSlaves: `server.get_ack_from_slaves = 1`; beforeSleep (a
    /// zero-delay timer: it fires after the events already due now) sends the GETACK.
    pub(super) fn request_getack(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if !self.primary.getack_pending {
            self.primary.getack_pending = true;
            ctx.set_timer(0, super::TIMER_GETACK);
        }
    }

    /// server.c: beforeSleep: `if (server.get_ack_from_slaves &&
    /// !checkClientPauseTimeoutAndReturnIfPaused()) sendGetackToReplicas()`; a pause keeps
    /// the request until it ends.
    pub(super) fn on_getack_timer(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if !self.primary.getack_pending || self.clients_paused(ctx.now()) {
            return;
        }
        self.primary.getack_pending = false;
        // replicationFeedSlaves writes nothing on a replica (masterhost is set).
        if self.replica.is_none() {
            self.propagate(ctx, crate::redis::StreamItem::Getack);
        }
    }

    /// Whether `CLIENT PAUSE` holds `msg` now: every client command, or only writes and
    /// Sentinel's hellos (PUBLISH may replicate) with `WRITE`.
    /// A Redis Cluster primary's pause for a replica's manual failover
    /// (`PAUSE_DURING_FAILOVER`, `CLIENT_PAUSE_WRITE`) holds writes as well.
    pub(super) fn holds_while_paused(&self, now: SimTime, msg: &Msg) -> bool {
        // SHUTDOWN and FAILOVER pause writes until they end (PAUSE_DURING_SHUTDOWN,
        // PAUSE_DURING_FAILOVER), as does a Cluster manual failover's pause.
        let writes =
            self.console.pauses_writes() || self.failover_pause.is_some_and(|until| now < until);
        let all = match self.paused.as_ref().filter(|p| now < p.until) {
            Some(p) => !p.writes_only,
            None if writes => false,
            None => return false,
        };
        match msg {
            Msg::Request { cmd, .. } => all || cmd.is_write(),
            Msg::Hello(_) => true,
            _ => false,
        }
    }

    /// A pause's end (the latest timer set, or a manual failover that ended): what waited runs,
    /// in arrival order; what another pause still holds waits again, in the same order.
    pub(super) fn on_unpause(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let now = ctx.now();
        if self.paused.as_ref().is_some_and(|p| now >= p.until) {
            self.paused = None;
        }
        if self.failover_pause.is_some_and(|until| now >= until) {
            self.failover_pause = None;
        }
        self.release_paused(ctx);
    }

    /// unpauseClients: what waited runs, in arrival order, unless another pause still holds it.
    pub(super) fn release_paused(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let now = ctx.now();
        // A GETACK that waited for the pause goes out in the next beforeSleep.
        if self.primary.getack_pending {
            ctx.set_timer(0, super::TIMER_GETACK);
        }
        for (from, msg) in std::mem::take(&mut self.paused_messages) {
            if self.holds_while_paused(now, &msg) {
                self.paused_messages.push((from, msg));
            } else {
                self.on_message(ctx, from, msg);
            }
        }
    }

    /// The `# Replication` section of INFO as server.c's genRedisInfoString writes it, one
    /// `field:value` per line joined by spaces; peers by name instead of ip and port.
    fn info_replication(&self, ctx: &Ctx<'_, Msg>) -> String {
        let now = ctx.now();
        let mut f: Vec<String> = Vec::new();
        match self.replica.as_ref() {
            None => f.push("role:master".into()),
            Some(r) => {
                f.push("role:slave".into());
                f.push(format!("master_host:{}", self.peer(r.master)));
                let up = if self.link_up() { "up" } else { "down" };
                f.push(format!("master_link_status:{up}"));
                f.push(format!("slave_repl_offset:{}", self.data.repl.offset));
                f.push(format!("slave_priority:{}", self.cfg.replica_priority));
            }
        }
        f.push(format!("connected_slaves:{}", self.primary.replicas.len()));
        for (i, (&pid, r)) in self.primary.replicas.iter().enumerate() {
            let state = match r.state {
                ReplicaState::WaitBgsaveStart => "wait_bgsave",
                ReplicaState::WaitBgsaveEnd => "wait_bgsave",
                ReplicaState::Streaming => "send_bulk",
                ReplicaState::Online => "online",
            };
            let lag = now.as_secs().saturating_sub(r.ack_time_secs);
            f.push(format!(
                "slave{i}:{},state={state},offset={},lag={lag}",
                self.peer(pid),
                r.ack_offset
            ));
        }
        // replication.c: getFailoverStateString.
        let failover = match self.console.failover.as_ref() {
            None => "no-failover",
            Some(f) if f.in_progress => "failover-in-progress",
            Some(_) => "waiting-for-sync",
        };
        f.push(format!("master_failover_state:{failover}"));
        let repl = &self.data.repl;
        f.push(format!("master_replid:{}", repl.replid));
        let replid2 = repl
            .replid2
            .map_or_else(|| "0".repeat(40), |r| r.to_string());
        f.push(format!("master_replid2:{replid2}"));
        f.push(format!("master_repl_offset:{}", repl.offset));
        let second = repl
            .replid2
            .map_or(-1, |_| repl.second_replid_offset as i64);
        f.push(format!("second_repl_offset:{second}"));
        let b = self.data.backlog.as_ref();
        f.push(format!("repl_backlog_active:{}", u8::from(b.is_some())));
        f.push(format!("repl_backlog_size:{}", self.cfg.repl_backlog_size));
        f.push(format!(
            "repl_backlog_first_byte_offset:{}",
            b.map_or(0, |b| b.first_offset())
        ));
        f.push(format!(
            "repl_backlog_histlen:{}",
            b.map_or(0, |b| b.histlen())
        ));
        f.join(" ")
    }
}

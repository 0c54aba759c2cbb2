//! The operator's console connection and the commands that change a server's life: SAVE and
//! BGSAVE, DEBUG SLEEP, SHUTDOWN (server.c: `prepareForShutdown`, `finishShutdown`) and the
//! coordinated FAILOVER of Redis 6.2+ (replication.c: `failoverCommand`,
//! `updateFailoverStatus`).

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use super::persistence::Child;
use super::primary::ReplicaState;
use super::{Server, TIMER_CONSOLE, TIMER_SHUTDOWN};
use crate::fact::Fact;
use crate::fault::{AdminCommand, ShutdownSave};
use crate::proto::Msg;
use crate::redis::{DebugCommand, Reply, StreamItem};
use crate::sim::{Ctx, ProcessId, SimTime};

/// serverCron's period at the default `hz 10`: how often a pending SHUTDOWN is checked.
const SERVER_CRON_NS: u64 = 100 * SimTime::NANOS_PER_MS;

/// The reply of a PSYNC FAILOVER sent to a primary (replication.c: `syncCommand`).
pub(crate) const PSYNC_FAILOVER_TO_MASTER: &str = "ERR PSYNC FAILOVER can't be sent to a master.";
/// The reply of a PSYNC FAILOVER whose replid is not the target's.
pub(crate) const PSYNC_FAILOVER_REPLID: &str = "ERR PSYNC FAILOVER replid must match my replid.";

/// The console's connection and what its commands left running.
#[derive(Clone, Debug, Default)]
pub(super) struct Console {
    /// Data commands sent on the console's connection, by request id, as typed.
    pending: BTreeMap<u64, String>,
    /// `REPLICAOF` commands typed at the console and not yet run, as typed, oldest first.
    replicaof_typed: VecDeque<String>,
    /// What to do once a blocking command (SAVE, DEBUG SLEEP, SHUTDOWN's save) has run.
    after_block: Vec<AfterBlock>,
    /// A SHUTDOWN waiting for lagging replicas.
    shutdown: Option<PendingShutdown>,
    /// A FAILOVER in progress.
    pub(super) failover: Option<Failover>,
}

#[derive(Clone, Debug)]
pub(super) enum AfterBlock {
    /// SAVE: dump.rdb is in place (rdbSave renames the file at its end), then `OK`.
    Saved { command: String },
    /// DEBUG SLEEP: `OK`.
    Reply { command: String, reply: String },
    /// SHUTDOWN's final save is done: the process exits.
    Exit { command: String },
    /// `appendfsync always` on a slow disk: the event loop's fsync of the first `len` AOF
    /// commands (up to replication offset `offset`) completed; the replies held for it go out.
    AofFsynced {
        len: usize,
        offset: u64,
        replies: Vec<(ProcessId, Msg)>,
    },
}

#[derive(Clone, Debug)]
struct PendingShutdown {
    command: String,
    save: ShutdownSave,
    deadline: SimTime,
}

/// `server.failover_state` and what FAILOVER was asked.
#[derive(Clone, Debug)]
pub(super) struct Failover {
    /// The replica taking over, once known.
    target: Option<ProcessId>,
    /// `failover_end_time`.
    deadline: Option<SimTime>,
    force: bool,
    /// FAILOVER_IN_PROGRESS: the PSYNC FAILOVER is on its way.
    pub(super) in_progress: bool,
}

impl Console {
    /// Whether the console's pauses (a pending SHUTDOWN or FAILOVER: `pauseClients(...,
    /// CLIENT_PAUSE_WRITE)`) hold writes now.
    pub(super) fn pauses_writes(&self) -> bool {
        self.shutdown.is_some() || self.failover.is_some()
    }
}

impl Server {
    /// A command on the console's own connection (the server itself is the sender).
    pub(super) fn console_request(&mut self, id: u64, typed: String) {
        self.console.pending.insert(id, typed);
    }

    /// A `REPLICAOF` typed at the console: its reply is noted when the server runs it.
    pub fn console_replicaof(&mut self, typed: String) {
        self.console.replicaof_typed.push_back(typed);
    }

    /// The oldest console `REPLICAOF` not yet run, as typed.
    pub(super) fn take_typed_replicaof(&mut self, command: &AdminCommand) -> String {
        match self.console.replicaof_typed.pop_front() {
            Some(t) => t,
            None => self.console_text(command),
        }
    }

    /// The reply to a console data command.
    pub(super) fn on_console_reply(&mut self, ctx: &mut Ctx<'_, Msg>, id: u64, reply: &Reply) {
        if let Some(command) = self.console.pending.remove(&id) {
            self.operator_reply(ctx, command, reply.cli_text());
        }
    }

    pub(super) fn operator_reply(&self, ctx: &mut Ctx<'_, Msg>, command: String, reply: String) {
        ctx.note(Fact::OperatorReply {
            server: self.name.clone(),
            command,
            reply,
        });
    }

    /// The console commands of this module; `Some(reply)` when the reply is immediate.
    pub(super) fn on_console_command(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        command: &AdminCommand,
        text: String,
    ) -> Option<String> {
        match *command {
            // rdb.c: bgsaveCommand.
            AdminCommand::Bgsave => Some(if self.persistence.child.is_some() {
                "(error) ERR Background save already in progress".into()
            } else {
                self.fork_child(ctx, false);
                "Background saving started".into()
            }),
            // rdb.c: saveCommand, then rdbSave in the main thread: nothing else runs meanwhile.
            AdminCommand::Save => {
                if self.persistence.child.is_some() {
                    return Some("(error) ERR Background save already in progress".into());
                }
                let ns = self.rdb_save_ns();
                self.vitals.blocking("save", &text, ctx.now(), ns);
                self.block_then(ctx, ns, AfterBlock::Saved { command: text });
                None
            }
            // server.c: processCommand refuses a protected command unless
            // allowProtectedAction; the console runs on the server's own machine.
            AdminCommand::DebugSleep { ns } => {
                if self.cfg.enable_debug_command == DebugCommand::No {
                    return Some(DEBUG_NOT_ALLOWED.into());
                }
                self.vitals.blocking("debug", &text, ctx.now(), ns);
                let after = AfterBlock::Reply {
                    command: text,
                    reply: "OK".into(),
                };
                self.block_then(ctx, ns, after);
                None
            }
            AdminCommand::Shutdown(save) => self.shutdown(ctx, save, text),
            AdminCommand::Failover {
                to,
                force,
                timeout_ms,
            } => Some(self.failover(ctx, to, force, timeout_ms)),
            AdminCommand::FailoverAbort => Some(match self.console.failover {
                None => "(error) ERR No failover in progress.".into(),
                Some(_) => {
                    self.abort_failover(ctx);
                    "OK".into()
                }
            }),
            _ => unreachable!("handled in on_admin"),
        }
    }

    /// How long rdbSave (or a disk-based BGSAVE child) takes for the dataset now.
    pub(super) fn rdb_save_ns(&self) -> u64 {
        let size = self.data.keyspace.rdb_size_bytes();
        (u128::from(size) * u128::from(SimTime::NANOS_PER_SEC)
            / u128::from(self.cfg.rdb_save_bytes_per_sec.max(1))) as u64
    }

    /// Blocks the event loop for `ns`, then runs `after` (the timer waits with every other
    /// event until the block ends).
    pub(super) fn block_then(&mut self, ctx: &mut Ctx<'_, Msg>, ns: u64, after: AfterBlock) {
        ctx.block_for(ns);
        self.console.after_block.push(after);
        ctx.set_timer(0, TIMER_CONSOLE);
    }

    /// The block ended.
    pub(super) fn on_console_timer(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.console.after_block.is_empty() {
            return;
        }
        match self.console.after_block.remove(0) {
            // rdb.c: saveCommand answers `shared.err` when rdbSave cannot write the file.
            AfterBlock::Saved { command } if self.persistence.disk_error.is_some() => {
                self.operator_reply(ctx, command, "(error) ERR".into());
            }
            AfterBlock::Saved { command } => {
                self.write_rdb_now(ctx);
                self.operator_reply(ctx, command, "OK".into());
            }
            AfterBlock::Reply { command, reply } => self.operator_reply(ctx, command, reply),
            // server.c: prepareForShutdown: "Error trying to save the DB, can't exit."
            AfterBlock::Exit { command } if self.persistence.disk_error.is_some() => {
                self.console.shutdown = None;
                let reply = "(error) ERR Errors trying to SHUTDOWN. Check logs.";
                self.operator_reply(ctx, command, reply.into());
            }
            AfterBlock::Exit { command } => {
                self.write_rdb_now(ctx);
                self.exit(ctx, command);
            }
            AfterBlock::AofFsynced {
                len,
                offset,
                replies,
            } => self.aof_fsynced(ctx, len, offset, replies),
        }
    }

    /// rdbSave: the dataset as it is now becomes dump.rdb.
    fn write_rdb_now(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let child = Child {
            snapshot: Rc::new(self.data.keyspace.clone()),
            replid: self.data.repl.replid,
            offset: self.data.repl.offset,
            holds: self.data.mark(),
            for_replication: false,
            generation: 0,
        };
        self.persistence.rdb_written(ctx, &self.name, &child);
    }

    // ----- SHUTDOWN ---------------------------------------------------------------------------

    /// db.c: shutdownCommand → server.c: prepareForShutdown.
    fn shutdown(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        mut save: ShutdownSave,
        command: String,
    ) -> Option<String> {
        if self.console.shutdown.is_some() {
            return Some("(error) ERR Errors trying to SHUTDOWN. Check logs.".into());
        }
        // A server loading a dataset never saves on the way out.
        if self.is_loading() {
            save = ShutdownSave::NoSave;
        }
        let timeout = self.cfg.shutdown_timeout_secs * SimTime::NANOS_PER_SEC;
        if timeout != 0 && !self.ready_to_shutdown() {
            let deadline = ctx.now().plus(timeout);
            self.console.shutdown = Some(PendingShutdown {
                command,
                save,
                deadline,
            });
            // sendGetackToReplicas (replicationFeedSlaves writes nothing on a replica: its
            // stream is its primary's), and pauseClients(PAUSE_DURING_SHUTDOWN, WRITE).
            if self.replica.is_none() {
                self.propagate(ctx, StreamItem::Getack);
            }
            ctx.set_timer(SERVER_CRON_NS, TIMER_SHUTDOWN);
            return None;
        }
        self.finish_shutdown(ctx, save, command);
        None
    }

    /// isReadyToShutdown: every replica acknowledged the whole stream.
    fn ready_to_shutdown(&self) -> bool {
        let end = self.data.repl.offset;
        self.primary.replicas.values().all(|r| r.ack_offset == end)
    }

    /// serverCron: a pending shutdown completes when the replicas caught up or time is up.
    pub(super) fn on_shutdown_timer(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let Some(p) = &self.console.shutdown else {
            return;
        };
        if ctx.now() >= p.deadline || self.ready_to_shutdown() {
            let p = self.console.shutdown.take().expect("pending");
            self.finish_shutdown(ctx, p.save, p.command);
        } else {
            ctx.set_timer(SERVER_CRON_NS, TIMER_SHUTDOWN);
        }
    }

    /// finishShutdown: the RDB child is killed, the AOF fsynced, the final RDB saved (when
    /// `save` rules are set or SAVE was given, never with NOSAVE), then the process exits.
    fn finish_shutdown(&mut self, ctx: &mut Ctx<'_, Msg>, save: ShutdownSave, command: String) {
        let lagging = self
            .primary
            .replicas
            .values()
            .filter(|r| r.ack_offset != self.data.repl.offset)
            .count();
        ctx.note(Fact::ShutdownStarted {
            server: self.name.clone(),
            replicas: self.primary.replicas.len() as u32,
            lagging: lagging as u32,
        });
        self.persistence.child = None;
        self.persistence
            .fsync_all(&self.cfg, ctx.now(), self.data.repl.offset);
        let saves = match save {
            ShutdownSave::Save => true,
            ShutdownSave::NoSave => false,
            ShutdownSave::Default => !self.cfg.save.is_empty(),
        };
        if saves {
            self.block_then(ctx, self.rdb_save_ns(), AfterBlock::Exit { command });
        } else {
            self.exit(ctx, command);
        }
    }

    /// `exit(0)`: the OS closes every socket.
    fn exit(&mut self, ctx: &mut Ctx<'_, Msg>, command: String) {
        self.operator_reply(ctx, command, "(server exited)".into());
        ctx.note(Fact::ServerExited {
            server: self.name.clone(),
        });
        ctx.exit(self.sockets_closed_by_kill());
    }

    // ----- FAILOVER ---------------------------------------------------------------------------

    /// replication.c: failoverCommand.
    fn failover(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        to: Option<ProcessId>,
        force: bool,
        timeout_ms: u64,
    ) -> String {
        let err = |s: &str| format!("(error) ERR {s}");
        if self.cluster.is_some() {
            return err(
                "FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.",
            );
        }
        if self.console.failover.is_some() {
            return err("FAILOVER already in progress.");
        }
        if self.replica.is_some() {
            return err("FAILOVER is not valid when server is a replica.");
        }
        if self.primary.replicas.is_empty() {
            return err("FAILOVER requires connected replicas.");
        }
        if force && (timeout_ms == 0 || to.is_none()) {
            return err(
                "FAILOVER with force option requires both a timeout and target HOST and IP.",
            );
        }
        if let Some(t) = to {
            match self.primary.replicas.get(&t) {
                None => return err("FAILOVER target HOST and PORT is not a replica."),
                Some(r) if r.state != ReplicaState::Online => {
                    return err("FAILOVER target replica is not online.");
                }
                Some(_) => {}
            }
        }
        let deadline = (timeout_ms > 0).then(|| ctx.now().plus(timeout_ms * SimTime::NANOS_PER_MS));
        self.console.failover = Some(Failover {
            target: to,
            deadline,
            force,
            in_progress: false,
        });
        self.note_failover(ctx, "waiting-for-sync");
        "OK".into()
    }

    /// replication.c: updateFailoverStatus, from replicationCron once a second.
    pub(super) fn update_failover_status(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let Some(f) = self.console.failover.as_mut().filter(|f| !f.in_progress) else {
            return;
        };
        let end = self.data.repl.offset;
        if f.deadline.is_some_and(|d| d <= ctx.now()) {
            if f.force {
                f.in_progress = true;
                let target = f.target.expect("FORCE needs a target");
                self.note_failover(ctx, "failover-in-progress");
                self.on_replicaof(ctx, Some(target));
            } else {
                self.abort_failover(ctx);
            }
            return;
        }
        let caught_up = match f.target {
            Some(t) => self
                .primary
                .replicas
                .get(&t)
                .is_some_and(|r| r.ack_offset == end)
                .then_some(t),
            None => self
                .primary
                .replicas
                .iter()
                .find(|(_, r)| r.ack_offset == end)
                .map(|(p, _)| *p),
        };
        if let Some(t) = caught_up {
            f.target = Some(t);
            f.in_progress = true;
            self.note_failover(ctx, "failover-in-progress");
            self.on_replicaof(ctx, Some(t));
        }
    }

    /// The target answered the PSYNC FAILOVER: CONTINUE or FULLRESYNC end the failover
    /// (clearFailoverState), an error aborts it.
    pub(super) fn failover_psync_answered(&mut self, ctx: &mut Ctx<'_, Msg>, accepted: bool) {
        if !self
            .console
            .failover
            .as_ref()
            .is_some_and(|f| f.in_progress)
        {
            return;
        }
        if accepted {
            self.note_failover(ctx, "done");
            self.console.failover = None;
            self.release_paused(ctx);
        } else {
            self.abort_failover(ctx);
        }
    }

    /// abortFailover: back to primary if the handover had begun, then clearFailoverState.
    fn abort_failover(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.console.failover.is_none() {
            return;
        }
        self.note_failover(ctx, "aborted");
        let f = self.console.failover.take().expect("checked");
        if f.in_progress {
            self.on_replicaof(ctx, None);
        }
        self.release_paused(ctx);
    }

    fn note_failover(&self, ctx: &mut Ctx<'_, Msg>, state: &str) {
        let target = self.console.failover.as_ref().and_then(|f| f.target);
        ctx.note(Fact::CoordinatedFailover {
            server: self.name.clone(),
            state: state.to_string(),
            target: target.map(|t| self.peer(t).to_string()),
        });
    }

    /// syncCommand: a PSYNC with FAILOVER from the old primary makes this replica a primary
    /// when the replid is its own; `Some(error)` refuses it.
    pub(super) fn on_psync_failover(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        replid: Option<crate::redis::ReplId>,
    ) -> Option<&'static str> {
        if self.replica.is_none() {
            return Some(PSYNC_FAILOVER_TO_MASTER);
        }
        if replid != Some(self.data.repl.replid) {
            return Some(PSYNC_FAILOVER_REPLID);
        }
        self.on_replicaof(ctx, None);
        None
    }
}

/// server.c: processCommand's refusal of DEBUG with `enable-debug-command no`.
const DEBUG_NOT_ALLOWED: &str = "(error) ERR DEBUG command not allowed. If the \
    enable-debug-command option is set to \"local\", you can run it from a local connection, \
    otherwise you need to set this option in the configuration file, and then restart the server.";

//! Client commands: the refusals `processCommand` makes before a command runs, execution and
//! propagation of writes, and WAIT.

use std::rc::Rc;

use super::primary::BlockedWait;
use super::{Role, Server, TIMER_WAIT_TIMEOUT};
use crate::proto::Msg;
use crate::redis::{Command, RedisVersion, Reply, StreamItem, errors, slowlog_argv as argv};
use crate::sim::{Ctx, ProcessId, SimTime};

impl Server {
    pub(super) fn on_request(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        client: ProcessId,
        id: u64,
        cmd: Command,
    ) {
        if client == ctx.me() {
            self.console_request(id, cmd.to_string());
        } else {
            self.clients.insert(client);
        }
        // server.c: processCommand looks the command up first; 7.0 has no WAITAOF.
        if let (Command::WaitAof(l, n, t), true) = (&cmd, self.cfg.version < RedisVersion::V7_2) {
            let err = format!(
                "ERR unknown command 'WAITAOF', with args beginning with: '{l}' '{n}' '{t}' "
            );
            return refuse(ctx, client, id, &err);
        }
        if let Some(err) = self.cluster_refusal(client, &cmd) {
            return refuse(ctx, client, id, &err);
        }
        if let Some(err) = self.refusal(&cmd) {
            if err == errors::NOREPLICAS {
                self.stats.noreplicas_refusals += 1;
            }
            return refuse(ctx, client, id, err);
        }
        self.vitals.count(&cmd, self.read_lookups(&cmd));
        if let Command::Wait(..) | Command::WaitAof(..) = cmd {
            let offset = self.data.repl.offset;
            self.on_wait(ctx, client, id, &cmd);
            // The GETACK WAIT asks for goes out in beforeSleep, after `c->woff` is set.
            self.note_last_offset(client, offset);
            return;
        }
        let applied = self.data.keyspace.apply(&cmd);
        let mut at = None;
        if applied.dirty {
            self.writes_applied += 1;
            // Planted bug: every 50th write is acknowledged but never propagated.
            let dropped = self.cfg.bugs.drop_propagation && self.writes_applied.is_multiple_of(50);
            let mut streamed = false;
            if self.replica.is_none() && !dropped {
                let before = self.data.repl.offset;
                self.propagate(ctx, StreamItem::Command(cmd.clone()));
                streamed = self.data.repl.offset != before;
            }
            // A write has a place of its own in a replication history: its stream offset, or
            // (a primary without backlog or replicas does not advance its offset) its count
            // among the unstreamed writes at that offset. A write the planted bug kept out of
            // the stream has none.
            let mark = if streamed || dropped || self.replica.is_some() {
                self.data.mark()
            } else {
                self.data.unstreamed_write()
            };
            let offset = self.data.repl.offset;
            let flushed = self
                .persistence
                .record_write(&self.cfg, &cmd, mark, ctx.now(), offset);
            if !self.after_flush(ctx, flushed) {
                return;
            }
            at = (!dropped && self.replica.is_none()).then_some(mark);
        }
        self.note_last_offset(client, self.data.repl.offset);
        self.vitals
            .finish(cmd.name(), || argv(&cmd), ctx.now(), ctx.now());
        let reply = applied.reply;
        self.reply(ctx, client, Msg::Reply { id, reply, at });
    }

    /// The keys a read command finds and misses (db.c: `lookupKeyRead` counts a hit or a miss
    /// per key; writes look keys up with `lookupKeyWrite`, which counts neither).
    fn read_lookups(&self, cmd: &Command) -> (u64, u64) {
        let keys: &[Rc<str>] = match cmd {
            Command::Get(k) | Command::Smembers(k) => std::slice::from_ref(k),
            Command::Mget(keys) => keys,
            _ => &[],
        };
        let hits = keys
            .iter()
            .filter(|k| self.data.keyspace.get(k).is_some())
            .count() as u64;
        (hits, keys.len() as u64 - hits)
    }

    /// server.c: processCommand sets `c->woff = server.master_repl_offset` after every command
    /// it runs (reads too, and WAIT itself): a client's WAIT waits for the stream as it stood
    /// after its last command, other clients' writes included. A refused command leaves it.
    fn note_last_offset(&mut self, client: ProcessId, offset: u64) {
        if self.replica.is_none() {
            self.primary.client_offsets.insert(client, offset);
        }
    }

    /// sentinel.c: sentinelSendSlaveOf sends `MULTI`, `SLAVEOF`, `CONFIG REWRITE`, `CLIENT KILL
    /// TYPE normal`, `CLIENT KILL TYPE pubsub`, `EXEC`: every normal client of a reconfigured
    /// server is disconnected, so clients reconnect and ask the sentinels where the primary is.
    pub(super) fn kill_normal_clients(&mut self, ctx: &mut Ctx<'_, Msg>) {
        for client in std::mem::take(&mut self.clients) {
            // A new connection starts with `c->woff = 0` (createClient).
            self.primary.client_offsets.remove(&client);
            ctx.send(client, Msg::Close { conn: 0 });
        }
    }

    /// The error a command gets before it runs, in `processCommand`'s order.
    fn refusal(&self, cmd: &Command) -> Option<&'static str> {
        // server.c: processCommand refuses writes while the disk fails, before min-replicas.
        if cmd.is_write()
            && let Some(err) = self.persistence.write_denied(&self.cfg)
        {
            return Some(err);
        }
        if cmd.is_write()
            && self.role() == Role::Master
            && self.cfg.min_replicas_to_write > 0
            && self.cfg.min_replicas_max_lag_secs > 0
            && self.primary.good_replicas < self.cfg.min_replicas_to_write
        {
            return Some(errors::NOREPLICAS);
        }
        let is_replica = self.replica.is_some();
        let buggy_demoted = self.cfg.bugs.demoted_primary_accepts_writes && self.was_primary;
        if cmd.is_write() && is_replica && self.cfg.replica_read_only && !buggy_demoted {
            return Some(errors::READONLY);
        }
        if is_replica && !self.link_up() && !self.cfg.replica_serve_stale_data {
            return Some(errors::MASTERDOWN);
        }
        if self.is_loading() {
            return Some(errors::LOADING);
        }
        if matches!(cmd, Command::Wait(..)) && is_replica {
            return Some(errors::WAIT_ON_REPLICA);
        }
        if let Command::WaitAof(numlocal, ..) = *cmd {
            if is_replica {
                return Some(errors::WAITAOF_ON_REPLICA);
            }
            if numlocal > 0 && !self.cfg.appendonly {
                return Some(errors::WAITAOF_WITHOUT_AOF);
            }
        }
        None
    }

    /// `waitCommand` (and 7.2's `waitaofCommand`): answer at once when enough replicas (and,
    /// for WAITAOF, the local AOF) acknowledged the client's last command, otherwise block and
    /// ask every replica for an ACK.
    fn on_wait(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64, cmd: &Command) {
        let (numlocal, n, ms) = match *cmd {
            Command::Wait(n, ms) => (None, n, ms),
            Command::WaitAof(l, n, ms) => (Some(l), n, ms),
            _ => unreachable!("WAIT or WAITAOF"),
        };
        let target = self
            .primary
            .client_offsets
            .get(&client)
            .copied()
            .unwrap_or(0);
        let mut blocked = BlockedWait {
            client,
            request: id,
            numreplicas: n,
            target,
            token: 0,
            numlocal,
        };
        // First try without blocking at all.
        let fsynced = self.persistence.fsynced_reploff(&self.cfg);
        let (done, reply) = blocked.answer(&self.primary, fsynced);
        if done {
            // server.c: call() records a WAIT that answers at once; one that blocks is counted
            // in commandstats but never reaches the latency histogram or the slow log (7.0.15's
            // call() skips a CLIENT_BLOCKED command, and no unblock path records a WAIT).
            self.vitals
                .finish(cmd.name(), || argv(cmd), ctx.now(), ctx.now());
            ctx.send(
                client,
                Msg::Reply {
                    id,
                    reply,
                    at: None,
                },
            );
            return;
        }
        // A timer token only for a command that blocks (the server's tokens also number its
        // connections).
        let token = self.tokens.timer();
        blocked.token = token;
        self.primary.blocked.push(blocked);
        if ms > 0 {
            ctx.set_timer(ms * SimTime::NANOS_PER_MS, TIMER_WAIT_TIMEOUT | token);
        }
        // replicationRequestAckFromSlaves sets server.get_ack_from_slaves: REPLCONF GETACK *
        // goes into the stream once, in beforeSleep.
        self.request_getack(ctx);
    }
}

/// An error reply to a command that did not run.
fn refuse(ctx: &mut Ctx<'_, Msg>, client: ProcessId, id: u64, err: &str) {
    let reply = Reply::Error(Rc::from(err));
    ctx.send(
        client,
        Msg::Reply {
            id,
            reply,
            at: None,
        },
    );
}

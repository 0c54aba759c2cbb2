//! A cluster node's part in resharding: `CLUSTER SETSLOT` from the operator's console, `MIGRATE`
//! (the source sends the keys and blocks until the target answers or the timeout passes, as
//! `cluster.c: migrateCommand` does with its synchronous socket), the target's
//! `RESTORE-ASKING ... REPLACE`, and the deletion of keys of slots a newer claim took
//! (`delKeysInSlot`). Every change to the dataset is propagated and written to the AOF like a
//! client's write.

use std::rc::Rc;

use super::{Server, TIMER_KIND_MASK, TIMER_MIGRATE};
use crate::cluster::redirect::{Query, route};
use crate::cluster::reshard::SetSlot;
use crate::cluster::slot::key_hash_slot;
use crate::cluster::topology::NodeId;
use crate::fact::Fact;
use crate::fault::SlotAction;
use crate::proto::Msg;
use crate::redis::{Command, StreamItem, Value};
use crate::sim::{Ctx, ProcessId, SimTime};

/// A `MIGRATE` this server waits on: nothing else runs until it ends.
#[derive(Clone, Debug)]
pub(super) struct MigrateCall {
    /// Echoed by the target's reply.
    id: u64,
    /// The target.
    to: ProcessId,
    /// The keys sent.
    keys: Vec<Rc<str>>,
    /// The command as the trace shows it.
    text: String,
}

/// The node of server `p` (node `i` is server `i`).
fn node_of(p: ProcessId) -> NodeId {
    NodeId(p.0)
}

impl Server {
    /// Keys of `slot` in this server's dataset (`countKeysInSlot`).
    fn keys_in_slot(&self, slot: u16) -> usize {
        self.data
            .keyspace
            .iter()
            .filter(|(k, _)| key_hash_slot(k.as_bytes()) == slot)
            .count()
    }

    /// `CLUSTER SETSLOT` at the console: the reply in redis-cli's notation.
    pub(super) fn admin_set_slot(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        slot: u16,
        action: SlotAction,
    ) -> String {
        let keys = self.keys_in_slot(slot);
        let Some(part) = self.cluster.as_mut() else {
            return "(error) ERR This instance has cluster support disabled".into();
        };
        let action = match action {
            SlotAction::Migrating(p) => SetSlot::Migrating(node_of(p)),
            SlotAction::Importing(p) => SetSlot::Importing(node_of(p)),
            SlotAction::Node(p) => SetSlot::Node(node_of(p)),
            SlotAction::Stable => SetSlot::Stable,
        };
        let (reply, out) = part.node.set_slot(ctx.now(), slot, action, keys, ctx.rng());
        self.apply_cluster_output(ctx, out);
        match reply {
            Ok(()) => "OK".into(),
            Err(e) => format!("(error) {e}"),
        }
    }

    /// The console text of a command whose words name servers.
    pub(super) fn admin_text(&self, command: &crate::fault::AdminCommand) -> String {
        use crate::fault::AdminCommand;
        match command {
            AdminCommand::SetSlot { slot, action } => {
                let (what, who) = match action {
                    SlotAction::Migrating(p) => ("MIGRATING", Some(*p)),
                    SlotAction::Importing(p) => ("IMPORTING", Some(*p)),
                    SlotAction::Node(p) => ("NODE", Some(*p)),
                    SlotAction::Stable => ("STABLE", None),
                };
                match who {
                    Some(p) => format!("CLUSTER SETSLOT {slot} {what} {}", self.peer(p)),
                    None => format!("CLUSTER SETSLOT {slot} {what}"),
                }
            }
            AdminCommand::Migrate {
                to,
                keys,
                timeout_ms,
            } => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                format!(
                    "MIGRATE {} 6379 \"\" 0 {timeout_ms} REPLACE KEYS {}",
                    self.peer(*to),
                    keys.join(" ")
                )
            }
            other => other.words().map(|w| w.join(" ")).unwrap_or_default(),
        }
    }

    /// `MIGRATE ... REPLACE KEYS ...` at the console: sends the keys that exist and blocks, or
    /// answers `NOKEY` when none does. `None` while the reply is pending.
    pub(super) fn admin_migrate(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        to: ProcessId,
        keys: &[String],
        timeout_ms: u64,
        text: String,
    ) -> Option<String> {
        let present: Vec<(Rc<str>, Value)> = keys
            .iter()
            .filter_map(|k| {
                let (key, value) = self.data.keyspace.get_key_value(k)?;
                Some((key.clone(), value.clone()))
            })
            .collect();
        if present.is_empty() {
            return Some("NOKEY".into());
        }
        let id = self.tokens.timer();
        let sent: Vec<Rc<str>> = present.iter().map(|(k, _)| k.clone()).collect();
        ctx.send(
            to,
            Msg::MigrateKeys {
                id,
                keys: Rc::new(present),
            },
        );
        ctx.set_timer(timeout_ms * SimTime::NANOS_PER_MS, TIMER_MIGRATE | id);
        self.migrate = Some(MigrateCall {
            id,
            to,
            keys: sent,
            text,
        });
        None
    }

    /// Whether a `MIGRATE` blocks this server: every message but the target's answer waits.
    pub(super) fn blocked_by_migrate(&self, from: ProcessId, msg: &Msg) -> bool {
        let Some(call) = &self.migrate else {
            return false;
        };
        !matches!(msg, Msg::MigrateReply { id, .. } if *id == call.id && from == call.to)
    }

    /// The target's side: `RESTORE-ASKING key 0 payload REPLACE` for each key, refused as a
    /// client's command would be (a node that does not import the slot answers `-MOVED`).
    pub(super) fn on_migrate_keys(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        id: u64,
        keys: &[(Rc<str>, Value)],
    ) {
        let mut error = None;
        for (key, value) in keys {
            if let Some(e) = self.restore_refusal(key) {
                error = Some(Rc::from(e));
                break;
            }
            if self.cfg.bugs.migrate_without_restore {
                continue;
            }
            for cmd in value.restore_commands(key) {
                self.internal_write(ctx, cmd);
            }
        }
        ctx.send(from, Msg::MigrateReply { id, error });
    }

    /// Why this node refuses `RESTORE-ASKING key` (`processCommand` with `CLIENT_ASKING`).
    fn restore_refusal(&self, key: &str) -> Option<String> {
        if self.replica.is_some() {
            return Some("READONLY You can't write against a read only replica.".into());
        }
        let part = self.cluster.as_ref()?;
        let keys: [&[u8]; 1] = [key.as_bytes()];
        let query = Query {
            keys: &keys,
            is_write: true,
            asking: true,
            readonly: false,
        };
        let keyspace = &self.data.keyspace;
        let exists = |k: &[u8]| std::str::from_utf8(k).is_ok_and(|k| keyspace.get(k).is_some());
        let view = part.node.route_view(&exists);
        route(&query, &view).err().map(|r| r.error_text())
    }

    /// The source's side: the target answered. On success the keys are deleted here (and the
    /// deletions propagated, `migrateCommand` rewrites itself as DEL); either way the server
    /// runs again.
    pub(super) fn on_migrate_reply(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        id: u64,
        error: Option<Rc<str>>,
    ) {
        let Some(call) = self.migrate.take().filter(|c| c.id == id) else {
            return;
        };
        let reply = match error {
            None => {
                for key in &call.keys {
                    self.internal_write(ctx, Command::Del(key.clone()));
                }
                "OK".to_string()
            }
            Some(e) => format!("(error) ERR Target instance replied with error: {e}"),
        };
        self.end_migrate(ctx, call.text, reply);
    }

    /// `MIGRATE`'s timeout: `-IOERR`, the keys stay here.
    pub(super) fn on_migrate_timeout(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        let id = tag & !TIMER_KIND_MASK;
        let Some(call) = self.migrate.take_if(|c| c.id == id) else {
            return;
        };
        let reply = "(error) IOERR error or timeout reading to target instance".to_string();
        self.end_migrate(ctx, call.text, reply);
    }

    /// Notes the reply and runs what waited, timers first (the event loop's time events),
    /// messages in arrival order.
    fn end_migrate(&mut self, ctx: &mut Ctx<'_, Msg>, text: String, reply: String) {
        ctx.note(Fact::OperatorReply {
            server: self.name.clone(),
            command: text,
            reply,
        });
        self.release_blocked(ctx);
    }

    /// `delKeysInSlot` for the slots a newer claim took from this primary.
    pub(super) fn delete_keys_in_slots(&mut self, ctx: &mut Ctx<'_, Msg>, slots: &[u16]) {
        let doomed: Vec<Rc<str>> = self
            .data
            .keyspace
            .iter()
            .filter(|(k, _)| slots.contains(&key_hash_slot(k.as_bytes())))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.internal_write(ctx, Command::Del(key));
        }
    }

    /// A write the server makes itself (MIGRATE, RESTORE, delKeysInSlot): applied, propagated
    /// to the replicas and written to the AOF like a client's.
    fn internal_write(&mut self, ctx: &mut Ctx<'_, Msg>, cmd: Command) {
        if !self.data.keyspace.apply(&cmd).dirty {
            return;
        }
        let mut streamed = false;
        if self.replica.is_none() {
            let before = self.data.repl.offset;
            self.propagate(ctx, StreamItem::Command(cmd.clone()));
            streamed = self.data.repl.offset != before;
        }
        let mark = if streamed || self.replica.is_some() {
            self.data.mark()
        } else {
            self.data.unstreamed_write()
        };
        let offset = self.data.repl.offset;
        let flushed = self
            .persistence
            .record_write(&self.cfg, &cmd, mark, ctx.now(), offset);
        self.after_flush(ctx, flushed);
    }
}

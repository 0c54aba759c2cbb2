//! What a server keeps on disk, and what survives which crash.
//!
//! A *process* crash (kill -9) keeps everything Redis had written to its files, because the OS page
//! cache survives; a *machine* crash (power loss) keeps only what was fsynced. Redis writes the AOF
//! buffer to the file in `beforeSleep`, before replies are sent, so every write a client saw
//! acknowledged is at least in the page cache when `appendonly yes`.

use std::rc::Rc;

use super::command::Command;
use super::keyspace::Keyspace;
use super::replication::ReplId;
use crate::sim::ProcessId;

/// An RDB file: a snapshot and the replication info Redis stores in its aux fields.
#[derive(Clone, Debug)]
pub struct RdbFile {
    /// The dataset.
    pub keyspace: Rc<Keyspace>,
    /// `repl-id` aux field.
    pub replid: ReplId,
    /// `repl-offset` aux field.
    pub offset: u64,
}

/// The append-only file: a base snapshot plus the commands appended since.
#[derive(Clone, Debug, Default)]
pub struct AofFile {
    /// The base (the RDB preamble after a rewrite or a full sync), if any.
    pub base: Option<Rc<Keyspace>>,
    /// Commands written to the file (page cache or disk).
    pub commands: Vec<Command>,
    /// How many of `commands` are fsynced.
    pub fsynced: usize,
    /// Whether the base is fsynced.
    pub base_fsynced: bool,
}

/// The disk of one server.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// `dump.rdb`, written by BGSAVE (fsynced when the save completes) or received in a full sync.
    pub rdb: Option<RdbFile>,
    /// The AOF, when `appendonly yes` was ever on.
    pub aof: Option<AofFile>,
    /// The `replicaof` line of the config file (rewritten by Sentinel with CONFIG REWRITE).
    pub replicaof: Option<ProcessId>,
}

impl Disk {
    /// What remains after a machine crash: unsynced AOF commands are gone.
    pub fn after_power_loss(&mut self) {
        if let Some(aof) = &mut self.aof {
            aof.commands.truncate(aof.fsynced);
            if !aof.base_fsynced {
                aof.base = None;
                aof.commands.clear();
                aof.fsynced = 0;
            }
        }
    }

    /// The dataset a restarting server loads: from the AOF when `appendonly yes` (as Redis prefers
    /// it), else from the RDB. Returns the keyspace and whether it came from an RDB with
    /// replication info.
    pub fn load(&self, appendonly: bool) -> (Keyspace, Option<(ReplId, u64)>) {
        if appendonly {
            if let Some(aof) = &self.aof {
                let mut ks = aof.base.as_deref().cloned().unwrap_or_default();
                for c in &aof.commands {
                    ks.apply(c);
                }
                return (ks, None);
            }
            return (Keyspace::default(), None);
        }
        match &self.rdb {
            Some(r) => ((*r.keyspace).clone(), Some((r.replid, r.offset))),
            None => (Keyspace::default(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_drops_unsynced_aof_commands() {
        let mut d = Disk {
            aof: Some(AofFile {
                base: None,
                commands: vec![
                    Command::Set(Rc::from("a"), Rc::from("1")),
                    Command::Set(Rc::from("b"), Rc::from("2")),
                ],
                fsynced: 1,
                base_fsynced: true,
            }),
            ..Disk::default()
        };
        let (before, _) = d.load(true);
        assert_eq!(before.len(), 2);
        d.after_power_loss();
        let (after, _) = d.load(true);
        assert_eq!(after.len(), 1);
        assert!(after.get("a").is_some());
    }
}

//! What a server keeps on disk, and what survives which crash.
//!
//! A *process* crash (kill -9) keeps everything Redis had written to its files, because the OS page
//! cache survives; a *machine* crash (power loss) keeps only what was fsynced. Redis writes the AOF
//! buffer to the file in `beforeSleep`, before replies are sent, so every write a client saw
//! acknowledged is at least in the page cache when `appendonly yes`.

use std::rc::Rc;

use super::command::Command;
use super::keyspace::Keyspace;
use super::replication::{Mark, ReplId};
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
    /// Where the snapshot's data stands (an observation for the checkers, not in Redis's file).
    pub holds: Mark,
}

/// The append-only file: a base snapshot plus the commands appended since.
#[derive(Clone, Debug, Default)]
pub struct AofFile {
    /// The base (the RDB preamble after a rewrite or a full sync), if any.
    pub base: Option<Rc<Keyspace>>,
    /// The replication position the base holds, when known.
    pub base_position: Option<Mark>,
    /// Commands written to the file (page cache or disk).
    pub commands: Vec<Command>,
    /// Where each command landed in the replication history: an index into `replids`, the
    /// offset after it and its count of unstreamed writes (see [`Mark`]). Not part of Redis's
    /// file: simkv keeps it to tell the checkers which writes a restart from this file brings
    /// back.
    pub positions: Vec<(u32, u64, u64)>,
    /// The replication IDs `positions` refers to.
    pub replids: Vec<ReplId>,
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
    /// When the machine's OS last wrote its dirty pages back (`appendfsync no`), in ns: the
    /// kernel's clock, which a process restart does not reset; `None` until the machine boots
    /// (and again after a power loss, when there are no dirty pages).
    pub last_writeback_ns: Option<u64>,
}

impl AofFile {
    /// Appends a command written at `position`.
    pub fn push(&mut self, cmd: Command, position: Mark) {
        if self.replids.last() != Some(&position.replid) {
            self.replids.push(position.replid);
        }
        self.commands.push(cmd);
        self.positions.push((
            (self.replids.len() - 1) as u32,
            position.offset,
            position.unstreamed,
        ));
    }

    /// The position of the data replaying the first `n` commands gives.
    fn position_after(&self, n: usize) -> Option<Mark> {
        match n.checked_sub(1) {
            None => self.base_position,
            Some(i) => self.positions.get(i).map(|&(r, offset, unstreamed)| Mark {
                replid: self.replids[r as usize],
                offset,
                unstreamed,
            }),
        }
    }
}

/// What a restarting server loads.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The dataset.
    pub keyspace: Keyspace,
    /// The RDB's replication info (`repl-id`, `repl-offset`), when it came from an RDB.
    pub rdb_info: Option<(ReplId, u64)>,
    /// The replication position the loaded data reaches, when known.
    pub position: Option<Mark>,
}

impl Disk {
    /// What remains after a machine crash: unsynced AOF commands are gone.
    pub fn after_power_loss(&mut self) {
        self.last_writeback_ns = None;
        if let Some(aof) = &mut self.aof {
            aof.commands.truncate(aof.fsynced);
            aof.positions.truncate(aof.fsynced);
            if !aof.base_fsynced {
                aof.base = None;
                aof.commands.clear();
                aof.positions.clear();
                aof.base_position = None;
                aof.fsynced = 0;
            }
        }
    }

    /// The dataset a restarting server loads: from the AOF when `appendonly yes` (as Redis prefers
    /// it), else from the RDB.
    pub fn load(&self, appendonly: bool) -> Loaded {
        let empty = Loaded {
            keyspace: Keyspace::default(),
            rdb_info: None,
            position: None,
        };
        if appendonly {
            let Some(aof) = &self.aof else {
                return empty;
            };
            let mut ks = aof.base.as_deref().cloned().unwrap_or_default();
            for c in &aof.commands {
                ks.apply(c);
            }
            return Loaded {
                keyspace: ks,
                rdb_info: None,
                position: aof.position_after(aof.commands.len()),
            };
        }
        match &self.rdb {
            Some(r) => Loaded {
                keyspace: (*r.keyspace).clone(),
                rdb_info: Some((r.replid, r.offset)),
                position: Some(r.holds),
            },
            None => empty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_drops_unsynced_aof_commands_and_their_positions() {
        let id = ReplId([7; 20]);
        let mut aof = AofFile {
            base_fsynced: true,
            ..AofFile::default()
        };
        aof.push(
            Command::Set(Rc::from("a"), Rc::from("1")),
            Mark::streamed(id, 30),
        );
        aof.push(
            Command::Set(Rc::from("b"), Rc::from("2")),
            Mark::streamed(id, 60),
        );
        aof.fsynced = 1;
        let mut d = Disk {
            aof: Some(aof),
            ..Disk::default()
        };
        let before = d.load(true);
        assert_eq!(before.keyspace.len(), 2);
        assert_eq!(before.position, Some(Mark::streamed(id, 60)));
        d.after_power_loss();
        let after = d.load(true);
        assert_eq!(after.keyspace.len(), 1);
        assert!(after.keyspace.get("a").is_some());
        assert_eq!(
            after.position,
            Some(Mark::streamed(id, 30)),
            "the data reaches the fsynced write"
        );
    }
}

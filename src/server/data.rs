//! The dataset and the replication history it belongs to: keyspace, replid/offset and the
//! backlog, with the invariants that tie them together.

use crate::redis::{Backlog, Keyspace, ReplId, ReplIdentity};

/// The data part of a server.
#[derive(Clone, Debug)]
pub(crate) struct Data {
    pub(crate) keyspace: Keyspace,
    pub(crate) repl: ReplIdentity,
    pub(crate) backlog: Option<Backlog>,
    /// The highest (replid, offset) seen, to check that offsets never go backwards within a
    /// history.
    high_water: (ReplId, u64),
}

impl Data {
    pub(crate) fn new(repl: ReplIdentity) -> Self {
        Data {
            keyspace: Keyspace::default(),
            high_water: (repl.replid, repl.offset),
            repl,
            backlog: None,
        }
    }

    /// Creates the backlog when there is none, starting at the next byte of the stream.
    /// Where the data stands in its replication history.
    pub(crate) fn position(&self) -> crate::history::Position {
        crate::history::Position {
            replid: self.repl.replid.to_string(),
            offset: self.repl.offset,
        }
    }

    pub(crate) fn ensure_backlog(&mut self, size_bytes: u64) {
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(size_bytes, self.repl.offset + 1));
        }
    }

    /// Checks, after every event: the backlog ends exactly where the stream does, its block
    /// bookkeeping adds up, and the offset never went backwards under the same replid.
    /// Planted bugs may break the stream on purpose, so they skip the offset checks.
    pub(crate) fn assert_invariants(&mut self, bugs: bool) {
        if let Some(b) = &self.backlog {
            b.assert_consistent();
            if !bugs {
                assert_eq!(
                    b.first_offset() + b.histlen(),
                    self.repl.offset + 1,
                    "the backlog ends at the stream's end"
                );
            }
        }
        let (replid, offset) = self.high_water;
        if replid == self.repl.replid {
            assert!(
                bugs || self.repl.offset >= offset,
                "offset went back from {offset} to {} under replid {replid}",
                self.repl.offset
            );
        }
        self.high_water = (self.repl.replid, self.repl.offset);
    }
}

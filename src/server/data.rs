//! The dataset and the replication history it belongs to: keyspace, replid/offset and the
//! backlog, with the invariants that tie them together.

use crate::redis::{Backlog, Keyspace, Mark, ReplId, ReplIdentity};

/// The data part of a server.
#[derive(Clone, Debug)]
pub(crate) struct Data {
    pub(crate) keyspace: Keyspace,
    pub(crate) repl: ReplIdentity,
    pub(crate) backlog: Option<Backlog>,
    /// The highest (replid, offset) seen, to check that offsets never go backwards within a
    /// history.
    high_water: (ReplId, u64),
    /// The writes applied without a stream (no backlog, no replica) under one (ID, offset): the
    /// count is valid only while the identity is still at that ID and offset.
    unstreamed: Mark,
}

impl Data {
    pub(crate) fn new(repl: ReplIdentity) -> Self {
        Data {
            keyspace: Keyspace::default(),
            high_water: (repl.replid, repl.offset),
            unstreamed: Mark::streamed(repl.replid, repl.offset),
            repl,
            backlog: None,
        }
    }

    /// Where the data stands in its replication history.
    pub(crate) fn position(&self) -> crate::history::Position {
        self.mark().position()
    }

    /// Where the data stands, unstreamed writes included.
    pub(crate) fn mark(&self) -> Mark {
        let here = Mark::streamed(self.repl.replid, self.repl.offset);
        let u = self.unstreamed;
        if (u.replid, u.offset) == (here.replid, here.offset) {
            u
        } else {
            here
        }
    }

    /// Counts a write applied without entering a stream and returns its mark.
    pub(crate) fn unstreamed_write(&mut self) -> Mark {
        let mut m = self.mark();
        m.unstreamed += 1;
        self.unstreamed = m;
        m
    }

    /// Creates the backlog when there is none, starting at the next byte of the stream.
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

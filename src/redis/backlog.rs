//! The replication backlog, kept and trimmed the way Redis 7 does it.
//!
//! Since Redis 7.0 the backlog is a view over a shared list of replication buffer blocks
//! (`feedReplicationBuffer`, `incrementalTrimReplicationBacklog` in src/replication.c):
//! - bytes go into the tail block while it has room; a new block is allocated with
//!   `min(max(len, 16 KiB), max(repl-backlog-size / 16, 16 KiB))` bytes;
//! - the backlog is trimmed after a new block is added, and again in every `beforeSleep` (so, in
//!   the model, after every feed), one whole block at a time, and only while `histlen >
//!   repl-backlog-size`, more than one block remains, the first block is referenced by no
//!   replica's output buffer, and dropping it leaves more than `repl-backlog-size` bytes.
//!
//! So the backlog usually holds somewhat more than `repl-backlog-size` bytes, and a replica whose
//! output buffer still references old blocks keeps them alive. A block also keeps the allocator's
//! rounding (`zmalloc_usable`): Redis asks for the block plus its 40-byte header and uses all the
//! allocator gives, so with jemalloc (Debian's build) a 16 KiB block holds 20,440 bytes, and a
//! 16 KiB backlog still grants a partial resync 36,824 bytes back (measured on 7.0.15).

use std::collections::VecDeque;
use std::rc::Rc;

use super::Hello;
use super::command::{Command, ping_len, resp_array_len, select_len};

/// Redis's `PROTO_REPLY_CHUNK_BYTES`: the smallest replication buffer block.
pub const BLOCK_MIN_BYTES: u64 = 16 * 1024;
/// `sizeof(replBufBlock)` on 64-bit builds: refcount, id, repl_offset, size, used.
pub const BLOCK_HEADER_BYTES: u64 = 40;

/// What jemalloc hands out for a request of `n` bytes (its size class), for the sizes a
/// replication block asks for (above 4 KiB): four classes per doubling, so a request is rounded
/// up to a multiple of a quarter of the power of two below it (16,424 bytes become 20,480).
pub fn jemalloc_usable_size(n: u64) -> u64 {
    assert!(n > 4096, "only large size classes are modelled ({n} bytes)");
    let k = 63 - (n - 1).leading_zeros();
    let spacing = 1u64 << (k - 2);
    n.div_ceil(spacing) * spacing
}

/// Redis's `REPL_BACKLOG_TRIM_BLOCKS_PER_CALL`.
pub const TRIM_BLOCKS_PER_CALL: usize = 64;
/// Redis's `CONFIG_REPL_BACKLOG_MIN_SIZE`: the smallest `repl-backlog-size` accepted.
pub const BACKLOG_MIN_SIZE: u64 = 16 * 1024;

/// What one propagated entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamItem {
    /// `SELECT db`, emitted before the first command after a new stream starts.
    Select(u32),
    /// The primary's periodic `PING` (every `repl-ping-replica-period`).
    Ping,
    /// `REPLCONF GETACK *`, written into the stream when a client blocks in `WAIT`.
    Getack,
    /// A write command.
    Command(Command),
    /// A Sentinel hello published on the primary (`PUBLISH __sentinel__:hello ...`).
    Publish(Rc<Hello>),
}

impl StreamItem {
    /// The RESP length of the item.
    pub fn resp_len(&self) -> u64 {
        match self {
            StreamItem::Select(db) => select_len(*db),
            StreamItem::Ping => ping_len(),
            StreamItem::Getack => resp_array_len(&[b"REPLCONF", b"GETACK", b"*"]),
            StreamItem::Command(c) => c.resp_len(),
            StreamItem::Publish(h) => h.publish_len(),
        }
    }
}

/// One entry of the replication stream, with the offset of its first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// Offset of the entry's first byte (`master_repl_offset + 1` before it was fed).
    pub offset: u64,
    /// Bytes of the entry's RESP encoding.
    pub len: u64,
    /// What the entry carries.
    pub item: StreamItem,
}

impl StreamEntry {
    /// The offset of the entry's last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len - 1
    }
}

#[derive(Clone, Debug)]
struct Block {
    start: u64,
    size: u64,
    used: u64,
}

/// A backlog of the replication stream.
#[derive(Clone, Debug)]
pub struct Backlog {
    limit: u64,
    blocks: VecDeque<Block>,
    offset: u64,
    histlen: u64,
    entries: VecDeque<Rc<StreamEntry>>,
}

impl Backlog {
    /// An empty backlog of `repl-backlog-size` = `limit` whose first byte will be `next_offset`.
    pub fn new(limit: u64, next_offset: u64) -> Self {
        assert!(
            limit >= BACKLOG_MIN_SIZE,
            "repl-backlog-size is at least 16kb"
        );
        Backlog {
            limit,
            blocks: VecDeque::new(),
            offset: next_offset,
            histlen: 0,
            entries: VecDeque::new(),
        }
    }

    /// A new `repl-backlog-size` (at least 16kb), trimming what no longer fits at once.
    pub fn resize(&mut self, limit: u64, pinned_from: Option<u64>) {
        assert!(
            limit >= BACKLOG_MIN_SIZE,
            "repl-backlog-size is at least 16kb"
        );
        self.limit = limit;
        self.trim(pinned_from);
    }

    /// Offset of the first byte held (`repl_backlog->offset`).
    pub fn first_offset(&self) -> u64 {
        self.offset
    }
    /// Bytes held (`repl_backlog->histlen`).
    pub fn histlen(&self) -> u64 {
        self.histlen
    }
    /// The configured size.
    pub fn limit(&self) -> u64 {
        self.limit
    }
    /// replication.c: `server.repl_buffer_mem`, INFO's `mem_total_replication_buffers`: every
    /// block's allocation (its usable size and header) plus its list node (24 bytes).
    pub fn buffer_memory(&self) -> u64 {
        const LIST_NODE_BYTES: u64 = 24;
        self.blocks
            .iter()
            .map(|b| b.size + BLOCK_HEADER_BYTES + LIST_NODE_BYTES)
            .sum()
    }
    /// Number of blocks.
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// Whether a replica asking for `offset` (the first byte it lacks) can continue from here.
    pub fn covers(&self, offset: u64) -> bool {
        self.offset <= offset && offset <= self.offset + self.histlen
    }

    /// Appends an entry. `pinned_from` is the smallest offset still referenced by a replica's output
    /// buffer (`None` when no replica holds any), which stops trimming of blocks it lies in.
    pub fn feed(&mut self, entry: Rc<StreamEntry>, pinned_from: Option<u64>) {
        assert_eq!(
            entry.offset,
            self.offset + self.histlen,
            "the backlog receives a contiguous stream"
        );
        let mut remaining = entry.len;
        self.entries.push_back(entry);
        while remaining > 0 {
            if let Some(tail) = self.blocks.back_mut() {
                let copy = (tail.size - tail.used).min(remaining);
                tail.used += copy;
                self.histlen += copy;
                remaining -= copy;
            }
            if remaining > 0 {
                // feedReplicationBuffer: the block takes all the allocator gives it.
                let cap = (self.limit / 16).max(BLOCK_MIN_BYTES);
                let asked = remaining.max(BLOCK_MIN_BYTES).min(cap);
                let size = jemalloc_usable_size(asked + BLOCK_HEADER_BYTES) - BLOCK_HEADER_BYTES;
                let copy = size.min(remaining);
                self.blocks.push_back(Block {
                    start: self.offset + self.histlen,
                    size,
                    used: copy,
                });
                self.histlen += copy;
                remaining -= copy;
                self.assert_blocks();
                self.trim(pinned_from);
            }
        }
        // server.c: beforeSleep trims too (incrementalTrimReplicationBacklog), so the backlog
        // never holds more than the limit plus its first block once the event is handled.
        self.trim(pinned_from);
    }

    /// Trims whole blocks as `incrementalTrimReplicationBacklog` does.
    pub fn trim(&mut self, pinned_from: Option<u64>) {
        let mut trimmed = 0;
        while self.histlen > self.limit && trimmed < TRIM_BLOCKS_PER_CALL {
            if self.blocks.len() <= 1 {
                break;
            }
            let first = &self.blocks[0];
            let first_end = first.start + first.used;
            if pinned_from.is_some_and(|p| p < first_end) {
                break;
            }
            if self.histlen - first.size <= self.limit {
                break;
            }
            assert_eq!(first.used, first.size, "only full blocks are trimmed");
            self.histlen -= first.size;
            self.blocks.pop_front();
            trimmed += 1;
        }
        if trimmed == 0 {
            // Nothing moved: the first block still starts at the first offset and every entry
            // lies inside (both checked after every event by `assert_consistent`).
            debug_assert!(self.blocks.front().is_none_or(|b| b.start == self.offset));
            return;
        }
        self.offset = self
            .blocks
            .front()
            .map_or(self.offset + self.histlen, |b| b.start);
        while self.entries.front().is_some_and(|e| e.offset < self.offset) {
            self.entries.pop_front();
        }
        self.assert_blocks();
    }

    /// Checks the block bookkeeping at its two ends: the first block starts at the first
    /// offset, the tail block ends at the backlog's end and holds at most its size, and the
    /// entries kept lie inside. O(1), so it runs after every event; [`Backlog::feed`] and
    /// [`Backlog::trim`] walk every block ([`Backlog::assert_blocks`]) whenever they add or drop
    /// one, the only times the middle changes.
    pub fn assert_consistent(&self) {
        let end = self.offset + self.histlen;
        match (self.blocks.front(), self.blocks.back()) {
            (Some(first), Some(tail)) => {
                assert_eq!(
                    first.start, self.offset,
                    "backlog blocks start at its offset"
                );
                assert!(tail.used <= tail.size, "a block holds at most its size");
                assert_eq!(tail.start + tail.used, end, "blocks add up to histlen");
            }
            _ => assert_eq!(self.histlen, 0, "a backlog without blocks is empty"),
        }
        if let (Some(first), Some(last)) = (self.entries.front(), self.entries.back()) {
            assert!(
                first.offset >= self.offset,
                "entries start inside the backlog"
            );
            assert_eq!(
                last.end() + 1,
                end,
                "the last entry ends at the backlog's end"
            );
        }
    }

    /// Checks every block: contiguous from the first offset, only the tail block has room,
    /// their bytes add up to `histlen`.
    fn assert_blocks(&self) {
        let mut next = self.offset;
        for (i, b) in self.blocks.iter().enumerate() {
            assert_eq!(b.start, next, "backlog blocks are contiguous");
            assert!(b.used <= b.size, "a block holds at most its size");
            assert!(
                b.used == b.size || i + 1 == self.blocks.len(),
                "only the tail block has room"
            );
            next += b.used;
        }
        assert_eq!(next, self.offset + self.histlen, "blocks add up to histlen");
    }

    /// The entries from `offset` to the end, if `offset` is an entry boundary the backlog covers.
    pub fn entries_from(&self, offset: u64) -> Option<Vec<Rc<StreamEntry>>> {
        if !self.covers(offset) {
            return None;
        }
        if offset == self.offset + self.histlen {
            return Some(Vec::new());
        }
        let idx = self
            .entries
            .binary_search_by_key(&offset, |e| e.offset)
            .ok()?;
        Some(self.entries.range(idx..).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(offset: u64, len: u64) -> Rc<StreamEntry> {
        Rc::new(StreamEntry {
            offset,
            len,
            item: StreamItem::Ping,
        })
    }

    fn fill(b: &mut Backlog, next: &mut u64, len: u64, n: usize) {
        for _ in 0..n {
            b.feed(entry(*next, len), None);
            *next += len;
        }
    }

    #[test]
    fn holds_more_than_the_limit_and_trims_whole_blocks() {
        let mut b = Backlog::new(BACKLOG_MIN_SIZE, 1);
        let mut next = 1;
        fill(&mut b, &mut next, 1000, 100); // 100,000 bytes through a 16 KiB backlog
        assert!(
            b.histlen() > BACKLOG_MIN_SIZE,
            "Redis keeps at least the limit"
        );
        let block = 20_440; // jemalloc's 20 KiB class, less the header
        assert!(b.histlen() <= BACKLOG_MIN_SIZE + block);
        assert_eq!(
            b.first_offset() + b.histlen(),
            next,
            "the backlog ends at the stream end"
        );
        assert_eq!(
            (b.first_offset() - 1) % block,
            0,
            "trimmed at a block boundary"
        );
    }

    /// Measured on Redis 7.0.15 (jemalloc) with `repl-backlog-size 16kb`: a replica can continue
    /// from at most 36,824 bytes back (16,384 + one 20,440-byte block), never more.
    #[test]
    fn a_16k_backlog_reaches_back_36824_bytes_as_in_redis() {
        assert_eq!(jemalloc_usable_size(16_384 + BLOCK_HEADER_BYTES), 20_480);
        assert_eq!(jemalloc_usable_size(16_384), 16_384);
        assert_eq!(jemalloc_usable_size(20_481), 24_576);
        assert_eq!(jemalloc_usable_size(65_576), 81_920);
        let mut b = Backlog::new(BACKLOG_MIN_SIZE, 1);
        let mut next = 1;
        let mut most = 0;
        for _ in 0..20_000 {
            fill(&mut b, &mut next, 8, 1);
            most = most.max(b.histlen());
        }
        assert_eq!(most, 36_824);
    }

    /// Measured on redis-server 7.0.15 with one replica and a 1 MB backlog: after 69,238 bytes
    /// of stream, INFO reports `mem_total_replication_buffers:82016`, four blocks of 20,504.
    #[test]
    fn replication_buffer_memory_counts_whole_blocks_as_redis_does() {
        let mut b = Backlog::new(1024 * 1024, 1);
        let mut next = 1;
        assert_eq!(b.buffer_memory(), 0);
        fill(&mut b, &mut next, 238, 1);
        fill(&mut b, &mut next, 1000, 69);
        assert_eq!(b.histlen(), 69_238);
        assert_eq!(b.buffer_memory(), 82_016);
    }

    #[test]
    fn wraps_and_partial_ranges() {
        let mut b = Backlog::new(BACKLOG_MIN_SIZE, 101);
        let mut next = 101;
        fill(&mut b, &mut next, 100, 1000);
        assert!(!b.covers(101));
        assert!(
            b.covers(next),
            "a caught-up replica continues with zero bytes"
        );
        assert_eq!(b.entries_from(next).unwrap().len(), 0);
        let last = b.entries_from(next - 100).unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].offset, next - 100);
        assert!(
            !b.covers(next + 1),
            "a replica ahead of the primary cannot continue"
        );
    }

    #[test]
    fn a_pinned_block_is_not_trimmed() {
        let mut b = Backlog::new(BACKLOG_MIN_SIZE, 1);
        let mut next = 1;
        for _ in 0..200 {
            b.feed(entry(next, 1000), Some(1));
            next += 1000;
        }
        assert_eq!(
            b.first_offset(),
            1,
            "a replica's output buffer still references byte 1"
        );
        assert!(b.histlen() >= 200_000);
        b.trim(None);
        assert!(b.first_offset() > 1);
    }

    #[test]
    fn large_backlog_uses_blocks_of_one_sixteenth() {
        let mut b = Backlog::new(1 << 20, 1);
        b.feed(entry(1, 200_000), None);
        // 65,536 asked (a sixteenth), 81,880 usable (jemalloc's 80 KiB class, less the header).
        assert_eq!(b.block_count(), 3, "81,880-byte blocks for a 1 MiB backlog");
    }
}

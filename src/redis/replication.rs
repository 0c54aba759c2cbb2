//! Replication identity (replid, replid2, offsets) and the primary's PSYNC decision
//! (`masterTryPartialResynchronization` in src/replication.c).

use std::fmt;

use rand::Rng;

use super::backlog::Backlog;

/// A 40-hex-digit replication ID (`CONFIG_RUN_ID_SIZE`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplId(pub [u8; 20]);

impl ReplId {
    /// A fresh random ID drawn from the server's stream.
    pub fn random(rng: &mut impl Rng) -> ReplId {
        let mut b = [0u8; 20];
        for chunk in b.chunks_mut(8) {
            let w = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        ReplId(b)
    }
    /// The first 8 hex digits, for compact logs.
    pub fn short(&self) -> String {
        self.to_string()[..8].to_string()
    }
    /// A stable 64-bit word for the trace hash.
    pub fn word(&self) -> u64 {
        u64::from_le_bytes(self.0[..8].try_into().expect("8 bytes"))
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.short())
    }
}

/// Where a write, or the data that holds it, stands in a replication history: the ID, the stream
/// offset, and how many writes a primary without a backlog applied after that offset without
/// streaming them (see `history::Position`). Not part of Redis's state: an observation for the
/// checkers' lineage of acknowledged writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The replication ID.
    pub replid: ReplId,
    /// The stream offset.
    pub offset: u64,
    /// Unstreamed writes after `offset`.
    pub unstreamed: u64,
}

impl Mark {
    /// The mark of a streamed position.
    pub fn streamed(replid: ReplId, offset: u64) -> Self {
        Mark {
            replid,
            offset,
            unstreamed: 0,
        }
    }

    /// The history format's position.
    pub fn position(&self) -> crate::history::Position {
        crate::history::Position {
            replid: self.replid.to_string().into(),
            offset: self.offset,
            unstreamed: self.unstreamed,
        }
    }
}

/// A server's replication identity: which history its data belongs to and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplIdentity {
    /// The current replication ID.
    pub replid: ReplId,
    /// The previous ID, valid up to `second_replid_offset` (after a promotion).
    pub replid2: Option<ReplId>,
    /// The first offset *not* valid under `replid2` (Redis stores `offset + 1`).
    pub second_replid_offset: u64,
    /// Bytes of replication stream processed (`master_repl_offset`).
    pub offset: u64,
}

impl ReplIdentity {
    /// A fresh identity (every process start: `initServerConfig` draws a new replid).
    pub fn fresh(replid: ReplId) -> Self {
        ReplIdentity {
            replid,
            replid2: None,
            second_replid_offset: 0,
            offset: 0,
        }
    }

    /// `shiftReplicationId`: the current ID becomes the secondary one, valid up to here.
    pub fn shift(&mut self, new: ReplId) {
        self.replid2 = Some(self.replid);
        self.second_replid_offset = self.offset + 1;
        self.replid = new;
    }

    /// `changeReplicationId` + `clearReplicationId2`.
    pub fn reset(&mut self, new: ReplId) {
        self.replid = new;
        self.replid2 = None;
        self.second_replid_offset = 0;
    }
}

pub use crate::fact::FullResyncReason;

/// The primary's answer to `PSYNC replid offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PsyncDecision {
    /// `+CONTINUE <replid>`: stream from the requested offset.
    Continue,
    /// `+FULLRESYNC`: a snapshot is needed.
    FullResync(FullResyncReason),
}

/// Decides a PSYNC exactly as `masterTryPartialResynchronization`: the ID check first (replid, or
/// replid2 with the offset not beyond `second_replid_offset`), then the backlog range check
/// `backlog.offset <= offset <= backlog.offset + histlen`.
pub fn decide_psync(
    me: &ReplIdentity,
    backlog: Option<&Backlog>,
    requested: Option<(ReplId, u64)>,
) -> PsyncDecision {
    let Some((id, offset)) = requested else {
        return PsyncDecision::FullResync(FullResyncReason::NoCachedMaster);
    };
    if id != me.replid {
        if me.replid2 != Some(id) {
            return PsyncDecision::FullResync(FullResyncReason::IdMismatch);
        }
        if offset > me.second_replid_offset {
            return PsyncDecision::FullResync(FullResyncReason::SecondIdOffsetTooHigh {
                requested: offset,
                valid_up_to: me.second_replid_offset.saturating_sub(1),
            });
        }
    }
    let Some(backlog) = backlog else {
        return PsyncDecision::FullResync(FullResyncReason::NoBacklog);
    };
    if !backlog.covers(offset) {
        return PsyncDecision::FullResync(FullResyncReason::OutOfBacklog {
            requested: offset,
            first: backlog.first_offset(),
            end: backlog.first_offset() + backlog.histlen(),
        });
    }
    PsyncDecision::Continue
}

#[cfg(test)]
mod tests {
    use super::super::backlog::{StreamEntry, StreamItem};
    use super::*;
    use std::rc::Rc;

    fn id(b: u8) -> ReplId {
        ReplId([b; 20])
    }

    /// A primary with replid B, replid2 A valid up to 1000, offset 1200, backlog [201, 1200].
    fn promoted() -> (ReplIdentity, Backlog) {
        let me = ReplIdentity {
            replid: id(2),
            replid2: Some(id(1)),
            second_replid_offset: 1001,
            offset: 1200,
        };
        let mut b = Backlog::new(16 * 1024, 201);
        let mut next = 201;
        while next <= 1200 {
            b.feed(
                Rc::new(StreamEntry {
                    offset: next,
                    len: 100,
                    item: StreamItem::Ping,
                }),
                None,
            );
            next += 100;
        }
        (me, b)
    }

    #[test]
    fn decision_table() {
        let (me, b) = promoted();
        let d = |req| decide_psync(&me, Some(&b), req);
        // Current ID, inside the backlog, including the fully caught-up edge.
        assert_eq!(d(Some((id(2), 501))), PsyncDecision::Continue);
        assert_eq!(d(Some((id(2), 1201))), PsyncDecision::Continue);
        // Current ID outside the backlog, below and above.
        assert!(matches!(
            d(Some((id(2), 101))),
            PsyncDecision::FullResync(FullResyncReason::OutOfBacklog { .. })
        ));
        assert!(matches!(
            d(Some((id(2), 1202))),
            PsyncDecision::FullResync(FullResyncReason::OutOfBacklog { .. })
        ));
        // Previous ID up to and including second_replid_offset.
        assert_eq!(d(Some((id(1), 991))), PsyncDecision::Continue);
        assert_eq!(d(Some((id(1), 1001))), PsyncDecision::Continue);
        // Previous ID beyond where it is valid: the old primary that took extra writes.
        assert_eq!(
            d(Some((id(1), 1051))),
            PsyncDecision::FullResync(FullResyncReason::SecondIdOffsetTooHigh {
                requested: 1051,
                valid_up_to: 1000
            })
        );
        // Unknown ID, and PSYNC ? -1.
        assert_eq!(
            d(Some((id(9), 501))),
            PsyncDecision::FullResync(FullResyncReason::IdMismatch)
        );
        assert_eq!(
            d(None),
            PsyncDecision::FullResync(FullResyncReason::NoCachedMaster)
        );
        // No backlog at all.
        assert_eq!(
            decide_psync(&me, None, Some((id(2), 501))),
            PsyncDecision::FullResync(FullResyncReason::NoBacklog)
        );
        // Previous ID valid but the offset fell out of the backlog.
        assert!(matches!(
            d(Some((id(1), 101))),
            PsyncDecision::FullResync(FullResyncReason::OutOfBacklog { .. })
        ));
    }

    #[test]
    fn shift_keeps_old_history_reachable() {
        let mut me = ReplIdentity::fresh(id(1));
        me.offset = 1000;
        me.shift(id(2));
        assert_eq!(me.replid2, Some(id(1)));
        assert_eq!(me.second_replid_offset, 1001);
        assert_eq!(id(0xab).to_string().len(), 40);
    }
}

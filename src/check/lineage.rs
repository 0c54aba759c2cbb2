//! Lineage: which positions of which replication histories the final data descends from.
//!
//! Every write a primary applies gets a position: the replication ID it is writing under and the
//! offset the stream reached. A replication ID is extended only by the primary that created it,
//! so a position names one write. Histories branch: a promoted replica starts a new ID whose
//! parent is the old ID up to the offset it had received (`replid2` in `INFO replication`); a
//! primary restarted from disk starts a new ID whose parent is the position its files reached.
//! A write survives exactly when its position lies on the chain of parents of the final primary's
//! position. Unlike comparing final values, this does not change when the run goes on longer and
//! later writes overwrite the keys: once a branch has left a write behind, it stays lost.

use std::collections::BTreeMap;

#[cfg(test)]
use crate::fact::StartRole;
use crate::fact::{Fact, FactNote, Position};

/// How a replication history began.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A replica was promoted.
    Promotion,
    /// A primary restarted and reloaded its files.
    Restart,
    /// A primary took a new replication ID for the same data (its backlog was created or freed).
    NewId,
}

/// Where one replication history branched from its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// The parent position: the new history holds the parent's writes up to this offset.
    pub parent: Position,
    /// What began it.
    pub origin: Origin,
    /// The server that began it.
    pub server: String,
    /// When (ns).
    pub time_ns: u64,
}

/// The branches of every replication history a run created.
#[derive(Clone, Debug, Default)]
pub struct Ancestry {
    parent: BTreeMap<String, Branch>,
}

/// Why a write's position is not in the final lineage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut<'a> {
    /// A later history on the final chain branched off before the write's offset.
    Branched(&'a Branch),
    /// The write's history is not on the final chain at all (its primary was demoted, or
    /// restarted with less, and nobody carried the history on).
    Abandoned,
}

impl Ancestry {
    /// The branches the trace records.
    pub fn from_facts(notes: &[FactNote]) -> Self {
        let mut parent = BTreeMap::new();
        for n in notes {
            let (replid, from, origin, server) = match &n.fact {
                Fact::Promoted {
                    server,
                    replid,
                    replid2: Some(old),
                    offset,
                } => (
                    replid,
                    Position {
                        replid: old.as_str().into(),
                        offset: *offset,
                        unstreamed: 0,
                    },
                    Origin::Promotion,
                    server,
                ),
                // A restart that loaded its files under a new ID (a primary, or a replica
                // whose AOF carries no ID) starts a history holding what the files reach; a
                // replica that kept its RDB's ID continues that history.
                Fact::Started {
                    server,
                    replid,
                    data_from: Some(from),
                    ..
                } if from.replid != *replid => (replid, from.clone(), Origin::Restart, server),
                Fact::BacklogCreated {
                    server,
                    replid,
                    parent,
                }
                | Fact::BacklogFreed {
                    server,
                    replid,
                    parent,
                    ..
                } => (replid, parent.clone(), Origin::NewId, server),
                _ => continue,
            };
            parent.insert(
                replid.clone(),
                Branch {
                    parent: from,
                    origin,
                    server: server.clone(),
                    time_ns: n.time.as_nanos(),
                },
            );
        }
        Ancestry { parent }
    }

    /// Whether the write at `w` is part of the data at `tip`; otherwise what cut it off.
    ///
    /// A history holds its parent's writes up to the branch offset and nothing after, whatever
    /// it went on to write (a restarted primary counts its own offsets from zero, a promoted one
    /// continues its parent's), so each ancestor's limit is the offset its child branched at.
    pub fn cut<'a>(&'a self, tip: &Position, w: &Position) -> Option<Cut<'a>> {
        let mut replid = tip.replid.as_str();
        // Within one history, unstreamed writes come after the offset they were applied at.
        let mut limit = (tip.offset, tip.unstreamed);
        let mut via: Option<&Branch> = None;
        // A chain cannot be longer than the number of branches (IDs are random and never reused).
        for _ in 0..=self.parent.len() {
            if w.replid == replid {
                return if (w.offset, w.unstreamed) <= limit {
                    None
                } else {
                    Some(via.map_or(Cut::Abandoned, Cut::Branched))
                };
            }
            let Some(b) = self.parent.get(replid) else {
                return Some(Cut::Abandoned);
            };
            replid = &b.parent.replid;
            limit = (b.parent.offset, b.parent.unstreamed);
            via = Some(b);
        }
        Some(Cut::Abandoned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimTime;

    fn pos(replid: &str, offset: u64) -> Position {
        Position {
            replid: replid.into(),
            offset,
            unstreamed: 0,
        }
    }

    fn promoted(t: u64, server: &str, new: &str, old: &str, at: u64) -> FactNote {
        FactNote {
            time: SimTime(t),
            process: 0,
            fact: Fact::Promoted {
                server: server.into(),
                replid: new.into(),
                replid2: Some(old.into()),
                offset: at,
            },
        }
    }

    #[test]
    fn a_promotion_keeps_what_the_replica_had_and_cuts_the_rest() {
        // A wrote under "a" up to 100; r2 had 60 when promoted under "b"; b went on to 500.
        let anc = Ancestry::from_facts(&[promoted(10, "r2", "b", "a", 60)]);
        let tip = pos("b", 500);
        assert_eq!(anc.cut(&tip, &pos("a", 60)), None);
        assert_eq!(anc.cut(&tip, &pos("b", 400)), None);
        match anc.cut(&tip, &pos("a", 61)) {
            Some(Cut::Branched(b)) => {
                assert_eq!(b.server, "r2");
                assert_eq!(b.origin, Origin::Promotion);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            anc.cut(&tip, &pos("b", 501)),
            Some(Cut::Abandoned),
            "beyond the tip"
        );
    }

    #[test]
    fn the_verdict_does_not_change_as_the_final_history_grows() {
        let anc = Ancestry::from_facts(&[promoted(10, "r2", "b", "a", 60)]);
        for tip_offset in [100, 10_000, 10_000_000] {
            assert!(anc.cut(&pos("b", tip_offset), &pos("a", 80)).is_some());
            assert!(anc.cut(&pos("b", tip_offset), &pos("a", 50)).is_none());
        }
    }

    #[test]
    fn each_ancestor_is_held_up_to_its_own_branch_point() {
        // a -> b at 60 (b promoted); b restarted from its files at 100 as c, whose own offsets
        // start again from 0: c at 40 holds all of b up to 100, hence a up to 60.
        let mut restart = promoted(20, "p2", "c", "b", 100);
        if let Fact::Promoted { .. } = restart.fact {
            restart.fact = Fact::Started {
                server: "p2".into(),
                role: StartRole::Primary,
                keys: 1,
                replid: "c".into(),
                offset: 0,
                data_from: Some(pos("b", 100)),
            };
        }
        let anc = Ancestry::from_facts(&[promoted(10, "r2", "b", "a", 60), restart]);
        let tip = pos("c", 40);
        assert_eq!(anc.cut(&tip, &pos("a", 60)), None);
        assert_eq!(anc.cut(&tip, &pos("b", 100)), None);
        match anc.cut(&tip, &pos("b", 101)) {
            Some(Cut::Branched(b)) => {
                assert_eq!(b.server, "p2");
                assert_eq!(b.origin, Origin::Restart);
            }
            other => panic!("{other:?}"),
        }
        match anc.cut(&tip, &pos("a", 61)) {
            Some(Cut::Branched(b)) => assert_eq!(b.server, "r2", "the branch that left it"),
            other => panic!("{other:?}"),
        }
        assert_eq!(anc.cut(&tip, &pos("zzz", 1)), Some(Cut::Abandoned));
    }

    /// A primary without replicas writes at one offset; its writes are ordered by their count,
    /// and a restart from files holding the first `n` of them keeps exactly those.
    #[test]
    fn unstreamed_writes_are_kept_up_to_the_count_the_files_reach() {
        let unstreamed = |replid: &str, n: u64| Position {
            unstreamed: n,
            ..pos(replid, 0)
        };
        let restart = FactNote {
            time: SimTime(30),
            process: 0,
            fact: Fact::Started {
                server: "p1".into(),
                role: StartRole::Primary,
                keys: 1,
                replid: "b".into(),
                offset: 0,
                data_from: Some(unstreamed("a", 700)),
            },
        };
        let anc = Ancestry::from_facts(&[restart]);
        for tip in [pos("b", 0), unstreamed("b", 5_000)] {
            assert_eq!(anc.cut(&tip, &unstreamed("a", 1)), None);
            assert_eq!(anc.cut(&tip, &unstreamed("a", 700)), None);
            assert!(
                matches!(anc.cut(&tip, &unstreamed("a", 701)), Some(Cut::Branched(b)) if b.origin == Origin::Restart),
                "past the files"
            );
        }
        // Within one history, a later count is beyond the tip.
        assert_eq!(
            anc.cut(&unstreamed("b", 3), &unstreamed("b", 4)),
            Some(Cut::Abandoned)
        );
        assert_eq!(anc.cut(&unstreamed("b", 3), &unstreamed("b", 3)), None);
    }
}

//! Checkers: each reads only the history, the trace's notes and the final states, and returns a
//! verdict with a count and a plain-language detail.
//!
//! Architecture Invariant: `check` never imports the simulator's processes; it works on any
//! history, including ones recorded elsewhere.

mod durability;
pub mod failover;
pub mod figures;
pub mod key_stats;
pub mod lineage;
pub mod linearizable;
pub mod operations;
mod set_adds;
mod slots;
mod split_brain;
mod staleness;
pub mod verdict;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fact::{Fact, FactNote, StartRole};
use crate::history::History;
use operations::Operations;

pub use crate::cluster::slot::SlotRange;
pub use durability::{LossCause, LostWrite, acked_writes_durable};
pub use set_adds::{LostAdd, acked_adds_durable};
pub use split_brain::single_primary;
pub use staleness::{read_your_writes, stale_reads};

/// A server's state at the end of a run, as the checkers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalState {
    /// Name.
    pub name: String,
    /// A primary.
    pub is_master: bool,
    /// Its primary, if a replica.
    pub master: Option<String>,
    /// Running at the end.
    pub up: bool,
    /// Replica link in sync at the end.
    pub link_up: bool,
    /// Where its data stands in the replication history (`master_replid`,
    /// `master_repl_offset`), when known: the tip the lineage of acknowledged writes is judged
    /// against.
    pub position: Option<crate::history::Position>,
    /// The dataset's strings.
    pub data: BTreeMap<String, String>,
    /// The dataset's sets.
    pub sets: BTreeMap<String, std::collections::BTreeSet<String>>,
    /// In a Redis Cluster, who serves each slot in this node's own view at the end
    /// (`None` outside a cluster, or when unknown).
    pub slot_owners: Option<Vec<SlotRange>>,
}

/// The verdict of one checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The property held.
    Pass,
    /// It was violated.
    Fail,
    /// The checker could not run (the reason is in the detail).
    Skipped,
}

/// One checker's result, as in the summary's `checks` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The checker's name.
    pub name: String,
    /// Verdict.
    pub status: Status,
    /// How many violations (lost writes, diverged replicas, ...).
    pub count: u64,
    /// What happened, in plain language.
    pub detail: String,
}

/// What the checkers were given.
pub struct Evidence<'a> {
    /// The client history.
    pub history: &'a History,
    /// The trace's notes.
    pub notes: &'a [FactNote],
    /// Final server states; server `i` is process `i` in the notes.
    pub finals: &'a [FinalState],
}

/// Replication groups: for each server, the index of the server at the root of the `replicaof`
/// chain it started in (from each server's first [`Fact::Started`]). Servers the trace does not
/// describe form one group with server 0.
pub fn groups(notes: &[FactNote], finals: &[FinalState]) -> Vec<usize> {
    let n = finals.len();
    let index = |name: &str| finals.iter().position(|f| f.name == name);
    let mut parent: Vec<Option<usize>> = vec![None; n];
    let mut seen = vec![false; n];
    for note in notes {
        let Fact::Started { server, role, .. } = &note.fact else {
            continue;
        };
        let Some(p) = index(server) else {
            continue;
        };
        if seen[p] {
            continue;
        }
        seen[p] = true;
        if let StartRole::Replica { primary } = role {
            parent[p] = index(primary);
        }
    }
    if !seen.iter().any(|s| *s) {
        return vec![0; n];
    }
    (0..n)
        .map(|mut i| {
            for _ in 0..n {
                match parent[i] {
                    Some(p) if p != i => i = p,
                    _ => break,
                }
            }
            i
        })
        .collect()
}

/// Replication groups as the end of the run leaves them: each server with the root of the
/// `replicaof` chain it follows then. In a Redis Cluster a replica can migrate to another shard,
/// so the groups it started in say nothing about who it should equal; two primaries serving one
/// slot are `slot-owners-at-end`'s concern.
pub fn final_groups(finals: &[FinalState]) -> Vec<usize> {
    let index = |name: &str| finals.iter().position(|f| f.name == name);
    (0..finals.len())
        .map(|mut i| {
            for _ in 0..finals.len() {
                match finals[i].master.as_deref().and_then(index) {
                    Some(p) if p != i => i = p,
                    _ => break,
                }
            }
            i
        })
        .collect()
}

/// Whether the final states come from a Redis Cluster (they carry slot maps).
pub fn is_cluster(finals: &[FinalState]) -> bool {
    finals.iter().any(|f| f.slot_owners.is_some())
}

/// The authoritative primary at the end: the one running primary, or (after a split brain that
/// did not heal) the running primary most replicas follow.
pub fn final_primary(finals: &[FinalState]) -> Option<&FinalState> {
    final_primary_in(finals, &vec![0; finals.len()], 0)
}

/// [`final_primary`] among the servers of replication group `group`.
pub fn final_primary_in<'a>(
    finals: &'a [FinalState],
    groups: &[usize],
    group: usize,
) -> Option<&'a FinalState> {
    let masters: Vec<&FinalState> = finals
        .iter()
        .enumerate()
        .filter(|(i, f)| f.is_master && f.up && groups[*i] == group)
        .map(|(_, f)| f)
        .collect();
    masters
        .iter()
        .max_by_key(|m| {
            let followers = finals
                .iter()
                .filter(|f| f.master.as_deref() == Some(m.name.as_str()))
                .count();
            (followers, std::cmp::Reverse(m.name.clone()))
        })
        .copied()
}

/// `converged` for one replication group.
pub fn converged(finals: &[FinalState]) -> CheckResult {
    converged_in_groups(finals, &vec![0; finals.len()])
}

/// `converged`: every running replica is in sync with its primary and holds the same data, and
/// only one primary is left in each replication group.
pub fn converged_in_groups(finals: &[FinalState], groups: &[usize]) -> CheckResult {
    let mut problems = Vec::new();
    let mut roots: Vec<usize> = groups.to_vec();
    roots.sort();
    roots.dedup();
    for g in roots {
        let masters: Vec<&str> = finals
            .iter()
            .enumerate()
            .filter(|(i, f)| f.is_master && f.up && groups[*i] == g)
            .map(|(_, f)| f.name.as_str())
            .collect();
        if masters.len() > 1 {
            problems.push(format!(
                "{} primaries at the end in {}'s group: {}",
                masters.len(),
                finals[g].name,
                masters.join(", ")
            ));
        }
    }
    for f in finals.iter().filter(|f| f.up && !f.is_master) {
        let Some(m) = f
            .master
            .as_ref()
            .and_then(|m| finals.iter().find(|x| &x.name == m))
        else {
            continue;
        };
        if !f.link_up {
            problems.push(format!(
                "{} is not in sync with {} (link down)",
                f.name, m.name
            ));
            continue;
        }
        let diff: Vec<&String> = differing_keys(&f.data, &m.data)
            .chain(differing_keys(&f.sets, &m.sets))
            .collect();
        if !diff.is_empty() {
            let sample: Vec<&str> = diff.iter().take(5).map(|s| s.as_str()).collect();
            problems.push(format!(
                "{} differs from {} on {} keys (e.g. {})",
                f.name,
                m.name,
                diff.len(),
                sample.join(", ")
            ));
        }
    }
    let replicas = finals.iter().filter(|f| f.up && !f.is_master).count();
    CheckResult {
        name: "converged".into(),
        status: if problems.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        count: problems.len() as u64,
        detail: if problems.is_empty() {
            format!("all {replicas} running replicas hold exactly their primary's data")
        } else {
            problems.join("; ")
        },
    }
}

/// The keys whose values differ between two maps (present in one only, or with other values).
fn differing_keys<'a, V: PartialEq>(
    a: &'a BTreeMap<String, V>,
    b: &'a BTreeMap<String, V>,
) -> impl Iterator<Item = &'a String> {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k)
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
}

/// What all the checkers found.
pub struct Findings {
    /// One result per checker.
    pub checks: Vec<CheckResult>,
    /// Every lost acknowledged write.
    pub lost: Vec<LostWrite>,
    /// Every acknowledged set member missing from the final reads.
    pub lost_adds: Vec<LostAdd>,
    /// The linearizability counterexample (a timeline), if any.
    pub counterexample: Option<String>,
}

impl Findings {
    /// Whether the set check judged any add (set workloads with a successful final read).
    pub fn judged_adds(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c.name == set_adds::NAME && c.status != Status::Skipped)
    }
}

/// Runs every checker, over one pairing of the history's operations.
pub fn run_all(e: &Evidence<'_>) -> Findings {
    run_all_observed(e, &mut |_| {})
}

/// [`run_all`] over a pairing of `e`'s history made already (the summary's statistics read
/// the same one).
pub fn run_all_on(e: &Evidence<'_>, ops: &Operations<'_>) -> Findings {
    run_all_steps(e, ops, &mut |_| {})
}

/// The steps of [`run_all`], in order, as [`run_all_observed`] names them when each ends.
pub const STEPS: [&str; 6] = [
    "pairing",
    "acked-writes-durable, stale-reads, read-your-writes",
    "acked-adds-durable",
    "converged, single-primary",
    "slots",
    "linearizable",
];

/// [`run_all`], telling `step_done` the name of each of its [`STEPS`] as it ends (a step with
/// nothing to judge ends at once), so a benchmark can time them. The findings do not depend on
/// the observer.
pub fn run_all_observed(e: &Evidence<'_>, step_done: &mut dyn FnMut(&'static str)) -> Findings {
    let ops = Operations::of(e.history);
    step_done(STEPS[0]);
    run_all_steps(e, &ops, step_done)
}

/// Every checker after the pairing, telling `step_done` as each step ends.
fn run_all_steps(
    e: &Evidence<'_>,
    ops: &Operations<'_>,
    step_done: &mut dyn FnMut(&'static str),
) -> Findings {
    // The checks that judge one key at a time, over one gathering of each key's operations.
    let mut durable = durability::Durability::new(e);
    let mut staleness = staleness::Staleness::default();
    ops.each_key(|key, key_ops| {
        if let Ok(d) = &mut durable {
            d.key(key, key_ops);
        }
        staleness.key(key, key_ops);
    });
    let (durable, lost) = match durable {
        Ok(d) => d.verdict(),
        Err(skipped) => skipped,
    };
    step_done(STEPS[1]);
    let groups = if is_cluster(e.finals) {
        final_groups(e.finals)
    } else {
        groups(e.notes, e.finals)
    };
    let mut out = vec![durable];
    // The set check only where a workload added to sets (as slots only in Redis Cluster runs):
    // it pairs the whole history, which a run without sets need not pay for.
    let mut lost_adds = Vec::new();
    if set_adds::any_adds(e.history) {
        let (adds, lost) = set_adds::acked_adds_durable_in(ops);
        out.push(adds);
        lost_adds = lost;
    }
    step_done(STEPS[2]);
    out.extend([converged_in_groups(e.finals, &groups), single_primary(e)]);
    step_done(STEPS[3]);
    out.extend(staleness.verdicts());
    out.extend(slots::single_slot_owner(e));
    out.extend(slots::slot_owners_at_end(e.finals));
    step_done(STEPS[4]);
    let lin = linearizable::check_operations(ops);
    out.push(lin.result);
    step_done(STEPS[5]);
    Findings {
        checks: out,
        lost,
        lost_adds,
        counterexample: lin.counterexample,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, master: Option<&str>, data: &[(&str, &str)]) -> FinalState {
        FinalState {
            name: name.into(),
            is_master: master.is_none(),
            master: master.map(str::to_string),
            up: true,
            link_up: true,
            position: None,
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sets: BTreeMap::new(),
            slot_owners: None,
        }
    }

    #[test]
    fn converged_catches_a_diverged_replica() {
        let ok = [
            server("p", None, &[("k", "1")]),
            server("r", Some("p"), &[("k", "1")]),
        ];
        assert_eq!(converged(&ok).status, Status::Pass);
        let bad = [
            server("p", None, &[("k", "1")]),
            server("r", Some("p"), &[("k", "2")]),
        ];
        let r = converged(&bad);
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.detail.contains("r differs from p on 1 keys"),
            "{}",
            r.detail
        );
        let missing = [
            server("p", None, &[("k", "1")]),
            server("r", Some("p"), &[]),
        ];
        assert_eq!(converged(&missing).status, Status::Fail);
        let two = [server("p", None, &[]), server("q", None, &[])];
        assert_eq!(converged(&two).status, Status::Fail);
        // Two primaries heading two replication groups are fine.
        assert_eq!(converged_in_groups(&two, &[0, 1]).status, Status::Pass);
    }

    #[test]
    fn final_primary_prefers_the_one_with_followers() {
        let f = [
            server("a", None, &[]),
            server("b", None, &[]),
            server("r", Some("b"), &[]),
        ];
        assert_eq!(final_primary(&f).unwrap().name, "b");
    }
}

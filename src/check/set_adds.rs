//! `acked-adds-durable`: Jepsen's set workload. Clients add unique members to sets (`SADD`) and,
//! once every fault has healed, every client reads every set (`SMEMBERS`, the final reads). A
//! member whose `SADD` was acknowledged and that no final read returns is lost. Unlike a register
//! overwritten later, a set member stays, so this loss needs no model of the servers: the history
//! alone decides it, whatever happened inside.
//!
//! The check also fails when a final read returns a member nobody tried to add, or when the final
//! reads of one set disagree (the servers had not settled on one state). Members of adds that
//! failed or timed out may or may not be there; those found are counted as recovered, not lost.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::operations::Operations;
use super::{CheckResult, Status};
use crate::history::{EventType, History, Operation};

/// The checker's name.
pub const NAME: &str = "acked-adds-durable";

/// An acknowledged `SADD` whose member no final read returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostAdd {
    /// The client process that added it.
    pub process: u32,
    /// The set.
    pub key: String,
    /// The member.
    pub member: String,
    /// When the client saw the acknowledgement (ms).
    pub ack_ms: u64,
    /// The server that acknowledged it.
    pub server: String,
}

/// What the final reads of one set showed.
#[derive(Default)]
struct SetVerdict<'h> {
    acked: Vec<Operation<'h>>,
    attempted: BTreeSet<&'h str>,
    reads: Vec<BTreeSet<&'h str>>,
}

/// Whether any client tried to add to a set.
pub fn any_adds(history: &History) -> bool {
    history.events.iter().any(|e| e.f() == "sadd")
}

/// Runs the checker and returns the lost adds as well.
pub fn acked_adds_durable(history: &History) -> (CheckResult, Vec<LostAdd>) {
    acked_adds_durable_in(&Operations::of(history))
}

/// [`acked_adds_durable`] over the history's operations, already paired.
pub fn acked_adds_durable_in(ops: &Operations<'_>) -> (CheckResult, Vec<LostAdd>) {
    let mut sets: BTreeMap<&str, SetVerdict<'_>> = BTreeMap::new();
    for op in ops.all() {
        match op.f {
            "sadd" => {
                let v = sets.entry(op.key).or_default();
                if let Some(m) = op.input.as_str() {
                    v.attempted.insert(m);
                }
                if op.outcome == EventType::Ok {
                    v.acked.push(op);
                }
            }
            "smembers" if op.outcome == EventType::Ok => {
                let members = op
                    .output
                    .and_then(crate::history::Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                sets.entry(op.key).or_default().reads.push(members);
            }
            _ => {}
        }
    }
    let skipped = |detail: String| CheckResult {
        name: NAME.into(),
        status: Status::Skipped,
        count: 0,
        detail,
    };
    if sets.values().all(|v| v.attempted.is_empty()) {
        return (skipped("no workload added to a set".into()), Vec::new());
    }
    let mut lost = Vec::new();
    let (mut acked, mut recovered, mut unread) = (0u64, 0u64, 0u64);
    let mut problems = Vec::new();
    for (key, v) in &sets {
        if v.reads.is_empty() {
            unread += 1;
            continue;
        }
        let seen: BTreeSet<&str> = v.reads.iter().flatten().copied().collect();
        if v.reads.iter().any(|r| r.len() != seen.len()) {
            problems.push(format!(
                "the final reads of {key} disagree ({} reads, from {} to {} members)",
                v.reads.len(),
                v.reads.iter().map(BTreeSet::len).min().unwrap_or(0),
                seen.len()
            ));
        }
        let strangers: Vec<&str> = seen.difference(&v.attempted).copied().collect();
        if let Some(first) = strangers.first() {
            problems.push(format!(
                "{} members of {key} were never added (e.g. {first})",
                strangers.len()
            ));
        }
        let acked_members: BTreeSet<&str> =
            v.acked.iter().filter_map(|o| o.input.as_str()).collect();
        recovered += seen.difference(&acked_members).count() as u64;
        for op in &v.acked {
            acked += 1;
            let member = op.input.as_str().unwrap_or_default();
            if !seen.contains(member) {
                lost.push(LostAdd {
                    process: op.process,
                    key: (*key).to_string(),
                    member: member.to_string(),
                    ack_ms: op.complete_ns / 1_000_000,
                    server: op.server.unwrap_or_default().to_string(),
                });
            }
        }
    }
    if unread as usize == sets.len() {
        return (
            skipped(format!(
                "no final read of any of the {unread} sets succeeded, so no add can be judged"
            )),
            lost,
        );
    }
    lost.sort_by(|a, b| (a.ack_ms, &a.key, &a.member).cmp(&(b.ack_ms, &b.key, &b.member)));
    let mut detail = if lost.is_empty() {
        format!("all {acked} acknowledged adds are in the final reads")
    } else {
        let first = &lost[0];
        format!(
            "{} of {acked} acknowledged adds are in no final read (first: {} to {} at {} ms, acknowledged by {})",
            lost.len(),
            first.member,
            first.key,
            first.ack_ms,
            first.server
        )
    };
    if recovered > 0 {
        detail.push_str(&format!(
            "; {recovered} adds that were not acknowledged took effect anyway"
        ));
    }
    if unread > 0 {
        detail.push_str(&format!(
            "; {unread} sets had no successful final read and were not judged"
        ));
    }
    for p in &problems {
        detail.push_str("; ");
        detail.push_str(p);
    }
    let status = if lost.is_empty() && problems.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let result = CheckResult {
        name: NAME.into(),
        status,
        count: lost.len() as u64,
        detail,
    };
    (result, lost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;

    fn ev(process: u32, kind: EventType, f: &str, t: u64, value: Value) -> HistoryEvent {
        HistoryEvent::new(process, kind, f, "s0".into(), value.into(), t * 1_000_000)
            .with_server((kind != EventType::Invoke).then(|| "p1".into()))
    }

    fn add(p: u32, t: u64, member: &str, outcome: EventType) -> Vec<HistoryEvent> {
        vec![
            ev(p, EventType::Invoke, "sadd", t, member.into()),
            ev(p, outcome, "sadd", t + 1, member.into()),
        ]
    }

    fn read(p: u32, t: u64, members: &[&str]) -> Vec<HistoryEvent> {
        vec![
            ev(p, EventType::Invoke, "smembers", t, Value::Null),
            ev(p, EventType::Ok, "smembers", t + 1, members.to_vec().into()),
        ]
    }

    fn check(parts: Vec<Vec<HistoryEvent>>) -> (CheckResult, Vec<LostAdd>) {
        acked_adds_durable(&History::merge(parts.concat()))
    }

    #[test]
    fn an_acknowledged_member_missing_from_the_final_reads_is_lost() {
        let (ok, lost) = check(vec![
            add(1, 10, "a", EventType::Ok),
            add(2, 20, "b", EventType::Ok),
            read(1, 100, &["a", "b"]),
            read(2, 100, &["a", "b"]),
        ]);
        assert_eq!((ok.status, ok.count), (Status::Pass, 0), "{}", ok.detail);
        assert!(lost.is_empty());
        let (bad, lost) = check(vec![
            add(1, 10, "a", EventType::Ok),
            add(2, 20, "b", EventType::Ok),
            read(1, 100, &["a"]),
            read(2, 100, &["a"]),
        ]);
        assert_eq!((bad.status, bad.count), (Status::Fail, 1), "{}", bad.detail);
        assert_eq!((lost[0].member.as_str(), lost[0].process), ("b", 2));
        assert_eq!(lost[0].ack_ms, 21);
    }

    #[test]
    fn unacknowledged_adds_may_survive_but_strangers_and_disagreement_fail() {
        let (r, _) = check(vec![
            add(1, 10, "a", EventType::Info),
            add(1, 20, "b", EventType::Fail),
            read(1, 100, &["a"]),
        ]);
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        assert!(
            r.detail.contains("1 adds that were not acknowledged"),
            "{}",
            r.detail
        );
        let (r, _) = check(vec![
            add(1, 10, "a", EventType::Ok),
            read(1, 100, &["a", "z"]),
        ]);
        assert_eq!((r.status, r.count), (Status::Fail, 0));
        assert!(r.detail.contains("never added (e.g. z)"), "{}", r.detail);
        let (r, lost) = check(vec![
            add(1, 10, "a", EventType::Ok),
            read(1, 100, &["a"]),
            read(2, 100, &[]),
        ]);
        assert_eq!(r.status, Status::Fail);
        assert!(lost.is_empty(), "seen by one final read: not lost");
        assert!(
            r.detail.contains("final reads of s0 disagree"),
            "{}",
            r.detail
        );
    }

    #[test]
    fn without_adds_or_final_reads_nothing_is_judged() {
        let (r, _) = check(vec![read(1, 100, &[])]);
        assert_eq!(r.status, Status::Skipped);
        let (r, _) = check(vec![add(1, 10, "a", EventType::Ok)]);
        assert_eq!(r.status, Status::Skipped);
        assert!(r.detail.contains("no final read"), "{}", r.detail);
    }
}

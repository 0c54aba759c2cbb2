//! `stale-reads` and `read-your-writes`: reads (typically from replicas) that returned a value
//! older than a write that had already been acknowledged when the read began — by anyone, or by
//! the reading client itself.
//!
//! A read `r` of value `v` is stale when some acknowledged write `w` completed before `r` was
//! invoked and `v`'s own write completed before `w` was invoked (so `v` was certainly
//! overwritten). Writes whose outcome is unknown never make a read stale, and never count as
//! having completed. Both checks only look at register keys (SET / GET / DEL).

use super::operations::Operations;
use super::{CheckResult, Status};
use crate::history::{EventType, History, Operation};
use crate::sim::FastHash;

/// Acknowledged writes sorted by completion, with the running maximum of their invoke times.
struct Acked {
    by_complete: Vec<(u64, u64)>,
}

impl Acked {
    fn new<'o, 'a: 'o>(writes: impl Iterator<Item = &'o Operation<'a>>) -> Self {
        let mut by_complete: Vec<(u64, u64)> = writes
            .filter(|w| w.outcome == EventType::Ok)
            .map(|w| (w.complete_ns, w.invoke_ns))
            .collect();
        by_complete.sort_unstable();
        let mut max_invoke = 0;
        for e in &mut by_complete {
            max_invoke = max_invoke.max(e.1);
            e.1 = max_invoke;
        }
        Acked { by_complete }
    }

    /// The latest invoke time among writes acknowledged before `t` (0 when none).
    fn latest_invoke_before(&self, t: u64) -> u64 {
        let n = self.by_complete.partition_point(|(c, _)| *c < t);
        if n == 0 { 0 } else { self.by_complete[n - 1].1 }
    }
}

/// Each value written to a key with when its write completed: looked up by the reads, never
/// walked.
#[allow(clippy::disallowed_types)]
type ValueDone<'a> = std::collections::HashMap<&'a str, u64, FastHash>;

/// Per key: the acknowledged writes, and the completion time of the write of each value (of
/// the last write of it, when a value was written twice).
struct KeyWrites<'a> {
    acked: Acked,
    /// Each value written, looked up by the reads (never walked).
    value_done: ValueDone<'a>,
    nil_done: u64,
}

impl<'a> KeyWrites<'a> {
    fn new(writes: &[&Operation<'a>]) -> Self {
        let acked = Acked::new(writes.iter().copied());
        let done = |w: &Operation<'_>| {
            if w.outcome == EventType::Ok {
                w.complete_ns
            } else {
                u64::MAX
            }
        };
        // In history order: a value written twice keeps its last write.
        let mut value_done = ValueDone::with_capacity_and_hasher(writes.len(), FastHash);
        for w in writes.iter().filter(|w| w.f == "set") {
            if let Some(v) = w.input.as_str() {
                value_done.insert(v, done(w));
            }
        }
        let nil_done = writes
            .iter()
            .filter(|w| w.f == "del")
            .map(|w| done(w))
            .max()
            .unwrap_or(0);
        KeyWrites {
            acked,
            value_done,
            nil_done,
        }
    }

    /// When the write of `value` completed (`u64::MAX`: it never did), if anyone wrote it.
    fn value_done(&self, value: &str) -> Option<u64> {
        self.value_done.get(value).copied()
    }

    /// How long before the read the overwriting write was acknowledged, if the read (of a
    /// value whose write completed at `done`) is stale.
    fn stale(&self, read: &Operation<'_>, done: u64) -> Option<u64> {
        let latest = self.acked.latest_invoke_before(read.invoke_ns);
        (latest > done && done != u64::MAX).then(|| read.invoke_ns.saturating_sub(latest))
    }
}

/// One key's register operations and its writes.
struct RegisterKey<'k, 'a> {
    key: &'a str,
    /// Borrowed from the key's gathered operations, not copied.
    ops: Vec<&'k Operation<'a>>,
    writes: KeyWrites<'a>,
    /// For each operation that is a successful read: when the write of the value it read
    /// completed (`None`: nobody wrote that value).
    read_done: Vec<Option<u64>>,
}

/// Whether `op` is a read both checks judge.
fn judged_read(op: &Operation<'_>) -> bool {
    op.f == "get" && op.outcome == EventType::Ok
}

impl<'k, 'a> RegisterKey<'k, 'a> {
    /// The register operations (SET, GET, DEL) of one key that did not fail, and its writes:
    /// what both checks read, gathered once per key; `None` when the key has none.
    fn of(key: &'a str, key_ops: &'k [Operation<'a>]) -> Option<Self> {
        let ops: Vec<&'k Operation<'a>> = key_ops
            .iter()
            .filter(|op| matches!(op.f, "set" | "get" | "del") && op.outcome != EventType::Fail)
            .collect();
        if ops.is_empty() {
            return None;
        }
        let writes: Vec<&Operation<'a>> = ops
            .iter()
            .copied()
            .filter(|o| !crate::history::is_read(o.f))
            .collect();
        let writes = KeyWrites::new(&writes);
        let read_done = ops
            .iter()
            .map(|o| {
                if !judged_read(o) {
                    return None;
                }
                match o.output.and_then(|v| v.as_str()) {
                    Some(v) => writes.value_done(v),
                    None => Some(writes.nil_done),
                }
            })
            .collect();
        Some(RegisterKey {
            key,
            ops,
            writes,
            read_done,
        })
    }
}

/// One check's findings folded as the keys go by: reads judged, stale reads, and the first
/// one described (the summary names only the first).
#[derive(Default)]
struct Found {
    reads: usize,
    stale: u64,
    first: Option<String>,
}

impl Found {
    fn stale(&mut self, describe: impl FnOnce() -> String) {
        self.stale += 1;
        if self.first.is_none() {
            self.first = Some(describe());
        }
    }

    fn verdict(self, name: &str, what: &str) -> CheckResult {
        let reads = self.reads;
        CheckResult {
            name: name.into(),
            status: if self.stale == 0 {
                Status::Pass
            } else {
                Status::Fail
            },
            count: self.stale,
            detail: match self.first {
                None => format!("none of {reads} reads returned {what}"),
                Some(first) => format!(
                    "{} of {reads} reads returned {what}; first: {first}",
                    self.stale
                ),
            },
        }
    }
}

const STALE_READS: (&str, &str) = ("stale-reads", "a value older than an acknowledged write");
const READ_YOUR_WRITES: (&str, &str) = (
    "read-your-writes",
    "an older value than the client's own write",
);

/// Reads that missed a write acknowledged (to anyone) before they began.
pub fn stale_reads(history: &History) -> CheckResult {
    let [stale, _] = staleness_in(&Operations::of(history));
    stale
}

/// Reads that missed the reading client's own acknowledged write.
pub fn read_your_writes(history: &History) -> CheckResult {
    let [_, own] = staleness_in(&Operations::of(history));
    own
}

/// `stale-reads` and `read-your-writes` over the shared operations, in one pass over the keys
/// in key order: each key's register operations are gathered once for both checks and dropped
/// before the next key's.
pub fn staleness_in(ops: &Operations<'_>) -> [CheckResult; 2] {
    let mut s = Staleness::default();
    ops.each_key(|key, key_ops| s.key(key, key_ops));
    s.verdicts()
}

/// Both checks folded over the keys, one key at a time ([`Operations::each_key`]).
#[derive(Default)]
pub struct Staleness {
    stale: Found,
    own: Found,
}

impl Staleness {
    /// Judges one key's operations (keys in key order).
    pub fn key<'a>(&mut self, key: &'a str, key_ops: &[Operation<'a>]) {
        if let Some(k) = RegisterKey::of(key, key_ops) {
            stale_reads_of(&k, &mut self.stale);
            read_your_writes_of(&k, &mut self.own);
        }
    }

    /// `stale-reads`, then `read-your-writes`.
    pub fn verdicts(self) -> [CheckResult; 2] {
        [
            self.stale.verdict(STALE_READS.0, STALE_READS.1),
            self.own.verdict(READ_YOUR_WRITES.0, READ_YOUR_WRITES.1),
        ]
    }
}

/// The reads of one key that missed a write acknowledged before they began.
fn stale_reads_of(k: &RegisterKey<'_, '_>, found: &mut Found) {
    for (r, done) in k.ops.iter().zip(&k.read_done) {
        if !judged_read(r) {
            continue;
        }
        found.reads += 1;
        if let Some(age) = done.and_then(|done| k.writes.stale(r, done)) {
            found.stale(|| {
                format!(
                    "GET {} by process {} at {} ms from {} missed a write invoked {} ms before it and acknowledged before it began",
                    k.key,
                    r.process,
                    r.invoke_ns / 1_000_000,
                    r.server.unwrap_or("?"),
                    age / 1_000_000
                )
            });
        }
    }
}

/// The reads of one key that missed the reading client's own acknowledged write.
fn read_your_writes_of(k: &RegisterKey<'_, '_>, found: &mut Found) {
    // Each client's operations on the key, clients in process order.
    let mut order: Vec<usize> = (0..k.ops.len()).collect();
    order.sort_by_key(|&i| k.ops[i].process);
    for mine in order.chunk_by(|&a, &b| k.ops[a].process == k.ops[b].process) {
        let own = Acked::new(mine.iter().map(|&i| k.ops[i]).filter(|o| o.f != "get"));
        for &i in mine {
            let r = k.ops[i];
            if !judged_read(r) {
                continue;
            }
            found.reads += 1;
            let latest_own = own.latest_invoke_before(r.invoke_ns);
            if let Some(d) = k.read_done[i]
                && d != u64::MAX
                && latest_own > d
            {
                found.stale(|| {
                    format!(
                        "GET {} by process {} at {} ms from {} did not see its own earlier write",
                        k.key,
                        r.process,
                        r.invoke_ns / 1_000_000,
                        r.server.unwrap_or("?")
                    )
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;
    use serde_json::Value;

    fn ev(p: u32, kind: EventType, f: &str, v: Value, t: u64) -> HistoryEvent {
        HistoryEvent::new(p, kind, f, "k".into(), v.into(), t).with_server(Some("r1".into()))
    }

    fn history(reader: u32, read_value: Value) -> History {
        History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(1, EventType::Ok, "set", "a".into(), 2),
            ev(1, EventType::Invoke, "set", "b".into(), 3),
            ev(1, EventType::Ok, "set", "b".into(), 4),
            ev(reader, EventType::Invoke, "get", Value::Null, 10),
            ev(reader, EventType::Ok, "get", read_value, 11),
        ])
    }

    #[test]
    fn an_overwritten_value_is_stale() {
        assert_eq!(stale_reads(&history(2, "a".into())).status, Status::Fail);
        assert_eq!(stale_reads(&history(2, Value::Null)).status, Status::Fail);
        assert_eq!(stale_reads(&history(2, "b".into())).status, Status::Pass);
    }

    #[test]
    fn stale_reads_are_counted_over_every_key_and_the_first_in_key_order_named() {
        // Each key with its own clients (process + 10 * n), so their operations do not overlap.
        let on = |key: &str, n: u32, h: History| -> Vec<HistoryEvent> {
            let key: crate::history::Text = key.into();
            h.events
                .into_iter()
                .map(|mut e| {
                    e.key = key.clone();
                    e.process += 10 * n;
                    e
                })
                .collect()
        };
        let mut events = on("k2", 0, history(2, "a".into()));
        events.extend(on("k1", 1, history(3, Value::Null)));
        events.extend(on("k3", 2, history(2, "b".into())));
        let [stale, own] = staleness_in(&Operations::of(&History::merge(events)));
        assert_eq!((stale.status, stale.count), (Status::Fail, 2));
        assert!(
            stale.detail.starts_with("2 of 3 reads returned")
                && stale.detail.contains("first: GET k1 by process 13"),
            "{}",
            stale.detail
        );
        assert_eq!((own.status, own.count), (Status::Pass, 0));
        assert_eq!(
            own.detail,
            "none of 3 reads returned an older value than the client's own write"
        );
    }

    #[test]
    fn read_your_writes_only_counts_own_writes() {
        assert_eq!(
            read_your_writes(&history(2, "a".into())).status,
            Status::Pass
        );
        let r = read_your_writes(&history(1, "a".into()));
        assert_eq!(r.status, Status::Fail);
        assert!(r.detail.contains("its own earlier write"), "{}", r.detail);
    }
}

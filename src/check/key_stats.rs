//! Statistics read from a history alone (no verdict): keys written but never read, the oldest
//! write no read came after, the hottest keys, and the latency clients observed per workload and
//! command.

use std::collections::BTreeMap;

use serde::Serialize;

use super::figures::ProcessTable;
use super::operations::{Operations, Timing};
use crate::history::{EventType, Operation, is_read};

/// How many hottest keys the statistics name.
pub const HOTTEST_KEYS: usize = 5;

/// A key and a time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyAt {
    /// The key.
    pub key: String,
    /// Simulated (or, for a real run, wall-clock) milliseconds since the start.
    pub time_ms: u64,
}

/// A key and how many operations clients invoked on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HotKey {
    /// The key.
    pub key: String,
    /// Operations invoked on it (any outcome).
    pub ops: u64,
}

/// What the history says about keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeyStats {
    /// Keys with at least one acknowledged write.
    pub written: u64,
    /// Keys acknowledged-written that no successful read was invoked on after their first
    /// acknowledged write completed.
    pub written_never_read: u64,
    /// Those keys, in key order (`--out` and the report list them; the summary counts them).
    #[serde(skip)]
    pub never_read_keys: Vec<String>,
    /// The oldest acknowledged write no successful read of its key was invoked after: its key
    /// and when it completed.
    pub oldest_unread_write: Option<KeyAt>,
    /// The [`HOTTEST_KEYS`] keys with the most operations (ties in key order).
    pub hottest: Vec<HotKey>,
}

/// A read that returned (`ok`): it observed its key.
fn read_ok(op: &Operation<'_>) -> bool {
    is_read(op.f) && op.outcome == EventType::Ok
}

/// A write the server acknowledged.
fn write_ok(op: &Operation<'_>) -> bool {
    !is_read(op.f) && op.outcome == EventType::Ok
}

/// One key's life: its operations counted, its last successful read, and its acknowledged
/// writes against that read (a write counts as read when a read was invoked after it
/// completed).
fn life(key_ops: &[Operation<'_>]) -> KeyLife {
    let mut k = KeyLife::default();
    for op in key_ops {
        k.ops += 1;
        if read_ok(op) {
            k.last_read_ns = Some(op.invoke_ns);
        }
    }
    for op in key_ops.iter().filter(|o| write_ok(o)) {
        k.first_write_ns = Some(
            k.first_write_ns
                .map_or(op.complete_ns, |f| f.min(op.complete_ns)),
        );
        let read_after = k.last_read_ns.is_some_and(|r| r >= op.complete_ns);
        if !read_after {
            k.unread_since_ns = Some(
                k.unread_since_ns
                    .map_or(op.complete_ns, |u| u.min(op.complete_ns)),
            );
        }
    }
    k
}

/// Per key: (first acknowledged write's completion, last successful read's invoke, the
/// completion of the first acknowledged write after that read, operations).
#[derive(Default)]
struct KeyLife {
    first_write_ns: Option<u64>,
    last_read_ns: Option<u64>,
    unread_since_ns: Option<u64>,
    ops: u64,
}

/// The key statistics of a history's operations, read one key at a time
/// ([`Operations::each_key`]).
pub fn key_stats(ops: &Operations<'_>) -> KeyStats {
    // One key at a time, keys in key order, each key's operations in invoke order.
    let mut keys: Vec<(&str, KeyLife)> = Vec::new();
    ops.each_key(|key, key_ops| keys.push((key, life(key_ops))));
    let mut stats = KeyStats::default();
    for (key, k) in &keys {
        let Some(first) = k.first_write_ns else {
            continue;
        };
        stats.written += 1;
        if k.last_read_ns.is_none_or(|r| r < first) {
            stats.never_read_keys.push(key.to_string());
        }
        if let Some(at) = k.unread_since_ns
            && stats
                .oldest_unread_write
                .as_ref()
                .is_none_or(|o| at / 1_000_000 < o.time_ms)
        {
            stats.oldest_unread_write = Some(KeyAt {
                key: key.to_string(),
                time_ms: at / 1_000_000,
            });
        }
    }
    stats.written_never_read = stats.never_read_keys.len() as u64;
    let mut hot: Vec<(&str, u64)> = keys.iter().map(|(k, l)| (*k, l.ops)).collect();
    hot.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    stats.hottest = hot
        .into_iter()
        .take(HOTTEST_KEYS)
        .map(|(key, ops)| HotKey {
            key: key.to_string(),
            ops,
        })
        .collect();
    stats
}

/// Latency clients observed for one command: invoke to `ok`, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClientLatency {
    /// Successful operations measured.
    pub count: u64,
    /// Nearest-rank percentiles.
    pub p50: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    #[serde(rename = "p99.9")]
    pub p999: u64,
}

/// The nearest-rank percentile `per_mille`/1000 of sorted values.
fn nearest_rank<T: Copy + Into<u64>>(sorted: &[T], per_mille: u64) -> u64 {
    let rank = (per_mille * sorted.len() as u64).div_ceil(1000).max(1) as usize;
    sorted[rank.min(sorted.len()) - 1].into()
}

/// Client-observed latency of successful operations per workload and command (a write a
/// workload follows with WAIT includes the WAIT).
///
/// Every sample is held until its percentiles are taken, so a long run's samples are the
/// largest thing this makes: a first pass counts each workload and command's samples and finds
/// the longest, so the second holds them in vectors of exactly that size, of 32-bit
/// microseconds when the longest fits (71 minutes), else 64-bit.
pub fn client_latency<'a>(
    ops: &Operations<'a>,
    processes: &ProcessTable,
) -> BTreeMap<String, BTreeMap<String, ClientLatency>> {
    let micros = |op: &Timing<'_>| op.complete_ns.saturating_sub(op.invoke_ns) / 1_000;
    // Each (workload, command)'s place in `groups`, found per process by its command (a
    // handful of names: a short list).
    let mut places: BTreeMap<(&str, &'a str), usize> = BTreeMap::new();
    let mut by_process: Vec<Vec<(&'a str, usize)>> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut longest = 0;
    let mut place = |by_process: &mut Vec<Vec<(&'a str, usize)>>, op: &Timing<'a>| {
        let p = op.process as usize;
        if by_process.len() <= p {
            by_process.resize_with(p + 1, Vec::new);
        }
        // Command names are mostly the same static strings: their addresses first.
        let same = |f: &str| std::ptr::eq(f, op.f) || f == op.f;
        if let Some(&(_, at)) = by_process[p].iter().find(|(f, _)| same(f)) {
            return Some(at);
        }
        let w = processes.workload_of(op.process)?;
        let next = places.len();
        let at = *places.entry((w, op.f)).or_insert(next);
        by_process[p].push((op.f, at));
        Some(at)
    };
    let ok = || ops.timings().filter(|o| o.outcome == EventType::Ok);
    for op in ok() {
        if let Some(at) = place(&mut by_process, &op) {
            if counts.len() <= at {
                counts.resize(at + 1, 0);
            }
            counts[at] += 1;
            longest = longest.max(micros(&op));
        }
    }
    fn percentiles<T: Copy + Ord + Into<u64>>(
        ops: impl Iterator<Item = (usize, u64)>,
        counts: &[usize],
        narrow: impl Fn(u64) -> T,
    ) -> Vec<ClientLatency> {
        let mut samples: Vec<Vec<T>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
        for (at, us) in ops {
            samples[at].push(narrow(us));
        }
        samples
            .into_iter()
            .map(|mut v| {
                v.sort_unstable();
                ClientLatency {
                    count: v.len() as u64,
                    p50: nearest_rank(&v, 500),
                    p99: nearest_rank(&v, 990),
                    p999: nearest_rank(&v, 999),
                }
            })
            .collect()
    }
    let placed = ok().filter_map(|op| Some((place(&mut by_process, &op)?, micros(&op))));
    let latencies = match u32::try_from(longest) {
        Ok(_) => percentiles(placed, &counts, |us| us as u32),
        Err(_) => percentiles(placed, &counts, |us| us),
    };
    let mut out: BTreeMap<String, BTreeMap<String, ClientLatency>> = BTreeMap::new();
    for ((w, f), at) in places {
        out.entry(w.to_string())
            .or_default()
            .insert(f.to_string(), latencies[at]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, HistoryEvent, Text, Value};

    fn ev(process: u32, kind: EventType, f: &str, key: &str, ms: u64) -> HistoryEvent {
        HistoryEvent::new(
            process,
            kind,
            f,
            Text::from(key),
            Value::Null,
            ms * 1_000_000,
        )
    }

    fn op(h: &mut Vec<HistoryEvent>, f: &str, key: &str, at: u64, outcome: EventType) {
        h.push(ev(0, EventType::Invoke, f, key, at));
        h.push(ev(0, outcome, f, key, at + 1));
    }

    #[test]
    fn a_write_is_unread_until_a_read_is_invoked_after_it() {
        let mut h = Vec::new();
        op(&mut h, "set", "a", 0, EventType::Ok); // read at 10: read
        op(&mut h, "set", "b", 2, EventType::Ok); // never read
        op(&mut h, "get", "c", 4, EventType::Ok); // read before its write
        op(&mut h, "set", "c", 6, EventType::Ok);
        op(&mut h, "get", "a", 10, EventType::Ok);
        op(&mut h, "set", "a", 12, EventType::Ok); // unread after the read
        op(&mut h, "set", "d", 14, EventType::Fail); // not acknowledged
        let h = History::merge(h);
        let s = key_stats(&Operations::of(&h));
        assert_eq!(s.written, 3);
        assert_eq!(s.never_read_keys, vec!["b".to_string(), "c".to_string()]);
        let oldest = s.oldest_unread_write.expect("b is unread");
        assert_eq!((oldest.key.as_str(), oldest.time_ms), ("b", 3));
        assert_eq!(
            s.hottest[0],
            HotKey {
                key: "a".into(),
                ops: 3
            }
        );
        assert_eq!(s.hottest.len(), 4);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(nearest_rank(&v, 500), 500);
        assert_eq!(nearest_rank(&v, 999), 999);
        assert_eq!(nearest_rank(&[7u64], 990), 7);
        assert_eq!(nearest_rank(&[3u32, 9], 500), 3);
    }

    #[test]
    fn client_latency_is_per_workload_and_command_in_either_width() {
        use crate::check::figures::{Process, ProcessTable, Role};
        let client = |id: u32, workload: Option<&str>| Process {
            id,
            role: Role::Client,
            name: format!("c{id}"),
            region: "r".into(),
            workload: workload.map(str::to_string),
        };
        let table = ProcessTable::new(vec![
            client(0, Some("w")),
            client(1, Some("w")),
            client(2, None),
        ]);
        // Latencies in ms: w's sets 1, 3 (process 0) and 2 (process 1); one get; a process of
        // no workload left out; a failed set left out.
        let mut h = Vec::new();
        for (p, f, at, took, outcome) in [
            (0, "set", 0, 1, EventType::Ok),
            (1, "set", 0, 2, EventType::Ok),
            (0, "set", 10, 3, EventType::Ok),
            (1, "get", 10, 4, EventType::Ok),
            (2, "set", 10, 9, EventType::Ok),
            (1, "set", 20, 9, EventType::Fail),
        ] {
            h.push(ev(p, EventType::Invoke, f, "k", at));
            h.push(ev(p, outcome, f, "k", at + took));
        }
        let latency = |events: Vec<HistoryEvent>| {
            let history = History::merge(events);
            client_latency(&Operations::of(&history), &table)
        };
        let short = latency(h.clone());
        assert_eq!(short.len(), 1);
        let set = short["w"]["set"];
        assert_eq!((set.count, set.p50, set.p999), (3, 2_000, 3_000));
        assert_eq!((short["w"]["get"].count, short["w"]["get"].p50), (1, 4_000));
        // A latency past 32 bits of microseconds (about 71 minutes) is kept whole.
        let long_ms = 5_000_000; // 5,000 s = 5e9 us
        h.push(ev(0, EventType::Invoke, "set", "k", 30));
        h.push(ev(0, EventType::Ok, "set", "k", 30 + long_ms));
        let long = latency(h);
        let set = long["w"]["set"];
        assert_eq!((set.count, set.p50, set.p999), (4, 2_000, long_ms * 1_000));
    }
}

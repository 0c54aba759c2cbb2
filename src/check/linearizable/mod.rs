//! Linearizability checking: per-key partitioning (P-compositionality), the Wing & Gong / Lowe
//! search with memoization, `info` operations treated as possibly applied at any later time,
//! and on failure the shortest failing prefix printed as a readable timeline. Also reads
//! Porcupine's etcd and kv log formats.

mod model;
mod porcupine;
mod search;

use std::collections::BTreeMap;

pub use model::{
    CounterModel, CounterOutput, Model, RegisterInput, RegisterModel, RegisterOutput, StringInput,
    StringModel, StringOutput,
};
pub use porcupine::{LogFormat, detect_format, parse_etcd, parse_kv};
pub use search::{Op, Verdict, check};

use super::{CheckResult, Status};
use crate::history::{EventType, History, Operation};

/// Search steps allowed per key before the checker gives up with "unknown".
pub const DEFAULT_BUDGET: u64 = 50_000_000;

/// The result of checking a whole history.
#[derive(Clone, Debug)]
pub struct Report {
    /// The summary line.
    pub result: CheckResult,
    /// Keys checked.
    pub keys: usize,
    /// The first non-linearizable key and its failing window as text.
    pub counterexample: Option<String>,
}

/// A key's operations, typed for the model that fits them.
enum Partition {
    Register(Vec<Op<RegisterInput, RegisterOutput>>, Vec<String>),
    Counter(Vec<Op<(), CounterOutput>>),
    Strings(Vec<Op<StringInput, StringOutput>>),
}

fn ret_time(op: &Operation) -> u64 {
    if op.outcome == EventType::Info {
        u64::MAX
    } else {
        op.complete_ns
    }
}

fn partition(ops: &[&Operation]) -> Partition {
    let fs: Vec<&str> = ops.iter().map(|o| o.f.as_str()).collect();
    if fs.contains(&"incr") {
        return Partition::Counter(
            ops.iter()
                .map(|o| Op {
                    call: o.invoke_ns,
                    ret: ret_time(o),
                    input: (),
                    output: match (&o.outcome, o.output.as_ref().and_then(|v| v.as_i64())) {
                        (EventType::Ok, Some(v)) => CounterOutput::Value(v),
                        _ => CounterOutput::Unknown,
                    },
                })
                .collect(),
        );
    }
    if fs.contains(&"append") {
        let text = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string()
        };
        return Partition::Strings(
            ops.iter()
                .map(|o| {
                    let input = match o.f.as_str() {
                        "get" => StringInput::Get,
                        "append" => StringInput::Append(text(&Some(o.input.clone()))),
                        _ => StringInput::Put(text(&Some(o.input.clone()))),
                    };
                    let output = match (o.outcome, &input) {
                        (EventType::Ok, StringInput::Get) => StringOutput::Value(text(&o.output)),
                        (EventType::Ok, _) => StringOutput::Done,
                        _ => StringOutput::Unknown,
                    };
                    Op {
                        call: o.invoke_ns,
                        ret: ret_time(o),
                        input,
                        output,
                    }
                })
                .collect(),
        );
    }
    let mut values: Vec<String> = Vec::new();
    let mut intern = |s: &str| -> u32 {
        match values.iter().position(|v| v == s) {
            Some(i) => i as u32,
            None => {
                values.push(s.to_string());
                (values.len() - 1) as u32
            }
        }
    };
    let mut out = Vec::with_capacity(ops.len());
    for o in ops {
        let (input, output) = match o.f.as_str() {
            "get" => {
                let read = o.output.as_ref().and_then(|v| v.as_str()).map(&mut intern);
                let output = if o.outcome == EventType::Ok {
                    RegisterOutput::Value(read)
                } else {
                    RegisterOutput::Unknown
                };
                (RegisterInput::Read, output)
            }
            "del" => (
                RegisterInput::Delete,
                if o.outcome == EventType::Ok {
                    RegisterOutput::Done
                } else {
                    RegisterOutput::Unknown
                },
            ),
            _ => {
                let v = intern(o.input.as_str().unwrap_or(""));
                let output = if o.outcome == EventType::Ok {
                    RegisterOutput::Done
                } else {
                    RegisterOutput::Unknown
                };
                (RegisterInput::Write(v), output)
            }
        };
        out.push(Op {
            call: o.invoke_ns,
            ret: ret_time(o),
            input,
            output,
        });
    }
    Partition::Register(out, values)
}

/// The shortest prefix (by call order) that is already not linearizable: monotone in the
/// prefix length, so a binary search finds it.
pub fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
) -> usize
where
    M::State: Clone + Eq + std::hash::Hash,
    M::Input: Clone,
    M::Output: Clone,
{
    let mut sorted: Vec<&Op<M::Input, M::Output>> = ops.iter().collect();
    sorted.sort_by_key(|o| o.call);
    let prefix = |n: usize| -> Vec<Op<M::Input, M::Output>> {
        sorted[..n].iter().map(|o| (*o).clone()).collect()
    };
    let (mut lo, mut hi) = (1, sorted.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if check(model, &prefix(mid), budget) == Verdict::Illegal {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Renders operations as a timeline: one line per operation, a bar from call to return.
pub fn timeline<I, O>(
    ops: &[&Op<I, O>],
    width: usize,
    describe: &dyn Fn(&Op<I, O>) -> String,
) -> String {
    let start = ops.iter().map(|o| o.call).min().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| if o.ret == u64::MAX { o.call } else { o.ret })
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let scale = |t: u64| {
        ((t.min(end) - start) as u128 * (width as u128 - 1) / (end - start) as u128) as usize
    };
    let mut out = String::new();
    for o in ops {
        // At least two characters per bar, so a short operation still shows both ends.
        let a = scale(o.call).min(width - 2);
        let b = if o.ret == u64::MAX {
            width - 1
        } else {
            scale(o.ret).max(a + 1)
        };
        let mut bar = vec![' '; width];
        for c in bar.iter_mut().take(b + 1).skip(a) {
            *c = '-';
        }
        bar[a] = '[';
        bar[b] = if o.ret == u64::MAX { '?' } else { ']' };
        out.push_str(&format!(
            "  {} {}\n",
            bar.into_iter().collect::<String>(),
            describe(o)
        ));
    }
    out
}

fn explain<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>], key: &str) -> String
where
    M::State: Clone + Eq + std::hash::Hash,
    M::Input: Clone + std::fmt::Debug,
    M::Output: Clone + std::fmt::Debug,
{
    let n = shortest_failing_prefix(model, ops, DEFAULT_BUDGET);
    let mut sorted: Vec<&Op<M::Input, M::Output>> = ops.iter().collect();
    sorted.sort_by_key(|o| o.call);
    let last = sorted[n - 1];
    // Show the operations overlapping the last call of the failing prefix, plus a few before.
    let window: Vec<&Op<M::Input, M::Output>> = sorted[..n]
        .iter()
        .copied()
        .filter(|o| o.ret >= last.call.saturating_sub(1) || std::ptr::eq(*o, last))
        .collect();
    let shown = if window.len() < 8 {
        sorted[n.saturating_sub(8)..n].to_vec()
    } else {
        window
    };
    format!(
        "key {key}: the first {n} operations (by call time) already admit no linearization; the last of them cannot be ordered with these:\n{}",
        timeline(&shown, 60, &|o| model.describe(&o.input, &o.output))
    )
}

/// Checks a simkv history key by key, smallest partitions first, stopping at the first
/// non-linearizable key.
pub fn check_history(history: &History) -> Report {
    let ops = history.operations();
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in ops.iter().filter(|o| o.outcome != EventType::Fail) {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut keys: Vec<(&str, Vec<&Operation>)> = by_key.into_iter().collect();
    keys.sort_by_key(|(k, v)| (v.len(), *k));
    let total = keys.len();
    let mut unknown = Vec::new();
    for (key, key_ops) in &keys {
        let (verdict, why) = match partition(key_ops) {
            Partition::Register(p, values) => {
                let v = check(&RegisterModel, &p, DEFAULT_BUDGET);
                let why = (v == Verdict::Illegal).then(|| {
                    let text = explain(&RegisterModel, &p, key);
                    substitute_values(&text, &values)
                });
                (v, why)
            }
            Partition::Counter(p) => {
                let v = check(&CounterModel, &p, DEFAULT_BUDGET);
                (
                    v,
                    (v == Verdict::Illegal).then(|| explain(&CounterModel, &p, key)),
                )
            }
            Partition::Strings(p) => {
                let v = check(&StringModel, &p, DEFAULT_BUDGET);
                (
                    v,
                    (v == Verdict::Illegal).then(|| explain(&StringModel, &p, key)),
                )
            }
        };
        match verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown => unknown.push(key.to_string()),
            Verdict::Illegal => {
                let why = why.expect("explained");
                return Report {
                    result: CheckResult {
                        name: "linearizable".into(),
                        status: Status::Fail,
                        count: 1,
                        detail: why
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .trim_end_matches(':')
                            .replace("; the last of them cannot be ordered with these", "")
                            .to_string(),
                    },
                    keys: total,
                    counterexample: Some(why),
                };
            }
        }
    }
    let result = if unknown.is_empty() {
        CheckResult {
            name: "linearizable".into(),
            status: Status::Pass,
            count: 0,
            detail: format!("all {total} keys have a linearization"),
        }
    } else {
        CheckResult {
            name: "linearizable".into(),
            status: Status::Skipped,
            count: 0,
            detail: format!(
                "the search budget ran out on {} keys (e.g. {}); the others are linearizable",
                unknown.len(),
                unknown[0]
            ),
        }
    };
    Report {
        result,
        keys: total,
        counterexample: None,
    }
}

fn substitute_values(text: &str, values: &[String]) -> String {
    let mut out = text.to_string();
    for (i, v) in values.iter().enumerate().rev() {
        out = out
            .replace(&format!("Write({i})"), &format!("SET {v}"))
            .replace(&format!("Value(Some({i}))"), &format!("read {v}"));
    }
    out.replace("Value(None)", "read nil")
        .replace("Read", "GET")
        .replace("Done", "OK")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;
    use serde_json::Value;

    fn ev(p: u32, kind: EventType, f: &str, v: Value, t: u64) -> HistoryEvent {
        HistoryEvent {
            process: p,
            kind,
            f: f.into(),
            key: "k".into(),
            value: v,
            time_ns: t,
            server: None,
            error: None,
        }
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_caught() {
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(1, EventType::Ok, "set", "a".into(), 2),
            ev(2, EventType::Invoke, "get", Value::Null, 3),
            ev(2, EventType::Ok, "get", Value::Null, 4),
        ]);
        let r = check_history(&h);
        assert_eq!(r.result.status, Status::Fail);
        let why = r.counterexample.unwrap();
        assert!(why.contains("first 2 operations"), "{why}");
        assert!(why.contains("SET a"), "{why}");
    }

    #[test]
    fn indeterminate_write_may_have_happened() {
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(1, EventType::Info, "set", Value::Null, 2),
            ev(2, EventType::Invoke, "get", Value::Null, 10),
            ev(2, EventType::Ok, "get", "a".into(), 11),
            ev(2, EventType::Invoke, "get", Value::Null, 12),
            ev(2, EventType::Ok, "get", Value::Null, 13),
        ]);
        // The info write may take effect late, but reads can't see it and then not see it.
        assert_eq!(check_history(&h).result.status, Status::Fail);
        let ok = History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(1, EventType::Info, "set", Value::Null, 2),
            ev(2, EventType::Invoke, "get", Value::Null, 10),
            ev(2, EventType::Ok, "get", Value::Null, 11),
            ev(2, EventType::Invoke, "get", Value::Null, 12),
            ev(2, EventType::Ok, "get", "a".into(), 13),
        ]);
        assert_eq!(check_history(&ok).result.status, Status::Pass);
    }

    #[test]
    fn concurrent_operations_can_be_reordered() {
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(2, EventType::Invoke, "get", Value::Null, 2),
            ev(2, EventType::Ok, "get", "a".into(), 3),
            ev(1, EventType::Ok, "set", "a".into(), 4),
        ]);
        assert_eq!(check_history(&h).result.status, Status::Pass);
    }
}

/// The result of `simkv check` on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// `simkv`, `etcd` or `kv`.
    pub format: &'static str,
    /// Operations read.
    pub operations: usize,
    /// Keys (partitions).
    pub keys: usize,
    /// `Some(true)` linearizable, `Some(false)` not, `None` unknown.
    pub verdict: Option<bool>,
    /// The counterexample or the reason for "unknown".
    pub detail: String,
}

fn verdict_of(v: Verdict) -> Option<bool> {
    match v {
        Verdict::Linearizable => Some(true),
        Verdict::Illegal => Some(false),
        Verdict::Unknown => None,
    }
}

/// Checks a history file in any supported format, explaining a violation.
pub fn check_file(path: &std::path::Path) -> Result<FileResult, String> {
    check_file_with(path, true)
}

/// Checks a history file; `explain` adds the shortest failing prefix to a violation (a few
/// more searches).
pub fn check_file_with(path: &std::path::Path, explain: bool) -> Result<FileResult, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not a UTF-8 text file".to_string())?;
    check_text(&text, explain)
}

/// Checks history text in any supported format.
pub fn check_text(text: &str, explain_failure: bool) -> Result<FileResult, String> {
    let format = detect_format(text).ok_or(
        "unrecognised format: expected simkv JSON Lines, a Porcupine kv log or a Jepsen etcd log",
    )?;
    match format {
        LogFormat::Simkv => {
            let mut events = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let e: crate::history::HistoryEvent =
                    serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
                events.push(e);
            }
            let history = History::merge(events);
            let report = check_history(&history);
            Ok(FileResult {
                format: "simkv",
                operations: history.operations().len(),
                keys: report.keys,
                verdict: match report.result.status {
                    Status::Pass => Some(true),
                    Status::Fail => Some(false),
                    Status::Skipped => None,
                },
                detail: report.counterexample.unwrap_or_default(),
            })
        }
        LogFormat::Etcd => {
            let ops = parse_etcd(text).map_err(|e| format!("line {}: {}", e.line, e.message))?;
            let v = check(&RegisterModel, &ops, DEFAULT_BUDGET);
            let detail = if v == Verdict::Illegal && explain_failure {
                explain(&RegisterModel, &ops, "register")
            } else {
                String::new()
            };
            Ok(FileResult {
                format: "etcd",
                operations: ops.len(),
                keys: 1,
                verdict: verdict_of(v),
                detail,
            })
        }
        LogFormat::Kv => {
            let by_key = parse_kv(text).map_err(|e| format!("line {}: {}", e.line, e.message))?;
            let operations = by_key.values().map(Vec::len).sum();
            let mut parts: Vec<(&String, &Vec<Op<StringInput, StringOutput>>)> =
                by_key.iter().collect();
            parts.sort_by_key(|(k, v)| (v.len(), (*k).clone()));
            let mut verdict = Some(true);
            let mut detail = String::new();
            for (key, ops) in parts {
                match check(&StringModel, ops, DEFAULT_BUDGET) {
                    Verdict::Linearizable => {}
                    Verdict::Unknown => verdict = None,
                    Verdict::Illegal => {
                        verdict = Some(false);
                        if explain_failure {
                            detail = explain(&StringModel, ops, key);
                        }
                        break;
                    }
                }
            }
            Ok(FileResult {
                format: "kv",
                operations,
                keys: by_key.len(),
                verdict,
                detail,
            })
        }
    }
}

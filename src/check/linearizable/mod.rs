//! Linearizability checking: per-key partitioning (P-compositionality), the Wing & Gong / Lowe
//! search with memoization, `info` operations treated as possibly applied at any later time,
//! and on failure the shortest failing prefix printed as a readable timeline. Reads simkv's
//! JSON Lines, Jepsen / Knossos EDN, and Porcupine's etcd and kv logs; a malformed history is
//! an error naming its line, never a verdict.

mod edn;
mod events;
mod explain;
mod interner;
mod jepsen;
mod jsonl;
mod keys;
mod model;
mod multi_register;
mod options;
mod porcupine;
mod redis_string;
mod search;
mod tally;

pub use edn::{Edn, EdnError, read_all as read_edn};
pub use events::InputError;
pub use explain::{shortest_failing_prefix, shortest_failing_prefix_within, timeline};
pub use interner::{Text, parse_redis_integer};
pub use model::{
    Model, RegisterInput, RegisterModel, RegisterOutput, StringInput, StringModel, StringOutput,
};
pub use multi_register::{Micro, MultiRegisterModel, TxnOutput};
pub use options::{CheckOptions, Format, ModelKind, detect};
pub use porcupine::{LogError, parse_etcd, parse_kv};
pub use redis_string::{KeyInput, KeyOutput, RedisStringModel};
pub use search::{FastHash, Op, Verdict, check, check_bounded};
pub use tally::Tally;

use super::operations::{KeyOperations, Operations};
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

/// Checks a simkv run's history key by key against the Redis string model, smallest keys
/// first, stopping at the first non-linearizable key.
pub fn check_history(history: &History) -> Report {
    check_operations(&Operations::of(history))
}

/// [`check_history`] over the history's operations, already paired.
pub fn check_operations<'a>(ops: &Operations<'a>) -> Report {
    let opts = CheckOptions::default();
    let mut tally = Tally::default();
    // Sets are not registers: the set checker (`acked-adds-durable`) judges them. Each key's
    // operations are made from the shared index when they are read.
    let parts: Vec<(&str, KeyOperations<'_, 'a>)> = ops.by_key().collect();
    let key_ops = |part| registers(part).map(|o| key_op(&o));
    let total = match jsonl::check_partitions(parts, key_ops, &opts, &mut tally) {
        Ok(total) => total,
        Err(e) => {
            return Report {
                result: result(
                    Status::Skipped,
                    0,
                    format!("unreadable history: {}", e.message),
                ),
                keys: 0,
                counterexample: None,
            };
        }
    };
    if total == 0 && ops.all().any(|o| keys::is_set_command(o.f)) {
        return Report {
            result: result(
                Status::Skipped,
                0,
                "the history has only set operations, which acked-adds-durable judges".into(),
            ),
            keys: 0,
            counterexample: None,
        };
    }
    let detail = tally.detail(total);
    let (status, count) = match tally.verdict() {
        Verdict::Linearizable => (Status::Pass, 0),
        Verdict::Unknown => (Status::Skipped, 0),
        Verdict::Illegal => (Status::Fail, 1),
    };
    let summary = detail
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':')
        .replace("; the last of them cannot be ordered with these", "");
    Report {
        result: result(status, count, summary),
        keys: total,
        counterexample: (status == Status::Fail).then_some(detail),
    }
}

/// A key's operations that the register model judges (set commands left out).
fn registers<'o, 'a: 'o>(
    key_ops: KeyOperations<'o, 'a>,
) -> impl Iterator<Item = Operation<'a>> + 'o {
    key_ops.iter().filter(|o| !keys::is_set_command(o.f))
}

/// The checker's view of a run's operation.
fn key_op<'a>(o: &Operation<'a>) -> keys::KeyOp<'a> {
    keys::KeyOp {
        line: 0,
        f: o.f,
        input: o.input,
        output: o.output,
        outcome: o.outcome,
        error: None,
        call: o.invoke_ns,
        ret: if o.outcome == EventType::Info {
            u64::MAX
        } else {
            o.complete_ns
        },
    }
}

fn result(status: Status, count: u64, detail: String) -> CheckResult {
    CheckResult {
        name: "linearizable".into(),
        status,
        count,
        detail,
    }
}

/// The result of `simkv check` on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// The format read: `edn`, `jsonl`, `porcupine-kv` or `etcd`.
    pub format: &'static str,
    /// The model checked against.
    pub model: &'static str,
    /// Operations read (nemesis entries not counted).
    pub operations: usize,
    /// Partitions: keys, or groups of keys linked by transactions.
    pub keys: usize,
    /// `Some(true)` linearizable, `Some(false)` not, `None` unknown (the budget ran out).
    pub verdict: Option<bool>,
    /// The counterexample, or the reason for "unknown".
    pub detail: String,
}

impl FileResult {
    /// `linearizable`, `not-linearizable` or `unknown`.
    pub fn status(&self) -> &'static str {
        match self.verdict {
            Some(true) => "linearizable",
            Some(false) => "not-linearizable",
            None => "unknown",
        }
    }

    /// The exit code of `simkv check`: 0 linearizable, 1 not, 3 undecided.
    pub fn exit_code(&self) -> u8 {
        match self.verdict {
            Some(true) => 0,
            Some(false) => 1,
            None => 3,
        }
    }

    fn from_tally(format: Format, model: ModelKind, ops: usize, keys: usize, t: &Tally) -> Self {
        FileResult {
            format: format.name(),
            model: model.name(),
            operations: ops,
            keys,
            verdict: match t.verdict() {
                Verdict::Linearizable => Some(true),
                Verdict::Illegal => Some(false),
                Verdict::Unknown => None,
            },
            detail: match t.verdict() {
                Verdict::Linearizable => String::new(),
                _ => t.detail(keys),
            },
        }
    }
}

/// Checks a history file in any supported format, explaining a violation.
pub fn check_file(path: &std::path::Path) -> Result<FileResult, String> {
    check_file_with(path, &CheckOptions::default())
}

/// Checks a history file with options. Errors (exit code 2) name the line at fault.
pub fn check_file_with(path: &std::path::Path, opts: &CheckOptions) -> Result<FileResult, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "not a UTF-8 text file".to_string())?;
    check_text(&text, opts)
}

fn line_error(e: InputError) -> String {
    format!("line {}: {}", e.line, e.message)
}

/// Checks history text. An empty history, a malformed one, or a model the format cannot
/// take is an error, never a verdict.
pub fn check_text(text: &str, opts: &CheckOptions) -> Result<FileResult, String> {
    parse_text(text, opts)?.check(opts)
}

/// A history read from text and not yet checked: [`parse_text`] and [`Parsed::check`] are the two
/// halves of [`check_text`], so that reading and checking can be timed apart.
pub struct Parsed {
    format: Format,
    history: ParsedHistory,
}

enum ParsedHistory {
    Edn(ModelKind, Vec<events::Paired<Edn>>),
    Jsonl(Vec<events::Paired<crate::history::Value>>),
    Etcd(Vec<Op<RegisterInput, RegisterOutput>>),
    Kv(std::collections::BTreeMap<String, Vec<Op<StringInput, StringOutput>>>),
}

/// Reads history text in its format (detected unless `opts` names it) into operations.
/// An empty or malformed history, or a model the format cannot take, is an error.
pub fn parse_text(text: &str, opts: &CheckOptions) -> Result<Parsed, String> {
    if text.trim().is_empty() {
        return Err("the history is empty: there is nothing to check".into());
    }
    let format = match opts.format {
        Some(f) => f,
        None => detect(text).ok_or(
            "unrecognised format: expected Jepsen EDN, simkv JSON Lines, a Porcupine kv log or a Jepsen etcd log (or say which with --format)",
        )?,
    };
    let perr = |e: LogError| format!("line {}: {}", e.line, e.message);
    let history = match format {
        Format::Edn => {
            jepsen::initial_value(opts)?;
            let (model, ops) = jepsen::read(text, opts).map_err(line_error)?;
            ParsedHistory::Edn(model, ops)
        }
        Format::Jsonl => {
            only_models(format, opts, &[ModelKind::Kv])?;
            if opts.initial_value.is_some() {
                return Err(
                    "--initial-value does not apply to jsonl histories (Redis keys start absent)"
                        .into(),
                );
            }
            ParsedHistory::Jsonl(jsonl::read(text).map_err(line_error)?)
        }
        Format::Etcd => {
            no_initial_value(format, opts)?;
            only_models(format, opts, &[ModelKind::CasRegister])?;
            ParsedHistory::Etcd(parse_etcd(text).map_err(perr)?)
        }
        Format::PorcupineKv => {
            no_initial_value(format, opts)?;
            only_models(format, opts, &[ModelKind::Kv])?;
            ParsedHistory::Kv(parse_kv(text).map_err(perr)?)
        }
    };
    Ok(Parsed { format, history })
}

impl Parsed {
    /// Checks the history. `opts` are those it was read with; only `budget` and `explain` may
    /// differ.
    pub fn check(&self, opts: &CheckOptions) -> Result<FileResult, String> {
        let format = self.format;
        let result = match &self.history {
            ParsedHistory::Edn(model, ops) => check_edn(*model, ops, opts)?,
            ParsedHistory::Jsonl(ops) => check_jsonl(ops, opts)?,
            ParsedHistory::Etcd(ops) => check_etcd(ops, opts)?,
            ParsedHistory::Kv(by_key) => check_kv(by_key, opts)?,
        };
        if result.operations == 0 {
            return Err(format!(
                "the history has no operations: there is nothing to check (read as {})",
                format.name()
            ));
        }
        Ok(result)
    }
}

fn only_models(
    format: Format,
    opts: &CheckOptions,
    allowed: &[ModelKind],
) -> Result<ModelKind, String> {
    let model = opts.model.unwrap_or(allowed[0]);
    if !allowed.contains(&model) {
        let names: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
        return Err(format!(
            "--model {} does not apply to {} histories (use {})",
            model.name(),
            format.name(),
            names.join(" or ")
        ));
    }
    Ok(model)
}

fn check_edn(
    model: ModelKind,
    ops: &[events::Paired<Edn>],
    opts: &CheckOptions,
) -> Result<FileResult, String> {
    let initial = jepsen::initial_value(opts)?;
    let mut tally = Tally::default();
    let keys = if model == ModelKind::MultiRegister {
        jepsen::check_multi(ops, &initial, opts, &mut tally)
    } else {
        jepsen::check_registers(ops, &initial, opts, &mut tally)
    }
    .map_err(line_error)?;
    Ok(FileResult::from_tally(
        Format::Edn,
        model,
        ops.len(),
        keys,
        &tally,
    ))
}

fn check_jsonl(
    ops: &[events::Paired<crate::history::Value>],
    opts: &CheckOptions,
) -> Result<FileResult, String> {
    let model = only_models(Format::Jsonl, opts, &[ModelKind::Kv])?;
    let mut tally = Tally::default();
    let view = ops
        .iter()
        .map(|p| (p.key.as_deref().unwrap_or_default(), jsonl::key_op(p)));
    let keys = jsonl::check_keys(view, opts, &mut tally).map_err(line_error)?;
    let set_ops = ops.iter().filter(|p| keys::is_set_command(&p.f)).count();
    if keys == 0 && set_ops > 0 {
        return Err(format!(
            "the history has only set operations ({set_ops}): `simkv check` judges registers; a run judges sets with its acked-adds-durable check"
        ));
    }
    let mut result =
        FileResult::from_tally(Format::Jsonl, model, ops.len() - set_ops, keys, &tally);
    if set_ops > 0 {
        let note = format!(
            "{set_ops} set operations (sadd, smembers) were left out: a run judges sets with its acked-adds-durable check"
        );
        result.detail = match result.detail.is_empty() {
            true => note,
            false => format!("{}\n{note}", result.detail),
        };
    }
    Ok(result)
}

fn no_initial_value(format: Format, opts: &CheckOptions) -> Result<(), String> {
    match opts.initial_value {
        Some(_) => Err(format!(
            "--initial-value does not apply to {} logs",
            format.name()
        )),
        None => Ok(()),
    }
}

fn check_etcd(
    ops: &[Op<RegisterInput, RegisterOutput>],
    opts: &CheckOptions,
) -> Result<FileResult, String> {
    let model = only_models(Format::Etcd, opts, &[ModelKind::CasRegister])?;
    let mut tally = Tally::default();
    tally.add("register", &RegisterModel::default(), ops, opts);
    Ok(FileResult::from_tally(
        Format::Etcd,
        model,
        ops.len(),
        1,
        &tally,
    ))
}

fn check_kv(
    by_key: &std::collections::BTreeMap<String, Vec<Op<StringInput, StringOutput>>>,
    opts: &CheckOptions,
) -> Result<FileResult, String> {
    let format = Format::PorcupineKv;
    let model = only_models(format, opts, &[ModelKind::Kv])?;
    let mut tally = Tally::default();
    let operations = by_key.values().map(Vec::len).sum();
    let mut parts: Vec<(&String, &Vec<Op<StringInput, StringOutput>>)> = by_key.iter().collect();
    parts.sort_by_key(|(k, v)| (v.len(), *k));
    for (key, ops) in parts {
        if !tally.add(key, &StringModel, ops, opts) {
            break;
        }
    }
    Ok(FileResult::from_tally(
        format,
        model,
        operations,
        by_key.len(),
        &tally,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;
    use serde_json::Value;

    fn ev(p: u32, kind: EventType, f: &str, v: Value, t: u64) -> HistoryEvent {
        HistoryEvent::new(p, kind, f, "k".into(), v.into(), t)
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
        assert!(why.contains("SET \"a\" -> OK"), "{why}");
    }

    #[test]
    fn reads_each_explained_alone_are_not_enough() {
        // Each read alone has an explanation (b from the write in flight, a the last completed
        // write), and call order accepts the first read; but once b was read, a cannot be: the
        // one-pass check refuses the second read, and as the operations overlap the search
        // decides, and finds no linearization.
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "set", "a".into(), 1),
            ev(1, EventType::Ok, "set", "a".into(), 2),
            ev(1, EventType::Invoke, "set", "b".into(), 3),
            ev(2, EventType::Invoke, "get", Value::Null, 4),
            ev(2, EventType::Ok, "get", "b".into(), 5),
            ev(2, EventType::Invoke, "get", Value::Null, 6),
            ev(2, EventType::Ok, "get", "a".into(), 7),
            ev(1, EventType::Ok, "set", "b".into(), 10),
        ]);
        let r = check_history(&h);
        assert_eq!(r.result.status, Status::Fail);
        let why = r.counterexample.unwrap();
        assert!(why.contains("first 4 operations"), "{why}");
        // Without the read of b, the read of a is linearizable (before the write of b).
        let ok = History::merge(
            h.events
                .iter()
                .filter(|e| !(e.process == 2 && e.time_ns < 6))
                .cloned()
                .collect(),
        );
        assert_eq!(check_history(&ok).result.status, Status::Pass);
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
    fn a_run_history_mixing_set_and_incr_on_one_key_is_checked_as_redis_strings() {
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "set", 5.into(), 1),
            ev(1, EventType::Ok, "set", 5.into(), 2),
            ev(2, EventType::Invoke, "incr", Value::Null, 3),
            ev(2, EventType::Ok, "incr", 6.into(), 4),
            ev(2, EventType::Invoke, "get", Value::Null, 5),
            ev(2, EventType::Ok, "get", "6".into(), 6),
        ]);
        assert_eq!(check_history(&h).result.status, Status::Pass);
        let wrong = History::merge(vec![
            ev(1, EventType::Invoke, "set", 5.into(), 1),
            ev(1, EventType::Ok, "set", 5.into(), 2),
            ev(2, EventType::Invoke, "incr", Value::Null, 3),
            ev(2, EventType::Ok, "incr", 1.into(), 4),
        ]);
        let r = check_history(&wrong);
        assert_eq!(r.result.status, Status::Fail);
        assert!(r.counterexample.unwrap().contains("INCR -> 1"));
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

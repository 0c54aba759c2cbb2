//! simkv's JSON Lines histories: read line by line into paired operations, then checked key
//! by key against the Redis string model, smallest keys first.

use std::collections::BTreeMap;

use super::events::{self, Clock, InputError, Paired, RawEvent};
use super::keys::{self, KeyOp};
use super::options::CheckOptions;
use super::redis_string::RedisStringModel;
use super::tally::Tally;
use crate::history::{HistoryEvent, Value};

/// Reads and pairs a JSON Lines history.
pub fn read(text: &str) -> Result<Vec<Paired<Value>>, InputError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: HistoryEvent =
            serde_json::from_str(line).map_err(|e| InputError::new(i + 1, e.to_string()))?;
        events.push(RawEvent {
            line: i + 1,
            process: e.process.to_string(),
            kind: e.kind,
            f: e.f.to_string(),
            key: Some(e.key.to_string()),
            value: e.value,
            time: Some(e.time_ns),
            error: e.error.map(|t| t.to_string()),
        });
    }
    events::pair(events, Clock::Time, &|f| {
        keys::FUNCTIONS.contains(&f) || keys::is_set_command(f)
    })
}

/// The borrowed view of a paired operation.
pub fn key_op(p: &Paired<Value>) -> KeyOp<'_> {
    KeyOp {
        line: p.line,
        f: &p.f,
        input: &p.input,
        output: p.output.as_ref(),
        outcome: p.outcome,
        error: p.error.as_deref(),
        call: p.call,
        ret: p.ret,
    }
}

/// Checks operations key by key, smallest keys first, stopping at the first violation.
/// Returns the number of keys (set operations are left out).
pub fn check_keys<'a>(
    ops: impl Iterator<Item = (&'a str, KeyOp<'a>)>,
    opts: &CheckOptions,
    tally: &mut Tally,
) -> Result<usize, InputError> {
    let mut by_key: BTreeMap<&str, Vec<KeyOp>> = BTreeMap::new();
    // Sets are not registers: the set checker (`acked-adds-durable`) judges them.
    for (key, op) in ops.filter(|(_, op)| !keys::is_set_command(op.f)) {
        by_key.entry(key).or_default().push(op);
    }
    let parts = by_key.into_iter().map(|(k, v)| (k, v.len(), v)).collect();
    check_partitions(parts, |part| part, opts, tally)
}

/// Checks each key's operations (in key order, set operations left out), smallest keys first,
/// stopping at the first violation. Returns the number of keys.
///
/// A part is a key, its number of operations, and what `key_ops` makes its operations from:
/// each key's operations are made when its turn comes and go once it is judged, with the
/// strings its model interned, so only one key's are held at a time. Every key is converted,
/// even after a violation, so a malformed line is an error whatever the verdict.
pub fn check_partitions<'a, P, I>(
    mut parts: Vec<(&'a str, usize, P)>,
    key_ops: impl Fn(P) -> I,
    opts: &CheckOptions,
    tally: &mut Tally,
) -> Result<usize, InputError>
where
    I: IntoIterator<Item = KeyOp<'a>>,
{
    let total = parts.len();
    parts.sort_by_key(|(k, n, _)| (*n, *k));
    let mut judging = true;
    // One model and one list of operations serve every key in turn, cleared between keys.
    let mut model = RedisStringModel::default();
    let mut ops = Vec::new();
    for (key, _, part) in parts {
        model.clear();
        keys::key_ops(&model, key_ops(part), &mut ops)?;
        if judging {
            judging = tally.add(key, &model, &ops, opts);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventType;

    fn op<'a>(f: &'a str, input: &'a Value, output: &'a Value, t: u64) -> KeyOp<'a> {
        KeyOp {
            line: t as usize,
            f,
            input,
            output: Some(output),
            outcome: EventType::Ok,
            error: None,
            call: t,
            ret: t + 1,
        }
    }

    /// Hands each part's operations on, noting how many there were.
    fn counting<'a, 'm>(
        made: &'m std::cell::RefCell<Vec<usize>>,
    ) -> impl Fn(Vec<KeyOp<'a>>) -> Vec<KeyOp<'a>> + 'm {
        move |part| {
            made.borrow_mut().push(part.len());
            part
        }
    }

    #[test]
    fn keys_are_made_one_at_a_time_smallest_first_and_all_are_read() {
        let (a, null, bad) = (Value::from("a"), Value::Null, Value::from(7i64));
        // k1 cannot be linearized (it reads a value never written); k3 has an unknown command.
        let k1 = vec![op("get", &null, &a, 1)];
        let k2 = vec![op("set", &a, &null, 1), op("get", &null, &a, 3)];
        let k3 = vec![
            op("set", &a, &null, 1),
            op("get", &null, &a, 3),
            op("hget", &bad, &null, 5),
        ];
        let made = std::cell::RefCell::new(Vec::new());
        let parts = vec![
            ("k3", 3, k3.clone()),
            ("k2", 2, k2.clone()),
            ("k1", 1, k1.clone()),
        ];
        let key_ops = counting(&made);
        let mut tally = Tally::default();
        let e = check_partitions(parts, key_ops, &CheckOptions::default(), &mut tally);
        // The violation on k1 comes first, but k3's bad line is still read and is the answer.
        assert_eq!(e.unwrap_err().line, 5);
        assert_eq!(*made.borrow(), vec![1, 2, 3]);
        assert_eq!(tally.checked, 1, "no key is judged after the violation");
        let parts = vec![("k2", 2, k2), ("k1", 1, k1)];
        let mut tally = Tally::default();
        let total = check_partitions(parts, |p| p, &CheckOptions::default(), &mut tally);
        assert_eq!(total.unwrap(), 2);
        assert_eq!(tally.verdict(), super::super::Verdict::Illegal);
    }
}

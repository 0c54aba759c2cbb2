//! simkv's JSON Lines histories: read line by line into paired operations, then checked key
//! by key against the Redis string model, smallest keys first.

use std::collections::BTreeMap;

use super::events::{self, Clock, InputError, Paired, RawEvent};
use super::keys::Borrowed;
use super::keys::{self, KeyOp};
use super::options::CheckOptions;
use super::redis_string::{BorrowedModel, RedisStringModel};
use super::search::{self, Verdict};
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
        let error = e.error().map(|t| t.to_string());
        events.push(RawEvent {
            line: i + 1,
            process: e.process.to_string(),
            kind: e.kind,
            f: e.f().to_string(),
            key: Some(e.key.to_string()),
            value: e.value,
            time: Some(e.time_ns),
            error,
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
    let parts = by_key.iter().map(|(k, v)| (*k, v)).collect();
    check_partitions(parts, |part| part.iter().copied(), opts, tally)
}

/// Checks each key's operations (set operations left out), smallest keys first (then by
/// name), stopping at the first violation. Returns the number of keys with operations.
///
/// A part is a key and what `key_ops` makes its operations from. Every key is read once, in
/// the order given, with the history's own values: its size, the first malformed line in it,
/// and whether one pass in call order linearizes it (see `search::in_call_order`; the borrowed
/// model's rules are the interned one's, and without APPEND it makes no string, so its first
/// path is the search's) are kept, not its operations. A malformed line is an error whatever
/// the verdict: the one of the first key to judge that has one. Then the keys are judged in
/// turn; a key the pass did not decide is made again, its values interned by a model that
/// serves every key (cleared between them), and searched.
pub fn check_partitions<'a, P, I>(
    parts: Vec<(&'a str, P)>,
    key_ops: impl Fn(P) -> I,
    opts: &CheckOptions,
    tally: &mut Tally,
) -> Result<usize, InputError>
where
    P: Copy,
    I: IntoIterator<Item = KeyOp<'a>>,
{
    let in_key_order = parts.windows(2).all(|w| w[0].0 < w[1].0);
    // Per key: name, size, part, its error's place in `errors` (`NONE`), decided.
    const NONE: u32 = u32::MAX;
    let mut read: Vec<(&str, usize, P, u32, bool)> = Vec::with_capacity(parts.len());
    let mut errors = Vec::new();
    let mut borrowed = Vec::new();
    for (key, part) in parts {
        let mut values = Borrowed::default();
        let (mut n, mut error) = (0, None);
        borrowed.clear();
        for o in key_ops(part) {
            n += 1;
            if error.is_none() {
                match keys::key_op(&mut values, &o) {
                    Ok(Some(op)) => borrowed.push(op),
                    Ok(None) => {}
                    Err(e) => error = Some(e),
                }
            }
        }
        let decided = error.is_none()
            && !values.unborrowed
            && search::in_call_order(&BorrowedModel::default(), &borrowed, opts.budget)
                == Some(Verdict::Linearizable);
        if n > 0 {
            let e = error.map_or(NONE, |e| {
                errors.push(e);
                errors.len() as u32 - 1
            });
            read.push((key, n, part, e, decided));
        }
    }
    if in_key_order {
        // A stable sort by size alone keeps key order among keys of one size, without
        // comparing key names.
        read.sort_by_key(|r| r.1);
    } else {
        read.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    }
    if let Some(r) = read.iter().find(|r| r.3 != NONE) {
        return Err(errors.swap_remove(r.3 as usize));
    }
    let total = read.len();
    let mut model = RedisStringModel::default();
    let mut interned = Vec::new();
    for (key, _, part, _, decided) in read {
        if decided {
            tally.checked += 1;
            continue;
        }
        model.clear();
        keys::key_ops(&mut &model, key_ops(part), &mut interned)?;
        if !tally.add(key, &model, &interned, opts) {
            break;
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
    ) -> impl Fn(&'m [KeyOp<'a>]) -> Vec<KeyOp<'a>> + 'm {
        move |part| {
            made.borrow_mut().push(part.len());
            part.to_vec()
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
            ("k3", k3.as_slice()),
            ("k2", k2.as_slice()),
            ("k1", k1.as_slice()),
        ];
        let key_ops = counting(&made);
        let mut tally = Tally::default();
        let e = check_partitions(parts, key_ops, &CheckOptions::default(), &mut tally);
        // The violation on k1 would be judged first, but k3's bad line is read first and is
        // the answer; every key was read once, and none judged.
        assert_eq!(e.unwrap_err().line, 5);
        assert_eq!(*made.borrow(), vec![3, 2, 1]);
        assert_eq!(tally.checked, 0);
        // Without the bad line, k1 (the smallest) is judged first, and made again for the
        // search as call order refuses its read; k2 is not judged after the violation.
        made.borrow_mut().clear();
        let parts = vec![
            ("k1", k1.as_slice()),
            ("k2", k2.as_slice()),
            ("k3", &k3[..2]),
        ];
        let mut tally = Tally::default();
        let total = check_partitions(parts, counting(&made), &CheckOptions::default(), &mut tally);
        assert_eq!(*made.borrow(), vec![1, 2, 2, 1]);
        assert_eq!(tally.checked, 1, "no key is judged after the violation");
        assert_eq!(total.unwrap(), 3);
        assert_eq!(tally.verdict(), super::super::Verdict::Illegal);
    }

    #[test]
    fn borrowed_values_give_the_interned_models_call_order_verdicts() {
        use super::super::redis_string::KeyInput;
        use crate::history::Value as V;
        // Strings that are and are not integers to Redis, the same values as integers, JSON.
        let values = [
            V::Null,
            V::Str("5".into()),
            V::Int(5),
            V::Str("05".into()),
            V::Str("-0".into()),
            V::Str("a".into()),
            V::Int(6),
            V::Str("9223372036854775807".into()),
            V::Int(i64::MAX),
            V::Json(Box::new(serde_json::json!(18446744073709551615u64))),
            V::Json(Box::new(serde_json::json!(1.5))),
        ];
        let cas_values: Vec<V> = (0..4)
            .map(|i| {
                let pick = |j: usize| match &values[j] {
                    V::Null => serde_json::Value::Null,
                    V::Str(t) => serde_json::Value::from(t.as_str()),
                    V::Int(n) => serde_json::Value::from(*n),
                    V::Json(j) => (**j).clone(),
                };
                V::Json(Box::new(serde_json::json!([pick(i), pick(i + 1)])))
            })
            .collect();
        let fs = ["get", "set", "incr", "del", "cas", "append", "mget", "mset"];
        let (mut agreed, mut decided) = (0, 0);
        for seed in 0..20_000u64 {
            let mut r = seed;
            let mut next = |m: usize| {
                r = crate::sim::splitmix64(r);
                (r % m as u64) as usize
            };
            let n = 1 + next(6);
            let mut t = 0;
            let ops: Vec<KeyOp> = (0..n)
                .map(|_| {
                    t += 1 + next(2) as u64;
                    let call = t;
                    let kinds = if next(4) == 0 { 8 } else { 5 };
                    let f = fs[next(kinds)];
                    let (input, output) = match f {
                        "cas" => (&cas_values[next(4)], &values[next(2)]),
                        _ => (&values[next(values.len())], &values[next(values.len())]),
                    };
                    let outcome = [
                        EventType::Ok,
                        EventType::Ok,
                        EventType::Info,
                        EventType::Fail,
                    ][next(4)];
                    let ret = if outcome == EventType::Info {
                        u64::MAX
                    } else {
                        t += next(3) as u64;
                        t
                    };
                    let error = (outcome == EventType::Fail)
                        .then_some(["ERR value is not an integer or out of range", "x"][next(2)]);
                    KeyOp {
                        line: 1,
                        f,
                        input,
                        output: Some(output),
                        outcome,
                        error,
                        call,
                        ret,
                    }
                })
                .collect();
            let mut borrowed = Vec::new();
            let mut values_read = Borrowed::default();
            let b = keys::key_ops(&mut values_read, ops.iter().copied(), &mut borrowed);
            let model = RedisStringModel::default();
            let mut interned = Vec::new();
            let i = keys::key_ops(&mut &model, ops.iter().copied(), &mut interned);
            assert_eq!(b.is_err(), i.is_err(), "{ops:?}");
            if b.is_err() {
                continue;
            }
            let fast = search::in_call_order(&BorrowedModel::default(), &borrowed, 100);
            let reference = search::in_call_order(&model, &interned, 100);
            let appends = interned
                .iter()
                .any(|o| matches!(o.input, KeyInput::Append(_)));
            if !values_read.unborrowed && !appends {
                assert_eq!(fast, reference, "{ops:?}");
                agreed += 1;
            }
            if fast == Some(Verdict::Linearizable) && !values_read.unborrowed {
                assert_eq!(search::check(&model, &interned, 100), Verdict::Linearizable);
                decided += 1;
            }
        }
        assert!(agreed > 5_000 && decided > 1_000, "{agreed} {decided}");
    }
}

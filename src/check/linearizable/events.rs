//! Pairs the invoke and completion events of a recorded history into operations, refusing
//! every malformed history with the line that breaks it: a checker that guessed here would
//! give a verdict about a history nobody recorded.

use std::collections::BTreeMap;

use crate::history::EventType;

/// An error in a history file, with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// Line number.
    pub line: usize,
    /// What is wrong, and a hint when there is one.
    pub message: String,
}

impl InputError {
    /// An error at `line`.
    pub fn new(line: usize, message: impl Into<String>) -> Self {
        InputError {
            line,
            message: message.into(),
        }
    }
}

/// One event as read from a file, before pairing. `V` is the file's value type.
#[derive(Clone, Debug)]
pub struct RawEvent<V> {
    /// Where it was read.
    pub line: usize,
    /// The process, as text (Jepsen processes may be keywords).
    pub process: String,
    /// Invoke or completion.
    pub kind: EventType,
    /// The operation's function.
    pub f: String,
    /// The key, when the format has one on every event.
    pub key: Option<String>,
    /// The event's value.
    pub value: V,
    /// The event's time, when recorded.
    pub time: Option<u64>,
    /// The error text of a completion.
    pub error: Option<String>,
}

/// An invoke paired with its completion.
#[derive(Clone, Debug)]
pub struct Paired<V> {
    /// The invoke's line.
    pub line: usize,
    /// The operation's function.
    pub f: String,
    /// The key.
    pub key: Option<String>,
    /// The invoke's value.
    pub input: V,
    /// The completion's value (`None` while open at the end of the history).
    pub output: Option<V>,
    /// How it completed; `Info` also for one still open at the end.
    pub outcome: EventType,
    /// The completion's error text.
    pub error: Option<String>,
    /// Call position (time, or file order when the format orders by position).
    pub call: u64,
    /// Return position; `u64::MAX` for `info` and open operations (they may take effect at
    /// any later time).
    pub ret: u64,
}

/// How operations are placed in real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// By the events' `time` (simkv JSON Lines).
    Time,
    /// By their order in the file (Jepsen: a history is recorded in real-time order).
    FilePosition,
}

/// Pairs events into operations. Every event must pass [`RawEvent`] checks: a completion
/// needs an open invoke of its process with the same `f` and key, and may not come earlier
/// than it; a process has at most one open invoke per key (a multi-key command, `mset` or
/// `mget`, is one invoke per key, made together); `known_f` accepts the functions the model
/// understands.
pub fn pair<V: Clone>(
    events: Vec<RawEvent<V>>,
    clock: Clock,
    known_f: &dyn Fn(&str) -> bool,
) -> Result<Vec<Paired<V>>, InputError> {
    let mut ops: Vec<Paired<V>> = Vec::with_capacity(events.len() / 2 + 1);
    let mut open: BTreeMap<(String, Option<String>), (usize, Option<u64>)> = BTreeMap::new();
    for (position, e) in events.into_iter().enumerate() {
        if !known_f(&e.f) {
            return Err(InputError::new(
                e.line,
                format!("unknown operation f `{}` for this model", e.f),
            ));
        }
        let now = match clock {
            Clock::Time => e.time.unwrap_or(0),
            Clock::FilePosition => position as u64,
        };
        let at = (e.process.clone(), e.key.clone());
        if e.kind == EventType::Invoke {
            if let Some((i, _)) = open.get(&at) {
                return Err(InputError::new(
                    e.line,
                    format!(
                        "process {} invokes again while its invoke on line {} is still open (one operation at a time per process and key)",
                        e.process, ops[*i].line
                    ),
                ));
            }
            open.insert(at, (ops.len(), e.time));
            ops.push(Paired {
                line: e.line,
                f: e.f,
                key: e.key,
                input: e.value,
                output: None,
                outcome: EventType::Info,
                error: None,
                call: now,
                ret: u64::MAX,
            });
            continue;
        }
        // No open invoke on this key: the process's only open invoke, if it has one, is the one
        // the completion answers (and `complete` names the key that differs).
        let found = open.remove(&at).or_else(|| {
            let mine: Vec<_> = open
                .keys()
                .filter(|(p, _)| *p == e.process)
                .cloned()
                .collect();
            match mine.as_slice() {
                [only] => open.remove(only),
                _ => None,
            }
        });
        let Some((i, invoke_time)) = found else {
            return Err(InputError::new(
                e.line,
                format!(
                    "process {} completes an operation it never invoked (`{}` without an `invoke`)",
                    e.process,
                    kind_name(e.kind)
                ),
            ));
        };
        complete(&mut ops[i], e, invoke_time, now)?;
    }
    Ok(ops)
}

fn kind_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

fn complete<V>(
    op: &mut Paired<V>,
    e: RawEvent<V>,
    invoke_time: Option<u64>,
    now: u64,
) -> Result<(), InputError> {
    if e.f != op.f {
        return Err(InputError::new(
            e.line,
            format!(
                "the completion's f `{}` differs from its invoke's `{}` (line {})",
                e.f, op.f, op.line
            ),
        ));
    }
    if e.key.is_some() && e.key != op.key {
        return Err(InputError::new(
            e.line,
            format!(
                "the completion's key {:?} differs from its invoke's {:?} (line {})",
                e.key.unwrap_or_default(),
                op.key.clone().unwrap_or_default(),
                op.line
            ),
        ));
    }
    if let (Some(done), Some(start)) = (e.time, invoke_time)
        && done < start
    {
        return Err(InputError::new(
            e.line,
            format!(
                "the completion (time {done}) comes before its invoke (time {start}, line {})",
                op.line
            ),
        ));
    }
    op.outcome = e.kind;
    op.output = Some(e.value);
    op.error = e.error;
    op.ret = if e.kind == EventType::Info {
        u64::MAX
    } else {
        now
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: usize, process: &str, kind: EventType, time: u64) -> RawEvent<u32> {
        RawEvent {
            line,
            process: process.into(),
            kind,
            f: "set".into(),
            key: Some("k".into()),
            value: 0,
            time: Some(time),
            error: None,
        }
    }

    fn any(_: &str) -> bool {
        true
    }

    #[test]
    fn info_frees_the_process_and_stays_open() {
        let ops = pair(
            vec![
                ev(1, "1", EventType::Invoke, 1),
                ev(2, "1", EventType::Info, 5),
                ev(3, "1", EventType::Invoke, 6),
                ev(4, "1", EventType::Ok, 7),
            ],
            Clock::Time,
            &any,
        )
        .unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].ret, u64::MAX);
        assert_eq!((ops[1].call, ops[1].ret), (6, 7));
    }

    #[test]
    fn the_first_broken_line_is_named() {
        let err = pair(
            vec![
                ev(1, "1", EventType::Invoke, 1),
                ev(2, "2", EventType::Ok, 2),
            ],
            Clock::Time,
            &any,
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        let err = pair(vec![ev(7, "1", EventType::Invoke, 1)], Clock::Time, &|f| {
            f == "get"
        })
        .unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.message.contains("unknown operation f `set`"), "{err:?}");
    }
}

//! simkv's own operations (`get`, `set`, `del`, `incr`, `append`, `cas`, JSON values) turned
//! into commands and answers of the Redis string model, one key at a time.

use serde_json::Value;

use super::events::InputError;
use super::interner::{Text, parse_redis_integer};
use super::redis_string::{KeyInput, KeyOutput, RedisStringModel, Val};
use super::search::Op;
use crate::history::{EventType, Value as HistoryValue};

/// The functions simkv histories may use.
pub const FUNCTIONS: [&str; 8] = ["get", "set", "del", "incr", "append", "cas", "mget", "mset"];

/// One operation on a key, borrowed from a file or a run's history.
#[derive(Clone, Copy, Debug)]
pub struct KeyOp<'a> {
    /// The invoke's line (0 for a history that was never a file).
    pub line: usize,
    /// The command.
    pub f: &'a str,
    /// The invoke's value.
    pub input: &'a HistoryValue,
    /// The completion's value.
    pub output: Option<&'a HistoryValue>,
    /// How it completed.
    pub outcome: EventType,
    /// The completion's error text.
    pub error: Option<&'a str>,
    /// Call time.
    pub call: u64,
    /// Return time (`u64::MAX`: may take effect any time later).
    pub ret: u64,
}

/// How a key's values are read: interned by the model ([`RedisStringModel`]), or borrowed
/// from the history as they are ([`Borrowed`]).
pub trait Values<'a> {
    /// A value.
    type V: Copy;
    /// The value a string stands for.
    fn string(&mut self, s: &'a str) -> Self::V;
    /// The value an integer stands for.
    fn int(&mut self, n: i64) -> Self::V;
    /// A value that can only be had as a new string (a JSON number that is not an i64).
    fn owned(&mut self, s: String) -> Self::V;
}

impl<'a> Values<'a> for &RedisStringModel {
    type V = Text;
    fn string(&mut self, s: &'a str) -> Text {
        self.interner.borrow_mut().text(s)
    }
    fn int(&mut self, n: i64) -> Text {
        // Every i64's decimal text is one `string2ll` reads back as that i64.
        Text::Int(n)
    }
    fn owned(&mut self, s: String) -> Text {
        self.interner.borrow_mut().text(&s)
    }
}

/// Values borrowed from the history, in the canonical form [`Text`] has (a string Redis reads
/// as an integer is that integer), compared by content; `unborrowed` tells that some value
/// could not be borrowed (its stand-in compares equal to nothing else's).
#[derive(Debug, Default)]
pub struct Borrowed {
    /// Whether a value was made rather than borrowed.
    pub unborrowed: bool,
}

impl<'a> Values<'a> for Borrowed {
    type V = Val<'a>;
    fn string(&mut self, s: &'a str) -> Val<'a> {
        parse_redis_integer(s).map_or(Val::Str(s), Val::Int)
    }
    fn int(&mut self, n: i64) -> Val<'a> {
        Val::Int(n)
    }
    fn owned(&mut self, _: String) -> Val<'a> {
        self.unborrowed = true;
        Val::Str("")
    }
}

/// A JSON value as the Redis string it stands for: a number is its decimal text (`SET k 5`
/// stores "5"), `null` is absent.
fn text<'a, M: Values<'a>>(
    m: &mut M,
    v: &'a Value,
    line: usize,
) -> Result<Option<M::V>, InputError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(m.string(s))),
        Value::Number(n) => Ok(Some(match n.as_i64() {
            Some(i) => m.int(i),
            None => m.owned(n.to_string()),
        })),
        other => Err(InputError::new(
            line,
            format!("value {other} is not a string, a number or null"),
        )),
    }
}

fn present<'a, M: Values<'a>>(
    m: &mut M,
    v: &'a Value,
    line: usize,
    what: &str,
) -> Result<M::V, InputError> {
    text(m, v, line)?.ok_or_else(|| InputError::new(line, format!("{what} needs a value")))
}

/// [`text`] of a history event's value.
fn event_text<'a, M: Values<'a>>(
    m: &mut M,
    v: &'a HistoryValue,
    line: usize,
) -> Result<Option<M::V>, InputError> {
    match v {
        HistoryValue::Null => Ok(None),
        HistoryValue::Str(s) => Ok(Some(m.string(s))),
        HistoryValue::Int(n) => Ok(Some(m.int(*n))),
        HistoryValue::Json(j) => text(m, j, line),
    }
}

fn event_present<'a, M: Values<'a>>(
    m: &mut M,
    v: &'a HistoryValue,
    line: usize,
    what: &str,
) -> Result<M::V, InputError> {
    event_text(m, v, line)?.ok_or_else(|| InputError::new(line, format!("{what} needs a value")))
}

/// Whether `f` is a set command, which the register model does not judge.
pub fn is_set_command(f: &str) -> bool {
    matches!(f, "sadd" | "smembers")
}

/// The model's command for an operation, or `None` when the operation is known not to have
/// happened and asserts nothing.
fn input<'a, M: Values<'a>>(m: &mut M, o: &KeyOp<'a>) -> Result<KeyInput<M::V>, InputError> {
    Ok(match crate::history::per_key_f(o.f) {
        "get" => KeyInput::Get,
        "del" => KeyInput::Del,
        "incr" => KeyInput::Incr,
        "set" => KeyInput::Set(event_present(m, o.input, o.line, "set")?),
        "append" => KeyInput::Append(event_present(m, o.input, o.line, "append")?),
        "cas" => match o.input.as_array().map(Vec::as_slice) {
            Some([expected, new]) => KeyInput::Cas(
                text(m, expected, o.line)?,
                present(m, new, o.line, "cas's new value")?,
            ),
            _ => {
                return Err(InputError::new(
                    o.line,
                    "cas needs \"value\": [expected, new] (expected may be null: absent)",
                ));
            }
        },
        other => return Err(InputError::new(o.line, format!("unknown f `{other}`"))),
    })
}

fn output<'a, M: Values<'a>>(
    m: &mut M,
    o: &KeyOp<'a>,
    i: &KeyInput<M::V>,
) -> Result<Option<KeyOutput<M::V>>, InputError> {
    let error = o.error.unwrap_or_default();
    Ok(Some(match (o.outcome, i) {
        (EventType::Invoke, _) => unreachable!("operations are completed or open"),
        (EventType::Info, KeyInput::Get) => return Ok(None),
        (EventType::Info, _) => KeyOutput::Unknown,
        // A refused INCR still tells what the key held. (t_string.c: incrDecrCommand)
        (EventType::Fail, KeyInput::Incr) if error.contains("not an integer") => {
            KeyOutput::NotInteger
        }
        (EventType::Fail, KeyInput::Incr) if error.contains("would overflow") => {
            KeyOutput::Overflow
        }
        (EventType::Fail, _) => return Ok(None),
        (EventType::Ok, KeyInput::Get) => KeyOutput::Value(event_text(
            m,
            o.output.unwrap_or(&HistoryValue::Null),
            o.line,
        )?),
        (EventType::Ok, KeyInput::Incr) => match o.output.and_then(HistoryValue::as_i64) {
            Some(n) => KeyOutput::Int(n),
            None => {
                return Err(InputError::new(
                    o.line,
                    "an incr's ok needs the new value as an integer",
                ));
            }
        },
        (EventType::Ok, KeyInput::Cas(..)) => match o.output {
            Some(HistoryValue::Json(j)) if **j == Value::Bool(false) => KeyOutput::CasMismatch,
            Some(v) if v.as_i64() == Some(0) => KeyOutput::CasMismatch,
            _ => KeyOutput::Done,
        },
        (EventType::Ok, _) => KeyOutput::Done,
    }))
}

/// An operation of the Redis string model over values `V`.
pub type KeyOpOf<V> = Op<KeyInput<V>, KeyOutput<V>>;

/// The search's operations for one key, in `out` (emptied first); operations that did not
/// happen, and reads whose answer is unknown, are left out (they constrain nothing).
pub fn key_ops<'a, M: Values<'a>>(
    m: &mut M,
    ops: impl IntoIterator<Item = KeyOp<'a>>,
    out: &mut Vec<KeyOpOf<M::V>>,
) -> Result<(), InputError> {
    out.clear();
    for o in ops {
        out.extend(key_op(m, &o)?);
    }
    Ok(())
}

/// One operation of [`key_ops`]: `None` when it asserts nothing.
pub fn key_op<'a, M: Values<'a>>(
    m: &mut M,
    o: &KeyOp<'a>,
) -> Result<Option<KeyOpOf<M::V>>, InputError> {
    let i = input(m, o)?;
    Ok(output(m, o, &i)?.map(|output| Op {
        call: o.call,
        ret: o.ret,
        input: i,
        output,
    }))
}

//! simkv's own operations (`get`, `set`, `del`, `incr`, `append`, `cas`, JSON values) turned
//! into commands and answers of the Redis string model, one key at a time.

use serde_json::Value;

use super::events::InputError;
use super::interner::Text;
use super::redis_string::{KeyInput, KeyOutput, RedisStringModel};
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

/// A JSON value as the Redis string it stands for: a number is its decimal text (`SET k 5`
/// stores "5"), `null` is absent.
fn text(m: &RedisStringModel, v: &Value, line: usize) -> Result<Option<Text>, InputError> {
    let mut interner = m.interner.borrow_mut();
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(interner.text(s))),
        Value::Number(n) => Ok(Some(interner.text(&n.to_string()))),
        other => Err(InputError::new(
            line,
            format!("value {other} is not a string, a number or null"),
        )),
    }
}

fn present(m: &RedisStringModel, v: &Value, line: usize, what: &str) -> Result<Text, InputError> {
    text(m, v, line)?.ok_or_else(|| InputError::new(line, format!("{what} needs a value")))
}

/// [`text`] of a history event's value.
fn event_text(
    m: &RedisStringModel,
    v: &HistoryValue,
    line: usize,
) -> Result<Option<Text>, InputError> {
    match v {
        HistoryValue::Null => Ok(None),
        HistoryValue::Str(s) => Ok(Some(m.interner.borrow_mut().text(s))),
        // Every i64's decimal text is one `string2ll` reads back as that i64.
        HistoryValue::Int(n) => Ok(Some(Text::Int(*n))),
        HistoryValue::Json(j) => text(m, j, line),
    }
}

fn event_present(
    m: &RedisStringModel,
    v: &HistoryValue,
    line: usize,
    what: &str,
) -> Result<Text, InputError> {
    event_text(m, v, line)?.ok_or_else(|| InputError::new(line, format!("{what} needs a value")))
}

/// Whether `f` is a set command, which the register model does not judge.
pub fn is_set_command(f: &str) -> bool {
    matches!(f, "sadd" | "smembers")
}

/// The model's command for an operation, or `None` when the operation is known not to have
/// happened and asserts nothing.
fn input(m: &RedisStringModel, o: &KeyOp) -> Result<KeyInput, InputError> {
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

fn output(m: &RedisStringModel, o: &KeyOp, i: &KeyInput) -> Result<Option<KeyOutput>, InputError> {
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

/// The search's operations for one key, in `out` (emptied first); operations that did not
/// happen, and reads whose answer is unknown, are left out (they constrain nothing).
pub fn key_ops<'a>(
    m: &RedisStringModel,
    ops: impl IntoIterator<Item = KeyOp<'a>>,
    out: &mut Vec<Op<KeyInput, KeyOutput>>,
) -> Result<(), InputError> {
    out.clear();
    for o in ops {
        let i = input(m, &o)?;
        if let Some(output) = output(m, &o, &i)? {
            out.push(Op {
                call: o.call,
                ret: o.ret,
                input: i,
                output,
            });
        }
    }
    Ok(())
}

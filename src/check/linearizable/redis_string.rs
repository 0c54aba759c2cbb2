//! A Redis string key as a sequential object: absent, or a string that INCR reads as an
//! integer when it is one. One key may mix families as Redis allows (`SET k 5`, then
//! `INCR k` answers 6; `APPEND k x` makes it "6x", and INCR then fails).
//!
//! Strings are interned (see `interner`), so a state is two words and equal strings compare
//! equal whichever command made them.

use std::cell::RefCell;

use super::interner::{Interner, Text};
use super::model::Model;
use super::search::FastHash;

/// A command on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyInput {
    /// GET.
    Get,
    /// SET value.
    Set(Text),
    /// DEL.
    Del,
    /// INCR.
    Incr,
    /// APPEND suffix.
    Append(Text),
    /// Compare-and-set (simkv's `cas`): if the value is `expected` (`None`: absent), set `new`.
    Cas(Option<Text>, Text),
}

/// What a command answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutput {
    /// GET's value (`None`: nil).
    Value(Option<Text>),
    /// A write completed (SET, DEL, APPEND, a cas that swapped).
    Done,
    /// INCR's new value.
    Int(i64),
    /// INCR refused: "ERR value is not an integer or out of range".
    NotInteger,
    /// INCR refused: "ERR increment or decrement would overflow".
    Overflow,
    /// A cas whose expected value did not match (nothing changed).
    CasMismatch,
    /// Unknown (timed out): any effect or none.
    Unknown,
}

/// The model: Redis's string commands on one key that starts absent.
#[derive(Debug, Default)]
#[allow(clippy::disallowed_types)] // lookups only: iteration order is never observed
pub struct RedisStringModel {
    /// Shared with the reader, so APPEND's new strings get numbers too.
    pub interner: RefCell<Interner>,
    /// APPEND's result for each (value, suffix) met so far: the search tries an APPEND in the
    /// same state many times, and an append key's string grows with the history.
    appended: RefCell<std::collections::HashMap<(Option<Text>, Text), Text, FastHash>>,
}

impl RedisStringModel {
    /// Forgets every string (as a new model would have none), keeping the memory, so one
    /// model can check key after key without growing its tables from nothing each time.
    pub fn clear(&mut self) {
        self.interner.get_mut().clear();
        self.appended.get_mut().clear();
    }

    fn append(&self, s: Option<Text>, suffix: Text) -> Text {
        *self
            .appended
            .borrow_mut()
            .entry((s, suffix))
            .or_insert_with(|| self.interner.borrow_mut().concat(s, suffix))
    }

    /// INCR's outcome on `s`. (t_string.c: incrDecrCommand)
    fn incr(&self, s: Option<Text>) -> Result<i64, KeyOutput> {
        match s {
            None => Ok(1),
            Some(Text::Int(n)) => n.checked_add(1).ok_or(KeyOutput::Overflow),
            Some(Text::Str(_)) => Err(KeyOutput::NotInteger),
        }
    }

    fn describe_text(&self, t: Option<Text>) -> String {
        t.map_or("nil".into(), |t| {
            format!("{:?}", self.interner.borrow().string(t))
        })
    }
}

impl Model for RedisStringModel {
    type State = Option<Text>;
    type Input = KeyInput;
    type Output = KeyOutput;
    fn init(&self) -> Option<Text> {
        None
    }
    fn step(&self, s: &Option<Text>, i: &KeyInput, o: &KeyOutput) -> Option<Option<Text>> {
        use KeyInput as I;
        use KeyOutput as O;
        match (i, o) {
            (I::Get, O::Value(v)) => (v == s).then_some(*s),
            (I::Get, O::Unknown) => Some(*s),
            (I::Set(v), O::Done | O::Unknown) => Some(Some(*v)),
            (I::Del, O::Done | O::Unknown) => Some(None),
            (I::Append(v), O::Done | O::Unknown) => Some(Some(self.append(*s, *v))),
            (I::Incr, O::Int(n)) => (self.incr(*s) == Ok(*n)).then_some(Some(Text::Int(*n))),
            (I::Incr, O::NotInteger | O::Overflow) => (self.incr(*s) == Err(*o)).then_some(*s),
            (I::Incr, O::Unknown) => Some(self.incr(*s).map_or(*s, |n| Some(Text::Int(n)))),
            (I::Cas(expected, new), O::Done) => (s == expected).then_some(Some(*new)),
            (I::Cas(expected, _), O::CasMismatch) => (s != expected).then_some(*s),
            (I::Cas(expected, new), O::Unknown) => {
                Some(if s == expected { Some(*new) } else { *s })
            }
            _ => None,
        }
    }
    fn describe(&self, i: &KeyInput, o: &KeyOutput) -> String {
        let result = match o {
            KeyOutput::Value(v) => self.describe_text(*v),
            KeyOutput::Done => "OK".into(),
            KeyOutput::Int(n) => n.to_string(),
            KeyOutput::NotInteger => "ERR value is not an integer or out of range".into(),
            KeyOutput::Overflow => "ERR increment or decrement would overflow".into(),
            KeyOutput::CasMismatch => "no match".into(),
            KeyOutput::Unknown => "?".into(),
        };
        let command = match i {
            KeyInput::Get => "GET".to_string(),
            KeyInput::Set(v) => format!("SET {}", self.describe_text(Some(*v))),
            KeyInput::Del => "DEL".into(),
            KeyInput::Incr => "INCR".into(),
            KeyInput::Append(v) => format!("APPEND {}", self.describe_text(Some(*v))),
            KeyInput::Cas(e, n) => format!(
                "CAS {} -> {}",
                self.describe_text(*e),
                self.describe_text(Some(*n))
            ),
        };
        format!("{command} -> {result}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_mixes_families_as_redis_allows() {
        let m = RedisStringModel::default();
        let five = m.interner.borrow_mut().text("5");
        let x = m.interner.borrow_mut().text("x");
        let s = m
            .step(&None, &KeyInput::Set(five), &KeyOutput::Done)
            .unwrap();
        let s = m.step(&s, &KeyInput::Incr, &KeyOutput::Int(6)).unwrap();
        assert_eq!(s, Some(Text::Int(6)));
        assert_eq!(m.step(&s, &KeyInput::Incr, &KeyOutput::Int(8)), None);
        let s = m.step(&s, &KeyInput::Append(x), &KeyOutput::Done).unwrap();
        let read = m.interner.borrow_mut().text("6x");
        assert_eq!(s, Some(read), "APPEND result interned like a read value");
        assert_eq!(m.step(&s, &KeyInput::Incr, &KeyOutput::NotInteger), Some(s));
        assert_eq!(m.step(&s, &KeyInput::Incr, &KeyOutput::Int(7)), None);
        let max = Some(Text::Int(i64::MAX));
        assert_eq!(
            m.step(&max, &KeyInput::Incr, &KeyOutput::Overflow),
            Some(max)
        );
        assert_eq!(m.step(&None, &KeyInput::Incr, &KeyOutput::NotInteger), None);
    }

    #[test]
    fn cas_swaps_only_on_a_match() {
        let m = RedisStringModel::default();
        let (a, b) = (Text::Int(1), Text::Int(2));
        let cas = KeyInput::Cas(Some(a), b);
        assert_eq!(m.step(&Some(a), &cas, &KeyOutput::Done), Some(Some(b)));
        assert_eq!(m.step(&Some(b), &cas, &KeyOutput::Done), None);
        assert_eq!(
            m.step(&Some(b), &cas, &KeyOutput::CasMismatch),
            Some(Some(b))
        );
        assert_eq!(m.step(&Some(a), &cas, &KeyOutput::CasMismatch), None);
        assert_eq!(m.step(&Some(a), &cas, &KeyOutput::Unknown), Some(Some(b)));
    }
}

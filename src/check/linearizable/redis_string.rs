//! A Redis string key as a sequential object: absent, or a string that INCR reads as an
//! integer when it is one. One key may mix families as Redis allows (`SET k 5`, then
//! `INCR k` answers 6; `APPEND k x` makes it "6x", and INCR then fails).
//!
//! Strings are interned to numbers and a string that Redis would parse as an integer is kept
//! as that integer, so a state is two words and equal strings compare equal whichever command
//! made them.

use std::cell::RefCell;
use std::rc::Rc;

use super::model::Model;
use super::search::FastHash;

/// A string value in canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Text {
    /// A string that `string2ll` accepts.
    Int(i64),
    /// Any other string, by its interned number.
    Str(u32),
}

/// The integer a string holds, exactly as Redis parses it: no sign `+`, no leading zeros, no
/// spaces, at most 20 characters, within 64 bits. (util.c: string2ll)
pub fn parse_redis_integer(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || s.len() >= 21 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rejects "+1", "01", "-0": exactly the strings string2ll refuses beyond the range check.
    if digits.starts_with('0') && (digits.len() > 1 || digits.len() < s.len()) {
        return None;
    }
    s.parse().ok()
}

/// Interns strings; a model and the reader that built its operations share one. The index is
/// hashed (a history's values are many and alike in their first bytes); only lookups use it,
/// numbers are handed out in the order strings first appear.
#[derive(Debug, Default)]
#[allow(clippy::disallowed_types)] // lookups only: iteration order is never observed
pub struct Interner {
    index: std::collections::HashMap<Rc<str>, u32, FastHash>,
    strings: Vec<Rc<str>>,
}

impl Interner {
    /// The canonical form of `s`, interning it if new.
    pub fn text(&mut self, s: &str) -> Text {
        if let Some(n) = parse_redis_integer(s) {
            return Text::Int(n);
        }
        if let Some(&i) = self.index.get(s) {
            return Text::Str(i);
        }
        let rc: Rc<str> = Rc::from(s);
        let i = self.strings.len() as u32;
        self.strings.push(rc.clone());
        self.index.insert(rc, i);
        Text::Str(i)
    }

    /// The canonical form of `head` (`None`: absent) followed by `suffix`.
    fn concat(&mut self, head: Option<Text>, suffix: Text) -> Text {
        let mut joined = String::new();
        for t in head.into_iter().chain([suffix]) {
            match t {
                Text::Int(n) => joined.push_str(&n.to_string()),
                Text::Str(i) => joined.push_str(&self.strings[i as usize]),
            }
        }
        self.text(&joined)
    }

    /// The string a canonical value stands for.
    pub fn string(&self, t: Text) -> String {
        match t {
            Text::Int(n) => n.to_string(),
            Text::Str(i) => self.strings[i as usize].to_string(),
        }
    }
}

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
    fn integers_parse_as_string2ll_does() {
        assert_eq!(parse_redis_integer("5"), Some(5));
        assert_eq!(parse_redis_integer("-12"), Some(-12));
        assert_eq!(parse_redis_integer("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "+1",
            "01",
            "-0",
            " 1",
            "1 ",
            "9223372036854775808",
            "1.0",
            "x",
        ] {
            assert_eq!(parse_redis_integer(bad), None, "{bad:?}");
        }
    }

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

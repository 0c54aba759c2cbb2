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

/// A command on one key, its values interned ([`Text`]) or borrowed ([`Val`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyInput<V = Text> {
    /// GET.
    Get,
    /// SET value.
    Set(V),
    /// DEL.
    Del,
    /// INCR.
    Incr,
    /// APPEND suffix.
    Append(V),
    /// Compare-and-set (simkv's `cas`): if the value is `expected` (`None`: absent), set `new`.
    Cas(Option<V>, V),
}

/// What a command answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutput<V = Text> {
    /// GET's value (`None`: nil).
    Value(Option<V>),
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

    fn describe_text(&self, t: Option<Text>) -> String {
        t.map_or("nil".into(), |t| {
            format!("{:?}", self.interner.borrow().string(t))
        })
    }
}

/// A value in the canonical form of [`Text`], borrowed: a string Redis reads as an integer is
/// that integer, any other string is itself, compared by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Val<'a> {
    /// A string that `string2ll` accepts.
    Int(i64),
    /// Any other string.
    Str(&'a str),
}

/// A value's integer, when it is one: what INCR needs to know.
pub trait Canonical: Copy + Eq {
    /// The integer (`None`: a string INCR refuses).
    fn int(self) -> Option<i64>;
    /// The value of an integer.
    fn of_int(n: i64) -> Self;
}

impl Canonical for Text {
    fn int(self) -> Option<i64> {
        match self {
            Text::Int(n) => Some(n),
            Text::Str(_) => None,
        }
    }
    fn of_int(n: i64) -> Self {
        Text::Int(n)
    }
}

impl Canonical for Val<'_> {
    fn int(self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(n),
            Val::Str(_) => None,
        }
    }
    fn of_int(n: i64) -> Self {
        Val::Int(n)
    }
}

/// INCR's outcome on `s`. (t_string.c: incrDecrCommand)
fn incr<V: Canonical>(s: Option<V>) -> Result<i64, KeyOutput<V>> {
    match s {
        None => Ok(1),
        Some(v) => match v.int() {
            Some(n) => n.checked_add(1).ok_or(KeyOutput::Overflow),
            None => Err(KeyOutput::NotInteger),
        },
    }
}

/// The state after a command in state `s`, or `None` when its answer is impossible there;
/// `append` makes APPEND's string. The one definition of the model's rules, whatever form its
/// values take.
#[inline]
fn step<V: Canonical>(
    s: &Option<V>,
    i: &KeyInput<V>,
    o: &KeyOutput<V>,
    append: impl FnOnce(Option<V>, V) -> V,
) -> Option<Option<V>> {
    use KeyInput as I;
    use KeyOutput as O;
    match (i, o) {
        (I::Get, O::Value(v)) => (v == s).then_some(*s),
        (I::Get, O::Unknown) => Some(*s),
        (I::Set(v), O::Done | O::Unknown) => Some(Some(*v)),
        (I::Del, O::Done | O::Unknown) => Some(None),
        (I::Append(v), O::Done | O::Unknown) => Some(Some(append(*s, *v))),
        (I::Incr, O::Int(n)) => (incr(*s) == Ok(*n)).then_some(Some(V::of_int(*n))),
        (I::Incr, O::NotInteger | O::Overflow) => (incr(*s) == Err(*o)).then_some(*s),
        (I::Incr, O::Unknown) => Some(incr(*s).map_or(*s, |n| Some(V::of_int(n)))),
        (I::Cas(expected, new), O::Done) => (s == expected).then_some(Some(*new)),
        (I::Cas(expected, _), O::CasMismatch) => (s != expected).then_some(*s),
        (I::Cas(expected, new), O::Unknown) => Some(if s == expected { Some(*new) } else { *s }),
        _ => None,
    }
}

/// Whether a command changes nothing wherever its answer is possible: GET, a refused INCR, a
/// cas that did not match or that sets the value it expects.
fn keeps_state<V: PartialEq>(i: &KeyInput<V>, o: &KeyOutput<V>) -> bool {
    use KeyInput as I;
    use KeyOutput as O;
    match (i, o) {
        (I::Get, _) | (I::Incr, O::NotInteger | O::Overflow) | (I::Cas(..), O::CasMismatch) => true,
        (I::Cas(Some(expected), new), _) => expected == new,
        _ => false,
    }
}

/// The model over borrowed values, for keys without APPEND (it has no string to make one
/// with: an APPEND is refused, and such a key is left to [`RedisStringModel`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct BorrowedModel<'a>(std::marker::PhantomData<&'a str>);

impl<'a> Model for BorrowedModel<'a> {
    type State = Option<Val<'a>>;
    type Input = KeyInput<Val<'a>>;
    type Output = KeyOutput<Val<'a>>;
    fn init(&self) -> Option<Val<'a>> {
        None
    }
    #[inline]
    fn step(
        &self,
        s: &Option<Val<'a>>,
        i: &KeyInput<Val<'a>>,
        o: &KeyOutput<Val<'a>>,
    ) -> Option<Option<Val<'a>>> {
        if let KeyInput::Append(_) = i {
            return None;
        }
        step(s, i, o, |_, v| v)
    }
    fn keeps_state(&self, i: &KeyInput<Val<'a>>, o: &KeyOutput<Val<'a>>) -> bool {
        keeps_state(i, o)
    }
    fn describe(&self, i: &KeyInput<Val<'a>>, o: &KeyOutput<Val<'a>>) -> String {
        format!("{i:?} -> {o:?}")
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
        step(s, i, o, |s, v| self.append(s, v))
    }
    fn keeps_state(&self, i: &KeyInput, o: &KeyOutput) -> bool {
        keeps_state(i, o)
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

//! Sequential specifications the search checks histories against.

/// A sequential object: its initial state and which (input, output) pairs are legal in a state.
pub trait Model {
    /// The object's state.
    type State;
    /// An operation's input.
    type Input: PartialEq;
    /// An operation's output.
    type Output: PartialEq;
    /// The initial state.
    fn init(&self) -> Self::State;
    /// The state after the operation, or `None` when the output is impossible in `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;
    /// The operation in words, for counterexample timelines.
    fn describe(&self, input: &Self::Input, output: &Self::Output) -> String;
    /// Whether the operation leaves the state as it was in every state that accepts it (a
    /// read): the search then takes it as soon as it is accepted and tries nothing else in its
    /// place. `false` is always safe.
    fn keeps_state(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }
}

/// A register's input: values are interned to small integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterInput {
    /// Read the value.
    Read,
    /// Write a value.
    Write(u32),
    /// Compare-and-set (etcd's cas): if the value is `from`, set it to `to`.
    Cas(u32, u32),
    /// Delete the key (`DEL`): the register becomes absent.
    Delete,
}

/// A register's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOutput {
    /// The value read (`None`: absent).
    Value(Option<u32>),
    /// A write or delete completed.
    Done,
    /// The cas succeeded.
    CasOk,
    /// The cas ran and did not match.
    CasFail,
    /// Unknown (timed out): any effect or none.
    Unknown,
}

/// A single register with read, write, cas and delete: Porcupine's etcd model and Knossos's
/// `register`/`cas-register`. It starts at `initial` (`None`: absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel {
    /// The interned initial value.
    pub initial: Option<u32>,
}

impl Model for RegisterModel {
    type State = Option<u32>;
    type Input = RegisterInput;
    type Output = RegisterOutput;
    fn init(&self) -> Option<u32> {
        self.initial
    }
    fn describe(&self, i: &RegisterInput, o: &RegisterOutput) -> String {
        format!("{i:?} -> {o:?}")
    }
    fn keeps_state(&self, i: &RegisterInput, o: &RegisterOutput) -> bool {
        register_keeps_state(i, o)
    }
    fn step(&self, s: &Option<u32>, i: &RegisterInput, o: &RegisterOutput) -> Option<Option<u32>> {
        use RegisterInput as I;
        use RegisterOutput as O;
        match (i, o) {
            (I::Read, O::Value(v)) => (v == s).then_some(*s),
            (I::Read, O::Unknown) => Some(*s),
            (I::Write(v), O::Done | O::Unknown) => Some(Some(*v)),
            (I::Delete, O::Done | O::Unknown) => Some(None),
            (I::Cas(from, to), O::CasOk) => (*s == Some(*from)).then_some(Some(*to)),
            (I::Cas(from, _), O::CasFail) => (*s != Some(*from)).then_some(*s),
            (I::Cas(from, to), O::Unknown) => Some(if *s == Some(*from) { Some(*to) } else { *s }),
            _ => None,
        }
    }
}

/// Whether a register operation changes nothing wherever it is accepted: a read, a cas that
/// did not match, a cas to the value it expects.
pub(super) fn register_keeps_state(i: &RegisterInput, o: &RegisterOutput) -> bool {
    match (i, o) {
        (RegisterInput::Read, _) | (RegisterInput::Cas(..), RegisterOutput::CasFail) => true,
        (RegisterInput::Cas(from, to), _) => from == to,
        _ => false,
    }
}

/// A string key with get, put and append, starting empty: Porcupine's kv model.
pub struct StringModel;

/// A string key's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringInput {
    /// Read.
    Get,
    /// Overwrite.
    Put(String),
    /// Concatenate.
    Append(String),
}

/// A string key's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringOutput {
    /// The value read.
    Value(String),
    /// A write completed.
    Done,
    /// Unknown.
    Unknown,
}

impl Model for StringModel {
    /// Shared, so that the search's many copies of a state cost a reference count, not a copy.
    type State = std::rc::Rc<str>;
    type Input = StringInput;
    type Output = StringOutput;
    fn init(&self) -> std::rc::Rc<str> {
        std::rc::Rc::from("")
    }
    fn describe(&self, i: &StringInput, o: &StringOutput) -> String {
        let result = match o {
            StringOutput::Value(v) => format!("{v:?}"),
            StringOutput::Done => "OK".into(),
            StringOutput::Unknown => "?".into(),
        };
        match i {
            StringInput::Get => format!("GET -> {result}"),
            StringInput::Put(v) => format!("PUT {v:?} -> {result}"),
            StringInput::Append(v) => format!("APPEND {v:?} -> {result}"),
        }
    }
    fn keeps_state(&self, i: &StringInput, _: &StringOutput) -> bool {
        *i == StringInput::Get
    }
    fn step(
        &self,
        s: &std::rc::Rc<str>,
        i: &StringInput,
        o: &StringOutput,
    ) -> Option<std::rc::Rc<str>> {
        match (i, o) {
            (StringInput::Get, StringOutput::Value(v)) => (v.as_str() == &**s).then(|| s.clone()),
            (StringInput::Get, StringOutput::Unknown) => Some(s.clone()),
            (StringInput::Put(v), _) => Some(std::rc::Rc::from(v.as_str())),
            (StringInput::Append(v), _) => {
                // Joined by hand: the formatting machinery cost more than the copy.
                let mut joined = String::with_capacity(s.len() + v.len());
                joined.push_str(s);
                joined.push_str(v);
                Some(std::rc::Rc::from(joined))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_rules() {
        let m = RegisterModel::default();
        assert_eq!(
            m.step(&None, &RegisterInput::Read, &RegisterOutput::Value(None)),
            Some(None)
        );
        assert_eq!(
            m.step(&Some(1), &RegisterInput::Read, &RegisterOutput::Value(None)),
            None
        );
        assert_eq!(
            m.step(&Some(1), &RegisterInput::Cas(1, 2), &RegisterOutput::CasOk),
            Some(Some(2))
        );
        assert_eq!(
            m.step(
                &Some(1),
                &RegisterInput::Cas(1, 2),
                &RegisterOutput::CasFail
            ),
            None
        );
        assert_eq!(
            m.step(
                &Some(3),
                &RegisterInput::Cas(1, 2),
                &RegisterOutput::Unknown
            ),
            Some(Some(3))
        );
        assert_eq!(
            m.step(&Some(3), &RegisterInput::Delete, &RegisterOutput::Done),
            Some(None)
        );
    }

    #[test]
    fn string_rules() {
        let m = StringModel;
        let s = m.step(
            &std::rc::Rc::from("a"),
            &StringInput::Append("b".into()),
            &StringOutput::Done,
        );
        assert_eq!(s.as_deref(), Some("ab"));
        assert!(
            m.step(
                &std::rc::Rc::from("a"),
                &StringInput::Get,
                &StringOutput::Value("b".into())
            )
            .is_none()
        );
    }
}

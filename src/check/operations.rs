//! The operations every checker reads: the history paired once, borrowed from its events (no
//! string or value is copied), with an index of each key's operations in history order.

use super::linearizable::FastHash;
use crate::history::{History, Operation};

/// A history's operations and the per-key index, built once per run and shared by the checkers.
pub struct Operations<'a> {
    all: Vec<Operation<'a>>,
    /// Each key with its operations' indices, in key order.
    by_key: Vec<(&'a str, Vec<u32>)>,
}

impl<'a> Operations<'a> {
    /// Pairs `history`'s events and indexes the operations by key.
    #[allow(clippy::disallowed_types)] // lookups only: the keys are sorted before use
    pub fn of(history: &'a History) -> Self {
        let all = history.operations();
        let mut slot: std::collections::HashMap<&'a str, usize, FastHash> = Default::default();
        let mut keys: Vec<(&'a str, Vec<u32>)> = Vec::new();
        for (i, op) in all.iter().enumerate() {
            let k = *slot.entry(op.key).or_insert_with(|| {
                keys.push((op.key, Vec::new()));
                keys.len() - 1
            });
            keys[k].1.push(i as u32);
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Operations { all, by_key: keys }
    }

    /// Every operation, in invoke order.
    pub fn all(&self) -> &[Operation<'a>] {
        &self.all
    }

    /// Each key (in key order) with its operations (in invoke order).
    pub fn by_key(&self) -> impl Iterator<Item = (&'a str, KeyOperations<'_, 'a>)> {
        self.by_key.iter().map(|(key, indices)| {
            (
                *key,
                KeyOperations {
                    all: &self.all,
                    indices,
                },
            )
        })
    }
}

/// One key's operations, in invoke order.
#[derive(Clone, Copy)]
pub struct KeyOperations<'o, 'a> {
    all: &'o [Operation<'a>],
    indices: &'o [u32],
}

impl<'o, 'a> KeyOperations<'o, 'a> {
    /// The operations.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = &'o Operation<'a>> + 'o {
        let all = self.all;
        self.indices.iter().map(move |&i| &all[i as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, HistoryEvent};

    fn ev(process: u32, kind: EventType, key: &str, t: u64) -> HistoryEvent {
        HistoryEvent {
            process,
            kind,
            f: "set".into(),
            key: key.into(),
            value: crate::history::Value::Null,
            time_ns: t,
            server: None,
            error: None,
            position: None,
        }
    }

    #[test]
    fn keys_list_their_operations_in_invoke_order() {
        let h = History::merge(vec![
            ev(1, EventType::Invoke, "b", 1),
            ev(2, EventType::Invoke, "a", 2),
            ev(1, EventType::Ok, "b", 3),
            ev(1, EventType::Invoke, "a", 4),
        ]);
        let ops = Operations::of(&h);
        assert_eq!(ops.all().len(), 3);
        let keys: Vec<(&str, Vec<u64>)> = ops
            .by_key()
            .map(|(k, o)| (k, o.iter().map(|o| o.invoke_ns).collect()))
            .collect();
        assert_eq!(keys, vec![("a", vec![2, 4]), ("b", vec![1])]);
    }
}

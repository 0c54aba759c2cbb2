//! The operations every checker reads: the history paired once, each operation held as the
//! positions of its invoke and completion events (8 bytes, not a copy of its fields), with an
//! index of each key's operations in history order. A checker reads an operation as an
//! [`Operation`] made when it asks, borrowing the events' strings and values.

use super::linearizable::FastHash;
use crate::history::{EventType, History, HistoryEvent, Operation};

/// A completion position for an operation that never completed.
const OPEN: u32 = u32::MAX;

/// A history's operations and the per-key index, built once per run and shared by the checkers.
pub struct Operations<'a> {
    events: &'a [HistoryEvent],
    /// Each operation's invoke and completion events (`OPEN`: none), in invoke order.
    pairs: Vec<(u32, u32)>,
    /// Each key with its operations' indices, in key order.
    by_key: Vec<(&'a str, Vec<u32>)>,
    /// Each operation's key, as its position in `by_key`.
    key_of: Vec<u32>,
}

/// Operations gathered per pass over the history in [`Operations::for_each_key`]: the views
/// of one batch of keys are held together (96 bytes each), so this bounds that memory.
pub const BATCH_OPERATIONS: usize = 1 << 19;

impl<'a> Operations<'a> {
    /// Pairs `history`'s events as [`History::operations`] does (each invoke with the next
    /// completion of its process) and indexes the operations by key.
    #[allow(clippy::disallowed_types)] // lookups only: the keys are sorted before use
    pub fn of(history: &'a History) -> Self {
        let events = history.events.as_slice();
        assert!(
            events.len() < OPEN as usize,
            "a history has fewer than 2^32 - 1 events"
        );
        let mut open: std::collections::HashMap<u32, usize, FastHash> = Default::default();
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(events.len() / 2 + 1);
        let mut slot: std::collections::HashMap<&'a str, usize, FastHash> = Default::default();
        let mut keys: Vec<(&'a str, Vec<u32>)> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            if e.kind != EventType::Invoke {
                if let Some(op) = open.remove(&e.process) {
                    pairs[op].1 = i as u32;
                }
                continue;
            }
            open.insert(e.process, pairs.len());
            let k = *slot.entry(&e.key).or_insert_with(|| {
                keys.push((&e.key, Vec::new()));
                keys.len() - 1
            });
            keys[k].1.push(pairs.len() as u32);
            pairs.push((i as u32, OPEN));
        }
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| keys[a as usize].0.cmp(keys[b as usize].0));
        let mut rank = vec![0u32; keys.len()];
        for (r, &k) in order.iter().enumerate() {
            rank[k as usize] = r as u32;
        }
        let mut key_of = vec![0u32; pairs.len()];
        for (k, (_, indices)) in keys.iter().enumerate() {
            for &i in indices {
                key_of[i as usize] = rank[k];
            }
        }
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Operations {
            events,
            pairs,
            by_key: keys,
            key_of,
        }
    }

    /// How many keys there are.
    pub fn keys(&self) -> usize {
        self.by_key.len()
    }

    /// For each key (in key order), how many of its operations `counted` accepts, reading the
    /// operations in history order.
    pub fn count_by_key(&self, counted: impl Fn(&Operation<'a>) -> bool) -> Vec<usize> {
        let mut counts = vec![0; self.by_key.len()];
        for (op, &k) in self.all().zip(&self.key_of) {
            if counted(&op) {
                counts[k as usize] += 1;
            }
        }
        counts
    }

    /// Calls `each` with the keys numbered in `order` (positions in key order), in that order,
    /// each with its name and operations (in invoke order), until `each` fails.
    ///
    /// A key's operations are spread over the whole history, so reading them key by key
    /// visits a long history at random, one cache miss (or worse) per operation. Instead the
    /// keys are taken in batches of about [`BATCH_OPERATIONS`] operations, and each batch is
    /// gathered in one pass over the history in order.
    pub fn for_each_key<E>(
        &self,
        order: &[u32],
        each: impl FnMut(&'a str, Vec<Operation<'a>>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.for_each_key_in_batches(order, BATCH_OPERATIONS, each)
    }

    /// [`Operations::for_each_key`] with batches of about `batch` operations.
    fn for_each_key_in_batches<E>(
        &self,
        order: &[u32],
        batch: usize,
        mut each: impl FnMut(&'a str, Vec<Operation<'a>>) -> Result<(), E>,
    ) -> Result<(), E> {
        const OUT: u32 = u32::MAX;
        let mut slot = vec![OUT; self.by_key.len()];
        let mut rest = order;
        while !rest.is_empty() {
            let (mut n, mut ops) = (0, 0);
            while n < rest.len() && (n == 0 || ops + self.count(rest[n]) <= batch) {
                ops += self.count(rest[n]);
                n += 1;
            }
            let (batch, later) = rest.split_at(n);
            let mut gathered: Vec<Vec<Operation<'a>>> = batch
                .iter()
                .enumerate()
                .map(|(s, &k)| {
                    assert_eq!(slot[k as usize], OUT, "a key is named once");
                    slot[k as usize] = s as u32;
                    Vec::with_capacity(self.count(k))
                })
                .collect();
            for (&pair, &k) in self.pairs.iter().zip(&self.key_of) {
                let s = slot[k as usize];
                if s != OUT {
                    gathered[s as usize].push(operation(self.events, pair));
                }
            }
            for (&k, ops) in batch.iter().zip(gathered) {
                slot[k as usize] = OUT;
                each(self.by_key[k as usize].0, ops)?;
            }
            rest = later;
        }
        Ok(())
    }

    /// How many operations key `k` (a position in key order) has.
    fn count(&self, k: u32) -> usize {
        self.by_key[k as usize].1.len()
    }

    /// How many operations there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every operation, in invoke order.
    pub fn all(&self) -> impl ExactSizeIterator<Item = Operation<'a>> + '_ {
        self.pairs.iter().map(|&pair| operation(self.events, pair))
    }

    /// Each key (in key order) with its operations (in invoke order).
    pub fn by_key(&self) -> impl Iterator<Item = (&'a str, KeyOperations<'_, 'a>)> {
        self.by_key.iter().map(|(key, indices)| {
            (
                *key,
                KeyOperations {
                    events: self.events,
                    pairs: &self.pairs,
                    indices,
                },
            )
        })
    }
}

/// The operation of an invoke and its completion, as [`History::operations`] makes it.
fn operation(events: &[HistoryEvent], (invoke, completion): (u32, u32)) -> Operation<'_> {
    let e = &events[invoke as usize];
    let mut op = Operation {
        process: e.process,
        f: &e.f,
        key: &e.key,
        input: &e.value,
        output: None,
        outcome: EventType::Info,
        invoke_ns: e.time_ns,
        complete_ns: u64::MAX,
        server: None,
        position: None,
    };
    if completion != OPEN {
        let c = &events[completion as usize];
        op.outcome = c.kind;
        op.output = Some(&c.value);
        if c.kind != EventType::Info {
            op.complete_ns = c.time_ns;
        }
        op.server = c.server.as_deref();
        op.position = c.position.as_ref();
    }
    op
}

/// One key's operations, in invoke order.
#[derive(Clone, Copy)]
pub struct KeyOperations<'o, 'a> {
    events: &'a [HistoryEvent],
    pairs: &'o [(u32, u32)],
    indices: &'o [u32],
}

impl<'o, 'a> KeyOperations<'o, 'a> {
    /// The operations.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = Operation<'a>> + 'o
    where
        'a: 'o,
    {
        let (events, pairs) = (self.events, self.pairs);
        self.indices
            .iter()
            .map(move |&i| operation(events, pairs[i as usize]))
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
        assert_eq!(ops.len(), 3);
        let keys: Vec<(&str, Vec<u64>)> = ops
            .by_key()
            .map(|(k, o)| (k, o.iter().map(|o| o.invoke_ns).collect()))
            .collect();
        assert_eq!(keys, vec![("a", vec![2, 4]), ("b", vec![1])]);
    }

    #[test]
    fn operations_are_the_history_s_own_pairing() {
        // Processes that invoke twice without completing, complete without invoking, and
        // operations left open, info or failed: every case of the pairing.
        let mut rng = 11u64;
        let mut next = move |n: u64| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) % n
        };
        let kinds = [
            EventType::Invoke,
            EventType::Invoke,
            EventType::Ok,
            EventType::Fail,
            EventType::Info,
        ];
        for round in 0..100 {
            let events: Vec<HistoryEvent> = (0..next(60))
                .map(|t| {
                    let key = ["a", "b", "c"][next(3) as usize];
                    let mut e = ev(next(4) as u32, kinds[next(5) as usize], key, t);
                    e.server = (next(2) == 0).then(|| "p1".into());
                    e
                })
                .collect();
            let h = History::merge(events);
            let ops = Operations::of(&h);
            let expected = h.operations();
            assert_eq!(ops.all().collect::<Vec<_>>(), expected, "round {round}");
            for (key, key_ops) in ops.by_key() {
                let mine: Vec<Operation<'_>> =
                    expected.iter().filter(|o| o.key == key).copied().collect();
                assert_eq!(key_ops.iter().collect::<Vec<_>>(), mine, "round {round}");
            }
            // Any order of the keys, in batches of any size, gives each key its operations.
            let mut order: Vec<u32> = (0..ops.keys() as u32).rev().collect();
            let turn = next(order.len() as u64 + 1) as usize % order.len().max(1);
            order.rotate_left(turn);
            for batch in [1, 3, 1000] {
                let mut seen = Vec::new();
                let done = ops.for_each_key_in_batches(&order, batch, |key, key_ops| {
                    let mine: Vec<Operation<'_>> =
                        expected.iter().filter(|o| o.key == key).copied().collect();
                    assert_eq!(key_ops, mine, "round {round}, batch {batch}");
                    seen.push(key);
                    if key == "c" && batch == 3 {
                        Err(key)
                    } else {
                        Ok(())
                    }
                });
                let names: Vec<&str> = ops.by_key().map(|(k, _)| k).collect();
                let wanted: Vec<&str> = order.iter().map(|&k| names[k as usize]).collect();
                match done {
                    Err(stop) => assert_eq!(
                        seen,
                        wanted[..=wanted.iter().position(|k| *k == stop).unwrap()]
                    ),
                    Ok(()) => assert_eq!(seen, wanted, "round {round}, batch {batch}"),
                }
            }
            let counts = ops.count_by_key(|o| o.outcome == EventType::Ok);
            let wanted: Vec<usize> = ops
                .by_key()
                .map(|(_, o)| o.iter().filter(|o| o.outcome == EventType::Ok).count())
                .collect();
            assert_eq!(counts, wanted, "round {round}");
        }
    }
}

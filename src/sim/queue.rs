//! The event queue: a radix heap of 16-byte keys that hands out events in `(time, sequence)`
//! order.
//!
//! A key packs the due time into its high 64 bits and `sequence << SLOT_BITS | slot` into its low
//! 64 bits, so comparing keys as `u128` is the `(time, sequence)` total order and the slot never
//! decides an order. Payloads stay in the kernel's slab: the queue moves only keys.
//!
//! A radix heap works because simulated time never goes backwards: every key pushed is due no
//! earlier than the last one popped (`floor`). Bucket 0 holds the keys due exactly at `floor`, in
//! the order they were pushed; the other buckets are numbered by the byte (level) at which a
//! key's time first differs from `floor` and the time's value in that byte, so a lower bucket
//! only holds earlier times. When bucket 0 runs dry, the lowest non-empty bucket is split again
//! around its earliest time, in order. A push is O(1) and a key moves at most once per byte of
//! its distance from `floor` (twice for a millisecond). A bucket whose keys are all due at one
//! time (a single key, or any level-0 bucket: the time's every other byte is `floor`'s) becomes
//! bucket 0 whole, without a split.
//!
//! Why the order is exact: a key's bucket is a function of its time and `floor` alone, so all
//! keys due at the same time always sit in the same bucket, in push order (a push appends; a split
//! moves a whole bucket in order). Push order is sequence order, so bucket 0 is in
//! `(time, sequence)` order. Every pop asserts it.

/// Bits of a key's low word that hold the slab slot.
pub const SLOT_BITS: u32 = 26;
/// The most slab slots the queue can address.
pub const MAX_SLOTS: usize = 1 << SLOT_BITS;
/// The largest sequence number a key can hold (2^38 - 1: days of simulation at millions of
/// events per second).
pub const MAX_SEQUENCE: u64 = (1 << (64 - SLOT_BITS)) - 1;

/// One queued event: due time, sequence number and payload slot in 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(u128);

impl Key {
    /// The key of an event due at `time_ns` with sequence number `seq`, stored in `slot`.
    #[inline]
    pub fn new(time_ns: u64, seq: u64, slot: u32) -> Key {
        assert!(seq <= MAX_SEQUENCE, "sequence numbers fit in a key");
        debug_assert!((slot as usize) < MAX_SLOTS, "slots fit in a key");
        Key(u128::from(time_ns) << 64 | u128::from(seq << SLOT_BITS | u64::from(slot)))
    }
    /// When the event is due, in nanoseconds.
    #[inline]
    pub fn time_ns(self) -> u64 {
        (self.0 >> 64) as u64
    }
    /// The event's sequence number (its rank among events due at the same time).
    #[inline]
    pub fn seq(self) -> u64 {
        (self.0 as u64) >> SLOT_BITS
    }
    /// The slab slot holding the event's payload.
    #[inline]
    pub fn slot(self) -> u32 {
        (self.0 as u64 & (MAX_SLOTS as u64 - 1)) as u32
    }
}

/// Bits of a time per level: a bucket per value of one byte.
const DIGIT_BITS: u32 = 8;
/// Buckets per level.
const DIGITS: usize = 1 << DIGIT_BITS;
/// Buckets: one for keys due at `floor`, then 256 per byte of a 64-bit time.
const BUCKETS: usize = 1 + DIGITS * (64 / DIGIT_BITS) as usize;
/// Words of the occupancy bitmap (one bit per bucket above 0).
const WORDS: usize = (BUCKETS - 1) / 64;

/// The bucket of a key due at `time` when every key is due no earlier than `floor`.
#[inline]
fn bucket_of(time: u64, floor: u64) -> usize {
    let differ = time ^ floor;
    if differ == 0 {
        return 0;
    }
    let level = (63 - differ.leading_zeros()) / DIGIT_BITS;
    let digit = (time >> (DIGIT_BITS * level)) & (DIGITS as u64 - 1);
    1 + level as usize * DIGITS + digit as usize
}

/// Whether bucket `b > 0` is of level 0 (its keys all differ from `floor` in the lowest byte only,
/// and share their value there: they are due at one time).
#[inline]
fn single_time(b: usize) -> bool {
    b <= DIGITS
}

/// A radix heap of keys (see the module header).
#[derive(Debug)]
pub struct EventQueue {
    buckets: Vec<Vec<Key>>,
    /// Keys of bucket 0 already popped (it is a FIFO consumed from the front).
    head: usize,
    /// Bit `b - 1` (of `WORDS` words) is set when bucket `b > 0` is non-empty.
    occupied: [u64; WORDS],
    /// Bit `w` is set when word `w` of `occupied` is non-zero.
    summary: u32,
    /// Every queued key is due no earlier than this time.
    floor: u64,
    len: usize,
}

impl Default for EventQueue {
    fn default() -> Self {
        EventQueue {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            head: 0,
            occupied: [0; WORDS],
            summary: 0,
            floor: 0,
            len: 0,
        }
    }
}

impl EventQueue {
    /// Number of queued keys.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Every queued key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = Key> + '_ {
        let due = self.buckets[0][self.head..].iter();
        due.chain(self.buckets[1..].iter().flatten()).copied()
    }

    /// Adds a key due no earlier than the last key popped.
    #[inline]
    pub fn push(&mut self, key: Key) {
        let t = key.time_ns();
        assert!(
            t >= self.floor,
            "nothing is queued before the last event taken"
        );
        let b = bucket_of(t, self.floor);
        self.buckets[b].push(key);
        if b > 0 {
            self.mark(b);
        }
        self.len += 1;
    }

    /// The smallest key.
    pub fn peek(&self) -> Option<Key> {
        if let Some(&k) = self.buckets[0].get(self.head) {
            return Some(k);
        }
        let b = self.lowest_bucket()?;
        self.buckets[b].iter().copied().min()
    }

    /// Removes and returns the smallest key if it is due no later than `horizon_ns`.
    #[inline]
    pub fn pop_due(&mut self, horizon_ns: u64) -> Option<Key> {
        if self.head == self.buckets[0].len() {
            let b = self.lowest_bucket()?;
            let keys = &self.buckets[b];
            let first = keys[0].time_ns();
            let (earliest, latest) = if single_time(b) {
                (first, first)
            } else {
                keys[1..].iter().fold((first, first), |(lo, hi), k| {
                    let t = k.time_ns();
                    (lo.min(t), hi.max(t))
                })
            };
            if earliest > horizon_ns {
                return None;
            }
            if earliest == latest {
                // Every key of the bucket is due at one time (always so for a single key): it
                // becomes bucket 0 as it is, in push order.
                self.floor = earliest;
                self.unmark(b);
                self.buckets.swap(0, b);
            } else {
                self.split(b, earliest);
            }
        }
        let key = self.buckets[0][self.head];
        if key.time_ns() > horizon_ns {
            return None;
        }
        self.head += 1;
        if self.head == self.buckets[0].len() {
            self.buckets[0].clear();
            self.head = 0;
        }
        self.len -= 1;
        Some(key)
    }

    /// Marks bucket `b > 0` non-empty.
    #[inline]
    fn mark(&mut self, b: usize) {
        let w = (b - 1) / 64;
        self.occupied[w] |= 1 << ((b - 1) % 64);
        self.summary |= 1 << w;
    }

    /// Marks bucket `b > 0` empty.
    #[inline]
    fn unmark(&mut self, b: usize) {
        let w = (b - 1) / 64;
        self.occupied[w] &= !(1 << ((b - 1) % 64));
        if self.occupied[w] == 0 {
            self.summary &= !(1 << w);
        }
    }

    /// The lowest non-empty bucket above 0.
    #[inline]
    fn lowest_bucket(&self) -> Option<usize> {
        if self.summary == 0 {
            return None;
        }
        let word = self.summary.trailing_zeros() as usize;
        Some(1 + word * 64 + self.occupied[word].trailing_zeros() as usize)
    }

    /// Raises the floor to `earliest` (the earliest time in bucket `b`, bucket 0 being empty)
    /// and spreads bucket `b`'s keys, in order, over the buckets below it.
    fn split(&mut self, b: usize, earliest: u64) {
        debug_assert!(self.buckets[0].is_empty() && self.head == 0);
        self.floor = earliest;
        self.unmark(b);
        let (below, from) = self.buckets.split_at_mut(b);
        for &key in from[0].iter() {
            let to = bucket_of(key.time_ns(), earliest);
            debug_assert!(to < b, "a split moves keys to lower buckets");
            below[to].push(key);
            if to > 0 {
                let w = (to - 1) / 64;
                self.occupied[w] |= 1 << ((to - 1) % 64);
                self.summary |= 1 << w;
            }
        }
        from[0].clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    /// A small deterministic generator for the property test (no OS randomness).
    fn next(state: &mut u64) -> u64 {
        *state = crate::sim::splitmix64(*state);
        *state
    }

    #[test]
    fn key_round_trips_and_orders_by_time_then_sequence() {
        let k = Key::new(123, MAX_SEQUENCE, (MAX_SLOTS - 1) as u32);
        assert_eq!(
            (k.time_ns(), k.seq(), k.slot()),
            (123, MAX_SEQUENCE, (MAX_SLOTS - 1) as u32)
        );
        assert!(Key::new(5, 9, 0) < Key::new(6, 1, 0), "time first");
        assert!(
            Key::new(5, 1, MAX_SLOTS as u32 - 1) < Key::new(5, 2, 0),
            "then sequence, not slot"
        );
        assert_eq!(Key::new(u64::MAX, 7, 3).time_ns(), u64::MAX);
    }

    #[test]
    #[should_panic(expected = "sequence numbers fit")]
    fn sequence_overflow_is_caught() {
        Key::new(0, MAX_SEQUENCE + 1, 0);
    }

    #[test]
    fn same_order_as_a_binary_heap_under_mixed_operations() {
        let mut q = EventQueue::default();
        let mut reference: BinaryHeap<Reverse<Key>> = BinaryHeap::new();
        let (mut rng, mut seq, mut now) = (42u64, 0u64, 0u64);
        for step in 0..300_000u32 {
            let r = next(&mut rng);
            seq += 1;
            // Mostly near times with many ties (the sequence decides), sometimes far ones.
            let ahead = match r % 16 {
                0 => r >> 20,
                1 => r % 5_000,
                _ => r % 64,
            };
            let key = Key::new(now + ahead, seq, step % 1000);
            if r >> 62 == 0 {
                let horizon = now + (r >> 8) % 128;
                let popped = q.pop_due(horizon);
                let expected = match reference.peek() {
                    Some(Reverse(k)) if k.time_ns() <= horizon => reference.pop().map(|r| r.0),
                    _ => None,
                };
                assert_eq!(popped, expected);
                if let Some(p) = popped {
                    now = p.time_ns();
                }
            } else {
                q.push(key);
                reference.push(Reverse(key));
            }
            assert_eq!(q.len(), reference.len());
            assert_eq!(q.peek(), reference.peek().map(|Reverse(k)| *k));
            assert_eq!(q.iter().count(), q.len());
        }
        while let Some(Reverse(expected)) = reference.pop() {
            assert_eq!(q.pop_due(u64::MAX), Some(expected));
        }
        assert_eq!((q.len(), q.pop_due(u64::MAX)), (0, None));
    }

    #[test]
    fn lower_buckets_hold_earlier_times() {
        let floor = 0x1234_5678;
        let times = [
            floor,
            floor + 1,
            floor + 7,
            floor + 8,
            floor + 0x88,
            floor + 0x1000,
            u64::MAX,
        ];
        let buckets: Vec<usize> = times.iter().map(|&t| bucket_of(t, floor)).collect();
        assert_eq!(buckets[0], 0);
        assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
        assert!(buckets.iter().all(|&b| b < BUCKETS));
    }

    #[test]
    #[should_panic(expected = "nothing is queued before")]
    fn a_key_before_the_last_one_taken_is_refused() {
        let mut q = EventQueue::default();
        q.push(Key::new(10, 1, 0));
        q.push(Key::new(20, 2, 0));
        assert_eq!(q.pop_due(u64::MAX), Some(Key::new(10, 1, 0)));
        assert_eq!(q.pop_due(u64::MAX), Some(Key::new(20, 2, 0)));
        q.push(Key::new(15, 3, 0));
    }
}

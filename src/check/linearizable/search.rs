//! The linearizability search: Wing & Gong's algorithm with Lowe's memoization of
//! (linearized set, state) pairs, as Porcupine implements it. Call and return events form a
//! doubly linked list; the search linearizes the first pending call it can, lifts it out of the
//! list, and backtracks when it meets a return whose call was not linearized yet.

use std::hash::Hash;

use super::model::Model;

/// One operation for the search: when it was called and returned, and what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op<I, O> {
    /// Call time (any monotone clock; file position for logs without timestamps).
    pub call: u64,
    /// Return time; `u64::MAX` for an operation that never returned.
    pub ret: u64,
    /// The input.
    pub input: I,
    /// The output (`Unknown` outputs make the model accept any result).
    pub output: O,
}

/// The outcome of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A linearization exists.
    Linearizable,
    /// None exists.
    Illegal,
    /// The step budget ran out first.
    Unknown,
}

#[derive(Clone, Copy)]
struct Node {
    op: u32,
    is_call: bool,
    prev: u32,
    next: u32,
    /// For a call: the index of its return node.
    partner: u32,
}

const NIL: u32 = u32::MAX;

/// The linearized operations as a bitset over slots: operations that returned take the first
/// slots in call order, those that never returned (`info`) the slots after the next word
/// boundary. A Zobrist hash is kept up to date on every change, and so are the bounds of the
/// open window among the returned operations: the words before `full` are all ones (a finished
/// prefix, which grows as the search advances), the words from `top` on are all zero.
struct Bits {
    words: Vec<u64>,
    zobrist: u64,
    /// Each slot's Zobrist key, computed once.
    keys: Vec<u64>,
    /// Words of the returned operations' slots.
    returned_words: usize,
    full: usize,
    top: usize,
}

impl Bits {
    fn new(returned: usize, open: usize) -> Self {
        let returned_words = returned.div_ceil(64);
        let words = returned_words + open.div_ceil(64);
        Bits {
            words: vec![0; words],
            zobrist: 0,
            keys: (0..words as u64 * 64)
                .map(|slot| crate::sim::splitmix64(slot + 1))
                .collect(),
            returned_words,
            full: 0,
            top: 0,
        }
    }

    fn contains(&self, slot: u32) -> bool {
        self.words[(slot / 64) as usize] & (1u64 << (slot % 64)) != 0
    }

    fn toggle(&mut self, slot: u32) {
        let w = (slot / 64) as usize;
        let bit = 1u64 << (slot % 64);
        self.words[w] ^= bit;
        self.zobrist ^= self.keys[slot as usize];
        if w >= self.returned_words {
            return;
        }
        if self.words[w] & bit != 0 {
            self.top = self.top.max(w + 1);
            while self.full < self.top && self.words[self.full] == u64::MAX {
                self.full += 1;
            }
        } else {
            self.full = self.full.min(w);
            while self.top > self.full && self.words[self.top - 1] == 0 {
                self.top -= 1;
            }
        }
    }

    /// The set as a memo key: the finished prefix's length and the words after it that are
    /// not all zero, so a key costs the width of the open window, not the whole history.
    fn memo(&self) -> Memo {
        let words = self.words[self.full..self.top]
            .iter()
            .chain(&self.words[self.returned_words..]);
        let len = (self.top - self.full) + (self.words.len() - self.returned_words);
        let window = if len <= INLINE_WORDS {
            let mut inline = [0; INLINE_WORDS];
            for (w, x) in inline.iter_mut().zip(words) {
                *w = *x;
            }
            Window::Inline(len as u8, inline)
        } else {
            Window::Heap(words.copied().collect())
        };
        Memo {
            zobrist: self.zobrist,
            full: self.full as u32,
            window,
        }
    }
}

/// Windows of up to this many words are kept in the memo entry itself, not on the heap.
const INLINE_WORDS: usize = 3;

/// The words of a memo key's window: inline when few (the rest zero), else on the heap.
#[derive(PartialEq, Eq)]
enum Window {
    Inline(u8, [u64; INLINE_WORDS]),
    Heap(Box<[u64]>),
}

/// A set of linearized operations in the memo table. Two keys are equal exactly when their sets
/// are: the finished prefix and the window determine every word.
#[derive(PartialEq, Eq)]
struct Memo {
    zobrist: u64,
    full: u32,
    window: Window,
}

/// A memo table entry: a set of linearized operations and the state they led to, with their
/// hash computed once (the table rehashes every entry as it grows, and a state may be a long
/// string).
struct Seen<S> {
    hash: u64,
    memo: Memo,
    state: S,
}

impl<S: Hash> Seen<S> {
    fn new(memo: Memo, state: S) -> Self {
        let hash = std::hash::BuildHasher::hash_one(&FastHash, (memo.zobrist, &state));
        Seen { hash, memo, state }
    }
}

impl<S: Eq> PartialEq for Seen<S> {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.memo == other.memo && self.state == other.state
    }
}

impl<S: Eq> Eq for Seen<S> {}

impl<S> Hash for Seen<S> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

pub use crate::sim::FastHash;

/// Checks one partition (e.g. one key) with at most `budget` search steps.
pub fn check<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>], budget: u64) -> Verdict
where
    M::State: Clone + Eq + Hash,
{
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    if let Some(verdict) = in_call_order(model, ops, budget) {
        return verdict;
    }
    search(model, ops, budget)
}

/// [`check`], and for an illegal partition a bound on its shortest failing prefix: the number
/// of operations called no later than the latest return the search backed out at (`None`:
/// no bound known). The search on that prefix makes the same moves, as nothing called later
/// is ever a candidate, so the prefix fails too.
pub fn check_bounded<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
) -> (Verdict, Option<usize>)
where
    M::State: Clone + Eq + Hash,
{
    if ops.is_empty() {
        return (Verdict::Linearizable, None);
    }
    if let Some(verdict) = in_call_order(model, ops, budget) {
        return (verdict, None);
    }
    let (verdict, _, latest) = search_counting(model, ops, budget);
    let bound =
        (verdict == Verdict::Illegal).then(|| ops.iter().filter(|o| o.call <= latest).count());
    (verdict, bound)
}

/// The verdict found in one pass over the operations in call order, when that pass decides
/// it; `None` leaves the partition to [`search`].
///
/// The search tries a pending read that the state accepts first, else the earliest pending
/// call, so while the model accepts every operation in call order (ties by position in `ops`,
/// the list's order) its first path is that order with some reads taken earlier, one step per
/// operation, each memo entry new (the linearized set grows): a read taken early is accepted in
/// the state it finds and changes nothing, so the rest of the order is still accepted. When the
/// model accepts all of them, that path linearizes everything: "linearizable" after `n`
/// steps. When it refuses operation `k` and the operations are sequential (each returns
/// strictly before the next is called, and all return), call order is the only order that
/// respects real time, and the search backs out of it in `k + 1` steps: "illegal" after
/// `2k + 2` steps. The budget is applied to those counts, so the verdict, "unknown" included,
/// is the search's. Any other refusal leaves the partition to the search.
pub(super) fn in_call_order<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
) -> Option<Verdict> {
    let in_order = ops.windows(2).all(|w| w[0].call <= w[1].call);
    if !in_order || ops.iter().any(|o| o.ret < o.call) {
        return None;
    }
    let mut state = model.init();
    for (k, op) in ops.iter().enumerate() {
        match model.step(&state, &op.input, &op.output) {
            Some(next) => state = next,
            None => {
                // An operation returning at the instant the next is called overlaps it (see
                // `build_list`), and one that never returned overlaps every later one.
                let sequential = ops.windows(2).all(|w| w[0].ret < w[1].call)
                    && ops.last().is_some_and(|o| o.ret != u64::MAX);
                return sequential.then_some(if 2 * k as u64 + 2 > budget {
                    Verdict::Unknown
                } else {
                    Verdict::Illegal
                });
            }
        }
    }
    Some(if ops.len() as u64 > budget {
        Verdict::Unknown
    } else {
        Verdict::Linearizable
    })
}

/// The search itself, on any partition (`ops` not empty).
fn search<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>], budget: u64) -> Verdict
where
    M::State: Clone + Eq + Hash,
{
    search_counting(model, ops, budget).0
}

/// [`search`], the steps it took, and the latest return it backed out at.
///
/// Two rules on top of Porcupine's search leave out choices that cannot lead to a
/// linearization when the choices tried before them did not (so the verdict is the same):
///
/// - An operation that keeps the state wherever it is accepted (a read) is taken for good
///   as soon as it is accepted, before any other pending call: any linearization from here can
///   take it now instead of later (it changes nothing, and taking an operation out of a
///   linearization keeps every other one's state and real-time order), so when nothing can
///   follow it nothing can follow here either, and the search backs out of this point at once
///   instead of trying the other pending calls.
/// - An operation is not tried while an identical one (same input and output) called no later
///   and returning no later is pending: that one is tried first (it comes first in the list),
///   and in any linearization the two can swap places.
fn search_counting<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
) -> (Verdict, u64, u64)
where
    M::State: Clone + Eq + Hash,
{
    assert!(
        ops.len() < NIL as usize / 2,
        "a partition has fewer than 2^31 operations"
    );
    let nodes = build_list(ops);
    let twin = earlier_twins(ops, &nodes);
    search_with(model, ops, budget, nodes, &twin)
}

/// [`search_counting`] given the event list and each operation's earlier twin.
#[allow(clippy::disallowed_types)] // membership only: iteration order is never observed
fn search_with<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
    mut nodes: Vec<Node>,
    twin: &[u32],
) -> (Verdict, u64, u64)
where
    M::State: Clone + Eq + Hash,
{
    let slots = slots(ops, &nodes);
    let keeps: Vec<bool> = ops
        .iter()
        .map(|o| model.keeps_state(&o.input, &o.output))
        .collect();
    // Node 0 is a sentinel head.
    // Every operation is linearized at least once on the way to a verdict: size for that.
    let mut cache: std::collections::HashSet<Seen<M::State>, FastHash> =
        std::collections::HashSet::with_capacity_and_hasher(ops.len(), FastHash);
    let open = ops.iter().filter(|o| o.ret == u64::MAX).count();
    let mut linearized = Bits::new(ops.len() - open, open);
    let mut state = model.init();
    // Each linearized call, the state before it, and whether it was taken for good.
    let mut stack: Vec<(u32, M::State, bool)> = Vec::new();
    let mut entry = nodes[0].next;
    // A point just reached: its reads are tried first.
    let mut fresh = true;
    // The point reached is known to lead nowhere: undo the last linearization.
    let mut back_out = false;
    let mut steps = 0u64;
    // The latest return at which the search backed out.
    let mut latest = 0u64;
    while nodes[0].next != NIL {
        steps += 1;
        if steps > budget {
            return (Verdict::Unknown, steps, latest);
        }
        if fresh {
            fresh = false;
            if let Some(read) = accepted_read(model, ops, &nodes, &keeps, &state) {
                let slot = slots[nodes[read as usize].op as usize];
                linearized.toggle(slot);
                if cache.insert(Seen::new(linearized.memo(), state.clone())) {
                    stack.push((read, state.clone(), true));
                    lift(&mut nodes, read);
                    entry = nodes[0].next;
                    fresh = true;
                } else {
                    // Seen before, so it led nowhere; and nothing else can do better here.
                    linearized.toggle(slot);
                    back_out = true;
                }
                continue;
            }
        }
        let n = nodes[entry as usize];
        if !back_out && n.is_call {
            let i = n.op as usize;
            let t = twin[i];
            // Reads were tried when the point was reached, and none was accepted.
            if !keeps[i] && (t == NIL || linearized.contains(slots[t as usize])) {
                let op = &ops[i];
                if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                    linearized.toggle(slots[i]);
                    if cache.insert(Seen::new(linearized.memo(), next_state.clone())) {
                        stack.push((entry, state, false));
                        state = next_state;
                        lift(&mut nodes, entry);
                        entry = nodes[0].next;
                        fresh = true;
                        continue;
                    }
                    linearized.toggle(slots[i]);
                }
            }
            entry = n.next;
        } else {
            if !back_out {
                latest = latest.max(ops[n.op as usize].ret);
            }
            let Some((call, prev_state, for_good)) = stack.pop() else {
                return (Verdict::Illegal, steps, latest);
            };
            state = prev_state;
            linearized.toggle(slots[nodes[call as usize].op as usize]);
            unlift(&mut nodes, call);
            back_out = for_good;
            entry = nodes[call as usize].next;
        }
    }
    (Verdict::Linearizable, steps, latest)
}

/// The first pending call before the list's first return that keeps the state and is accepted
/// in `state` (a read that reads it), if any.
fn accepted_read<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    nodes: &[Node],
    keeps: &[bool],
    state: &M::State,
) -> Option<u32> {
    let mut at = nodes[0].next;
    while at != NIL {
        let n = &nodes[at as usize];
        if !n.is_call {
            return None;
        }
        let op = &ops[n.op as usize];
        if keeps[n.op as usize] && model.step(state, &op.input, &op.output).is_some() {
            return Some(at);
        }
        at = n.next;
    }
    None
}

/// For each operation, an identical one (same input and output) whose call comes before its
/// call in the list and which returns no later, if any (`NIL` otherwise). Looks among the
/// operations in flight at its call (at most the last [`TWIN_LOOKBACK`] of them).
fn earlier_twins<I: PartialEq, O: PartialEq>(ops: &[Op<I, O>], nodes: &[Node]) -> Vec<u32> {
    let mut twin = vec![NIL; ops.len()];
    // Operations called and not returned, and each one's place in that list.
    let mut in_flight: Vec<u32> = Vec::new();
    let mut place = vec![NIL; ops.len()];
    for n in nodes.iter().skip(1) {
        let b = n.op as usize;
        if !n.is_call {
            let at = place[b] as usize;
            in_flight.swap_remove(at);
            if let Some(&moved) = in_flight.get(at) {
                place[moved as usize] = at as u32;
            }
            continue;
        }
        let (ob, start) = (&ops[b], in_flight.len().saturating_sub(TWIN_LOOKBACK));
        twin[b] = in_flight[start..]
            .iter()
            .rev()
            .copied()
            .find(|&a| {
                let oa = &ops[a as usize];
                oa.ret <= ob.ret && oa.input == ob.input && oa.output == ob.output
            })
            .unwrap_or(NIL);
        place[b] = in_flight.len() as u32;
        in_flight.push(b as u32);
    }
    twin
}

/// How many operations in flight [`earlier_twins`] compares each call with.
const TWIN_LOOKBACK: usize = 64;

/// Builds the event list: calls and returns sorted by time; at equal times calls come first
/// (an operation that returns at the instant another is called overlaps it), then by index.
fn build_list<I, O>(ops: &[Op<I, O>]) -> Vec<Node> {
    let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        assert!(op.ret >= op.call, "an operation returns after it is called");
        events.push((op.call, true, i as u32));
        events.push((op.ret, false, i as u32));
    }
    // Returns at the same time as calls sort after them: `false` < `true`, so negate.
    events.sort_by_key(|&(t, is_call, i)| (t, !is_call, i));
    let mut nodes = Vec::with_capacity(events.len() + 1);
    nodes.push(Node {
        op: NIL,
        is_call: false,
        prev: NIL,
        next: 1,
        partner: NIL,
    });
    let mut ret_node = vec![NIL; ops.len()];
    for (k, &(_, is_call, i)) in events.iter().enumerate() {
        let idx = (k + 1) as u32;
        if !is_call {
            ret_node[i as usize] = idx;
        }
        nodes.push(Node {
            op: i,
            is_call,
            prev: idx - 1,
            next: if k + 1 == events.len() { NIL } else { idx + 1 },
            partner: NIL,
        });
    }
    for n in nodes.iter_mut().skip(1) {
        if n.is_call {
            n.partner = ret_node[n.op as usize];
        }
    }
    nodes
}

/// Each operation's slot in [`Bits`]: returned operations first, in the list's call order, then
/// the operations that never returned (from the next word boundary on), in the same order.
fn slots<I, O>(ops: &[Op<I, O>], nodes: &[Node]) -> Vec<u32> {
    let returned = ops.iter().filter(|o| o.ret != u64::MAX).count();
    let (mut next_returned, mut next_open) = (0u32, (returned.div_ceil(64) * 64) as u32);
    let mut slots = vec![NIL; ops.len()];
    for n in nodes.iter().skip(1).filter(|n| n.is_call) {
        let next = if ops[n.op as usize].ret == u64::MAX {
            &mut next_open
        } else {
            &mut next_returned
        };
        slots[n.op as usize] = *next;
        *next += 1;
    }
    slots
}

fn unlink(nodes: &mut [Node], i: u32) {
    let Node { prev, next, .. } = nodes[i as usize];
    nodes[prev as usize].next = next;
    if next != NIL {
        nodes[next as usize].prev = prev;
    }
}

fn relink(nodes: &mut [Node], i: u32) {
    let Node { prev, next, .. } = nodes[i as usize];
    nodes[prev as usize].next = i;
    if next != NIL {
        nodes[next as usize].prev = i;
    }
}

fn lift(nodes: &mut [Node], call: u32) {
    unlink(nodes, call);
    unlink(nodes, nodes[call as usize].partner);
}

fn unlift(nodes: &mut [Node], call: u32) {
    relink(nodes, nodes[call as usize].partner);
    relink(nodes, call);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizable::model::{
        Model, RegisterInput as I, RegisterModel, RegisterOutput as O,
    };

    /// A small random register history: sequential (each operation returns before the next is
    /// called) or overlapping, some operations never returning, values from a few.
    fn history(seed: u64) -> Vec<Op<I, O>> {
        let mut r = seed;
        let mut next = |m: u64| {
            r = crate::sim::splitmix64(r);
            r % m
        };
        let sequential = next(2) == 0;
        let n = 1 + next(7) as usize;
        let mut t = 0;
        (0..n)
            .map(|_| {
                t += if sequential { 1 } else { next(3) };
                let call = t;
                let ret = match next(8) {
                    0 if !sequential => u64::MAX,
                    _ if sequential => {
                        t += 1 + next(2);
                        t
                    }
                    _ => call + next(6),
                };
                let v = next(3) as u32;
                let (input, output) = match next(3) {
                    0 => (I::Write(v), O::Done),
                    1 => (I::Read, O::Value((v > 0).then_some(v))),
                    _ => (
                        I::Cas(v, (v + 1) % 3),
                        [O::CasOk, O::CasFail][next(2) as usize],
                    ),
                };
                let output = if ret == u64::MAX { O::Unknown } else { output };
                Op {
                    call,
                    ret,
                    input,
                    output,
                }
            })
            .collect()
    }

    #[test]
    fn the_call_order_pass_gives_the_searchs_verdict_budget_included() {
        let m = RegisterModel::default();
        let mut decided = std::collections::BTreeMap::new();
        for seed in 0..20_000 {
            let ops = history(seed);
            for budget in [0, 1, 2, 3, 4, 5, 7, 9, 12, 1_000] {
                let fast = in_call_order(&m, &ops, budget);
                let searched = search(&m, &ops, budget);
                assert_eq!(
                    check(&m, &ops, budget),
                    searched,
                    "seed {seed} budget {budget}: {ops:?}"
                );
                if let Some(v) = fast {
                    assert_eq!(v, searched, "seed {seed} budget {budget}: {ops:?}");
                }
                *decided.entry(format!("{fast:?} {searched:?}")).or_insert(0) += 1;
            }
        }
        // Every way out of the pass was taken: each verdict decided in one pass, and refusals
        // left to the search that it found linearizable, illegal, or ran out of budget on.
        for way in [
            "Some(Linearizable) Linearizable",
            "Some(Illegal) Illegal",
            "Some(Unknown) Unknown",
            "None Linearizable",
            "None Illegal",
            "None Unknown",
        ] {
            assert!(
                decided.get(way).is_some_and(|&n| n > 100),
                "{way}: {decided:?}"
            );
        }
    }

    /// Porcupine's search as it was before the two rules (reads taken for good, twins), kept
    /// as the reference their verdicts are compared with: memoized depth-first search trying the
    /// earliest pending call first.
    #[allow(clippy::disallowed_types)] // membership only
    fn reference<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>]) -> (Verdict, u64)
    where
        M::State: Clone + Eq + Hash,
    {
        let mut nodes = build_list(ops);
        let slots = slots(ops, &nodes);
        let mut cache = std::collections::HashSet::with_hasher(FastHash);
        let open = ops.iter().filter(|o| o.ret == u64::MAX).count();
        let mut linearized = Bits::new(ops.len() - open, open);
        let mut state = model.init();
        let mut stack: Vec<(u32, M::State)> = Vec::new();
        let (mut entry, mut steps) = (nodes[0].next, 0u64);
        while nodes[0].next != NIL {
            steps += 1;
            let n = nodes[entry as usize];
            if n.is_call {
                let op = &ops[n.op as usize];
                if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                    linearized.toggle(slots[n.op as usize]);
                    if cache.insert(Seen::new(linearized.memo(), next_state.clone())) {
                        stack.push((entry, state));
                        state = next_state;
                        lift(&mut nodes, entry);
                        entry = nodes[0].next;
                        continue;
                    }
                    linearized.toggle(slots[n.op as usize]);
                }
                entry = n.next;
            } else {
                let Some((call, prev_state)) = stack.pop() else {
                    return (Verdict::Illegal, steps);
                };
                state = prev_state;
                linearized.toggle(slots[nodes[call as usize].op as usize]);
                unlift(&mut nodes, call);
                entry = nodes[call as usize].next;
            }
        }
        (Verdict::Linearizable, steps)
    }

    /// Random histories with many operations in flight and many that never return, values
    /// from a few (so that identical operations and reads the state accepts are common).
    fn crowded(seed: u64) -> Vec<Op<I, O>> {
        let mut r = seed ^ 0x5eed;
        let mut next = |m: u64| {
            r = crate::sim::splitmix64(r);
            r % m
        };
        let n = 2 + next(11) as usize;
        (0..n as u64)
            .map(|i| {
                let call = i * 2 + next(3);
                let ret = if next(4) == 0 {
                    u64::MAX
                } else {
                    call + 1 + next(8)
                };
                let v = next(2) as u32;
                let (input, output) = match next(4) {
                    0 | 1 => (I::Write(v), O::Done),
                    2 => (I::Read, O::Value((next(3) > 0).then_some(v))),
                    _ => (I::Cas(v, 1 - v), [O::CasOk, O::CasFail][next(2) as usize]),
                };
                let output = if ret == u64::MAX { O::Unknown } else { output };
                Op {
                    call,
                    ret,
                    input,
                    output,
                }
            })
            .collect()
    }

    #[test]
    fn the_rules_keep_every_verdict_and_save_steps() {
        let m = RegisterModel::default();
        let (mut ours, mut theirs, mut fewer) = (0u64, 0u64, 0);
        let mut verdicts = std::collections::BTreeMap::new();
        for seed in 0..20_000 {
            for ops in [history(seed), crowded(seed)] {
                let (expected, reference_steps) = reference(&m, &ops);
                let (verdict, steps, _) = search_counting(&m, &ops, u64::MAX);
                assert_eq!(verdict, expected, "seed {seed}: {ops:?}");
                *verdicts.entry(format!("{verdict:?}")).or_insert(0) += 1;
                ours += steps;
                theirs += reference_steps;
                fewer += usize::from(steps < reference_steps);
            }
        }
        assert!(verdicts.values().all(|&n| n > 1_000), "{verdicts:?}");
        assert!(fewer > 1_000, "the rules change the search: {fewer}");
        assert!(ours * 2 < theirs, "steps {ours} against {theirs}");
    }

    #[test]
    fn the_searchs_bound_holds_a_failing_prefix_and_gives_the_same_shortest_one() {
        use crate::check::linearizable::explain::{
            shortest_failing_prefix, shortest_failing_prefix_within,
        };
        let m = RegisterModel::default();
        let (mut illegal, mut tight) = (0, 0);
        for seed in 0..5_000 {
            for ops in [history(seed), crowded(seed)] {
                let (verdict, bound) = check_bounded(&m, &ops, u64::MAX);
                assert_eq!(verdict, check(&m, &ops, u64::MAX));
                let Some(bound) = bound else { continue };
                illegal += 1;
                let n = shortest_failing_prefix(&m, &ops, u64::MAX);
                assert!(n <= bound, "seed {seed}: {n} > {bound}: {ops:?}");
                let mut sorted = ops.clone();
                sorted.sort_by_key(|o| o.call);
                assert_eq!(check(&m, &sorted[..bound], u64::MAX), Verdict::Illegal);
                assert_eq!(shortest_failing_prefix_within(&m, &ops, u64::MAX, bound), n);
                tight += usize::from(n == bound);
            }
        }
        // The bound is often the answer itself (on Porcupine's etcd logs, nearly always).
        assert!(
            illegal > 1_000 && tight * 4 > illegal,
            "{tight} of {illegal}"
        );
        // A planted wrong bound (one too short) gives a different prefix: the comparison above
        // would catch a bound that is not a failing prefix.
        let ops = vec![
            op(1, 2, I::Write(1), O::Done),
            op(3, 4, I::Read, O::Value(Some(1))),
            op(5, 6, I::Read, O::Value(Some(2))),
        ];
        assert_eq!(check_bounded(&m, &ops, 100), (Verdict::Illegal, None));
        assert_eq!(shortest_failing_prefix(&m, &ops, 100), 3);
        assert_eq!(shortest_failing_prefix_within(&m, &ops, 100, 2), 2);
    }

    fn op(call: u64, ret: u64, input: I, output: O) -> Op<I, O> {
        Op {
            call,
            ret,
            input,
            output,
        }
    }

    #[test]
    fn a_twin_is_one_called_no_later_that_returns_no_later() {
        // Two writes of 1: A (1..10) and B (2..3). B must take effect by 3, then the write of
        // 2, then A, which the read of 1 sees. A returns after B, so A is not B's twin: with
        // it as B's twin, B would wait for A, and the history would be refused.
        let ops = vec![
            op(1, 10, I::Write(1), O::Done),
            op(2, 3, I::Write(1), O::Done),
            op(4, 5, I::Write(2), O::Done),
            op(6, 7, I::Read, O::Value(Some(1))),
        ];
        let m = RegisterModel::default();
        let nodes = build_list(&ops);
        assert_eq!(earlier_twins(&ops, &nodes), vec![NIL; 4]);
        assert_eq!(search(&m, &ops, 1_000), Verdict::Linearizable);
        let planted = vec![NIL, 0, NIL, NIL];
        assert_eq!(
            search_with(&m, &ops, 1_000, nodes, &planted).0,
            Verdict::Illegal
        );
        // Returning no later, it is the twin, and the verdict is the same.
        let mut early = ops.clone();
        early[0].ret = 3;
        early[1].ret = 4;
        assert_eq!(earlier_twins(&early, &build_list(&early))[1], 0);
        assert_eq!(search(&m, &early, 1_000), reference(&m, &early).0);
    }

    /// A register model that wrongly says a write keeps the state.
    struct WritesKeep;

    impl Model for WritesKeep {
        type State = Option<u32>;
        type Input = I;
        type Output = O;
        fn init(&self) -> Option<u32> {
            None
        }
        fn step(&self, s: &Option<u32>, i: &I, o: &O) -> Option<Option<u32>> {
            RegisterModel::default().step(s, i, o)
        }
        fn describe(&self, i: &I, o: &O) -> String {
            format!("{i:?} {o:?}")
        }
        fn keeps_state(&self, i: &I, o: &O) -> bool {
            matches!(i, I::Write(_)) || super::super::model::register_keeps_state(i, o)
        }
    }

    #[test]
    fn only_operations_that_keep_the_state_are_taken_for_good() {
        // Writes of 1 and 2 overlap, then 1 is read: 2 first, then 1. Taking the write of 1 for
        // good (as if it kept the state) backs out before trying the write of 2 first.
        let ops = vec![
            op(1, 10, I::Write(1), O::Done),
            op(2, 10, I::Write(2), O::Done),
            op(11, 12, I::Read, O::Value(Some(1))),
        ];
        assert_eq!(
            search(&RegisterModel::default(), &ops, 1_000),
            Verdict::Linearizable
        );
        assert_eq!(search(&WritesKeep, &ops, 1_000), Verdict::Illegal);
        let m = RegisterModel::default();
        assert!(m.keeps_state(&I::Read, &O::Value(Some(1))));
        assert!(m.keeps_state(&I::Cas(1, 2), &O::CasFail));
        assert!(m.keeps_state(&I::Cas(2, 2), &O::Unknown));
        assert!(!m.keeps_state(&I::Cas(1, 2), &O::Unknown));
        assert!(!m.keeps_state(&I::Write(1), &O::Done));
    }

    #[test]
    fn operations_meeting_at_an_instant_overlap() {
        // W1 returns at the instant W2 is called: they overlap, so a read of 1 after both is
        // linearizable (W2 first); a pass taking them as sequential would refuse it.
        let ops = vec![
            Op {
                call: 1,
                ret: 2,
                input: I::Write(1),
                output: O::Done,
            },
            Op {
                call: 2,
                ret: 3,
                input: I::Write(2),
                output: O::Done,
            },
            Op {
                call: 4,
                ret: 5,
                input: I::Read,
                output: O::Value(Some(1)),
            },
        ];
        let m = RegisterModel::default();
        assert_eq!(in_call_order(&m, &ops, 100), None, "left to the search");
        assert_eq!(check(&m, &ops, 100), Verdict::Linearizable);
        // A moment apart, they are sequential and the read is refused in one pass.
        let mut apart = ops.clone();
        apart[1].call = 3;
        apart[1].ret = 4;
        apart[2].call = 5;
        apart[2].ret = 6;
        assert_eq!(in_call_order(&m, &apart, 100), Some(Verdict::Illegal));
        assert_eq!(search(&m, &apart, 100), Verdict::Illegal);
    }
}

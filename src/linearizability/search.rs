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

/// A bitset of operation indices.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, i: u32) {
        self.0[(i / 64) as usize] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: u32) {
        self.0[(i / 64) as usize] &= !(1 << (i % 64));
    }
}

/// Checks one partition (e.g. one key) with at most `budget` search steps.
#[allow(clippy::disallowed_types)] // membership only: iteration order is never observed
pub fn check<M: Model>(model: &M, ops: &[Op<M::Input, M::Output>], budget: u64) -> Verdict
where
    M::State: Clone + Eq + Hash,
{
    if ops.is_empty() {
        return Verdict::Linearizable;
    }
    assert!(
        ops.len() < NIL as usize / 2,
        "a partition has fewer than 2^31 operations"
    );
    let mut nodes = build_list(ops);
    // Node 0 is a sentinel head.
    let mut cache: std::collections::HashSet<(Bits, M::State)> = Default::default();
    let mut linearized = Bits(vec![0; ops.len().div_ceil(64)]);
    let mut state = model.init();
    let mut stack: Vec<(u32, M::State)> = Vec::new();
    let mut entry = nodes[0].next;
    let mut steps = 0u64;
    while nodes[0].next != NIL {
        steps += 1;
        if steps > budget {
            return Verdict::Unknown;
        }
        let n = nodes[entry as usize];
        if n.is_call {
            let op = &ops[n.op as usize];
            if let Some(next_state) = model.step(&state, &op.input, &op.output) {
                let mut bits = linearized.clone();
                bits.set(n.op);
                if cache.insert((bits.clone(), next_state.clone())) {
                    stack.push((entry, state));
                    state = next_state;
                    linearized = bits;
                    lift(&mut nodes, entry);
                    entry = nodes[0].next;
                    continue;
                }
            }
            entry = n.next;
        } else {
            let Some((call, prev_state)) = stack.pop() else {
                return Verdict::Illegal;
            };
            state = prev_state;
            linearized.clear(nodes[call as usize].op);
            unlift(&mut nodes, call);
            entry = nodes[call as usize].next;
        }
    }
    Verdict::Linearizable
}

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

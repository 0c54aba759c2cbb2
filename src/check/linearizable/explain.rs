//! Counterexamples: a short failing prefix of a non-linearizable partition (the one a binary
//! search over prefix lengths finds), drawn as a timeline with each operation in the model's words.

use super::model::Model;
use super::search::{Op, Verdict, check};

/// A short prefix (by call order) that is already not linearizable, found by a binary search
/// over prefix lengths. Failing is not monotone in the length (an operation called later can
/// explain an earlier read that returns later, so a failing prefix may pass once longer), so
/// this is the prefix the binary search finds: failing, never longer than the whole, and the
/// shortest one whenever failing is monotone over the lengths it probes.
pub fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
) -> usize
where
    M::State: Clone + Eq + std::hash::Hash,
    M::Input: Clone,
    M::Output: Clone,
{
    shortest_failing_prefix_within(model, ops, budget, ops.len())
}

/// [`shortest_failing_prefix`] given the search's bound ([`super::search::check_bounded`]):
/// every prefix at least that long fails without being searched again (the search on it makes
/// the same moves), so the binary search takes the same steps and finds the same prefix, and
/// searches only the prefixes shorter than the bound.
pub fn shortest_failing_prefix_within<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    budget: u64,
    failing: usize,
) -> usize
where
    M::State: Clone + Eq + std::hash::Hash,
    M::Input: Clone,
    M::Output: Clone,
{
    let mut sorted: Vec<&Op<M::Input, M::Output>> = ops.iter().collect();
    sorted.sort_by_key(|o| o.call);
    let prefix = |n: usize| -> Vec<Op<M::Input, M::Output>> {
        sorted[..n].iter().map(|o| (*o).clone()).collect()
    };
    let (mut lo, mut hi) = (1, sorted.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if mid >= failing || check(model, &prefix(mid), budget) == Verdict::Illegal {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Renders operations as a timeline: one line per operation, a bar from call to return.
pub fn timeline<I, O>(
    ops: &[&Op<I, O>],
    width: usize,
    describe: &dyn Fn(&Op<I, O>) -> String,
) -> String {
    let start = ops.iter().map(|o| o.call).min().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| if o.ret == u64::MAX { o.call } else { o.ret })
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let scale = |t: u64| {
        ((t.min(end) - start) as u128 * (width as u128 - 1) / (end - start) as u128) as usize
    };
    let mut out = String::new();
    for o in ops {
        // At least two characters per bar, so a short operation still shows both ends.
        let a = scale(o.call).min(width - 2);
        let b = if o.ret == u64::MAX {
            width - 1
        } else {
            scale(o.ret).max(a + 1)
        };
        let mut bar = vec![' '; width];
        for c in bar.iter_mut().take(b + 1).skip(a) {
            *c = '-';
        }
        bar[a] = '[';
        bar[b] = if o.ret == u64::MAX { '?' } else { ']' };
        out.push_str(&format!(
            "  {} {}\n",
            bar.into_iter().collect::<String>(),
            describe(o)
        ));
    }
    out
}

/// Explains why `ops` admit no linearization: the shortest failing prefix (no longer than
/// `failing`, when a length known to fail is given) and a timeline of its last operations.
pub fn explain<M: Model>(
    model: &M,
    ops: &[Op<M::Input, M::Output>],
    key: &str,
    budget: u64,
    failing: Option<usize>,
) -> String
where
    M::State: Clone + Eq + std::hash::Hash,
    M::Input: Clone + std::fmt::Debug,
    M::Output: Clone + std::fmt::Debug,
{
    let n = shortest_failing_prefix_within(model, ops, budget, failing.unwrap_or(ops.len()));
    let mut sorted: Vec<&Op<M::Input, M::Output>> = ops.iter().collect();
    sorted.sort_by_key(|o| o.call);
    let last = sorted[n - 1];
    // Show the operations overlapping the last call of the failing prefix, plus a few before.
    let window: Vec<&Op<M::Input, M::Output>> = sorted[..n]
        .iter()
        .copied()
        .filter(|o| o.ret >= last.call.saturating_sub(1) || std::ptr::eq(*o, last))
        .collect();
    let shown = if window.len() < 8 {
        sorted[n.saturating_sub(8)..n].to_vec()
    } else {
        window
    };
    format!(
        "key {key}: the first {n} operations (by call time) already admit no linearization; the last of them cannot be ordered with these:\n{}",
        timeline(&shown, 60, &|o| model.describe(&o.input, &o.output))
    )
}

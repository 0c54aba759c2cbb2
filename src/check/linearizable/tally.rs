//! The verdict over many partitions (keys, or groups of keys): linearizable when every one
//! is, not linearizable at the first one that is not (with its counterexample), unknown when
//! the search budget ran out on some and none failed.

use std::hash::Hash;

use super::explain::explain;
use super::model::Model;
use super::options::CheckOptions;
use super::search::{Op, Verdict, check_bounded};

/// Partition verdicts gathered so far.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Partitions checked.
    pub checked: usize,
    /// Partitions whose search ran out of budget.
    pub unknown: Vec<String>,
    /// The first non-linearizable partition and its explanation.
    pub illegal: Option<(String, String)>,
}

impl Tally {
    /// Checks one partition; `false` once a violation is found (no need to go on).
    pub fn add<M: Model>(
        &mut self,
        key: &str,
        model: &M,
        ops: &[Op<M::Input, M::Output>],
        opts: &CheckOptions,
    ) -> bool
    where
        M::State: Clone + Eq + Hash,
        M::Input: Clone + std::fmt::Debug,
        M::Output: Clone + std::fmt::Debug,
    {
        self.checked += 1;
        let (verdict, failing) = check_bounded(model, ops, opts.budget);
        match verdict {
            Verdict::Linearizable => true,
            Verdict::Unknown => {
                self.unknown.push(key.to_string());
                true
            }
            Verdict::Illegal => {
                let why = if opts.explain {
                    explain(model, ops, key, opts.budget, failing)
                } else {
                    format!("key {key}: admits no linearization")
                };
                self.illegal = Some((key.to_string(), why));
                false
            }
        }
    }

    /// The overall verdict.
    pub fn verdict(&self) -> Verdict {
        if self.illegal.is_some() {
            Verdict::Illegal
        } else if self.unknown.is_empty() {
            Verdict::Linearizable
        } else {
            Verdict::Unknown
        }
    }

    /// A sentence for the verdict; the counterexample for a violation.
    pub fn detail(&self, total: usize) -> String {
        match (&self.illegal, self.unknown.first()) {
            (Some((_, why)), _) => why.clone(),
            (None, Some(first)) => format!(
                "the search budget ran out on {} of {total} keys (e.g. {first}); the others are linearizable",
                self.unknown.len()
            ),
            (None, None) => format!("all {total} keys have a linearization"),
        }
    }
}

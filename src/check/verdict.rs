//! The verdict of a run: its `[expect]` assertions evaluated over its figures, and the warnings
//! about runs that could not have shown anything (no operations, no acknowledged writes).

use serde::Serialize;

use super::figures::{Figures, OpsCounts};
use crate::expect::{Expectation, ExpectationResult, evaluate};
use crate::history::{EventType, History};

/// Whether a run met its expectations (`pass` exactly when every `[expect]` assertion held).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// At least one expectation failed.
    Fail,
}

impl Verdict {
    /// The process exit code for this verdict: 0 pass, 1 fail.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
        }
    }
}

impl Verdict {
    /// The verdict when warnings are denied (`--deny-warnings`): a run with a warning fails.
    pub fn denying(self, warnings: &[Warning], deny: bool) -> Verdict {
        if deny && !warnings.is_empty() {
            Verdict::Fail
        } else {
            self
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        })
    }
}

/// What a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// No client invoked an operation: the checks had nothing to judge.
    NoOperations,
    /// No write was acknowledged: durability checks had nothing to lose.
    NoAcknowledgedWrites,
    /// A legal but useless setting in the scenario (the message names file, line and field).
    Scenario,
    /// The real backend reproduced part of the scenario only approximately.
    Backend,
}

/// A legal but suspicious property of a run, in the summary's `warnings` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What it is about.
    pub kind: WarningKind,
    /// The explanation, in plain language.
    pub message: String,
}

/// Evaluates `expect` over `figures`: each assertion's result, and the verdict. A failing
/// checker that no expectation names does not fail the run (scenarios that teach data loss
/// expect it).
pub fn decide(expect: &[Expectation], figures: &Figures) -> (Vec<ExpectationResult>, Verdict) {
    let results = evaluate(expect, |name| figures.get(name));
    let verdict = if results.iter().all(|e| e.met) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    (results, verdict)
}

/// Acknowledged writes: `ok` completions of anything but a read.
fn acknowledged_writes(history: &History) -> usize {
    history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Ok && e.f() != "get")
        .count()
}

/// The warnings a run's own history shows: no operations at all, or no acknowledged write.
pub fn run_warnings(ops: &OpsCounts, history: &History) -> Vec<Warning> {
    if ops.invoked == 0 {
        return vec![Warning {
            kind: WarningKind::NoOperations,
            message: "no client invoked an operation: every check passes vacuously (does the \
                      scenario have a [workloads] section with clients?)"
                .into(),
        }];
    }
    if acknowledged_writes(history) == 0 {
        return vec![Warning {
            kind: WarningKind::NoAcknowledgedWrites,
            message: "no write was acknowledged: durability checks had nothing to lose (is the \
                      workload read-only, or was every write refused?)"
                .into(),
        }];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;

    fn event(kind: EventType, f: &str) -> HistoryEvent {
        HistoryEvent::new(0, kind, f, "k".into(), crate::history::Value::Null, 0)
    }

    #[test]
    fn empty_and_read_only_runs_warn() {
        let empty = History::default();
        let w = run_warnings(&OpsCounts::of(&empty), &empty);
        assert_eq!(w[0].kind, WarningKind::NoOperations);
        let reads = History {
            events: vec![event(EventType::Invoke, "get"), event(EventType::Ok, "get")],
        };
        let w = run_warnings(&OpsCounts::of(&reads), &reads);
        assert_eq!(w[0].kind, WarningKind::NoAcknowledgedWrites);
        let writes = History {
            events: vec![event(EventType::Invoke, "set"), event(EventType::Ok, "set")],
        };
        assert!(run_warnings(&OpsCounts::of(&writes), &writes).is_empty());
    }

    #[test]
    fn verdict_serialises_as_a_word() {
        assert_eq!(serde_json::to_string(&Verdict::Fail).unwrap(), "\"fail\"");
        assert_eq!(Verdict::Pass.exit_code(), 0);
        assert_eq!(Verdict::Fail.to_string(), "fail");
        let w = run_warnings(&OpsCounts::default(), &History::default());
        assert_eq!(Verdict::Pass.denying(&w, true), Verdict::Fail);
        assert_eq!(Verdict::Pass.denying(&w, false), Verdict::Pass);
        assert_eq!(Verdict::Pass.denying(&[], true), Verdict::Pass);
    }
}

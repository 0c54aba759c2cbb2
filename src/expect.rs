//! `[expect]` blocks: assertions over a run's figures, each a line in the summary's
//! `expectations` list; a failed one makes the run exit with code 1.

use serde::Serialize;

/// What kind of value a figure is: the parser accepts constraints of this kind only, and the
/// evaluator accepts actual values of this kind only, so the two cannot disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FigureKind {
    /// A non-negative count: an exact number or `{ min, max }`.
    Count,
    /// A duration in milliseconds: a number of milliseconds, a duration such as `"30s"`, or
    /// `{ min, max }` of either.
    Duration,
    /// A verdict: `true` or `false`.
    Bool,
    /// The name of a server.
    Name,
}

impl FigureKind {
    /// How a value of this kind is written, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            FigureKind::Count => "a count (a whole number from 0, or { min, max })",
            FigureKind::Duration => {
                "a duration in milliseconds (a number from 0, a duration such as \"30s\", or { min, max })"
            }
            FigureKind::Bool => "true or false",
            FigureKind::Name => "the name of a server, e.g. \"r1\"",
        }
    }

    /// Whether an actual value is of this kind (an unavailable figure is of every kind).
    pub fn accepts(self, actual: &Figure) -> bool {
        matches!(
            (self, actual),
            (_, Figure::Unavailable(_))
                | (FigureKind::Count | FigureKind::Duration, Figure::Number(_))
                | (FigureKind::Bool, Figure::Truth(_))
                | (FigureKind::Name, Figure::Text(_))
        )
    }
}

/// One figure an `[expect]` block may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FigureSpec {
    /// Its name in scenario files and the summary.
    pub name: &'static str,
    /// Its kind.
    pub kind: FigureKind,
    /// What it means.
    pub meaning: &'static str,
}

const fn figure(name: &'static str, kind: FigureKind, meaning: &'static str) -> FigureSpec {
    FigureSpec {
        name,
        kind,
        meaning,
    }
}

/// The prefix of per-workload figures: `lost_acked_writes:<workload>` is a count.
pub const PER_WORKLOAD_LOST: &str = "lost_acked_writes:";
/// The prefix of per-workload set figures: `lost_acked_adds:<workload>` is a count.
pub const PER_WORKLOAD_LOST_ADDS: &str = "lost_acked_adds:";

/// The figures an `[expect]` block may name, with their kinds and meanings.
pub const FIGURES: &[FigureSpec] = &[
    figure(
        "lost_acked_writes",
        FigureKind::Count,
        "acknowledged writes missing from the final state",
    ),
    figure(
        "lost_acked_adds",
        FigureKind::Count,
        "acknowledged set members no final read returned (set workloads)",
    ),
    figure(
        "full_resyncs",
        FigureKind::Count,
        "full resyncs completed by replicas",
    ),
    figure(
        "partial_resyncs",
        FigureKind::Count,
        "partial resyncs completed by replicas",
    ),
    figure(
        "failovers",
        FigureKind::Count,
        "promotions of a replica to primary",
    ),
    figure(
        "converged",
        FigureKind::Bool,
        "every replica equals its primary at the end",
    ),
    figure(
        "single_primary",
        FigureKind::Bool,
        "no two primaries accepted writes at once",
    ),
    figure(
        "single_slot_owner",
        FigureKind::Bool,
        "Redis Cluster: no slot had two primaries acknowledging writes at once",
    ),
    figure(
        "slot_owners_at_end",
        FigureKind::Bool,
        "Redis Cluster: at the end every slot has exactly one running primary and every node agrees",
    ),
    figure(
        "linearizable",
        FigureKind::Bool,
        "every key's history is linearizable",
    ),
    figure(
        "split_brain_ms",
        FigureKind::Duration,
        "milliseconds during which two primaries accepted writes",
    ),
    figure("ops_ok", FigureKind::Count, "operations that completed"),
    figure(
        "ops_failed",
        FigureKind::Count,
        "operations that definitely failed",
    ),
    figure(
        "ops_indeterminate",
        FigureKind::Count,
        "operations whose outcome is unknown",
    ),
    figure(
        "stale_reads",
        FigureKind::Count,
        "reads that returned a value older than one already acknowledged",
    ),
    figure(
        "read_your_writes",
        FigureKind::Bool,
        "every client saw its own acknowledged writes",
    ),
    figure(
        "failover_to",
        FigureKind::Name,
        "the server the last failover promoted",
    ),
    figure(
        "failover_completed_ms",
        FigureKind::Duration,
        "the slowest failover, from the fault to the promotion (ms)",
    ),
    figure(
        "failover_detected_ms",
        FigureKind::Duration,
        "the slowest detection, from the fault to the first +sdown (ms)",
    ),
];

/// The kind of the figure `name` (including `lost_acked_writes:<workload>`), if it is one.
pub fn figure_kind(name: &str) -> Option<FigureKind> {
    if name.starts_with(PER_WORKLOAD_LOST) || name.starts_with(PER_WORKLOAD_LOST_ADDS) {
        return Some(FigureKind::Count);
    }
    FIGURES.iter().find(|f| f.name == name).map(|f| f.kind)
}

/// What a figure must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// Exactly this number.
    Equals(i64),
    /// Within bounds (inclusive).
    Range {
        /// Lower bound.
        min: Option<i64>,
        /// Upper bound.
        max: Option<i64>,
    },
    /// This truth value.
    Is(bool),
    /// This text.
    Text(String),
}

impl Constraint {
    /// The constraint as shown in the summary (`== 1`, `<= 0`, `in [1, 3]`, `== true`).
    pub fn describe(&self) -> String {
        match self {
            Constraint::Equals(n) => format!("== {n}"),
            Constraint::Is(b) => format!("== {b}"),
            Constraint::Text(t) => format!("== {t}"),
            Constraint::Range {
                min: Some(a),
                max: Some(b),
            } => format!("in [{a}, {b}]"),
            Constraint::Range {
                min: Some(a),
                max: None,
            } => format!(">= {a}"),
            Constraint::Range {
                min: None,
                max: Some(b),
            } => format!("<= {b}"),
            Constraint::Range {
                min: None,
                max: None,
            } => "anything".into(),
        }
    }

    /// Whether `actual` satisfies the constraint.
    pub fn holds(&self, actual: &Figure) -> bool {
        match (self, actual) {
            (Constraint::Equals(n), Figure::Number(a)) => a == n,
            (Constraint::Range { min, max }, Figure::Number(a)) => {
                min.is_none_or(|m| *a >= m) && max.is_none_or(|m| *a <= m)
            }
            (Constraint::Is(b), Figure::Truth(a)) => a == b,
            (Constraint::Text(t), Figure::Text(a)) => a == t,
            _ => false,
        }
    }
}

/// A figure's actual value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Figure {
    /// A count or duration.
    Number(i64),
    /// A check's verdict.
    Truth(bool),
    /// A name.
    Text(String),
    /// The check did not run (with the reason).
    Unavailable(String),
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Figure::Number(n) => write!(f, "{n}"),
            Figure::Truth(b) => write!(f, "{b}"),
            Figure::Text(t) => write!(f, "{t}"),
            Figure::Unavailable(why) => write!(f, "unavailable ({why})"),
        }
    }
}

/// One expectation from a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// The figure's name (one of [`FIGURES`], or `lost_acked_writes:<workload>`).
    pub name: String,
    /// The figure's kind, from [`FIGURES`].
    pub kind: FigureKind,
    /// What it must be.
    pub constraint: Constraint,
}

/// An expectation's outcome, as in the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExpectationResult {
    /// The figure.
    pub name: String,
    /// The constraint, e.g. `== 1`.
    pub expected: String,
    /// The actual value.
    pub actual: String,
    /// Whether it held.
    pub met: bool,
}

/// Evaluates expectations against a lookup of figures. An actual value of another kind than
/// the figure's (a lookup that disagrees with [`FIGURES`]) is never met, and says so.
pub fn evaluate(
    expectations: &[Expectation],
    figure: impl Fn(&str) -> Figure,
) -> Vec<ExpectationResult> {
    expectations
        .iter()
        .map(|e| {
            let actual = figure(&e.name);
            let kind_ok = e.kind.accepts(&actual);
            let shown = if kind_ok {
                actual.to_string()
            } else {
                format!("{actual} (not {})", e.kind.describe())
            };
            ExpectationResult {
                name: e.name.clone(),
                expected: e.constraint.describe(),
                actual: shown,
                met: kind_ok && e.constraint.holds(&actual),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints() {
        let r = Constraint::Range {
            min: None,
            max: Some(0),
        };
        assert!(r.holds(&Figure::Number(0)));
        assert!(!r.holds(&Figure::Number(3)));
        assert!(!r.holds(&Figure::Unavailable("x".into())));
        assert!(Constraint::Is(false).holds(&Figure::Truth(false)));
        assert!(!Constraint::Equals(1).holds(&Figure::Truth(true)));
        assert_eq!(r.describe(), "<= 0");
        let res = evaluate(
            &[Expectation {
                name: "failovers".into(),
                kind: FigureKind::Count,
                constraint: Constraint::Equals(1),
            }],
            |_| Figure::Number(2),
        );
        assert!(!res[0].met);
        assert_eq!(res[0].actual, "2");
    }

    #[test]
    fn the_evaluator_refuses_a_figure_of_the_wrong_kind() {
        let e = Expectation {
            name: "converged".into(),
            kind: figure_kind("converged").unwrap(),
            constraint: Constraint::Equals(1),
        };
        let res = evaluate(std::slice::from_ref(&e), |_| Figure::Number(1));
        assert!(!res[0].met, "a count where a verdict belongs is not met");
        assert!(
            res[0].actual.contains("not true or false"),
            "{}",
            res[0].actual
        );
        assert_eq!(
            figure_kind("lost_acked_writes:app"),
            Some(FigureKind::Count)
        );
        assert_eq!(figure_kind("failover_to"), Some(FigureKind::Name));
        assert_eq!(figure_kind("nonsense"), None);
    }
}

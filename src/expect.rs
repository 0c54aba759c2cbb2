//! `[expect]` blocks: assertions over a run's figures, each a line in the summary's
//! `expectations` list; a failed one makes the run exit with code 1.

use serde::Serialize;

/// The figures an `[expect]` block may name, with what each means.
pub const FIGURES: &[(&str, &str)] = &[
    (
        "lost_acked_writes",
        "acknowledged writes missing from the final state",
    ),
    ("full_resyncs", "full resyncs completed by replicas"),
    ("partial_resyncs", "partial resyncs completed by replicas"),
    ("failovers", "promotions of a replica to primary"),
    (
        "converged",
        "every replica equals its primary at the end (true/false)",
    ),
    (
        "single_primary",
        "no two primaries accepted writes at once (true/false)",
    ),
    (
        "linearizable",
        "every key's history is linearizable (true/false)",
    ),
    (
        "split_brain_ms",
        "milliseconds during which two primaries accepted writes",
    ),
    ("ops_ok", "operations that completed"),
    ("ops_failed", "operations that definitely failed"),
    ("ops_indeterminate", "operations whose outcome is unknown"),
    (
        "stale_reads",
        "reads that returned a value older than one already acknowledged",
    ),
    (
        "read_your_writes",
        "every client saw its own acknowledged writes (true/false)",
    ),
    (
        "failover_to",
        "the server the last failover promoted (a name)",
    ),
    (
        "failover_completed_ms",
        "the slowest failover, from the fault to the promotion (ms)",
    ),
    (
        "failover_detected_ms",
        "the slowest detection, from the fault to the first +sdown (ms)",
    ),
];

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
    /// The figure's name (one of [`FIGURES`]).
    pub name: String,
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

/// Evaluates expectations against a lookup of figures.
pub fn evaluate(
    expectations: &[Expectation],
    figure: impl Fn(&str) -> Figure,
) -> Vec<ExpectationResult> {
    expectations
        .iter()
        .map(|e| {
            let actual = figure(&e.name);
            ExpectationResult {
                name: e.name.clone(),
                expected: e.constraint.describe(),
                actual: actual.to_string(),
                met: e.constraint.holds(&actual),
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
                constraint: Constraint::Equals(1),
            }],
            |_| Figure::Number(2),
        );
        assert!(!res[0].met);
        assert_eq!(res[0].actual, "2");
    }
}

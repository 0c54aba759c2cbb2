//! `[expect]` assertions and `[bugs]`.

use super::*;

pub(super) fn expectations(cx: &mut Cx, root: &Table, names: &Names) -> Vec<Expectation> {
    let Some(e) = root.get("expect") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "expect") else {
        return Vec::new();
    };
    let per_workload: Vec<String> = [PER_WORKLOAD_LOST, PER_WORKLOAD_LOST_ADDS]
        .iter()
        .flat_map(|prefix| {
            names
                .workloads
                .iter()
                .map(move |w| format!("{prefix}{}", w.0))
        })
        .collect();
    let mut known: Vec<&str> = FIGURES.iter().map(|f| f.name).collect();
    known.extend(per_workload.iter().map(String::as_str));
    cx.check_keys(t, "expect", &known);
    let servers: Vec<&str> = names.servers.iter().map(|s| s.0.as_str()).collect();
    let mut out = Vec::new();
    for e in &t.entries {
        let Some(kind) = figure_kind(&e.key).filter(|_| known.contains(&e.key.as_str())) else {
            continue;
        };
        let p = join("expect", &e.key);
        if let Some(constraint) = constraint(cx, &e.node, &p, kind, &servers) {
            out.push(Expectation {
                name: e.key.clone(),
                kind,
                constraint,
            });
        }
    }
    out
}

/// A constraint on a figure of `kind`, refusing values of another kind.
fn constraint(
    cx: &mut Cx,
    n: &Node,
    p: &str,
    kind: FigureKind,
    servers: &[&str],
) -> Option<Constraint> {
    match (kind, &n.val) {
        (FigureKind::Bool, Val::Bool(b)) => Some(Constraint::Is(*b)),
        (FigureKind::Name, Val::Str(s)) => {
            if servers.contains(&s.as_str()) {
                return Some(Constraint::Text(s.clone()));
            }
            let hint = match did_you_mean(s, servers.iter().copied()) {
                Some(m) => format!("did you mean \"{m}\"?"),
                None => format!("known servers: {}", servers.join(", ")),
            };
            let msg = format!("no server is named \"{s}\", so it can never be promoted");
            cx.err(n.origin, p, msg, Some(hint));
            None
        }
        (FigureKind::Count | FigureKind::Duration, Val::Table(t)) => range(cx, n, t, p, kind),
        (FigureKind::Count | FigureKind::Duration, _) => {
            amount(cx, n, p, kind).map(|v| Constraint::Equals(v as i64))
        }
        (_, other) => {
            let msg = format!("expected {}, found {}", kind.describe(), describe(other));
            let hint = "each figure has one kind: see the [expect] table in docs/scenarios.md";
            cx.err(n.origin, p, msg, Some(hint.into()));
            None
        }
    }
}

/// A count, or a duration in milliseconds: never negative.
fn amount(cx: &mut Cx, n: &Node, p: &str, kind: FigureKind) -> Option<u64> {
    match (&n.val, kind) {
        (Val::Int(v), _) if *v >= 0 => Some(*v as u64),
        (Val::Str(_), FigureKind::Duration) => cx.duration(n, p, 1_000_000).map(|v| v / 1_000_000),
        (other, _) => {
            let msg = format!("expected {}, found {}", kind.describe(), describe(other));
            let hint = "figures count things or measure time: they are never negative";
            cx.err(n.origin, p, msg, Some(hint.into()));
            None
        }
    }
}

fn range(cx: &mut Cx, n: &Node, t: &Table, p: &str, kind: FigureKind) -> Option<Constraint> {
    cx.check_keys(t, p, &["min", "max"]);
    let bound = |cx: &mut Cx, key: &str| -> Result<Option<u64>, ()> {
        match t.get(key) {
            None => Ok(None),
            Some(x) => amount(cx, &x.node, &join(p, key), kind).map(Some).ok_or(()),
        }
    };
    let (min, max) = (bound(cx, "min").ok()?, bound(cx, "max").ok()?);
    match (min, max) {
        (None, None) => {
            cx.err(n.origin, p, "give `min`, `max` or both".into(), None);
            None
        }
        (Some(a), Some(b)) if a > b => {
            let msg = format!("`min` {a} is larger than `max` {b}: no value can satisfy it");
            cx.err(n.origin, p, msg, Some("swap them, or fix one".into()));
            None
        }
        _ => Some(Constraint::Range {
            min: min.map(|v| v as i64),
            max: max.map(|v| v as i64),
        }),
    }
}

pub(super) fn bugs(cx: &mut Cx, root: &Table) -> crate::bugs::Bugs {
    use crate::bugs::Bugs;
    let mut bugs = Bugs::default();
    let Some(e) = root.get("bugs") else {
        return bugs;
    };
    let Some(t) = cx.table(e, "bugs") else {
        return bugs;
    };
    cx.check_keys(t, "bugs", Bugs::NAMES);
    for entry in &t.entries {
        if let Some(on) = cx.boolean(&entry.node, &join("bugs", &entry.key)) {
            bugs.set(&entry.key, on);
        }
    }
    bugs
}

//! `[expect]` assertions and `[bugs]`.

use super::*;

pub(super) fn expectations(cx: &mut Cx, root: &Table, workloads: &[&str]) -> Vec<Expectation> {
    let Some(e) = root.get("expect") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "expect") else {
        return Vec::new();
    };
    let per_workload: Vec<String> = workloads
        .iter()
        .map(|w| format!("lost_acked_writes:{w}"))
        .collect();
    let mut names: Vec<&str> = FIGURES.iter().map(|(n, _)| *n).collect();
    names.extend(per_workload.iter().map(String::as_str));
    cx.check_keys(t, "expect", &names);
    let mut out = Vec::new();
    for e in &t.entries {
        if !names.contains(&e.key.as_str()) {
            continue;
        }
        let p = join("expect", &e.key);
        let c = match &e.node.val {
            Val::Int(n) => Some(Constraint::Equals(*n)),
            Val::Bool(b) => Some(Constraint::Is(*b)),
            Val::Str(s) => Some(Constraint::Text(s.clone())),
            Val::Table(rt) => {
                cx.check_keys(rt, &p, &["min", "max"]);
                let min = rt
                    .get("min")
                    .and_then(|x| cx.int(&x.node, &join(&p, "min"), i64::MIN, i64::MAX));
                let max = rt
                    .get("max")
                    .and_then(|x| cx.int(&x.node, &join(&p, "max"), i64::MIN, i64::MAX));
                if min.is_none() && max.is_none() {
                    cx.err(e.node.origin, &p, "give `min`, `max` or both".into(), None);
                    None
                } else {
                    Some(Constraint::Range { min, max })
                }
            }
            other => {
                cx.err(
                    e.node.origin,
                    &p,
                    format!(
                        "expected a number, true/false or {{ min, max }}, found {}",
                        other.type_name()
                    ),
                    None,
                );
                None
            }
        };
        if let Some(constraint) = c {
            out.push(Expectation {
                name: e.key.clone(),
                constraint,
            });
        }
    }
    out
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

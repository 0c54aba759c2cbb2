//! Scheduled `[[faults]]`: the kind, the timing, and the targets (names resolved to processes).

use super::fault_kinds::{FaultInput, KINDS, Kind};
use super::*;

pub(super) fn target_list(
    cx: &mut Cx,
    n: &Node,
    p: &str,
    names: &Names,
) -> Option<(Vec<ProcessId>, Vec<String>)> {
    let items: Vec<&Node> = match &n.val {
        Val::Str(_) => vec![n],
        Val::Array(xs) => xs.iter().collect(),
        other => {
            cx.err(
                n.origin,
                p,
                format!(
                    "expected a name or a list of names, found {}",
                    other.type_name()
                ),
                None,
            );
            return None;
        }
    };
    let mut ids = std::collections::BTreeSet::new();
    let mut labels = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(s) = cx.string(item, p) else {
            ok = false;
            continue;
        };
        match names.resolve(s) {
            Some(v) => {
                ids.extend(v);
                labels.push(s.to_string());
            }
            None => {
                let cands = names.candidates();
                let hint = match did_you_mean(s, cands.iter().copied()) {
                    Some(m) => format!("did you mean \"{m}\"?"),
                    None => format!("name a server, workload or region: {}", cands.join(", ")),
                };
                cx.err(
                    item.origin,
                    p,
                    format!("unknown server, workload or region \"{s}\""),
                    Some(hint),
                );
                ok = false;
            }
        }
    }
    ok.then(|| (ids.into_iter().collect(), labels))
}

pub(super) fn parse_faults(
    cx: &mut Cx,
    root: &Table,
    names: &Names,
    duration_ns: u64,
) -> Vec<FaultSpec> {
    let Some(e) = root.get("faults") else {
        return Vec::new();
    };
    let Val::Array(items) = &e.node.val else {
        cx.err(
            e.node.origin,
            "faults",
            "expected an array of tables ([[faults]])".into(),
            None,
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("faults[{i}]");
        let Val::Table(t) = &item.val else {
            cx.err(item.origin, &p, "expected a table".into(), None);
            continue;
        };
        if let Some(f) = fault(cx, t, item.origin, &p, names, duration_ns) {
            out.push(f);
        }
    }
    out
}

pub(super) fn fault(
    cx: &mut Cx,
    t: &Table,
    origin: Origin,
    p: &str,
    names: &Names,
    duration_ns: u64,
) -> Option<FaultSpec> {
    let (kind, name) = fault_kind(cx, t, origin, p)?;
    let mut allowed = vec!["kind", "at", "heal", "for"];
    allowed.extend_from_slice(kind.keys());
    cx.check_keys(t, p, &allowed);
    let (at_ns, heal_ns) = timing(cx, t, origin, p, duration_ns)?;
    let input = FaultInput {
        t,
        origin,
        path: p,
        names,
        kind: &name,
    };
    let (fk, labels) = kind.parse(cx, &input)?;
    Some(FaultSpec {
        kind: fk,
        targets: labels,
        label: name,
        at_ns,
        heal_ns,
    })
}

/// The fault's `kind`, looked up once.
fn fault_kind(cx: &mut Cx, t: &Table, origin: Origin, p: &str) -> Option<(Kind, String)> {
    let all: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
    let Some(k) = t.get("kind") else {
        cx.err(
            origin,
            &join(p, "kind"),
            "missing `kind`".into(),
            Some(format!("one of: {}", all.join(", "))),
        );
        return None;
    };
    let name = cx.string(&k.node, &join(p, "kind"))?.to_string();
    let Some(kind) = Kind::named(&name) else {
        let hint = match did_you_mean(&name, all.iter().copied()) {
            Some(m) => format!("did you mean \"{m}\"?"),
            None => format!("one of: {}", all.join(", ")),
        };
        cx.err(
            k.node.origin,
            &join(p, "kind"),
            format!("unknown fault kind \"{name}\""),
            Some(hint),
        );
        return None;
    };
    Some((kind, name))
}

/// `at`, and `heal` or `for`.
fn timing(
    cx: &mut Cx,
    t: &Table,
    origin: Origin,
    p: &str,
    duration_ns: u64,
) -> Option<(u64, Option<u64>)> {
    let at_ns = match t.get("at") {
        Some(e) => cx.duration(&e.node, &join(p, "at"), 1_000_000_000)?,
        None => {
            cx.err(
                origin,
                &join(p, "at"),
                "missing `at`".into(),
                Some("e.g. at = \"60s\"".into()),
            );
            return None;
        }
    };
    if at_ns > duration_ns {
        cx.err(
            t.get("at").map_or(origin, |e| e.node.origin),
            &join(p, "at"),
            "starts after the run ends".into(),
            Some("make `at` no later than `duration`".into()),
        );
        return None;
    }
    let heal = heal_time(cx, t, p, at_ns)?;
    Some((at_ns, heal))
}

fn heal_time(cx: &mut Cx, t: &Table, p: &str, at_ns: u64) -> Option<Option<u64>> {
    let heal_ns = match (t.get("heal"), t.get("for")) {
        (Some(h), None) => Some((
            cx.duration(&h.node, &join(p, "heal"), 1_000_000_000)?,
            h.node.origin,
        )),
        (None, Some(f)) => Some((
            at_ns + cx.duration(&f.node, &join(p, "for"), 1_000_000_000)?,
            f.node.origin,
        )),
        (None, None) => None,
        (Some(h), Some(_)) => {
            cx.err(
                h.node.origin,
                &join(p, "heal"),
                "give either `heal` or `for`, not both".into(),
                None,
            );
            return None;
        }
    };
    if let Some((h, o)) = heal_ns
        && h <= at_ns
    {
        cx.err(
            o,
            &join(p, "heal"),
            "heals before it starts".into(),
            Some("`heal` must be later than `at`".into()),
        );
        return None;
    }
    Some(heal_ns.map(|(h, _)| h))
}

pub(super) fn signed_duration(cx: &mut Cx, n: &Node, p: &str) -> Option<i64> {
    match &n.val {
        Val::Str(s) if s.starts_with('-') => {
            let v = cx.duration(
                &Node {
                    origin: n.origin,
                    val: Val::Str(s[1..].to_string()),
                },
                p,
                1,
            )?;
            Some(-(v as i64))
        }
        _ => cx.duration(n, p, 1_000_000_000).map(|v| v as i64),
    }
}

pub(super) type Groups = (Vec<ProcessId>, Vec<ProcessId>, Vec<String>);

pub(super) fn two_groups(cx: &mut Cx, n: &Node, p: &str, names: &Names) -> Option<Groups> {
    let Val::Array(sides) = &n.val else {
        cx.err(
            n.origin,
            p,
            "expected two lists of names".into(),
            Some("e.g. between = [[\"p1\"], [\"r1\", \"r2\"]]".into()),
        );
        return None;
    };
    if sides.len() != 2 {
        cx.err(
            n.origin,
            p,
            format!("expected two sides, found {}", sides.len()),
            Some("e.g. between = [[\"p1\"], [\"r1\", \"r2\"]]".into()),
        );
        return None;
    }
    let (a, mut la) = target_list(cx, &sides[0], p, names)?;
    let (b, lb) = target_list(cx, &sides[1], p, names)?;
    la.push("|".into());
    la.extend(lb);
    Some((a, b, la))
}

//! Scheduled `[[faults]]`: the kind, the timing, and the targets (names resolved to processes).

use super::fault_kinds::{FaultInput, KINDS, Kind};
use super::*;
use crate::scenario::{FaultTiming, Heal, Window};

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
    if items.is_empty() {
        cx.err(
            n.origin,
            p,
            "the list of targets is empty, so the fault would do nothing".into(),
            Some("name at least one server, sentinel, workload or region".into()),
        );
        return None;
    }
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
    if ok && ids.is_empty() {
        let msg = format!("{} name no process", labels.join(", "));
        let hint = "a region with no servers, sentinels or clients in it cannot be targeted";
        cx.err(n.origin, p, msg, Some(hint.into()));
        return None;
    }
    ok.then(|| (ids.into_iter().collect(), labels))
}

/// Refuses sides that share a process: a link from a process to itself cannot be cut.
pub(super) fn disjoint(
    cx: &mut Cx,
    n: &Node,
    p: &str,
    a: &[ProcessId],
    b: &[ProcessId],
    names: &Names,
) -> bool {
    let Some(both) = a.iter().find(|x| b.contains(x)) else {
        return true;
    };
    let name = names.process_name(*both);
    cx.err(
        n.origin,
        p,
        format!("\"{name}\" is on both sides: a process cannot be cut off from itself"),
        Some("put every process on one side only".into()),
    );
    false
}

pub(super) fn parse_faults(
    cx: &mut Cx,
    root: &Table,
    names: &Names,
    run: &RunTimes,
) -> (Vec<FaultSpec>, Vec<FaultTiming>) {
    let Some(e) = root.get("faults") else {
        return (Vec::new(), Vec::new());
    };
    let Val::Array(items) = &e.node.val else {
        cx.err(
            e.node.origin,
            "faults",
            "expected an array of tables ([[faults]])".into(),
            None,
        );
        return (Vec::new(), Vec::new());
    };
    let mut specs = Vec::new();
    let mut timings = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("faults[{i}]");
        let Val::Table(t) = &item.val else {
            cx.err(item.origin, &p, "expected a table".into(), None);
            continue;
        };
        if let Some((f, timing)) = fault(cx, t, item.origin, &p, names, run) {
            specs.push(f);
            timings.push(timing);
        }
    }
    (
        crate::scenario::timing::place(&specs, &timings, run.seed),
        timings,
    )
}

pub(super) fn fault(
    cx: &mut Cx,
    t: &Table,
    origin: Origin,
    p: &str,
    names: &Names,
    run: &RunTimes,
) -> Option<(FaultSpec, FaultTiming)> {
    let (kind, name) = fault_kind(cx, t, origin, p)?;
    let mut allowed = vec!["kind", "at", "heal", "for"];
    allowed.extend_from_slice(kind.keys());
    cx.check_keys(t, p, &allowed);
    let mut timing = timing(cx, t, origin, p, run)?;
    let once = matches!(
        kind,
        Kind::Command | Kind::Reshard | Kind::AddServer | Kind::RemoveServer
    );
    if once {
        // Done when sent (a reshard then runs on its own): its heal is its start.
        timing.heal = Heal::After(Window::at(0));
    }
    let input = FaultInput {
        t,
        origin,
        path: p,
        names,
        kind: &name,
    };
    if once && let Some(h) = t.get("heal").or_else(|| t.get("for")) {
        let msg = match kind {
            Kind::Reshard => "a reshard runs until every slot has moved and is not healed",
            Kind::AddServer | Kind::RemoveServer => {
                "an operator's action happens once and is not healed"
            }
            _ => "a command happens once and is not healed",
        };
        cx.err(
            h.node.origin,
            p,
            msg.into(),
            Some("leave out `heal` and `for`".into()),
        );
        return None;
    }
    let (fk, labels) = kind.parse(cx, &input)?;
    let spec = FaultSpec {
        kind: fk,
        targets: labels,
        label: name,
        at_ns: timing.at.lo_ns,
        heal_ns: None,
    };
    Some((spec, timing))
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

/// A time or a window: `"60s"`, `60` (seconds), `"20s..25s"`; with `+` (`"+5s"`,
/// `"+5s..+10s"`) relative to the fault's start. Returns the window and whether it is relative.
fn window(cx: &mut Cx, n: &Node, p: &str) -> Option<(Window, bool)> {
    let Val::Str(text) = &n.val else {
        return Some((Window::at(cx.duration(n, p, 1_000_000_000)?), false));
    };
    let (lo, hi) = text.split_once("..").unwrap_or((text, text));
    let (lo, hi) = (lo.trim(), hi.trim());
    let relative = lo.starts_with('+');
    if relative != hi.starts_with('+') {
        let hint = "write both ends relative (\"+5s..+10s\") or both absolute (\"20s..25s\")";
        cx.err(
            n.origin,
            p,
            format!("\"{text}\" mixes a relative and an absolute end"),
            Some(hint.into()),
        );
        return None;
    }
    let end = |cx: &mut Cx, s: &str| {
        let node = Node {
            origin: n.origin,
            val: Val::Str(s.trim_start_matches('+').to_string()),
        };
        cx.duration(&node, p, 1_000_000_000)
    };
    let (lo_ns, hi_ns) = (end(cx, lo)?, end(cx, hi)?);
    if lo_ns > hi_ns {
        let msg = format!("the window \"{text}\" ends before it begins");
        cx.err(
            n.origin,
            p,
            msg,
            Some("write the earlier time first".into()),
        );
        return None;
    }
    Some((Window { lo_ns, hi_ns }, relative))
}

/// `at`, and `heal` or `for`.
fn timing(cx: &mut Cx, t: &Table, origin: Origin, p: &str, run: &RunTimes) -> Option<FaultTiming> {
    let Some(e) = t.get("at") else {
        cx.err(
            origin,
            &join(p, "at"),
            "missing `at`".into(),
            Some("e.g. at = \"60s\", or a window: at = \"20s..25s\"".into()),
        );
        return None;
    };
    let (at, relative) = window(cx, &e.node, &join(p, "at"))?;
    if relative || at.hi_ns > run.duration_ns {
        let msg = if relative {
            "`at` is a time from the start of the run, not relative"
        } else if at.lo_ns > run.duration_ns {
            "starts after the run ends"
        } else {
            "the window ends after the run ends"
        };
        cx.err(
            e.node.origin,
            &join(p, "at"),
            msg.into(),
            Some("make `at` no later than `duration`, without a `+`".into()),
        );
        return None;
    }
    if at.hi_ns >= run.load_end {
        quiet_warning(cx, e.node.origin, &join(p, "at"), run);
    }
    let heal = heal_time(cx, t, p, at)?;
    Some(FaultTiming { at, heal })
}

fn quiet_warning(cx: &mut Cx, origin: Origin, p: &str, run: &RunTimes) {
    let from = run.load_end as f64 / 1e9;
    cx.warn(
        origin,
        p,
        format!(
            "can start in the quiet phase (from {from}s, `duration` - `quiet`), when every fault \
             has already been healed: it then stays in force while the checkers judge the end \
             of the run"
        ),
        Some(format!("start it before {from}s, or shorten `quiet`")),
    );
}

fn heal_time(cx: &mut Cx, t: &Table, p: &str, at: Window) -> Option<Heal> {
    let (heal, o) = match (t.get("heal"), t.get("for")) {
        (Some(h), None) => match window(cx, &h.node, &join(p, "heal"))? {
            (w, true) => (Heal::After(w), h.node.origin),
            (w, false) => (Heal::At(w), h.node.origin),
        },
        (None, Some(f)) => (
            Heal::After(window(cx, &f.node, &join(p, "for"))?.0),
            f.node.origin,
        ),
        (None, None) => return Some(Heal::AtQuiet),
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
    let early = match heal {
        Heal::At(w) => w.lo_ns <= at.hi_ns,
        Heal::After(w) => w.lo_ns == 0,
        Heal::AtQuiet => false,
    };
    if early {
        cx.err(
            o,
            &join(p, "heal"),
            "heals before it starts".into(),
            Some("`heal` must be later than the latest `at`".into()),
        );
        return None;
    }
    Some(heal)
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
    if !disjoint(cx, n, p, &a, &b, names) {
        return None;
    }
    la.push("|".into());
    la.extend(lb);
    Some((a, b, la))
}

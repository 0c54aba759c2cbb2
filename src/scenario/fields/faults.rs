//! Faults: scheduled `[[faults]]` with their targets, and the random `[nemesis]`.

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
    let Some(k) = t.get("kind") else {
        cx.err(
            origin,
            &join(p, "kind"),
            "missing `kind`".into(),
            Some(format!("one of: {}", FAULT_KINDS.join(", "))),
        );
        return None;
    };
    let kind = cx.string(&k.node, &join(p, "kind"))?.to_string();
    if !FAULT_KINDS.contains(&kind.as_str()) {
        let hint = match did_you_mean(&kind, FAULT_KINDS.iter().copied()) {
            Some(m) => format!("did you mean \"{m}\"?"),
            None => format!("one of: {}", FAULT_KINDS.join(", ")),
        };
        cx.err(
            k.node.origin,
            &join(p, "kind"),
            format!("unknown fault kind \"{kind}\""),
            Some(hint),
        );
        return None;
    }
    let mut allowed = vec!["kind", "at", "heal", "for"];
    allowed.extend_from_slice(match kind.as_str() {
        "partition" | "bridge" => &["between", "middle"],
        "one-way-partition" => &["from", "to"],
        "isolate" | "pause" => &["targets"],
        "region-outage" => &["region"],
        "crash" | "machine-crash" => &["targets", "wipe_disk"],
        "loss" => &["between", "targets", "rate"],
        "latency" => &["between", "targets", "extra"],
        "clock" => &["targets", "jump", "drift_ppm"],
        "disk-stall" => &["targets"],
        "failover" => &["target"],
        _ => &[],
    });
    cx.check_keys(t, p, &allowed);
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
    let heal_ns = heal_ns.map(|(h, _)| h);
    let everyone = names.resolve("all").unwrap_or_default();
    let others = |a: &[ProcessId]| -> Vec<ProcessId> {
        everyone
            .iter()
            .copied()
            .filter(|x| !a.contains(x))
            .collect()
    };
    let need = |cx: &mut Cx, key: &str| -> Option<&Node> {
        let n = t.get(key).map(|e| &e.node);
        if n.is_none() {
            cx.err(
                origin,
                &join(p, key),
                format!("a {kind} fault needs `{key}`"),
                None,
            );
        }
        n
    };
    let (fk, labels) = match kind.as_str() {
        "partition" | "bridge" => {
            let node_between = need(cx, "between")?;
            let (a, b, labels) = two_groups(cx, node_between, &join(p, "between"), names)?;
            if kind == "bridge" {
                let node_middle = need(cx, "middle")?;
                let (mid, _) = target_list(cx, node_middle, &join(p, "middle"), names)?;
                if mid.iter().any(|m| a.contains(m) || b.contains(m)) {
                    cx.err(
                        origin,
                        &join(p, "middle"),
                        "the middle must belong to neither side".into(),
                        None,
                    );
                    return None;
                }
            }
            (
                FaultKind::Partition {
                    a,
                    b,
                    one_way: false,
                },
                labels,
            )
        }
        "one-way-partition" => {
            let node_from = need(cx, "from")?;
            let (a, mut la) = target_list(cx, node_from, &join(p, "from"), names)?;
            let node_to = need(cx, "to")?;
            let (b, lb) = target_list(cx, node_to, &join(p, "to"), names)?;
            la.push("->".into());
            la.extend(lb);
            (
                FaultKind::Partition {
                    a,
                    b,
                    one_way: true,
                },
                la,
            )
        }
        "isolate" => {
            let node_targets = need(cx, "targets")?;
            let (a, labels) = target_list(cx, node_targets, &join(p, "targets"), names)?;
            let b = others(&a);
            (
                FaultKind::Partition {
                    a,
                    b,
                    one_way: false,
                },
                labels,
            )
        }
        "region-outage" => {
            let n = need(cx, "region")?;
            let (a, labels) = target_list(cx, n, &join(p, "region"), names)?;
            if !labels.iter().all(|l| names.regions.contains(l)) {
                cx.err(
                    n.origin,
                    &join(p, "region"),
                    "name a region".into(),
                    Some(format!("known regions: {}", names.regions.join(", "))),
                );
                return None;
            }
            let b = others(&a);
            (
                FaultKind::Partition {
                    a,
                    b,
                    one_way: false,
                },
                labels,
            )
        }
        "crash" | "machine-crash" | "pause" | "clock" | "disk-stall" => {
            let node_targets = need(cx, "targets")?;
            let (nodes, labels) = target_list(cx, node_targets, &join(p, "targets"), names)?;
            let daemons = names.servers.len() + names.sentinels.len();
            if kind != "pause" && kind != "clock" && nodes.iter().any(|n| n.index() >= daemons) {
                cx.err(
                    origin,
                    &join(p, "targets"),
                    format!("only servers can take a {kind} fault"),
                    None,
                );
                return None;
            }
            let fk = match kind.as_str() {
                "pause" => FaultKind::Pause { nodes },
                "disk-stall" => FaultKind::DiskStall { nodes },
                "clock" => FaultKind::Clock {
                    nodes,
                    jump_ns: match t.get("jump") {
                        None => 0,
                        Some(e) => signed_duration(cx, &e.node, &join(p, "jump"))?,
                    },
                    drift_ppm: t.get("drift_ppm").map_or(Some(0), |e| {
                        cx.int(&e.node, &join(p, "drift_ppm"), -500_000, 500_000)
                    })?,
                },
                _ => FaultKind::Crash {
                    nodes,
                    machine: kind == "machine-crash",
                    wipe_disk: t
                        .get("wipe_disk")
                        .map_or(Some(false), |e| cx.boolean(&e.node, &join(p, "wipe_disk")))?,
                },
            };
            (fk, labels)
        }
        "loss" | "latency" => {
            let (a, b, labels) = match (t.get("between"), t.get("targets")) {
                (Some(e), _) => two_groups(cx, &e.node, &join(p, "between"), names)?,
                (None, Some(e)) => {
                    let (a, l) = target_list(cx, &e.node, &join(p, "targets"), names)?;
                    let b = others(&a);
                    (a, b, l)
                }
                (None, None) => {
                    cx.err(
                        origin,
                        p,
                        format!("a {kind} fault needs `between` or `targets`"),
                        None,
                    );
                    return None;
                }
            };
            let fk = if kind == "loss" {
                let node_rate = need(cx, "rate")?;
                let ppm = cx.with_str(
                    node_rate,
                    &join(p, "rate"),
                    parse_percent,
                    "write e.g. \"5%\"",
                )?;
                FaultKind::Loss { a, b, ppm }
            } else {
                let node_extra = need(cx, "extra")?;
                let extra_ns = cx.duration(node_extra, &join(p, "extra"), 1_000_000)?;
                FaultKind::Latency { a, b, extra_ns }
            };
            (fk, labels)
        }
        "failover" => {
            let node_target = need(cx, "target")?;
            let (t, labels) = target_list(cx, node_target, &join(p, "target"), names)?;
            let [target] = t[..] else {
                cx.err(
                    node_target.origin,
                    &join(p, "target"),
                    "name exactly one server to promote".into(),
                    None,
                );
                return None;
            };
            if target.index() >= names.servers.len() {
                cx.err(
                    node_target.origin,
                    &join(p, "target"),
                    "only a server can be promoted".into(),
                    None,
                );
                return None;
            }
            let others = (0..names.servers.len() as u32)
                .map(ProcessId)
                .filter(|x| *x != target)
                .collect();
            (FaultKind::Failover { target, others }, labels)
        }
        _ => unreachable!("kind checked above"),
    };
    Some(FaultSpec {
        kind: fk,
        targets: labels,
        label: kind,
        at_ns,
        heal_ns,
    })
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

pub(super) fn nemesis(
    cx: &mut Cx,
    root: &Table,
    end_ns: u64,
) -> Option<crate::nemesis::NemesisSpec> {
    use crate::nemesis::{NemesisKind, NemesisSpec};
    let e = root.get("nemesis")?;
    let t = cx.table(e, "nemesis")?;
    let keys = [
        "kinds",
        "interval",
        "min_duration",
        "max_duration",
        "start",
        "loss_rate",
        "extra_latency",
        "clock_jump",
    ];
    cx.check_keys(t, "nemesis", &keys);
    let names: Vec<&str> = NemesisKind::NAMES.iter().map(|(n, _)| *n).collect();
    let mut kinds = Vec::new();
    match t.get("kinds").map(|k| &k.node) {
        None => kinds = NemesisKind::NAMES.iter().map(|(_, k)| *k).collect(),
        Some(Node {
            val: Val::Array(items),
            ..
        }) => {
            for item in items {
                let Some(s) = cx.string(item, "nemesis.kinds") else {
                    continue;
                };
                match NemesisKind::NAMES.iter().find(|(n, _)| *n == s) {
                    Some((_, k)) => kinds.push(*k),
                    None => {
                        let hint = match did_you_mean(s, names.iter().copied()) {
                            Some(m) => format!("did you mean \"{m}\"?"),
                            None => format!("one of: {}", names.join(", ")),
                        };
                        cx.err(
                            item.origin,
                            "nemesis.kinds",
                            format!("unknown nemesis kind \"{s}\""),
                            Some(hint),
                        );
                    }
                }
            }
        }
        Some(other) => {
            cx.err(
                other.origin,
                "nemesis.kinds",
                "expected a list of fault kinds".into(),
                Some(format!(
                    "e.g. kinds = [\"partition\", \"crash\"]; known: {}",
                    names.join(", ")
                )),
            );
        }
    }
    let d = |cx: &mut Cx, key: &str, default: u64| -> Option<u64> {
        match t.get(key) {
            Some(x) => cx.duration(&x.node, &join("nemesis", key), 1_000_000_000),
            None => Some(default),
        }
    };
    let mean_interval_ns = d(cx, "interval", 10_000_000_000)?;
    let min_duration_ns = d(cx, "min_duration", 1_000_000_000)?;
    let max_duration_ns = d(cx, "max_duration", 10_000_000_000)?;
    let start_ns = d(cx, "start", 0)?;
    let extra_latency_ns = d(cx, "extra_latency", 200_000_000)?;
    let clock_jump_ns = d(cx, "clock_jump", 5_000_000_000)? as i64;
    if mean_interval_ns == 0 {
        cx.err(
            t.get("interval").map_or(e.node.origin, |x| x.node.origin),
            "nemesis.interval",
            "must be longer than zero".into(),
            None,
        );
        return None;
    }
    if max_duration_ns < min_duration_ns {
        cx.err(
            e.node.origin,
            "nemesis.max_duration",
            "is shorter than `min_duration`".into(),
            None,
        );
        return None;
    }
    let loss_ppm = match t.get("loss_rate") {
        Some(x) => cx.with_str(
            &x.node,
            "nemesis.loss_rate",
            parse_percent,
            "write e.g. \"10%\"",
        )?,
        None => 100_000,
    };
    Some(NemesisSpec {
        kinds,
        mean_interval_ns,
        min_duration_ns,
        max_duration_ns,
        start_ns,
        end_ns,
        loss_ppm,
        extra_latency_ns,
        clock_jump_ns,
    })
}

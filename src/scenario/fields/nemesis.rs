//! The random `[nemesis]`: which kinds it may draw, how often, and how long each fault lasts.

use super::*;
use crate::nemesis::{NemesisKind, NemesisSpec};
use crate::scenario::limits::MIN_NEMESIS_INTERVAL_NS;

const NEMESIS_KEYS: &[&str] = &[
    "kinds",
    "interval",
    "min_duration",
    "max_duration",
    "start",
    "loss_rate",
    "extra_latency",
    "clock_jump",
    "slow_fsync",
    "swarm",
];

pub(super) fn nemesis(cx: &mut Cx, root: &Table, run: &RunTimes) -> Option<NemesisSpec> {
    let end_ns = run.load_end;
    let e = root.get("nemesis")?;
    let t = cx.table(e, "nemesis")?;
    cx.check_keys(t, "nemesis", NEMESIS_KEYS);
    let kinds = nemesis_kinds(cx, t);
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
    let slow_fsync_ns = d(cx, "slow_fsync", 3_000_000_000)?;
    let interval_origin = t.get("interval").map_or(e.node.origin, |x| x.node.origin);
    if mean_interval_ns < MIN_NEMESIS_INTERVAL_NS {
        let message = if mean_interval_ns == 0 {
            "must be longer than zero".to_string()
        } else {
            "is shorter than 1ms: the nemesis draws at most one fault per millisecond".to_string()
        };
        let hint = "a mean interval of 1ms or more, e.g. interval = \"10s\"";
        cx.err(
            interval_origin,
            "nemesis.interval",
            message,
            Some(hint.into()),
        );
        return None;
    }
    if start_ns >= end_ns {
        start_warning(
            cx,
            t.get("start").map_or(e.node.origin, |x| x.node.origin),
            start_ns,
            end_ns,
        );
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
    let loss_ppm = loss_rate(cx, t)?;
    let swarm = match t.get("swarm") {
        Some(x) => cx.boolean(&x.node, "nemesis.swarm")?,
        None => false,
    };
    Some(NemesisSpec {
        kinds,
        swarm,
        mean_interval_ns,
        min_duration_ns,
        max_duration_ns,
        start_ns,
        end_ns,
        loss_ppm,
        extra_latency_ns,
        clock_jump_ns,
        slow_fsync_ns,
    })
}

/// `kinds`: a list of kind names (default: every kind but the disk's errors and slow fsyncs).
fn nemesis_kinds(cx: &mut Cx, t: &Table) -> Vec<NemesisKind> {
    let names: Vec<&str> = NemesisKind::NAMES.iter().map(|(n, _)| *n).collect();
    let items = match t.get("kinds").map(|k| &k.node) {
        None => return NemesisKind::DEFAULT.to_vec(),
        Some(Node {
            val: Val::Array(items),
            ..
        }) => items,
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
            return Vec::new();
        }
    };
    let mut kinds = Vec::new();
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
                let msg = format!("unknown nemesis kind \"{s}\"");
                cx.err(item.origin, "nemesis.kinds", msg, Some(hint));
            }
        }
    }
    kinds
}

/// A nemesis that starts once faults are over draws nothing.
fn start_warning(cx: &mut Cx, origin: Origin, start_ns: u64, end_ns: u64) {
    let (start, end) = (start_ns as f64 / 1e9, end_ns as f64 / 1e9);
    cx.warn(
        origin,
        "nemesis.start",
        format!(
            "starts at {start}s but the nemesis stops at {end}s (the quiet phase, \
             `duration` - `quiet`): it never draws a fault"
        ),
        Some(format!("start it before {end}s, or remove [nemesis]")),
    );
}

/// `loss_rate` in parts per million (default 10%).
fn loss_rate(cx: &mut Cx, t: &Table) -> Option<u32> {
    match t.get("loss_rate") {
        Some(x) => cx.with_str(
            &x.node,
            "nemesis.loss_rate",
            parse_percent,
            "write e.g. \"10%\"",
        ),
        None => Some(100_000),
    }
}

//! `[operator]`: the automation people build around Sentinel (scripts, Kubernetes operators)
//! that takes a sick replica out and puts a spare in its place.

use super::*;
use crate::scenario::OperatorSpec;
use crate::sim::SimTime;

const OPERATOR_KEYS: &[&str] = &[
    "spares",
    "interval",
    "down",
    "lag",
    "lag_for",
    "disk_errors",
    "sentinel_reset",
];

pub(super) fn operator(cx: &mut Cx, root: &Table, servers: &[ServerSpec]) -> Option<OperatorSpec> {
    let e = root.get("operator")?;
    let t = cx.table(e, "operator")?;
    cx.check_keys(t, "operator", OPERATOR_KEYS);
    let dur = |cx: &mut Cx, key: &str| -> Option<Option<u64>> {
        match t.get(key) {
            Some(x) => cx
                .duration(&x.node, &join("operator", key), SimTime::NANOS_PER_SEC)
                .map(Some),
            None => Some(None),
        }
    };
    let flag = |cx: &mut Cx, key: &str, default: bool| -> Option<bool> {
        match t.get(key) {
            Some(x) => cx.boolean(&x.node, &join("operator", key)),
            None => Some(default),
        }
    };
    let interval_ns = dur(cx, "interval")?.unwrap_or(SimTime::NANOS_PER_SEC);
    if interval_ns < SimTime::NANOS_PER_MS {
        let origin = t.get("interval").map_or(e.node.origin, |x| x.node.origin);
        let hint = "e.g. interval = \"1s\"";
        cx.err(
            origin,
            "operator.interval",
            "is shorter than 1ms".into(),
            Some(hint.into()),
        );
        return None;
    }
    let down_ns = dur(cx, "down")?;
    let lag_for_ns = dur(cx, "lag_for")?.unwrap_or(10 * SimTime::NANOS_PER_SEC);
    let lag_bytes = match t.get("lag") {
        Some(x) => Some(cx.size(&x.node, "operator.lag")?),
        None => None,
    };
    let disk_errors = flag(cx, "disk_errors", true)?;
    let sentinel_reset = flag(cx, "sentinel_reset", true)?;
    let spares = spares(cx, t, e.node.origin, servers)?;
    if down_ns.is_none() && lag_bytes.is_none() && !disk_errors {
        cx.warn(
            e.node.origin,
            "operator",
            "the operator watches nothing: it never replaces a replica".into(),
            Some("set `down`, `lag` or `disk_errors = true`".into()),
        );
    }
    Some(OperatorSpec {
        spares,
        interval_ns,
        down_ns,
        lag_bytes,
        lag_for_ns,
        disk_errors,
        sentinel_reset,
    })
}

/// `spares`: standby servers, in the order the operator brings them in.
fn spares(cx: &mut Cx, t: &Table, origin: Origin, servers: &[ServerSpec]) -> Option<Vec<usize>> {
    let Some(x) = t.get("spares") else {
        cx.warn(
            origin,
            "operator.spares",
            "the operator has no spare servers: it can take sick replicas out but put none in"
                .into(),
            Some("declare a server with `standby = true` and list it in `spares`".into()),
        );
        return Some(Vec::new());
    };
    let Val::Array(items) = &x.node.val else {
        let hint = "e.g. spares = [\"r3\"]";
        let msg = "expected a list of server names".to_string();
        cx.err(x.node.origin, "operator.spares", msg, Some(hint.into()));
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let name = cx.string(item, "operator.spares")?;
        let Some(i) = servers.iter().position(|s| s.name == name) else {
            let names = servers.iter().map(|s| s.name.as_str());
            let hint = did_you_mean(name, names).map(|m| format!("did you mean \"{m}\"?"));
            cx.err(
                item.origin,
                "operator.spares",
                format!("unknown server \"{name}\""),
                hint,
            );
            return None;
        };
        if !servers[i].standby {
            let msg = format!("\"{name}\" is not a standby server: it runs from the start");
            let hint = format!("add `standby = true` to [servers.{name}]");
            cx.err(item.origin, "operator.spares", msg, Some(hint));
            return None;
        }
        if out.contains(&i) {
            cx.err(
                item.origin,
                "operator.spares",
                format!("\"{name}\" is listed twice"),
                None,
            );
            return None;
        }
        out.push(i);
    }
    Some(out)
}

//! Limits a scenario must respect before it runs: the size of input files, Redis's largest
//! value, the memory a run would need, and the work one simulated second may cost. Each is
//! checked from the scenario alone, so a run that would exhaust memory or spin for minutes is
//! refused at load time with the knob to lower.

use crate::client::{OpKind, WorkloadSpec};
use crate::scenario::{Scenario, WorkloadGroup};

/// The largest input file read (10 MiB): scenario files are a few kilobytes.
pub const MAX_INPUT_BYTES: u64 = 10 * 1024 * 1024;

/// The largest value a workload may write: Redis's `proto-max-bulk-len` default, 512 MiB
/// (config.c: `createLongLongConfig("proto-max-bulk-len", ... 512ll*1024*1024 ...)`).
pub const MAX_VALUE_SIZE: u64 = 512 * 1024 * 1024;

/// The default limit on the estimated memory of a run (8 GiB).
pub const DEFAULT_MAX_MEMORY: u64 = 8 * 1024 * 1024 * 1024;

/// The most events one simulated second may cost. The kernel delivers between 10^5 and 10^6
/// events per wall-clock second (`simkv bench`), so at this bound one simulated second costs at
/// most about 20 wall-clock seconds on a slow machine, and a run never spins for minutes on it.
pub const MAX_EVENTS_PER_SIM_SECOND: u64 = 2_000_000;

/// The shortest mean interval between nemesis faults: the nemesis draws at most one fault per
/// millisecond, so a shorter interval would silently not be honoured.
pub const MIN_NEMESIS_INTERVAL_NS: u64 = 1_000_000;

/// Bytes one history event costs in memory besides the value it carries (operation, key, times,
/// process, outcome), rounded up.
pub const HISTORY_EVENT_BYTES: u64 = 128;

/// Bytes a key costs in a server's keyspace besides its value (key, entry, expiry slot).
pub const KEY_OVERHEAD_BYTES: u64 = 64;

/// Events one operation costs: the request and the reply, the client's timer, and one
/// propagated command per server it reaches (measured on `scenarios/basic.toml`: 5 per op with
/// three servers).
pub fn events_per_op(servers: usize) -> u64 {
    2 + servers as u64
}

/// What a run is expected to need, and which knob drives the largest part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Estimated bytes.
    pub bytes: u64,
    /// The parts, largest first: (what, the knobs to lower, bytes).
    pub parts: Vec<(String, String, u64)>,
}

/// Operations per simulated second of one client: its open-loop rate, or for a closed loop one
/// operation per think time plus a round trip.
pub fn ops_per_sec(s: &Scenario, w: &WorkloadGroup) -> u64 {
    if let Some(rate) = w.spec.rate_per_sec {
        return rate;
    }
    let rtt_ns = 2 * s.topology.path(w.region, w.region).latency_ns;
    1_000_000_000 / (w.spec.think_ns + rtt_ns).max(1)
}

/// Operations the whole workload issues over its active time.
pub fn total_ops(s: &Scenario, w: &WorkloadGroup) -> u64 {
    let active_ns = w.spec.stop_ns.saturating_sub(w.spec.start_ns);
    let per_client = (ops_per_sec(s, w) as u128 * active_ns as u128 / 1_000_000_000) as u64;
    per_client.saturating_mul(u64::from(w.clients))
}

fn share(spec: &WorkloadSpec, kind: OpKind) -> u64 {
    let total: u64 = spec.mix.iter().map(|(_, w)| u64::from(*w)).sum();
    let this: u64 = spec
        .mix
        .iter()
        .filter(|(k, _)| *k == kind)
        .map(|(_, w)| u64::from(*w))
        .sum();
    this * 1000 / total.max(1)
}

/// The memory of one workload: its history, and the keys it fills on every server.
fn workload_parts(s: &Scenario, w: &WorkloadGroup) -> Vec<(String, String, u64)> {
    let path = format!("workloads.{}", w.spec.name);
    let ops = total_ops(s, w);
    let value = w.spec.value_size as u64;
    // A multi-key command records an operation per key.
    let multi = u64::from(w.spec.multi_keys.max(1));
    let multi_share = share(&w.spec, OpKind::Mset) + share(&w.spec, OpKind::Mget);
    let writes = share(&w.spec, OpKind::Set)
        + share(&w.spec, OpKind::Append)
        + share(&w.spec, OpKind::Sadd)
        + share(&w.spec, OpKind::Mset) * multi;
    let events_per_op = 1000 + multi_share * (multi - 1);
    let per_op = 2 * HISTORY_EVENT_BYTES * events_per_op / 1000 + 2 * value * writes / 1000;
    let history = ops.saturating_mul(per_op);
    let single = w.spec.mix.iter().filter(|(k, _)| !k.is_multi_key()).count() as u64;
    let families = 4u64.min(single) + u64::from(multi_share > 0) * multi;
    let keys = (u64::from(w.spec.keys) * families).min(ops.max(1).saturating_mul(multi));
    // Appended tokens and set members accumulate: every one stays in the dataset.
    let appended =
        ops.saturating_mul(share(&w.spec, OpKind::Append) + share(&w.spec, OpKind::Sadd)) / 1000
            * value;
    let per_server = keys
        .saturating_mul(value + KEY_OVERHEAD_BYTES)
        .saturating_add(appended);
    let keyspace = per_server.saturating_mul(s.servers.len() as u64);
    let knobs = if w.spec.rate_per_sec.is_some() {
        "rate"
    } else {
        "think"
    };
    vec![
        (
            format!("the history of {path}"),
            format!("`{path}.{knobs}`, `{path}.clients` or `duration`"),
            history,
        ),
        (
            format!("the keys {path} writes, on {} servers", s.servers.len()),
            format!("`{path}.keys` or `{path}.value_size`"),
            keyspace,
        ),
    ]
}

/// Estimates the memory a run needs: histories, keyspaces on every server, and backlogs.
pub fn estimate_memory(s: &Scenario) -> Estimate {
    let mut parts: Vec<(String, String, u64)> = s
        .workloads
        .iter()
        .flat_map(|w| workload_parts(s, w))
        .collect();
    let backlogs: u64 = s.servers.iter().map(|x| x.config.repl_backlog_size).sum();
    parts.push((
        "replication backlogs".into(),
        "`repl-backlog-size`".into(),
        backlogs,
    ));
    parts.sort_by_key(|p| std::cmp::Reverse(p.2));
    let bytes = parts.iter().fold(0u64, |acc, p| acc.saturating_add(p.2));
    Estimate { bytes, parts }
}

/// Events per simulated second of the busiest workload-driven phase, and the workload that
/// costs most.
pub fn events_per_sim_second(s: &Scenario) -> (u64, Option<&WorkloadGroup>) {
    let per_op = events_per_op(s.servers.len());
    let cost = |w: &WorkloadGroup| {
        ops_per_sec(s, w)
            .saturating_mul(u64::from(w.clients))
            .saturating_mul(per_op)
    };
    let total = s
        .workloads
        .iter()
        .fold(0u64, |a, w| a.saturating_add(cost(w)));
    (total, s.workloads.iter().max_by_key(|w| cost(w)))
}

/// Bytes in a human unit (`512 MiB`, `8.0 GiB`).
pub fn human_bytes(n: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    if n >= 1 << 30 {
        format!("{:.1} GiB", n as f64 / GIB)
    } else {
        format!("{} MiB", n.div_ceil(1 << 20))
    }
}

/// Refusals of a scenario whose run would need more than `max_memory` bytes or more than
/// [`MAX_EVENTS_PER_SIM_SECOND`] events per simulated second.
pub(crate) fn check(s: &Scenario, max_memory: u64) -> Vec<super::Diagnostic> {
    let mut out = Vec::new();
    let (events, busiest) = events_per_sim_second(s);
    if events > MAX_EVENTS_PER_SIM_SECOND
        && let Some(w) = busiest
    {
        let path = format!("workloads.{}", w.spec.name);
        let knob = if w.spec.rate_per_sec.is_some() {
            "rate"
        } else {
            "think"
        };
        out.push(super::Diagnostic {
            origin: super::Origin::Whole,
            field: format!("{path}.{knob}"),
            message: format!(
                "the workloads would cost about {events} events per simulated second \
                 ({} operations per second per client × {} clients × {} events each), above \
                 the limit of {MAX_EVENTS_PER_SIM_SECOND}",
                ops_per_sec(s, w),
                w.clients,
                events_per_op(s.servers.len())
            ),
            hint: Some(format!(
                "lower `{path}.{knob}` (a rate, or a longer think time) or `{path}.clients`"
            )),
        });
    }
    let estimate = estimate_memory(s);
    if estimate.bytes > max_memory {
        let (what, knobs, bytes) = &estimate.parts[0];
        out.push(super::Diagnostic {
            origin: super::Origin::Whole,
            field: String::new(),
            message: format!(
                "the run would need about {} of memory, above the limit of {}; the largest \
                 part is {what} ({})",
                human_bytes(estimate.bytes),
                human_bytes(max_memory),
                human_bytes(*bytes)
            ),
            hint: Some(format!(
                "lower {knobs}, or raise the memory limit (--max-memory)"
            )),
        });
    }
    out
}

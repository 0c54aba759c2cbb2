//! The scenario schema: walks the value tree, checks every key against the schema (unknown keys
//! are errors with a "did you mean"), converts units, resolves names, and collects every problem.

mod checks;
mod cluster;
mod fault_kinds;
mod faults;
mod nemesis;
mod operator;
mod sentinels;
mod servers;
mod topology;
mod workloads;

use checks::*;
use cluster::*;
use faults::*;
use nemesis::*;
use operator::*;
use sentinels::*;
use servers::*;
use topology::*;
use workloads::*;

use crate::client::{Follow, KeyDistribution, OpKind, Target, WorkloadSpec};
use crate::expect::{
    Constraint, Expectation, FIGURES, FigureKind, PER_WORKLOAD_LOST, PER_WORKLOAD_LOST_ADDS,
    figure_kind,
};
use crate::fault::{AdminCommand, FaultKind, FaultSpec, SlotAction};
use crate::net::{PathSpec, Topology};
use crate::redis::{BACKLOG_MIN_SIZE, Fsync, ServerConfig};
use crate::scenario::diag::{Diagnostic, Origin, did_you_mean};
use crate::scenario::limits::MAX_VALUE_SIZE;
use crate::scenario::tree::{Entry, Node, Table, Val};
use crate::scenario::units::{parse_duration, parse_percent, parse_rate, parse_size};
use crate::scenario::{MAX_DURATION_NS, MAX_PROCESSES, Scenario, ServerSpec, WorkloadGroup};
use crate::sim::ProcessId;

const TOP_KEYS: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "quiet",
    "max_events",
    "regions",
    "network",
    "servers",
    "sentinels",
    "cluster",
    "workloads",
    "faults",
    "nemesis",
    "operator",
    "expect",
    "bugs",
    "redis",
];

/// redis.conf knobs a server accepts, plus simkv's model knobs.
pub const SERVER_KNOBS: &[&str] = &[
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-timeout",
    "repl-ping-replica-period",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "replica-serve-stale-data",
    "replica-read-only",
    "replica-priority",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "appendonly",
    "appendfsync",
    "save",
    "client-output-buffer-limit",
    "rdb-save-rate",
    "rdb-load-rate",
    "os-writeback-interval",
    "tcp-send-buffer",
    "enable-debug-command",
    "shutdown-timeout",
    "stop-writes-on-bgsave-error",
    "replica-ignore-disk-write-errors",
    "disk-fsync-latency",
    "slowlog-log-slower-than",
    "slowlog-max-len",
];

const WORKLOAD_KEYS: &[&str] = &[
    "discovery",
    "follow",
    "sentinel_order",
    "region",
    "clients",
    "target",
    "rate",
    "think",
    "keys",
    "key_prefix",
    "read_from",
    "read_from_replicas",
    "master_name",
    "distribution",
    "hot_keys",
    "hot_share",
    "mix",
    "value_size",
    "multi_keys",
    "hash_tags",
    "wait",
    "waitaof",
    "timeout",
    "start",
    "stop",
];

/// Collects diagnostics while reading fields: errors, and warnings about legal but useless
/// settings.
struct Cx {
    diags: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// What a name may contain, for hints.
const NAME_RULE: &str = "a name is 1 to 128 printable characters without spaces: letters, \
     digits and punctuation such as - _ . : (no whitespace or control characters)";

impl Cx {
    fn warn(&mut self, origin: Origin, field: &str, message: String, hint: Option<String>) {
        self.warnings.push(Diagnostic {
            origin,
            field: field.to_string(),
            message,
            hint,
        });
    }

    /// Checks a name of a region, server, sentinel, workload or monitored primary.
    fn check_name(&mut self, origin: Origin, field: &str, name: &str) -> bool {
        let bad = name.chars().find(|c| c.is_whitespace() || c.is_control());
        let message = if name.is_empty() {
            "a name cannot be empty".to_string()
        } else if let Some(c) = bad {
            format!("the name {name:?} contains {c:?}, which is not allowed in a name")
        } else if name.chars().count() > 128 {
            "the name is longer than 128 characters".to_string()
        } else {
            return true;
        };
        self.err(origin, field, message, Some(NAME_RULE.into()));
        false
    }

    fn err(&mut self, origin: Origin, field: &str, message: String, hint: Option<String>) {
        self.diags.push(Diagnostic {
            origin,
            field: field.to_string(),
            message,
            hint,
        });
    }

    /// Reports keys of `t` not in `allowed`.
    fn check_keys(&mut self, t: &Table, path: &str, allowed: &[&str]) {
        for e in &t.entries {
            if allowed.contains(&e.key.as_str()) {
                continue;
            }
            let hint = match did_you_mean(&e.key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys here: {}", allowed.join(", ")),
            };
            self.err(
                e.key_origin,
                &join(path, &e.key),
                format!("unknown key `{}`", e.key),
                Some(hint),
            );
        }
    }

    fn table<'a>(&mut self, e: &'a Entry, path: &str) -> Option<&'a Table> {
        match &e.node.val {
            Val::Table(t) => Some(t),
            other => {
                self.err(
                    e.node.origin,
                    path,
                    format!("expected a table, found {}", other.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn string<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a str> {
        match &node.val {
            Val::Str(s) => Some(s),
            other => {
                self.err(
                    node.origin,
                    path,
                    format!("expected a string, found {}", other.type_name()),
                    None,
                );
                None
            }
        }
    }

    fn int(&mut self, node: &Node, path: &str, min: i64, max: i64) -> Option<i64> {
        match node.val {
            Val::Int(n) if n >= min && n <= max => Some(n),
            Val::Int(n) => {
                self.err(
                    node.origin,
                    path,
                    format!("{n} is out of range"),
                    Some(format!("use a whole number from {min} to {max}")),
                );
                None
            }
            ref other => {
                self.err(
                    node.origin,
                    path,
                    format!("expected an integer, found {}", other.type_name()),
                    Some(format!("use a whole number from {min} to {max}")),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.val {
            Val::Bool(b) => Some(*b),
            Val::Str(s) if s == "yes" => Some(true),
            Val::Str(s) if s == "no" => Some(false),
            other => {
                self.err(
                    node.origin,
                    path,
                    format!("expected yes/no or true/false, found {}", describe(other)),
                    None,
                );
                None
            }
        }
    }

    /// A duration in nanoseconds: a string with a unit, or a bare integer meaning `unit_ns`.
    fn duration(&mut self, node: &Node, path: &str, unit_ns: u64) -> Option<u64> {
        let parsed = match &node.val {
            Val::Str(s) => parse_duration(s),
            Val::Int(n) if *n >= 0 => (*n as u64)
                .checked_mul(unit_ns)
                .ok_or_else(|| format!("{n} is too large")),
            Val::Int(n) => Err(format!("{n} is negative")),
            other => Err(format!("expected a duration, found {}", other.type_name())),
        };
        match parsed {
            Ok(ns) if ns <= MAX_DURATION_NS => Some(ns),
            Ok(_) => {
                self.err(
                    node.origin,
                    path,
                    "is longer than 30 days".into(),
                    Some("simulated runs are limited to 30 days".into()),
                );
                None
            }
            Err(m) => {
                self.err(
                    node.origin,
                    path,
                    m,
                    Some("write a duration such as \"250ms\", \"5s\" or \"2m\"".into()),
                );
                None
            }
        }
    }

    fn size(&mut self, node: &Node, path: &str) -> Option<u64> {
        let parsed = match &node.val {
            Val::Str(s) => parse_size(s),
            Val::Int(n) if *n >= 0 => Ok(*n as u64),
            Val::Int(n) => Err(format!("{n} is negative")),
            other => Err(format!("expected a size, found {}", other.type_name())),
        };
        match parsed {
            Ok(n) if n <= 1 << 50 => Some(n),
            Ok(_) => {
                self.err(node.origin, path, "is absurdly large".into(), None);
                None
            }
            Err(m) => {
                self.err(
                    node.origin,
                    path,
                    m,
                    Some("write a size such as \"16kb\", \"1mb\" or 1048576".into()),
                );
                None
            }
        }
    }

    fn with_str<T>(
        &mut self,
        node: &Node,
        path: &str,
        parse: fn(&str) -> Result<T, String>,
        hint: &str,
    ) -> Option<T> {
        let s = self.string(node, path)?;
        match parse(s) {
            Ok(v) => Some(v),
            Err(m) => {
                self.err(node.origin, path, m, Some(hint.to_string()));
                None
            }
        }
    }
}

fn describe(v: &Val) -> String {
    match v {
        Val::Str(s) => format!("\"{s}\""),
        other => other.type_name().to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Names and where they point, for resolving fault targets and references.
struct Names {
    regions: Vec<String>,
    servers: Vec<(String, usize)>,
    sentinels: Vec<String>,
    workloads: Vec<(String, usize, u32, usize)>,
    /// Each workload's `key_prefix`, by workload.
    key_prefixes: Vec<String>,
    process_regions: Vec<usize>,
}

impl Names {
    fn resolve(&self, name: &str) -> Option<Vec<ProcessId>> {
        let all = |pred: &dyn Fn(usize) -> bool| -> Vec<ProcessId> {
            (0..self.process_regions.len())
                .filter(|&i| pred(i))
                .map(|i| ProcessId(i as u32))
                .collect()
        };
        if let Some(i) = self.servers.iter().position(|(n, _)| n == name) {
            return Some(vec![ProcessId(i as u32)]);
        }
        if let Some(i) = self.sentinels.iter().position(|n| n == name) {
            return Some(vec![ProcessId((self.servers.len() + i) as u32)]);
        }
        if let Some((_, first, count, _)) = self.workloads.iter().find(|w| w.0 == name) {
            return Some(
                (0..*count)
                    .map(|c| ProcessId((*first + c as usize) as u32))
                    .collect(),
            );
        }
        if let Some(r) = self.regions.iter().position(|n| n == name) {
            return Some(all(&|i| self.process_regions[i] == r));
        }
        let servers = self.servers.len();
        let daemons = servers + self.sentinels.len();
        match name {
            "all" => Some(all(&|_| true)),
            "servers" => Some(all(&|i| i < servers)),
            "sentinels" => Some(all(&|i| i >= servers && i < daemons)),
            "clients" => Some(all(&|i| i >= daemons)),
            _ => None,
        }
    }

    /// The name of a process: its server, sentinel, or workload and client number.
    fn process_name(&self, p: ProcessId) -> String {
        let i = p.index();
        let servers = self.servers.len();
        if i < servers {
            return self.servers[i].0.clone();
        }
        if let Some(s) = self.sentinels.get(i - servers) {
            return s.clone();
        }
        self.workloads
            .iter()
            .find(|w| i >= w.1 && i < w.1 + w.2 as usize)
            .map_or_else(
                || format!("process {i}"),
                |w| format!("{} client {}", w.0, i - w.1),
            )
    }

    fn candidates(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.servers.iter().map(|s| s.0.as_str()).collect();
        v.extend(self.sentinels.iter().map(String::as_str));
        v.extend(self.workloads.iter().map(|w| w.0.as_str()));
        v.extend(self.regions.iter().map(String::as_str));
        v.extend(["all", "servers", "sentinels", "clients"]);
        v
    }
}

/// The top-level scalars.
struct Header {
    name: String,
    description: String,
    seed: u64,
    duration_ns: u64,
    quiet_ns: u64,
    max_events: u64,
}

fn header(cx: &mut Cx, root: &Table) -> Header {
    let name = match root.get("name") {
        Some(e) => {
            let name = cx.string(&e.node, "name").unwrap_or_default().to_string();
            if matches!(e.node.val, Val::Str(_)) {
                cx.check_name(e.node.origin, "name", &name);
            }
            name
        }
        None => {
            cx.err(
                Origin::Whole,
                "name",
                "missing required key `name`".into(),
                Some("add e.g. name = \"my-scenario\" at the top".into()),
            );
            String::new()
        }
    };
    let description = root
        .get("description")
        .and_then(|e| cx.string(&e.node, "description").map(str::to_string))
        .unwrap_or_default();
    let seed = root
        .get("seed")
        .and_then(|e| cx.int(&e.node, "seed", 0, i64::MAX))
        .unwrap_or(1) as u64;
    let duration_ns = run_duration(cx, root);
    let quiet_ns = match root.get("quiet") {
        Some(e) => cx.duration(&e.node, "quiet", 1_000_000_000).unwrap_or(0),
        None => (10 * 1_000_000_000u64).min(duration_ns / 4),
    };
    if duration_ns > 0 && quiet_ns >= duration_ns {
        let o = root.get("quiet").map_or(Origin::Whole, |e| e.node.origin);
        cx.err(o, "quiet", "must be shorter than `duration`".into(), None);
    }
    let max_events = root
        .get("max_events")
        .and_then(|e| cx.int(&e.node, "max_events", 1, i64::MAX))
        .unwrap_or(2_000_000_000) as u64;
    Header {
        name,
        description,
        seed,
        duration_ns,
        quiet_ns,
        max_events,
    }
}

fn run_duration(cx: &mut Cx, root: &Table) -> u64 {
    let Some(e) = root.get("duration") else {
        cx.err(
            Origin::Whole,
            "duration",
            "missing required key `duration`".into(),
            Some("add e.g. duration = \"60s\"".into()),
        );
        return 0;
    };
    match cx.duration(&e.node, "duration", 1_000_000_000) {
        Some(0) => {
            let msg = "must be longer than zero";
            cx.err(e.node.origin, "duration", msg.into(), None);
            0
        }
        d => d.unwrap_or(0),
    }
}

/// The names faults may target: every server, sentinel, workload and region.
fn names(
    cx: &mut Cx,
    regions: &[String],
    servers: &[ServerSpec],
    sentinels: &[crate::scenario::SentinelSpec],
    workloads: &[WorkloadGroup],
) -> Names {
    let mut process_regions: Vec<usize> = servers.iter().map(|s| s.region).collect();
    process_regions.extend(sentinels.iter().map(|s| s.region));
    let mut workload_names = Vec::new();
    for w in workloads {
        let first = process_regions.len();
        workload_names.push((w.spec.name.clone(), first, w.clients, w.region));
        process_regions.extend(std::iter::repeat_n(w.region, w.clients as usize));
    }
    if process_regions.len() > MAX_PROCESSES {
        cx.err(
            Origin::Whole,
            "workloads",
            format!(
                "{} processes exceed the limit of {MAX_PROCESSES}",
                process_regions.len()
            ),
            None,
        );
    }
    Names {
        regions: regions.to_vec(),
        servers: servers.iter().map(|s| (s.name.clone(), s.region)).collect(),
        sentinels: sentinels.iter().map(|s| s.name.clone()).collect(),
        workloads: workload_names,
        key_prefixes: workloads
            .iter()
            .map(|w| w.spec.key_prefix.clone())
            .collect(),
        process_regions,
    }
}

fn discovery(
    servers: &[ServerSpec],
    sentinels: &[crate::scenario::SentinelSpec],
) -> SentinelDiscovery {
    SentinelDiscovery {
        sentinels: (0..sentinels.len())
            .map(|i| ProcessId((servers.len() + i) as u32))
            .collect(),
        regions: sentinels.iter().map(|s| s.region).collect(),
        default_name: sentinels
            .first()
            .and_then(|s| s.monitors.first())
            .map_or_else(|| "mymaster".to_string(), |m| m.name.clone()),
        monitored: sentinels
            .iter()
            .flat_map(|s| s.monitors.iter().map(|m| m.name.clone()))
            .collect(),
    }
}

/// Builds a scenario from the tree, or returns every problem found.
/// Returns the scenario with the warnings found (located against the source by the caller).
pub fn build(root: &Table) -> Result<(Scenario, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut cx = Cx {
        diags: Vec::new(),
        warnings: Vec::new(),
    };
    cx.check_keys(root, "", TOP_KEYS);
    let h = header(&mut cx, root);
    let regions = regions(&mut cx, root);
    let topology = network(&mut cx, root, &regions);
    let bugs = bugs(&mut cx, root);
    let (mut servers, server_entries, defaults) = parse_servers(&mut cx, root, &regions);
    let mut cluster = parse_cluster(&mut cx, root, &regions, &defaults, &mut servers);
    if let Some(c) = cluster.as_mut() {
        c.config.bug_keeps_stale_slots = bugs.cluster_keeps_stale_slots;
    }
    let version = redis_version(&mut cx, root);
    for s in &mut servers {
        s.config.bugs = bugs;
        s.config.version = version;
    }
    let load_end = h.duration_ns.saturating_sub(h.quiet_ns);
    let sentinels = parse_sentinels(&mut cx, root, &regions, &servers, bugs);
    let discovery = discovery(&servers, &sentinels);
    let env = WorkloadEnv {
        regions: &regions,
        servers: &servers,
        cluster: cluster.as_ref(),
        discovery: &discovery,
        load_end,
        duration_ns: h.duration_ns,
    };
    let workloads = parse_workloads(&mut cx, root, &env);
    let names = names(&mut cx, &regions, &servers, &sentinels, &workloads);
    let run = RunTimes {
        seed: h.seed,
        duration_ns: h.duration_ns,
        load_end,
    };
    let (faults, fault_timings) = parse_faults(&mut cx, root, &names, &run);
    let nemesis = nemesis(&mut cx, root, &run);
    let operator = operator(&mut cx, root, &servers);
    let expect = expectations(&mut cx, root, &names);
    if servers.is_empty() && server_entries == 0 && root.get("cluster").is_none() {
        cx.err(
            Origin::Whole,
            "servers",
            "the scenario has no servers".into(),
            Some(
                "add at least one, e.g. [servers.p1] with region = \"...\", or a [cluster]".into(),
            ),
        );
    }
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    Ok((
        Scenario {
            name: h.name,
            description: h.description,
            seed: h.seed,
            duration_ns: h.duration_ns,
            quiet_ns: h.quiet_ns,
            max_events: h.max_events,
            topology,
            servers,
            sentinels,
            cluster,
            workloads,
            faults,
            fault_timings,
            nemesis,
            operator,
            expect,
            warnings: Vec::new(),
        },
        cx.warnings,
    ))
}

/// `[redis] version = "7.0" | "7.2"`: the Redis version the servers model.
fn redis_version(cx: &mut Cx, root: &Table) -> crate::redis::RedisVersion {
    use crate::redis::RedisVersion;
    let Some(e) = root.get("redis") else {
        return RedisVersion::V7_0;
    };
    let Some(t) = cx.table(e, "redis") else {
        return RedisVersion::V7_0;
    };
    cx.check_keys(t, "redis", &["version"]);
    let Some(v) = t.get("version") else {
        return RedisVersion::V7_0;
    };
    match cx.string(&v.node, "redis.version") {
        Some("7.0") => RedisVersion::V7_0,
        Some("7.2") => RedisVersion::V7_2,
        Some(other) => {
            let msg = format!("unknown Redis version \"{other}\"");
            let hint = "use \"7.0\" (7.0.15, the default) or \"7.2\"";
            cx.err(v.node.origin, "redis.version", msg, Some(hint.into()));
            RedisVersion::V7_0
        }
        None => RedisVersion::V7_0,
    }
}

/// The run's times that faults and the nemesis are checked against.
struct RunTimes {
    /// The scenario's own seed (fault windows are drawn for it in `Scenario::faults`).
    seed: u64,
    duration_ns: u64,
    /// The start of the quiet phase.
    load_end: u64,
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

//! The scenario schema: walks the value tree, checks every key against the schema (unknown keys
//! are errors with a "did you mean"), converts units, resolves names, and collects every problem.

use super::diag::{Diagnostic, Origin, did_you_mean};
use super::tree::{Entry, Node, Table, Val};
use super::units::{parse_duration, parse_percent, parse_rate, parse_size};
use super::{MAX_DURATION_NS, MAX_PROCESSES, Scenario, ServerSpec, WorkloadGroup};
use crate::client::{KeyDistribution, OpKind, Target, WorkloadSpec};
use crate::expect::{Constraint, Expectation, FIGURES};
use crate::fault::{FaultKind, FaultSpec};
use crate::net::{PathSpec, Topology};
use crate::redis::{BACKLOG_MIN_SIZE, Fsync, ServerConfig};
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
    "workloads",
    "faults",
    "nemesis",
    "expect",
    "bugs",
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
];

const WORKLOAD_KEYS: &[&str] = &[
    "discovery",
    "region",
    "clients",
    "target",
    "rate",
    "think",
    "keys",
    "key_prefix",
    "read_from",
    "master_name",
    "distribution",
    "hot_keys",
    "hot_share",
    "mix",
    "value_size",
    "wait",
    "timeout",
    "start",
    "stop",
];

const FAULT_KINDS: &[&str] = &[
    "partition",
    "one-way-partition",
    "isolate",
    "bridge",
    "region-outage",
    "crash",
    "machine-crash",
    "pause",
    "loss",
    "latency",
    "clock",
    "disk-stall",
    "failover",
];

/// Collects diagnostics while reading fields.
struct Cx {
    diags: Vec<Diagnostic>,
}

impl Cx {
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

    fn candidates(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.servers.iter().map(|s| s.0.as_str()).collect();
        v.extend(self.sentinels.iter().map(String::as_str));
        v.extend(self.workloads.iter().map(|w| w.0.as_str()));
        v.extend(self.regions.iter().map(String::as_str));
        v.extend(["all", "servers", "sentinels", "clients"]);
        v
    }
}

/// Builds a scenario from the tree, or returns every problem found.
pub fn build(root: &Table) -> Result<Scenario, Vec<Diagnostic>> {
    let mut cx = Cx { diags: Vec::new() };
    cx.check_keys(root, "", TOP_KEYS);
    let name = match root.get("name") {
        Some(e) => cx.string(&e.node, "name").unwrap_or_default().to_string(),
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
    let duration_ns = match root.get("duration") {
        Some(e) => match cx.duration(&e.node, "duration", 1_000_000_000) {
            Some(0) => {
                cx.err(
                    e.node.origin,
                    "duration",
                    "must be longer than zero".into(),
                    None,
                );
                0
            }
            d => d.unwrap_or(0),
        },
        None => {
            cx.err(
                Origin::Whole,
                "duration",
                "missing required key `duration`".into(),
                Some("add e.g. duration = \"60s\"".into()),
            );
            0
        }
    };
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

    let regions = regions(&mut cx, root);
    let topology = network(&mut cx, root, &regions);
    let bugs = bugs(&mut cx, root);
    let (mut servers, server_entries) = servers(&mut cx, root, &regions);
    for s in &mut servers {
        s.config.bugs = bugs;
    }
    let load_end = duration_ns.saturating_sub(quiet_ns);
    let sentinels = sentinels(&mut cx, root, &regions, &servers, bugs);
    let sentinel_ids: Vec<ProcessId> = (0..sentinels.len())
        .map(|i| ProcessId((servers.len() + i) as u32))
        .collect();
    let discovery = SentinelDiscovery {
        sentinels: sentinel_ids,
        default_name: sentinels
            .first()
            .and_then(|s| s.monitors.first())
            .map_or_else(|| "mymaster".to_string(), |m| m.name.clone()),
    };
    let workloads = workloads(&mut cx, root, &regions, &servers, &discovery, load_end);
    let mut process_regions: Vec<usize> = servers.iter().map(|s| s.region).collect();
    process_regions.extend(sentinels.iter().map(|s| s.region));
    let mut workload_names = Vec::new();
    for w in &workloads {
        workload_names.push((
            w.spec.name.clone(),
            process_regions.len(),
            w.clients,
            w.region,
        ));
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
    let names = Names {
        regions: regions.clone(),
        servers: servers.iter().map(|s| (s.name.clone(), s.region)).collect(),
        sentinels: sentinels.iter().map(|s| s.name.clone()).collect(),
        workloads: workload_names,
        process_regions,
    };
    let faults = faults(&mut cx, root, &names, duration_ns);
    let nemesis = nemesis(&mut cx, root, load_end);
    let workload_names: Vec<&str> = names.workloads.iter().map(|w| w.0.as_str()).collect();
    let expect = expectations(&mut cx, root, &workload_names);
    if servers.is_empty() && server_entries == 0 {
        cx.err(
            Origin::Whole,
            "servers",
            "the scenario has no servers".into(),
            Some("add at least one, e.g. [servers.p1] with region = \"...\"".into()),
        );
    }
    if !cx.diags.is_empty() {
        return Err(cx.diags);
    }
    Ok(Scenario {
        name,
        description,
        seed,
        duration_ns,
        quiet_ns,
        max_events,
        topology,
        servers,
        sentinels,
        workloads,
        faults,
        nemesis,
        expect,
    })
}

fn bugs(cx: &mut Cx, root: &Table) -> crate::bugs::Bugs {
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

fn nemesis(cx: &mut Cx, root: &Table, end_ns: u64) -> Option<crate::nemesis::NemesisSpec> {
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

fn regions(cx: &mut Cx, root: &Table) -> Vec<String> {
    let Some(e) = root.get("regions") else {
        return vec!["local".to_string()];
    };
    let Val::Array(items) = &e.node.val else {
        cx.err(
            e.node.origin,
            "regions",
            format!(
                "expected an array of region names, found {}",
                e.node.val.type_name()
            ),
            Some("write e.g. regions = [\"us-west\", \"us-east\"]".into()),
        );
        return vec!["local".to_string()];
    };
    let mut out: Vec<String> = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let path = format!("regions[{i}]");
        if let Some(s) = cx.string(n, &path) {
            if out.iter().any(|r| r == s) {
                cx.err(
                    n.origin,
                    &path,
                    format!("region \"{s}\" is listed twice"),
                    None,
                );
            }
            out.push(s.to_string());
        }
    }
    if out.is_empty() {
        cx.err(
            e.node.origin,
            "regions",
            "the list of regions is empty".into(),
            Some("name at least one region, or leave `regions` out for a single region".into()),
        );
        out.push("local".into());
    }
    out
}

fn region_index(cx: &mut Cx, node: &Node, path: &str, regions: &[String]) -> Option<usize> {
    let s = cx.string(node, path)?;
    match regions.iter().position(|r| r == s) {
        Some(i) => Some(i),
        None => {
            let hint = match did_you_mean(s, regions.iter().map(String::as_str)) {
                Some(m) => format!("did you mean \"{m}\"?"),
                None => format!("known regions: {}", regions.join(", ")),
            };
            cx.err(
                node.origin,
                path,
                format!("unknown region \"{s}\""),
                Some(hint),
            );
            None
        }
    }
}

/// The `region` of a server or sentinel: required when there are several regions.
fn member_region(cx: &mut Cx, t: &Table, origin: Origin, path: &str, regions: &[String]) -> usize {
    match t.get("region") {
        Some(r) => region_index(cx, &r.node, &join(path, "region"), regions).unwrap_or(0),
        None if regions.len() == 1 => 0,
        None => {
            cx.err(
                origin,
                &join(path, "region"),
                "missing `region`".into(),
                Some(format!("known regions: {}", regions.join(", "))),
            );
            0
        }
    }
}

fn path_spec(cx: &mut Cx, t: &Table, path: &str, base: PathSpec) -> PathSpec {
    let mut spec = base;
    if let Some(e) = t.get("latency")
        && let Some(v) = cx.duration(&e.node, &join(path, "latency"), 1_000_000)
    {
        spec.latency_ns = v;
    }
    if let Some(e) = t.get("jitter")
        && let Some(v) = cx.duration(&e.node, &join(path, "jitter"), 1_000_000)
    {
        spec.jitter_ns = v;
    }
    if let Some(e) = t.get("bandwidth") {
        let p = join(path, "bandwidth");
        if let Some(s) = cx.string(&e.node, &p) {
            let text = s.trim_end_matches("/s");
            match parse_size(text) {
                Ok(0) | Err(_) => cx.err(
                    e.node.origin,
                    &p,
                    format!("\"{s}\" is not a bandwidth"),
                    Some("write bytes per second, e.g. \"100mb/s\"".into()),
                ),
                Ok(v) => spec.bandwidth_bytes_per_sec = v,
            }
        }
    }
    spec
}

fn network(cx: &mut Cx, root: &Table, regions: &[String]) -> Topology {
    let intra = PathSpec {
        latency_ns: 250_000,
        jitter_ns: 50_000,
        bandwidth_bytes_per_sec: 1_250_000_000,
    };
    let inter_default = PathSpec {
        latency_ns: 30_000_000,
        jitter_ns: 1_000_000,
        bandwidth_bytes_per_sec: 100 * 1024 * 1024,
    };
    let mut topo = Topology::new(regions.to_vec(), inter_default);
    let Some(e) = root.get("network") else {
        for i in 0..regions.len() {
            topo.set_path(i, i, intra);
        }
        return topo;
    };
    let Some(t) = cx.table(e, "network") else {
        return topo;
    };
    cx.check_keys(t, "network", &["latency", "jitter", "bandwidth", "paths"]);
    let intra = path_spec(cx, t, "network", intra);
    for i in 0..regions.len() {
        topo.set_path(i, i, intra);
    }
    if let Some(p) = t.get("paths") {
        let Val::Array(items) = &p.node.val else {
            cx.err(
                p.node.origin,
                "network.paths",
                "expected an array of tables ([[network.paths]])".into(),
                None,
            );
            return topo;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("network.paths[{i}]");
            let Val::Table(pt) = &item.val else {
                cx.err(item.origin, &path, "expected a table".into(), None);
                continue;
            };
            cx.check_keys(pt, &path, &["between", "latency", "jitter", "bandwidth"]);
            let spec = path_spec(cx, pt, &path, inter_default);
            let Some(b) = pt.get("between") else {
                cx.err(
                    item.origin,
                    &path,
                    "missing `between`".into(),
                    Some("write between = [\"region-a\", \"region-b\"]".into()),
                );
                continue;
            };
            let ends: Vec<usize> = match &b.node.val {
                Val::Array(xs) if xs.len() == 2 => xs
                    .iter()
                    .filter_map(|x| region_index(cx, x, &join(&path, "between"), regions))
                    .collect(),
                _ => {
                    cx.err(
                        b.node.origin,
                        &join(&path, "between"),
                        "expected two region names".into(),
                        None,
                    );
                    continue;
                }
            };
            if let [a, b] = ends[..] {
                topo.set_path(a, b, spec);
            }
        }
    }
    topo
}

fn servers(cx: &mut Cx, root: &Table, regions: &[String]) -> (Vec<ServerSpec>, usize) {
    let Some(e) = root.get("servers") else {
        return (Vec::new(), 0);
    };
    let Some(t) = cx.table(e, "servers") else {
        return (Vec::new(), 1);
    };
    let mut defaults = ServerConfig::default();
    if let Some(d) = t.get("defaults")
        && let Some(dt) = cx.table(d, "servers.defaults")
    {
        cx.check_keys(dt, "servers.defaults", SERVER_KNOBS);
        knobs(cx, dt, "servers.defaults", &mut defaults);
    }
    let named: Vec<&Entry> = t.entries.iter().filter(|e| e.key != "defaults").collect();
    let names: Vec<&str> = named.iter().map(|e| e.key.as_str()).collect();
    let mut out = Vec::new();
    let mut replicaof_raw: Vec<Option<(usize, Origin, String)>> = Vec::new();
    for e in &named {
        let path = format!("servers.{}", e.key);
        let Some(st) = cx.table(e, &path) else {
            continue;
        };
        let mut allowed = vec!["region", "replicaof"];
        allowed.extend_from_slice(SERVER_KNOBS);
        cx.check_keys(st, &path, &allowed);
        let region = member_region(cx, st, e.key_origin, &path, regions);
        let mut config = defaults.clone();
        knobs(cx, st, &path, &mut config);
        let rof = st.get("replicaof").and_then(|r| {
            let p = join(&path, "replicaof");
            let s = cx.string(&r.node, &p)?;
            match names.iter().position(|n| *n == s) {
                Some(i) => Some((i, r.node.origin, p)),
                None => {
                    let hint = match did_you_mean(s, names.iter().copied()) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => format!("known servers: {}", names.join(", ")),
                    };
                    cx.err(
                        r.node.origin,
                        &p,
                        format!("unknown server \"{s}\""),
                        Some(hint),
                    );
                    None
                }
            }
        });
        replicaof_raw.push(rof);
        out.push(ServerSpec {
            name: e.key.clone(),
            region,
            replicaof: None,
            config,
        });
    }
    if out.len() != named.len() {
        return (Vec::new(), named.len());
    }
    for (i, r) in replicaof_raw.iter().enumerate() {
        out[i].replicaof = r.as_ref().map(|x| x.0);
    }
    check_replication_graph(cx, &out, &replicaof_raw);
    (out, named.len())
}

fn check_replication_graph(
    cx: &mut Cx,
    servers: &[ServerSpec],
    raw: &[Option<(usize, Origin, String)>],
) {
    for (i, s) in servers.iter().enumerate() {
        let Some((target, origin, path)) = &raw[i] else {
            continue;
        };
        if *target == i {
            cx.err(
                *origin,
                path,
                format!("server \"{}\" is a replica of itself", s.name),
                Some("a primary has no `replicaof`; remove the line".into()),
            );
            continue;
        }
        let mut seen = vec![i];
        let mut cur = *target;
        while let Some(next) = servers[cur].replicaof {
            seen.push(cur);
            if seen.contains(&next) {
                let chain: Vec<&str> = seen.iter().map(|&k| servers[k].name.as_str()).collect();
                cx.err(
                    *origin,
                    path,
                    format!(
                        "replication cycle: {} -> {}",
                        chain.join(" -> "),
                        servers[next].name
                    ),
                    Some("every chain of `replicaof` must end at a primary".into()),
                );
                break;
            }
            cur = next;
        }
    }
}

fn knobs(cx: &mut Cx, t: &Table, path: &str, c: &mut ServerConfig) {
    const SEC: u64 = 1_000_000_000;
    for e in &t.entries {
        let p = join(path, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "repl-backlog-size" => {
                if let Some(v) = cx.size(n, &p) {
                    // resizeReplicationBacklog raises smaller values to the minimum.
                    c.repl_backlog_size = v.max(BACKLOG_MIN_SIZE);
                }
            }
            "repl-backlog-ttl" => set(
                &mut c.repl_backlog_ttl_secs,
                cx.duration(n, &p, SEC).map(|v| v / SEC),
            ),
            "repl-timeout" => set(&mut c.repl_timeout_secs, positive_secs(cx, n, &p)),
            "repl-ping-replica-period" => set(
                &mut c.repl_ping_replica_period_secs,
                positive_secs(cx, n, &p),
            ),
            "repl-diskless-sync" => set(&mut c.repl_diskless_sync, cx.boolean(n, &p)),
            "repl-diskless-sync-delay" => set(
                &mut c.repl_diskless_sync_delay_secs,
                cx.duration(n, &p, SEC).map(|v| v / SEC),
            ),
            "replica-serve-stale-data" => set(&mut c.replica_serve_stale_data, cx.boolean(n, &p)),
            "replica-read-only" => set(&mut c.replica_read_only, cx.boolean(n, &p)),
            "replica-priority" => set(
                &mut c.replica_priority,
                cx.int(n, &p, 0, i32::MAX as i64).map(|v| v as u32),
            ),
            "min-replicas-to-write" => set(
                &mut c.min_replicas_to_write,
                cx.int(n, &p, 0, 1000).map(|v| v as u32),
            ),
            "min-replicas-max-lag" => set(
                &mut c.min_replicas_max_lag_secs,
                cx.duration(n, &p, SEC).map(|v| v / SEC),
            ),
            "appendonly" => set(&mut c.appendonly, cx.boolean(n, &p)),
            "appendfsync" => {
                let v = cx.string(n, &p).and_then(|s| match s {
                    "always" => Some(Fsync::Always),
                    "everysec" => Some(Fsync::Everysec),
                    "no" => Some(Fsync::No),
                    other => {
                        cx.err(
                            n.origin,
                            &p,
                            format!("unknown policy \"{other}\""),
                            Some("use always, everysec or no".into()),
                        );
                        None
                    }
                });
                set(&mut c.appendfsync, v);
            }
            "save" => set(&mut c.save, save_rules(cx, n, &p)),
            "client-output-buffer-limit" => {
                let v = cx.string(n, &p).and_then(|s| output_limit(s).map_err(|m| {
                    cx.err(n.origin, &p, m, Some("write \"replica <hard> <soft> <seconds>\", e.g. \"replica 256mb 64mb 60\"".into()));
                }).ok());
                set(&mut c.replica_output_buffer, v);
            }
            "rdb-save-rate" => set(&mut c.rdb_save_bytes_per_sec, rate_size(cx, n, &p)),
            "rdb-load-rate" => set(&mut c.rdb_load_bytes_per_sec, rate_size(cx, n, &p)),
            "os-writeback-interval" => set(
                &mut c.os_writeback_interval_ms,
                cx.duration(n, &p, 1_000_000).map(|v| v / 1_000_000),
            ),
            "tcp-send-buffer" => set(&mut c.tcp_send_buffer_bytes, cx.size(n, &p)),
            _ => {}
        }
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

fn positive_secs(cx: &mut Cx, n: &Node, p: &str) -> Option<u64> {
    let v = cx.duration(n, p, 1_000_000_000)? / 1_000_000_000;
    if v == 0 {
        cx.err(n.origin, p, "must be at least one second".into(), None);
        return None;
    }
    Some(v)
}

fn rate_size(cx: &mut Cx, n: &Node, p: &str) -> Option<u64> {
    let s = cx.string(n, p)?;
    match parse_size(s.trim_end_matches("/s")) {
        Ok(v) if v > 0 => Some(v),
        _ => {
            cx.err(
                n.origin,
                p,
                format!("\"{s}\" is not a rate"),
                Some("write bytes per second, e.g. \"200mb/s\"".into()),
            );
            None
        }
    }
}

fn save_rules(cx: &mut Cx, n: &Node, p: &str) -> Option<Vec<(u64, u64)>> {
    let s = cx.string(n, p)?;
    let parts: Vec<&str> = s.split_whitespace().collect();
    let nums: Result<Vec<u64>, _> = parts.iter().map(|x| x.parse::<u64>()).collect();
    match nums {
        Ok(v) if v.len() % 2 == 0 => Some(v.chunks(2).map(|c| (c[0], c[1])).collect()),
        _ => {
            cx.err(
                n.origin,
                p,
                format!("\"{s}\" is not a list of <seconds> <changes> pairs"),
                Some("e.g. save = \"3600 1 300 100\", or save = \"\" to disable".into()),
            );
            None
        }
    }
}

fn output_limit(s: &str) -> Result<crate::redis::OutputBufferLimit, String> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [class, hard, soft, secs] = parts[..] else {
        return Err(format!("\"{s}\" needs four parts"));
    };
    if class != "replica" && class != "slave" {
        return Err(format!(
            "only the replica class is modelled, not \"{class}\""
        ));
    }
    Ok(crate::redis::OutputBufferLimit {
        hard_bytes: parse_size(hard)?,
        soft_bytes: parse_size(soft)?,
        soft_secs: secs
            .parse()
            .map_err(|_| format!("\"{secs}\" is not a number of seconds"))?,
    })
}

const SENTINEL_KNOBS: &[&str] = &[
    "monitor",
    "name",
    "quorum",
    "down-after-milliseconds",
    "failover-timeout",
    "parallel-syncs",
];

fn sentinel_knobs(
    cx: &mut Cx,
    t: &Table,
    path: &str,
    c: &mut SentinelDraft,
    servers: &[ServerSpec],
) {
    for e in &t.entries {
        let p = join(path, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "monitor" => {
                // One primary (named by `name`), or a list of primaries (each named after its
                // server), as several `sentinel monitor` lines would.
                let items: Vec<&Node> = match &n.val {
                    Val::Array(xs) => xs.iter().collect(),
                    _ => vec![n],
                };
                let mut masters = Vec::new();
                for item in items {
                    let Some(s) = cx.string(item, &p) else {
                        continue;
                    };
                    match servers.iter().position(|x| x.name == s) {
                        Some(i) => masters.push(i),
                        None => {
                            let names: Vec<&str> =
                                servers.iter().map(|x| x.name.as_str()).collect();
                            let hint = match did_you_mean(s, names.iter().copied()) {
                                Some(m) => format!("did you mean \"{m}\"?"),
                                None => format!("known servers: {}", names.join(", ")),
                            };
                            cx.err(
                                item.origin,
                                &p,
                                format!("unknown server \"{s}\""),
                                Some(hint),
                            );
                        }
                    }
                }
                c.many = matches!(n.val, Val::Array(_));
                c.masters = masters;
            }
            "name" => set(&mut c.name, cx.string(n, &p).map(str::to_string)),
            "quorum" => set(&mut c.quorum, cx.int(n, &p, 1, 1000).map(|v| v as u32)),
            "down-after-milliseconds" => set(&mut c.down_after_ns, cx.duration(n, &p, 1_000_000)),
            "failover-timeout" => set(&mut c.failover_timeout_ns, cx.duration(n, &p, 1_000_000)),
            "parallel-syncs" => set(
                &mut c.parallel_syncs,
                cx.int(n, &p, 1, 1000).map(|v| v as u32),
            ),
            _ => {}
        }
    }
}

#[derive(Clone)]
struct SentinelDraft {
    masters: Vec<usize>,
    many: bool,
    name: String,
    quorum: u32,
    down_after_ns: u64,
    failover_timeout_ns: u64,
    parallel_syncs: u32,
}

fn sentinels(
    cx: &mut Cx,
    root: &Table,
    regions: &[String],
    servers: &[ServerSpec],
    bugs: crate::bugs::Bugs,
) -> Vec<super::SentinelSpec> {
    let Some(e) = root.get("sentinels") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "sentinels") else {
        return Vec::new();
    };
    let mut defaults = SentinelDraft {
        masters: servers
            .iter()
            .position(|s| s.replicaof.is_none())
            .into_iter()
            .collect(),
        many: false,
        name: "mymaster".into(),
        quorum: 2,
        down_after_ns: 30_000_000_000,
        failover_timeout_ns: 180_000_000_000,
        parallel_syncs: 1,
    };
    if let Some(d) = t.get("defaults")
        && let Some(dt) = cx.table(d, "sentinels.defaults")
    {
        cx.check_keys(dt, "sentinels.defaults", SENTINEL_KNOBS);
        sentinel_knobs(cx, dt, "sentinels.defaults", &mut defaults, servers);
    }
    let mut out = Vec::new();
    for e in t.entries.iter().filter(|e| e.key != "defaults") {
        let path = format!("sentinels.{}", e.key);
        let Some(st) = cx.table(e, &path) else {
            continue;
        };
        let mut allowed = vec!["region"];
        allowed.extend_from_slice(SENTINEL_KNOBS);
        cx.check_keys(st, &path, &allowed);
        if servers.iter().any(|s| s.name == e.key) {
            cx.err(
                e.key_origin,
                &path,
                format!("\"{}\" is already a server's name", e.key),
                Some("give sentinels their own names, e.g. s1, s2".into()),
            );
            continue;
        }
        let region = member_region(cx, st, e.key_origin, &path, regions);
        let mut d = defaults.clone();
        sentinel_knobs(cx, st, &path, &mut d, servers);
        if d.masters.is_empty() {
            cx.err(
                e.key_origin,
                &join(&path, "monitor"),
                "no primary to monitor".into(),
                Some("set monitor = \"<server>\" in [sentinels.defaults]".into()),
            );
            continue;
        }
        let monitors = d
            .masters
            .iter()
            .map(|&m| crate::sentinel::SentinelConfig {
                name: if d.many {
                    servers[m].name.clone()
                } else {
                    d.name.clone()
                },
                master: ProcessId(m as u32),
                quorum: d.quorum,
                down_after_ns: d.down_after_ns,
                failover_timeout_ns: d.failover_timeout_ns,
                parallel_syncs: d.parallel_syncs,
                promote_lowest_offset: bugs.promote_lowest_offset,
            })
            .collect();
        out.push(super::SentinelSpec {
            name: e.key.clone(),
            region,
            monitors,
        });
    }
    out
}

/// What a workload needs to find its primary through sentinels.
struct SentinelDiscovery {
    sentinels: Vec<ProcessId>,
    default_name: String,
}

fn workloads(
    cx: &mut Cx,
    root: &Table,
    regions: &[String],
    servers: &[ServerSpec],
    sentinels: &SentinelDiscovery,
    load_end: u64,
) -> Vec<WorkloadGroup> {
    let Some(e) = root.get("workloads") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "workloads") else {
        return Vec::new();
    };
    let server_names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    let mut out = Vec::new();
    for e in &t.entries {
        let path = format!("workloads.{}", e.key);
        let Some(wt) = cx.table(e, &path) else {
            continue;
        };
        cx.check_keys(wt, &path, WORKLOAD_KEYS);
        if let Some(w) = workload(
            cx,
            &e.key,
            wt,
            &path,
            regions,
            servers,
            &server_names,
            sentinels,
            load_end,
        ) {
            out.push(w);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn workload(
    cx: &mut Cx,
    name: &str,
    t: &Table,
    path: &str,
    regions: &[String],
    servers: &[ServerSpec],
    server_names: &[&str],
    discovery_info: &SentinelDiscovery,
    load_end: u64,
) -> Option<WorkloadGroup> {
    let sentinels = &discovery_info.sentinels[..];
    let default_master_name = discovery_info.default_name.as_str();
    let get = |k: &str| t.get(k).map(|e| &e.node);
    let target = match get("target") {
        Some(n) => {
            let p = join(path, "target");
            let s = cx.string(n, &p)?;
            match server_names.iter().position(|x| *x == s) {
                Some(i) => i,
                None => {
                    let hint = match did_you_mean(s, server_names.iter().copied()) {
                        Some(m) => format!("did you mean \"{m}\"?"),
                        None => format!("known servers: {}", server_names.join(", ")),
                    };
                    cx.err(n.origin, &p, format!("unknown server \"{s}\""), Some(hint));
                    return None;
                }
            }
        }
        None => servers
            .iter()
            .position(|s| s.replicaof.is_none())
            .unwrap_or(0),
    };
    let region = match get("region") {
        Some(n) => region_index(cx, n, &join(path, "region"), regions)?,
        None => servers.get(target).map_or(0, |s| s.region),
    };
    let discovery = match get("discovery") {
        None => Target::Server(ProcessId(target as u32)),
        Some(n) => {
            let p = join(path, "discovery");
            match cx.string(n, &p)? {
                "sentinel" if !sentinels.is_empty() => Target::Sentinels(sentinels.to_vec()),
                "sentinel" => {
                    cx.err(
                        n.origin,
                        &p,
                        "the scenario has no sentinels".into(),
                        Some("add [sentinels.<name>] sections, or leave `discovery` out".into()),
                    );
                    return None;
                }
                "fixed" => Target::Server(ProcessId(target as u32)),
                other => {
                    cx.err(
                        n.origin,
                        &p,
                        format!("unknown discovery \"{other}\""),
                        Some("use \"sentinel\" or \"fixed\"".into()),
                    );
                    return None;
                }
            }
        }
    };
    let clients = get("clients").map_or(Some(1), |n| {
        cx.int(n, &join(path, "clients"), 1, MAX_PROCESSES as i64)
    })? as u32;
    let rate = match get("rate") {
        Some(n) => Some(cx.with_str(n, &join(path, "rate"), parse_rate, "write e.g. \"500/s\"")?),
        None => None,
    };
    let think_ns = get("think").map_or(Some(10_000_000), |n| {
        cx.duration(n, &join(path, "think"), 1_000_000)
    })?;
    let keys =
        get("keys").map_or(Some(100), |n| cx.int(n, &join(path, "keys"), 1, 10_000_000))? as u32;
    let distribution = match get("distribution") {
        None => KeyDistribution::Uniform,
        Some(n) => {
            let p = join(path, "distribution");
            match cx.string(n, &p)? {
                "uniform" => KeyDistribution::Uniform,
                "zipfian" => KeyDistribution::Zipfian,
                "hot" => KeyDistribution::Hot {
                    hot_keys: get("hot_keys").map_or(Some(1), |n| {
                        cx.int(n, &join(path, "hot_keys"), 1, i64::from(keys))
                    })? as u32,
                    share_percent: get("hot_share")
                        .map_or(Some(90), |n| cx.int(n, &join(path, "hot_share"), 0, 100))?
                        as u32,
                },
                other => {
                    cx.err(
                        n.origin,
                        &p,
                        format!("unknown distribution \"{other}\""),
                        Some("use uniform, zipfian or hot".into()),
                    );
                    return None;
                }
            }
        }
    };
    let mix = match get("mix") {
        None => vec![(OpKind::Set, 50), (OpKind::Get, 50)],
        Some(n) => mix(cx, n, &join(path, "mix"))?,
    };
    let value_size =
        get("value_size").map_or(Some(16), |n| cx.size(n, &join(path, "value_size")))? as usize;
    let wait = match get("wait") {
        None => None,
        Some(n) => Some(wait(cx, n, &join(path, "wait"))?),
    };
    let timeout_ns = get("timeout").map_or(Some(1_000_000_000), |n| {
        cx.duration(n, &join(path, "timeout"), 1_000_000)
    })?;
    let start_ns = get("start").map_or(Some(0), |n| {
        cx.duration(n, &join(path, "start"), 1_000_000_000)
    })?;
    let stop_ns = get("stop").map_or(Some(load_end), |n| {
        cx.duration(n, &join(path, "stop"), 1_000_000_000)
    })?;
    if timeout_ns == 0 {
        cx.err(
            get("timeout").map_or(Origin::Whole, |n| n.origin),
            &join(path, "timeout"),
            "must be longer than zero".into(),
            None,
        );
        return None;
    }
    Some(WorkloadGroup {
        spec: WorkloadSpec {
            name: name.to_string(),
            target: discovery,
            rate_per_sec: rate,
            think_ns,
            keys,
            master_name: match get("master_name") {
                Some(n) => cx.string(n, &join(path, "master_name"))?.to_string(),
                None => default_master_name.to_string(),
            },
            read_from: match get("read_from") {
                Some(n) => {
                    let p = join(path, "read_from");
                    let s = cx.string(n, &p)?;
                    match server_names.iter().position(|x| *x == s) {
                        Some(i) => Some(ProcessId(i as u32)),
                        None => {
                            cx.err(
                                n.origin,
                                &p,
                                format!("unknown server \"{s}\""),
                                Some(format!("known servers: {}", server_names.join(", "))),
                            );
                            return None;
                        }
                    }
                }
                None => None,
            },
            key_prefix: match get("key_prefix") {
                Some(n) => cx.string(n, &join(path, "key_prefix"))?.to_string(),
                None => String::new(),
            },
            distribution,
            mix,
            value_size,
            wait,
            timeout_ns,
            start_ns,
            stop_ns,
        },
        clients,
        region,
    })
}

fn mix(cx: &mut Cx, n: &Node, p: &str) -> Option<Vec<(OpKind, u32)>> {
    let Val::Table(t) = &n.val else {
        cx.err(
            n.origin,
            p,
            "expected a table of weights".into(),
            Some("e.g. mix = { set = 50, get = 50 }".into()),
        );
        return None;
    };
    let names: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
    cx.check_keys(t, p, &names);
    let mut out = Vec::new();
    for k in OpKind::ALL {
        if let Some(e) = t.get(k.name())
            && let Some(w) = cx.int(&e.node, &join(p, k.name()), 0, 1_000_000)
            && w > 0
        {
            out.push((k, w as u32));
        }
    }
    if out.is_empty() {
        cx.err(
            n.origin,
            p,
            "every weight is zero".into(),
            Some("give at least one operation a positive weight".into()),
        );
        return None;
    }
    Some(out)
}

fn wait(cx: &mut Cx, n: &Node, p: &str) -> Option<(u32, u64)> {
    let Val::Table(t) = &n.val else {
        cx.err(
            n.origin,
            p,
            "expected a table".into(),
            Some("e.g. wait = { replicas = 1, timeout = \"100ms\" }".into()),
        );
        return None;
    };
    cx.check_keys(t, p, &["replicas", "timeout"]);
    let replicas =
        t.get("replicas")
            .map_or(Some(1), |e| cx.int(&e.node, &join(p, "replicas"), 0, 1000))? as u32;
    let timeout = t.get("timeout").map_or(Some(0), |e| {
        cx.duration(&e.node, &join(p, "timeout"), 1_000_000)
    })?;
    Some((replicas, timeout / 1_000_000))
}

fn target_list(
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

fn faults(cx: &mut Cx, root: &Table, names: &Names, duration_ns: u64) -> Vec<FaultSpec> {
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

fn fault(
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

fn signed_duration(cx: &mut Cx, n: &Node, p: &str) -> Option<i64> {
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

type Groups = (Vec<ProcessId>, Vec<ProcessId>, Vec<String>);

fn two_groups(cx: &mut Cx, n: &Node, p: &str, names: &Names) -> Option<Groups> {
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

fn expectations(cx: &mut Cx, root: &Table, workloads: &[&str]) -> Vec<Expectation> {
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

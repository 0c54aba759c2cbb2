//! Workloads: targets or sentinel discovery, loop kind, keys, mixes, WAIT, timeouts.

use std::sync::Arc;

use super::*;
use crate::client::SlotMap;
use crate::redis::RedisVersion;

/// What a workload needs to find its primary through sentinels.
pub(super) struct SentinelDiscovery {
    pub(super) sentinels: Vec<ProcessId>,
    /// The region of each sentinel.
    pub(super) regions: Vec<usize>,
    pub(super) default_name: String,
    /// Every name a sentinel monitors a primary under.
    pub(super) monitored: Vec<String>,
}

/// What every workload is read against.
pub(super) struct WorkloadEnv<'a> {
    pub(super) regions: &'a [String],
    pub(super) servers: &'a [ServerSpec],
    pub(super) discovery: &'a SentinelDiscovery,
    /// The Redis Cluster, for `discovery = "cluster"`.
    pub(super) cluster: Option<&'a crate::scenario::ClusterSpec>,
    pub(super) load_end: u64,
    pub(super) duration_ns: u64,
}

impl WorkloadEnv<'_> {
    fn server_names(&self) -> Vec<&str> {
        self.servers.iter().map(|s| s.name.as_str()).collect()
    }

    /// A server named by the string at `n`.
    fn server(&self, cx: &mut Cx, n: &Node, p: &str, suggest: bool) -> Option<usize> {
        let s = cx.string(n, p)?;
        let names = self.server_names();
        if let Some(i) = names.iter().position(|x| *x == s) {
            return Some(i);
        }
        let hint = match did_you_mean(s, names.iter().copied()).filter(|_| suggest) {
            Some(m) => format!("did you mean \"{m}\"?"),
            None => format!("known servers: {}", names.join(", ")),
        };
        cx.err(n.origin, p, format!("unknown server \"{s}\""), Some(hint));
        None
    }
}

pub(super) fn parse_workloads(cx: &mut Cx, root: &Table, env: &WorkloadEnv) -> Vec<WorkloadGroup> {
    let Some(e) = root.get("workloads") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "workloads") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in &t.entries {
        let path = format!("workloads.{}", e.key);
        let Some(wt) = cx.table(e, &path) else {
            continue;
        };
        cx.check_keys(wt, &path, WORKLOAD_KEYS);
        if !cx.check_name(e.key_origin, &path, &e.key) {
            continue;
        }
        let input = WorkloadInput {
            name: &e.key,
            t: wt,
            path: &path,
        };
        if let Some(w) = workload(cx, &input, env) {
            out.push(w);
        }
    }
    out
}

/// One `[workloads.<name>]` table and where it is.
struct WorkloadInput<'a> {
    name: &'a str,
    t: &'a Table,
    path: &'a str,
}

impl WorkloadInput<'_> {
    fn get(&self, key: &str) -> Option<&Node> {
        self.t.get(key).map(|e| &e.node)
    }

    fn at(&self, key: &str) -> String {
        join(self.path, key)
    }
}

fn workload(cx: &mut Cx, w: &WorkloadInput, env: &WorkloadEnv) -> Option<WorkloadGroup> {
    let target = match w.get("target") {
        Some(n) => env.server(cx, n, &w.at("target"), true)?,
        None => env
            .servers
            .iter()
            .position(|s| s.replicaof.is_none())
            .unwrap_or(0),
    };
    let region = match w.get("region") {
        Some(n) => region_index(cx, n, &w.at("region"), env.regions)?,
        None => env.servers.get(target).map_or(0, |s| s.region),
    };
    let discovery = discovery_target(cx, w, env, target, region)?;
    let clients = w.get("clients").map_or(Some(1), |n| {
        cx.int(n, &w.at("clients"), 1, MAX_PROCESSES as i64)
    })? as u32;
    let spec = workload_spec(cx, w, env, discovery, target)?;
    Some(WorkloadGroup {
        spec,
        clients,
        region,
    })
}

fn workload_spec(
    cx: &mut Cx,
    w: &WorkloadInput,
    env: &WorkloadEnv,
    target: Target,
    target_server: usize,
) -> Option<WorkloadSpec> {
    let rate = match w.get("rate") {
        Some(n) => Some(cx.with_str(n, &w.at("rate"), parse_rate, "write e.g. \"500/s\"")?),
        None => None,
    };
    let think_ns = w.get("think").map_or(Some(10_000_000), |n| {
        cx.duration(n, &w.at("think"), 1_000_000)
    })?;
    let keys = w
        .get("keys")
        .map_or(Some(100), |n| cx.int(n, &w.at("keys"), 1, 10_000_000))? as u32;
    let distribution = distribution(cx, w, keys)?;
    let mix = match w.get("mix") {
        None => vec![(OpKind::Set, 50), (OpKind::Get, 50)],
        Some(n) => mix(cx, n, &w.at("mix"))?,
    };
    let value_size = value_size(cx, w)?;
    let (multi_keys, hash_tags) = multi_keys(cx, w, &mix)?;
    let wait = match w.get("wait") {
        None => None,
        Some(n) => Some(wait(cx, n, &w.at("wait"), env, target_server)?),
    };
    let waitaof = match w.get("waitaof") {
        None => None,
        Some(n) => Some(waitaof(cx, n, &w.at("waitaof"), env, target_server)?),
    };
    if let (Some(_), Some(n)) = (wait, w.get("waitaof")) {
        let hint = "keep one of `wait` and `waitaof`";
        let msg = "a write is followed by WAIT or by WAITAOF, not both";
        cx.err(n.origin, &w.at("waitaof"), msg.into(), Some(hint.into()));
        return None;
    }
    let (timeout_ns, start_ns, stop_ns) = schedule(cx, w, env)?;
    let read_from_replicas = read_from_replicas(cx, w, &target)?;
    let sentinel_aware = matches!(target, Target::Sentinels(_));
    let follow = follow(cx, w, sentinel_aware)?;
    if let (Some(n), false) = (w.get("sentinel_order"), sentinel_aware) {
        let hint = "set `discovery = \"sentinel\"`, or leave `sentinel_order` out";
        let msg =
            "`sentinel_order` only applies to clients that discover the primary through sentinels";
        cx.warn(
            n.origin,
            &w.at("sentinel_order"),
            msg.into(),
            Some(hint.into()),
        );
    }
    // Set workloads end with every client reading every set, halfway through what is left of
    // the run once both the workload and the faults have stopped.
    let final_reads_ns = mix.iter().any(|(k, _)| *k == OpKind::Sadd).then(|| {
        let calm = stop_ns.max(env.load_end);
        calm + env.duration_ns.saturating_sub(calm) / 2
    });
    Some(WorkloadSpec {
        name: w.name.to_string(),
        target,
        rate_per_sec: rate,
        think_ns,
        keys,
        master_name: master_name(cx, w, env)?,
        follow,
        read_from: match w.get("read_from") {
            Some(n) => Some(ProcessId(
                env.server(cx, n, &w.at("read_from"), false)? as u32
            )),
            None => None,
        },
        read_from_replicas,
        key_prefix: match w.get("key_prefix") {
            Some(n) => cx.string(n, &w.at("key_prefix"))?.to_string(),
            None => String::new(),
        },
        distribution,
        mix,
        value_size,
        multi_keys,
        hash_tags,
        wait,
        waitaof,
        timeout_ns,
        start_ns,
        stop_ns,
        final_reads_ns,
    })
}

/// `read_from_replicas` (cluster clients only), and `read_from` refused for cluster clients,
/// which pick a node per key.
fn read_from_replicas(cx: &mut Cx, w: &WorkloadInput, target: &Target) -> Option<bool> {
    let cluster = matches!(target, Target::Cluster(_));
    if let (Some(n), true) = (w.get("read_from"), cluster) {
        let hint = "cluster clients read from the replica of each key's shard with \
                    `read_from_replicas = true`";
        let msg = "`read_from` names one server, but a cluster client sends each key to its \
                   slot's shard";
        cx.err(n.origin, &w.at("read_from"), msg.into(), Some(hint.into()));
        return None;
    }
    let Some(n) = w.get("read_from_replicas") else {
        return Some(false);
    };
    let p = w.at("read_from_replicas");
    let on = cx.boolean(n, &p)?;
    if on && !cluster {
        let hint = "set `discovery = \"cluster\"`, or read from one replica with \
                    `read_from = \"<replica>\"`";
        let msg = "`read_from_replicas` applies to cluster clients only";
        cx.err(n.origin, &p, msg.into(), Some(hint.into()));
        return None;
    }
    Some(on)
}

/// `multi_keys` (keys per MSET/MGET, 2 to 16: with at most 10,000,000 `keys`, a group's key
/// number stays below 2^32) and `hash_tags`; a warning for either in a mix without `mset` or
/// `mget`.
fn multi_keys(cx: &mut Cx, w: &WorkloadInput, mix: &[(OpKind, u32)]) -> Option<(u32, bool)> {
    let multi_keys = match w.get("multi_keys") {
        Some(n) => cx.int(n, &w.at("multi_keys"), 2, 16)? as u32,
        None => 2,
    };
    let hash_tags = match w.get("hash_tags") {
        Some(n) => cx.boolean(n, &w.at("hash_tags"))?,
        None => true,
    };
    if !mix.iter().any(|(k, _)| k.is_multi_key()) {
        for field in ["multi_keys", "hash_tags"] {
            if let Some(n) = w.get(field) {
                let hint = "add `mset` or `mget` to `mix`, or leave the field out";
                let msg =
                    format!("`{field}` only applies to MSET and MGET, which this mix never sends");
                cx.warn(n.origin, &w.at(field), msg, Some(hint.into()));
            }
        }
    }
    Some((multi_keys, hash_tags))
}

fn value_size(cx: &mut Cx, w: &WorkloadInput) -> Option<usize> {
    let Some(n) = w.get("value_size") else {
        return Some(16);
    };
    let p = w.at("value_size");
    let v = cx.size(n, &p)?;
    if v > MAX_VALUE_SIZE {
        cx.err(
            n.origin,
            &p,
            format!(
                "{v} bytes is larger than Redis accepts in one value (proto-max-bulk-len, 512mb)"
            ),
            Some("lower `value_size` to 512mb or less".into()),
        );
        return None;
    }
    Some(v as usize)
}

/// The name asked with `get-master-addr-by-name`: it must be one a sentinel monitors.
fn master_name(cx: &mut Cx, w: &WorkloadInput, env: &WorkloadEnv) -> Option<String> {
    let Some(n) = w.get("master_name") else {
        return Some(env.discovery.default_name.clone());
    };
    let p = w.at("master_name");
    let name = cx.string(n, &p)?;
    if !cx.check_name(n.origin, &p, name) {
        return None;
    }
    let known = &env.discovery.monitored;
    if !known.iter().any(|m| m == name) {
        let hint = match did_you_mean(name, known.iter().map(String::as_str)) {
            Some(m) => format!("did you mean \"{m}\"?"),
            None if known.is_empty() => "add sentinels that monitor a primary".into(),
            None => format!("monitored names: {}", known.join(", ")),
        };
        let msg = format!("no sentinel monitors a primary named \"{name}\"");
        cx.err(n.origin, &p, msg, Some(hint));
        return None;
    }
    Some(name.to_string())
}

/// `timeout`, `start` and `stop`.
fn schedule(cx: &mut Cx, w: &WorkloadInput, env: &WorkloadEnv) -> Option<(u64, u64, u64)> {
    let timeout_ns = w.get("timeout").map_or(Some(1_000_000_000), |n| {
        cx.duration(n, &w.at("timeout"), 1_000_000)
    })?;
    let start_ns = w
        .get("start")
        .map_or(Some(0), |n| cx.duration(n, &w.at("start"), 1_000_000_000))?;
    let stop_ns = w.get("stop").map_or(Some(env.load_end), |n| {
        cx.duration(n, &w.at("stop"), 1_000_000_000)
    })?;
    if timeout_ns == 0 {
        cx.err(
            w.get("timeout").map_or(Origin::Whole, |n| n.origin),
            &w.at("timeout"),
            "must be longer than zero".into(),
            None,
        );
        return None;
    }
    if start_ns >= stop_ns {
        let (start, stop) = (start_ns as f64 / 1e9, stop_ns as f64 / 1e9);
        let by = if w.get("stop").is_some() {
            "`stop`"
        } else {
            "the quiet phase (`duration` - `quiet`)"
        };
        cx.err(
            w.get("start")
                .or(w.get("stop"))
                .map_or(Origin::Whole, |n| n.origin),
            &w.at("start"),
            format!("starts at {start}s but stops at {stop}s ({by}): it never issues an operation"),
            Some("make `start` earlier than `stop`".into()),
        );
        return None;
    }
    Some((timeout_ns, start_ns, stop_ns))
}

fn discovery_target(
    cx: &mut Cx,
    w: &WorkloadInput,
    env: &WorkloadEnv,
    target: usize,
    region: usize,
) -> Option<Target> {
    let sentinels = &env.discovery.sentinels;
    let Some(n) = w.get("discovery") else {
        return Some(Target::Server(ProcessId(target as u32)));
    };
    let p = w.at("discovery");
    match cx.string(n, &p)? {
        "sentinel" if !sentinels.is_empty() => {
            let nearest_first = sentinel_order(cx, w)?;
            let mut order: Vec<(bool, ProcessId)> = sentinels
                .iter()
                .zip(&env.discovery.regions)
                .map(|(&s, &r)| (nearest_first && r != region, s))
                .collect();
            // Stable: list order within each group.
            order.sort_by_key(|(far, _)| *far);
            Some(Target::Sentinels(
                order.into_iter().map(|(_, s)| s).collect(),
            ))
        }
        "sentinel" => {
            cx.err(
                n.origin,
                &p,
                "the scenario has no sentinels".into(),
                Some("add [sentinels.<name>] sections, or leave `discovery` out".into()),
            );
            None
        }
        "fixed" => Some(Target::Server(ProcessId(target as u32))),
        "cluster" => match env.cluster {
            Some(c) => Some(Target::Cluster(Arc::new(slot_map(c, env.servers)))),
            None => {
                let hint = "add a [cluster] section, or leave `discovery` out";
                let msg = "the scenario has no [cluster]";
                cx.err(n.origin, &p, msg.into(), Some(hint.into()));
                None
            }
        },
        other => {
            cx.err(
                n.origin,
                &p,
                format!("unknown discovery \"{other}\""),
                Some("use \"sentinel\", \"cluster\" or \"fixed\"".into()),
            );
            None
        }
    }
}

/// `sentinel_order`: whether a client asks the sentinels of its own region first (then the
/// others in list order) or all in list order (Jedis, redis-py: the configured list).
fn sentinel_order(cx: &mut Cx, w: &WorkloadInput) -> Option<bool> {
    let Some(n) = w.get("sentinel_order") else {
        return Some(false);
    };
    let p = w.at("sentinel_order");
    match cx.string(n, &p)? {
        "list" => Some(false),
        "region" => Some(true),
        other => {
            let hint = "use \"list\" (the configured order) or \"region\" (own region first)";
            cx.err(
                n.origin,
                &p,
                format!("unknown sentinel order \"{other}\""),
                Some(hint.into()),
            );
            None
        }
    }
}

/// `follow`: how a sentinel-aware client learns that the primary moved.
fn follow(cx: &mut Cx, w: &WorkloadInput, sentinel_aware: bool) -> Option<Follow> {
    let Some(n) = w.get("follow") else {
        return Some(Follow::default());
    };
    let p = w.at("follow");
    let f = match cx.string(n, &p)? {
        "push" => Follow::Push,
        "reconnect" => Follow::Reconnect,
        "both" => Follow::Both,
        other => {
            let hint = "use \"push\" (Jedis), \"reconnect\" (redis-py) or \"both\"";
            cx.err(
                n.origin,
                &p,
                format!("unknown follow policy \"{other}\""),
                Some(hint.into()),
            );
            return None;
        }
    };
    if !sentinel_aware {
        let hint = "set `discovery = \"sentinel\"`, or leave `follow` out";
        let msg = "`follow` only applies to clients that discover the primary through sentinels";
        cx.warn(n.origin, &p, msg.into(), Some(hint.into()));
    }
    Some(f)
}

/// The slot map a cluster client starts with, as `CLUSTER SLOTS` answers right after
/// `redis-cli --cluster create`.
fn slot_map(c: &crate::scenario::ClusterSpec, servers: &[ServerSpec]) -> SlotMap {
    let nodes = c
        .shards
        .iter()
        .flat_map(|s| std::iter::once(s.primary).chain(s.replicas.iter().copied()))
        .map(|i| (servers[i].name.clone(), ProcessId(i as u32)))
        .collect();
    let mut owners = Vec::with_capacity(usize::from(crate::cluster::slot::CLUSTER_SLOTS));
    let ranges = crate::cluster::topology::even_split(c.shards.len());
    for (shard, range) in c.shards.iter().zip(ranges) {
        owners.extend(range.map(|_| Some(ProcessId(shard.primary as u32))));
    }
    let replicas = c
        .shards
        .iter()
        .map(|s| {
            let of = s.replicas.iter().map(|&r| ProcessId(r as u32)).collect();
            (ProcessId(s.primary as u32), of)
        })
        .collect();
    SlotMap {
        nodes,
        owners,
        replicas,
    }
}

fn distribution(cx: &mut Cx, w: &WorkloadInput, keys: u32) -> Option<KeyDistribution> {
    let Some(n) = w.get("distribution") else {
        return Some(KeyDistribution::Uniform);
    };
    let p = w.at("distribution");
    match cx.string(n, &p)? {
        "uniform" => Some(KeyDistribution::Uniform),
        "zipfian" => Some(KeyDistribution::Zipfian),
        "hot" => Some(KeyDistribution::Hot {
            hot_keys: w.get("hot_keys").map_or(Some(1), |n| {
                cx.int(n, &w.at("hot_keys"), 1, i64::from(keys))
            })? as u32,
            share_percent: w
                .get("hot_share")
                .map_or(Some(90), |n| cx.int(n, &w.at("hot_share"), 0, 100))?
                as u32,
        }),
        other => {
            cx.err(
                n.origin,
                &p,
                format!("unknown distribution \"{other}\""),
                Some("use uniform, zipfian or hot".into()),
            );
            None
        }
    }
}

pub(super) fn mix(cx: &mut Cx, n: &Node, p: &str) -> Option<Vec<(OpKind, u32)>> {
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

/// How many replicas the group of server `i` has: every server whose `replicaof` chain ends
/// where `i`'s does, less the primary. `WAIT n` can never see more.
fn group_replicas(servers: &[ServerSpec], i: usize) -> Vec<&str> {
    let root = |mut k: usize| {
        while let Some(up) = servers[k].replicaof {
            k = up;
        }
        k
    };
    let top = root(i);
    servers
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != top && root(*k) == top)
        .map(|(_, s)| s.name.as_str())
        .collect()
}

/// `waitaof = { local = 1, replicas = 1, timeout = "1s" }`: WAITAOF after every write.
pub(super) fn waitaof(
    cx: &mut Cx,
    n: &Node,
    p: &str,
    env: &WorkloadEnv,
    target: usize,
) -> Option<(u32, u32, u64)> {
    let Val::Table(t) = &n.val else {
        let hint = "e.g. waitaof = { local = 1, replicas = 1, timeout = \"1s\" }";
        cx.err(n.origin, p, "expected a table".into(), Some(hint.into()));
        return None;
    };
    cx.check_keys(t, p, &["local", "replicas", "timeout"]);
    let local = t
        .get("local")
        .map_or(Some(1), |e| cx.int(&e.node, &join(p, "local"), 0, 1))? as u32;
    let replicas =
        t.get("replicas")
            .map_or(Some(0), |e| cx.int(&e.node, &join(p, "replicas"), 0, 1000))? as u32;
    let timeout = t.get("timeout").map_or(Some(0), |e| {
        cx.duration(&e.node, &join(p, "timeout"), 1_000_000)
    })?;
    let Some(primary) = env.servers.get(target) else {
        return Some((local, replicas, timeout / 1_000_000));
    };
    let group = group_replicas(env.servers, target);
    if replicas as usize > group.len() {
        cx.err(
            t.get("replicas").map_or(n.origin, |e| e.node.origin),
            &join(p, "replicas"),
            format!(
                "WAITAOF {local} {replicas} can never be satisfied: the replication group of \
                 \"{}\" has {} replica(s)",
                primary.name,
                group.len()
            ),
            Some(format!("lower `replicas` to at most {}", group.len())),
        );
        return None;
    }
    if primary.config.version < RedisVersion::V7_2 {
        let hint = "set `[redis] version = \"7.2\"`, or use `wait`";
        let msg = "Redis 7.0 has no WAITAOF: each one is answered `-ERR unknown command` and its \
                   write recorded as indeterminate";
        cx.warn(n.origin, p, msg.into(), Some(hint.into()));
    } else if local > 0 && !primary.config.appendonly {
        let hint = "set `appendonly = true` on the primary, or `local = 0`";
        let msg = format!(
            "\"{}\" has appendonly no: every WAITAOF with local = 1 is refused",
            primary.name
        );
        cx.warn(n.origin, p, msg, Some(hint.into()));
    } else if replicas > 0 {
        let no_aof: Vec<&str> = env
            .servers
            .iter()
            .filter(|s| group.contains(&s.name.as_str()) && !s.config.appendonly)
            .map(|s| s.name.as_str())
            .collect();
        if group.len() - no_aof.len() < replicas as usize {
            let hint = "set `appendonly = true` on the replicas";
            let msg = format!(
                "{} ha(s) appendonly no and report no fsynced offset: WAITAOF can count at most \
                 {} replica(s)",
                no_aof.join(", "),
                group.len() - no_aof.len()
            );
            cx.warn(n.origin, p, msg, Some(hint.into()));
        }
    }
    Some((local, replicas, timeout / 1_000_000))
}

pub(super) fn wait(
    cx: &mut Cx,
    n: &Node,
    p: &str,
    env: &WorkloadEnv,
    target: usize,
) -> Option<(u32, u64)> {
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
    let Some(primary) = env.servers.get(target).map(|s| &s.name) else {
        return Some((replicas, timeout / 1_000_000));
    };
    let group = group_replicas(env.servers, target);
    if replicas as usize > group.len() {
        cx.err(
            t.get("replicas").map_or(n.origin, |e| e.node.origin),
            &join(p, "replicas"),
            format!(
                "WAIT {replicas} can never be satisfied: the replication group of \"{primary}\" \
                 has {} replica(s) ({})",
                group.len(),
                group.join(", ")
            ),
            Some(format!(
                "lower `replicas` to at most {}, or add replicas",
                group.len()
            )),
        );
        return None;
    }
    Some((replicas, timeout / 1_000_000))
}

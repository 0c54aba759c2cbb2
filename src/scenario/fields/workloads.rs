//! Workloads: targets or sentinel discovery, loop kind, keys, mixes, WAIT, timeouts.

use super::*;

/// What a workload needs to find its primary through sentinels.
pub(super) struct SentinelDiscovery {
    pub(super) sentinels: Vec<ProcessId>,
    pub(super) default_name: String,
}

pub(super) fn parse_workloads(
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
pub(super) fn workload(
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

pub(super) fn wait(cx: &mut Cx, n: &Node, p: &str) -> Option<(u32, u64)> {
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

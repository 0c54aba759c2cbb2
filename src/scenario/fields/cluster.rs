//! `[cluster]`: a Redis Cluster of `shards` primaries with `replicas` replicas each, servers
//! generated as `c<i>p` and `c<i>r<j>`, slots split as `redis-cli --cluster create` does, placed
//! in regions, with the cluster knobs spelled as in redis.conf.

use super::*;
use crate::cluster::node::ClusterConfig;
use crate::scenario::{ClusterSpec, ShardSpec};

/// The keys `[cluster]` accepts.
const CLUSTER_KEYS: &[&str] = &[
    "shards",
    "replicas",
    "region",
    "regions",
    "cluster-node-timeout",
    "cluster-replica-validity-factor",
    "cluster-require-full-coverage",
    "cluster-allow-reads-when-down",
    "cluster-replica-no-failover",
    "cluster-migration-barrier",
    "cluster-allow-replica-migration",
];

/// The most shards a scenario may ask for.
const MAX_SHARDS: i64 = 100;
/// The most replicas per shard.
const MAX_REPLICAS: i64 = 10;

/// Reads `[cluster]` and appends its servers to `servers` (which may hold others); servers get
/// `defaults` (the `[servers.defaults]` knobs).
pub(super) fn parse_cluster(
    cx: &mut Cx,
    root: &Table,
    regions: &[String],
    defaults: &ServerConfig,
    servers: &mut Vec<ServerSpec>,
) -> Option<ClusterSpec> {
    let e = root.get("cluster")?;
    let t = cx.table(e, "cluster")?;
    cx.check_keys(t, "cluster", CLUSTER_KEYS);
    let Some(shards_entry) = t.get("shards") else {
        let hint = "add e.g. shards = 3 and replicas = 1 under [cluster]";
        cx.err(
            e.key_origin,
            "cluster.shards",
            "missing `shards`".into(),
            Some(hint.into()),
        );
        return None;
    };
    let shards = cx.int(&shards_entry.node, "cluster.shards", 1, MAX_SHARDS)? as usize;
    let replicas = match t.get("replicas") {
        Some(r) => cx.int(&r.node, "cluster.replicas", 0, MAX_REPLICAS)? as usize,
        None => 0,
    };
    let placement = placement(cx, t, e.key_origin, regions)?;
    let config = cluster_config(cx, t, defaults);
    let mut specs = Vec::with_capacity(shards);
    for i in 0..shards {
        let primary = push_server(
            cx,
            e.key_origin,
            servers,
            &format!("c{}p", i + 1),
            placement[i % placement.len()],
            None,
            defaults,
        )?;
        let mut shard = ShardSpec {
            primary,
            replicas: Vec::new(),
        };
        for j in 1..=replicas {
            let name = format!("c{}r{j}", i + 1);
            let region = placement[(i + j) % placement.len()];
            let r = push_server(
                cx,
                e.key_origin,
                servers,
                &name,
                region,
                Some(primary),
                defaults,
            )?;
            shard.replicas.push(r);
        }
        specs.push(shard);
    }
    Some(ClusterSpec {
        config,
        shards: specs,
    })
}

/// Adds one generated server; its name must not clash with a `[servers.<name>]` section.
fn push_server(
    cx: &mut Cx,
    origin: Origin,
    servers: &mut Vec<ServerSpec>,
    name: &str,
    region: usize,
    replicaof: Option<usize>,
    defaults: &ServerConfig,
) -> Option<usize> {
    if servers.iter().any(|s| s.name == name) {
        cx.err(
            origin,
            "cluster",
            format!("[cluster] generates a server \"{name}\", but [servers.{name}] exists"),
            Some("rename that server: c<i>p and c<i>r<j> are the cluster's names".into()),
        );
        return None;
    }
    servers.push(ServerSpec {
        name: name.to_string(),
        region,
        replicaof,
        config: defaults.clone(),
        standby: false,
    });
    Some(servers.len() - 1)
}

/// The regions nodes are placed in, in turn: `region` for all, or `regions` round-robin
/// (shard `i`'s primary in `regions[i]`, its replica `j` in `regions[i + j]`).
fn placement(cx: &mut Cx, t: &Table, origin: Origin, regions: &[String]) -> Option<Vec<usize>> {
    match (t.get("region"), t.get("regions")) {
        (Some(_), Some(e)) => {
            let hint = "keep `region` (every node in one region) or `regions` (round-robin)";
            cx.err(
                e.key_origin,
                "cluster.regions",
                "both `region` and `regions` are set".into(),
                Some(hint.into()),
            );
            None
        }
        (Some(r), None) => Some(vec![region_index(cx, &r.node, "cluster.region", regions)?]),
        (None, Some(e)) => {
            let Val::Array(items) = &e.node.val else {
                let found = e.node.val.type_name();
                let hint = "write e.g. regions = [\"eu\", \"us\", \"ap\"]";
                cx.err(
                    e.node.origin,
                    "cluster.regions",
                    format!("expected an array, found {found}"),
                    Some(hint.into()),
                );
                return None;
            };
            let picked: Vec<Option<usize>> = items
                .iter()
                .enumerate()
                .map(|(k, n)| region_index(cx, n, &format!("cluster.regions[{k}]"), regions))
                .collect();
            let picked: Option<Vec<usize>> = picked.into_iter().collect();
            picked.filter(|p| !p.is_empty()).or_else(|| {
                cx.err(
                    e.node.origin,
                    "cluster.regions",
                    "needs at least one region".into(),
                    None,
                );
                None
            })
        }
        (None, None) if regions.len() == 1 => Some(vec![0]),
        (None, None) => {
            let hint = format!(
                "add region = \"...\" or regions = [...]; known regions: {}",
                regions.join(", ")
            );
            cx.err(
                origin,
                "cluster.region",
                "missing `region`".into(),
                Some(hint),
            );
            None
        }
    }
}

/// The cluster knobs of redis.conf, with Redis's defaults.
fn cluster_config(cx: &mut Cx, t: &Table, defaults: &ServerConfig) -> ClusterConfig {
    let mut c = ClusterConfig {
        repl_ping_replica_period_s: defaults.repl_ping_replica_period_secs,
        ..ClusterConfig::default()
    };
    for e in &t.entries {
        let p = join("cluster", &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "cluster-node-timeout" => match cx.duration(n, &p, 1_000_000) {
                Some(ns) if ns >= 1_000_000 => c.node_timeout_ms = ns / 1_000_000,
                Some(_) => cx.err(
                    n.origin,
                    &p,
                    "must be at least 1ms".into(),
                    Some("Redis's default is 15000 (ms)".into()),
                ),
                None => {}
            },
            "cluster-replica-validity-factor" => set(
                &mut c.replica_validity_factor,
                cx.int(n, &p, 0, 1_000_000).map(|v| v as u64),
            ),
            "cluster-require-full-coverage" => set(&mut c.require_full_coverage, cx.boolean(n, &p)),
            "cluster-allow-reads-when-down" => set(&mut c.allow_reads_when_down, cx.boolean(n, &p)),
            "cluster-replica-no-failover" => set(&mut c.replica_no_failover, cx.boolean(n, &p)),
            "cluster-migration-barrier" => set(
                &mut c.migration_barrier,
                cx.int(n, &p, 0, 1_000_000).map(|v| v as u64),
            ),
            "cluster-allow-replica-migration" => {
                set(&mut c.allow_replica_migration, cx.boolean(n, &p))
            }
            _ => {}
        }
    }
    c
}

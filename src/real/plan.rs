//! The plan of a real run: which loopback address every process of a scenario gets, the
//! redis.conf and sentinel.conf knobs of each node, and the parts of a scenario that real
//! processes cannot reproduce (refused with the reason, before anything starts).
//!
//! Processes are numbered as in the simulator: servers first (scenario order), then sentinels,
//! then every workload's clients. Node `i` (a server or sentinel) listens on `127.S.0.(i+1)` and
//! is reached only through its proxy on `127.S.1.(i+1)` (a Redis Cluster node's bus too, on a
//! second port of each address); client `j` connects from `127.S.2.(j+1)`; the run's own
//! observer (INFO polls, final reads) uses `127.S.3.1` and talks to nodes directly, so faults
//! never hide what happened.

use std::net::Ipv4Addr;

use crate::cluster::node::ClusterConfig;
use crate::fault::FaultKind;
use crate::redis::ServerConfig;
use crate::scenario::Scenario;

/// The whole fault schedule: the scenario's faults and the nemesis's, drawn exactly as the
/// simulator draws them (world/mod.rs), so both backends face the same faults for a seed.
pub fn schedule(s: &Scenario, seed: u64) -> Vec<crate::fault::FaultSpec> {
    use crate::sim::ProcessId;
    let mut faults = s.faults.clone();
    if let Some(n) = &s.nemesis {
        let names = process_names(s);
        let servers: Vec<(ProcessId, String)> = (0..s.servers.len())
            .map(|i| (ProcessId(i as u32), names[i].clone()))
            .collect();
        let everyone: Vec<ProcessId> = (0..names.len() as u32).map(ProcessId).collect();
        let streams = crate::sim::RngStreams::new(seed);
        faults.extend(crate::nemesis::draw(
            n,
            &mut streams.stream("nemesis"),
            &servers,
            &everyone,
        ));
    }
    faults
}

/// The most servers plus sentinels, and the most clients, one run may have (one octet each).
pub const MAX_NODES: usize = 250;

/// The loopback addresses of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Addresses {
    /// The second octet of every address of the run.
    pub subnet: u8,
}

impl Addresses {
    /// Where node `i` (server or sentinel) listens.
    pub fn node(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, self.subnet, 0, octet(i))
    }
    /// Where node `i`'s proxy listens: the address every peer dials.
    pub fn proxy(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, self.subnet, 1, octet(i))
    }
    /// Where client `j` (counted over all workloads) connects from.
    pub fn client(&self, j: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, self.subnet, 2, octet(j))
    }
    /// Where the run's observer connects from.
    pub fn observer(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.subnet, 3, 1)
    }
}

fn octet(i: usize) -> u8 {
    assert!(i < MAX_NODES, "checked by refusals()");
    (i + 1) as u8
}

/// The name of every process, in process order (clients are `workload/index`).
pub fn process_names(s: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = s.servers.iter().map(|v| v.name.clone()).collect();
    names.extend(s.sentinels.iter().map(|v| v.name.clone()));
    for w in &s.workloads {
        names.extend((0..w.clients).map(|i| format!("{}/{}", w.spec.name, i)));
    }
    names
}

/// Every redis.conf knob of `c` that Redis has, spelled as in redis.conf (all written out, so a
/// run never depends on the package's own defaults).
pub fn server_knobs(c: &ServerConfig) -> Vec<(String, String)> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let save = if c.save.is_empty() {
        "\"\"".to_string()
    } else {
        let rules: Vec<String> = c.save.iter().map(|(s, n)| format!("{s} {n}")).collect();
        rules.join(" ")
    };
    let o = c.replica_output_buffer;
    [
        ("repl-backlog-size", c.repl_backlog_size.to_string()),
        ("repl-backlog-ttl", c.repl_backlog_ttl_secs.to_string()),
        ("repl-timeout", c.repl_timeout_secs.to_string()),
        (
            "repl-ping-replica-period",
            c.repl_ping_replica_period_secs.to_string(),
        ),
        ("repl-diskless-sync", yes(c.repl_diskless_sync)),
        (
            "repl-diskless-sync-delay",
            c.repl_diskless_sync_delay_secs.to_string(),
        ),
        ("replica-serve-stale-data", yes(c.replica_serve_stale_data)),
        ("replica-read-only", yes(c.replica_read_only)),
        ("replica-priority", c.replica_priority.to_string()),
        ("min-replicas-to-write", c.min_replicas_to_write.to_string()),
        (
            "min-replicas-max-lag",
            c.min_replicas_max_lag_secs.to_string(),
        ),
        ("appendonly", yes(c.appendonly)),
        ("appendfsync", c.appendfsync.name().to_string()),
        ("save", save),
        (
            "client-output-buffer-limit",
            format!("replica {} {} {}", o.hard_bytes, o.soft_bytes, o.soft_secs),
        ),
        (
            "enable-debug-command",
            c.enable_debug_command.name().to_string(),
        ),
        ("shutdown-timeout", c.shutdown_timeout_secs.to_string()),
        (
            "stop-writes-on-bgsave-error",
            yes(c.stop_writes_on_bgsave_error),
        ),
        (
            "replica-ignore-disk-write-errors",
            yes(c.replica_ignore_disk_write_errors),
        ),
        (
            "slowlog-log-slower-than",
            c.slowlog_log_slower_than_us.to_string(),
        ),
        ("slowlog-max-len", c.slowlog_max_len.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The `cluster-*` knobs of a Redis Cluster node, spelled as in redis.conf, all written out
/// (`cluster-enabled`, `cluster-port` and `cluster-config-file` come from the supervisor, the
/// `cluster-announce-*` addresses from the run).
pub fn cluster_knobs(c: &ClusterConfig) -> Vec<(String, String)> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    [
        ("cluster-node-timeout", c.node_timeout_ms.to_string()),
        (
            "cluster-replica-validity-factor",
            c.replica_validity_factor.to_string(),
        ),
        (
            "cluster-require-full-coverage",
            yes(c.require_full_coverage),
        ),
        (
            "cluster-allow-reads-when-down",
            yes(c.allow_reads_when_down),
        ),
        ("cluster-replica-no-failover", yes(c.replica_no_failover)),
        (
            "cluster-allow-replica-migration",
            yes(c.allow_replica_migration),
        ),
        // Redis's default; the model has no replica migration (docs/fidelity.md).
        ("cluster-migration-barrier", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Whether a server keeps nothing on disk that a power loss could take and a kill leaves:
/// no `save` rules and no AOF. What it may still write (`nodes.conf`, a replica's RDB from a full
/// sync) Redis fsyncs before relying on it (cluster.c `clusterSaveConfig`, replication.c
/// `readSyncBulkPayload`).
pub fn persists_nothing(c: &ServerConfig) -> bool {
    c.save.is_empty() && !c.appendonly
}

/// What real processes cannot do that the scenario asks for; empty when the run can go ahead.
/// `faults` is the whole schedule (the scenario's and the nemesis's).
pub fn refusals(s: &Scenario, faults: &[crate::fault::FaultSpec]) -> Vec<String> {
    let mut out = Vec::new();
    if s.servers.len() + s.sentinels.len() > MAX_NODES {
        out.push(format!("more than {MAX_NODES} servers and sentinels"));
    }
    if s.servers
        .iter()
        .any(|v| v.config.version > crate::redis::RedisVersion::V7_0)
    {
        out.push(
            "[redis] version 7.2: the real backend runs Redis 7.0 (redis-server 7.0.15)".into(),
        );
    }
    for w in &s.workloads {
        if w.spec.waitaof.is_some() {
            out.push(format!(
                "workload {}: WAITAOF needs Redis 7.2; the real backend runs 7.0",
                w.spec.name
            ));
        }
    }
    let clients: u32 = s.workloads.iter().map(|w| w.clients).sum();
    if clients as usize > MAX_NODES {
        out.push(format!("more than {MAX_NODES} clients"));
    }
    if s.operator.is_some() {
        out.push(
            "[operator]: the operator's policy is not reproduced on the real backend yet".into(),
        );
    }
    for v in &s.servers {
        if v.standby {
            out.push(format!(
                "server {}: standby servers are not reproduced on the real backend yet",
                v.name
            ));
        }
        if v.config.disk_fsync_latency_ns > 0 {
            out.push(format!(
                "server {}: disk-fsync-latency needs a fault-injecting disk",
                v.name
            ));
        }
        if v.config.bugs != crate::bugs::Bugs::default() {
            out.push(format!(
                "server {}: planted bugs exist only in the model",
                v.name
            ));
        }
    }
    for v in &s.sentinels {
        if v.monitors.iter().any(|m| m.promote_lowest_offset) {
            out.push(format!(
                "sentinel {}: planted bugs exist only in the model",
                v.name
            ));
        }
    }
    let servers = s.servers.len() as u32;
    for f in faults {
        let why = fault_refusal(&f.kind, servers + s.sentinels.len() as u32)
            .or_else(|| machine_crash_refusal(s, &f.kind))
            .or_else(|| resharding_refusal(s, &f.kind));
        if let Some(why) = why {
            out.push(format!(
                "fault {} at {} ms: {why}",
                f.label,
                f.at_ns / 1_000_000
            ));
        }
    }
    out
}

/// What the run reproduces only in part: the proxies apply each path's base latency, not its
/// jitter or bandwidth, and the model's hardware knobs have no redis.conf counterpart.
pub fn warnings(s: &Scenario) -> Vec<String> {
    let t = &s.topology;
    let n = t.regions().len();
    let mut out = Vec::new();
    if (0..n).any(|a| (0..n).any(|b| t.path(a, b).jitter_ns > 0)) {
        out.push(
            "path jitter is not reproduced: the proxies add each path's base latency only".into(),
        );
    }
    out.push("path bandwidth is not reproduced: loopback carries bytes as fast as it can".into());
    let d = ServerConfig::default();
    let model_knobs = |c: &ServerConfig| {
        c.rdb_save_bytes_per_sec != d.rdb_save_bytes_per_sec
            || c.rdb_load_bytes_per_sec != d.rdb_load_bytes_per_sec
            || c.os_writeback_interval_ms != d.os_writeback_interval_ms
            || c.tcp_send_buffer_bytes != d.tcp_send_buffer_bytes
    };
    if s.servers.iter().any(|v| model_knobs(&v.config)) {
        out.push("model knobs (rdb-save-rate, rdb-load-rate, os-writeback-interval, tcp-send-buffer) have no effect on real servers".into());
    }
    out
}

/// The (source, target) server pairs whose `MIGRATE` the schedule may send: a reshard's, and a
/// console `MIGRATE`'s. Each gets a proxy of its own (`proxy::Network::listen_for`).
pub fn migrate_links(
    faults: &[crate::fault::FaultSpec],
) -> std::collections::BTreeSet<(usize, usize)> {
    use crate::fault::AdminCommand;
    faults
        .iter()
        .filter_map(|f| match &f.kind {
            FaultKind::Reshard { from, to, .. } => Some((from.index(), to.index())),
            FaultKind::Command {
                node,
                command: AdminCommand::Migrate { to, .. },
                ..
            } => Some((node.index(), to.index())),
            _ => None,
        })
        .collect()
}

/// Resharding names servers by their Redis Cluster node IDs: every server a reshard, a
/// `CLUSTER SETSLOT` or a `MIGRATE` names must be a node of the scenario's cluster (the model
/// answers a server outside it from its own state; a real one has no ID to send).
fn resharding_refusal(s: &Scenario, kind: &FaultKind) -> Option<String> {
    use crate::fault::{AdminCommand, SlotAction};
    let named: Vec<crate::sim::ProcessId> = match kind {
        FaultKind::Reshard { from, to, .. } => vec![*from, *to],
        FaultKind::Command {
            node,
            command: AdminCommand::Migrate { to, .. },
            ..
        } => vec![*node, *to],
        FaultKind::Command {
            command: AdminCommand::SetSlot { action, .. },
            ..
        } => match action {
            SlotAction::Migrating(p) | SlotAction::Importing(p) | SlotAction::Node(p) => vec![*p],
            SlotAction::Stable => vec![],
        },
        _ => return None,
    };
    let members = s
        .cluster
        .as_ref()
        .map(super::cluster::members)
        .unwrap_or_default();
    let outside: Vec<String> = named
        .iter()
        .filter(|p| !members.contains(&p.index()))
        .map(|p| {
            s.servers
                .get(p.index())
                .map_or_else(|| format!("process {}", p.0), |v| v.name.clone())
        })
        .collect();
    (!outside.is_empty()).then(|| {
        format!(
            "resharding names {}, not a node of the scenario's Redis Cluster: the real backend \
             has no node ID or MIGRATE route for it",
            outside.join(", ")
        )
    })
}

/// A machine crash is a kill plus silence on the node's links (`proxy::Network::set_silent`):
/// faithful only for servers that persist nothing, since the page cache survives a kill.
fn machine_crash_refusal(s: &Scenario, kind: &FaultKind) -> Option<String> {
    let FaultKind::Crash {
        nodes,
        machine: true,
        ..
    } = kind
    else {
        return None;
    };
    let refused: Vec<&str> = nodes
        .iter()
        .filter_map(|p| match s.servers.get(p.index()) {
            Some(v) if persists_nothing(&v.config) => None,
            Some(v) => Some(v.name.as_str()),
            None => Some("sentinels"),
        })
        .collect();
    (!refused.is_empty()).then(|| {
        format!(
            "a machine crash (power loss) of {} cannot be done for real: the page cache survives a \
             kill (it can for servers that persist nothing: save \"\" and appendonly no)",
            refused.join(", ")
        )
    })
}

/// Why a fault cannot be done with real processes, if it cannot. `nodes` counts servers and
/// sentinels (processes beyond are clients). A machine crash is judged by `refusals`, which
/// knows what the crashed servers persist.
pub fn fault_refusal(kind: &FaultKind, nodes: u32) -> Option<String> {
    let clients_only = |ps: &[crate::sim::ProcessId]| ps.iter().any(|p| p.0 >= nodes);
    match kind {
        FaultKind::Loss { .. } => Some("packet loss cannot be reproduced on loopback".into()),
        FaultKind::Clock { .. } => Some("clocks of real processes cannot be shifted".into()),
        FaultKind::DiskStall { .. } => Some("a disk stall needs a fault-injecting disk".into()),
        FaultKind::DiskError { .. } => Some("a disk error needs a fault-injecting disk".into()),
        FaultKind::SlowDisk { .. } => Some("a slow disk needs a fault-injecting disk".into()),
        FaultKind::AddServer { .. } | FaultKind::RemoveServer { .. } => {
            Some("adding and removing servers is not reproduced on the real backend yet".into())
        }
        FaultKind::Crash { nodes: ps, .. } | FaultKind::Pause { nodes: ps } if clients_only(ps) => {
            Some("only servers and sentinels can be crashed or paused".into())
        }
        FaultKind::Command {
            command: crate::fault::AdminCommand::ReplicaOf(Some(m)),
            ..
        } if m.0 >= nodes => Some(
            "REPLICAOF to an address outside the scenario: the real backend sends nothing \
             beyond the run's own loopback addresses"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_loopback_and_distinct_per_role() {
        let a = Addresses { subnet: 77 };
        assert_eq!(a.node(0), Ipv4Addr::new(127, 77, 0, 1));
        assert_eq!(a.proxy(4), Ipv4Addr::new(127, 77, 1, 5));
        assert_eq!(a.client(0), Ipv4Addr::new(127, 77, 2, 1));
        assert!(a.observer().is_loopback());
    }

    #[test]
    fn knobs_spell_redis_conf() {
        let mut c = ServerConfig::default();
        c.save.clear();
        c.min_replicas_to_write = 1;
        let k = server_knobs(&c);
        let line = |name: &str| k.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(line("save"), "\"\"");
        assert_eq!(line("min-replicas-to-write"), "1");
        assert_eq!(line("repl-backlog-size"), "1048576");
        assert_eq!(
            line("client-output-buffer-limit"),
            "replica 268435456 67108864 60"
        );
    }

    #[test]
    fn a_machine_crash_is_refused_only_for_servers_that_persist() {
        let text = |save: &str| {
            format!(
                "name = \"m\"\nduration = \"10s\"\n[servers.p1]\nsave = {save}\n\
                 [workloads.app]\nclients = 1\ntarget = \"p1\"\n\
                 [[faults]]\nkind = \"machine-crash\"\ntargets = [\"p1\"]\nat = \"2s\"\n"
            )
        };
        let refused = |save: &str| {
            let s = Scenario::parse("m.toml", &text(save), &[]).unwrap();
            refusals(&s, &s.faults)
        };
        assert!(refused("\"\"").is_empty(), "nothing on disk to lose");
        let why = refused("\"60 1\"");
        assert!(
            why.len() == 1 && why[0].contains("(power loss) of p1"),
            "{why:?}"
        );
    }

    #[test]
    fn resharding_runs_and_gets_a_migrate_route() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/cluster-resharding-under-partition.toml"
        ))
        .unwrap();
        let s = Scenario::parse("r.toml", &text, &[]).unwrap();
        assert_eq!(refusals(&s, &s.faults), Vec::<String>::new());
        let index = |n: &str| s.servers.iter().position(|v| v.name == n).unwrap();
        assert_eq!(
            migrate_links(&s.faults).into_iter().collect::<Vec<_>>(),
            [(index("c1p"), index("c2p"))]
        );
    }

    #[test]
    fn resharding_with_a_server_outside_the_cluster_is_refused() {
        let text = "name = \"r\"\nduration = \"10s\"\n[servers.p1]\n\
                    [[faults]]\nkind = \"command\"\ntarget = \"p1\"\n\
                    command = \"CLUSTER SETSLOT 1 NODE p1\"\nat = \"2s\"\n";
        let Ok(s) = Scenario::parse("r.toml", text, &[]) else {
            return; // the scenario reader refuses it already
        };
        let why = refusals(&s, &s.faults);
        assert!(
            why.len() == 1 && why[0].contains("names p1, not a node"),
            "{why:?}"
        );
    }

    #[test]
    fn cluster_knobs_spell_redis_conf() {
        let c = ClusterConfig {
            node_timeout_ms: 5000,
            replica_no_failover: true,
            ..ClusterConfig::default()
        };
        let k = cluster_knobs(&c);
        let line = |name: &str| k.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(line("cluster-node-timeout"), "5000");
        assert_eq!(line("cluster-replica-no-failover"), "yes");
        assert_eq!(line("cluster-replica-validity-factor"), "10");
        assert_eq!(line("cluster-require-full-coverage"), "yes");
        assert_eq!(line("cluster-allow-reads-when-down"), "no");
    }

    #[test]
    fn impossible_faults_are_refused_with_a_reason() {
        use crate::sim::ProcessId;
        let crash = |machine| FaultKind::Crash {
            nodes: vec![ProcessId(0)],
            machine,
            wipe_disk: false,
        };
        assert!(fault_refusal(&crash(false), 3).is_none());
        assert!(
            fault_refusal(&crash(true), 3).is_none(),
            "judged by what the servers persist"
        );
        let pause_client = FaultKind::Pause {
            nodes: vec![ProcessId(5)],
        };
        assert!(fault_refusal(&pause_client, 3).is_some());
        let loss = FaultKind::Loss {
            a: vec![],
            b: vec![],
            ppm: 10,
        };
        assert!(fault_refusal(&loss, 3).is_some());
    }
}

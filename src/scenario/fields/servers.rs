//! Servers: their regions, `replicaof` (no self-replication, no cycles) and redis.conf knobs.

use super::*;
use crate::redis::DebugCommand;

pub(super) fn parse_servers(
    cx: &mut Cx,
    root: &Table,
    regions: &[String],
) -> (Vec<ServerSpec>, usize, ServerConfig) {
    let Some(e) = root.get("servers") else {
        return (Vec::new(), 0, ServerConfig::default());
    };
    let Some(t) = cx.table(e, "servers") else {
        return (Vec::new(), 1, ServerConfig::default());
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
        cx.check_name(e.key_origin, &path, &e.key);
        let mut allowed = vec!["region", "replicaof", "standby"];
        allowed.extend_from_slice(SERVER_KNOBS);
        cx.check_keys(st, &path, &allowed);
        let region = member_region(cx, st, e.key_origin, &path, regions);
        let mut config = defaults.clone();
        knobs(cx, st, &path, &mut config);
        let rof = replicaof(cx, st, &path, &names);
        replicaof_raw.push(rof);
        let standby = match st.get("standby") {
            Some(s) => cx
                .boolean(&s.node, &join(&path, "standby"))
                .unwrap_or(false),
            None => false,
        };
        out.push(ServerSpec {
            name: e.key.clone(),
            region,
            replicaof: None,
            config,
            standby,
        });
    }
    if out.len() != named.len() {
        return (Vec::new(), named.len(), defaults);
    }
    for (i, r) in replicaof_raw.iter().enumerate() {
        out[i].replicaof = r.as_ref().map(|x| x.0);
    }
    check_replication_graph(cx, &out, &replicaof_raw);
    (out, named.len(), defaults)
}

/// The server `replicaof` names, with where it was written.
fn replicaof(
    cx: &mut Cx,
    st: &Table,
    path: &str,
    names: &[&str],
) -> Option<(usize, Origin, String)> {
    let r = st.get("replicaof")?;
    let p = join(path, "replicaof");
    let s = cx.string(&r.node, &p)?;
    if let Some(i) = names.iter().position(|n| *n == s) {
        return Some((i, r.node.origin, p));
    }
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

pub(super) fn check_replication_graph(
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

pub(super) fn knobs(cx: &mut Cx, t: &Table, path: &str, c: &mut ServerConfig) {
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
            "appendfsync" => set(&mut c.appendfsync, fsync_policy(cx, n, &p)),
            "save" => set(&mut c.save, save_rules(cx, n, &p)),
            "client-output-buffer-limit" => {
                set(&mut c.replica_output_buffer, output_limit_knob(cx, n, &p));
            }
            "rdb-save-rate" => set(&mut c.rdb_save_bytes_per_sec, rate_size(cx, n, &p)),
            "rdb-load-rate" => set(&mut c.rdb_load_bytes_per_sec, rate_size(cx, n, &p)),
            "os-writeback-interval" => set(
                &mut c.os_writeback_interval_ms,
                cx.duration(n, &p, 1_000_000).map(|v| v / 1_000_000),
            ),
            "tcp-send-buffer" => set(&mut c.tcp_send_buffer_bytes, cx.size(n, &p)),
            "enable-debug-command" => set(&mut c.enable_debug_command, debug_command(cx, n, &p)),
            // config.c: slowlog-log-slower-than is a LONG_MIN..LONG_MAX knob, slowlog-max-len
            // a 0..LONG_MAX one.
            "slowlog-log-slower-than" => set(
                &mut c.slowlog_log_slower_than_us,
                cx.int(n, &p, i64::MIN, i64::MAX),
            ),
            "slowlog-max-len" => set(
                &mut c.slowlog_max_len,
                cx.int(n, &p, 0, i64::MAX).map(|v| v as u64),
            ),
            "shutdown-timeout" => set(
                &mut c.shutdown_timeout_secs,
                cx.duration(n, &p, SEC).map(|v| v / SEC),
            ),
            "stop-writes-on-bgsave-error" => {
                set(&mut c.stop_writes_on_bgsave_error, cx.boolean(n, &p));
            }
            "replica-ignore-disk-write-errors" => {
                set(&mut c.replica_ignore_disk_write_errors, cx.boolean(n, &p));
            }
            "disk-fsync-latency" => {
                set(&mut c.disk_fsync_latency_ns, cx.duration(n, &p, 1_000_000));
            }
            _ => {}
        }
    }
}

fn debug_command(cx: &mut Cx, n: &Node, p: &str) -> Option<DebugCommand> {
    match cx.string(n, p)? {
        "no" => Some(DebugCommand::No),
        "local" => Some(DebugCommand::Local),
        "yes" => Some(DebugCommand::Yes),
        other => {
            cx.err(
                n.origin,
                p,
                format!("unknown value \"{other}\""),
                Some("use no, local or yes".into()),
            );
            None
        }
    }
}

fn fsync_policy(cx: &mut Cx, n: &Node, p: &str) -> Option<Fsync> {
    match cx.string(n, p)? {
        "always" => Some(Fsync::Always),
        "everysec" => Some(Fsync::Everysec),
        "no" => Some(Fsync::No),
        other => {
            cx.err(
                n.origin,
                p,
                format!("unknown policy \"{other}\""),
                Some("use always, everysec or no".into()),
            );
            None
        }
    }
}

fn output_limit_knob(cx: &mut Cx, n: &Node, p: &str) -> Option<crate::redis::OutputBufferLimit> {
    let s = cx.string(n, p)?;
    output_limit(s)
        .map_err(|m| {
            let hint = "write \"replica <hard> <soft> <seconds>\", e.g. \"replica 256mb 64mb 60\"";
            cx.err(n.origin, p, m, Some(hint.into()));
        })
        .ok()
}

pub(super) fn positive_secs(cx: &mut Cx, n: &Node, p: &str) -> Option<u64> {
    let v = cx.duration(n, p, 1_000_000_000)? / 1_000_000_000;
    if v == 0 {
        cx.err(n.origin, p, "must be at least one second".into(), None);
        return None;
    }
    Some(v)
}

pub(super) fn rate_size(cx: &mut Cx, n: &Node, p: &str) -> Option<u64> {
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

pub(super) fn save_rules(cx: &mut Cx, n: &Node, p: &str) -> Option<Vec<(u64, u64)>> {
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

pub(super) fn output_limit(s: &str) -> Result<crate::redis::OutputBufferLimit, String> {
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

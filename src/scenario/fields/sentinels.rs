//! Sentinels: regions, `sentinel monitor` (one or several primaries) and sentinel.conf knobs.

use super::*;

pub(super) const SENTINEL_KNOBS: &[&str] = &[
    "monitor",
    "name",
    "quorum",
    "down-after-milliseconds",
    "failover-timeout",
    "parallel-syncs",
    "master-reboot-down-after-period",
];

pub(super) fn sentinel_knobs(
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
                        Some(i) if servers[i].replicaof.is_some() => {
                            monitors_replica(cx, item.origin, &p, servers, i);
                        }
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
            "name" => {
                let name = cx.string(n, &p).map(str::to_string);
                if let Some(v) = &name {
                    cx.check_name(n.origin, &p, v);
                }
                set(&mut c.name, name);
            }
            "quorum" => {
                set(&mut c.quorum, cx.int(n, &p, 1, 1000).map(|v| v as u32));
                c.quorum_at = Some((n.origin, p.clone()));
            }
            "down-after-milliseconds" => set(&mut c.down_after_ns, cx.duration(n, &p, 1_000_000)),
            "failover-timeout" => set(&mut c.failover_timeout_ns, cx.duration(n, &p, 1_000_000)),
            "master-reboot-down-after-period" => set(
                &mut c.master_reboot_down_after_ns,
                cx.duration(n, &p, 1_000_000),
            ),
            "parallel-syncs" => set(
                &mut c.parallel_syncs,
                cx.int(n, &p, 1, 1000).map(|v| v as u32),
            ),
            _ => {}
        }
    }
}

#[derive(Clone)]
pub(super) struct SentinelDraft {
    masters: Vec<usize>,
    many: bool,
    name: String,
    quorum: u32,
    down_after_ns: u64,
    failover_timeout_ns: u64,
    parallel_syncs: u32,
    /// Where `quorum` was set, if it was.
    quorum_at: Option<(Origin, String)>,
    master_reboot_down_after_ns: u64,
}

pub(super) fn parse_sentinels(
    cx: &mut Cx,
    root: &Table,
    regions: &[String],
    servers: &[ServerSpec],
    bugs: crate::bugs::Bugs,
) -> Vec<crate::scenario::SentinelSpec> {
    let Some(e) = root.get("sentinels") else {
        return Vec::new();
    };
    let Some(t) = cx.table(e, "sentinels") else {
        return Vec::new();
    };
    let defaults = sentinel_defaults(cx, t, servers);
    let mut drafts = Vec::new();
    let mut out = Vec::new();
    for e in t.entries.iter().filter(|e| e.key != "defaults") {
        let path = format!("sentinels.{}", e.key);
        let Some(st) = cx.table(e, &path) else {
            continue;
        };
        let mut allowed = vec!["region"];
        allowed.extend_from_slice(SENTINEL_KNOBS);
        cx.check_keys(st, &path, &allowed);
        if !cx.check_name(e.key_origin, &path, &e.key) {
            continue;
        }
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
        let monitors = monitors(&d, servers, bugs);
        drafts.push(d);
        out.push(crate::scenario::SentinelSpec {
            name: e.key.clone(),
            region,
            monitors,
        });
    }
    quorum_warnings(cx, &drafts, servers);
    out
}

/// `[sentinels.defaults]` over Sentinel's own defaults.
fn sentinel_defaults(cx: &mut Cx, t: &Table, servers: &[ServerSpec]) -> SentinelDraft {
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
        quorum_at: None,
        master_reboot_down_after_ns: 0,
    };
    if let Some(d) = t.get("defaults")
        && let Some(dt) = cx.table(d, "sentinels.defaults")
    {
        cx.check_keys(dt, "sentinels.defaults", SENTINEL_KNOBS);
        sentinel_knobs(cx, dt, "sentinels.defaults", &mut defaults, servers);
    }
    defaults
}

/// One `sentinel monitor` per watched primary.
fn monitors(
    d: &SentinelDraft,
    servers: &[ServerSpec],
    bugs: crate::bugs::Bugs,
) -> Vec<crate::sentinel::SentinelConfig> {
    d.masters
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
            master_reboot_down_after_ns: d.master_reboot_down_after_ns,
            promote_lowest_offset: bugs.promote_lowest_offset,
        })
        .collect()
}

fn monitors_replica(cx: &mut Cx, origin: Origin, p: &str, servers: &[ServerSpec], i: usize) {
    let primary = servers[i]
        .replicaof
        .map_or("", |m| servers[m].name.as_str());
    cx.err(
        origin,
        p,
        format!(
            "\"{}\" is a replica (of \"{primary}\"): Sentinel monitors primaries and finds \
             their replicas through INFO",
            servers[i].name
        ),
        Some(format!("monitor its primary: monitor = \"{primary}\"")),
    );
}

/// A quorum larger than the number of sentinels watching a primary is legal, but that primary
/// can never be marked objectively down: `sentinelCheckObjectivelyDown` counts the sentinels
/// that agree it is down (itself included) and needs at least `quorum` of them, so Sentinel
/// never fails it over (sentinel.c: sentinelCheckObjectivelyDown).
fn quorum_warnings(cx: &mut Cx, drafts: &[SentinelDraft], servers: &[ServerSpec]) {
    let mut warned: Vec<(String, usize)> = Vec::new();
    for d in drafts {
        for &m in &d.masters {
            let watchers = drafts.iter().filter(|x| x.masters.contains(&m)).count();
            let (origin, field) = d
                .quorum_at
                .clone()
                .unwrap_or((Origin::Whole, "sentinels.defaults.quorum".into()));
            if (d.quorum as usize) <= watchers || warned.contains(&(field.clone(), m)) {
                continue;
            }
            warned.push((field.clone(), m));
            let name = &servers[m].name;
            cx.warn(
                origin,
                &field,
                format!(
                    "quorum {} but only {watchers} sentinel(s) monitor \"{name}\": it can never \
                     be marked objectively down (+odown), so Sentinel never fails it over",
                    d.quorum
                ),
                Some(format!(
                    "lower `quorum` to at most {watchers}, or add sentinels"
                )),
            );
        }
    }
}

//! One parser per `[[faults]]` kind: the kind's name is looked up once, and the enum then
//! selects the keys it accepts and the function that reads them.

use super::*;
use crate::fault::DiskError;
use crate::fault::ShutdownSave;
use crate::redis::Command;

/// A fault kind as written in a scenario file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Partition,
    Bridge,
    OneWayPartition,
    Isolate,
    RegionOutage,
    Crash,
    MachineCrash,
    Pause,
    Loss,
    Latency,
    Clock,
    DiskStall,
    DiskError,
    SlowDisk,
    Failover,
    Command,
    Reshard,
    AddServer,
    RemoveServer,
}

/// Every kind with its name, in the order the documentation lists them.
pub(super) const KINDS: &[(&str, Kind)] = &[
    ("partition", Kind::Partition),
    ("one-way-partition", Kind::OneWayPartition),
    ("isolate", Kind::Isolate),
    ("bridge", Kind::Bridge),
    ("region-outage", Kind::RegionOutage),
    ("crash", Kind::Crash),
    ("machine-crash", Kind::MachineCrash),
    ("pause", Kind::Pause),
    ("loss", Kind::Loss),
    ("latency", Kind::Latency),
    ("clock", Kind::Clock),
    ("disk-stall", Kind::DiskStall),
    ("disk-error", Kind::DiskError),
    ("slow-disk", Kind::SlowDisk),
    ("failover", Kind::Failover),
    ("command", Kind::Command),
    ("reshard", Kind::Reshard),
    ("add-server", Kind::AddServer),
    ("remove-server", Kind::RemoveServer),
];

/// What a kind's parser works on: the fault's table and where it is.
pub(super) struct FaultInput<'a> {
    pub(super) t: &'a Table,
    pub(super) origin: Origin,
    pub(super) path: &'a str,
    pub(super) names: &'a Names,
    pub(super) kind: &'a str,
}

/// What a kind's parser yields: the fault and the target names the user gave.
pub(super) type Parsed = (FaultKind, Vec<String>);

impl FaultInput<'_> {
    /// The value of a key the kind requires, or an error naming it.
    fn need(&self, cx: &mut Cx, key: &str) -> Option<&Node> {
        let n = self.t.get(key).map(|e| &e.node);
        if n.is_none() {
            cx.err(
                self.origin,
                &join(self.path, key),
                format!("a {} fault needs `{key}`", self.kind),
                None,
            );
        }
        n
    }

    /// Every process not in `a`: the other side of a cut; an error when there is none.
    fn others(&self, cx: &mut Cx, a: &[ProcessId], key: &str) -> Option<Vec<ProcessId>> {
        let everyone = self.names.resolve("all").unwrap_or_default();
        let rest: Vec<ProcessId> = everyone.into_iter().filter(|x| !a.contains(x)).collect();
        if rest.is_empty() {
            let origin = self.t.get(key).map_or(self.origin, |e| e.node.origin);
            cx.err(
                origin,
                &join(self.path, key),
                "names every process, so there is no one to cut it off from".into(),
                Some("name only some servers, sentinels, workloads or regions".into()),
            );
            return None;
        }
        Some(rest)
    }

    /// The processes named by the required key `key`.
    fn targets(&self, cx: &mut Cx, key: &str) -> Option<(Vec<ProcessId>, Vec<String>)> {
        let n = self.need(cx, key)?;
        target_list(cx, n, &join(self.path, key), self.names)
    }
}

impl Kind {
    /// The kind named `name`.
    pub(super) fn named(name: &str) -> Option<Kind> {
        KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The keys the kind accepts besides `kind`, `at`, `heal` and `for`.
    pub(super) fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Partition | Kind::Bridge => &["between", "middle"],
            Kind::OneWayPartition => &["from", "to"],
            Kind::Isolate | Kind::Pause => &["targets"],
            Kind::RegionOutage => &["region"],
            Kind::Crash | Kind::MachineCrash => &["targets", "wipe_disk"],
            Kind::Loss => &["between", "targets", "rate"],
            Kind::Latency => &["between", "targets", "extra"],
            Kind::Clock => &["targets", "jump", "drift_ppm"],
            Kind::DiskStall => &["targets"],
            Kind::DiskError => &["targets", "error"],
            Kind::SlowDisk => &["targets", "fsync"],
            Kind::Failover => &["target"],
            Kind::Command => &["target", "command"],
            Kind::Reshard => &["from", "to", "slots", "batch", "interval", "timeout"],
            Kind::AddServer => &["target", "replicaof"],
            Kind::RemoveServer => &["target"],
        }
    }

    /// Reads the kind's own keys.
    pub(super) fn parse(self, cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
        match self {
            Kind::Partition => partition(cx, f),
            Kind::Bridge => bridge(cx, f),
            Kind::OneWayPartition => one_way(cx, f),
            Kind::Isolate => isolate(cx, f),
            Kind::RegionOutage => region_outage(cx, f),
            Kind::Crash | Kind::MachineCrash => crash(cx, f, self == Kind::MachineCrash),
            Kind::Pause => pause(cx, f),
            Kind::DiskStall => disk_stall(cx, f),
            Kind::DiskError => disk_error(cx, f),
            Kind::SlowDisk => slow_disk(cx, f),
            Kind::Clock => clock(cx, f),
            Kind::Loss => loss(cx, f),
            Kind::Latency => latency(cx, f),
            Kind::Failover => failover(cx, f),
            Kind::Command => command(cx, f),
            Kind::Reshard => reshard(cx, f),
            Kind::AddServer => add_server(cx, f),
            Kind::RemoveServer => remove_server(cx, f),
        }
    }
}

fn cut(a: Vec<ProcessId>, b: Vec<ProcessId>, one_way: bool) -> FaultKind {
    FaultKind::Partition { a, b, one_way }
}

fn partition(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let n = f.need(cx, "between")?;
    let (a, b, labels) = two_groups(cx, n, &join(f.path, "between"), f.names)?;
    Some((cut(a, b, false), labels))
}

fn bridge(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let n = f.need(cx, "between")?;
    let (a, b, labels) = two_groups(cx, n, &join(f.path, "between"), f.names)?;
    let (mid, _) = f.targets(cx, "middle")?;
    if mid.iter().any(|m| a.contains(m) || b.contains(m)) {
        cx.err(
            f.origin,
            &join(f.path, "middle"),
            "the middle must belong to neither side".into(),
            None,
        );
        return None;
    }
    Some((cut(a, b, false), labels))
}

fn one_way(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (a, mut labels) = f.targets(cx, "from")?;
    let (b, to_labels) = f.targets(cx, "to")?;
    let to = f.need(cx, "to")?;
    if !disjoint(cx, to, &join(f.path, "to"), &a, &b, f.names) {
        return None;
    }
    labels.push("->".into());
    labels.extend(to_labels);
    Some((cut(a, b, true), labels))
}

fn isolate(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (a, labels) = f.targets(cx, "targets")?;
    let b = f.others(cx, &a, "targets")?;
    Some((cut(a, b, false), labels))
}

fn region_outage(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let n = f.need(cx, "region")?;
    let (a, labels) = target_list(cx, n, &join(f.path, "region"), f.names)?;
    if !labels.iter().all(|l| f.names.regions.contains(l)) {
        cx.err(
            n.origin,
            &join(f.path, "region"),
            "name a region".into(),
            Some(format!("known regions: {}", f.names.regions.join(", "))),
        );
        return None;
    }
    let b = f.others(cx, &a, "region")?;
    Some((cut(a, b, false), labels))
}

/// Targets that must all be servers or sentinels (processes with a disk and a config).
fn daemons(cx: &mut Cx, f: &FaultInput) -> Option<(Vec<ProcessId>, Vec<String>)> {
    let (nodes, labels) = f.targets(cx, "targets")?;
    let daemons = f.names.servers.len() + f.names.sentinels.len();
    if nodes.iter().any(|n| n.index() >= daemons) {
        cx.err(
            f.origin,
            &join(f.path, "targets"),
            format!("only servers can take a {} fault", f.kind),
            None,
        );
        return None;
    }
    Some((nodes, labels))
}

fn crash(cx: &mut Cx, f: &FaultInput, machine: bool) -> Option<Parsed> {
    let (nodes, labels) = daemons(cx, f)?;
    let wipe_disk = f.t.get("wipe_disk").map_or(Some(false), |e| {
        cx.boolean(&e.node, &join(f.path, "wipe_disk"))
    })?;
    let fk = FaultKind::Crash {
        nodes,
        machine,
        wipe_disk,
    };
    Some((fk, labels))
}

fn pause(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (nodes, labels) = f.targets(cx, "targets")?;
    Some((FaultKind::Pause { nodes }, labels))
}

fn disk_stall(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (nodes, labels) = daemons(cx, f)?;
    Some((FaultKind::DiskStall { nodes }, labels))
}

/// The targets of a fault only a server can take.
fn servers(cx: &mut Cx, f: &FaultInput) -> Option<(Vec<ProcessId>, Vec<String>)> {
    let (nodes, labels) = f.targets(cx, "targets")?;
    if nodes.iter().any(|n| n.index() >= f.names.servers.len()) {
        cx.err(
            f.origin,
            &join(f.path, "targets"),
            format!("only servers can take a {} fault", f.kind),
            Some("name servers (sentinels keep no AOF or RDB)".into()),
        );
        return None;
    }
    Some((nodes, labels))
}

fn disk_error(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (nodes, labels) = servers(cx, f)?;
    let error = match f.t.get("error") {
        None => DiskError::Full,
        Some(e) => {
            let p = join(f.path, "error");
            match cx.string(&e.node, &p)? {
                "full" => DiskError::Full,
                "io" => DiskError::Io,
                other => {
                    let msg = format!("unknown disk error `{other}`");
                    let hint = "\"full\" (ENOSPC, the default) or \"io\" (EIO)";
                    cx.err(e.node.origin, &p, msg, Some(hint.into()));
                    return None;
                }
            }
        }
    };
    Some((FaultKind::DiskError { nodes, error }, labels))
}

fn slow_disk(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (nodes, labels) = servers(cx, f)?;
    let n = f.need(cx, "fsync")?;
    let fsync_ns = cx.duration(n, &join(f.path, "fsync"), 1_000_000)?;
    Some((FaultKind::SlowDisk { nodes, fsync_ns }, labels))
}

fn clock(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (nodes, labels) = f.targets(cx, "targets")?;
    let jump_ns = match f.t.get("jump") {
        None => 0,
        Some(e) => signed_duration(cx, &e.node, &join(f.path, "jump"))?,
    };
    let drift_ppm = f.t.get("drift_ppm").map_or(Some(0), |e| {
        cx.int(&e.node, &join(f.path, "drift_ppm"), -500_000, 500_000)
    })?;
    let fk = FaultKind::Clock {
        nodes,
        jump_ns,
        drift_ppm,
    };
    Some((fk, labels))
}

/// The two sides of a loss or latency fault: `between`, or `targets` and everyone else.
fn link_sides(cx: &mut Cx, f: &FaultInput) -> Option<Groups> {
    match (f.t.get("between"), f.t.get("targets")) {
        (Some(e), _) => two_groups(cx, &e.node, &join(f.path, "between"), f.names),
        (None, Some(e)) => {
            let (a, l) = target_list(cx, &e.node, &join(f.path, "targets"), f.names)?;
            let b = f.others(cx, &a, "targets")?;
            Some((a, b, l))
        }
        (None, None) => {
            cx.err(
                f.origin,
                f.path,
                format!("a {} fault needs `between` or `targets`", f.kind),
                None,
            );
            None
        }
    }
}

fn loss(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (a, b, labels) = link_sides(cx, f)?;
    let n = f.need(cx, "rate")?;
    let ppm = cx.with_str(n, &join(f.path, "rate"), parse_percent, "write e.g. \"5%\"")?;
    Some((FaultKind::Loss { a, b, ppm }, labels))
}

fn latency(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (a, b, labels) = link_sides(cx, f)?;
    let n = f.need(cx, "extra")?;
    let extra_ns = cx.duration(n, &join(f.path, "extra"), 1_000_000)?;
    Some((FaultKind::Latency { a, b, extra_ns }, labels))
}

fn add_server(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (node, label) = one_server(cx, f, "target")?;
    let primary = match f.t.get("replicaof") {
        Some(_) => Some(one_server(cx, f, "replicaof")?.0),
        None => None,
    };
    if primary == Some(node) {
        let p = join(f.path, "replicaof");
        cx.err(
            f.origin,
            &p,
            "a server cannot replicate itself".into(),
            None,
        );
        return None;
    }
    Some((FaultKind::AddServer { node, primary }, vec![label]))
}

fn remove_server(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (node, label) = one_server(cx, f, "target")?;
    Some((FaultKind::RemoveServer { node }, vec![label]))
}

fn failover(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let n = f.need(cx, "target")?;
    let p = join(f.path, "target");
    let (t, labels) = target_list(cx, n, &p, f.names)?;
    let [target] = t[..] else {
        let msg = "name exactly one server to promote";
        cx.err(n.origin, &p, msg.into(), None);
        return None;
    };
    if target.index() >= f.names.servers.len() {
        cx.err(n.origin, &p, "only a server can be promoted".into(), None);
        return None;
    }
    let others = (0..f.names.servers.len() as u32)
        .map(ProcessId)
        .filter(|x| *x != target)
        .collect();
    Some((FaultKind::Failover { target, others }, labels))
}

/// One server named by the required key `key`.
fn one_server(cx: &mut Cx, f: &FaultInput, key: &str) -> Option<(ProcessId, String)> {
    let n = f.need(cx, key)?;
    let p = join(f.path, key);
    let (t, labels) = target_list(cx, n, &p, f.names)?;
    match t[..] {
        [s] if s.index() < f.names.servers.len() => Some((s, labels[0].clone())),
        _ => {
            cx.err(n.origin, &p, "name exactly one server".into(), None);
            None
        }
    }
}

/// `redis-cli --cluster reshard`: `from`, `to`, `slots` (a slot or `[first, last]`), and
/// optionally `batch` (keys per MIGRATE), `interval` (between steps) and `timeout` (MIGRATE's).
fn reshard(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let (from, from_name) = one_server(cx, f, "from")?;
    let (to, to_name) = one_server(cx, f, "to")?;
    if from == to {
        let n = f.need(cx, "to")?;
        cx.err(
            n.origin,
            &join(f.path, "to"),
            "slots move between two different servers".into(),
            None,
        );
        return None;
    }
    let n = f.need(cx, "slots")?;
    let sp = join(f.path, "slots");
    let max = i64::from(crate::cluster::slot::CLUSTER_SLOTS) - 1;
    let (first, last) = match &n.val {
        Val::Array(items) if items.len() == 2 => (
            cx.int(&items[0], &format!("{sp}[0]"), 0, max)?,
            cx.int(&items[1], &format!("{sp}[1]"), 0, max)?,
        ),
        Val::Int(_) => {
            let s = cx.int(n, &sp, 0, max)?;
            (s, s)
        }
        _ => {
            let hint = "a slot, or the first and last: slots = [0, 99]";
            cx.err(
                n.origin,
                &sp,
                "expected a slot or [first, last]".into(),
                Some(hint.into()),
            );
            return None;
        }
    };
    if first > last {
        cx.err(n.origin, &sp, format!("{first} comes after {last}"), None);
        return None;
    }
    let batch = match f.t.get("batch") {
        Some(e) => cx.int(&e.node, &join(f.path, "batch"), 1, 10_000)? as u32,
        None => 10,
    };
    let interval_ns = match f.t.get("interval") {
        Some(e) => cx
            .duration(&e.node, &join(f.path, "interval"), 1_000_000)?
            .max(1_000_000),
        None => 1_000_000,
    };
    let timeout_ms = match f.t.get("timeout") {
        Some(e) => (cx.duration(&e.node, &join(f.path, "timeout"), 1_000_000)? / 1_000_000).max(1),
        None => 60_000,
    };
    let fk = FaultKind::Reshard {
        from,
        to,
        first: first as u16,
        last: last as u16,
        batch,
        interval_ns,
        timeout_ms,
    };
    Some((fk, vec![from_name, "->".into(), to_name]))
}

/// The commands an operator can send, as the error's hint lists them.
const COMMANDS: &str = "REPLICAOF <server>, REPLICAOF NO ONE, CLIENT KILL TYPE replica, \
                        CONFIG SET repl-backlog-size <size>, INFO replication, \
                        CLIENT PAUSE <ms> [WRITE|ALL], SET/GET/INCR/DEL/APPEND/SADD/SMEMBERS \
                        <key> [value], WAIT <replicas> <ms>, WAITAOF <local> <replicas> <ms>, \
                        SAVE, BGSAVE, \
                        SHUTDOWN [NOSAVE|SAVE], DEBUG SLEEP <seconds>, \
                        FAILOVER [TO <server> [FORCE]] [TIMEOUT <ms>], FAILOVER ABORT, \
                        CLUSTER FAILOVER [FORCE|TAKEOVER], \
                        CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|NODE <server>, \
                        CLUSTER SETSLOT <slot> STABLE";

/// Whether `key` is one a workload writes (`<key_prefix><family><n>`): the checkers judge the
/// workloads' keys from their histories, which hold no console command.
fn workload_key(key: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        key.strip_prefix(p.as_str()).is_some_and(|rest| {
            let mut chars = rest.chars();
            matches!(chars.next(), Some('k' | 'c' | 'l' | 's'))
                && !chars.as_str().is_empty()
                && chars.all(|c| c.is_ascii_digit())
        })
    })
}

/// `FAILOVER [TO <server> [FORCE]] [TIMEOUT <ms>]` or `FAILOVER ABORT`; the error says what
/// is wrong.
fn failover_command(words: &[&str], servers: &[(String, usize)]) -> Result<AdminCommand, String> {
    let mut to = None;
    let mut force = false;
    let mut timeout_ms = 0;
    let mut i = 1;
    if words.len() == 2 && words[1].eq_ignore_ascii_case("ABORT") {
        return Ok(AdminCommand::FailoverAbort);
    }
    while i < words.len() {
        let w = words[i].to_ascii_uppercase();
        match w.as_str() {
            "TO" if to.is_none() && i + 1 < words.len() => {
                let name = words[i + 1];
                let Some(p) = servers.iter().position(|(s, _)| s == name) else {
                    return Err(format!("unknown server \"{name}\""));
                };
                to = Some(ProcessId(p as u32));
                i += 2;
            }
            "TIMEOUT" if timeout_ms == 0 && i + 1 < words.len() => {
                timeout_ms = match words[i + 1].parse::<u64>() {
                    Ok(ms) if ms > 0 => ms,
                    _ => return Err("FAILOVER timeout must be greater than 0".into()),
                };
                i += 2;
            }
            "FORCE" if !force => {
                force = true;
                i += 1;
            }
            _ => return Err(format!("syntax error at \"{}\"", words[i])),
        }
    }
    Ok(AdminCommand::Failover {
        to,
        force,
        timeout_ms,
    })
}

fn command(cx: &mut Cx, f: &FaultInput) -> Option<Parsed> {
    let n = f.need(cx, "target")?;
    let p = join(f.path, "target");
    let (t, labels) = target_list(cx, n, &p, f.names)?;
    let [node] = t[..] else {
        cx.err(n.origin, &p, "name exactly one server".into(), None);
        return None;
    };
    let servers = f.names.servers.len();
    let is_sentinel = (servers..servers + f.names.sentinels.len()).contains(&node.index());
    if node.index() >= servers && !is_sentinel {
        cx.err(
            n.origin,
            &p,
            "commands go to a server or a sentinel".into(),
            None,
        );
        return None;
    }
    let c = f.need(cx, "command")?;
    let cp = join(f.path, "command");
    let text = cx.string(c, &cp)?.to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    // A sentinel's console takes SENTINEL FAILOVER <master-name>; a server's, the rest.
    match (upper.as_slice(), is_sentinel) {
        (["SENTINEL", sub @ ("FAILOVER" | "RESET"), _], true) => {
            let arg = words[2].to_string();
            let command = if *sub == "FAILOVER" {
                AdminCommand::SentinelFailover(arg)
            } else {
                AdminCommand::SentinelReset(arg)
            };
            return Some((
                FaultKind::Command {
                    node,
                    command,
                    text,
                },
                labels,
            ));
        }
        (["SENTINEL", ..], false) => {
            let msg = "SENTINEL commands go to a sentinel";
            cx.err(
                n.origin,
                &p,
                msg.into(),
                Some("name a sentinel as `target`".into()),
            );
            return None;
        }
        (_, true) => {
            let hint =
                "a sentinel takes SENTINEL FAILOVER <master-name> or SENTINEL RESET <pattern>";
            let msg = format!("unknown sentinel command \"{text}\"");
            cx.err(c.origin, &cp, msg, Some(hint.into()));
            return None;
        }
        _ => {}
    }
    let command = match upper[..] {
        ["REPLICAOF" | "SLAVEOF", "NO", "ONE"] => Some(AdminCommand::ReplicaOf(None)),
        // A host and port: an address no server of the scenario has (nothing is ever sent to
        // it; every connection attempt fails).
        ["REPLICAOF" | "SLAVEOF", _, port] if port.parse::<u16>().is_ok() => {
            Some(AdminCommand::ReplicaOf(Some(crate::server::NOWHERE)))
        }
        ["REPLICAOF" | "SLAVEOF", _] => {
            let name = words[1];
            match f.names.servers.iter().position(|(s, _)| s == name) {
                Some(i) if i == node.index() => {
                    let msg = "a server cannot replicate from itself";
                    cx.err(c.origin, &cp, msg.into(), None);
                    return None;
                }
                Some(i) => Some(AdminCommand::ReplicaOf(Some(ProcessId(i as u32)))),
                None => {
                    let known: Vec<&str> =
                        f.names.servers.iter().map(|(s, _)| s.as_str()).collect();
                    let hint = format!("known servers: {}", known.join(", "));
                    cx.err(
                        c.origin,
                        &cp,
                        format!("unknown server \"{name}\""),
                        Some(hint),
                    );
                    return None;
                }
            }
        }
        ["CLIENT", "KILL", "TYPE", "REPLICA" | "SLAVE"] => Some(AdminCommand::KillReplicas),
        ["CLUSTER", "SETSLOT", _, ..] => {
            return setslot(cx, c, &cp, &words, &upper, f, node, text.clone(), labels);
        }
        ["CLUSTER", "FAILOVER"] => Some(AdminCommand::ClusterFailover {
            force: false,
            takeover: false,
        }),
        ["CLUSTER", "FAILOVER", "FORCE"] => Some(AdminCommand::ClusterFailover {
            force: true,
            takeover: false,
        }),
        ["CLUSTER", "FAILOVER", "TAKEOVER"] => Some(AdminCommand::ClusterFailover {
            force: true,
            takeover: true,
        }),
        ["INFO", "REPLICATION"] => Some(AdminCommand::InfoReplication),
        ["CLIENT", "PAUSE", _] | ["CLIENT", "PAUSE", _, "WRITE" | "ALL"] => {
            let Some(ms) = words[2].parse::<u64>().ok().filter(|ms| *ms <= 3_600_000) else {
                let hint = "CLIENT PAUSE takes milliseconds, e.g. CLIENT PAUSE 2000 WRITE";
                let msg = format!("\"{}\" is not a timeout in milliseconds", words[2]);
                cx.err(c.origin, &cp, msg, Some(hint.into()));
                return None;
            };
            let writes_only = upper.get(3) == Some(&"WRITE");
            Some(AdminCommand::Pause {
                ns: ms * 1_000_000,
                writes_only,
            })
        }
        ["BGSAVE"] => Some(AdminCommand::Bgsave),
        ["SAVE"] => Some(AdminCommand::Save),
        ["SHUTDOWN"] => Some(AdminCommand::Shutdown(ShutdownSave::Default)),
        ["SHUTDOWN", "NOSAVE"] => Some(AdminCommand::Shutdown(ShutdownSave::NoSave)),
        ["SHUTDOWN", "SAVE"] => Some(AdminCommand::Shutdown(ShutdownSave::Save)),
        ["DEBUG", "SLEEP", _] => match words[2].parse::<f64>() {
            // debug.c: DEBUG SLEEP takes seconds as a decimal.
            Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => {
                Some(AdminCommand::DebugSleep {
                    ns: (s * 1e9).round() as u64,
                })
            }
            _ => {
                let hint = "DEBUG SLEEP takes seconds, e.g. DEBUG SLEEP 1.5 (at most 3600)";
                let msg = format!("\"{}\" is not a number of seconds", words[2]);
                cx.err(c.origin, &cp, msg, Some(hint.into()));
                return None;
            }
        },
        ["FAILOVER", ..] => match failover_command(&words, &f.names.servers) {
            Ok(AdminCommand::Failover { to: Some(t), .. }) if t == node => {
                let msg = "FAILOVER TO names the server it is sent to";
                let hint = "send FAILOVER to the primary and name one of its replicas";
                cx.err(c.origin, &cp, msg.into(), Some(hint.into()));
                return None;
            }
            Ok(cmd) => Some(cmd),
            Err(e) => {
                let hint = "FAILOVER [TO <server> [FORCE]] [TIMEOUT <ms>], or FAILOVER ABORT";
                cx.err(c.origin, &cp, e, Some(hint.into()));
                return None;
            }
        },
        [
            "SET" | "GET" | "INCR" | "DEL" | "APPEND" | "SADD" | "SMEMBERS" | "WAIT" | "WAITAOF",
            ..,
        ] => match Command::from_words(&words) {
            Ok(cmd) => {
                if let Some(key) = cmd.key().filter(|k| workload_key(k, &f.names.key_prefixes)) {
                    let msg = format!("\"{key}\" is a key a workload writes");
                    let hint = "the checkers judge those keys from the workloads' \
                                    histories; use a key of the console's own, e.g. \"console:x\"";
                    cx.err(c.origin, &cp, msg, Some(hint.into()));
                    return None;
                }
                Some(AdminCommand::Data(
                    words.iter().map(|w| w.to_string()).collect(),
                ))
            }
            Err(e) => {
                let hint = format!("one of: {COMMANDS}");
                cx.err(c.origin, &cp, e, Some(hint));
                return None;
            }
        },
        ["CONFIG", "SET", "REPL-BACKLOG-SIZE", _] => match parse_size(words[3]) {
            Ok(b) => Some(AdminCommand::SetBacklogSize(b)),
            Err(e) => {
                let hint = "write a size such as 100, 16kb or 1mb";
                cx.err(c.origin, &cp, e, Some(hint.into()));
                return None;
            }
        },
        _ => None,
    };
    let Some(command) = command else {
        let hint = format!("one of: {COMMANDS}");
        cx.err(
            c.origin,
            &cp,
            format!("unknown command \"{text}\""),
            Some(hint),
        );
        return None;
    };
    Some((
        FaultKind::Command {
            node,
            command,
            text,
        },
        labels,
    ))
}

/// `CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|NODE <server>` or `STABLE`.
#[allow(clippy::too_many_arguments)]
fn setslot(
    cx: &mut Cx,
    c: &Node,
    cp: &str,
    words: &[&str],
    upper: &[&str],
    f: &FaultInput,
    node: ProcessId,
    text: String,
    labels: Vec<String>,
) -> Option<Parsed> {
    let max = crate::cluster::slot::CLUSTER_SLOTS;
    let Some(slot) = words[2].parse::<u16>().ok().filter(|s| *s < max) else {
        let msg = format!("\"{}\" is not a slot (0 to {})", words[2], max - 1);
        cx.err(c.origin, cp, msg, None);
        return None;
    };
    let server = |cx: &mut Cx, name: &str| -> Option<ProcessId> {
        match f.names.servers.iter().position(|(s, _)| s == name) {
            Some(i) => Some(ProcessId(i as u32)),
            None => {
                cx.err(c.origin, cp, format!("unknown server \"{name}\""), None);
                None
            }
        }
    };
    let action = match upper[3..] {
        ["MIGRATING", _] => SlotAction::Migrating(server(cx, words[4])?),
        ["IMPORTING", _] => SlotAction::Importing(server(cx, words[4])?),
        ["NODE", _] => SlotAction::Node(server(cx, words[4])?),
        ["STABLE"] => SlotAction::Stable,
        _ => {
            let hint = "CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|NODE <server>, or STABLE";
            cx.err(
                c.origin,
                cp,
                format!("unknown command \"{text}\""),
                Some(hint.into()),
            );
            return None;
        }
    };
    let command = AdminCommand::SetSlot { slot, action };
    Some((
        FaultKind::Command {
            node,
            command,
            text,
        },
        labels,
    ))
}

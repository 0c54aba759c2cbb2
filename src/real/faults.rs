//! The fault schedule of a real run on the wall clock: pauses are SIGSTOP/SIGCONT, crashes are
//! SIGKILL and a restart from the node's directory, partitions and latency are rules of the link
//! proxies, and an operator's failover is `REPLICAOF` sent by the observer. Faults nest as in the
//! simulator (world/faults.rs): a link stays cut, and a node paused or down, while any fault that
//! holds it is active.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::fact::{Fact, FaultRef};
use crate::fault::{AdminCommand, FaultKind, FaultRecord, FaultSpec, directed_links};
use crate::sim::ProcessId;

use super::directory::Directory;
use super::proxy::{LinkRule, Network};
use super::reshard::{self, Noted};
use super::resp::Reply;
use super::supervisor::{RealError, Supervisor};
use super::watch::Watcher;

/// The operator's commands time out after this long.
const OPERATOR_TIMEOUT: Duration = Duration::from_secs(2);

/// One scheduled fault and where it stands.
struct Scheduled {
    spec: FaultSpec,
    start: Duration,
    heal: Option<Duration>,
    active: bool,
    done: bool,
    started_ms: Option<u64>,
    healed_ms: Option<u64>,
}

/// What is held, per link and per node.
#[derive(Default)]
struct Holds {
    cuts: BTreeMap<(String, String), u32>,
    extra_latency_ns: BTreeMap<(String, String), u64>,
    paused: BTreeMap<String, u32>,
    down: BTreeMap<String, u32>,
    wipe: BTreeSet<String>,
    /// Nodes whose machine is off (a machine crash): silent until they restart.
    silent: BTreeSet<String>,
}

/// Applies the schedule.
pub struct FaultDriver {
    faults: Vec<Scheduled>,
    holds: Holds,
    base_latency: BTreeMap<(String, String), Duration>,
    observer: Ipv4Addr,
    scale: f64,
    /// Nodes down or paused, as the resharders see them.
    unavailable: Arc<Mutex<BTreeSet<String>>>,
    /// Set when the run ends: the resharders stop.
    stop: Arc<AtomicBool>,
    reshards: Vec<JoinHandle<()>>,
    notes_tx: Sender<Noted>,
    notes_rx: Receiver<Noted>,
}

impl FaultDriver {
    /// A driver for `faults`, scenario times multiplied by `scale`; `base_latency` is the
    /// topology's one-way latency per directed link.
    pub fn new(
        faults: Vec<FaultSpec>,
        scale: f64,
        base_latency: BTreeMap<(String, String), Duration>,
        observer: Ipv4Addr,
    ) -> FaultDriver {
        let at = |ns: u64| super::workload::scaled(ns, scale);
        let faults = faults
            .into_iter()
            .map(|spec| Scheduled {
                start: at(spec.at_ns),
                heal: spec.heal_ns.map(at),
                spec,
                active: false,
                done: false,
                started_ms: None,
                healed_ms: None,
            })
            .collect();
        let (notes_tx, notes_rx) = channel();
        FaultDriver {
            faults,
            holds: Holds::default(),
            base_latency,
            observer,
            scale,
            unavailable: Arc::default(),
            stop: Arc::default(),
            reshards: Vec::new(),
            notes_tx,
            notes_rx,
        }
    }

    /// Whether node `name` runs and can answer (neither paused nor down).
    pub fn reachable(&self, name: &str) -> bool {
        !self.holds.paused.contains_key(name) && !self.holds.down.contains_key(name)
    }

    /// Whether node `name` is down (killed and not yet restarted).
    pub fn is_down(&self, name: &str) -> bool {
        self.holds.down.contains_key(name)
    }

    /// Starts and heals whatever is due at `now`.
    pub fn tick(&mut self, now: Duration, ctx: &mut FaultContext<'_>) -> Result<(), RealError> {
        self.collect(ctx.watch);
        for i in 0..self.faults.len() {
            let f = &self.faults[i];
            if !f.active && !f.done && now >= f.start {
                self.start(i, ctx)?;
            }
            let f = &self.faults[i];
            if f.active && f.heal.is_some_and(|h| now >= h) {
                self.heal(i, ctx)?;
            }
        }
        Ok(())
    }

    /// Heals every active fault (the quiet phase begins).
    pub fn heal_all(&mut self, ctx: &mut FaultContext<'_>) -> Result<(), RealError> {
        for i in 0..self.faults.len() {
            if self.faults[i].active {
                self.heal(i, ctx)?;
            }
            self.faults[i].done = true;
        }
        Ok(())
    }

    /// Hands what the resharders observed to the watcher.
    pub fn collect(&self, watch: &mut Watcher) {
        while let Ok((ns, process, fact)) = self.notes_rx.try_recv() {
            watch.note_at(ns, process, fact);
        }
    }

    /// The run ends: resharders still moving slots stop after their current step (a `MIGRATE`
    /// in flight ends first), and what they observed is handed over.
    pub fn stop(&mut self, watch: &mut Watcher) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.reshards.drain(..) {
            let _ = h.join();
        }
        self.collect(watch);
    }

    /// Tells the resharders which nodes are down or paused now.
    fn sync_unavailable(&self) {
        let now: BTreeSet<String> = self
            .holds
            .paused
            .keys()
            .chain(self.holds.down.keys())
            .cloned()
            .collect();
        *self.unavailable.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Starts `redis-cli --cluster reshard` on a thread of its own (see `real::reshard`).
    fn start_reshard(&mut self, ctx: &mut FaultContext<'_>, kind: &FaultKind) {
        let FaultKind::Reshard {
            from,
            to,
            first,
            last,
            batch,
            interval_ns,
            timeout_ms,
        } = *kind
        else {
            return;
        };
        let name = |p: ProcessId| ctx.dir.names[p.index()].clone();
        let addrs = ctx.dir.names[..ctx.dir.servers]
            .iter()
            .filter(|n| ctx.dir.node_id(n).is_some())
            .filter_map(|n| Some((n.clone(), ctx.sup.addr(n).ok()?)))
            .collect();
        let job = reshard::Job {
            from: name(from),
            to: name(to),
            first,
            last,
            batch,
            interval_ns,
            timeout_ms,
        };
        let env = reshard::ReshardEnv {
            dir: Arc::new(ctx.dir.clone()),
            addrs,
            observer: ctx.observer,
            start: ctx.watch.started(),
            unavailable: self.unavailable.clone(),
            stop: self.stop.clone(),
            notes: self.notes_tx.clone(),
            time_scale: self.scale,
        };
        self.reshards.push(reshard::spawn(job, env));
    }

    /// The faults as they happened.
    pub fn records(&self) -> Vec<FaultRecord> {
        self.faults
            .iter()
            .filter_map(|f| Some((f, f.started_ms?)))
            .map(|(f, at_ms)| FaultRecord {
                kind: f.spec.label.clone(),
                targets: f.spec.targets.clone(),
                at_ms,
                healed_ms: f.healed_ms,
            })
            .collect()
    }

    fn start(&mut self, i: usize, ctx: &mut FaultContext<'_>) -> Result<(), RealError> {
        let spec = self.faults[i].spec.clone();
        ctx.watch.note_world(Fact::FaultStarted {
            fault: fault_ref(i, &spec),
        });
        self.faults[i].active = true;
        self.faults[i].started_ms = Some(ctx.watch.now_ns() / 1_000_000);
        let name = |p: &ProcessId| ctx.dir.names[p.index()].clone();
        match &spec.kind {
            FaultKind::Partition { a, b, one_way } => {
                for (x, y) in directed_links(a, b, *one_way) {
                    *self.holds.cuts.entry((name(&x), name(&y))).or_default() += 1;
                    self.apply_link(ctx.net, &name(&x), &name(&y));
                }
            }
            FaultKind::Latency { a, b, extra_ns } => {
                for (x, y) in directed_links(a, b, false) {
                    *self
                        .holds
                        .extra_latency_ns
                        .entry((name(&x), name(&y)))
                        .or_default() += extra_ns;
                    self.apply_link(ctx.net, &name(&x), &name(&y));
                }
            }
            FaultKind::Pause { nodes } => {
                for n in nodes.iter().map(name) {
                    if hold(&mut self.holds.paused, &n) && !self.is_down(&n) {
                        ctx.sup.pause(&n)?;
                    }
                }
            }
            FaultKind::Crash {
                nodes,
                wipe_disk,
                machine,
            } => {
                for n in nodes.iter().map(name) {
                    if *wipe_disk {
                        self.holds.wipe.insert(n.clone());
                    }
                    // A machine that loses power answers nothing, not even a refusal: its
                    // links go silent before the process dies, so no FIN or RST escapes.
                    if *machine && self.holds.silent.insert(n.clone()) {
                        ctx.net.set_silent(&n, true);
                        // A process killed earlier no longer refuses either.
                        ctx.net.set_down(&n, false);
                    }
                    if hold(&mut self.holds.down, &n) {
                        if !self.holds.silent.contains(&n) {
                            ctx.net.set_down(&n, true);
                        }
                        ctx.sup.kill(&n)?;
                        ctx.watch.went_down(&n);
                    }
                }
            }
            FaultKind::Command {
                node,
                command,
                text,
            } => operator_command(ctx, &name(node), command, text),
            FaultKind::Failover { target, others } => {
                operator_replicaof(ctx, &name(target), None);
                if spec.heal_ns.is_none() {
                    for o in others {
                        operator_replicaof(ctx, &name(o), Some(&name(target)));
                    }
                }
            }
            kind @ FaultKind::Reshard { .. } => self.start_reshard(ctx, kind),
            other => {
                let why = super::plan::fault_refusal(other, u32::MAX)
                    .unwrap_or_else(|| "not supported".into());
                return Err(RealError::Unsupported(why));
            }
        }
        self.sync_unavailable();
        Ok(())
    }

    fn heal(&mut self, i: usize, ctx: &mut FaultContext<'_>) -> Result<(), RealError> {
        let spec = self.faults[i].spec.clone();
        self.faults[i].active = false;
        self.faults[i].done = true;
        self.faults[i].healed_ms = Some(ctx.watch.now_ns() / 1_000_000);
        let name = |p: &ProcessId| ctx.dir.names[p.index()].clone();
        match &spec.kind {
            FaultKind::Partition { a, b, one_way } => {
                for (x, y) in directed_links(a, b, *one_way) {
                    release(&mut self.holds.cuts, &(name(&x), name(&y)));
                    self.apply_link(ctx.net, &name(&x), &name(&y));
                }
            }
            FaultKind::Latency { a, b, extra_ns } => {
                for (x, y) in directed_links(a, b, false) {
                    let key = (name(&x), name(&y));
                    let e = self.holds.extra_latency_ns.entry(key).or_default();
                    *e = e.saturating_sub(*extra_ns);
                    self.apply_link(ctx.net, &name(&x), &name(&y));
                }
            }
            FaultKind::Pause { nodes } => {
                for n in nodes.iter().map(name) {
                    if release(&mut self.holds.paused, &n) && !self.is_down(&n) {
                        ctx.sup.resume(&n)?;
                    }
                }
            }
            FaultKind::Crash { nodes, .. } => {
                for n in nodes.iter().map(name) {
                    if release(&mut self.holds.down, &n) {
                        self.restart(ctx, &n)?;
                    }
                }
            }
            FaultKind::Failover { target, others } => {
                for o in others {
                    operator_replicaof(ctx, &name(o), Some(&name(target)));
                }
            }
            _ => {}
        }
        self.sync_unavailable();
        ctx.watch.note_world(Fact::FaultHealed {
            fault: fault_ref(i, &spec),
        });
        Ok(())
    }

    fn restart(&mut self, ctx: &mut FaultContext<'_>, n: &str) -> Result<(), RealError> {
        if self.holds.wipe.remove(n) {
            wipe_disk(&ctx.sup.node(n)?.dir);
        }
        ctx.sup.restart(n)?;
        ctx.net.set_down(n, false);
        if self.holds.silent.remove(n) {
            ctx.net.set_silent(n, false);
        }
        ctx.watch.restarted(n);
        if self.holds.paused.contains_key(n) {
            ctx.sup.pause(n)?;
        }
        Ok(())
    }

    fn apply_link(&self, net: &Network, from: &str, to: &str) {
        let key = (from.to_string(), to.to_string());
        let extra = self.holds.extra_latency_ns.get(&key).copied().unwrap_or(0);
        let base = self.base_latency.get(&key).copied().unwrap_or_default();
        net.set(
            from,
            to,
            LinkRule {
                cut: self.holds.cuts.contains_key(&key),
                latency: base + Duration::from_nanos(extra),
            },
        );
    }

    /// The address the operator's commands come from.
    pub fn observer(&self) -> Ipv4Addr {
        self.observer
    }
}

/// What applying a fault touches.
pub struct FaultContext<'a> {
    /// The processes.
    pub sup: &'a mut Supervisor,
    /// The link proxies.
    pub net: &'a Network,
    /// Names and proxy addresses.
    pub dir: &'a Directory,
    /// The observer, which records the fault facts.
    pub watch: &'a mut Watcher,
    /// Where the operator connects from.
    pub observer: Ipv4Addr,
}

fn hold(map: &mut BTreeMap<String, u32>, n: &str) -> bool {
    let c = map.entry(n.to_string()).or_default();
    *c += 1;
    *c == 1
}

fn release<K: Ord + Clone>(map: &mut BTreeMap<K, u32>, k: &K) -> bool {
    let Some(c) = map.get_mut(k) else {
        return false;
    };
    *c -= 1;
    if *c == 0 {
        map.remove(k);
        return true;
    }
    false
}

/// A crash with `wipe_disk`: the node comes back with no RDB and no AOF.
fn wipe_disk(dir: &std::path::Path) {
    for f in ["dump.rdb", "appendonly.aof"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let _ = std::fs::remove_dir_all(dir.join("appendonlydir"));
}

/// An operator's command, sent on a connection of its own; the reply is noted as the model
/// notes it (in redis-cli's notation).
fn operator_command(ctx: &mut FaultContext<'_>, server: &str, command: &AdminCommand, text: &str) {
    if let AdminCommand::SetSlot { .. } | AdminCommand::Migrate { .. } = command {
        let at = ctx.sup.addr(server).ok();
        let process = ctx.dir.index(server).unwrap_or(0) as u32;
        let now = ctx.watch.now_ns();
        if let Some(typed) = reshard::console(ctx.dir, ctx.observer, at, server, command) {
            for fact in typed.facts() {
                ctx.watch.note_at(now, process, fact);
            }
        }
        return;
    }
    let words = match (command.words(), command) {
        (Some(w), _) => w,
        (None, AdminCommand::ReplicaOf(Some(m))) => match ctx.dir.proxy_of(m.index()) {
            Some(a) => vec!["REPLICAOF".into(), a.ip().to_string(), a.port().to_string()],
            None => return,
        },
        (
            None,
            AdminCommand::Failover {
                to: Some(t),
                force,
                timeout_ms,
            },
        ) => match ctx.dir.proxy_of(t.index()) {
            Some(a) => {
                let mut w = vec!["FAILOVER".into(), "TO".into(), a.ip().to_string()];
                w.push(a.port().to_string());
                if *force {
                    w.push("FORCE".into());
                }
                if *timeout_ms > 0 {
                    w.extend(["TIMEOUT".into(), timeout_ms.to_string()]);
                }
                w
            }
            None => return,
        },
        (None, _) => return,
    };
    let reply = match ctx.sup.connect(server, ctx.observer, OPERATOR_TIMEOUT) {
        Err(_) => "Could not connect to Redis: Connection refused".to_string(),
        Ok(mut c) => {
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            match c.cmd(&w) {
                Ok(Reply::Simple(s)) => s,
                // INFO's lines, joined by spaces as the model writes them.
                Ok(r @ Reply::Bulk(Some(_)))
                    if matches!(command, AdminCommand::InfoReplication) =>
                {
                    r.as_text()
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| l.contains(':'))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
                Ok(Reply::Bulk(Some(b))) => format!("\"{}\"", String::from_utf8_lossy(&b)),
                Ok(Reply::Bulk(None)) => "(nil)".to_string(),
                Ok(Reply::Integer(n)) => format!("(integer) {n}"),
                Ok(Reply::Error(e)) => format!("(error) {e}"),
                Ok(Reply::Array(Some(items))) if items.is_empty() => "(empty array)".to_string(),
                Ok(Reply::Array(Some(items))) => items
                    .iter()
                    .enumerate()
                    .map(|(i, r)| match r {
                        Reply::Bulk(Some(b)) => {
                            format!("{}) \"{}\"", i + 1, String::from_utf8_lossy(b))
                        }
                        other => format!("{}) {other:?}", i + 1),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Ok(other) => format!("{other:?}"),
                // SHUTDOWN answers nothing: the process exits and the connection closes.
                Err(_) if matches!(command, AdminCommand::Shutdown(_)) => {
                    "(server exited)".to_string()
                }
                Err(e) => format!("(error) {e}"),
            }
        }
    };
    // REPLICAOF is noted as written and FAILOVER TO with the server's name (as the model notes
    // them); the others as sent.
    let command = match command {
        AdminCommand::ReplicaOf(_) => text.to_string(),
        AdminCommand::Failover { to: Some(_), .. } => {
            let mut w = words.clone();
            w.splice(
                2..4,
                [text.split_whitespace().nth(2).unwrap_or("?").to_string()],
            );
            w.join(" ")
        }
        _ => words.join(" "),
    };
    ctx.watch.note_world(Fact::OperatorReply {
        server: server.to_string(),
        command,
        reply,
    });
}

/// `REPLICAOF` from the operator's console (the observer's address, outside every proxy), then
/// `CONFIG REWRITE` so a restart keeps the role, as Sentinel does (sentinel.c:
/// `sentinelSendSlaveOf`). A node that is down is skipped.
fn operator_replicaof(ctx: &mut FaultContext<'_>, server: &str, master: Option<&str>) {
    let Ok(mut c) = ctx.sup.connect(server, ctx.observer, OPERATOR_TIMEOUT) else {
        return;
    };
    let target = master.and_then(|m| ctx.dir.proxy(m));
    let (host, port) = match target {
        Some(a) => (a.ip().to_string(), a.port().to_string()),
        None => ("NO".to_string(), "ONE".to_string()),
    };
    let _ = c.cmd(&["REPLICAOF", &host, &port]);
    let _ = c.cmd(&["CONFIG", "REWRITE"]);
}

/// How the trace names fault `i` of the schedule (as world/faults.rs does).
fn fault_ref(i: usize, f: &FaultSpec) -> FaultRef {
    FaultRef {
        id: i as u32,
        label: f.label.clone(),
        kind: f.kind.name().to_string(),
        targets: f.targets.clone(),
        operator: matches!(
            f.kind,
            FaultKind::Failover { .. } | FaultKind::Command { .. }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_nest() {
        let mut m = BTreeMap::new();
        assert!(hold(&mut m, "p1"), "the first hold acts");
        assert!(!hold(&mut m, "p1"), "a nested hold does not");
        assert!(!release(&mut m, &"p1".to_string()), "one hold remains");
        assert!(release(&mut m, &"p1".to_string()), "the last release acts");
        assert!(!release(&mut m, &"p1".to_string()), "nothing is held");
    }
}

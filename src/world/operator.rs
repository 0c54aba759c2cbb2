//! An operator's hands: adding a server (a standby machine, or one taken out earlier) as a
//! replica of the current primary, and taking a server out. Sentinel never does either; people
//! (or their scripts and Kubernetes operators) do.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::faults::Faults;
use super::{Control, Node};
use crate::fact::{DiskFact, Fact};
use crate::fault::AdminCommand;
use crate::net::Network;
use crate::redis::Disk;
use crate::scenario::OperatorSpec;
use crate::server::Role;
use crate::sim::{Kernel, KernelError, ProcessId, ProcessState, SimTime};

type K = Kernel<Node, Network, Control>;

/// The primary an operator would find now: what the first running sentinel answers to
/// `SENTINEL get-master-addr-by-name` for its first watched primary, or without sentinels the
/// running server that is a primary (the first, in scenario order).
pub(super) fn current_primary(k: &K, servers: &[ProcessId]) -> Option<ProcessId> {
    let sentinels = servers.len()..k.len();
    for i in sentinels {
        let p = ProcessId(i as u32);
        if let Node::Sentinel(s) = k.process(p)
            && k.state(p) == ProcessState::Running
            && let Some(m) = s.monitors().first()
        {
            return Some(m.master());
        }
    }
    servers.iter().copied().find(|&p| {
        k.state(p) == ProcessState::Running
            && matches!(k.process(p), Node::Server(s) if s.role() == Role::Master)
    })
}

/// Starts server `n`, which is down, with an empty disk as a replica of `primary`; false (and
/// the operator's error in the trace) when it is running.
pub(super) fn add_server(
    k: &mut K,
    n: ProcessId,
    primary: ProcessId,
    reason: Option<String>,
) -> bool {
    let Node::Server(s) = k.process(n) else {
        return false;
    };
    let name = s.name().to_string();
    if k.state(n) != ProcessState::Crashed {
        k.note(Fact::OperatorReply {
            server: name,
            command: "add-server".into(),
            reply: "(error) the server is already running".into(),
        });
        return false;
    }
    let primary_name = match k.process(primary) {
        Node::Server(p) => p.name().to_string(),
        _ => unreachable!("a primary is a server"),
    };
    let disk = Disk {
        replicaof: Some(primary),
        ..Disk::default()
    };
    let fresh = s.reborn(disk);
    k.note(Fact::ServerAdded {
        server: name,
        primary: primary_name,
        reason,
    });
    k.restart(n, Node::Server(Box::new(fresh)));
    true
}

/// Stops server `n` for good (until added again): its process ends and the OS closes its
/// sockets.
pub(super) fn remove_server(k: &mut K, n: ProcessId, reason: Option<String>) {
    let Node::Server(s) = k.process(n) else {
        return;
    };
    let name = s.name().to_string();
    let closes = s.sockets_closed_by_kill();
    k.note(Fact::ServerRemoved {
        server: name,
        reason,
    });
    if k.state(n) != ProcessState::Crashed {
        k.kill(n, closes);
    }
}

/// The `[operator]` policy: every `interval` it looks at the replicas of the current primary and
/// replaces one that has been down for `down`, `lag` bytes behind for `lag_for`, or whose disk
/// reported an error: it takes the replica out, adds the next spare as a replica of the primary,
/// and (with `sentinel_reset`) sends `SENTINEL RESET <name>` to every sentinel so they forget
/// the old replica. One replacement per look.
pub(super) struct Policy {
    spec: OperatorSpec,
    spares: VecDeque<ProcessId>,
    /// When each server was first seen down, or lagging, in the current stretch.
    down_since: BTreeMap<ProcessId, SimTime>,
    lag_since: BTreeMap<ProcessId, SimTime>,
    /// Servers whose disk reported an error, with the first error's kind.
    disk_errors: BTreeMap<ProcessId, &'static str>,
    /// Trace notes already read.
    notes_seen: usize,
    /// Servers taken out: no longer the operator's concern.
    retired: BTreeSet<ProcessId>,
    /// Console ids of the operator's commands (apart from the scheduled faults').
    next_console_id: u64,
}

impl Policy {
    pub(super) fn new(spec: &OperatorSpec) -> Self {
        Policy {
            spares: spec.spares.iter().map(|&i| ProcessId(i as u32)).collect(),
            spec: spec.clone(),
            down_since: BTreeMap::new(),
            lag_since: BTreeMap::new(),
            disk_errors: BTreeMap::new(),
            notes_seen: 0,
            retired: BTreeSet::new(),
            next_console_id: 1 << 40,
        }
    }

    /// How often it looks.
    pub(super) fn interval_ns(&self) -> u64 {
        self.spec.interval_ns
    }

    /// One look, and a replacement if a replica is sick and a spare is left.
    pub(super) fn check(&mut self, k: &mut K, faults: &mut Faults) -> Result<(), KernelError> {
        let servers = faults.servers().to_vec();
        self.read_disk_errors(k, &servers);
        let now = k.now();
        let Some(primary) = current_primary(k, &servers) else {
            return Ok(());
        };
        let Node::Server(p) = k.process(primary) else {
            return Ok(());
        };
        let top = p.repl().offset;
        let mut sick: Option<(ProcessId, String)> = None;
        for &s in &servers {
            if s == primary || self.retired.contains(&s) || faults.is_out(s) {
                continue;
            }
            let reason = self.symptom(k, s, primary, top, now);
            if sick.is_none()
                && let Some(r) = reason
            {
                sick = Some((s, r));
            }
        }
        let Some((s, reason)) = sick else {
            return Ok(());
        };
        let Some(spare) = self.spares.pop_front() else {
            return Ok(());
        };
        let name = server_name(k, s);
        faults.remove_server(k, s, Some(reason));
        self.retired.insert(s);
        let why = Some(format!("replaces {name}"));
        faults.add_server(k, spare, Some(primary), why);
        if self.spec.sentinel_reset {
            self.reset_sentinels(k, servers.len())?;
        }
        Ok(())
    }

    /// Why server `s` should be replaced now, if it should.
    fn symptom(
        &mut self,
        k: &K,
        s: ProcessId,
        primary: ProcessId,
        top: u64,
        now: SimTime,
    ) -> Option<String> {
        let secs = |since: SimTime| now.since(since) as f64 / SimTime::NANOS_PER_SEC as f64;
        if let Some(kind) = self.disk_errors.get(&s).filter(|_| self.spec.disk_errors) {
            return Some(format!("its disk reported an error ({kind})"));
        }
        let running = k.state(s) == ProcessState::Running;
        if running {
            self.down_since.remove(&s);
        } else {
            let since = *self.down_since.entry(s).or_insert(now);
            if self.spec.down_ns.is_some_and(|d| now.since(since) >= d) {
                return Some(format!("down for {:.1} s", secs(since)));
            }
        }
        let lag = match k.process(s) {
            Node::Server(r) if running && r.role() == Role::Replica(primary) => {
                Some(top.saturating_sub(r.repl().offset))
            }
            _ => None,
        };
        match (lag, self.spec.lag_bytes) {
            (Some(lag), Some(limit)) if lag > limit => {
                let since = *self.lag_since.entry(s).or_insert(now);
                if now.since(since) >= self.spec.lag_for_ns {
                    return Some(format!("{lag} bytes behind for {:.1} s", secs(since)));
                }
            }
            _ => {
                self.lag_since.remove(&s);
            }
        }
        None
    }

    /// Disk errors the servers logged since the last look (the operator's log alerts).
    fn read_disk_errors(&mut self, k: &K, servers: &[ProcessId]) {
        let notes = k.notes();
        for n in &notes[self.notes_seen..] {
            let Fact::Disk { server, event } = &n.fact else {
                continue;
            };
            let error = !matches!(
                event,
                DiskFact::AofWriteRecovered | DiskFact::BgsaveRecovered | DiskFact::FsyncTooSlow
            );
            if let Some(&p) = servers.iter().find(|&&p| server_name(k, p) == *server)
                && error
            {
                self.disk_errors.entry(p).or_insert(event.kind());
            }
        }
        self.notes_seen = notes.len();
    }

    /// `SENTINEL RESET <name>` at every running sentinel, for each primary it watches.
    fn reset_sentinels(&mut self, k: &mut K, first: usize) -> Result<(), KernelError> {
        for i in first..k.len() {
            let p = ProcessId(i as u32);
            let Node::Sentinel(s) = k.process(p) else {
                continue;
            };
            let names: Vec<String> = s
                .monitors()
                .iter()
                .map(|m| m.master_name().to_string())
                .collect();
            for name in names {
                self.next_console_id += 1;
                let text = format!("SENTINEL RESET {name}");
                let command = AdminCommand::SentinelReset(name);
                super::faults::command_to(k, p, &command, &text, self.next_console_id)?;
            }
        }
        Ok(())
    }
}

fn server_name(k: &K, p: ProcessId) -> String {
    match k.process(p) {
        Node::Server(s) => s.name().to_string(),
        _ => String::new(),
    }
}

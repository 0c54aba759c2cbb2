//! Applying faults to the kernel and the network, and healing them. Faults nest: every effect is
//! counted per (process, effect), acted on when the count goes 0 → 1 and undone when it goes
//! 1 → 0, so an inner fault's heal never ends an outer fault early (a crash of r1 from 3 s to 10 s
//! and another from 4 s to 5 s restart r1 at 10 s). Network effects nest in `net` (cut counts,
//! summed loss and latency).

use std::collections::BTreeMap;

use super::{Control, Node, operator};
use crate::fact::{Fact, FaultRef};
use crate::fault::DiskError;
use crate::fault::{AdminCommand, FaultKind, FaultRecord, FaultSpec, directed_links};
use crate::net::Network;
use crate::proto::Msg;
use crate::redis::{Disk, Fsync};
use crate::sim::{Kernel, KernelError, ProcessId, ProcessState};

type K = Kernel<Node, Network, Control>;

/// A per-process effect of a fault that nests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Effect {
    Crash,
    Pause,
    DiskStall,
    DiskError,
}

/// The faults of one run and what they are doing now.
pub(super) struct Faults {
    specs: Vec<FaultSpec>,
    active: Vec<bool>,
    /// The summary's record of each fault that started (index into `records`).
    record_of: Vec<Option<usize>>,
    records: Vec<FaultRecord>,
    /// How many active faults hold each (process, effect).
    depth: BTreeMap<(ProcessId, Effect), u32>,
    /// Whether an active crash of the process asked for its disk to be wiped at the restart.
    wipe: BTreeMap<ProcessId, bool>,
    /// Active clock faults per process, in start order: (fault, drift in ppm).
    clocks: BTreeMap<ProcessId, Vec<(usize, i64)>>,
    /// The error of the latest active `disk-error` fault per server.
    disk_errors: BTreeMap<ProcessId, DiskError>,
    /// The extra fsync time of every active `slow-disk` fault per server, summed.
    slow_fsync: BTreeMap<ProcessId, u64>,
    /// The servers of the run, in scenario order.
    servers: Vec<ProcessId>,
    /// Servers an operator took out (or standby machines not added yet): no heal restarts them.
    removed: std::collections::BTreeSet<ProcessId>,
}

impl Faults {
    pub(super) fn new(
        specs: Vec<FaultSpec>,
        servers: Vec<ProcessId>,
        standby: std::collections::BTreeSet<ProcessId>,
    ) -> Self {
        Faults {
            active: vec![false; specs.len()],
            record_of: vec![None; specs.len()],
            specs,
            records: Vec::new(),
            depth: BTreeMap::new(),
            wipe: BTreeMap::new(),
            clocks: BTreeMap::new(),
            disk_errors: BTreeMap::new(),
            slow_fsync: BTreeMap::new(),
            servers,
            removed: standby,
        }
    }

    pub(super) fn specs(&self) -> &[FaultSpec] {
        &self.specs
    }

    pub(super) fn into_records(self) -> Vec<FaultRecord> {
        self.records
    }

    /// Heals every active fault (the quiet phase begins).
    pub(super) fn heal_all(&mut self, k: &mut K) -> Result<(), KernelError> {
        for i in 0..self.specs.len() {
            if self.active[i] {
                self.heal(k, i)?;
            }
        }
        Ok(())
    }

    /// Adds one hold of `effect` on `n`; true when it is the first (the effect must start).
    fn hold(&mut self, n: ProcessId, effect: Effect) -> bool {
        let d = self.depth.entry((n, effect)).or_default();
        *d += 1;
        *d == 1
    }

    /// Releases one hold of `effect` on `n`; true when it was the last (the effect must end).
    fn release(&mut self, n: ProcessId, effect: Effect) -> bool {
        let d = self
            .depth
            .get_mut(&(n, effect))
            .expect("every heal matches an earlier start");
        assert!(*d > 0, "every heal matches an earlier start");
        *d -= 1;
        *d == 0
    }

    pub(super) fn start(&mut self, k: &mut K, i: usize) -> Result<(), KernelError> {
        if self.active[i] {
            return Ok(());
        }
        self.active[i] = true;
        let f = self.specs[i].clone();
        self.record_of[i] = Some(self.records.len());
        self.records.push(FaultRecord {
            kind: f.label.clone(),
            targets: f.targets.clone(),
            at_ms: k.now().as_ms(),
            healed_ms: None,
        });
        k.note(Fact::FaultStarted {
            fault: fault_ref(i, &f),
        });
        match &f.kind {
            FaultKind::Partition { a, b, one_way } => {
                let links = directed_links(a, b, *one_way);
                for &(x, y) in &links {
                    k.links_mut().adjust_cut(x, y, 1);
                }
                k.hold_in_flight(&links.into_iter().collect());
            }
            FaultKind::Loss { a, b, ppm } => {
                for (x, y) in directed_links(a, b, false) {
                    k.links_mut().adjust_loss(x, y, i64::from(*ppm));
                }
            }
            FaultKind::Latency { a, b, extra_ns } => {
                for (x, y) in directed_links(a, b, false) {
                    k.links_mut().adjust_latency(x, y, *extra_ns as i64);
                }
            }
            FaultKind::Crash {
                nodes,
                machine,
                wipe_disk,
            } => self.crash(k, nodes, *machine, *wipe_disk),
            FaultKind::Pause { nodes } => {
                for &n in nodes {
                    if self.hold(n, Effect::Pause) {
                        k.pause(n);
                    }
                }
            }
            FaultKind::Clock {
                nodes,
                jump_ns,
                drift_ppm,
            } => {
                for &n in nodes {
                    self.clocks.entry(n).or_default().push((i, *drift_ppm));
                    k.set_clock(n, *jump_ns, *drift_ppm);
                }
            }
            FaultKind::DiskStall { nodes } => {
                for &n in nodes {
                    if self.hold(n, Effect::DiskStall) {
                        self.stall(k, n, true)?;
                    }
                }
            }
            FaultKind::DiskError { nodes, error } => {
                for &n in nodes {
                    self.hold(n, Effect::DiskError);
                    self.disk_errors.insert(n, *error);
                    self.apply_disk(k, n);
                }
            }
            FaultKind::SlowDisk { nodes, fsync_ns } => {
                for &n in nodes {
                    *self.slow_fsync.entry(n).or_default() += fsync_ns;
                    self.apply_disk(k, n);
                }
            }
            FaultKind::AddServer { node, primary } => self.add_server(k, *node, *primary, None),
            FaultKind::RemoveServer { node } => self.remove_server(k, *node, None),
            FaultKind::Command {
                node,
                command,
                text,
            } => command_to(k, *node, command, text, i as u64)?,
            // The world runs it step by step (world/reshard.rs).
            FaultKind::Reshard { .. } => {}
            FaultKind::Failover { target, others } => {
                replicaof(k, *target, None)?;
                if f.heal_ns.is_none() {
                    for &o in others {
                        replicaof(k, o, Some(*target))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A disk stall. With `appendfsync always` Redis fsyncs in its main thread before replying,
    /// so a stalled disk freezes the whole server (modelled as a pause, nesting with pause
    /// faults); otherwise the background fsync hangs and the server carries on with unsynced data.
    fn stall(&mut self, k: &mut K, n: ProcessId, stalled: bool) -> Result<(), KernelError> {
        let Node::Server(s) = k.process_mut(n) else {
            return Ok(());
        };
        s.set_disk_stalled(stalled);
        if !(s.config().appendonly && s.config().appendfsync == Fsync::Always) {
            return Ok(());
        }
        if stalled && self.hold(n, Effect::Pause) {
            k.pause(n);
        } else if !stalled && self.release(n, Effect::Pause) {
            k.resume(n)?;
        }
        Ok(())
    }

    fn crash(&mut self, k: &mut K, nodes: &[ProcessId], machine: bool, wipe_disk: bool) {
        for &n in nodes {
            *self.wipe.entry(n).or_default() |= wipe_disk;
            if self.hold(n, Effect::Crash) {
                if machine {
                    k.crash(n);
                } else {
                    let closes = match k.process(n) {
                        Node::Server(s) => s.sockets_closed_by_kill(),
                        Node::Sentinel(_) | Node::Client(_) => Vec::new(),
                    };
                    k.kill(n, closes);
                }
            } else if machine {
                // A killed process's machine loses power too: nothing answers for it now.
                k.crash(n);
            }
            // A power loss while the process is already down still empties the page cache.
            if machine && let Node::Server(s) = k.process_mut(n) {
                s.power_loss();
            }
        }
    }

    pub(super) fn heal(&mut self, k: &mut K, i: usize) -> Result<(), KernelError> {
        if !self.active[i] {
            return Ok(());
        }
        self.active[i] = false;
        let f = self.specs[i].clone();
        let r = self.record_of[i].expect("an active fault has a record");
        self.records[r].healed_ms = Some(k.now().as_ms());
        k.note(Fact::FaultHealed {
            fault: fault_ref(i, &f),
        });
        match &f.kind {
            FaultKind::Partition { a, b, one_way } => {
                for (x, y) in directed_links(a, b, *one_way) {
                    k.links_mut().adjust_cut(x, y, -1);
                }
                k.release_held()?;
            }
            FaultKind::Loss { a, b, ppm } => {
                for (x, y) in directed_links(a, b, false) {
                    k.links_mut().adjust_loss(x, y, -i64::from(*ppm));
                }
            }
            FaultKind::Latency { a, b, extra_ns } => {
                for (x, y) in directed_links(a, b, false) {
                    k.links_mut().adjust_latency(x, y, -(*extra_ns as i64));
                }
            }
            FaultKind::Crash { nodes, .. } => {
                for &n in nodes {
                    if self.release(n, Effect::Crash) {
                        let wipe = self.wipe.remove(&n).unwrap_or(false);
                        self.restart(k, n, wipe);
                    }
                }
            }
            FaultKind::Pause { nodes } => {
                for &n in nodes {
                    if self.release(n, Effect::Pause) {
                        k.resume(n)?;
                    }
                }
            }
            FaultKind::Clock { nodes, .. } => self.heal_clock(k, i, nodes),
            FaultKind::DiskStall { nodes } => {
                for &n in nodes {
                    if self.release(n, Effect::DiskStall) {
                        self.stall(k, n, false)?;
                    }
                }
            }
            FaultKind::DiskError { nodes, .. } => {
                for &n in nodes {
                    if self.release(n, Effect::DiskError) {
                        self.disk_errors.remove(&n);
                        self.apply_disk(k, n);
                        // A server the disk made exit or panic is started again once the disk
                        // works (an operator or supervisor does it), unless a crash holds it.
                        if self.depth.get(&(n, Effect::Crash)).copied().unwrap_or(0) == 0 {
                            self.restart(k, n, false);
                        }
                    }
                }
            }
            FaultKind::SlowDisk { nodes, fsync_ns } => {
                for &n in nodes {
                    let extra = self.slow_fsync.entry(n).or_default();
                    *extra -= fsync_ns;
                    if *extra == 0 {
                        self.slow_fsync.remove(&n);
                    }
                    self.apply_disk(k, n);
                }
            }
            // With `heal`, the others follow the promoted server now. Without it they were
            // re-pointed when it started: a one-shot action the quiet phase does not repeat.
            FaultKind::Failover { target, others } if f.heal_ns.is_some() => {
                for &o in others {
                    replicaof(k, o, Some(*target))?;
                }
            }
            // Done when sent.
            FaultKind::Failover { .. }
            | FaultKind::Command { .. }
            | FaultKind::Reshard { .. }
            | FaultKind::AddServer { .. }
            | FaultKind::RemoveServer { .. } => {}
        }
        Ok(())
    }

    /// Tells server `n` what its disk does now: errors and slow fsyncs of the active faults.
    fn apply_disk(&self, k: &mut K, n: ProcessId) {
        if let Node::Server(s) = k.process_mut(n) {
            s.set_disk_error(self.disk_errors.get(&n).copied());
            s.set_slow_fsync(self.slow_fsync.get(&n).copied().unwrap_or(0));
        }
    }

    /// An operator adds server `n` as a replica of `primary` (or of the current primary).
    pub(super) fn add_server(
        &mut self,
        k: &mut K,
        n: ProcessId,
        primary: Option<ProcessId>,
        reason: Option<String>,
    ) {
        let Some(primary) = primary.or_else(|| operator::current_primary(k, &self.servers)) else {
            return;
        };
        if operator::add_server(k, n, primary, reason) {
            self.removed.remove(&n);
            self.apply_all_disk(k, n);
        }
    }

    /// The servers of the run.
    pub(super) fn servers(&self) -> &[ProcessId] {
        &self.servers
    }

    /// Whether server `n` is out of service (taken out, or a standby not added yet).
    pub(super) fn is_out(&self, n: ProcessId) -> bool {
        self.removed.contains(&n)
    }

    /// An operator takes server `n` out.
    pub(super) fn remove_server(&mut self, k: &mut K, n: ProcessId, reason: Option<String>) {
        self.removed.insert(n);
        operator::remove_server(k, n, reason);
    }

    /// Restarts a server that is down, on the disk conditions of the faults still active; one
    /// an operator took out stays down.
    fn restart(&mut self, k: &mut K, n: ProcessId, wipe_disk: bool) {
        if self.removed.contains(&n) {
            return;
        }
        restart(k, n, wipe_disk);
        self.apply_all_disk(k, n);
    }

    /// A server that (re)starts gets the disk of the faults still active: errors, slow fsyncs
    /// and a stall.
    fn apply_all_disk(&self, k: &mut K, n: ProcessId) {
        self.apply_disk(k, n);
        let stalled = self
            .depth
            .get(&(n, Effect::DiskStall))
            .is_some_and(|&d| d > 0);
        let Node::Server(s) = k.process_mut(n) else {
            return;
        };
        s.set_disk_stalled(stalled);
        // With `appendfsync always` its first fsync hangs: the new process freezes as the old
        // one did (the stall's hold on the pause, taken at its start, resumes it at the heal).
        let freezes = s.config().appendonly && s.config().appendfsync == Fsync::Always;
        if stalled && freezes {
            k.pause(n);
        }
    }

    /// The heal removes this fault's drift (the jump stays: clocks do not jump back); the drift
    /// of a clock fault still active on the process, if any, applies again.
    fn heal_clock(&mut self, k: &mut K, i: usize, nodes: &[ProcessId]) {
        for &n in nodes {
            let active = self.clocks.entry(n).or_default();
            let at = active
                .iter()
                .position(|(f, _)| *f == i)
                .expect("every heal matches an earlier start");
            active.remove(at);
            let drift = active.last().map_or(0, |(_, d)| *d);
            k.set_clock(n, 0, drift);
        }
    }
}

/// Sends `REPLICAOF` through the operator's console, or edits the config of a server that is down
/// so it comes back with the new role.
fn replicaof(k: &mut K, server: ProcessId, master: Option<ProcessId>) -> Result<(), KernelError> {
    if k.state(server) == ProcessState::Crashed {
        if let Node::Server(s) = k.process_mut(server) {
            s.set_config_replicaof(master);
        }
        return Ok(());
    }
    let now = k.now();
    // The operator's console is outside the network: the server itself is the sender.
    k.inject(now, server, server, Msg::ReplicaOf { master })
}

/// An operator's command typed at `server`'s console: it crosses no link. A server that is down
/// does not answer (redis-cli reports the refused connection).
pub(super) fn command_to(
    k: &mut K,
    server: ProcessId,
    command: &AdminCommand,
    text: &str,
    console_id: u64,
) -> Result<(), KernelError> {
    let name = match k.process(server) {
        Node::Server(s) => s.name().to_string(),
        Node::Sentinel(s) => s.label().to_string(),
        Node::Client(_) => return Ok(()),
    };
    if k.state(server) == ProcessState::Crashed {
        k.note(Fact::OperatorReply {
            server: name,
            command: text.to_string(),
            reply: "Could not connect to Redis: Connection refused".into(),
        });
        return Ok(());
    }
    let now = k.now();
    let msg = match command {
        // Answered by the server when it runs it (OK, or -LOADING during a load).
        AdminCommand::ReplicaOf(_) => {
            if let Node::Server(s) = k.process_mut(server) {
                s.console_replicaof(text.to_string());
            }
            Msg::Admin(command.clone())
        }
        // A data command goes on the console's own connection, as a client's request.
        AdminCommand::Data(words) => {
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let cmd = crate::redis::Command::from_words(&words).expect("checked when read");
            Msg::Request {
                id: console_id,
                cmd,
            }
        }
        other => Msg::Admin(other.clone()),
    };
    k.inject(now, server, server, msg)
}

fn restart(k: &mut K, n: ProcessId, wipe_disk: bool) {
    if k.state(n) != ProcessState::Crashed {
        return;
    }
    let fresh = match k.process(n) {
        Node::Server(s) => {
            let mut disk = s.disk().clone();
            if wipe_disk {
                disk = Disk {
                    replicaof: disk.replicaof,
                    ..Disk::default()
                };
            }
            Node::Server(Box::new(
                s.reborn(disk).with_cluster(s.cluster_after_restart()),
            ))
        }
        Node::Sentinel(s) => Node::Sentinel(s.clone()),
        Node::Client(c) => Node::Client(c.clone()),
    };
    k.restart(n, fresh);
}

/// How the trace names fault `i` of the schedule.
fn fault_ref(i: usize, f: &FaultSpec) -> FaultRef {
    FaultRef {
        id: i as u32,
        label: f.label.clone(),
        kind: f.kind.name().to_string(),
        targets: f.targets.clone(),
        operator: matches!(
            f.kind,
            FaultKind::Failover { .. }
                | FaultKind::Command { .. }
                | FaultKind::AddServer { .. }
                | FaultKind::RemoveServer { .. }
        ),
    }
}

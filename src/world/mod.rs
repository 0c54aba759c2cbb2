//! The world of one run: builds processes, network and faults from a scenario, drives the kernel
//! to the end of the run (faults during the safety phase, everything healed for the quiet phase),
//! and collects the history, the trace notes, metrics and final states.

use std::rc::Rc;

use crate::client::{Client, WorkloadSpec};
use crate::cluster::node::ClusterNode;
use crate::cluster::topology::{Endpoint, NodeId, Shard, Topology};
use crate::fact::{Fact, FactNote};
use crate::fault::FaultRecord;
use crate::history::History;
use crate::metrics::{Metrics, SampledVitals, ServerSample};
use crate::net::Network;
use crate::proto::Msg;
use crate::redis::Disk;
use crate::scenario::Scenario;
use crate::sentinel::SentinelProcess;
use crate::server::{Role, Server, ServerStats};

mod faults;
mod operator;
mod reshard;
use crate::sim::{
    Ctx, Kernel, KernelError, KernelLimits, LinkPolicy, Process, ProcessId, ProcessState, SimTime,
    Step,
};
use faults::Faults;

/// Every simulated process.
#[derive(Clone, Debug)]
pub enum Node {
    /// A Redis server.
    Server(Box<Server>),
    /// A Redis Sentinel.
    Sentinel(Box<SentinelProcess>),
    /// A workload client.
    Client(Box<Client>),
}

impl Process for Node {
    type Msg = Msg;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        match self {
            Node::Server(s) => s.start(ctx),
            Node::Sentinel(s) => s.on_start(ctx),
            Node::Client(c) => c.on_start(ctx),
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        match self {
            Node::Server(s) => s.on_message(ctx, from, msg),
            Node::Sentinel(s) => s.on_message(ctx, from, msg),
            Node::Client(c) => c.on_message(ctx, from, msg),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        match self {
            Node::Server(s) => s.on_timer(ctx, tag),
            Node::Sentinel(s) => s.on_timer(ctx, tag),
            Node::Client(c) => c.on_timer(ctx, tag),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Control {
    FaultStart(usize),
    FaultHeal(usize),
    FinalHeal,
    Sample,
    /// The next step of the resharding started by fault `i`.
    ReshardStep(usize),
    /// The `[operator]` policy looks at the replicas.
    OperatorCheck,
}

/// A server's state at the end of the run, for the checkers.
#[derive(Clone, Debug)]
pub struct ServerFinal {
    /// Name.
    pub name: String,
    /// Whether it is a primary.
    pub is_master: bool,
    /// Its primary's name, if a replica.
    pub master: Option<String>,
    /// Whether it is up (not crashed or paused).
    pub up: bool,
    /// Whether its link to the primary is in sync.
    pub link_up: bool,
    /// `master_repl_offset`.
    pub offset: u64,
    /// `master_replid`.
    pub replid: String,
    /// Where the data stands in its replication history, unstreamed writes included (the tip
    /// the lineage of acknowledged writes is judged against).
    pub position: crate::history::Position,
    /// The dataset.
    pub keyspace: crate::redis::Keyspace,
    /// Counters.
    pub stats: ServerStats,
    /// Commands counted, their latency percentiles and the slow log.
    pub vitals: crate::server::VitalsAtEnd,
    /// In a Redis Cluster, who serves each slot in this node's view.
    pub slot_owners: Option<Vec<crate::cluster::slot::SlotRange>>,
}

/// Everything a run produced.
#[derive(Clone, Debug)]
pub struct RunOutput {
    /// The seed used.
    pub seed: u64,
    /// The trace hash as 16 hex digits.
    pub trace_hash: String,
    /// Simulated time covered.
    pub sim_time: SimTime,
    /// Events delivered.
    pub events: u64,
    /// The client history.
    pub history: History,
    /// Trace notes, in order.
    pub notes: Vec<FactNote>,
    /// Final server states, in scenario order.
    pub servers: Vec<ServerFinal>,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Time series for plots.
    pub metrics: Metrics,
    /// When the quiet (liveness) phase began.
    pub quiet_from: SimTime,
    /// Bytes handed to the network.
    pub network_bytes: u64,
    /// The trace hash at every metrics sample (once per simulated second), to find where two
    /// runs that should be identical first diverge.
    pub checkpoints: Vec<(SimTime, u64)>,
    /// Redis Cluster redirections the clients followed, by pattern (`MOVED <slot> c2r1`), for
    /// `simkv diff`; empty outside a cluster.
    pub redirects: std::collections::BTreeMap<String, u64>,
}

/// Where two runs that should be identical first diverge: `(after, by)`, the last checkpoint at
/// which their trace hashes agreed and the first at which they differ (`None` when they agree
/// throughout).
pub fn first_divergence(a: &RunOutput, b: &RunOutput) -> Option<(SimTime, SimTime)> {
    let mut last_equal = SimTime::ZERO;
    for (x, y) in a.checkpoints.iter().zip(&b.checkpoints) {
        if x != y {
            return Some((last_equal, x.0));
        }
        last_equal = x.0;
    }
    (a.checkpoints.len() != b.checkpoints.len() || a.trace_hash != b.trace_hash)
        .then_some((last_equal, a.sim_time))
}

/// Why a run could not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunError {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub reason: String,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {}: {}", self.seed, self.reason)
    }
}

impl From<(u64, KernelError)> for RunError {
    fn from((seed, e): (u64, KernelError)) -> Self {
        RunError {
            seed,
            reason: e.to_string(),
        }
    }
}

/// The cluster node of each server (`None` outside `[cluster]`), all starting from the view
/// `redis-cli --cluster create` leaves; node `i` is server (and process) `i`, reached at
/// `<server name>:6379`.
fn cluster_nodes(scenario: &Scenario) -> Vec<Option<ClusterNode>> {
    let mut nodes = vec![None; scenario.servers.len()];
    let Some(spec) = &scenario.cluster else {
        return nodes;
    };
    let endpoint = |i: usize| {
        let host = scenario.servers[i].name.clone();
        (NodeId(i as u32), Endpoint { host, port: 6379 })
    };
    let shards: Vec<Shard> = spec
        .shards
        .iter()
        .map(|s| Shard {
            primary: endpoint(s.primary),
            replicas: s.replicas.iter().map(|&r| endpoint(r)).collect(),
        })
        .collect();
    let view = Topology::from_shards(&shards);
    for s in &spec.shards {
        for &i in std::iter::once(&s.primary).chain(&s.replicas) {
            let node = ClusterNode::new(NodeId(i as u32), spec.config.clone(), view.clone());
            nodes[i] = Some(node);
        }
    }
    nodes
}

/// A cluster node's view of the slots as ranges with their owners' server names (node `i` is
/// server `i`).
fn slot_ranges(view: &Topology, names: &[String]) -> Vec<crate::cluster::slot::SlotRange> {
    view.owner_ranges()
        .into_iter()
        .map(|(first, last, owner)| crate::cluster::slot::SlotRange {
            first,
            last,
            owner: owner.map(|n| names[n.0 as usize].clone()),
        })
        .collect()
}

/// A world ready to run.
pub struct World<'s> {
    scenario: &'s Scenario,
    kernel: Kernel<Node, Network, Control>,
    server_ids: Vec<ProcessId>,
    names: Rc<Vec<String>>,
    faults: Faults,
    metrics: Metrics,
    checkpoints: Vec<(SimTime, u64)>,
    /// The clients' history events moved out so far, in history order ([`World::drain_history`]).
    history: Vec<crate::history::HistoryEvent>,
    seed: u64,
    /// Reshardings in progress, by the fault that started them.
    reshards: std::collections::BTreeMap<usize, reshard::Resharder>,
    /// The `[operator]` policy, if the scenario has one.
    operator: Option<operator::Policy>,
}

/// Interval between metric samples.
pub const SAMPLE_INTERVAL_NS: u64 = SimTime::NANOS_PER_SEC;

impl<'s> World<'s> {
    /// Builds the world of `scenario` with `seed`.
    pub fn new(scenario: &'s Scenario, seed: u64) -> Self {
        let mut region_of = Vec::new();
        let mut names = Vec::new();
        for s in &scenario.servers {
            region_of.push(s.region);
            names.push(s.name.clone());
        }
        for s in &scenario.sentinels {
            region_of.push(s.region);
            names.push(s.name.clone());
        }
        for w in &scenario.workloads {
            for i in 0..w.clients {
                region_of.push(w.region);
                names.push(format!("{}/{}", w.spec.name, i));
            }
        }
        let streams = crate::sim::RngStreams::new(seed);
        let net = Network::new(scenario.topology.clone(), region_of, streams.stream("net"));
        let limits = KernelLimits {
            max_events: scenario.max_events,
            ..KernelLimits::default()
        };
        let mut kernel = Kernel::new(seed, net, limits);
        let names = Rc::new(names);
        let mut server_ids = Vec::new();
        let peers = names.clone();
        let mut cluster_nodes = cluster_nodes(scenario);
        for (i, s) in scenario.servers.iter().enumerate() {
            let disk = Disk {
                replicaof: s.replicaof.map(|i| ProcessId(i as u32)),
                ..Disk::default()
            };
            let server = Server::new(&s.name, s.config.clone(), disk, peers.clone())
                .with_cluster(cluster_nodes[i].take());
            server_ids.push(kernel.add(
                &format!("server/{}", s.name),
                Node::Server(Box::new(server)),
            ));
        }
        for s in &scenario.sentinels {
            let sentinel = SentinelProcess::new(&s.name, s.monitors.clone(), peers.clone());
            kernel.add(
                &format!("sentinel/{}", s.name),
                Node::Sentinel(Box::new(sentinel)),
            );
        }
        let written = Rc::default();
        for w in &scenario.workloads {
            let spec: Rc<WorkloadSpec> = Rc::new(w.spec.clone());
            for i in 0..w.clients {
                let c = Client::new(spec.clone(), i, names.clone(), Rc::clone(&written));
                kernel.add(
                    &format!("client/{}/{}", w.spec.name, i),
                    Node::Client(Box::new(c)),
                );
            }
        }
        let mut faults = scenario.faults_for_seed(seed);
        if let Some(n) = &scenario.nemesis {
            let servers: Vec<(ProcessId, String)> = server_ids
                .iter()
                .map(|p| (*p, names[p.index()].clone()))
                .collect();
            let everyone: Vec<ProcessId> = (0..names.len() as u32).map(ProcessId).collect();
            faults.extend(crate::nemesis::draw(
                n,
                &mut streams.stream("nemesis"),
                &servers,
                &everyone,
            ));
        }
        let standby: std::collections::BTreeSet<ProcessId> = scenario
            .servers
            .iter()
            .zip(&server_ids)
            .filter(|(s, _)| s.standby)
            .map(|(_, &p)| p)
            .collect();
        // A standby machine is off until an operator adds it.
        for &p in &standby {
            kernel.crash(p);
        }
        World {
            faults: Faults::new(faults, server_ids.clone(), standby),
            scenario,
            kernel,
            server_ids,
            names,

            metrics: Metrics::new(scenario.servers.iter().map(|s| s.name.clone()).collect()),
            checkpoints: Vec::new(),
            history: Vec::new(),
            seed,
            reshards: std::collections::BTreeMap::new(),
            operator: scenario.operator.as_ref().map(operator::Policy::new),
        }
    }

    /// Every fault of the run: the scheduled ones, then those the nemesis drew.
    pub fn faults(&self) -> &[crate::fault::FaultSpec] {
        self.faults.specs()
    }

    /// Runs to the end. `progress` is called now and then with the simulated time reached.
    pub fn run(self, progress: &mut dyn FnMut(SimTime)) -> Result<RunOutput, RunError> {
        self.run_observed(progress, &mut |_| {})
    }

    /// Runs to the end, handing every trace note to `on_note` as it happens (for `--verbose`).
    pub fn run_observed(
        mut self,
        progress: &mut dyn FnMut(SimTime),
        on_note: &mut dyn FnMut(&FactNote),
    ) -> Result<RunOutput, RunError> {
        let mut notes_seen = 0;
        let seed = self.seed;
        let sc = self.scenario;
        for (i, f) in self.faults.specs().iter().enumerate() {
            self.kernel
                .schedule_control(SimTime(f.at_ns), Control::FaultStart(i))
                .map_err(|e| RunError::from((seed, e)))?;
            if let Some(h) = f.heal_ns {
                self.kernel
                    .schedule_control(SimTime(h), Control::FaultHeal(i))
                    .map_err(|e| RunError::from((seed, e)))?;
            }
        }
        let quiet_from = SimTime(sc.duration_ns.saturating_sub(sc.quiet_ns));
        self.kernel
            .schedule_control(quiet_from, Control::FinalHeal)
            .map_err(|e| RunError::from((seed, e)))?;
        self.kernel
            .schedule_control(SimTime::ZERO, Control::Sample)
            .map_err(|e| RunError::from((seed, e)))?;
        if let Some(p) = &self.operator {
            self.kernel
                .schedule_control(SimTime(p.interval_ns()), Control::OperatorCheck)
                .map_err(|e| RunError::from((seed, e)))?;
        }
        self.kernel.start();
        let end = SimTime(sc.duration_ns);
        let mut last_progress = 0u64;
        loop {
            match self
                .kernel
                .step(end)
                .map_err(|e| RunError::from((seed, e)))?
            {
                Step::Handled => {}
                Step::Control(_, c) => self.control(c).map_err(|e| RunError::from((seed, e)))?,
                Step::Idle | Step::Horizon => break,
            }
            let notes = self.kernel.notes();
            if notes.len() > notes_seen {
                for n in &notes[notes_seen..] {
                    on_note(n);
                }
                notes_seen = notes.len();
            }
            let now = self.kernel.now().0;
            if now - last_progress >= SimTime::NANOS_PER_SEC {
                last_progress = now;
                self.drain_history(Some(self.kernel.now()));
                progress(self.kernel.now());
            }
        }
        progress(end);
        Ok(self.finish(quiet_from, end))
    }

    /// Moves the clients' history events recorded before `before` (all of them when `None`)
    /// into the run's history, merged in history order, so a long run holds each event once
    /// and the clients' lists stay short. A client records an event at the time it happens,
    /// so an event recorded later is never earlier than `before`: the history only grows at
    /// its end.
    fn drain_history(&mut self, before: Option<SimTime>) {
        let mut incoming = 0;
        for i in 0..self.kernel.len() {
            if let Node::Client(c) = self.kernel.process_mut(ProcessId(i as u32)) {
                incoming += c.events_before(before);
            }
        }
        if self.history.capacity() - self.history.len() < incoming {
            // Growing would copy every event so far: make room at once for as many as the
            // run is on course to record (events so far, scaled to the whole duration), so a
            // steady run copies its history about once, while it is short. Room that is never
            // used is never touched, so it costs no memory; if the system refuses it, the
            // history grows by doubling.
            let held = self.history.len() + incoming;
            let elapsed = self.kernel.now().0.max(1);
            let projected = (held as u128 * u128::from(self.scenario.duration_ns)
                / u128::from(elapsed))
            .min(usize::MAX as u128) as usize;
            // A quarter more than projected, and at least twice what is held: a run whose
            // pace picks up still copies its history only a few times.
            let room = projected
                .saturating_add(projected / 4)
                .max(held.saturating_mul(2));
            let _ = self.history.try_reserve_exact(room - self.history.len());
        }
        let start = self.history.len();
        for i in 0..self.kernel.len() {
            if let Node::Client(c) = self.kernel.process_mut(ProcessId(i as u32)) {
                c.move_events_before(before, &mut self.history);
            }
        }
        // Each client's events are in time order and carry its own process: a stable sort of
        // the new ones by (time, process) merges them exactly as `History::merge` would (the
        // sort finds the clients' runs and merges them).
        self.history[start..].sort_by_key(|e| (e.time_ns, e.process));
        if let (Some(last), Some(first)) = (
            start.checked_sub(1).map(|l| &self.history[l]),
            self.history.get(start),
        ) {
            assert!(
                (last.time_ns, last.process) <= (first.time_ns, first.process),
                "history events drained in order"
            );
        }
    }

    fn control(&mut self, c: Control) -> Result<(), KernelError> {
        match c {
            Control::FaultStart(i) => {
                self.faults.start(&mut self.kernel, i)?;
                if let crate::fault::FaultKind::Reshard {
                    from,
                    to,
                    first,
                    last,
                    batch,
                    interval_ns,
                    timeout_ms,
                } = self.faults.specs()[i].kind
                {
                    let r = reshard::Resharder {
                        from,
                        to,
                        next: first,
                        last,
                        batch,
                        interval_ns,
                        timeout_ms,
                    };
                    self.reshards.insert(i, r);
                    let now = self.kernel.now();
                    self.kernel.schedule_control(now, Control::ReshardStep(i))?;
                }
            }
            Control::ReshardStep(i) => {
                let next = match self.reshards.get_mut(&i) {
                    Some(r) => r.step(&mut self.kernel)?,
                    None => None,
                };
                match next {
                    Some(at) if at.0 <= self.scenario.duration_ns => {
                        self.kernel.schedule_control(at, Control::ReshardStep(i))?
                    }
                    _ => {
                        self.reshards.remove(&i);
                    }
                }
            }
            Control::FaultHeal(i) => self.faults.heal(&mut self.kernel, i)?,
            Control::OperatorCheck => {
                let Some(p) = self.operator.as_mut() else {
                    return Ok(());
                };
                p.check(&mut self.kernel, &mut self.faults)?;
                let next = self.kernel.now().plus(p.interval_ns());
                if next.0 <= self.scenario.duration_ns {
                    self.kernel.schedule_control(next, Control::OperatorCheck)?;
                }
            }
            Control::FinalHeal => {
                self.faults.heal_all(&mut self.kernel)?;
                self.kernel.note(Fact::QuietPhase);
            }
            Control::Sample => {
                self.sample();
                let next = self.kernel.now().plus(SAMPLE_INTERVAL_NS);
                if next.0 <= self.scenario.duration_ns {
                    self.kernel.schedule_control(next, Control::Sample)?;
                }
            }
        }
        Ok(())
    }

    fn sample(&mut self) {
        let now = self.kernel.now();
        self.checkpoints.push((now, self.kernel.trace().value()));
        let mut samples = Vec::with_capacity(self.server_ids.len());
        let mut obuf = std::collections::BTreeMap::new();
        for &id in &self.server_ids {
            if let Node::Server(s) = self.kernel.process(id) {
                let links = self.kernel.links();
                let unsent = |to| links.queued_bytes(id, to);
                obuf.extend(s.replica_output_buffers(&unsent));
            }
        }
        let clients = self.clients_per_server();
        for (i, &id) in self.server_ids.iter().enumerate() {
            let state = self.kernel.state(id);
            let Node::Server(s) = self.kernel.process(id) else {
                unreachable!("server ids hold servers")
            };
            samples.push(ServerSample {
                up: state == ProcessState::Running,
                is_master: s.role() == Role::Master,
                offset: s.repl().offset,
                link_up: s.link_up(),
                keys: s.keyspace().len() as u64,
                repl_buffer_bytes: Some(s.replication_buffer_memory()),
                output_buffer_bytes: Some(if s.role() == Role::Master {
                    0
                } else {
                    obuf.get(&id).copied().unwrap_or(0)
                }),
                vitals: sampled_vitals(s, &self.server_ids, clients[i]),
            });
        }
        self.metrics.push(now, samples);
    }

    /// How many workload clients have their connection open to each server (in server order).
    fn clients_per_server(&self) -> Vec<u64> {
        let mut n = vec![0; self.server_ids.len()];
        for i in 0..self.kernel.len() {
            if let Node::Client(c) = self.kernel.process(ProcessId(i as u32))
                && let Some(to) = c.connection()
                && let Some(s) = self.server_ids.iter().position(|&id| id == to)
            {
                n[s] += 1;
            }
        }
        n
    }

    fn finish(mut self, quiet_from: SimTime, end: SimTime) -> RunOutput {
        let mut servers = Vec::new();
        for &id in &self.server_ids {
            let Node::Server(s) = self.kernel.process(id) else {
                unreachable!("server ids hold servers")
            };
            servers.push(ServerFinal {
                name: s.name().to_string(),
                is_master: s.role() == Role::Master,
                master: match s.role() {
                    Role::Replica(m) => Some(
                        self.names
                            .get(m.index())
                            .cloned()
                            .unwrap_or_else(|| "(an address no server has)".into()),
                    ),
                    Role::Master => None,
                },
                up: self.kernel.state(id) == ProcessState::Running,
                link_up: s.link_up(),
                offset: s.repl().offset,
                replid: s.repl().replid.to_string(),
                position: s.position(),
                keyspace: s.keyspace().clone(),
                stats: s.stats().clone(),
                vitals: s.vitals().at_end(),
                slot_owners: s.cluster().map(|c| slot_ranges(c.view(), &self.names)),
            });
        }
        self.drain_history(None);
        let mut redirects = std::collections::BTreeMap::new();
        for i in 0..self.kernel.len() {
            if let Node::Client(c) = self.kernel.process_mut(ProcessId(i as u32)) {
                for (pattern, n) in c.redirects() {
                    *redirects.entry(pattern.clone()).or_default() += n;
                }
            }
        }
        RunOutput {
            seed: self.seed,
            trace_hash: self.kernel.trace().hex(),
            sim_time: end,
            events: self.kernel.delivered(),
            history: History {
                events: self.history,
            },
            notes: self.kernel.notes().to_vec(),
            servers,
            faults: self.faults.into_records(),
            metrics: self.metrics,
            quiet_from,
            network_bytes: self.kernel.links().bytes_sent(),
            checkpoints: self.checkpoints,
            redirects,
        }
    }
}

/// A server's vitals as `INFO` would show them now (read only: sampling schedules nothing).
fn sampled_vitals(s: &Server, server_ids: &[ProcessId], clients: u64) -> SampledVitals {
    let v = s.vitals();
    let primary = match s.role() {
        Role::Replica(m) => server_ids.iter().position(|&id| id == m),
        Role::Master => None,
    };
    SampledVitals {
        primary,
        reads: Some(v.reads),
        writes: Some(v.writes),
        replicated: Some(v.replicated),
        keyspace_hits: Some(v.keyspace_hits),
        keyspace_misses: Some(v.keyspace_misses),
        connected_clients: Some(clients),
        used_memory_bytes: Some(s.used_memory_estimate()),
        fsync_lag_bytes: s.fsync_lag_bytes(),
    }
}

//! `--backend real`: one scenario run against real `redis-server`/`redis-sentinel` processes on
//! loopback, every node behind its link proxy, the workloads as real RESP clients, the faults on
//! a wall-clock schedule, and the observations turned into the same history, facts and final
//! states as a simulated run, so the same checkers, expectations and summary judge it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::check::{self, Evidence, FinalState};
use crate::fact::{Fact, FactNote};
use crate::fault::FaultRecord;
use crate::history::History;
use crate::metrics::Metrics;
use crate::scenario::Scenario;

use super::cluster;
use super::directory::Directory;
use super::faults::{FaultContext, FaultDriver};
use super::plan::{self, Addresses};
use super::proxy::{Network, Service};
use super::resp::{Connection, Reply};
use super::supervisor::{
    Binaries, Monitor, RealError, RedisVersion, SentinelSpec, ServerSpec, Supervisor,
};
use super::watch::{self, Watcher};
use super::workload::{self, ClientEnv, ClientPlan, scaled};

/// How often the observer polls INFO and the logs, and the fault schedule is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Timeout of the observer's final reads.
const FINAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Choices for a real run.
#[derive(Clone, Debug)]
pub struct RealOptions {
    /// Scenario time to wall time: 1.0 runs in real time; 0.1 runs a 300 s scenario in 30 s.
    /// It scales the schedule (duration, quiet phase, fault times, workload start and stop) but
    /// not Redis's or Sentinel's own timeouts, so it changes what the run shows: use it only
    /// when the scenario's timings leave room.
    pub time_scale: f64,
    /// The binaries; `None` looks on `PATH`.
    pub binaries: Option<Binaries>,
    /// The second octet of the run's loopback addresses (`127.S.x.y`); `None` picks one per run.
    pub subnet: Option<u8>,
}

impl Default for RealOptions {
    fn default() -> Self {
        RealOptions {
            time_scale: 1.0,
            binaries: None,
            subnet: None,
        }
    }
}

/// One server at the end of a real run.
#[derive(Clone, Debug, PartialEq)]
pub struct RealServerFinal {
    /// Its name.
    pub name: String,
    /// Running and answering.
    pub up: bool,
    /// A primary.
    pub is_master: bool,
    /// Its primary, if a replica.
    pub master: Option<String>,
    /// `master_link_status:up`.
    pub link_up: bool,
    /// `master_repl_offset`.
    pub offset: u64,
    /// `master_replid` (empty when unknown).
    pub replid: String,
    /// Every string key and value (`SCAN` and `MGET`).
    pub data: BTreeMap<String, String>,
    /// Every set key and its members (`SMEMBERS`).
    pub sets: BTreeMap<String, BTreeSet<String>>,
    /// Commands, keyspace hits, latency percentiles and the slow log, from `INFO` and
    /// `SLOWLOG GET` (`None` when the server did not answer).
    pub vitals: Option<crate::server::VitalsAtEnd>,
    /// A Redis Cluster node's slot map at the end (`CLUSTER NODES`), as the model's final
    /// states carry it; `None` outside a cluster or when it did not answer.
    pub slot_owners: Option<Vec<crate::cluster::slot::SlotRange>>,
}

/// Everything a real run produced.
#[derive(Clone, Debug)]
pub struct RealRun {
    /// The seed (it draws keys, operation mixes and the nemesis, not the timing).
    pub seed: u64,
    /// The redis-server version.
    pub version: RedisVersion,
    /// The client history (times: wall-clock ns since the run started).
    pub history: History,
    /// The facts, in time order.
    pub notes: Vec<FactNote>,
    /// Final server states, in scenario order.
    pub servers: Vec<RealServerFinal>,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Per-second samples.
    pub metrics: Metrics,
    /// Wall time the run covered, in ns.
    pub duration_ns: u64,
    /// When the quiet phase began, in ns.
    pub quiet_from_ns: u64,
    /// The time scale used.
    pub time_scale: f64,
    /// What the run reproduced only in part (see `plan::warnings`).
    pub warnings: Vec<String>,
    /// Redis Cluster redirections the clients followed, by pattern (`MOVED <slot> c2r1`).
    pub redirects: BTreeMap<String, u64>,
}

impl RealRun {
    /// The checkers' view of the final states.
    pub fn finals(&self) -> Vec<FinalState> {
        self.servers
            .iter()
            .map(|s| FinalState {
                name: s.name.clone(),
                is_master: s.is_master,
                master: s.master.clone(),
                up: s.up,
                link_up: s.link_up,
                position: (!s.replid.is_empty()).then(|| crate::history::Position {
                    replid: s.replid.as_str().into(),
                    offset: s.offset,
                    unstreamed: 0,
                }),
                data: s.data.clone(),
                sets: s.sets.clone(),
                slot_owners: s.slot_owners.clone(),
            })
            .collect()
    }

    /// Runs every checker, as for a simulated run.
    pub fn check(&self) -> check::Findings {
        let finals = self.finals();
        check::run_all(&Evidence {
            history: &self.history,
            notes: &self.notes,
            finals: &finals,
        })
    }
}

static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

fn subnet(opts: &RealOptions) -> u8 {
    opts.subnet.unwrap_or_else(|| {
        // Distinct runs of one process get distinct addresses (a run's proxies tell nodes
        // apart by address); 100..=227, away from the 127.0.x.y others use.
        100 + NEXT_SUBNET.fetch_add(1, Ordering::Relaxed) % 128
    })
}

/// Runs `scenario` with `seed` against real processes.
pub fn run_real(scenario: &Scenario, seed: u64, opts: &RealOptions) -> Result<RealRun, RealError> {
    if !(opts.time_scale > 0.0 && opts.time_scale.is_finite()) {
        return Err(RealError::Unsupported(format!(
            "time scale {} must be a positive number",
            opts.time_scale
        )));
    }
    let faults = plan::schedule(scenario, seed);
    let refused = plan::refusals(scenario, &faults);
    if !refused.is_empty() {
        return Err(RealError::Unsupported(refused.join("; ")));
    }
    let binaries = match &opts.binaries {
        Some(b) => b.clone(),
        None => Binaries::from_path().ok_or(RealError::NotInstalled)?,
    };
    let version = binaries.version()?;
    let addrs = Addresses {
        subnet: subnet(opts),
    };
    Supervisor::scope(binaries, |sup| {
        let net = Network::new();
        let dir = start_nodes(scenario, addrs, sup, &net, &faults)?;
        let mut run = Running::new(scenario, seed, opts, addrs, dir, sup, faults)?;
        run.drive(sup, &net)?;
        let mut out = run.finish(sup)?;
        out.version = version;
        Ok(out)
    })
}

/// Starts every proxy, server and sentinel, and returns the directory of names and addresses.
fn start_nodes(
    s: &Scenario,
    addrs: Addresses,
    sup: &mut Supervisor,
    net: &Network,
    faults: &[crate::fault::FaultSpec],
) -> Result<Directory, RealError> {
    let names = plan::process_names(s);
    let nodes = s.servers.len() + s.sentinels.len();
    let mut dir = Directory::new(names.clone(), s.servers.len(), s.sentinels.len());
    let io = |what: &str| {
        let what = what.to_string();
        move |e| RealError::Io(what, e)
    };
    let members = s.cluster.as_ref().map(cluster::members).unwrap_or_default();
    let mut bus_proxies = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        if i < nodes {
            net.add_node(name, addrs.node(i));
            let proxy = net.listen(name, addrs.proxy(i)).map_err(io("a proxy"))?;
            dir.add_proxy(name, proxy);
            if members.contains(&i) {
                let bus = net
                    .listen_service(name, addrs.proxy(i), Service::Bus)
                    .map_err(io("a bus proxy"))?;
                bus_proxies.insert(i, bus);
            }
        } else {
            net.add_node(name, addrs.client(i - nodes));
        }
    }
    // A proxy of its own for every MIGRATE link the schedule uses (see `Network::listen_for`).
    for (from, to) in plan::migrate_links(faults) {
        let (f, t) = (&names[from], &names[to]);
        let route = net
            .listen_for(t, addrs.proxy(to), f)
            .map_err(io("a MIGRATE proxy"))?;
        dir.add_migrate_route(f, t, route);
    }
    for (i, v) in s.servers.iter().enumerate() {
        let mut spec = server_spec(v, addrs.node(i), &dir);
        if let (Some(c), Some(bus)) = (&s.cluster, bus_proxies.get(&i)) {
            cluster_spec(&mut spec, &c.config, &dir, *bus);
        }
        let at = sup.start_server(&spec)?;
        net.route(&v.name, at).map_err(io("a proxy route"))?;
        if let Some(bus) = sup.bus_addr(&v.name)? {
            net.route_service(&v.name, Service::Bus, bus)
                .map_err(io("a bus proxy route"))?;
        }
        dir.add_addr(&v.name, at);
    }
    set_base_latency(s, net, &names);
    if let Some(c) = &s.cluster {
        let first = bus_proxies[&c.shards[0].primary];
        cluster::form(s, sup, &mut dir, addrs.observer(), first)?;
    }
    for (j, v) in s.sentinels.iter().enumerate() {
        let i = s.servers.len() + j;
        let spec = sentinel_spec(v, addrs.node(i), &dir);
        let at = sup.start_sentinel(&spec)?;
        net.route(&v.name, at).map_err(io("a proxy route"))?;
        dir.add_addr(&v.name, at);
        let from = SocketAddr::new(addrs.observer().into(), 0);
        let id = Connection::connect(from, at, FINAL_TIMEOUT)
            .ok()
            .and_then(|mut c| watch::run_id(&mut c));
        if let Some(id) = id {
            dir.add_run_id(&v.name, &id);
        }
    }
    Ok(dir)
}

/// A Redis Cluster node: the cluster knobs, no `replicaof` (refused in cluster mode: replicas
/// follow `CLUSTER REPLICATE`), and its proxies announced as its address and bus port
/// (`cluster-announce-ip`, `-port`, `-bus-port`), so peers and clients (MOVED, CLUSTER SLOTS)
/// reach it only through them.
fn cluster_spec(
    spec: &mut ServerSpec,
    config: &crate::cluster::node::ClusterConfig,
    dir: &Directory,
    bus_proxy: SocketAddr,
) {
    let me = dir.proxy(&spec.name).expect("every node has a proxy");
    spec.replicaof = None;
    spec.cluster_bus = true;
    spec.extra.extend(plan::cluster_knobs(config));
    spec.extra.extend([
        ("cluster-announce-ip".to_string(), me.ip().to_string()),
        ("cluster-announce-port".to_string(), me.port().to_string()),
        (
            "cluster-announce-bus-port".to_string(),
            bus_proxy.port().to_string(),
        ),
    ]);
}

fn server_spec(
    v: &crate::scenario::ServerSpec,
    ip: std::net::Ipv4Addr,
    dir: &Directory,
) -> ServerSpec {
    let mut spec = ServerSpec::new(&v.name, ip);
    spec.extra = plan::server_knobs(&v.config);
    spec.replicaof = v.replicaof.and_then(|p| dir.proxy_of(p));
    let me = dir.proxy(&v.name).expect("every node has a proxy");
    spec.replica_announce_ip = match me.ip() {
        std::net::IpAddr::V4(a) => Some(a),
        std::net::IpAddr::V6(_) => None,
    };
    spec.replica_announce_port = Some(me.port());
    spec
}

fn sentinel_spec(
    v: &crate::scenario::SentinelSpec,
    ip: std::net::Ipv4Addr,
    dir: &Directory,
) -> SentinelSpec {
    let monitors = v
        .monitors
        .iter()
        .map(|m| Monitor {
            primary_name: m.name.clone(),
            addr: dir.proxy_of(m.master.index()).expect("a server's proxy"),
            quorum: m.quorum,
            down_after_milliseconds: Some(m.down_after_ns / 1_000_000),
            failover_timeout: Some(m.failover_timeout_ns / 1_000_000),
            parallel_syncs: Some(m.parallel_syncs),
        })
        .collect();
    let me = dir.proxy(&v.name).expect("every node has a proxy");
    SentinelSpec {
        name: v.name.clone(),
        ip,
        monitors,
        announce_ip: match me.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        },
        announce_port: Some(me.port()),
        extra: vec![],
    }
}

/// The region of every process, in process order.
fn regions(s: &Scenario) -> Vec<usize> {
    let mut r: Vec<usize> = s.servers.iter().map(|v| v.region).collect();
    r.extend(s.sentinels.iter().map(|v| v.region));
    for w in &s.workloads {
        r.extend((0..w.clients).map(|_| w.region));
    }
    r
}

/// The topology's one-way latency of every directed link that has one.
fn base_latency(s: &Scenario, names: &[String]) -> BTreeMap<(String, String), Duration> {
    let r = regions(s);
    let mut out = BTreeMap::new();
    for (a, ra) in r.iter().enumerate() {
        for (b, rb) in r.iter().enumerate() {
            let ns = s.topology.path(*ra, *rb).latency_ns;
            if a != b && ns > 0 {
                out.insert(
                    (names[a].clone(), names[b].clone()),
                    Duration::from_nanos(ns),
                );
            }
        }
    }
    out
}

fn set_base_latency(s: &Scenario, net: &Network, names: &[String]) {
    for ((a, b), latency) in base_latency(s, names) {
        net.set_latency(&a, &b, latency);
    }
}

/// A run in progress.
struct Running<'s> {
    scenario: &'s Scenario,
    seed: u64,
    scale: f64,
    addrs: Addresses,
    dir: Directory,
    watch: Watcher,
    driver: FaultDriver,
    clients: Vec<std::thread::JoinHandle<workload::ClientOutput>>,
    start: Instant,
}

impl<'s> Running<'s> {
    fn new(
        s: &'s Scenario,
        seed: u64,
        opts: &RealOptions,
        addrs: Addresses,
        dir: Directory,
        sup: &Supervisor,
        faults: Vec<crate::fault::FaultSpec>,
    ) -> Result<Running<'s>, RealError> {
        let start = Instant::now();
        let mut servers = Vec::new();
        for v in &s.servers {
            let n = sup.node(&v.name)?;
            servers.push((v.name.clone(), n.addr, n.log_path()));
        }
        let mut sentinels = Vec::new();
        for v in &s.sentinels {
            sentinels.push((v.name.clone(), sup.node(&v.name)?.log_path()));
        }
        let mut watch = Watcher::new(dir.clone(), start, addrs.observer(), servers, sentinels);
        if let Some(c) = &s.cluster {
            let members: Vec<String> = cluster::members(c)
                .into_iter()
                .map(|i| s.servers[i].name.clone())
                .collect();
            watch.watch_cluster(&members);
        }
        let base = base_latency(s, &dir.names);
        let driver = FaultDriver::new(faults, opts.time_scale, base, addrs.observer());
        let env = ClientEnv {
            start,
            dir: Arc::new(dir.clone()),
            time_scale: opts.time_scale,
            seed,
        };
        let clients = spawn_clients(s, addrs, &env);
        Ok(Running {
            scenario: s,
            seed,
            scale: opts.time_scale,
            addrs,
            dir,
            watch,
            driver,
            clients,
            start,
        })
    }

    /// The safety phase (faults on schedule), then the quiet phase (all healed) to the end.
    fn drive(&mut self, sup: &mut Supervisor, net: &Network) -> Result<(), RealError> {
        let end = scaled(self.scenario.duration_ns, self.scale);
        let quiet = scaled(
            self.scenario
                .duration_ns
                .saturating_sub(self.scenario.quiet_ns),
            self.scale,
        );
        let mut quiet_started = false;
        loop {
            let now = self.start.elapsed();
            if now >= end {
                break;
            }
            let mut cx = FaultContext {
                sup: &mut *sup,
                net,
                dir: &self.dir,
                watch: &mut self.watch,
                observer: self.addrs.observer(),
            };
            if now >= quiet && !quiet_started {
                quiet_started = true;
                self.driver.heal_all(&mut cx)?;
                self.watch.note_world(Fact::QuietPhase);
            } else if !quiet_started {
                self.driver.tick(now, &mut cx)?;
            }
            let driver = &self.driver;
            self.watch.poll(&|n| driver.reachable(n));
            std::thread::sleep(POLL_INTERVAL.min(end.saturating_sub(self.start.elapsed())));
        }
        self.driver.stop(&mut self.watch);
        Ok(())
    }

    fn finish(self, sup: &mut Supervisor) -> Result<RealRun, RealError> {
        let mut events = Vec::new();
        let mut redirects = BTreeMap::new();
        for c in self.clients {
            let out = c.join().unwrap_or_default();
            events.extend(out.events);
            for (pattern, n) in out.redirects {
                *redirects.entry(pattern).or_default() += n;
            }
        }
        let duration_ns = self.start.elapsed().as_nanos() as u64;
        let mut servers = Vec::new();
        for v in &self.scenario.servers {
            let up = self.driver.reachable(&v.name);
            let cluster = self.scenario.cluster.is_some();
            let mut f = final_state(sup, &self.dir, &v.name, up, self.addrs, cluster)?;
            if f.up {
                let elapsed = self.start.elapsed();
                f.vitals = final_vitals(sup, &v.name, self.addrs, !f.is_master, elapsed);
            }
            servers.push(f);
        }
        let faults = self.driver.records();
        let (notes, metrics) = self.watch.finish();
        Ok(RealRun {
            seed: self.seed,
            version: RedisVersion {
                major: 0,
                minor: 0,
                patch: 0,
            },
            history: History::merge(events),
            notes,
            servers,
            faults,
            metrics,
            duration_ns,
            quiet_from_ns: scaled(
                self.scenario
                    .duration_ns
                    .saturating_sub(self.scenario.quiet_ns),
                self.scale,
            )
            .as_nanos() as u64,
            time_scale: self.scale,
            warnings: plan::warnings(self.scenario),
            redirects,
        })
    }
}

fn spawn_clients(
    s: &Scenario,
    addrs: Addresses,
    env: &ClientEnv,
) -> Vec<std::thread::JoinHandle<workload::ClientOutput>> {
    let first = s.servers.len() + s.sentinels.len();
    let mut j = 0;
    let mut out = Vec::new();
    for w in &s.workloads {
        for index in 0..w.clients {
            let plan = ClientPlan {
                process: (first + j) as u32,
                index,
                spec: w.spec.clone(),
                from: addrs.client(j),
            };
            out.push(workload::spawn(plan, env.clone()));
            j += 1;
        }
    }
    out
}

/// A server's role, link and whole dataset, read directly (not through its proxy).
fn final_state(
    sup: &Supervisor,
    dir: &Directory,
    name: &str,
    up: bool,
    addrs: Addresses,
    cluster: bool,
) -> Result<RealServerFinal, RealError> {
    let mut out = RealServerFinal {
        name: name.to_string(),
        up: false,
        is_master: false,
        master: None,
        link_up: false,
        offset: 0,
        replid: String::new(),
        data: BTreeMap::new(),
        sets: BTreeMap::new(),
        vitals: None,
        slot_owners: None,
    };
    if !up {
        return Ok(out);
    }
    let Ok(mut c) = sup.connect(name, addrs.observer(), FINAL_TIMEOUT) else {
        return Ok(out);
    };
    let info = c
        .cmd(&["INFO", "replication"])
        .ok()
        .and_then(|r| r.as_text())
        .and_then(|t| super::info::ReplicationInfo::parse(&t).ok());
    let Some(info) = info else {
        return Ok(out);
    };
    out.up = true;
    out.offset = info.master_repl_offset;
    out.replid = info.master_replid.clone();
    out.is_master = info.replica.is_none();
    if let Some(r) = &info.replica {
        out.master = Some(dir.name_at(&r.master_host, r.master_port));
        out.link_up = r.master_link_up && !r.sync_in_progress;
    }
    if cluster {
        out.slot_owners = c
            .cmd(&["CLUSTER", "NODES"])
            .ok()
            .and_then(|r| r.as_text())
            .map(|t| slot_ranges(&super::reshard::NodesView::parse(&t), dir));
        // A cluster replica answers reads of its primary's slots only after READONLY (else
        // -MOVED); a primary ignores it.
        let _ = c.cmd(&["READONLY"]);
    }
    (out.data, out.sets) = dataset(&mut c, cluster);
    Ok(out)
}

/// A node's view of who serves every slot, as ranges of one owner (or none), by name.
fn slot_ranges(
    view: &super::reshard::NodesView,
    dir: &Directory,
) -> Vec<crate::cluster::slot::SlotRange> {
    let slots = crate::cluster::slot::CLUSTER_SLOTS;
    let mut owner: Vec<Option<String>> = vec![None; usize::from(slots)];
    for (first, last, id) in &view.owners {
        for slot in *first..=(*last).min(slots - 1) {
            owner[usize::from(slot)] = Some(dir.cluster_node_named(id));
        }
    }
    let mut out: Vec<crate::cluster::slot::SlotRange> = Vec::new();
    for (slot, o) in owner.into_iter().enumerate() {
        match out.last_mut() {
            Some(r) if r.owner == o => r.last = slot as u16,
            _ => out.push(crate::cluster::slot::SlotRange {
                first: slot as u16,
                last: slot as u16,
                owner: o,
            }),
        }
    }
    out
}

/// A server's vitals at the end of a run: `INFO` (stats, commandstats, latencystats) and the
/// whole slow log (`SLOWLOG GET -1`), whose Unix-second stamps are made relative to the run's
/// start by the server's own `TIME`, `elapsed` after that start.
fn final_vitals(
    sup: &Supervisor,
    name: &str,
    addrs: Addresses,
    is_replica: bool,
    elapsed: Duration,
) -> Option<crate::server::VitalsAtEnd> {
    let mut c = sup.connect(name, addrs.observer(), FINAL_TIMEOUT).ok()?;
    let now_unix_s = match c.cmd(&["TIME"]).ok()? {
        super::resp::Reply::Array(Some(t)) => t.first()?.as_text()?.parse::<u64>().ok()?,
        _ => return None,
    };
    let start_unix_s = now_unix_s.saturating_sub(elapsed.as_secs());
    let mut args = vec!["INFO"];
    args.extend(super::vitals::SECTIONS);
    let text = c.cmd(&args).ok()?.as_text()?;
    let info = super::vitals::InfoVitals::parse(&text);
    let slowlog = c
        .cmd(&["SLOWLOG", "GET", "-1"])
        .map(|r| super::vitals::slowlog_entries(&r, start_unix_s))
        .unwrap_or_default();
    Some(info.at_end(is_replica, slowlog))
}

/// The keys of one SCAN batch as MGETs: all at once, or per slot in a Redis Cluster.
fn key_groups(keys: Vec<String>, cluster: bool) -> Vec<Vec<String>> {
    if keys.is_empty() {
        return Vec::new();
    }
    if !cluster {
        return vec![keys];
    }
    let mut by_slot: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for k in keys {
        let slot = crate::cluster::slot::key_hash_slot(k.as_bytes());
        by_slot.entry(slot).or_default().push(k);
    }
    by_slot.into_values().collect()
}

/// Every string key and value by `SCAN` and `MGET`, and every set by `SMEMBERS` (other types are skipped).
type Dataset = (BTreeMap<String, String>, BTreeMap<String, BTreeSet<String>>);

/// In a Redis Cluster, keys are read one slot at a time (an MGET across slots is refused with
/// -CROSSSLOT); a key of a slot the node does not serve (answered -MOVED) is left out.
fn dataset(c: &mut Connection, cluster: bool) -> Dataset {
    let mut data = BTreeMap::new();
    let mut sets = BTreeMap::new();
    let mut cursor = "0".to_string();
    // A bound on the loop: SCAN returns every key in at most a few passes over the table.
    for _ in 0..1_000_000 {
        let Ok(Reply::Array(Some(parts))) = c.cmd(&["SCAN", &cursor, "COUNT", "1000"]) else {
            break;
        };
        let (Some(next), Some(Reply::Array(Some(keys)))) = (parts.first(), parts.get(1)) else {
            break;
        };
        let keys: Vec<String> = keys.iter().filter_map(Reply::as_text).collect();
        for group in key_groups(keys, cluster) {
            let mut args: Vec<&str> = vec!["MGET"];
            args.extend(group.iter().map(String::as_str));
            if let Ok(Reply::Array(Some(values))) = c.cmd(&args) {
                for (k, v) in group.iter().zip(values) {
                    if let Some(v) = v.as_text() {
                        data.insert(k.clone(), v);
                    } else if let Ok(Reply::Array(Some(members))) = c.cmd(&["SMEMBERS", k]) {
                        // MGET answers nil for a key of another type: sets are read whole.
                        let members: BTreeSet<String> =
                            members.iter().filter_map(Reply::as_text).collect();
                        if !members.is_empty() {
                            sets.insert(k.clone(), members);
                        }
                    }
                }
            }
        }
        cursor = next.as_text().unwrap_or_default();
        if cursor == "0" {
            break;
        }
    }
    (data, sets)
}

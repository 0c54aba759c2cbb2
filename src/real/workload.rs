//! Workload clients against real servers: one thread per client, each a RESP connection from its
//! own loopback address through the servers' proxies, generating keys and values as the
//! simulator's clients do (`client.rs`: keys `k<N>`/`c<N>`/`l<N>` behind the workload's prefix,
//! values unique per write), finding the primary through `SENTINEL get-master-addr-by-name` when
//! the workload uses sentinels, and recording every operation in simkv's history format with
//! wall-clock nanoseconds since the run started.
//!
//! Like the simulated client, a client follows `+switch-master` from the sentinels it asked (a
//! subscriber thread per sentinel, through that sentinel's proxy) and asks again after an error
//! or a timeout. Difference: arrivals of an open-loop workload are evenly spaced at the rate (not
//! Poisson).
//!
//! A Redis Cluster client (`discovery = "cluster"`) works as the simulated one (client.rs): it
//! reads the slot map with `CLUSTER SLOTS` at start, sends each key to its slot's owner, follows
//! `-MOVED` (updating its map) and `-ASK` (`ASKING` first) at most `MAX_REDIRECTS` times, forgets
//! a slot's owner after a timeout or a broken connection (the next command on it goes to the next
//! node in turn, which answers `-MOVED`), and records any other error as a failure with Redis's
//! text. Difference: it keeps one connection per node, as cluster client libraries do (the
//! simulated client holds one at a time).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::RngExt;
use serde_json::Value;

use crate::client::{
    Follow, KeyDistribution, MAX_REDIRECTS, OpKind, SlotMap, Target, WorkloadSpec,
};
use crate::cluster::redirect::RedirectText;
use crate::cluster::slot::key_hash_slot;
use crate::history::{EventType, HistoryEvent};
use crate::sim::{RngStreams, SimRng};

use super::directory::Directory;
use super::resp::{Connection, Reply, RespError};

/// How long a client waits for a sentinel's answer before asking the next one.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause before retrying when no server could be reached.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How many times a real client tries each final read of a set workload.
const FINAL_READ_ATTEMPTS: u32 = 50;

/// What every client of a run shares.
#[derive(Clone)]
pub struct ClientEnv {
    /// When the run started (time zero of the history).
    pub start: Instant,
    /// Node names and proxy addresses.
    pub dir: Arc<Directory>,
    /// Scenario time to wall time (1.0: real time).
    pub time_scale: f64,
    /// The run's seed.
    pub seed: u64,
}

/// One client of a workload.
pub struct ClientPlan {
    /// Its process number in the history.
    pub process: u32,
    /// Its index within the workload.
    pub index: u32,
    /// The workload.
    pub spec: WorkloadSpec,
    /// The address it connects from.
    pub from: Ipv4Addr,
}

/// Scales a scenario time to wall time.
pub fn scaled(ns: u64, scale: f64) -> Duration {
    Duration::from_nanos((ns as f64 * scale) as u64)
}

/// What a client thread hands back: its history events, and the cluster redirections it
/// followed by pattern (`MOVED <slot> c2r1`).
#[derive(Debug, Default)]
pub struct ClientOutput {
    /// The history events.
    pub events: Vec<HistoryEvent>,
    /// Redirections followed, by pattern.
    pub redirects: BTreeMap<String, u64>,
}

/// Starts the client on its own thread; the thread returns the client's output.
pub fn spawn(plan: ClientPlan, env: ClientEnv) -> std::thread::JoinHandle<ClientOutput> {
    std::thread::spawn(move || Client::new(plan, env).run())
}

struct Client {
    plan: ClientPlan,
    env: ClientEnv,
    rng: SimRng,
    zipf: Vec<u64>,
    next_id: u64,
    primary: Option<SocketAddr>,
    /// The latest `+switch-master` target heard from a subscribed sentinel, not yet taken.
    pushed: Arc<Mutex<Option<SocketAddr>>>,
    /// Sentinels subscribed to, and the flag that stops their threads.
    subscribed: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    subscribers: Vec<std::thread::JoinHandle<()>>,
    conn: Option<(SocketAddr, Connection)>,
    /// A cluster client's other connections, one per node it talked to.
    idle: BTreeMap<SocketAddr, Connection>,
    sentinel_turn: usize,
    events: Vec<HistoryEvent>,
    /// A cluster client's slot map (owners by process index).
    slots: Option<SlotMap>,
    /// The next node to ask about a slot whose owner is unknown.
    probe: usize,
    /// The slot of the operation in progress (a cluster client forgets its owner on a timeout).
    slot: Option<u16>,
    /// Redirections followed, by pattern.
    redirects: BTreeMap<String, u64>,
}

/// How an operation ended.
struct Outcome {
    kind: EventType,
    value: Value,
    error: Option<String>,
    /// What an MGET read of its other keys.
    more: Vec<Value>,
}

impl Client {
    fn new(plan: ClientPlan, env: ClientEnv) -> Client {
        let label = format!("client/{}/{}", plan.spec.name, plan.index);
        let rng = RngStreams::new(env.seed).stream(&label);
        let zipf = zipf_cdf(plan.spec.keys);
        let primary = match plan.spec.target {
            Target::Server(p) => env.dir.proxy_of(p.index()),
            Target::Sentinels(_) | Target::Cluster(_) => None,
        };
        let slots = match &plan.spec.target {
            Target::Cluster(map) => Some((**map).clone()),
            _ => None,
        };
        Client {
            plan,
            env,
            rng,
            zipf,
            next_id: 0,
            primary,
            conn: None,
            idle: BTreeMap::new(),
            slots,
            probe: 0,
            slot: None,
            redirects: BTreeMap::new(),
            sentinel_turn: 0,
            pushed: Arc::new(Mutex::new(None)),
            subscribed: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            subscribers: Vec::new(),
            events: Vec::new(),
        }
    }

    fn now(&self) -> Duration {
        self.env.start.elapsed()
    }

    fn run(mut self) -> ClientOutput {
        let s = self.env.time_scale;
        let start = scaled(self.plan.spec.start_ns, s);
        let stop = scaled(self.plan.spec.stop_ns, s);
        let gap = self
            .plan
            .spec
            .rate_per_sec
            .map(|r| Duration::from_nanos(1_000_000_000 / r.max(1)));
        let think = Duration::from_nanos(self.plan.spec.think_ns.max(1));
        // Spread client start times over one millisecond, as the simulated clients do.
        let mut next = start + Duration::from_micros(self.rng.random_range(0..1000u64));
        if self.slots.is_some() {
            self.read_slot_map();
        }
        if let (Target::Sentinels(sentinels), Follow::Push) =
            (&self.plan.spec.target, self.plan.spec.follow)
        {
            let addrs: Vec<SocketAddr> = sentinels
                .iter()
                .filter_map(|s| self.env.dir.proxy_of(s.index()))
                .collect();
            for addr in addrs {
                self.subscribe(addr);
            }
        }
        while next < stop {
            if let Some(wait) = next.checked_sub(self.now()) {
                std::thread::sleep(wait);
            }
            if self.now() >= stop {
                break;
            }
            let issued = self.one_operation(None).is_some();
            next = match (gap, issued) {
                (Some(g), true) => next + g,
                (None, true) => self.now() + think,
                (_, false) => self.now() + RETRY_PAUSE,
            };
        }
        if let Some(at) = self.plan.spec.final_reads_ns {
            self.final_reads(scaled(at, s));
        }
        self.stop.store(true, Ordering::Relaxed);
        for t in self.subscribers.drain(..) {
            let _ = t.join();
        }
        ClientOutput {
            events: self.events,
            redirects: self.redirects,
        }
    }

    /// The final reads of a set workload, as the simulated clients do them: `SMEMBERS` of every
    /// set in turn from `at`, each retried until it succeeds (at most [`FINAL_READ_ATTEMPTS`]
    /// times, so that a primary that never comes back cannot hold the run).
    fn final_reads(&mut self, at: Duration) {
        if let Some(wait) = at.checked_sub(self.now()) {
            std::thread::sleep(wait);
        }
        for n in 0..self.plan.spec.keys {
            for _ in 0..FINAL_READ_ATTEMPTS {
                if self.one_operation(Some(n)) == Some(EventType::Ok) {
                    break;
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    }

    /// Issues one operation (the final read of set `final_read`, if given); `None` when no
    /// server could be reached (nothing was recorded), else how it completed.
    fn one_operation(&mut self, final_read: Option<u32>) -> Option<EventType> {
        let pushed = self.pushed.lock().unwrap_or_else(|e| e.into_inner()).take();
        if pushed.is_some() {
            self.primary = pushed;
        }
        let kind = match final_read {
            Some(_) => OpKind::Smembers,
            None => self.pick_kind(),
        };
        let key_index = match final_read {
            Some(n) => n,
            None => self.pick_key_index(),
        };
        let spec = &self.plan.spec;
        // A multi-key command's keys, named as the simulated client names them.
        let keys: Vec<String> = match kind.is_multi_key() {
            true => (0..spec.multi_keys)
                .map(|i| match spec.hash_tags {
                    true => format!("{}m{{{key_index}}}.{i}", spec.key_prefix),
                    false => format!("{}m{key_index}.{i}", spec.key_prefix),
                })
                .collect(),
            false => vec![format!("{}{}{key_index}", spec.key_prefix, kind.family())],
        };
        let key = keys[0].clone();
        let target = self.target(kind, &key)?;
        self.next_id += 1;
        let value = matches!(
            kind,
            OpKind::Set | OpKind::Append | OpKind::Sadd | OpKind::Mset
        )
        .then(|| self.unique_value());
        let mut values = vec![value.clone()];
        for _ in 1..keys.len() {
            values.push((kind == OpKind::Mset).then(|| {
                self.next_id += 1;
                self.unique_value()
            }));
        }
        let written: Vec<Value> = values
            .iter()
            .map(|v| v.clone().map_or(Value::Null, Value::from))
            .collect();
        self.record_each(EventType::Invoke, kind, &keys, &written, None, None);
        let (mut to, mut asking, mut redirects) = (target, false, 0);
        loop {
            let server = Some(self.env.dir.name_of(&to.to_string()));
            // A command whose connection cannot be opened is never sent: it fails (as a client
            // library's call raises at once on ECONNREFUSED), and the simulated clients record
            // the same when a killed server's port refuses them.
            if let Err(e) = self.connect(to) {
                self.lose_primary();
                let why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    _ => format!("cannot connect: {e}"),
                };
                let nulls = vec![Value::Null; keys.len()];
                self.record_each(EventType::Fail, kind, &keys, &nulls, server, Some(why));
                return Some(EventType::Fail);
            }
            let outcome = match asking {
                true => match self.call(&["ASKING"]) {
                    Ok(_) => self.execute(kind, &keys, &values),
                    Err(o) => o,
                },
                false => self.execute(kind, &keys, &values),
            };
            if outcome.kind == EventType::Fail
                && redirects < MAX_REDIRECTS
                && let Some(next) = outcome.error.as_deref().and_then(|e| self.follow(e))
            {
                (to, asking) = next;
                redirects += 1;
                continue;
            }
            let completed = outcome.kind;
            // The other keys complete with the first: an MSET's written values (where the
            // first key's is recorded), an MGET's reads.
            let mut done = vec![outcome.value.clone()];
            done.extend((1..keys.len()).map(|i| match (kind, outcome.kind) {
                (OpKind::Mget, EventType::Ok) => {
                    outcome.more.get(i - 1).cloned().unwrap_or(Value::Null)
                }
                (OpKind::Mset, _) if !outcome.value.is_null() => written[i].clone(),
                _ => Value::Null,
            }));
            self.record_each(outcome.kind, kind, &keys, &done, server, outcome.error);
            return Some(completed);
        }
    }

    /// Where an operation on `key` goes: its slot's owner for a cluster client, a replica for
    /// the reads of a workload that reads from one, else the primary.
    fn target(&mut self, kind: OpKind, key: &str) -> Option<SocketAddr> {
        if self.slots.is_some() {
            if matches!(kind, OpKind::Get | OpKind::Mget) && self.plan.spec.read_from_replicas {
                return self.cluster_replica(key);
            }
            return self.cluster_node(key);
        }
        let reader = match (kind, self.plan.spec.read_from) {
            (OpKind::Get, Some(p)) => self.env.dir.proxy_of(p.index()),
            _ => None,
        };
        reader.or_else(|| self.find_primary())
    }

    /// The owner of `key`'s slot in the map, or the next node in turn when it is unknown.
    fn cluster_node(&mut self, key: &str) -> Option<SocketAddr> {
        let slot = key_hash_slot(key.as_bytes());
        self.slot = Some(slot);
        let map = self.slots.as_ref()?;
        let node = match map.owners[usize::from(slot)] {
            Some(owner) => owner,
            None => {
                let n = map.nodes.get(self.probe % map.nodes.len().max(1))?.1;
                self.probe += 1;
                n
            }
        };
        self.env.dir.proxy_of(node.index())
    }

    /// A replica of the owner of `key`'s slot (each client keeps to one, by its index), as
    /// the simulated client picks it; the owner when the map lists none.
    fn cluster_replica(&mut self, key: &str) -> Option<SocketAddr> {
        let map = self.slots.as_ref()?;
        let slot = key_hash_slot(key.as_bytes());
        let owner = map.owners[usize::from(slot)];
        match owner.and_then(|o| map.replicas.get(&o)) {
            Some(r) if !r.is_empty() => {
                self.slot = Some(slot);
                let node = r[self.plan.index as usize % r.len()];
                self.env.dir.proxy_of(node.index())
            }
            _ => self.cluster_node(key),
        }
    }

    /// Follows `-MOVED <slot> <ip>:<port>` (the map learns the new owner) or `-ASK ...` (the
    /// retry is preceded by `ASKING`): the node to retry on and whether to ask first, or `None`
    /// when `text` is neither or names a node the client does not know.
    fn follow(&mut self, text: &str) -> Option<(SocketAddr, bool)> {
        let r = RedirectText::parse(text)?;
        let map = self.slots.as_mut()?;
        let name = self.env.dir.name_of(r.endpoint);
        let node = map.nodes.iter().find(|(n, _)| *n == name)?.1;
        let addr = self.env.dir.proxy_of(node.index())?;
        if r.kind == "MOVED" {
            map.owners[usize::from(r.slot)] = Some(node);
        }
        *self.redirects.entry(r.pattern(&name)).or_default() += 1;
        if r.kind == "MOVED" {
            // As the simulated client (and Jedis's renewSlotCache): one MOVED renews the whole
            // map, from the node it names.
            self.read_slot_map_from(addr);
        }
        Some((addr, r.kind == "ASK"))
    }

    /// `CLUSTER SLOTS` from the node at `addr`; the map stays as it is when it does not answer.
    /// Whether the node answered with a map.
    fn read_slot_map_from(&mut self, addr: SocketAddr) -> bool {
        let Some(map) = self.slots.as_ref() else {
            return false;
        };
        let from = SocketAddr::new(self.plan.from.into(), 0);
        let Ok(mut c) = Connection::connect(from, addr, DISCOVERY_TIMEOUT) else {
            return false;
        };
        let Ok(reply) = c.cmd(&["CLUSTER", "SLOTS"]) else {
            return false;
        };
        let Some((owners, replicas)) = slot_owners(&reply, &self.env.dir, map) else {
            return false;
        };
        let map = self.slots.as_mut().expect("checked");
        map.owners = owners;
        map.replicas = replicas;
        true
    }

    /// `CLUSTER SLOTS` from the first node that answers (through its proxy): the owner of every
    /// slot, as the simulated client's map starts. The scenario's map stays when none answers.
    fn read_slot_map(&mut self) {
        let Some(map) = self.slots.as_ref() else {
            return;
        };
        for (_, p) in map.nodes.clone() {
            let Some(addr) = self.env.dir.proxy_of(p.index()) else {
                continue;
            };
            if self.read_slot_map_from(addr) {
                return;
            }
        }
    }

    fn execute(&mut self, kind: OpKind, keys: &[String], values: &[Option<String>]) -> Outcome {
        let (key, value) = (keys[0].as_str(), values[0].as_deref());
        let words: Vec<&str> = match (kind, value) {
            (OpKind::Mset, _) => std::iter::once("MSET")
                .chain(
                    keys.iter()
                        .zip(values)
                        .flat_map(|(k, v)| [k.as_str(), v.as_deref().unwrap_or_default()]),
                )
                .collect(),
            (OpKind::Mget, _) => std::iter::once("MGET")
                .chain(keys.iter().map(String::as_str))
                .collect(),
            (OpKind::Set, Some(v)) => vec!["SET", key, v],
            (OpKind::Append, Some(v)) => vec!["APPEND", key, v],
            (OpKind::Get, _) => vec!["GET", key],
            (OpKind::Incr, _) => vec!["INCR", key],
            (OpKind::Sadd, Some(v)) => vec!["SADD", key, v],
            (OpKind::Smembers, _) => vec!["SMEMBERS", key],
            _ => vec!["DEL", key],
        };
        let reply = match self.call(&words) {
            Ok(r) => r,
            Err(o) => return o,
        };
        if let Some(e) = reply.error() {
            if e.starts_with("READONLY") || e.starts_with("MASTERDOWN") {
                self.lose_primary();
            }
            // Every error these commands get is raised before they run: they did not happen.
            return outcome(EventType::Fail, Value::Null, Some(e.to_string()));
        }
        let read = |r: &Reply| match r {
            Reply::Bulk(Some(b)) => Value::from(String::from_utf8_lossy(b).into_owned()),
            _ => Value::Null,
        };
        let mut more = Vec::new();
        let output = match (&reply, kind) {
            (Reply::Array(Some(items)), OpKind::Mget) => {
                more = items.iter().skip(1).map(read).collect();
                items.first().map_or(Value::Null, read)
            }
            (Reply::Bulk(Some(b)), _) => Value::from(String::from_utf8_lossy(b).into_owned()),
            (Reply::Integer(n), OpKind::Incr) => Value::from(*n),
            (Reply::Array(Some(items)), OpKind::Smembers) => {
                // Sorted, as simkv's SMEMBERS answers (Redis answers in hash-table order).
                let mut members: Vec<String> = items.iter().filter_map(Reply::as_text).collect();
                members.sort();
                Value::Array(members.into_iter().map(Value::from).collect())
            }
            (_, OpKind::Set | OpKind::Append | OpKind::Sadd | OpKind::Mset) => {
                value.map_or(Value::Null, Value::from)
            }
            _ => Value::Null,
        };
        let done = match (kind, self.plan.spec.wait) {
            (OpKind::Get | OpKind::Smembers | OpKind::Mget, _) | (_, None) => {
                outcome(EventType::Ok, output, None)
            }
            (_, Some((n, timeout_ms))) => self.wait(n, timeout_ms, output),
        };
        Outcome { more, ..done }
    }

    /// `WAIT n timeout` after an acknowledged write: fewer replicas than asked is indeterminate.
    fn wait(&mut self, n: u32, timeout_ms: u64, output: Value) -> Outcome {
        let extra = Duration::from_millis(timeout_ms);
        let base = Duration::from_nanos(self.plan.spec.timeout_ns);
        if let Some((_, c)) = self.conn.as_mut() {
            let _ = c.set_timeout(base + extra);
        }
        let reply = self.call(&["WAIT", &n.to_string(), &timeout_ms.to_string()]);
        if let Some((_, c)) = self.conn.as_mut() {
            let _ = c.set_timeout(base);
        }
        match reply {
            Ok(Reply::Integer(got)) if got >= i64::from(n) => outcome(EventType::Ok, output, None),
            Ok(_) => outcome(
                EventType::Info,
                output,
                Some("WAIT returned fewer replicas than asked".into()),
            ),
            Err(o) => o,
        }
    }

    /// One command on the current connection; a timeout or a broken connection is
    /// indeterminate and drops the connection (a late reply must not answer the next command).
    fn call(&mut self, words: &[&str]) -> Result<Reply, Outcome> {
        let Some((_, c)) = self.conn.as_mut() else {
            return Err(outcome(
                EventType::Info,
                Value::Null,
                Some("no connection".into()),
            ));
        };
        match c.cmd(words) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.conn = None;
                self.lose_primary();
                let why = if e.is_timeout() {
                    "timeout"
                } else {
                    "connection closed"
                };
                Err(outcome(EventType::Info, Value::Null, Some(why.into())))
            }
        }
    }

    fn connect(&mut self, to: SocketAddr) -> std::io::Result<()> {
        if self.conn.as_ref().is_some_and(|(a, _)| *a == to) {
            return Ok(());
        }
        if let Some((at, c)) = self.conn.take()
            && self.slots.is_some()
        {
            self.idle.insert(at, c);
        }
        if let Some(c) = self.idle.remove(&to) {
            self.conn = Some((to, c));
            return Ok(());
        }
        let timeout = Duration::from_nanos(self.plan.spec.timeout_ns.max(1_000_000));
        let from = SocketAddr::new(self.plan.from.into(), 0);
        match Connection::connect(from, to, timeout) {
            Ok(mut c) => {
                // A cluster client that reads from replicas sends READONLY on every node
                // connection it opens (go-redis `ReadOnly`); a failure shows in the reads.
                if self.slots.is_some() && self.plan.spec.read_from_replicas {
                    let _ = c.cmd(&["READONLY"]);
                }
                self.conn = Some((to, c));
                Ok(())
            }
            Err(RespError::Io(e)) => Err(e),
            Err(RespError::Protocol(m)) => Err(std::io::Error::other(m)),
        }
    }

    /// Forgets the primary so that the next operation asks the sentinels, unless the client
    /// follows only pushes (`follow = "push"`); a cluster client forgets the owner of the
    /// operation's slot instead.
    fn lose_primary(&mut self) {
        if matches!(self.plan.spec.target, Target::Sentinels(_))
            && self.plan.spec.follow.asks_after_errors()
        {
            self.primary = None;
        }
        if let (Some(map), Some(slot)) = (self.slots.as_mut(), self.slot) {
            map.owners[usize::from(slot)] = None;
        }
    }

    /// The primary's proxy address, asking the sentinels in turn when it is not known.
    fn find_primary(&mut self) -> Option<SocketAddr> {
        if self.primary.is_some() {
            return self.primary;
        }
        let Target::Sentinels(sentinels) = &self.plan.spec.target else {
            return None;
        };
        let sentinels = sentinels.clone();
        for _ in 0..sentinels.len() {
            let s = sentinels[self.sentinel_turn % sentinels.len()];
            let addr = self.env.dir.proxy_of(s.index())?;
            if let Some(p) = ask_sentinel(self.plan.from, addr, &self.plan.spec.master_name) {
                self.primary = Some(p);
                // `both` hears the sentinels it asked; `push` subscribed to all of them at
                // start; `reconnect` never subscribes.
                if self.plan.spec.follow == Follow::Both {
                    self.subscribe(addr);
                }
                return Some(p);
            }
            self.sentinel_turn += 1;
        }
        None
    }

    /// Follows `+switch-master` pushes of the sentinel at `addr` from now on.
    fn subscribe(&mut self, addr: SocketAddr) {
        if self.subscribed.contains(&addr) {
            return;
        }
        self.subscribed.push(addr);
        let (from, name) = (self.plan.from, self.plan.spec.master_name.clone());
        let (pushed, stop) = (self.pushed.clone(), self.stop.clone());
        self.subscribers.push(std::thread::spawn(move || {
            follow_switches(from, addr, &name, &pushed, &stop)
        }));
    }

    fn pick_kind(&mut self) -> OpKind {
        let total: u32 = self.plan.spec.mix.iter().map(|(_, w)| w).sum();
        let mut r = self.rng.random_range(0..total.max(1));
        for &(k, w) in &self.plan.spec.mix {
            if r < w {
                return k;
            }
            r -= w;
        }
        self.plan.spec.mix[0].0
    }

    fn pick_key_index(&mut self) -> u32 {
        let keys = self.plan.spec.keys.max(1);
        match self.plan.spec.distribution {
            KeyDistribution::Uniform => self.rng.random_range(0..keys),
            KeyDistribution::Zipfian => {
                let total = *self.zipf.last().expect("at least one key");
                let r = self.rng.random_range(0..total);
                self.zipf.partition_point(|&c| c <= r) as u32
            }
            KeyDistribution::Hot {
                hot_keys,
                share_percent,
            } => {
                let hot = hot_keys.clamp(1, keys);
                if self.rng.random_range(0..100) < share_percent || hot == keys {
                    self.rng.random_range(0..hot)
                } else {
                    self.rng.random_range(hot..keys)
                }
            }
        }
    }

    fn unique_value(&self) -> String {
        let p = &self.plan;
        let mut v = format!("{}.{}.{}|", p.spec.name, p.index, self.next_id);
        while v.len() < p.spec.value_size {
            v.push('x');
        }
        v
    }

    /// Records one event per key (a multi-key command is one operation per key).
    fn record_each(
        &mut self,
        kind: EventType,
        op: OpKind,
        keys: &[String],
        values: &[Value],
        server: Option<String>,
        error: Option<String>,
    ) {
        for (key, value) in keys.iter().zip(values) {
            self.record(kind, op, key, value.clone(), server.clone(), error.clone());
        }
    }

    fn record(
        &mut self,
        kind: EventType,
        op: OpKind,
        key: &str,
        value: Value,
        server: Option<String>,
        error: Option<String>,
    ) {
        // Real writes carry no replication position (the final-value judgement applies).
        self.events.push(
            HistoryEvent::new(
                self.plan.process,
                kind,
                op.name(),
                key.into(),
                value.into(),
                self.now().as_nanos() as u64,
            )
            .with_server(server.map(Into::into))
            .with_error(error.map(Into::into)),
        );
    }
}

fn outcome(kind: EventType, value: Value, error: Option<String>) -> Outcome {
    Outcome {
        kind,
        value,
        error,
        more: Vec::new(),
    }
}

/// The owners and replicas of a `CLUSTER SLOTS` reply.
type SlotOwners = (
    Vec<Option<crate::sim::ProcessId>>,
    BTreeMap<crate::sim::ProcessId, Vec<crate::sim::ProcessId>>,
);

/// The owner of every slot in a `CLUSTER SLOTS` reply (`[[start, end, [ip, port, id], ...
/// replicas], ...]`) and the replicas listed beside each owner, nodes named through the
/// directory; `None` for a reply of another shape.
fn slot_owners(reply: &Reply, dir: &Directory, map: &SlotMap) -> Option<SlotOwners> {
    let Reply::Array(Some(ranges)) = reply else {
        return None;
    };
    let mut owners = vec![None; map.owners.len()];
    let mut replicas: BTreeMap<crate::sim::ProcessId, Vec<crate::sim::ProcessId>> = BTreeMap::new();
    let node_of = |entry: &Reply| {
        let Reply::Array(Some(e)) = entry else {
            return None;
        };
        let (Some(ip), Some(Reply::Integer(port))) = (e.first().and_then(Reply::as_text), e.get(1))
        else {
            return None;
        };
        let name = dir.name_at(&ip, u16::try_from(*port).ok()?);
        map.nodes.iter().find(|(n, _)| *n == name).map(|n| n.1)
    };
    for range in ranges {
        let Reply::Array(Some(parts)) = range else {
            return None;
        };
        let (
            Some(Reply::Integer(first)),
            Some(Reply::Integer(last)),
            Some(Reply::Array(Some(owner))),
        ) = (parts.first(), parts.get(1), parts.get(2))
        else {
            return None;
        };
        let node = node_of(&Reply::Array(Some(owner.clone())))?;
        let listed = parts[3..].iter().filter_map(node_of).collect();
        replicas.insert(node, listed);
        let (first, last) = (usize::try_from(*first).ok()?, usize::try_from(*last).ok()?);
        for slot in owners.get_mut(first..=last)? {
            *slot = Some(node);
        }
    }
    Some((owners, replicas))
}

/// `SENTINEL get-master-addr-by-name`: the primary's address as the sentinel knows it.
pub fn ask_sentinel(from: Ipv4Addr, sentinel: SocketAddr, name: &str) -> Option<SocketAddr> {
    let from = SocketAddr::new(from.into(), 0);
    let mut c = Connection::connect(from, sentinel, DISCOVERY_TIMEOUT).ok()?;
    let reply = c.cmd(&["SENTINEL", "get-master-addr-by-name", name]).ok()?;
    let Reply::Array(Some(parts)) = reply else {
        return None;
    };
    let ip = parts.first()?.as_text()?;
    let port = parts.get(1)?.as_text()?;
    format!("{ip}:{port}").parse().ok()
}

/// Reads `+switch-master` messages for primary `name` until `stop`, reconnecting when the
/// connection breaks; each one sets `pushed` to the new primary's address.
fn follow_switches(
    from: Ipv4Addr,
    sentinel: SocketAddr,
    name: &str,
    pushed: &Mutex<Option<SocketAddr>>,
    stop: &AtomicBool,
) {
    let source = SocketAddr::new(from.into(), 0);
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = Connection::connect(source, sentinel, DISCOVERY_TIMEOUT) else {
            std::thread::sleep(RETRY_PAUSE);
            continue;
        };
        if c.cmd(&["SUBSCRIBE", "+switch-master"]).is_err() {
            continue;
        }
        let _ = c.set_timeout(RETRY_PAUSE);
        while !stop.load(Ordering::Relaxed) {
            match c.read_reply() {
                Ok(m) => {
                    if let Some(to) = switch_target(&m, name) {
                        *pushed.lock().unwrap_or_else(|e| e.into_inner()) = Some(to);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
}

/// The new primary in a `+switch-master` message (`name old-ip old-port new-ip new-port`).
fn switch_target(m: &Reply, name: &str) -> Option<SocketAddr> {
    let Reply::Array(Some(parts)) = m else {
        return None;
    };
    let payload = parts.get(2)?.as_text()?;
    let w: Vec<&str> = payload.split_whitespace().collect();
    let [n, _, _, ip, port] = w.as_slice() else {
        return None;
    };
    (*n == name).then(|| format!("{ip}:{port}").parse().ok())?
}

fn zipf_cdf(keys: u32) -> Vec<u64> {
    const SCALE: u64 = 1 << 40;
    let mut acc = 0;
    (1..=u64::from(keys.max(1)))
        .map(|i| {
            acc += SCALE / i;
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_compresses_the_schedule() {
        assert_eq!(scaled(10_000_000_000, 0.5), Duration::from_secs(5));
        assert_eq!(scaled(3_000, 1.0), Duration::from_nanos(3_000));
    }

    #[test]
    fn switch_messages_name_the_new_primary() {
        let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
        let m = Reply::Array(Some(vec![
            bulk("message"),
            bulk("+switch-master"),
            bulk("mymaster 127.1.1.1 7000 127.1.1.2 7001"),
        ]));
        assert_eq!(
            switch_target(&m, "mymaster"),
            Some("127.1.1.2:7001".parse().unwrap())
        );
        assert_eq!(switch_target(&m, "other"), None);
    }

    #[test]
    fn zipf_weights_favour_low_keys() {
        let c = zipf_cdf(4);
        assert_eq!(c.len(), 4);
        assert!(c[0] > c[1] - c[0]);
    }
}

//! Workload clients: closed-loop (one operation, wait, think, next) or open-loop (Poisson arrivals
//! at a rate, queued while the previous operation is outstanding), over chosen key distributions
//! and operation mixes, with optional `WAIT` after each write. Every operation is recorded as an
//! invoke and a completion: a timeout or a lost connection is `info`, never assumed failed.
//! Workloads that add to sets end as Jepsen's set workload does: every client reads every set
//! once the faults have healed (the final reads), retrying until one read of each set succeeds.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use rand::RngExt;

use crate::cluster::redirect::RedirectText;
use crate::cluster::slot::key_hash_slot;
use crate::history::{EventType, HistoryEvent, Position, ServerName, Text, Value};
use crate::proto::Msg;
use crate::redis::{Command, Reply};
use crate::sim::{Ctx, FastHash, ProcessId, SimTime};

const TIMER_NEXT: u64 = 1 << 56;
const TIMER_TIMEOUT: u64 = 2 << 56;
const TIMER_ARRIVAL: u64 = 3 << 56;
const TIMER_DISCOVER: u64 = 4 << 56;
const TIMER_FINAL_READS: u64 = 5 << 56;
/// How long a client waits before retrying a final read that failed.
const FINAL_READ_RETRY_NS: u64 = 100_000_000;
/// How long a client waits for a sentinel's answer before asking the next one.
const DISCOVERY_TIMEOUT_NS: u64 = 1_000_000_000;
const TIMER_KIND_MASK: u64 = 0xff << 56;
/// The most arrivals an open-loop client queues before it drops them (and counts the drops).
pub const MAX_QUEUED_ARRIVALS: usize = 10_000;

/// The operations a workload can mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// `SET k<n> <unique value>` on register keys.
    Set,
    /// `GET k<n>` on register keys.
    Get,
    /// `INCR c<n>` on counter keys.
    Incr,
    /// `APPEND l<n> <unique token>` on append keys.
    Append,
    /// `DEL k<n>` on register keys.
    Del,
    /// `SADD s<n> <unique member>` on set keys.
    Sadd,
    /// `SMEMBERS s<n>`: only in the final reads, never drawn from the mix.
    Smembers,
    /// `MSET` of the `multi_keys` keys of group `m{<n>}` (hash-tagged), a unique value each.
    Mset,
    /// `MGET` of the `multi_keys` keys of group `m{<n>}`.
    Mget,
}

impl OpKind {
    /// The name as written in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Set => "set",
            OpKind::Get => "get",
            OpKind::Incr => "incr",
            OpKind::Append => "append",
            OpKind::Del => "del",
            OpKind::Sadd => "sadd",
            OpKind::Smembers => "smembers",
            OpKind::Mset => "mset",
            OpKind::Mget => "mget",
        }
    }
    /// The kinds a mix may draw, in scenario-file order.
    pub const ALL: [OpKind; 8] = [
        OpKind::Set,
        OpKind::Get,
        OpKind::Incr,
        OpKind::Append,
        OpKind::Del,
        OpKind::Sadd,
        OpKind::Mset,
        OpKind::Mget,
    ];
    /// The letter of the key family the kind works on (`k<n>`, `c<n>`, `l<n>`, `s<n>`,
    /// `m{<n>}.<i>`).
    pub fn family(self) -> &'static str {
        match self {
            OpKind::Set | OpKind::Get | OpKind::Del => "k",
            OpKind::Incr => "c",
            OpKind::Append => "l",
            OpKind::Sadd | OpKind::Smembers => "s",
            OpKind::Mset | OpKind::Mget => "m",
        }
    }
    /// Whether the kind writes (and so may be followed by `WAIT`).
    pub fn is_write(self) -> bool {
        !matches!(self, OpKind::Get | OpKind::Smembers | OpKind::Mget)
    }
    /// Whether the kind names several keys (`MSET`, `MGET`).
    pub fn is_multi_key(self) -> bool {
        matches!(self, OpKind::Mset | OpKind::Mget)
    }
}

/// How keys are chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// Key `i` (1-based) with weight `1/i` (Zipf with exponent 1, computed in integers so every
    /// platform draws the same keys).
    Zipfian,
    /// `share_percent` of operations go to the first `hot_keys` keys, the rest uniformly.
    Hot {
        /// Number of hot keys.
        hot_keys: u32,
        /// Percentage of operations on them.
        share_percent: u32,
    },
}

/// How clients find the server to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Always this server.
    Server(ProcessId),
    /// Ask these sentinels (`SENTINEL get-master-addr-by-name`), trying the next on a timeout;
    /// ask again after a `-READONLY`, a timeout or a closed connection, and follow
    /// `+switch-master` pushes.
    Sentinels(Vec<ProcessId>),
    /// A Redis Cluster: send each key to the owner of its slot in the client's map, follow
    /// `-MOVED` (update the map, retry there) and `-ASK` (`ASKING`, retry once there).
    Cluster(std::sync::Arc<SlotMap>),
}

/// A cluster client's slot map (`CLUSTER SLOTS`) and the nodes it can reach by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    /// Every node's name (the host of `-MOVED` and `-ASK`) and process.
    pub nodes: Vec<(String, ProcessId)>,
    /// The owner of each of the 16384 slots, `None` when the client no longer trusts its entry.
    pub owners: Vec<Option<ProcessId>>,
    /// The replicas `CLUSTER SLOTS` lists beside each owner's slots, by owner.
    pub replicas: BTreeMap<ProcessId, Vec<ProcessId>>,
}

/// Redirections followed for one operation before it fails (`redis-cli -c`, Jedis
/// `maxAttempts`: 5).
pub const MAX_REDIRECTS: u32 = 5;

/// How a sentinel-aware client learns that the primary moved: what real client libraries do
/// differs, and so does what a failover or a split brain costs them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Follow {
    /// Subscribes to `+switch-master` on every sentinel at start and moves only when one
    /// pushes it; after an error or a closed connection it reconnects to the primary it knows
    /// (Jedis's `JedisSentinelPool`, whose `MasterListener` subscribes to each sentinel).
    Push,
    /// Never subscribes; asks the sentinels (`get-master-addr-by-name`) again for every new
    /// connection: after `-READONLY`, `-MASTERDOWN`, a timeout or a closed connection (redis-py's
    /// `SentinelConnectionPool`).
    Reconnect,
    /// Both: follows the pushes of the sentinels it asked and asks again after an error.
    #[default]
    Both,
}

impl Follow {
    /// Whether the client asks the sentinels again when its connection fails.
    pub fn asks_after_errors(self) -> bool {
        matches!(self, Follow::Reconnect | Follow::Both)
    }
}

/// A workload: what its clients do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// The workload's name.
    pub name: String,
    /// Where clients send their commands.
    pub target: Target,
    /// Operations per second per client for open loop; `None` for closed loop.
    pub rate_per_sec: Option<u64>,
    /// Closed loop: pause between an operation's completion and the next one.
    pub think_ns: u64,
    /// Number of keys of each family.
    pub keys: u32,
    /// Prepended to every key (so workloads can use separate keys).
    pub key_prefix: String,
    /// Send reads (GET) to this server instead of the primary (reading from a replica).
    pub read_from: Option<ProcessId>,
    /// Cluster clients: send reads (GET, MGET) to a replica of the slot's primary, on connections
    /// that sent `READONLY` (go-redis `ReadOnly`, Lettuce `ReadFrom.REPLICA_PREFERRED`).
    pub read_from_replicas: bool,
    /// The primary's name for sentinel discovery (`get-master-addr-by-name`).
    pub master_name: String,
    /// How a sentinel-aware client follows a failover.
    pub follow: Follow,
    /// Key choice.
    pub distribution: KeyDistribution,
    /// Operation mix as (kind, weight).
    pub mix: Vec<(OpKind, u32)>,
    /// Bytes of each written value (at least the unique token's length).
    pub value_size: usize,
    /// Keys per `MSET`/`MGET`.
    pub multi_keys: u32,
    /// Whether the keys of one `MSET`/`MGET` share a hash tag (`m{<n>}.<i>`, one slot), or not
    /// (`m<n>.<i>`: in a cluster, `-CROSSSLOT`).
    pub hash_tags: bool,
    /// `WAIT numreplicas timeout_ms` after every acknowledged write.
    pub wait: Option<(u32, u64)>,
    /// `WAITAOF numlocal numreplicas timeout_ms` after every acknowledged write (Redis 7.2).
    pub waitaof: Option<(u32, u32, u64)>,
    /// Time after which an unanswered operation is recorded as `info`.
    pub timeout_ns: u64,
    /// When clients start.
    pub start_ns: u64,
    /// When clients stop issuing new operations.
    pub stop_ns: u64,
    /// When clients read every set (`SMEMBERS s<n>` for every n), for workloads that add to
    /// sets.
    pub final_reads_ns: Option<u64>,
}

#[derive(Clone, Debug)]
struct Pending {
    id: u64,
    kind: OpKind,
    key: Rc<str>,
    /// The key and the written value as the history holds them (shared by both events).
    key_text: Text,
    value_text: Option<Text>,
    /// A multi-key command's other keys with their written values (history texts), and for
    /// `MGET` what was read of them once it answered.
    more: Vec<(Text, Option<Text>)>,
    more_output: Vec<Value>,
    waiting_for_wait: bool,
    output: Value,
    /// Where the write landed, from its reply.
    at: Option<crate::redis::Mark>,
    /// The command, for a retry after a redirection.
    cmd: Command,
    /// Redirections followed so far.
    redirects: u32,
    /// The server the command (or its WAIT) went to.
    sent_to: ProcessId,
}

/// One client process of a workload.
#[derive(Clone, Debug)]
pub struct Client {
    spec: Rc<WorkloadSpec>,
    index: u32,
    zipf_cdf: Rc<Vec<u64>>,
    next_id: u64,
    pending: Option<Pending>,
    /// The server this client's connection goes to (the last one it sent a command to).
    connected_to: Option<ProcessId>,
    /// Set when that connection was closed while the client was idle: a client library reads
    /// nothing while idle, so it learns only when its next command there fails.
    connection_closed: bool,
    arrivals: VecDeque<SimTime>,
    dropped_arrivals: u64,
    events: Vec<HistoryEvent>,
    servers: Rc<Vec<Text>>,
    /// The interned id of each process that answered this client (`None` inside: the table
    /// of names is full), looked up at its first answer.
    server_ids: Vec<Option<Option<ServerName>>>,
    /// The values last written to each key by any client of the run, for reads to share.
    written: Rc<std::cell::RefCell<WrittenValues>>,
    /// The strings this client's history repeats (command names, keys, error texts), held
    /// once: lookups only, by content.
    texts: BTreeSet<Text>,
    /// Each key this client has used, by family and number: the command's copy and the
    /// history's.
    /// Each key named so far, by family and number (looked up, never iterated).
    #[allow(clippy::disallowed_types)]
    keys: std::collections::HashMap<(&'static str, u32), (Rc<str>, Text), FastHash>,
    /// `<workload>.<index>.`: how every value this client writes begins.
    value_prefix: String,
    /// Replication IDs as the history's positions hold them, held once.
    replids: BTreeMap<crate::redis::ReplId, Text>,
    me: u32,
    primary: Option<ProcessId>,
    asking: Option<u64>,
    sentinel_index: usize,
    /// Cluster discovery: this client's slot map.
    slots: Option<std::sync::Arc<SlotMap>>,
    /// Cluster discovery: the next node to ask about a slot whose owner is unknown.
    probe: usize,
    /// Cluster discovery: the `CLUSTER SLOTS` refresh in flight (request id, when sent).
    refresh: Option<(u64, SimTime)>,
    /// Cluster replica reads: the node whose current connection has sent `READONLY`.
    readonly_on: Option<ProcessId>,
    /// The final reads: the index of the next set to read, once they have begun.
    final_read: Option<u32>,
    /// Cluster redirections followed, by pattern (`MOVED <slot> c2r1`): an observation for
    /// `simkv diff`, not part of the history.
    redirects: BTreeMap<String, u64>,
}

/// The history's texts of the values last written (`SET`, `MSET`) to each key by the clients of
/// a run, so that a read returning one of them holds the writer's text instead of a copy of its
/// own: a read's value then costs no allocation, and the history of a long run is smaller by
/// one value per read (86 MB of `basic`'s 1.1 GB for one hour).
#[derive(Debug, Default)]
pub struct WrittenValues {
    /// Per key, the last two values written (a read may return the one before the latest
    /// while the latest is still on its way): looked up only.
    #[allow(clippy::disallowed_types)]
    by_key: std::collections::HashMap<Text, [Option<Text>; 2], FastHash>,
}

impl WrittenValues {
    /// Notes `value` as written to `key`.
    fn note(&mut self, key: &Text, value: &Text) {
        let last = self.by_key.entry(key.clone()).or_default();
        last[1] = last[0].replace(value.clone());
    }

    /// The history's text of `value`, read from `key`: a written one's when it is one of the
    /// last two written there, else a new one.
    fn text(&self, key: &str, value: &str) -> Text {
        self.by_key
            .get(key)
            .and_then(|last| last.iter().flatten().find(|t| t.as_str() == value))
            .cloned()
            .unwrap_or_else(|| Text::from(value))
    }
}

impl Client {
    /// A client; `servers[i]` names process `i` for the history's `server` field.
    pub fn new(
        spec: Rc<WorkloadSpec>,
        index: u32,
        servers: Rc<Vec<String>>,
        written: Rc<std::cell::RefCell<WrittenValues>>,
    ) -> Self {
        let zipf_cdf = Rc::new(zipf_cdf(spec.keys));
        let value_prefix = format!("{}.{index}.", spec.name);
        let primary = match &spec.target {
            Target::Server(p) => Some(*p),
            Target::Sentinels(_) | Target::Cluster(_) => None,
        };
        let slots = match &spec.target {
            Target::Cluster(map) => Some(map.clone()),
            _ => None,
        };
        Client {
            slots,
            probe: 0,
            refresh: None,
            readonly_on: None,
            primary,
            spec,
            index,
            zipf_cdf,
            next_id: 0,
            pending: None,
            connected_to: None,
            connection_closed: false,
            arrivals: VecDeque::new(),
            dropped_arrivals: 0,
            events: Vec::new(),
            servers: Rc::new(servers.iter().map(Text::from).collect()),
            server_ids: vec![None; servers.len()],
            written,
            texts: BTreeSet::new(),
            keys: Default::default(),
            value_prefix,
            replids: BTreeMap::new(),
            me: 0,
            asking: None,
            sentinel_index: 0,
            final_read: None,
            redirects: BTreeMap::new(),
        }
    }

    /// The cluster redirections this client followed, by pattern (`MOVED <slot> c2r1`).
    pub fn redirects(&self) -> &BTreeMap<String, u64> {
        &self.redirects
    }

    /// The history events this client recorded.
    pub fn events(&self) -> &[HistoryEvent] {
        &self.events
    }
    /// How many of the recorded history events happened before `before` (all of them when
    /// `None`): the first ones, as a client records each event at the time it happens.
    pub fn events_before(&self, before: Option<SimTime>) -> usize {
        match before {
            Some(t) => self.events.partition_point(|e| e.time_ns < t.0),
            None => self.events.len(),
        }
    }
    /// Moves the recorded history events that happened before `before` (all of them when
    /// `None`) to the end of `into`, in the order they were recorded.
    pub fn move_events_before(&mut self, before: Option<SimTime>, into: &mut Vec<HistoryEvent>) {
        let n = self.events_before(before);
        into.extend(self.events.drain(..n));
    }
    /// Open-loop arrivals dropped because the queue was full.
    pub fn dropped_arrivals(&self) -> u64 {
        self.dropped_arrivals
    }

    /// Starts the client.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.me = ctx.me().0;
        // Spread client start times over one millisecond so they do not move in lockstep.
        let offset = ctx.rng().random_range(0..1_000_000u64);
        let first = self.spec.start_ns + offset;
        let tag = if self.spec.rate_per_sec.is_some() {
            TIMER_ARRIVAL
        } else {
            TIMER_NEXT
        };
        ctx.set_timer(first.saturating_sub(ctx.now().0), tag);
        if let Some(at) = self.spec.final_reads_ns {
            ctx.set_timer(at.saturating_sub(ctx.now().0).max(1), TIMER_FINAL_READS);
        }
        if let (Target::Sentinels(sentinels), Follow::Push) = (&self.spec.target, self.spec.follow)
        {
            for &s in sentinels {
                let name = Rc::from(self.spec.master_name.as_str());
                ctx.send(s, Msg::Subscribe { name });
            }
        }
    }

    /// Handles a timer.
    pub fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        match tag & TIMER_KIND_MASK {
            TIMER_NEXT => self.issue(ctx),
            TIMER_ARRIVAL => self.on_arrival(ctx),
            TIMER_FINAL_READS => {
                self.final_read = Some(0);
                self.issue(ctx);
            }
            TIMER_DISCOVER => {
                if self.asking == Some(tag & !TIMER_KIND_MASK) {
                    self.asking = None;
                    self.sentinel_index += 1;
                    self.discover(ctx);
                }
            }
            TIMER_TIMEOUT => {
                let id = tag & !TIMER_KIND_MASK;
                if self.pending.as_ref().is_some_and(|p| p.id == id) {
                    self.lose_primary();
                    self.complete(ctx, EventType::Info, Value::Null, None, Some("timeout"));
                }
            }
            _ => unreachable!("unknown client timer {tag:#x}"),
        }
    }

    /// Handles a reply.
    pub fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        match msg {
            Msg::Reply { id, reply, at } => self.on_reply(ctx, from, id, reply, at),
            Msg::SlotsReply {
                id,
                ranges,
                replicas,
            } if self.refresh.is_some_and(|(r, _)| r == id) => {
                self.refresh = None;
                if let Some(map) = self.slots.as_mut() {
                    let map = std::sync::Arc::make_mut(map);
                    for &(first, last, owner) in ranges.iter() {
                        for slot in first..=last {
                            map.owners[usize::from(slot)] = owner;
                        }
                    }
                    map.replicas = replicas.iter().cloned().collect();
                }
            }
            Msg::MasterAddr { id, master } if self.asking == Some(id) => {
                self.asking = None;
                self.primary = master;
                if self.pending.is_none() {
                    self.issue(ctx);
                }
            }
            Msg::SwitchMaster { name, master } if *name == *self.spec.master_name => {
                self.primary = Some(master)
            }
            // A closed connection fails the command on it (it may or may not have run) and, for
            // a sentinel-aware client, sends it back to the sentinels (as after Sentinel's
            // CLIENT KILL on a reconfigured server). A close of another connection changes
            // nothing.
            Msg::Close { .. } if self.pending.as_ref().is_some_and(|p| p.sent_to == from) => {
                self.lose_primary();
                self.readonly_on = None;
                self.complete(
                    ctx,
                    EventType::Info,
                    Value::Null,
                    Some(from),
                    Some("connection closed"),
                );
            }
            Msg::Close { .. } if self.pending.is_none() && self.connected_to == Some(from) => {
                self.connection_closed = true;
                self.readonly_on = None;
                if self.primary == Some(from) {
                    self.lose_primary();
                }
            }
            // The command reached a killed server's closed port: it never ran. A WAIT refused
            // after its write was acknowledged leaves the write indeterminate.
            Msg::Refused { id } if self.pending.as_ref().is_some_and(|p| p.id == id) => {
                self.lose_primary();
                let p = self.pending.as_ref().expect("matched");
                let (kind, value, error) = if p.waiting_for_wait {
                    (
                        EventType::Info,
                        p.output.clone(),
                        "connection refused before WAIT answered",
                    )
                } else {
                    (EventType::Fail, Value::Null, "connection refused")
                };
                self.complete(ctx, kind, value, Some(from), Some(error));
            }
            _ => {}
        }
    }

    fn on_arrival(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let now = ctx.now();
        if now.0 < self.spec.stop_ns {
            let rate = self.spec.rate_per_sec.expect("open loop").max(1);
            // Exponential inter-arrival time from an integer uniform draw: -ln(u) * mean.
            let u = ctx.rng().random_range(1..=1_000_000u64);
            let mean_ns = SimTime::NANOS_PER_SEC / rate;
            let gap = exp_sample(u, mean_ns);
            ctx.set_timer(gap.max(1), TIMER_ARRIVAL);
            if self.arrivals.len() >= MAX_QUEUED_ARRIVALS {
                self.dropped_arrivals += 1;
            } else {
                self.arrivals.push_back(now);
            }
        }
        if self.pending.is_none() && self.arrivals.pop_front().is_some() {
            self.issue(ctx);
        }
    }

    fn pick_kind(&self, ctx: &mut Ctx<'_, Msg>) -> OpKind {
        let total: u32 = self.spec.mix.iter().map(|(_, w)| w).sum();
        let mut r = ctx.rng().random_range(0..total.max(1));
        for &(k, w) in &self.spec.mix {
            if r < w {
                return k;
            }
            r -= w;
        }
        self.spec.mix[0].0
    }

    fn pick_key_index(&self, ctx: &mut Ctx<'_, Msg>) -> u32 {
        let keys = self.spec.keys.max(1);
        match self.spec.distribution {
            KeyDistribution::Uniform => ctx.rng().random_range(0..keys),
            KeyDistribution::Zipfian => {
                let total = *self.zipf_cdf.last().expect("at least one key");
                let r = ctx.rng().random_range(0..total);
                self.zipf_cdf.partition_point(|&c| c <= r) as u32
            }
            KeyDistribution::Hot {
                hot_keys,
                share_percent,
            } => {
                let hot = hot_keys.clamp(1, keys);
                if ctx.rng().random_range(0..100) < share_percent || hot == keys {
                    ctx.rng().random_range(0..hot)
                } else {
                    ctx.rng().random_range(hot..keys)
                }
            }
        }
    }

    /// Asks the next sentinel where the primary is.
    fn discover(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let Target::Sentinels(sentinels) = &self.spec.target else {
            return;
        };
        if self.asking.is_some() || sentinels.is_empty() {
            return;
        }
        let s = sentinels[self.sentinel_index % sentinels.len()];
        self.next_id += 1;
        let id = self.next_id;
        self.asking = Some(id);
        let name = std::rc::Rc::from(self.spec.master_name.as_str());
        // Without a subscription of its own, a `Both` client hears the pushes of the sentinels
        // it asked.
        let subscribe = self.spec.follow == Follow::Both;
        ctx.send(
            s,
            Msg::GetMasterAddr {
                id,
                name,
                subscribe,
            },
        );
        ctx.set_timer(DISCOVERY_TIMEOUT_NS, TIMER_DISCOVER | id);
    }

    /// Forgets the primary (sentinel discovery) so that the next operation asks again, or
    /// (cluster discovery) the owner of the pending key's slot, so that the next operation on it
    /// asks another node, which answers with `-MOVED` (as clients refresh their map after a
    /// connection error).
    fn lose_primary(&mut self) {
        if matches!(self.spec.target, Target::Sentinels(_)) && self.spec.follow.asks_after_errors()
        {
            self.primary = None;
        }
        if let (Some(map), Some(p)) = (self.slots.as_mut(), self.pending.as_ref()) {
            let slot = key_hash_slot(p.key.as_bytes());
            std::sync::Arc::make_mut(map).owners[usize::from(slot)] = None;
        }
    }

    /// Where a cluster client sends a command on `key`: the slot's owner, or the next node in
    /// turn when it is unknown.
    fn cluster_node(&mut self, key: &str) -> Option<ProcessId> {
        let map = self.slots.as_ref()?;
        let slot = key_hash_slot(key.as_bytes());
        if let Some(owner) = map.owners[usize::from(slot)] {
            return Some(owner);
        }
        let node = map.nodes[self.probe % map.nodes.len()].1;
        self.probe += 1;
        Some(node)
    }

    /// Where a cluster client that reads from replicas sends a read of `key`: a replica of the
    /// slot's owner (each client keeps to one, by its index), the owner when it has none.
    fn cluster_replica(&mut self, key: &str) -> Option<ProcessId> {
        let map = self.slots.as_ref()?;
        let owner = map.owners[usize::from(key_hash_slot(key.as_bytes()))];
        let replicas = owner.and_then(|o| map.replicas.get(&o));
        match replicas {
            Some(r) if !r.is_empty() => Some(r[self.index as usize % r.len()]),
            _ => self.cluster_node(key),
        }
    }

    /// After a `-MOVED`, asks the node that sent it for its whole slot map (`CLUSTER SLOTS`), as
    /// Jedis renews its slot cache from that connection; one refresh at a time, a new one once
    /// the last has gone unanswered for the operation timeout.
    fn refresh_slots(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId) {
        let now = ctx.now();
        if self
            .refresh
            .is_some_and(|(_, sent)| now.since(sent) < self.spec.timeout_ns)
        {
            return;
        }
        self.next_id += 1;
        let id = self.next_id;
        self.refresh = Some((id, now));
        ctx.send(from, Msg::ClusterSlots { id });
    }

    /// Follows `-MOVED <slot> <host>:<port>` or `-ASK ...` (`cluster.c: clusterRedirectClient`):
    /// returns false when `text` is neither or the redirection limit is reached.
    fn follow_redirect(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, text: &str) -> bool {
        let Some(map) = self.slots.as_mut() else {
            return false;
        };
        let Some(redirect) = RedirectText::parse(text) else {
            return false;
        };
        let (kind, slot, host) = (redirect.kind, usize::from(redirect.slot), redirect.host());
        let Some(node) = map.nodes.iter().find(|(n, _)| n == host).map(|(_, p)| *p) else {
            return false;
        };
        if slot >= map.owners.len()
            || self
                .pending
                .as_ref()
                .is_none_or(|p| p.redirects >= MAX_REDIRECTS)
        {
            return false;
        }
        *self.redirects.entry(redirect.pattern(host)).or_default() += 1;
        if kind == "MOVED" {
            std::sync::Arc::make_mut(map).owners[slot] = Some(node);
            self.refresh_slots(ctx, from);
        } else {
            self.next_id += 1;
            ctx.send(node, Msg::Asking { id: self.next_id });
        }
        self.next_id += 1;
        let id = self.next_id;
        let p = self.pending.as_mut().expect("checked");
        p.redirects += 1;
        p.id = id;
        p.sent_to = node;
        ctx.send(
            node,
            Msg::Request {
                id,
                cmd: p.cmd.clone(),
            },
        );
        ctx.set_timer(self.spec.timeout_ns, TIMER_TIMEOUT | id);
        true
    }

    /// The set the final reads have yet to read, once they have begun.
    fn final_read_due(&self) -> Option<u32> {
        self.final_read.filter(|&i| i < self.spec.keys)
    }

    fn issue(&mut self, ctx: &mut Ctx<'_, Msg>) {
        let final_read = self.final_read_due();
        if (ctx.now().0 >= self.spec.stop_ns && final_read.is_none()) || self.pending.is_some() {
            return;
        }
        let cluster = self.slots.is_some();
        let target = match self.primary {
            Some(target) => target,
            // Cluster clients pick a node per key below.
            None if cluster => ProcessId(u32::MAX),
            None => {
                self.discover(ctx);
                return;
            }
        };
        let (kind, n) = match final_read {
            Some(n) => (OpKind::Smembers, n),
            None => (self.pick_kind(ctx), self.pick_key_index(ctx)),
        };
        let (key, key_text) = match kind.is_multi_key() {
            true => self.multi_key(n, 0),
            false => self.key(kind.family(), n),
        };
        self.next_id += 1;
        let id = self.next_id;
        let value: Option<Rc<str>> = match kind {
            OpKind::Set | OpKind::Append | OpKind::Sadd | OpKind::Mset => {
                Some(self.unique_value(id))
            }
            _ => None,
        };
        // A multi-key command's other keys, each written with a value of its own.
        let mut more = Vec::new();
        if kind.is_multi_key() {
            for i in 1..self.spec.multi_keys {
                let (k, text) = self.multi_key(n, i);
                let v = (kind == OpKind::Mset).then(|| {
                    self.next_id += 1;
                    self.unique_value(self.next_id)
                });
                more.push((k, text, v));
            }
        }
        let cmd = match kind {
            OpKind::Set => Command::Set(key.clone(), value.clone().expect("set has a value")),
            OpKind::Get => Command::Get(key.clone()),
            OpKind::Incr => Command::Incr(key.clone()),
            OpKind::Append => {
                Command::Append(key.clone(), value.clone().expect("append has a value"))
            }
            OpKind::Del => Command::Del(key.clone()),
            OpKind::Sadd => Command::Sadd(key.clone(), value.clone().expect("sadd has a value")),
            OpKind::Smembers => Command::Smembers(key.clone()),
            OpKind::Mset => Command::Mset(
                std::iter::once((key.clone(), value.clone().expect("mset has values")))
                    .chain(
                        more.iter()
                            .map(|(k, _, v)| (k.clone(), v.clone().expect("mset has values"))),
                    )
                    .collect::<Vec<_>>()
                    .into(),
            ),
            OpKind::Mget => Command::Mget(
                std::iter::once(key.clone())
                    .chain(more.iter().map(|(k, _, _)| k.clone()))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        };
        let value_text = value.as_deref().map(Text::from);
        let more: Vec<(Text, Option<Text>)> = more
            .into_iter()
            .map(|(_, text, v)| (text, v.as_deref().map(Text::from)))
            .collect();
        if matches!(kind, OpKind::Set | OpKind::Mset) {
            let mut written = self.written.borrow_mut();
            for (k, v) in
                std::iter::once((&key_text, &value_text)).chain(more.iter().map(|(k, v)| (k, v)))
            {
                if let Some(v) = v {
                    written.note(k, v);
                }
            }
        }
        // One invoke per key: a multi-key command is one operation on each of its keys, made
        // and completed together (docs/ARCHITECTURE.md, history format).
        let f = kind.name();
        let time_ns = ctx.global_now().0;
        for (k, v) in
            std::iter::once((&key_text, &value_text)).chain(more.iter().map(|(k, v)| (k, v)))
        {
            self.events.push(HistoryEvent::new(
                self.me,
                EventType::Invoke,
                f,
                k.clone(),
                v.clone().map_or(Value::Null, Value::Str),
                time_ns,
            ));
        }
        let to = match (kind, self.spec.read_from) {
            (OpKind::Get | OpKind::Mget, _) if cluster && self.spec.read_from_replicas => self
                .cluster_replica(&key)
                .expect("a cluster client has a map"),
            _ if cluster => self.cluster_node(&key).expect("a cluster client has a map"),
            (OpKind::Get, Some(replica)) => replica,
            _ => target,
        };
        self.pending = Some(Pending {
            id,
            kind,
            key: key.clone(),
            key_text,
            value_text,
            more,
            more_output: Vec::new(),
            waiting_for_wait: false,
            at: None,
            output: Value::Null,
            cmd: cmd.clone(),
            redirects: 0,
            sent_to: to,
        });
        // One connection at a time: a command to another server opens a new one.
        let stale = self.connected_to == Some(to) && self.connection_closed;
        if self.connected_to != Some(to) || self.connection_closed {
            self.readonly_on = None;
        }
        self.connected_to = Some(to);
        self.connection_closed = false;
        if stale {
            // Written to a connection the server closed: the client reads end-of-file and
            // cannot tell whether the command ran.
            let error = Some("connection closed");
            self.complete(ctx, EventType::Info, Value::Null, Some(to), error);
            return;
        }
        if cluster && self.spec.read_from_replicas && self.readonly_on != Some(to) {
            // A new connection: READONLY first, as go-redis sends it on every node connection
            // of a `ReadOnly` cluster client.
            self.readonly_on = Some(to);
            self.next_id += 1;
            ctx.send(to, Msg::ReadOnly { id: self.next_id });
        }
        ctx.send(to, Msg::Request { id, cmd });
        ctx.set_timer(self.spec.timeout_ns, TIMER_TIMEOUT | id);
    }

    /// The server this client's connection is open to, if any (`connected_clients` there).
    pub fn connection(&self) -> Option<ProcessId> {
        self.connected_to.filter(|_| !self.connection_closed)
    }

    /// `s` as the history holds it, shared with every other event of this client that names it.
    fn text(&mut self, s: &str) -> Text {
        if let Some(t) = self.texts.get(s) {
            return t.clone();
        }
        let t = Text::from(s);
        self.texts.insert(t.clone());
        t
    }

    /// The name of a kind of command, held once.
    /// The key numbered `n` of a family, held once.
    fn key(&mut self, family: &'static str, n: u32) -> (Rc<str>, Text) {
        let prefix = &self.spec.key_prefix;
        self.keys
            .entry((family, n))
            .or_insert_with(|| {
                let key = format!("{prefix}{family}{n}");
                (Rc::from(key.as_str()), Text::from(key))
            })
            .clone()
    }

    /// Key `i` of multi-key group `n`: `m{<n>}.<i>`, the group's hash tag shared by its keys
    /// (one slot), or `m<n>.<i>` without hash tags; held once.
    fn multi_key(&mut self, n: u32, i: u32) -> (Rc<str>, Text) {
        let (prefix, tags) = (&self.spec.key_prefix, self.spec.hash_tags);
        let index = n
            .checked_mul(self.spec.multi_keys)
            .and_then(|g| g.checked_add(i))
            .expect("keys (at most 10,000,000) times multi_keys (at most 16) fits in 32 bits");
        self.keys
            .entry(("m", index))
            .or_insert_with(|| {
                let key = match tags {
                    true => format!("{prefix}m{{{n}}}.{i}"),
                    false => format!("{prefix}m{n}.{i}"),
                };
                (Rc::from(key.as_str()), Text::from(key))
            })
            .clone()
    }

    /// A reply's mark as the history's position, its replication ID held once.
    fn position(&mut self, m: crate::redis::Mark) -> Position {
        let replid = self
            .replids
            .entry(m.replid)
            .or_insert_with(|| Text::from(m.replid.to_string()))
            .clone();
        Position {
            replid,
            offset: m.offset,
            unstreamed: m.unstreamed,
        }
    }

    /// A value unique to this client and operation, padded to the workload's value size. For
    /// APPEND it is a token delimited by `|` so checkers can find it in the final string.
    fn unique_value(&self, id: u64) -> Rc<str> {
        // `<workload>.<index>.<id>|` then `x`s, written without the formatting machinery (a
        // value per write).
        let mut digits = [0u8; 20];
        let digits = crate::redis::ull2string(id, &mut digits);
        let mut v = String::with_capacity(
            (self.value_prefix.len() + digits.len() + 1).max(self.spec.value_size),
        );
        v.push_str(&self.value_prefix);
        v.push_str(digits);
        v.push('|');
        let pad = self.spec.value_size.saturating_sub(v.len());
        v.extend(std::iter::repeat_n('x', pad));
        Rc::from(v)
    }

    fn on_reply(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        from: ProcessId,
        id: u64,
        reply: Reply,
        at: Option<crate::redis::Mark>,
    ) {
        let Some(p) = self.pending.as_mut().filter(|p| p.id == id) else {
            return;
        };
        if !p.waiting_for_wait {
            p.at = at;
        }
        if p.waiting_for_wait {
            let value = p.output.clone();
            let short = match (&reply, self.spec.waitaof) {
                // An unknown command (7.0), or `appendonly no` with numlocal.
                (Reply::Error(e), Some(_)) => Some(e.to_string()),
                (Reply::Ints(v), Some((local, replicas, _))) => {
                    let enough = v.first().is_some_and(|l| *l >= i64::from(local))
                        && v.get(1).is_some_and(|r| *r >= i64::from(replicas));
                    (!enough).then(|| "WAITAOF returned fewer fsyncs than asked".to_string())
                }
                (Reply::Int(n), None) if *n >= i64::from(self.spec.wait.map_or(0, |w| w.0)) => None,
                _ => Some("WAIT returned fewer replicas than asked".to_string()),
            };
            match short {
                None => self.complete(ctx, EventType::Ok, value, Some(from), None),
                // The write ran; whether it is as safe as asked is not known.
                Some(why) => self.complete(ctx, EventType::Info, value, Some(from), Some(&why)),
            }
            return;
        }
        match reply {
            Reply::Error(e) => {
                // Every error simkv models is raised before the command runs: it did not happen.
                let text = e.to_string();
                if self.follow_redirect(ctx, from, &text) {
                    return;
                }
                if text.starts_with("READONLY") || text.starts_with("MASTERDOWN") {
                    self.lose_primary();
                }
                self.complete(ctx, EventType::Fail, Value::Null, Some(from), Some(&text));
            }
            reply => {
                let is_write = p.kind.is_write();
                let output = match (&reply, p.kind) {
                    (Reply::Values(items), OpKind::Mget) => {
                        let written = self.written.borrow();
                        let read = |key: &str, v: &Option<Rc<str>>| {
                            v.as_deref()
                                .map_or(Value::Null, |v| Value::Str(written.text(key, v)))
                        };
                        p.more_output = p
                            .more
                            .iter()
                            .zip(items.iter().skip(1))
                            .map(|((k, _), v)| read(k, v))
                            .collect();
                        items.first().map_or(Value::Null, |v| read(&p.key_text, v))
                    }
                    (Reply::Bulk(v), _) => Value::Str(self.written.borrow().text(&p.key_text, v)),
                    (Reply::Array(items), _) => Value::Json(Box::new(serde_json::Value::Array(
                        items
                            .iter()
                            .map(|i| serde_json::Value::from(i.as_ref()))
                            .collect(),
                    ))),
                    (Reply::Int(n), OpKind::Incr) => Value::Int(*n),
                    (_, OpKind::Set | OpKind::Append | OpKind::Sadd | OpKind::Mset) => {
                        p.value_text.clone().map_or(Value::Null, Value::Str)
                    }
                    _ => Value::Null,
                };
                let ack = match (self.spec.wait, self.spec.waitaof) {
                    (Some((n, t)), _) => Some((Command::Wait(n, t), t)),
                    (None, Some((l, n, t))) => Some((Command::WaitAof(l, n, t), t)),
                    (None, None) => None,
                };
                if let (true, Some((cmd, timeout))) = (is_write, ack) {
                    p.waiting_for_wait = true;
                    self.next_id += 1;
                    let wait_id = self.next_id;
                    p.id = wait_id;
                    ctx.send(from, Msg::Request { id: wait_id, cmd });
                    ctx.set_timer(
                        self.spec.timeout_ns + timeout * SimTime::NANOS_PER_MS,
                        TIMER_TIMEOUT | wait_id,
                    );
                    // The reply's value is what the history records once WAIT answers.
                    p.output = output;
                    return;
                }
                self.complete(ctx, EventType::Ok, output, Some(from), None);
            }
        }
    }

    fn complete(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        kind: EventType,
        value: Value,
        server: Option<ProcessId>,
        error: Option<&str>,
    ) {
        let p = self.pending.take().expect("an operation is pending");
        let position =
            p.at.filter(|_| kind == EventType::Ok)
                .map(|m| self.position(m));
        // A multi-key command's other keys complete with it: an MSET's written value where the
        // first key's is recorded, an MGET's read values when it answered.
        let more_values: Vec<Value> = match (p.kind, kind) {
            (OpKind::Mget, EventType::Ok) => p.more_output.clone(),
            (OpKind::Mset, _) if value != Value::Null => p
                .more
                .iter()
                .map(|(_, v)| v.clone().map_or(Value::Null, Value::Str))
                .collect(),
            _ => vec![Value::Null; p.more.len()],
        };
        let f = p.kind.name();
        let (server, server_id) = match server {
            Some(s) => {
                let name = &self.servers[s.index()];
                let id =
                    *self.server_ids[s.index()].get_or_insert_with(|| ServerName::intern(name));
                // The event keeps the id; the name only when the table of names had no room.
                (id.is_none().then(|| name.clone()), id)
            }
            None => (None, None),
        };
        let error = error.map(|e| self.text(e));
        let time_ns = ctx.global_now().0;
        let keys = std::iter::once(&p.key_text).chain(p.more.iter().map(|(k, _)| k));
        for (key, value) in keys.zip(std::iter::once(value).chain(more_values)) {
            self.events.push(
                HistoryEvent::new(self.me, kind, f, key.clone(), value, time_ns).with_completion(
                    (server.clone(), server_id),
                    error.clone(),
                    position.clone(),
                ),
            );
        }
        if let Some(n) = self.final_read_due() {
            // A final read moves on to the next set only once it succeeded.
            let done = p.kind == OpKind::Smembers && kind == EventType::Ok;
            if done {
                self.final_read = Some(n + 1);
            }
            let pause = if done { 1 } else { FINAL_READ_RETRY_NS };
            ctx.set_timer(pause, TIMER_NEXT);
        } else if self.spec.rate_per_sec.is_some() {
            if self.arrivals.pop_front().is_some() {
                self.issue(ctx);
            }
        } else {
            ctx.set_timer(self.spec.think_ns.max(1), TIMER_NEXT);
        }
    }
}

/// An exponentially distributed gap with mean `mean_ns`, from a uniform draw `u` in
/// `1..=1_000_000`: `-ln(u / 1e6) * mean`, computed in fixed-point integers (a base-2 logarithm
/// with linear interpolation of the mantissa) so that every platform draws the same gaps; `f64::ln`
/// is not guaranteed to round identically everywhere.
fn exp_sample(u: u64, mean_ns: u64) -> u64 {
    // ln(1e6 / u) = ln2 * log2(1e6 / u); log2 in 16.16 fixed point.
    let ratio_fp = (1_000_000u128 << 16) / u128::from(u.max(1)); // (1e6/u) in 16.16
    let log2_fp = log2_fixed(ratio_fp); // 16.16
    const LN2_FP: u128 = 45_426; // ln 2 in 16.16
    let ln_fp = (log2_fp * LN2_FP) >> 16;
    ((u128::from(mean_ns) * ln_fp) >> 16) as u64
}

/// log2 of a 16.16 fixed-point number ≥ 1, in 16.16, by integer part plus linear interpolation
/// of the mantissa (error below 0.09, enough for inter-arrival jitter).
fn log2_fixed(x_fp: u128) -> u128 {
    if x_fp <= 1 << 16 {
        return 0;
    }
    let int_part = 127 - x_fp.leading_zeros() as u128 - 16;
    let mantissa = (x_fp << 16 >> (int_part + 16)) - (1 << 16);
    (int_part << 16) + mantissa
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
    fn a_read_of_one_of_the_last_two_writes_shares_the_writers_text() {
        let mut w = WrittenValues::default();
        let (k, other) = (Text::from("k"), Text::from("other"));
        let (a, b, c) = (Text::from("a"), Text::from("b"), Text::from("c"));
        let same = |x: &Text, y: &Text| x.as_str().as_ptr() == y.as_str().as_ptr();
        w.note(&k, &a);
        w.note(&k, &b);
        assert!(same(&w.text("k", "a"), &a) && same(&w.text("k", "b"), &b));
        // Read from another key, or older than the last two: a text of its own, equal.
        assert!(!same(&w.text("other", "a"), &a));
        w.note(&other, &a);
        w.note(&k, &c);
        let old = w.text("k", "a");
        assert!(!same(&old, &a) && old == a);
        assert!(same(&w.text("k", "b"), &b) && same(&w.text("k", "c"), &c));
        assert!(same(&w.text("other", "a"), &a));
    }

    #[test]
    fn exponential_samples_have_the_right_mean() {
        let mean = 1_000_000u64;
        let sum: u64 = (1..=1_000_000u64)
            .step_by(97)
            .map(|u| exp_sample(u, mean))
            .sum();
        let n = (1..=1_000_000u64).step_by(97).count() as u64;
        let avg = sum / n;
        assert!(avg > 900_000 && avg < 1_100_000, "mean {avg}");
        assert_eq!(exp_sample(1_000_000, mean), 0);
    }

    #[test]
    fn zipf_prefers_low_keys() {
        let cdf = zipf_cdf(10);
        assert!(cdf[0] > cdf[9] - cdf[8]);
        assert_eq!(cdf.len(), 10);
    }
}

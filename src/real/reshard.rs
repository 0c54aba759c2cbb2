//! Resharding on real Redis Cluster nodes: the `reshard` fault kind as `redis-cli --cluster
//! reshard` does it (`clusterManagerMoveSlot`), and the console's `CLUSTER SETSLOT` and
//! `MIGRATE`, noted as the simulator notes them.
//!
//! The resharder follows the simulator's (world/reshard.rs) step by step and with the same
//! pacing: each step looks at the source and the target (`CLUSTER NODES` for owners, migrating
//! and importing slots and roles, `CLUSTER GETKEYSINSLOT` for the keys) and types one command:
//! `CLUSTER SETSLOT <slot> IMPORTING <source-id>` on the target, `MIGRATING <target-id>` on
//! the source, `MIGRATE` of `batch` keys, or, once the source holds no key of the slot,
//! `SETSLOT <slot> NODE <target-id>` on the target, the source and every other primary. A step
//! that typed `CLUSTER SETSLOT` is followed by the next 1 ms (scaled) later, one that typed
//! `MIGRATE` by the next `interval` later (the first multiple of it after `MIGRATE` returned:
//! the simulator's resharder waits while its source is blocked in one). A source or target that
//! is down or paused, or does not answer, is waited for; a failed `MIGRATE` is retried; a slot
//! the source no longer serves is skipped; a target that is no primary any more ends it.
//!
//! The console commands go to each node directly from the observer's address (a console on the
//! node's machine, as in the model), but `MIGRATE` crosses the network: the source dials the
//! target's proxy kept for it (`Directory::migrate_route`), so partitions and latency apply.
//! Node IDs come from the directory; the notes name servers, as the model's do.
//!
//! It runs on a thread of its own (a `MIGRATE` blocks for up to its timeout), and hands its
//! facts, stamped when they happened, to the fault driver.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fact::{ClusterFact, Fact};
use crate::fault::SlotAction;

use super::directory::Directory;
use super::resp::{Connection, Reply, RespError};

/// Timeout of the console's `CLUSTER` commands.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(2);
/// What a `MIGRATE` may take beyond its own timeout before the console gives up on the reply.
const MIGRATE_SLACK: Duration = Duration::from_secs(3);
/// Between two console commands of the operator's tool, in scenario time (world/reshard.rs
/// `CONSOLE_ROUND_TRIP_NS`).
const CONSOLE_ROUND_TRIP: Duration = Duration::from_millis(1);

/// A fact the resharder observed: when (ns since the run started), by which process, what.
pub type Noted = (u64, u32, Fact);

/// One console command as the run notes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typed {
    /// The server it was typed at.
    pub server: String,
    /// The command as the model writes it (servers by name).
    pub command: String,
    /// The reply in redis-cli's notation.
    pub reply: String,
    /// The `cluster:setslot` fact of a `CLUSTER SETSLOT` that took effect.
    pub setslot: Option<ClusterFact>,
}

impl Typed {
    /// The facts, in the model's order: the slot's change, then the reply.
    pub fn facts(self) -> Vec<Fact> {
        let mut out = Vec::new();
        if let Some(event) = self.setslot {
            out.push(Fact::Cluster {
                node: self.server.clone(),
                event,
            });
        }
        out.push(Fact::OperatorReply {
            server: self.server,
            command: self.command,
            reply: self.reply,
        });
        out
    }
}

/// `CLUSTER SETSLOT` as sent (node IDs) and as noted (names), and its `cluster:setslot` fact.
pub fn setslot_command(
    dir: &Directory,
    slot: u16,
    action: SlotAction,
) -> Option<(Vec<String>, String, ClusterFact)> {
    let (what, who) = match action {
        SlotAction::Migrating(p) => ("MIGRATING", Some(p)),
        SlotAction::Importing(p) => ("IMPORTING", Some(p)),
        SlotAction::Node(p) => ("NODE", Some(p)),
        SlotAction::Stable => ("STABLE", None),
    };
    let mut words = vec!["CLUSTER".into(), "SETSLOT".into(), slot.to_string()];
    words.push(what.into());
    let mut text = format!("CLUSTER SETSLOT {slot} {what}");
    let mut named = None;
    if let Some(p) = who {
        let name = dir.names.get(p.index())?.clone();
        words.push(dir.node_id(&name)?.to_string());
        text.push_str(&format!(" {name}"));
        named = Some(name);
    }
    let fact = ClusterFact::SetSlot {
        slot,
        action: what.to_lowercase(),
        server: named,
    };
    Some((words, text, fact))
}

/// `MIGRATE` from `from` to `to` as sent (the proxy `from` dials) and as noted (the model's
/// `MIGRATE <to> 6379 "" 0 <timeout> REPLACE KEYS ...`, server/reshard.rs `admin_text`).
pub fn migrate_command(
    dir: &Directory,
    from: &str,
    to: &str,
    keys: &[String],
    timeout_ms: u64,
) -> Option<(Vec<String>, String)> {
    let route = dir.migrate_route(from, to)?;
    let mut words = vec![
        "MIGRATE".to_string(),
        route.ip().to_string(),
        route.port().to_string(),
        String::new(),
        "0".into(),
        timeout_ms.to_string(),
        "REPLACE".into(),
        "KEYS".into(),
    ];
    words.extend(keys.iter().cloned());
    let text = format!(
        "MIGRATE {to} 6379 \"\" 0 {timeout_ms} REPLACE KEYS {}",
        keys.join(" ")
    );
    Some((words, text))
}

/// A reply in redis-cli's notation, node IDs and addresses of the run replaced by names.
pub fn reply_text(dir: &Directory, reply: &Result<Reply, RespError>) -> String {
    let text = match reply {
        Ok(Reply::Simple(s)) => s.clone(),
        Ok(Reply::Error(e)) => format!("(error) {e}"),
        Ok(Reply::Integer(n)) => format!("(integer) {n}"),
        Ok(Reply::Bulk(Some(b))) => format!("\"{}\"", String::from_utf8_lossy(b)),
        Ok(Reply::Bulk(None)) => "(nil)".into(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("(error) {e}"),
    };
    text.split(' ')
        .map(|w| {
            if w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                dir.cluster_node_named(w)
            } else if w.contains(':') && dir.name_of(w) != w {
                format!("{}:6379", dir.name_of(w))
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends `words` to `server` on `conn` and notes it as `text`; `fact` is noted on `+OK`. Also
/// whether the connection broke (no reply came).
fn type_at(
    dir: &Directory,
    conn: Option<&mut Connection>,
    server: &str,
    words: &[String],
    text: String,
    fact: Option<ClusterFact>,
) -> (Typed, bool) {
    let Some(conn) = conn else {
        let typed = Typed {
            server: server.to_string(),
            command: text,
            reply: "Could not connect to Redis: Connection refused".into(),
            setslot: None,
        };
        return (typed, true);
    };
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let reply = conn.cmd(&w);
    let ok = matches!(&reply, Ok(Reply::Simple(s)) if s == "OK");
    let typed = Typed {
        server: server.to_string(),
        command: text,
        reply: reply_text(dir, &reply),
        setslot: fact.filter(|_| ok),
    };
    (typed, reply.is_err())
}

/// The console's `CLUSTER SETSLOT` or `MIGRATE` at `server` (its own address `at`), from
/// `observer`. `None` for any other command.
pub fn console(
    dir: &Directory,
    observer: Ipv4Addr,
    at: Option<SocketAddr>,
    server: &str,
    command: &crate::fault::AdminCommand,
) -> Option<Typed> {
    use crate::fault::AdminCommand;
    let (words, text, fact, timeout) = match command {
        AdminCommand::SetSlot { slot, action } => {
            let (w, t, f) = setslot_command(dir, *slot, *action)?;
            (w, t, Some(f), CONSOLE_TIMEOUT)
        }
        AdminCommand::Migrate {
            to,
            keys,
            timeout_ms,
        } => {
            let to = dir.names.get(to.index())?;
            let (w, t) = migrate_command(dir, server, to, keys, *timeout_ms)?;
            let timeout = Duration::from_millis(*timeout_ms) + MIGRATE_SLACK;
            (w, t, None, timeout)
        }
        _ => return None,
    };
    let from = SocketAddr::new(observer.into(), 0);
    let mut conn = at.and_then(|a| Connection::connect(from, a, timeout).ok());
    Some(type_at(dir, conn.as_mut(), server, &words, text, fact).0)
}

/// One node's `CLUSTER NODES` as the resharder reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodesView {
    /// The node itself is a primary.
    pub master: bool,
    /// Slot ranges and their owners' IDs.
    pub owners: Vec<(u16, u16, String)>,
    /// Its slots migrating to a node (`[slot->-id]`).
    pub migrating: BTreeMap<u16, String>,
    /// Slots it imports from a node (`[slot-<-id]`).
    pub importing: BTreeMap<u16, String>,
}

impl NodesView {
    /// Reads `CLUSTER NODES` (`cluster.c: clusterGenNodeDescription`).
    pub fn parse(text: &str) -> NodesView {
        let mut v = NodesView::default();
        for line in text.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            let (Some(id), Some(flags)) = (w.first(), w.get(2)) else {
                continue;
            };
            let myself = flags.split(',').any(|f| f == "myself");
            if myself {
                v.master = flags.split(',').any(|f| f == "master");
            }
            for token in w.iter().skip(8) {
                if let Some(inner) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                    if !myself {
                        continue;
                    }
                    let (map, slot, who) = match (inner.split_once("->-"), inner.split_once("-<-"))
                    {
                        (Some((slot, to)), _) => (&mut v.migrating, slot, to),
                        (None, Some((slot, from))) => (&mut v.importing, slot, from),
                        (None, None) => continue,
                    };
                    if let Ok(s) = slot.parse() {
                        map.insert(s, who.to_string());
                    }
                    continue;
                }
                let (a, b) = token.split_once('-').unwrap_or((token, token));
                if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                    v.owners.push((a, b, id.to_string()));
                }
            }
        }
        v
    }

    /// The ID of the owner of `slot`.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.owners
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&slot))
            .map(|(_, _, id)| id.as_str())
    }
}

/// What a resharder needs of the run.
#[derive(Clone)]
pub struct ReshardEnv {
    /// Names and node IDs.
    pub dir: Arc<Directory>,
    /// Every cluster node's own address (the console's).
    pub addrs: BTreeMap<String, SocketAddr>,
    /// Where the console connects from.
    pub observer: Ipv4Addr,
    /// When the run started.
    pub start: Instant,
    /// Nodes down or paused now (kept by the fault driver).
    pub unavailable: Arc<Mutex<BTreeSet<String>>>,
    /// Set when the run ends.
    pub stop: Arc<AtomicBool>,
    /// Where the facts go.
    pub notes: Sender<Noted>,
    /// Scenario time to wall time.
    pub time_scale: f64,
}

/// One `reshard` fault.
#[derive(Clone, Debug)]
pub struct Job {
    /// The source primary.
    pub from: String,
    /// The target primary.
    pub to: String,
    /// The first slot.
    pub first: u16,
    /// The last slot (inclusive).
    pub last: u16,
    /// Keys per `MIGRATE`.
    pub batch: u32,
    /// Between two `MIGRATE` steps, scenario time.
    pub interval_ns: u64,
    /// `MIGRATE`'s timeout.
    pub timeout_ms: u64,
}

/// When the next step comes.
enum Next {
    /// After the console's round trip.
    Again,
    /// After `interval`.
    Paced,
    /// After `interval`, or its first multiple after now (a `MIGRATE` was typed).
    AfterMigrate,
    /// Every slot has moved, or the target is no primary any more.
    Done,
}

/// Runs `job` on a thread of its own.
pub fn spawn(job: Job, env: ReshardEnv) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = Resharder {
            next: job.first,
            job,
            env,
            conns: BTreeMap::new(),
        };
        r.run();
    })
}

struct Resharder {
    job: Job,
    env: ReshardEnv,
    next: u16,
    conns: BTreeMap<String, Connection>,
}

impl Resharder {
    fn run(&mut self) {
        let scaled = |ns: u64| super::workload::scaled(ns, self.env.time_scale);
        let interval = scaled(self.job.interval_ns);
        let again = scaled(CONSOLE_ROUND_TRIP.as_nanos() as u64);
        loop {
            if self.env.stop.load(Ordering::Relaxed) {
                return;
            }
            let began = Instant::now();
            let at = match self.step() {
                Next::Done => return,
                Next::Again => began + again,
                Next::Paced => began + interval,
                Next::AfterMigrate => {
                    // The model's resharder looks again every `interval` while its source is
                    // blocked in the MIGRATE: the first look after it returned goes ahead.
                    let mut at = began + interval;
                    while at < Instant::now() && !interval.is_zero() {
                        at += interval;
                    }
                    at
                }
            };
            while Instant::now() < at {
                if self.env.stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep((at - Instant::now()).min(Duration::from_millis(20)));
            }
        }
    }

    fn id(&self, name: &str) -> String {
        self.env.dir.node_id(name).unwrap_or("").to_string()
    }

    fn unavailable(&self, name: &str) -> bool {
        let set = self
            .env
            .unavailable
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        set.contains(name)
    }

    /// The console's connection to `name`, opened when needed.
    fn conn(&mut self, name: &str) -> Option<&mut Connection> {
        if !self.conns.contains_key(name) {
            let at = *self.env.addrs.get(name)?;
            let from = SocketAddr::new(self.env.observer.into(), 0);
            let c = Connection::connect(from, at, CONSOLE_TIMEOUT).ok()?;
            self.conns.insert(name.to_string(), c);
        }
        self.conns.get_mut(name)
    }

    /// A query whose reply is text or an array; the connection is dropped on any failure.
    fn ask(&mut self, name: &str, words: &[&str]) -> Option<Reply> {
        let reply = self.conn(name)?.cmd(words);
        match reply {
            Ok(r @ (Reply::Bulk(Some(_)) | Reply::Array(Some(_)) | Reply::Simple(_))) => Some(r),
            Ok(_) => None,
            Err(_) => {
                self.conns.remove(name);
                None
            }
        }
    }

    fn view(&mut self, name: &str) -> Option<NodesView> {
        let text = self.ask(name, &["CLUSTER", "NODES"])?.as_text()?;
        Some(NodesView::parse(&text))
    }

    fn is_primary(&mut self, name: &str) -> bool {
        match self.ask(name, &["ROLE"]) {
            Some(Reply::Array(Some(r))) => {
                r.first().and_then(Reply::as_text).as_deref() == Some("master")
            }
            _ => false,
        }
    }

    fn note(&self, typed: Typed) {
        let ns = self.env.start.elapsed().as_nanos() as u64;
        let process = self.env.dir.index(&typed.server).unwrap_or(0) as u32;
        for fact in typed.facts() {
            let _ = self.env.notes.send((ns, process, fact));
        }
    }

    fn setslot(&mut self, at: &str, slot: u16, action: SlotAction) {
        let dir = self.env.dir.clone();
        let Some((words, text, fact)) = setslot_command(&dir, slot, action) else {
            return;
        };
        let (typed, broken) = type_at(&dir, self.conn(at), at, &words, text, Some(fact));
        if broken {
            self.conns.remove(at);
        }
        self.note(typed);
    }

    fn migrate(&mut self, keys: &[String]) {
        let dir = self.env.dir.clone();
        let (from, to) = (self.job.from.clone(), self.job.to.clone());
        let Some((words, text)) = migrate_command(&dir, &from, &to, keys, self.job.timeout_ms)
        else {
            return;
        };
        let long = Duration::from_millis(self.job.timeout_ms) + MIGRATE_SLACK;
        let conn = self.conn(&from);
        let conn = conn.and_then(|c| c.set_timeout(long).ok().map(|()| c));
        let (typed, broken) = type_at(&dir, conn, &from, &words, text, None);
        let restored = self
            .conns
            .get_mut(&from)
            .is_some_and(|c| c.set_timeout(CONSOLE_TIMEOUT).is_ok());
        if !restored || broken {
            self.conns.remove(&from);
        }
        self.note(typed);
    }

    /// One step of world/reshard.rs `Resharder::step`.
    fn step(&mut self) -> Next {
        if self.next > self.job.last {
            return Next::Done;
        }
        let slot = self.next;
        let (from, to) = (self.job.from.clone(), self.job.to.clone());
        // A server that is down or paused (or does not answer) is waited for.
        if self.unavailable(&from) || self.unavailable(&to) {
            return Next::Paced;
        }
        let (Some(src), Some(dst)) = (self.view(&from), self.view(&to)) else {
            return Next::Paced;
        };
        if !dst.master {
            // redis-cli stops: the target is no master any more.
            return Next::Done;
        }
        let (from_id, to_id) = (self.id(&from), self.id(&to));
        let src_owns = src.master && src.owner(slot) == Some(from_id.as_str());
        let dst_owns = dst.owner(slot) == Some(to_id.as_str());
        if !src_owns {
            // Moved already, or a failover took it: on to the next slot.
            self.next += 1;
            return self.again_or_done();
        }
        let batch = self.job.batch.to_string();
        let keys: Vec<String> = match self.ask(
            &from,
            &["CLUSTER", "GETKEYSINSLOT", &slot.to_string(), &batch],
        ) {
            Some(Reply::Array(Some(keys))) => keys.iter().filter_map(Reply::as_text).collect(),
            _ => return Next::Paced,
        };
        let importing = dst.importing.get(&slot) == Some(&from_id);
        let migrating = src.migrating.get(&slot) == Some(&to_id);
        let (p_from, p_to) = (self.process(&from), self.process(&to));
        if !keys.is_empty() {
            if !importing && !dst_owns {
                self.setslot(&to, slot, SlotAction::Importing(p_from));
                return Next::Again;
            }
            if !migrating {
                self.setslot(&from, slot, SlotAction::Migrating(p_to));
                return Next::Again;
            }
            self.migrate(&keys);
            return Next::AfterMigrate;
        }
        // Every key moved: the target first, then the source, then the other primaries.
        let action = SlotAction::Node(p_to);
        self.setslot(&to, slot, action);
        self.setslot(&from, slot, action);
        let others: Vec<String> = self
            .env
            .addrs
            .keys()
            .filter(|n| **n != from && **n != to)
            .cloned()
            .collect();
        // In process order, as the model's resharder goes through them.
        let mut others: Vec<(usize, String)> = others
            .into_iter()
            .map(|n| (self.env.dir.index(&n).unwrap_or(usize::MAX), n))
            .collect();
        others.sort();
        for (_, p) in others {
            if !self.unavailable(&p) && self.is_primary(&p) {
                self.setslot(&p, slot, action);
            }
        }
        self.next += 1;
        self.again_or_done()
    }

    fn process(&self, name: &str) -> crate::sim::ProcessId {
        crate::sim::ProcessId(self.env.dir.index(name).unwrap_or(0) as u32)
    }

    fn again_or_done(&self) -> Next {
        if self.next > self.job.last {
            Next::Done
        } else {
            Next::Again
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "07c37dfeb235213a872192d90877d0cd55635b91";
    const B: &str = "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1";

    fn dir() -> Directory {
        let mut d = Directory::new(vec!["c1p".into(), "c2p".into()], 2, 0);
        d.add_node_id("c1p", A);
        d.add_node_id("c2p", B);
        d.add_proxy("c2p", "127.9.1.2:4000".parse().unwrap());
        d.add_migrate_route("c1p", "c2p", "127.9.1.2:4001".parse().unwrap());
        d
    }

    #[test]
    fn cluster_nodes_gives_owners_and_the_slots_on_the_move() {
        let text = format!(
            "{A} 127.9.1.1:4000@4100 myself,master - 0 0 1 connected 0-5460 [3443->-{B}]\n\
             {B} 127.9.1.2:4000@4100 master - 0 1 2 connected 5461-10922 [9->-{A}]\n"
        );
        let v = NodesView::parse(&text);
        assert!(v.master);
        assert_eq!(v.owner(3443), Some(A));
        assert_eq!(v.owner(5461), Some(B));
        assert_eq!(v.owner(16000), None);
        assert_eq!(v.migrating.get(&3443).map(String::as_str), Some(B));
        assert!(
            !v.migrating.contains_key(&9),
            "only the node's own line counts"
        );
        let text =
            format!("{B} 127.9.1.2:4000@4100 myself,master - 0 1 2 connected 5461 [3443-<-{A}]\n");
        let v = NodesView::parse(&text);
        assert_eq!(v.importing.get(&3443).map(String::as_str), Some(A));
        assert_eq!(v.owner(5461), Some(B));
    }

    #[test]
    fn commands_send_ids_and_routes_and_note_names() {
        let d = dir();
        let p = crate::sim::ProcessId;
        let (words, text, fact) = setslot_command(&d, 3443, SlotAction::Importing(p(0))).unwrap();
        assert_eq!(words, ["CLUSTER", "SETSLOT", "3443", "IMPORTING", A]);
        assert_eq!(text, "CLUSTER SETSLOT 3443 IMPORTING c1p");
        assert_eq!(fact.to_string(), "CLUSTER SETSLOT 3443 IMPORTING c1p");
        let (words, _, _) = setslot_command(&d, 1, SlotAction::Stable).unwrap();
        assert_eq!(words, ["CLUSTER", "SETSLOT", "1", "STABLE"]);
        let keys = ["k1".to_string(), "k2".to_string()];
        let (words, text) = migrate_command(&d, "c1p", "c2p", &keys, 2000).unwrap();
        assert_eq!(
            words,
            [
                "MIGRATE",
                "127.9.1.2",
                "4001",
                "",
                "0",
                "2000",
                "REPLACE",
                "KEYS",
                "k1",
                "k2"
            ]
        );
        assert_eq!(text, "MIGRATE c2p 6379 \"\" 0 2000 REPLACE KEYS k1 k2");
        assert!(
            migrate_command(&d, "c2p", "c1p", &keys, 2000).is_none(),
            "no route"
        );
    }

    #[test]
    fn replies_name_nodes() {
        let d = dir();
        let e = |s: &str| Ok(Reply::Error(s.to_string()));
        assert_eq!(
            reply_text(&d, &e(&format!("ERR I don't know about node {A}"))),
            "(error) ERR I don't know about node c1p"
        );
        assert_eq!(
            reply_text(
                &d,
                &e("ERR Target instance replied with error: MOVED 3 127.9.1.2:4000")
            ),
            "(error) ERR Target instance replied with error: MOVED 3 c2p:6379"
        );
        assert_eq!(reply_text(&d, &Ok(Reply::Simple("NOKEY".into()))), "NOKEY");
    }
}

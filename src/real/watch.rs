//! The observer of a real run: it polls every running server's `INFO replication keyspace` (about
//! every 100 ms, directly, never through a proxy) for roles and offsets, tails every server and
//! sentinel log, and turns both into the facts the simulator emits, stamped with wall-clock
//! nanoseconds since the run started. It also samples the metrics once a second.
//!
//! A Redis Cluster node is also asked `CLUSTER NODES` at each poll: PFAIL has no log line at
//! the default log level (cluster.c logs "possibly failing" at debug), so a node's PFAIL of a
//! peer is the `fail?` flag appearing in its view; everything else (FAIL, elections, votes,
//! promotions, state changes) comes from its log.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use crate::fact::{ClusterFact, Fact, FactNote, FullResyncReason, StartRole};
use crate::metrics::{Metrics, ServerSample};
use crate::sim::{Note, SimTime};

use super::directory::Directory;
use super::info::{InfoRole, ReplicationInfo};
use super::observe::{ClusterLine, LogLine, LogTailer, Observation, PsyncRefusal};
use super::resp::{Connection, Reply};
use super::translate::{self, ClusterContext, ExtraLine, ServerContext};

/// How long the observer waits for one INFO reply.
const INFO_TIMEOUT: Duration = Duration::from_millis(300);

/// What the observer knows about one server.
struct ServerWatch {
    name: String,
    addr: SocketAddr,
    tailer: LogTailer,
    conn: Option<Connection>,
    info: Option<ReplicationInfo>,
    keys: u64,
    /// The vitals its last INFO reported.
    vitals: super::vitals::InfoVitals,
    /// A start (or restart) not yet reported: the next INFO reports it.
    pending_start: bool,
    /// The offset of the last PSYNC this server sent as a replica.
    psync_offset: Option<u64>,
    /// Refusals by ID logged by this primary, waiting for the replica they concern.
    refusals: VecDeque<FullResyncReason>,
    /// Replicas whose full resync from this primary was logged before the refusal that caused
    /// it (the two logs are read separately, and either can come first).
    awaiting_reason: VecDeque<usize>,
    /// The primary its log last said it connects to ("Connecting to MASTER"): fresher than INFO.
    log_primary: Option<String>,
    /// For a Redis Cluster node: what it was seen to think of its peers.
    cluster: Option<ClusterWatch>,
}

/// What one cluster node was seen to think of its peers, and of itself.
#[derive(Default)]
struct ClusterWatch {
    /// Per peer (by name): whether its PFAIL was noted (and not yet cleared), and whether it is
    /// FAIL by the log.
    peers: BTreeMap<String, PeerWatch>,
    /// Its primary as its own `CLUSTER NODES` line names it (a replica's).
    primary: Option<String>,
    /// The epoch of its latest election.
    election_epoch: u64,
}

#[derive(Clone, Copy, Default)]
struct PeerWatch {
    pfail_noted: bool,
    failed: bool,
}

struct SentinelWatch {
    name: String,
    tailer: LogTailer,
    epoch: u64,
}

/// Polls and tails a real run into facts.
pub struct Watcher {
    dir: Directory,
    start: Instant,
    observer: Ipv4Addr,
    servers: Vec<ServerWatch>,
    sentinels: Vec<SentinelWatch>,
    notes: Vec<FactNote>,
    metrics: Metrics,
    next_sample: Duration,
}

/// One line read from some log in a poll.
struct Read {
    time: String,
    node: usize,
    line: LogLine,
}

impl Watcher {
    /// A watcher over these servers and sentinels `(name, address, log path)`.
    pub fn new(
        dir: Directory,
        start: Instant,
        observer: Ipv4Addr,
        servers: Vec<(String, SocketAddr, std::path::PathBuf)>,
        sentinels: Vec<(String, std::path::PathBuf)>,
    ) -> Watcher {
        let metrics = Metrics::new(servers.iter().map(|s| s.0.clone()).collect());
        Watcher {
            dir,
            start,
            observer,
            servers: servers
                .into_iter()
                .map(|(name, addr, log)| ServerWatch {
                    name,
                    addr,
                    tailer: LogTailer::new(&log),
                    conn: None,
                    info: None,
                    keys: 0,
                    vitals: Default::default(),
                    pending_start: true,
                    psync_offset: None,
                    refusals: VecDeque::new(),
                    awaiting_reason: VecDeque::new(),
                    log_primary: None,
                    cluster: None,
                })
                .collect(),
            sentinels: sentinels
                .into_iter()
                .map(|(name, log)| SentinelWatch {
                    name,
                    tailer: LogTailer::new(&log),
                    epoch: 0,
                })
                .collect(),
            notes: Vec::new(),
            metrics,
            next_sample: Duration::ZERO,
        }
    }

    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Records a fact of the world (faults, the quiet phase).
    pub fn note_world(&mut self, fact: Fact) {
        self.push(u32::MAX, fact);
    }

    /// Records a fact observed at `time_ns` (since the run started) by process `process`.
    pub fn note_at(&mut self, time_ns: u64, process: u32, fact: Fact) {
        self.notes.push(Note {
            time: SimTime(time_ns),
            process,
            fact,
        });
    }

    /// When the run started.
    pub fn started(&self) -> Instant {
        self.start
    }

    fn push(&mut self, process: u32, fact: Fact) {
        let time = SimTime(self.now_ns());
        self.notes.push(Note {
            time,
            process,
            fact,
        });
    }

    /// Watches these servers as Redis Cluster nodes too (`CLUSTER NODES`, cluster log lines).
    pub fn watch_cluster(&mut self, names: &[String]) {
        for s in &mut self.servers {
            if names.contains(&s.name) {
                s.cluster = Some(ClusterWatch::default());
            }
        }
    }

    /// Server `name` was restarted: its next INFO is reported as a start.
    pub fn restarted(&mut self, name: &str) {
        if let Some(s) = self.servers.iter_mut().find(|s| s.name == name) {
            s.pending_start = true;
            s.conn = None;
            s.info = None;
            if s.cluster.is_some() {
                // A restarted node reloads its view from nodes.conf (cluster.c:
                // clusterLoadConfig): what it shows from now on is noted afresh.
                s.cluster = Some(ClusterWatch::default());
            }
        }
    }

    /// Server `name` went down: its connection is dropped.
    pub fn went_down(&mut self, name: &str) {
        if let Some(s) = self.servers.iter_mut().find(|s| s.name == name) {
            s.conn = None;
        }
    }

    /// One round: INFO of every server for which `reachable` holds, then every log's new lines.
    pub fn poll(&mut self, reachable: &dyn Fn(&str) -> bool) {
        for i in 0..self.servers.len() {
            if reachable(&self.servers[i].name) {
                self.poll_info(i);
            }
        }
        self.poll_logs();
        let now = self.start.elapsed();
        if now >= self.next_sample {
            self.next_sample = now + Duration::from_secs(1);
            self.sample(reachable);
        }
    }

    fn query(&mut self, i: usize) -> Option<(ReplicationInfo, u64)> {
        let s = &mut self.servers[i];
        if s.conn.is_none() {
            let from = SocketAddr::new(self.observer.into(), 0);
            s.conn = Connection::connect(from, s.addr, INFO_TIMEOUT).ok();
        }
        let mut args = vec!["INFO", "replication", "keyspace"];
        args.extend(super::vitals::SECTIONS);
        let reply = s.conn.as_mut()?.cmd(&args);
        let text = match reply {
            Ok(r) => r.as_text(),
            Err(_) => None,
        };
        let Some(text) = text else {
            s.conn = None;
            return None;
        };
        let info = ReplicationInfo::parse(&text).ok()?;
        s.vitals = super::vitals::InfoVitals::parse(&text);
        Some((info, keys_in(&text)))
    }

    fn poll_info(&mut self, i: usize) {
        let Some((info, keys)) = self.query(i) else {
            return;
        };
        let before = self.servers[i].info.take();
        let started = std::mem::take(&mut self.servers[i].pending_start);
        let facts = role_facts(
            &self.dir,
            &self.servers[i].name,
            before.as_ref(),
            &info,
            keys,
            started,
        );
        self.servers[i].info = Some(info);
        self.servers[i].keys = keys;
        for f in facts {
            self.push(i as u32, f);
        }
        if self.servers[i].cluster.is_some() {
            self.poll_cluster_view(i);
        }
    }

    /// `CLUSTER NODES` of cluster node `i`: PFAIL noted and cleared, and its own primary.
    fn poll_cluster_view(&mut self, i: usize) {
        let view = match self.servers[i]
            .conn
            .as_mut()
            .map(|c| c.cmd(&["CLUSTER", "NODES"]))
        {
            Some(Ok(r)) => r.as_text(),
            _ => None,
        };
        let Some(view) = view else {
            return;
        };
        let mut facts = Vec::new();
        let dir = &self.dir;
        let watch = self.servers[i].cluster.as_mut().expect("a cluster node");
        for line in view.lines() {
            let w: Vec<&str> = line.split(' ').collect();
            let (Some(id), Some(flags), Some(master)) = (w.first(), w.get(2), w.get(3)) else {
                continue;
            };
            let flags: Vec<&str> = flags.split(',').collect();
            if flags.contains(&"myself") {
                watch.primary = (*master != "-").then(|| dir.cluster_node_named(master));
                continue;
            }
            let about = dir.cluster_node_named(id);
            let peer = watch.peers.entry(about.clone()).or_default();
            let (pfail, fail) = (flags.contains(&"fail?"), flags.contains(&"fail"));
            if pfail && !peer.pfail_noted {
                peer.pfail_noted = true;
                facts.push(ClusterFact::Pfail { about });
            } else if !pfail && !fail && peer.pfail_noted && !peer.failed {
                peer.pfail_noted = false;
                facts.push(ClusterFact::PfailCleared { about });
            }
        }
        let node = self.servers[i].name.clone();
        for event in facts {
            self.push(
                i as u32,
                Fact::Cluster {
                    node: node.clone(),
                    event,
                },
            );
        }
    }

    fn poll_logs(&mut self) {
        let mut reads = Vec::new();
        let n = self.servers.len();
        let tailers = self
            .servers
            .iter_mut()
            .map(|s| &mut s.tailer)
            .chain(self.sentinels.iter_mut().map(|s| &mut s.tailer));
        for (node, t) in tailers.enumerate() {
            for text in t.poll().unwrap_or_default() {
                if let Some(line) = LogLine::parse(&text) {
                    let time = line.time.split(' ').nth(3).unwrap_or("").to_string();
                    reads.push(Read { time, node, line });
                }
            }
        }
        // Lines of different logs in one poll are put in the order they were written.
        reads.sort_by(|a, b| a.time.cmp(&b.time));
        for r in reads {
            if r.node < n {
                self.server_line(r.node, &r.line);
            } else {
                self.sentinel_line(r.node - n, &r.line);
            }
        }
    }

    fn sentinel_line(&mut self, i: usize, line: &LogLine) {
        let Some(Observation::Sentinel(ev)) = Observation::from_line(line) else {
            return;
        };
        let s = &mut self.sentinels[i];
        let fact = translate::sentinel_fact(&self.dir, &s.name, &mut s.epoch, &ev);
        if let Some(f) = fact {
            let process = (self.dir.servers + i) as u32;
            self.push(process, f);
        }
    }

    fn context(&self, i: usize) -> ServerContext<'_> {
        let s = &self.servers[i];
        let from_info = s
            .info
            .as_ref()
            .and_then(|i| i.replica.as_ref())
            .map(|r| self.dir.name_at(&r.master_host, r.master_port));
        let primary = s.log_primary.clone().or(from_info);
        let primary_replid = primary
            .as_deref()
            .and_then(|p| self.info(p))
            .map(|i| i.master_replid.clone());
        ServerContext {
            server: &s.name,
            info: s.info.as_ref(),
            keys: s.keys,
            primary,
            primary_replid,
            psync_offset: s.psync_offset,
        }
    }

    fn server_line(&mut self, i: usize, line: &LogLine) {
        if line.role == 'X' || line.role == 'C' {
            return;
        }
        if self.servers[i].cluster.is_some()
            && let Some(l) = ClusterLine::parse(&line.message)
        {
            self.cluster_line(i, &l);
            return;
        }
        if let Some(extra) = ExtraLine::parse(&line.message) {
            if let ExtraLine::PsyncRequest { offset, .. } = &extra {
                self.servers[i].psync_offset = Some(*offset);
            }
            if extra == ExtraLine::PsyncNoCachedMaster {
                self.servers[i].psync_offset = None;
            }
            let fact = translate::extra_fact(&self.dir, &self.context(i), &extra);
            if let Some(f) = fact {
                self.push(i as u32, f);
            }
            return;
        }
        let Some(o) = Observation::from_line(line) else {
            return;
        };
        if let Observation::ConnectingToMaster { host, port } = &o {
            self.servers[i].log_primary = Some(self.dir.name_at(host, *port));
        }
        if o == Observation::MasterModeEnabled {
            self.servers[i].log_primary = None;
        }
        match &o {
            Observation::PartialResyncNotAccepted(
                r @ (PsyncRefusal::ReplidMismatch { .. } | PsyncRefusal::SecondIdOffset { .. }),
            ) => {
                let reason = translate::refusal_reason(r);
                match self.servers[i].awaiting_reason.pop_front() {
                    Some(replica) => self.push_refusal(i, replica, reason),
                    None => self.servers[i].refusals.push_back(reason),
                }
                return;
            }
            Observation::FullResyncFromMaster { .. } => self.refused_by_id(i),
            _ => {}
        }
        let fact = translate::replication_fact(&self.dir, &self.context(i), &o);
        if let Some(f) = fact {
            self.push(i as u32, f);
        }
    }

    /// A cluster node's log line: its fact, with the bookkeeping PFAIL and promotions need.
    fn cluster_line(&mut self, i: usize, l: &ClusterLine) {
        let primary = {
            let s = &self.servers[i];
            let w = s.cluster.as_ref().expect("a cluster node");
            w.primary.clone().or_else(|| self.context(i).primary)
        };
        let epoch = self.servers[i]
            .cluster
            .as_ref()
            .map_or(0, |w| w.election_epoch);
        let cx = ClusterContext {
            primary: primary.as_deref(),
            election_epoch: epoch,
        };
        let Some(fact) = translate::cluster_fact(&self.dir, &cx, l) else {
            return;
        };
        let node = self.servers[i].name.clone();
        let watch = self.servers[i].cluster.as_mut().expect("a cluster node");
        let mut facts = Vec::new();
        match &fact {
            ClusterFact::Fail { about, by_quorum } => {
                let peer = watch.peers.entry(about.clone()).or_default();
                // Counting a quorum needs the node's own PFAIL first (markNodeAsFailingIfNeeded):
                // noted here when no poll caught the `fail?` flag in between.
                if *by_quorum && !peer.pfail_noted {
                    peer.pfail_noted = true;
                    facts.push(ClusterFact::Pfail {
                        about: about.clone(),
                    });
                }
                peer.failed = true;
            }
            ClusterFact::FailCleared { about } => {
                watch.peers.insert(about.clone(), PeerWatch::default());
            }
            ClusterFact::ElectionStarted { epoch } => watch.election_epoch = *epoch,
            ClusterFact::Promoted { .. } => {
                // clusterFailoverReplaceYourMaster: replicationUnsetMaster logs no "MASTER MODE".
                watch.primary = None;
                self.servers[i].log_primary = None;
            }
            ClusterFact::BecameReplica { of } => watch.primary = Some(of.clone()),
            _ => {}
        }
        facts.push(fact);
        for event in facts {
            self.push(
                i as u32,
                Fact::Cluster {
                    node: node.clone(),
                    event,
                },
            );
        }
    }

    /// A replica that asked for a partial resync by ID got a full one: the reason is the oldest
    /// refusal its primary logged (that line does not name the replica).
    fn refused_by_id(&mut self, replica: usize) {
        if self.servers[replica].psync_offset.is_none() {
            return;
        }
        let Some(primary) = self.context(replica).primary else {
            return;
        };
        let Some(p) = self.servers.iter().position(|s| s.name == primary) else {
            return;
        };
        match self.servers[p].refusals.pop_front() {
            Some(reason) => self.push_refusal(p, replica, reason),
            None => self.servers[p].awaiting_reason.push_back(replica),
        }
    }

    /// Primary `p` refused `replica`'s partial resync for `reason`.
    fn push_refusal(&mut self, p: usize, replica: usize, reason: FullResyncReason) {
        let fact = Fact::FullResyncNeeded {
            server: self.servers[p].name.clone(),
            replica: self.servers[replica].name.clone(),
            reason,
        };
        self.push(p as u32, fact);
    }

    fn sample(&mut self, reachable: &dyn Fn(&str) -> bool) {
        let primaries: Vec<Option<usize>> = (0..self.servers.len())
            .map(|i| {
                let p = self.context(i).primary?;
                self.servers.iter().position(|s| s.name == p)
            })
            .collect();
        let row = self
            .servers
            .iter()
            .zip(primaries)
            .map(|(s, primary)| {
                let info = s.info.as_ref();
                let is_replica = info.is_some_and(|i| i.role != InfoRole::Master);
                ServerSample {
                    up: reachable(&s.name),
                    is_master: info.is_some_and(|i| i.role == InfoRole::Master),
                    offset: info.map_or(0, |i| i.master_repl_offset),
                    link_up: info
                        .and_then(|i| i.replica.as_ref())
                        .is_some_and(|r| r.master_link_up),
                    keys: s.keys,
                    // Not polled from the real servers (INFO memory, CLIENT LIST).
                    repl_buffer_bytes: None,
                    output_buffer_bytes: None,
                    vitals: s.vitals.sampled(primary.filter(|_| is_replica), is_replica),
                }
            })
            .collect();
        let at = SimTime(self.now_ns());
        self.metrics.push(at, row);
    }

    /// The latest INFO of server `name`.
    pub fn info(&self, name: &str) -> Option<&ReplicationInfo> {
        self.servers.iter().find(|s| s.name == name)?.info.as_ref()
    }

    /// The facts observed so far, in order.
    pub fn notes(&self) -> &[FactNote] {
        &self.notes
    }

    /// The facts and metrics, at the end of the run.
    pub fn finish(mut self) -> (Vec<FactNote>, Metrics) {
        // What the servers logged since the last poll (a resync in the run's last moments).
        self.poll_logs();
        self.notes.sort_by_key(|n| n.time);
        (self.notes, self.metrics)
    }
}

/// `db0:keys=N,...` in an INFO text; 0 when the keyspace is empty.
fn keys_in(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("db0:keys="))
        .filter_map(|r| r.split(',').next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

fn master_of(dir: &Directory, info: &ReplicationInfo) -> Option<String> {
    let r = info.replica.as_ref()?;
    Some(dir.name_at(&r.master_host, r.master_port))
}

/// The role facts between two consecutive INFOs of `server`.
fn role_facts(
    dir: &Directory,
    server: &str,
    before: Option<&ReplicationInfo>,
    now: &ReplicationInfo,
    keys: u64,
    started: bool,
) -> Vec<Fact> {
    let server = server.to_string();
    let offset = now.master_repl_offset;
    if started {
        let role = match master_of(dir, now) {
            Some(primary) => StartRole::Replica { primary },
            None => StartRole::Primary,
        };
        return vec![Fact::Started {
            server,
            role,
            keys,
            replid: now.master_replid.clone(),
            offset,
            data_from: None,
        }];
    }
    let Some(before) = before else {
        return Vec::new();
    };
    match (master_of(dir, before), master_of(dir, now)) {
        (Some(_), None) => {
            let replid2 =
                (now.master_replid2.bytes().any(|b| b != b'0')).then(|| now.master_replid2.clone());
            vec![Fact::Promoted {
                server,
                replid: now.master_replid.clone(),
                replid2,
                offset,
            }]
        }
        (None, Some(primary)) => vec![Fact::Demoted {
            server,
            primary,
            offset,
        }],
        (Some(a), Some(b)) if a != b => vec![Fact::Repointed {
            server,
            primary: b,
            offset,
        }],
        _ => Vec::new(),
    }
}

/// The run ID a server or sentinel reports in `INFO server`.
pub fn run_id(conn: &mut Connection) -> Option<String> {
    let text = match conn.cmd(&["INFO", "server"]).ok()? {
        Reply::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => return None,
    };
    text.lines()
        .find_map(|l| l.trim().strip_prefix("run_id:").map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\
        master_replid:3686079364105450bfad3c5f4fa66f4db508f9b1\r\n\
        master_replid2:1111111111111111111111111111111111111111\r\n\
        master_repl_offset:50\r\nsecond_repl_offset:51\r\nrepl_backlog_active:1\r\n\
        repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\n\
        repl_backlog_histlen:50\r\n# Keyspace\r\ndb0:keys=7,expires=0,avg_ttl=0\r\n";

    fn replica_of(port: u16) -> ReplicationInfo {
        let text = PRIMARY.replace(
            "role:master\r\n",
            &format!(
                "role:slave\r\nmaster_host:127.5.1.1\r\nmaster_port:{port}\r\nmaster_link_status:up\r\n\
                 slave_repl_offset:50\r\nmaster_sync_in_progress:0\r\n"
            ),
        );
        ReplicationInfo::parse(&text).unwrap()
    }

    fn dir() -> Directory {
        let mut d = Directory::new(vec!["p1".into(), "r1".into()], 2, 0);
        d.add_proxy("p1", "127.5.1.1:7001".parse().unwrap());
        d.add_proxy("r1", "127.5.1.1:7002".parse().unwrap());
        d
    }

    #[test]
    fn keys_are_read_from_the_keyspace_section() {
        assert_eq!(keys_in(PRIMARY), 7);
        assert_eq!(keys_in("# Keyspace\r\n"), 0);
    }

    #[test]
    fn role_changes_become_facts() {
        let d = dir();
        let primary = ReplicationInfo::parse(PRIMARY).unwrap();
        let started = role_facts(&d, "r1", None, &replica_of(7001), 7, true);
        assert!(matches!(
            &started[..],
            [Fact::Started { role: StartRole::Replica { primary }, keys: 7, offset: 50, .. }] if primary == "p1"
        ));
        let promoted = role_facts(&d, "r1", Some(&replica_of(7001)), &primary, 7, false);
        assert!(matches!(
            &promoted[..],
            [Fact::Promoted {
                replid2: Some(_),
                offset: 50,
                ..
            }]
        ));
        let demoted = role_facts(&d, "p1", Some(&primary), &replica_of(7002), 7, false);
        assert!(matches!(&demoted[..], [Fact::Demoted { primary, .. }] if primary == "r1"));
        let moved = role_facts(
            &d,
            "x",
            Some(&replica_of(7001)),
            &replica_of(7002),
            7,
            false,
        );
        assert!(matches!(&moved[..], [Fact::Repointed { primary, .. }] if primary == "r1"));
        assert!(role_facts(&d, "p1", Some(&primary), &primary, 7, false).is_empty());
    }
}

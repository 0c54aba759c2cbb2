//! Message-level tests of the server: a kernel with a few servers on one network and a probe
//! that injects commands and role changes, so a test can look at a server's state between
//! any two events.

use std::rc::Rc;

use super::Server;
use crate::fact::Fact;
use crate::net::{Network, PathSpec, Topology};
use crate::proto::Msg;
use crate::redis::{Command, Disk, ServerConfig};
use crate::sim::{
    Ctx, Kernel, KernelLimits, LinkPolicy, Process, ProcessId, RngStreams, SimTime, Step,
};

/// A server, or the probe (which only collects what is sent to it).
#[derive(Clone, Debug)]
enum Node {
    Server(Box<Server>),
    Probe(Vec<(ProcessId, Msg)>),
}

impl Process for Node {
    type Msg = Msg;
    fn on_start(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if let Node::Server(s) = self {
            s.start(ctx);
        }
    }
    fn on_message(&mut self, ctx: &mut Ctx<'_, Msg>, from: ProcessId, msg: Msg) {
        match self {
            Node::Server(s) => s.on_message(ctx, from, msg),
            Node::Probe(got) => got.push((from, msg)),
        }
    }
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Msg>, tag: u64) {
        if let Node::Server(s) = self {
            s.on_timer(ctx, tag);
        }
    }
}

struct Bench {
    kernel: Kernel<Node, Network, ()>,
    probe: ProcessId,
    next_request: u64,
}

const MS: u64 = SimTime::NANOS_PER_MS;

impl Bench {
    /// Servers `(name, replicaof index, config)` on a 1 ms, 10 MB/s network, and a probe.
    fn new(servers: &[(&str, Option<u32>, ServerConfig)]) -> Self {
        let mut names: Vec<String> = servers.iter().map(|s| s.0.to_string()).collect();
        names.push("probe".to_string());
        let spec = PathSpec {
            latency_ns: MS,
            jitter_ns: 0,
            bandwidth_bytes_per_sec: 10_000_000,
        };
        let topology = Topology::new(vec!["local".into()], spec);
        let net = Network::new(
            topology,
            vec![0; names.len()],
            RngStreams::new(1).stream("net"),
        );
        let mut kernel = Kernel::new(1, net, KernelLimits::default());
        let peers = Rc::new(names);
        for (name, master, cfg) in servers {
            let disk = Disk {
                replicaof: master.map(ProcessId),
                ..Disk::default()
            };
            let server = Server::new(name, cfg.clone(), disk, peers.clone());
            kernel.add(&format!("server/{name}"), Node::Server(Box::new(server)));
        }
        let probe = kernel.add("probe", Node::Probe(Vec::new()));
        Bench {
            kernel,
            probe,
            next_request: 0,
        }
    }

    fn server(&self, i: u32) -> &Server {
        match self.kernel.process(ProcessId(i)) {
            Node::Server(s) => s,
            Node::Probe(_) => unreachable!("not a server"),
        }
    }

    /// What the probe received.
    fn received(&self) -> &[(ProcessId, Msg)] {
        match self.kernel.process(self.probe) {
            Node::Probe(got) => got,
            Node::Server(_) => unreachable!("the probe"),
        }
    }

    fn now(&self) -> SimTime {
        self.kernel.now()
    }

    /// Runs every event up to `ms` of simulated time.
    fn run_until(&mut self, ms: u64) {
        while let Step::Handled | Step::Control(..) =
            self.kernel.step(SimTime(ms * MS)).expect("within limits")
        {}
    }

    /// Runs until a note of `kind` appears (at most until `limit_ms`); returns its time.
    fn run_until_note(&mut self, kind: &str, limit_ms: u64) -> SimTime {
        let seen = self.kernel.notes().len();
        loop {
            if let Some(n) = self.kernel.notes()[seen..]
                .iter()
                .find(|n| n.fact.kind() == kind)
            {
                return n.time;
            }
            match self
                .kernel
                .step(SimTime(limit_ms * MS))
                .expect("within limits")
            {
                Step::Handled | Step::Control(..) => {}
                Step::Idle | Step::Horizon => panic!("no {kind} before {limit_ms} ms"),
            }
        }
    }

    /// Sends `msg` from the probe to server `to`, now.
    fn send(&mut self, to: u32, msg: Msg) {
        let (now, probe) = (self.now(), self.probe);
        self.kernel
            .inject(now, probe, ProcessId(to), msg)
            .expect("queued");
    }

    fn set(&mut self, to: u32, key: &str, value_size: usize) {
        self.next_request += 1;
        let value: Rc<str> = Rc::from("v".repeat(value_size));
        let cmd = Command::Set(Rc::from(key), value);
        let id = self.next_request;
        self.send(to, Msg::Request { id, cmd });
    }

    /// Cuts (or, with `false`, heals) both directions between two servers.
    fn cut(&mut self, a: u32, b: u32, cut: bool) {
        let delta = if cut { 1 } else { -1 };
        let (a, b) = (ProcessId(a), ProcessId(b));
        self.kernel.links_mut().adjust_cut(a, b, delta);
        self.kernel.links_mut().adjust_cut(b, a, delta);
        if cut {
            self.kernel
                .hold_in_flight(&[(a, b), (b, a)].into_iter().collect());
        } else {
            self.kernel.release_held().expect("released");
        }
    }

    fn notes_of(&self, kind: &str, server: &str) -> Vec<SimTime> {
        self.kernel
            .notes()
            .iter()
            .filter(|n| n.fact.kind() == kind && n.fact.server() == Some(server))
            .map(|n| n.time)
            .collect()
    }
}

fn cfg() -> ServerConfig {
    ServerConfig {
        save: Vec::new(),
        repl_diskless_sync_delay_secs: 1,
        repl_ping_replica_period_secs: 1,
        ..ServerConfig::default()
    }
}

/// INFO `master_link_down_since_seconds` is -1 until a connected link is lost, and counts
/// from that loss: failed handshakes do not restart it (`repl_down_since` is set only in
/// replicationHandleMasterDisconnection).
#[test]
fn master_link_down_since_counts_from_the_lost_link() {
    let r_cfg = ServerConfig {
        repl_timeout_secs: 3,
        ..cfg()
    };
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), r_cfg)]);
    b.cut(0, 1, true);
    b.kernel.start();
    b.run_until(10_000);
    let info = b.server(1).info(b.now());
    assert_eq!(info.master_link_down_secs, -1, "never connected");
    b.cut(0, 1, false);
    b.run_until(20_000);
    assert!(b.server(1).link_up());
    b.cut(0, 1, true);
    b.run_until(40_000);
    let timeouts: Vec<SimTime> = b
        .notes_of("repl:timeout", "r")
        .into_iter()
        .filter(|t| t.as_ms() > 20_000)
        .collect();
    assert!(timeouts.len() >= 3, "the link and then handshakes failed");
    let lost = timeouts[0];
    let info = b.server(1).info(b.now());
    let expected = (b.now().since(lost) / SimTime::NANOS_PER_SEC) as i64;
    assert_eq!(info.master_link_down_secs, expected);
}

/// REPLICAOF is not allowed while loading (no CMD_LOADING flag: -LOADING): the role does not
/// change, not even after the load.
#[test]
fn replicaof_during_a_load_is_refused() {
    let r_cfg = ServerConfig {
        rdb_load_bytes_per_sec: 10_000,
        ..cfg()
    };
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), r_cfg)]);
    b.kernel.start();
    for i in 0..50 {
        b.set(0, &format!("k{i}"), 1000);
    }
    b.run_until_note("repl:flush", 10_000);
    assert!(b.server(1).is_loading());
    b.send(1, Msg::ReplicaOf { master: None });
    b.run_until_note("repl:full-resync-done", 20_000);
    b.run_until(b.now().as_ms() + 100);
    assert!(b.server(1).replica.is_some(), "still a replica");
}

/// freeReplicaReferencedReplBuffer trims only what no other replica references: dropping one
/// replica leaves the blocks a slow one still needs.
#[test]
fn dropping_a_replica_keeps_blocks_another_references() {
    let p_cfg = ServerConfig {
        repl_backlog_size: 16 * 1024,
        repl_timeout_secs: 5,
        tcp_send_buffer_bytes: 0,
        ..cfg()
    };
    let slow_cfg = ServerConfig {
        repl_timeout_secs: 100,
        ..cfg()
    };
    let servers = [
        ("p", None, p_cfg),
        ("fast", Some(0), cfg()),
        ("slow", Some(0), slow_cfg),
    ];
    let mut b = Bench::new(&servers);
    b.kernel.start();
    b.run_until(3_000);
    assert_eq!(b.server(0).attached_replicas().len(), 2);
    // Only p -> slow is cut: slow keeps ACKing, its output piles up on p.
    b.kernel
        .links_mut()
        .adjust_cut(ProcessId(0), ProcessId(2), 1);
    b.kernel.pause(ProcessId(1));
    for i in 0..100 {
        b.set(0, &format!("k{i}"), 1000);
    }
    b.run_until_note("repl:replica-timeout", 20_000);
    let p = b.server(0);
    assert_eq!(p.attached_replicas().len(), 1, "fast was dropped");
    let unsent = b.kernel.links().queued_bytes(ProcessId(0), ProcessId(2));
    let first_unsent = p.repl().offset + 1 - unsent.min(p.repl().offset);
    let backlog = p.backlog().expect("a backlog");
    assert!(
        backlog.first_offset() <= first_unsent,
        "the backlog starts at {} but slow still needs {first_unsent}",
        backlog.first_offset()
    );
}

/// A replica's ACK offset starts at 0 on every new connection (createClient), also after a
/// partial resync, until its first REPLCONF ACK.
#[test]
fn a_new_replicas_ack_offset_starts_at_zero() {
    let r_cfg = ServerConfig {
        repl_timeout_secs: 2,
        ..cfg()
    };
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), r_cfg)]);
    b.kernel.start();
    b.set(0, "k", 10);
    b.run_until(5_000);
    assert!(b.server(1).link_up());
    b.cut(0, 1, true);
    b.run_until(9_000);
    b.cut(0, 1, false);
    b.run_until_note("repl:continue", 20_000);
    assert_eq!(b.server(0).attached_replicas(), vec![(ProcessId(1), 0)]);
}

/// replicationUnsetMaster shifts the replication ID but creates no backlog: a replica that
/// never synced has none after its promotion.
#[test]
fn promotion_creates_no_backlog() {
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), cfg())]);
    b.cut(0, 1, true);
    b.kernel.start();
    b.run_until(2_000);
    assert!(b.server(1).backlog().is_none());
    b.send(1, Msg::ReplicaOf { master: None });
    b.run_until(2_100);
    assert!(b.server(1).replica.is_none(), "promoted");
    assert!(b.server(1).backlog().is_none());
    let promoted = b
        .kernel
        .notes()
        .iter()
        .any(|n| matches!(&n.fact, Fact::Promoted { server, .. } if server == "r"));
    assert!(promoted);
}

/// sentinelSendSlaveOf: a sentinel's REPLICAOF comes with CLIENT KILL TYPE normal, so the
/// reconfigured server closes every client connection; an operator's REPLICAOF does not.
#[test]
fn a_sentinels_replicaof_disconnects_the_clients() {
    let closes = |b: &Bench| {
        b.received()
            .iter()
            .filter(|(from, m)| *from == ProcessId(0) && matches!(m, Msg::Close { .. }))
            .count()
    };
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), cfg())]);
    b.kernel.start();
    b.set(0, "k", 10);
    b.run_until(100);
    // The operator's REPLICAOF is injected by the server itself.
    let now = b.now();
    b.kernel
        .inject(
            now,
            ProcessId(0),
            ProcessId(0),
            Msg::ReplicaOf {
                master: Some(ProcessId(1)),
            },
        )
        .expect("queued");
    b.run_until(200);
    assert_eq!(closes(&b), 0, "an operator keeps the clients connected");
    b.set(0, "k2", 10);
    b.run_until(300);
    // The probe stands for a sentinel here: its REPLICAOF NO ONE kills the client (the probe).
    b.send(0, Msg::ReplicaOf { master: None });
    b.run_until(400);
    assert_eq!(closes(&b), 1, "the connected client is disconnected");
    b.send(0, Msg::ReplicaOf { master: None });
    b.run_until(500);
    assert_eq!(closes(&b), 1, "no client connected since: nothing to close");
}

/// Fsync lag with `appendfsync everysec`: the AOF bytes written since the last fsync, back to 0
/// once the next second's fsync runs (aof.c: flushAppendOnlyFile); `None` without an AOF.
#[test]
fn fsync_lag_counts_the_unfsynced_aof_bytes_until_the_next_second() {
    let aof = ServerConfig {
        appendonly: true,
        ..cfg()
    };
    let mut b = Bench::new(&[("p1", None, aof), ("p2", None, cfg())]);
    b.kernel.start();
    b.run_until(1_200);
    assert_eq!(b.server(0).fsync_lag_bytes(), Some(0));
    assert_eq!(b.server(1).fsync_lag_bytes(), None);
    b.set(0, "a", 10);
    b.set(0, "b", 10);
    b.run_until(1_300);
    let one = Command::Set(Rc::from("a"), Rc::from("v".repeat(10))).resp_len();
    assert_eq!(b.server(0).fsync_lag_bytes(), Some(2 * one));
    b.run_until(2_100);
    assert_eq!(b.server(0).fsync_lag_bytes(), Some(0));
}

/// replicationRequestAckFromSlaves only sets `server.get_ack_from_slaves`; beforeSleep sends one
/// `REPLCONF GETACK *` (37 bytes) for every WAIT that blocked in the event-loop iteration.
#[test]
fn waits_blocking_at_once_share_one_getack() {
    let mut b = Bench::new(&[("p", None, cfg()), ("r", Some(0), cfg())]);
    b.kernel.start();
    b.set(0, "k", 10);
    b.run_until(5_500);
    assert!(b.server(1).link_up());
    let before = b.server(0).data.repl.offset;
    for id in [1001, 1002] {
        // Two replicas asked for, one exists: both WAITs block (timeout 0: forever).
        let cmd = Command::Wait(2, 0);
        b.send(0, Msg::Request { id, cmd });
    }
    b.run_until(5_600);
    assert_eq!(b.server(0).primary.blocked.len(), 2, "both WAITs block");
    let getack = crate::redis::StreamItem::Getack.resp_len();
    assert_eq!(getack, 37);
    assert_eq!(b.server(0).data.repl.offset, before + getack);
    // A later WAIT, in another event-loop iteration, asks again.
    let cmd = Command::Wait(2, 0);
    b.send(0, Msg::Request { id: 1003, cmd });
    b.run_until(5_700);
    assert_eq!(b.server(0).data.repl.offset, before + 2 * getack);
}

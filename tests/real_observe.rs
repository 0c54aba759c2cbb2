//! The log observations on real processes: a Sentinel failover after the primary is killed, seen
//! through the sentinel's and servers' logs as typed events (and, run by hand, the old primary
//! restarted and turned into a replica of the new one).

mod real_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use real_support::{binaries, node_ip};
use simkv::real::observe::{LogTailer, Observation, PsyncRefusal, SentinelEvent};
use simkv::real::supervisor::{Binaries, Monitor, SentinelSpec, ServerSpec, Supervisor};

fn server(name: &str, n: u8) -> ServerSpec {
    let mut s = ServerSpec::new(name, node_ip(n));
    s.save = Some(String::new());
    s.extra = vec![("repl-diskless-sync-delay".into(), "0".into())];
    s
}

/// Polls `tailer` until an observation satisfies `want`, keeping every observation seen.
fn until(
    tailer: &mut LogTailer,
    seen: &mut Vec<Observation>,
    what: &str,
    timeout: Duration,
    want: impl Fn(&Observation) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        for (_, o) in tailer.poll_observations().unwrap() {
            let hit = want(&o);
            seen.push(o);
            if hit {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; observed so far: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sentinel_events(seen: &[Observation]) -> Vec<&SentinelEvent> {
    seen.iter()
        .filter_map(|o| match o {
            Observation::Sentinel(e) => Some(e),
            _ => None,
        })
        .collect()
}

const SHORT: Duration = Duration::from_secs(5);

/// A primary, its replica and one sentinel, with a tailer and the observations seen per log.
struct Watched {
    sup: Supervisor,
    p: SocketAddr,
    r: SocketAddr,
    logs: BTreeMap<&'static str, (LogTailer, Vec<Observation>)>,
}

impl Watched {
    fn start(bins: Binaries) -> Watched {
        let mut sup = Supervisor::new(bins).unwrap();
        let p = sup.start_server(&server("p1", 51)).unwrap();
        let mut replica = server("r1", 52);
        replica.replicaof = Some(p);
        let r = sup.start_server(&replica).unwrap();
        sup.start_sentinel(&SentinelSpec {
            name: "s1".into(),
            ip: node_ip(53),
            monitors: vec![Monitor {
                primary_name: "mymaster".into(),
                addr: p,
                quorum: 1,
                down_after_milliseconds: Some(1000),
                failover_timeout: Some(10000),
                parallel_syncs: None,
            }],
            announce_ip: None,
            announce_port: None,
            extra: vec![],
        })
        .unwrap();
        let logs = ["p1", "r1", "s1"]
            .into_iter()
            .map(|n| {
                let tailer = LogTailer::new(&sup.node(n).unwrap().log_path());
                (n, (tailer, Vec::new()))
            })
            .collect();
        Watched { sup, p, r, logs }
    }

    fn until(
        &mut self,
        node: &str,
        what: &str,
        timeout: Duration,
        want: impl Fn(&Observation) -> bool,
    ) {
        let (tailer, seen) = self.logs.get_mut(node).unwrap();
        until(tailer, seen, what, timeout, want);
    }

    fn seen(&self, node: &str) -> &[Observation] {
        &self.logs[node].1
    }

    fn replica_name(&self) -> String {
        format!("{}:{}", self.r.ip(), self.r.port())
    }

    fn check_initial_sync(&mut self) {
        self.until("r1", "the replica's sync", SHORT, |o| {
            *o == Observation::SyncFinished
        });
        let (host, port) = (self.p.ip().to_string(), self.p.port());
        let rseen = self.seen("r1");
        assert!(
            rseen.contains(&Observation::ConnectingToMaster { host, port }),
            "{rseen:?}"
        );
        assert!(
            rseen
                .iter()
                .any(|o| matches!(o, Observation::FullResyncFromMaster { offset: 0, .. }))
        );
        let replica = self.replica_name();
        self.until("p1", "the replica online", SHORT, |o| {
            *o == Observation::ReplicaOnline {
                replica: replica.clone(),
            }
        });
        self.until(
            "s1",
            "the sentinel to see the replica",
            SHORT,
            |o| matches!(o, Observation::Sentinel(e) if e.kind == "+slave"),
        );
    }

    fn check_failover(&mut self) {
        self.sup.kill("p1").unwrap();
        self.until(
            "s1",
            "+switch-master",
            Duration::from_secs(15),
            |o| matches!(o, Observation::Sentinel(e) if e.kind == "+switch-master"),
        );
        let events = sentinel_events(self.seen("s1"));
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let start = kinds.iter().position(|k| *k == "+sdown").expect("+sdown");
        assert_eq!(&kinds[start..], &FAILOVER, "the failover's events in order");
        let sdown = events[start].instance.as_ref().unwrap();
        assert_eq!(
            (sdown.kind.as_str(), sdown.name.as_str()),
            ("master", "mymaster")
        );
        let promoted = events[start + 10].instance.as_ref().unwrap();
        assert_eq!(promoted.kind, "slave");
        assert_eq!(promoted.name, self.replica_name());
        let (p, r) = (self.p, self.r);
        assert_eq!(
            events.last().unwrap().detail,
            format!("mymaster {} {} {} {}", p.ip(), p.port(), r.ip(), r.port())
        );
        self.until("r1", "the replica's promotion", SHORT, |o| {
            *o == Observation::MasterModeEnabled
        });
    }

    /// The old primary comes back empty (no persistence) and the sentinel demotes it.
    fn check_rejoin(&mut self) {
        self.sup.restart("p1").unwrap();
        self.until(
            "s1",
            "+convert-to-slave",
            Duration::from_secs(15),
            |o| matches!(o, Observation::Sentinel(e) if e.kind == "+convert-to-slave"),
        );
        // A loaded machine can take a while to reconnect and finish the full sync.
        let after_convert = Duration::from_secs(20);
        self.until("p1", "the old primary's full resync", after_convert, |o| {
            matches!(o, Observation::FullResyncFromMaster { .. })
        });
        let (host, port) = (self.r.ip().to_string(), self.r.port());
        assert!(
            self.seen("p1")
                .contains(&Observation::ConnectingToMaster { host, port })
        );
        // A primary turned replica offers its own history (replication.c:
        // replicationCacheMasterUsingMyself), which the new primary refuses by ID.
        self.until("r1", "the new primary's refusal", after_convert, |o| {
            matches!(
                o,
                Observation::PartialResyncNotAccepted(PsyncRefusal::ReplidMismatch { .. })
            )
        });
    }
}

/// A failover's sentinel events, in order (sentinel.c: sentinelFailoverStateMachine).
const FAILOVER: [&str; 14] = [
    "+sdown",
    "+odown",
    "+new-epoch",
    "+try-failover",
    "+vote-for-leader",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+failover-end",
    "+switch-master",
];

#[test]
fn a_failover_and_a_rejoin_as_the_logs_tell_them() {
    let Some(bins) = binaries("a_failover_and_a_rejoin_as_the_logs_tell_them") else {
        return;
    };
    let mut w = Watched::start(bins);
    w.check_initial_sync();
    w.check_failover();
}

/// The old primary's return after the failover. Not run in the suite: on this machine real
/// Sentinel 7.0.15 sometimes (2 of 5 runs) turned the promoted replica back into a replica of
/// the restarted, empty old primary (the promoted replica then full-synced from it, losing
/// everything) instead of converting the old primary; docs/fidelity.md records it. Run it with
/// `cargo test --release --test real_observe -- --ignored` to watch for it.
#[test]
#[ignore = "real Sentinel's choice after a fast restart of the old primary varies between runs"]
fn an_old_primary_restarted_after_the_failover_rejoins_as_a_replica() {
    let Some(bins) = binaries("an_old_primary_restarted_after_the_failover_rejoins_as_a_replica")
    else {
        return;
    };
    let mut w = Watched::start(bins);
    w.check_initial_sync();
    w.check_failover();
    w.check_rejoin();
}

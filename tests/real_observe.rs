//! The log observations on real processes: a Sentinel failover after the primary is killed, seen
//! through the sentinel's and servers' logs as typed events, then the old primary restarted and
//! turned into a replica of the new one.

mod real_support;

use std::time::{Duration, Instant};

use real_support::{binaries, node_ip};
use simkv::real::observe::{LogTailer, Observation, PsyncRefusal, SentinelEvent};
use simkv::real::supervisor::{Monitor, SentinelSpec, ServerSpec, Supervisor};

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

fn sentinel_kinds(seen: &[Observation]) -> Vec<&SentinelEvent> {
    seen.iter()
        .filter_map(|o| match o {
            Observation::Sentinel(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failover_and_a_rejoin_as_the_logs_tell_them() {
    let Some(bins) = binaries("a_failover_and_a_rejoin_as_the_logs_tell_them") else {
        return;
    };
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
    let log = |name: &str| LogTailer::new(&sup.node(name).unwrap().log_path());
    let (mut plog, mut rlog, mut slog) = (log("p1"), log("r1"), log("s1"));
    let (mut pseen, mut rseen, mut sseen) = (Vec::new(), Vec::new(), Vec::new());
    let short = Duration::from_secs(5);

    until(&mut rlog, &mut rseen, "the replica's sync", short, |o| {
        *o == Observation::SyncFinished
    });
    assert!(
        rseen.contains(&Observation::ConnectingToMaster {
            host: p.ip().to_string(),
            port: p.port()
        }),
        "{rseen:?}"
    );
    assert!(
        rseen
            .iter()
            .any(|o| matches!(o, Observation::FullResyncFromMaster { offset: 0, .. }))
    );
    let r_name = format!("{}:{}", r.ip(), r.port());
    until(&mut plog, &mut pseen, "the replica online", short, |o| {
        *o == Observation::ReplicaOnline {
            replica: r_name.clone(),
        }
    });
    until(
        &mut slog,
        &mut sseen,
        "the sentinel to see the replica",
        short,
        |o| matches!(o, Observation::Sentinel(e) if e.kind == "+slave"),
    );

    sup.kill("p1").unwrap();
    until(
        &mut slog,
        &mut sseen,
        "+switch-master",
        Duration::from_secs(15),
        |o| matches!(o, Observation::Sentinel(e) if e.kind == "+switch-master"),
    );
    let events = sentinel_kinds(&sseen);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let failover = [
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
    let start = kinds.iter().position(|k| *k == "+sdown").expect("+sdown");
    assert_eq!(&kinds[start..], &failover, "the failover's events in order");
    let sdown = events[start].instance.as_ref().unwrap();
    assert_eq!(
        (sdown.kind.as_str(), sdown.name.as_str()),
        ("master", "mymaster")
    );
    let promoted = events[start + 10].instance.as_ref().unwrap();
    assert_eq!(
        (promoted.kind.as_str(), promoted.name.as_str()),
        ("slave", r_name.as_str())
    );
    let switch = events.last().unwrap();
    assert_eq!(
        switch.detail,
        format!("mymaster {} {} {} {}", p.ip(), p.port(), r.ip(), r.port())
    );
    until(
        &mut rlog,
        &mut rseen,
        "the replica's promotion",
        short,
        |o| *o == Observation::MasterModeEnabled,
    );

    // The old primary comes back empty (no persistence) and the sentinel demotes it.
    sup.restart("p1").unwrap();
    until(
        &mut slog,
        &mut sseen,
        "+convert-to-slave",
        Duration::from_secs(15),
        |o| matches!(o, Observation::Sentinel(e) if e.kind == "+convert-to-slave"),
    );
    let after_convert = Duration::from_secs(10);
    until(
        &mut plog,
        &mut pseen,
        "the old primary's full resync",
        after_convert,
        |o| matches!(o, Observation::FullResyncFromMaster { .. }),
    );
    assert!(pseen.contains(&Observation::ConnectingToMaster {
        host: r.ip().to_string(),
        port: r.port()
    }));
    // A primary turned replica offers its own history (replication.c:
    // replicationCacheMasterUsingMyself), which the new primary refuses by ID.
    until(
        &mut rlog,
        &mut rseen,
        "the new primary's refusal",
        after_convert,
        |o| {
            matches!(
                o,
                Observation::PartialResyncNotAccepted(PsyncRefusal::ReplidMismatch { .. })
            )
        },
    );
}

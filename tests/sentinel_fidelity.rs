//! Sentinel as Redis 7.0.15's sentinel.c does it: each test pins one behaviour a reading of
//! the source found (the function is named on each test) on a small three-server, three-sentinel
//! deployment with scheduled faults.

use simkv::fact::{EventSubject, Fact, FactNote, SentinelEventKind as K};
use simkv::scenario::Scenario;
use simkv::sim::SimTime;
use simkv::world::World;

const BASE: &str = r#"
name = "sentinel-fidelity"
seed = 1
duration = "300s"
quiet = "20s"

[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"

[sentinels.defaults]
monitor = "p1"
name = "mymaster"
quorum = 2
down-after-milliseconds = 5000
failover-timeout = 60000
parallel-syncs = 1

[sentinels.s1]
[sentinels.s2]
[sentinels.s3]

[workloads.app]
clients = 1
discovery = "sentinel"
think = "50ms"
keys = 50
mix = { set = 80, get = 20 }
timeout = "1s"
"#;

/// Runs `BASE` plus `extra` (faults, servers) with `overrides`, and returns its facts.
fn run(extra: &str, overrides: &[&str], seed: u64) -> Vec<FactNote> {
    let text = format!("{BASE}\n{extra}");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = Scenario::parse("sentinel-fidelity.toml", &text, &o).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, seed).run(&mut |_| {}).unwrap().notes
}

fn secs(n: &FactNote) -> f64 {
    n.time.0 as f64 / SimTime::NANOS_PER_SEC as f64
}

/// Sentinel events of `kind`, with the sentinel's process id.
fn events(notes: &[FactNote], kind: K) -> Vec<&FactNote> {
    notes
        .iter()
        .filter(|n| matches!(&n.fact, Fact::Sentinel { event, .. } if *event == kind))
        .collect()
}

fn subject(n: &FactNote) -> &EventSubject {
    match &n.fact {
        Fact::Sentinel { subject, .. } => subject,
        other => panic!("not a sentinel event: {other:?}"),
    }
}

fn server_of(n: &FactNote) -> String {
    match subject(n) {
        EventSubject::Slave { server }
        | EventSubject::Instance { server, .. }
        | EventSubject::Master { server, .. } => server.clone(),
        other => panic!("no server in {other:?}"),
    }
}

/// The first `+switch-master` per destination, in order.
fn switches(notes: &[FactNote]) -> Vec<(f64, String)> {
    let mut out: Vec<(f64, String)> = Vec::new();
    for n in events(notes, K::SwitchMaster) {
        let EventSubject::Switch { to, .. } = subject(n) else {
            panic!()
        };
        if out.last().is_none_or(|(_, t)| t != to) {
            out.push((secs(n), to.clone()));
        }
    }
    out
}

// sentinel.c: sentinelResetMaster sets failover_start_time = 0 at +switch-master.
#[test]
fn second_failover_of_the_new_primary_is_not_delayed() {
    let faults = r#"
[[faults]]
kind = "crash"
targets = ["p1"]
at = "20s"
[[faults]]
kind = "crash"
targets = ["r1"]
at = "70s"
"#;
    for seed in 1..=3 {
        let notes = run(faults, &["servers.r1.replica-priority=10"], seed);
        let sw = switches(&notes);
        assert_eq!(
            sw.first().map(|s| s.1.as_str()),
            Some("r1"),
            "seed {seed}: {sw:?}"
        );
        let second = sw.get(1).unwrap_or_else(|| panic!("seed {seed}: {sw:?}"));
        assert_eq!(second.1, "r2");
        // down-after (5 s) + election and promotion: well under 2 x failover-timeout.
        assert!(
            second.0 < 70.0 + 25.0,
            "seed {seed}: second switch at {}",
            second.0
        );
    }
}

/// p1 cut off from 30 s to 120 s; r2 is promoted meanwhile.
const P1_OUTAGE: &str = r#"
[[faults]]
kind = "isolate"
targets = ["p1"]
at = "30s"
heal = "120s"
"#;

// sentinel.c: sentinelResetMasterAndChangeAddress recreates p1 as a slave instance
// (role_reported = SLAVE); sentinelRefreshInstanceInfo sets role_reported_time at its first
// `role:master` INFO and waits 4 x sentinel_publish_period from then; sentinelSendPeriodicCommands
// sends the next INFO info_period after that reply.
#[test]
fn returning_old_primary_is_converted_after_a_wait_from_its_first_reply() {
    for seed in 1..=3 {
        let notes = run(P1_OUTAGE, &["servers.r2.replica-priority=10"], seed);
        let converts = events(&notes, K::ConvertToSlave);
        let first = converts
            .iter()
            .find(|n| server_of(n) == "p1")
            .unwrap_or_else(|| panic!("seed {seed}: p1 never converted"));
        let after_heal = secs(first) - 120.0;
        assert!(
            after_heal > 8.0,
            "seed {seed}: converted {after_heal:.3} s after the heal"
        );
        assert!(
            after_heal < 25.0,
            "seed {seed}: converted {after_heal:.3} s after the heal"
        );
    }
}

// sentinel.c: sentinelGetCurrentMasterAddress advertises the promoted replica from
// RECONF_SLAVES on, and sentinelForceHelloUpdateForMaster sends the hellos at once, so the
// other sentinels switch before the leader has reconfigured every replica.
#[test]
fn hellos_advertise_the_promoted_replica_during_reconfiguration() {
    for seed in 1..=3 {
        let notes = run(P1_OUTAGE, &["servers.r2.replica-priority=10"], seed);
        let reconf = events(&notes, K::FailoverStateReconfSlaves);
        let leader = reconf.first().expect("a failover").process;
        let end = events(&notes, K::FailoverEnd)
            .into_iter()
            .find(|n| n.process == leader)
            .expect("the leader ends its failover");
        let others_switched = events(&notes, K::ConfigUpdateFrom)
            .into_iter()
            .filter(|n| n.process != leader && n.time < end.time)
            .count();
        assert!(
            others_switched >= 1,
            "seed {seed}: nobody learned the new primary before the leader's +failover-end"
        );
    }
}

// sentinel.c: sentinelFailoverWaitStart, sentinelFailoverSelectSlave,
// sentinelFailoverSendSlaveOfNoOne emit the state events; sentinelRefreshInstanceInfo moves a
// replica from RECONF_SENT to INPROG and on to DONE within one INFO reply.
#[test]
fn failover_state_events_and_one_reply_reconfiguration() {
    let mut same_reply = 0;
    for seed in 1..=5 {
        let notes = run(P1_OUTAGE, &["servers.r2.replica-priority=10"], seed);
        let order = [
            K::ElectedLeader,
            K::FailoverStateSelectSlave,
            K::SelectedSlave,
            K::FailoverStateSendSlaveofNoone,
            K::FailoverStateWaitPromotion,
            K::PromotedSlave,
            K::FailoverStateReconfSlaves,
        ];
        let leader = events(&notes, K::ElectedLeader)[0].process;
        let mine: Vec<&FactNote> = notes
            .iter()
            .filter(|n| n.process == leader && matches!(n.fact, Fact::Sentinel { .. }))
            .collect();
        let mut at = 0;
        for kind in order {
            let i = mine[at..]
                .iter()
                .position(|n| matches!(&n.fact, Fact::Sentinel { event, .. } if *event == kind))
                .unwrap_or_else(|| panic!("seed {seed}: {kind:?} missing"));
            at += i + 1;
        }
        // +selected-slave and +failover-state-send-slaveof-noone come in the same tick.
        let sel = events(&notes, K::SelectedSlave)[0].time;
        let send = events(&notes, K::FailoverStateSendSlaveofNoone)[0].time;
        assert_eq!(sel, send, "seed {seed}");
        // sentinel.c: sentinelFailoverDetectEnd, then the switch in the same timer call.
        let end = events(&notes, K::FailoverEnd);
        let end = end
            .iter()
            .find(|n| n.process == leader)
            .expect("+failover-end");
        let switched = events(&notes, K::SwitchMaster);
        let switched = switched
            .iter()
            .find(|n| n.process == leader)
            .expect("+switch-master");
        assert_eq!(end.time, switched.time, "seed {seed}");
        let inprog = events(&notes, K::SlaveReconfInprog);
        let done = events(&notes, K::SlaveReconfDone);
        same_reply += inprog
            .iter()
            .filter(|i| {
                done.iter()
                    .any(|d| d.time == i.time && d.process == i.process)
            })
            .count();
    }
    assert!(
        same_reply >= 1,
        "no replica went inprog -> done on one INFO"
    );
}

// sentinel.c: sentinelRefreshInstanceInfo fixes a replica following another primary only
// failover-timeout after its reported primary last changed (slave_conf_change_time, set by the
// first INFO after the heal), and when it did not go SDOWN within that time either.
#[test]
fn fix_slave_config_waits_on_the_reported_primary_change() {
    let faults = r#"
[[faults]]
kind = "isolate"
targets = ["p1", "r1"]
at = "30s"
heal = "120s"
"#;
    for seed in 1..=3 {
        let notes = run(faults, &["servers.r2.replica-priority=10"], seed);
        let fixes = events(&notes, K::FixSlaveConfig);
        let first = fixes
            .iter()
            .find(|n| server_of(n) == "r1")
            .unwrap_or_else(|| panic!("seed {seed}: r1 never fixed"));
        // failover-timeout (60 s) after the first INFO following the heal.
        assert!(
            secs(first) > 180.0,
            "seed {seed}: fixed at {:.3}",
            secs(first)
        );
    }
}

// sentinel.c: sentinelHandleRedisInstance returns before sentinelCheckSubjectivelyDown while
// in TILT; the is-master-down-by-addr command still votes, only its down answer is 0.
#[test]
fn tilted_sentinel_judges_nothing_but_still_votes() {
    let faults = r#"
[[faults]]
kind = "pause"
targets = ["s1"]
at = "25s"
heal = "30s"
[[faults]]
kind = "isolate"
targets = ["p1"]
at = "32s"
heal = "120s"
"#;
    let mut votes_in_tilt = 0;
    for seed in 1..=4 {
        let notes = run(faults, &["servers.r2.replica-priority=10"], seed);
        let s1 = notes
            .iter()
            .filter(|n| matches!(&n.fact, Fact::Sentinel { sentinel, .. } if sentinel == "s1"));
        let mut tilted = false;
        for n in s1 {
            let Fact::Sentinel { event, .. } = &n.fact else {
                continue;
            };
            match event {
                K::Tilt => tilted = true,
                K::TiltExit => tilted = false,
                K::Sdown | K::SdownExit | K::Odown | K::ConvertToSlave | K::FixSlaveConfig => {
                    assert!(
                        !tilted,
                        "seed {seed}: s1 {event:?} at {:.3} in TILT",
                        secs(n)
                    )
                }
                K::VoteForLeader if tilted => votes_in_tilt += 1,
                _ => {}
            }
        }
        let s1_tilts = events(&notes, K::Tilt)
            .into_iter()
            .filter(|n| matches!(&n.fact, Fact::Sentinel { sentinel, .. } if sentinel == "s1"))
            .count();
        assert!(s1_tilts >= 1, "seed {seed}: s1 never entered TILT");
    }
    assert!(votes_in_tilt >= 1, "s1 never voted while in TILT");
}

// sentinel.c: sentinelFailoverReconfNextSlave checks the 10 s RECONF_SENT timeout only inside
// its `in_progress < parallel_syncs` loop: with parallel-syncs 1 and the one replica in flight
// slow to answer, nothing times out.
#[test]
fn reconf_sent_timeout_only_inside_the_parallel_syncs_loop() {
    let faults = r#"
[[faults]]
kind = "latency"
targets = ["r1"]
extra = "12s"
at = "1s"
heal = "250s"
[[faults]]
kind = "isolate"
targets = ["p1"]
at = "30s"
heal = "200s"
"#;
    let overrides = [
        "servers.r2.replica-priority=10",
        "sentinels.defaults.down-after-milliseconds=30000",
    ];
    for seed in 1..=3 {
        let notes = run(faults, &overrides, seed);
        let sent: Vec<String> = events(&notes, K::SlaveReconfSent)
            .iter()
            .map(|n| server_of(n))
            .collect();
        assert!(sent.iter().any(|s| s == "r1"), "seed {seed}: {sent:?}");
        let timeouts = events(&notes, K::SlaveReconfSentTimeout);
        assert!(
            timeouts.is_empty(),
            "seed {seed}: -slave-reconf-sent-timeout at {:.3}",
            secs(timeouts[0])
        );
    }
}

const TWO_GROUPS: &str = r#"
name = "sentinel-epochs"
seed = 1
duration = "200s"
quiet = "20s"

[servers.pa]
[servers.ra]
replicaof = "pa"
[servers.pb]
[servers.rb]
replicaof = "pb"

[sentinels.defaults]
monitor = ["pa", "pb"]
quorum = 2
down-after-milliseconds = 5000
failover-timeout = 30000

[sentinels.s1]
[sentinels.s2]
[sentinels.s3]

[[faults]]
kind = "crash"
targets = ["pa"]
at = "20s"
[[faults]]
kind = "crash"
targets = ["pb"]
at = "60s"
[[faults]]
kind = "pause"
targets = ["s3"]
at = "120s"
heal = "140s"
"#;

// sentinel.c: `sentinel.current_epoch` is one per process, so the failover of the second
// primary runs in a newer epoch than the first's; sentinels PING each other
// (sentinelSendPeriodicCommands) and so see a paused one go SDOWN.
#[test]
fn one_epoch_per_sentinel_process_and_sentinels_ping_each_other() {
    for seed in 1..=3 {
        let s = Scenario::parse("sentinel-epochs.toml", TWO_GROUPS, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        let notes = World::new(&s, seed).run(&mut |_| {}).unwrap().notes;
        let elected: Vec<(String, u64)> = events(&notes, K::ElectedLeader)
            .iter()
            .map(|n| match subject(n) {
                EventSubject::Epoch { master, epoch, .. } => (master.clone(), *epoch),
                other => panic!("{other:?}"),
            })
            .collect();
        let epoch_of = |name: &str| {
            elected
                .iter()
                .find(|(m, _)| m == name)
                .unwrap_or_else(|| panic!("seed {seed}: {name} not failed over: {elected:?}"))
                .1
        };
        assert!(epoch_of("pb") > epoch_of("pa"), "seed {seed}: {elected:?}");
        let s3_down = events(&notes, K::Sdown)
            .into_iter()
            .filter(|n| matches!(subject(n), EventSubject::Sentinel { name } if name == "s3"))
            .count();
        assert!(
            s3_down >= 2,
            "seed {seed}: s1 and s2 see s3 down ({s3_down})"
        );
    }
}

// sentinel.c: sentinelRefreshInstanceInfo reports a new run_id as +reboot and, with
// master-reboot-down-after-period set, flags the primary (SRI_MASTER_REBOOT) until a PONG.
#[test]
fn a_restarted_primary_is_reported_as_rebooted() {
    let faults = r#"
[[faults]]
kind = "crash"
targets = ["p1"]
at = "20s"
heal = "22s"
"#;
    let notes = run(
        faults,
        &["sentinels.defaults.master-reboot-down-after-period=1ms"],
        1,
    );
    let reboots: Vec<String> = events(&notes, K::Reboot)
        .iter()
        .map(|n| server_of(n))
        .collect();
    assert!(
        reboots.len() >= 3,
        "every sentinel sees p1 reboot: {reboots:?}"
    );
    assert!(reboots.iter().all(|s| s == "p1"), "{reboots:?}");
    // The flag makes the rebooted primary SDOWN, so the sentinels fail it over ...
    assert!(!events(&notes, K::TryFailover).is_empty());
    // ... which they do not by default: it restarted within down-after-milliseconds.
    let notes = run(faults, &[], 1);
    assert!(!events(&notes, K::Reboot).is_empty());
    assert!(events(&notes, K::TryFailover).is_empty());
}

/// pubsub.c: publishCommand propagates `PUBLISH` to the replicas, and sentinel.c:
/// sentinelSendHello publishes a hello on every monitored server every 2 s, so in 7.0 the
/// hellos advance the primary's replication offset like writes. Without writes or pings (the
/// ping period is set past the run) the offset of p1 is then a SELECT plus whole hellos, each
/// `PUBLISH __sentinel__:hello <85-byte payload>` of 134 bytes, and its replicas follow it.
#[test]
fn hellos_are_replicated_like_writes() {
    let text = r#"
name = "hellos"
duration = "30s"
quiet = "1s"
[servers.defaults]
repl-ping-replica-period = 3600
[servers.p1]
[servers.r1]
replicaof = "p1"
[sentinels.defaults]
monitor = "p1"
quorum = 2
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
"#;
    let s = Scenario::parse("inline.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let out = World::new(&s, 1).run(&mut |_| {}).expect("runs");
    let p1 = out.servers.iter().find(|s| s.name == "p1").expect("p1");
    let r1 = out.servers.iter().find(|s| s.name == "r1").expect("r1");
    let select = simkv::redis::select_len(0);
    let hellos = p1.offset.checked_sub(select).expect("p1's offset grew") / 134;
    assert_eq!(
        p1.offset,
        select + hellos * 134,
        "a SELECT and whole hellos"
    );
    // Three sentinels, one hello each every 2 s for about 30 s.
    assert!((30..=50).contains(&hellos), "{hellos} hellos");
    assert_eq!(r1.offset, p1.offset, "the replica received them all");
}

/// A primary cut off with one sentinel keeps receiving that sentinel's hellos, so its offset
/// moves past the point where the majority promoted a replica: when it returns, its PSYNC
/// asks for bytes the new primary never had and it needs a full resync (as in Redis 7.0),
/// though no client wrote to it during the cut.
#[test]
fn hellos_during_a_cut_make_the_returning_primary_resync_fully() {
    let text = r#"
name = "hello-divergence"
duration = "60s"
quiet = "20s"
[servers.defaults]
repl-ping-replica-period = 3600
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"
[sentinels.defaults]
monitor = "p1"
quorum = 2
down-after-milliseconds = 3000
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
[[faults]]
kind = "partition"
between = [["p1", "s1"], ["r1", "r2", "s2", "s3"]]
at = "10s"
heal = "25s"
"#;
    let s = Scenario::parse("inline.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let out = World::new(&s, 1).run(&mut |_| {}).expect("runs");
    let p1 = out.servers.iter().find(|s| s.name == "p1").expect("p1");
    assert!(!p1.is_master, "p1 was converted into a replica");
    let needed: Vec<&FactNote> = out
        .notes
        .iter()
        .filter(|n| n.fact.kind() == "repl:full-resync-needed")
        .filter(|n| matches!(&n.fact, Fact::FullResyncNeeded { replica, .. } if replica == "p1"))
        .collect();
    assert!(
        !needed.is_empty(),
        "p1's PSYNC was refused: its hellos during the cut are not in the new history"
    );
    assert_eq!(p1.stats.partial_resyncs, 0, "no partial resync for p1");
}

/// Runs `BASE` plus `extra` and returns the final server states.
fn run_servers(extra: &str, overrides: &[&str], seed: u64) -> Vec<simkv::world::ServerFinal> {
    let text = format!("{BASE}\n{extra}");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    let s = Scenario::parse("sentinel-fidelity.toml", &text, &o).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, seed).run(&mut |_| {}).unwrap().servers
}

// sentinel.c: sentinelSendPeriodicCommands: a replica reporting `master_link_down_since_seconds`
// (`ri->master_link_down_time != 0`) gets INFO every second instead of every ten.
#[test]
fn a_replica_with_its_link_down_gets_info_every_second() {
    // r1's link to p1 is cut for 100 s (repl-timeout 5 s: the replica notices within seconds);
    // p1 stays reachable, so nobody thinks it is down.
    let faults = r#"
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "50s"
heal = "150s"
"#;
    for seed in 1..=3 {
        let servers = run_servers(faults, &["servers.r1.repl-timeout=5"], seed);
        let info = |name: &str| {
            servers
                .iter()
                .find(|s| s.name == name)
                .expect("server")
                .stats
                .info_requests
        };
        let (r1, r2) = (info("r1"), info("r2"));
        // Three sentinels, about 90 s of a reported down link: about 3 x 90 x (1 - 1/10) more.
        assert!(
            r1 >= r2 + 200,
            "seed {seed}: INFO to r1 {r1}, to the healthy r2 {r2}"
        );
        // r2, healthy all along: one INFO every 10 s from each sentinel (about 3 x 300 / 10).
        assert!((80..=110).contains(&r2), "seed {seed}: INFO to r2 {r2}");
    }
}

// sentinel.c: sentinelCheckObjectivelyDown: "-odown" when the quorum no longer holds.
#[test]
fn odown_ends_when_the_primary_comes_back() {
    // No replica may be promoted (priority 0): the failover aborts and p1 stays the primary.
    let faults = r#"
[[faults]]
kind = "isolate"
targets = ["p1"]
at = "30s"
heal = "60s"
"#;
    let overrides = [
        "servers.r1.replica-priority=0",
        "servers.r2.replica-priority=0",
    ];
    for seed in 1..=3 {
        let notes = run(faults, &overrides, seed);
        let odown = events(&notes, K::Odown);
        let exit = events(&notes, K::OdownExit);
        assert!(!odown.is_empty(), "seed {seed}: p1 is objectively down");
        assert!(odown.iter().all(|n| secs(n) > 30.0 && secs(n) < 60.0));
        assert_eq!(exit.len(), odown.len(), "seed {seed}: every +odown ends");
        assert!(
            exit.iter().all(|n| secs(n) >= 60.0 && secs(n) < 65.0),
            "seed {seed}: -odown at {:?}",
            exit.iter().map(|n| secs(n)).collect::<Vec<_>>()
        );
        for n in &exit {
            assert_eq!(server_of(n), "p1");
        }
    }
}

//! `CLUSTER FAILOVER [FORCE|TAKEOVER]` typed at a Redis Cluster replica's console (a `command`
//! fault), as `clusterCommand` "failover" and `clusterHandleManualFailover` of Redis 7.0.15 run
//! it: the default waits for the paused primary's offset and loses nothing, FORCE skips the
//! primary but still needs the primaries' votes, TAKEOVER needs nobody; Redis's replies.

use simkv::fact::{ClusterFact, Fact, FactNote};
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

const BASE: &str = r#"
name = "manual-failover"
duration = "40s"
quiet = "10s"
regions = ["local"]
[servers.defaults]
save = ""
[cluster]
shards = 3
replicas = 1
cluster-node-timeout = 5000
[workloads.app]
clients = 4
discovery = "cluster"
think = "5ms"
keys = 300
timeout = "1s"
start = "3s"
mix = { set = 80, get = 20 }
"#;

fn run(extra: &str, seed: u64) -> RunReport {
    let text = format!("{BASE}{extra}");
    let s = Scenario::parse("inline.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

fn command(target: &str, command: &str, at: &str) -> String {
    format!(
        "[[faults]]\nkind = \"command\"\ntarget = \"{target}\"\ncommand = \"{command}\"\nat = \"{at}\"\n"
    )
}

fn replies(r: &RunReport) -> Vec<(u64, String, String, String)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::OperatorReply {
                server,
                command,
                reply,
            } => Some((
                n.time.as_ms(),
                server.clone(),
                command.clone(),
                reply.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The cluster events of `node`, with their times (ms).
fn events<'a>(r: &'a RunReport, node: &str) -> Vec<(u64, &'a ClusterFact)> {
    r.output
        .notes
        .iter()
        .filter_map(|n: &FactNote| match &n.fact {
            Fact::Cluster { node: who, event } if who == node => Some((n.time.as_ms(), event)),
            _ => None,
        })
        .collect()
}

fn promoted_at(r: &RunReport, server: &str) -> Option<u64> {
    r.output.notes.iter().find_map(|n| match &n.fact {
        Fact::Promoted { server: s, .. } if s == server => Some(n.time.as_ms()),
        _ => None,
    })
}

fn votes_for(r: &RunReport, to: &str) -> usize {
    r.output
        .notes
        .iter()
        .filter(|n| {
            matches!(&n.fact, Fact::Cluster { event: ClusterFact::VoteGranted { to: t, .. }, .. } if t == to)
        })
        .count()
}

fn check(r: &RunReport, name: &str) -> simkv::check::Status {
    r.summary
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
        .status
}

#[test]
fn the_default_pauses_the_primary_waits_for_its_offset_and_loses_nothing() {
    for seed in 1..=5 {
        let r = run(&command("c1r1", "CLUSTER FAILOVER", "20s"), seed);
        assert_eq!(
            replies(&r),
            [(
                20_000,
                "c1r1".into(),
                "CLUSTER FAILOVER".into(),
                "OK".into()
            )]
        );
        // The primary pauses its clients' writes and tells its final offset; the replica
        // reaches it, starts its election at once (no delay, rank 0) and wins with FORCEACK
        // votes although its primary is up; the old primary follows it and unpauses.
        let primary = events(&r, "c1p");
        let requested = primary
            .iter()
            .find(|(_, e)| matches!(e, ClusterFact::ManualFailoverRequested { by, pause_ms: 10_000 } if by == "c1r1"))
            .expect("MFSTART reached c1p")
            .0;
        let replica = events(&r, "c1r1");
        let kinds: Vec<&str> = replica
            .iter()
            .filter(|(t, _)| *t >= 20_000)
            .map(|(_, e)| e.kind())
            .filter(|k| *k != "cluster:failover-blocked")
            .take(6)
            .collect();
        assert_eq!(
            kinds,
            [
                "cluster:manual-failover",
                "cluster:manual-failover-offset",
                "cluster:manual-failover-can-start",
                "cluster:election-scheduled",
                "cluster:election-started",
                "cluster:promoted",
            ],
            "seed {seed}"
        );
        assert!(replica.iter().any(|(_, e)| matches!(
            e,
            ClusterFact::ElectionScheduled {
                delay_ms: 0,
                rank: 0
            }
        )));
        let promoted = promoted_at(&r, "c1r1").expect("promoted");
        assert!(
            (requested..requested + 100).contains(&promoted),
            "seed {seed}: promoted at {promoted} ms"
        );
        assert!(votes_for(&r, "c1r1") >= 2);
        assert!(
            primary
                .iter()
                .any(|(_, e)| matches!(e, ClusterFact::BecameReplica { of } if of == "c1r1"))
        );
        assert!(
            primary
                .iter()
                .any(|(_, e)| **e == ClusterFact::FailoverPauseEnded)
        );
        // No acknowledged write lost, nothing failed or timed out, no PFAIL anywhere.
        assert!(r.lost.is_empty(), "seed {seed}: {:?}", r.lost.first());
        assert_eq!(r.summary.ops.failed, 0);
        assert_eq!(r.summary.ops.indeterminate, 0);
        assert!(!r.output.notes.iter().any(|n| matches!(
            n.fact,
            Fact::Cluster {
                event: ClusterFact::Pfail { .. },
                ..
            }
        )));
        assert_eq!(check(&r, "slot-owners-at-end"), simkv::check::Status::Pass);
        assert_eq!(check(&r, "converged"), simkv::check::Status::Pass);
        assert_eq!(check(&r, "single-slot-owner"), simkv::check::Status::Pass);
    }
}

#[test]
fn writes_held_by_the_pause_are_redirected_to_the_new_primary() {
    let r = run(&command("c1r1", "CLUSTER FAILOVER", "20s"), 1);
    // Writes that reached c1p while it was paused complete after the failover, on c1r1 (MOVED).
    let promoted = promoted_at(&r, "c1r1").unwrap() * 1_000_000;
    let after: Vec<&simkv::history::HistoryEvent> = r
        .output
        .history
        .events
        .iter()
        .filter(|e| e.time_ns >= promoted && e.time_ns < promoted + 50_000_000)
        .filter(|e| e.kind == simkv::history::EventType::Ok && e.f() == "set")
        .collect();
    assert!(after.iter().any(|e| e.server() == Some("c1r1")));
    assert!(
        !after.iter().any(|e| e.server() == Some("c1p")),
        "c1p acknowledged a write after c1r1's promotion"
    );
}

#[test]
fn force_needs_no_primary_but_an_election_and_takeover_needs_nobody() {
    // c1p's machine dies at 20 s; at 21 s, long before node-timeout flags it FAIL, an operator
    // fails over by hand.
    let crash = "[[faults]]\nkind = \"machine-crash\"\ntargets = [\"c1p\"]\nat = \"20s\"\n";
    // Once c1p is flagged FAIL (node-timeout 5 s, then the majority's reports), the default mode
    // is refused: nobody would answer its handshake. (Replicas here never fail over by
    // themselves, so c1r1 is still a replica at 30 s.)
    let no_auto = BASE.replace(
        "cluster-node-timeout = 5000",
        "cluster-node-timeout = 5000\ncluster-replica-no-failover = true",
    );
    let text = format!(
        "{no_auto}{crash}{}",
        command("c1r1", "CLUSTER FAILOVER", "30s")
    );
    let s = Scenario::parse("inline.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let refused = run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs");
    let r = replies(&refused);
    assert_eq!(
        r[0].3,
        "(error) ERR Master is down or failed, please use CLUSTER FAILOVER FORCE"
    );
    assert!(promoted_at(&refused, "c1r1").is_none());
    // Without the command, c1r1 waits for FAIL, then wins the ordinary election.
    let auto = promoted_at(&run(crash, 1), "c1r1").unwrap();
    assert!(auto > 25_000, "promoted at {auto} ms");

    let forced = run(
        &format!(
            "{crash}{}",
            command("c1r1", "CLUSTER FAILOVER FORCE", "21s")
        ),
        1,
    );
    assert_eq!(replies(&forced)[0].3, "OK");
    let at = promoted_at(&forced, "c1r1").unwrap();
    // The next clusterCron (100 ms at most) starts the election at once.
    assert!((21_000..21_150).contains(&at), "promoted at {at} ms");
    assert!(votes_for(&forced, "c1r1") >= 2, "an election with votes");
    let e = events(&forced, "c1r1");
    assert!(
        e.iter()
            .any(|(_, e)| matches!(e, ClusterFact::ManualFailover { mode } if mode == "force"))
    );
    assert!(
        !e.iter()
            .any(|(_, e)| matches!(e, ClusterFact::ManualFailoverOffset { .. }))
    );

    // With two of three primaries gone, no election can win: FORCE times out, TAKEOVER works.
    let two = "[[faults]]\nkind = \"crash\"\ntargets = [\"c2p\", \"c3p\"]\nat = \"15s\"\n";
    let stuck = run(
        &format!("{two}{}", command("c1r1", "CLUSTER FAILOVER FORCE", "16s")),
        1,
    );
    assert!(promoted_at(&stuck, "c1r1").is_none());
    assert!(
        events(&stuck, "c1r1")
            .iter()
            .any(|(t, e)| **e == ClusterFact::ManualFailoverTimedOut && *t >= 21_000)
    );
    let took = run(
        &format!(
            "{two}{}",
            command("c1r1", "CLUSTER FAILOVER TAKEOVER", "16s")
        ),
        1,
    );
    assert_eq!(replies(&took)[0].3, "OK");
    assert_eq!(promoted_at(&took, "c1r1"), Some(16_000));
    assert_eq!(votes_for(&took, "c1r1"), 0, "no election");
    let e = events(&took, "c1r1");
    let epoch = e
        .iter()
        .find_map(|(_, e)| match e {
            ClusterFact::ConfigEpochWithoutConsensus { epoch } => Some(*epoch),
            _ => None,
        })
        .expect("a configEpoch without consensus");
    assert_eq!(
        epoch, 4,
        "currentEpoch 3 after cluster create, bumped by one"
    );
    assert!(
        e.iter()
            .any(|(_, e)| matches!(e, ClusterFact::Promoted { epoch: 4, .. }))
    );
    // c1p, still up, learns of the newer claim and follows.
    assert!(
        events(&took, "c1p")
            .iter()
            .any(|(_, e)| matches!(e, ClusterFact::BecameReplica { of } if of == "c1r1"))
    );
}

#[test]
fn a_manual_failover_whose_primary_never_answers_times_out() {
    // c1r1 → c1p is cut just before the command: the link is not known down yet, so the request
    // is accepted, but MFSTART waits in the cut link. After CLUSTER_MF_TIMEOUT (5 s) the
    // replica abandons the attempt.
    let cut = "[[faults]]\nkind = \"one-way-partition\"\nfrom = [\"c1r1\"]\nto = [\"c1p\"]\nat = \"19900ms\"\nheal = \"30s\"\n";
    let r = run(
        &format!("{cut}{}", command("c1r1", "CLUSTER FAILOVER", "20s")),
        1,
    );
    assert_eq!(replies(&r)[0].3, "OK");
    let timed_out = events(&r, "c1r1")
        .iter()
        .find(|(_, e)| **e == ClusterFact::ManualFailoverTimedOut)
        .map(|(t, _)| *t)
        .expect("timed out");
    assert!((25_000..25_200).contains(&timed_out), "{timed_out} ms");
    assert!(promoted_at(&r, "c1r1").is_none());
    // The kernel delivers the held MFSTART when the cut heals, as TCP would: the old primary
    // still pauses its writes, until its own 5 s timeout ends the attempt on its side.
    let primary = events(&r, "c1p");
    let requested = primary
        .iter()
        .find(|(_, e)| matches!(e, ClusterFact::ManualFailoverRequested { .. }))
        .map(|(t, _)| *t)
        .expect("MFSTART delivered at the heal");
    assert!(requested >= 30_000, "{requested} ms");
    let resumed = primary
        .iter()
        .find(|(_, e)| **e == ClusterFact::FailoverPauseEnded)
        .map(|(t, _)| *t)
        .expect("unpaused");
    assert!(
        (requested + 5_000..requested + 5_200).contains(&resumed),
        "{requested} -> {resumed} ms"
    );
    assert!(
        primary
            .iter()
            .any(|(t, e)| **e == ClusterFact::ManualFailoverTimedOut && *t == resumed)
    );
}

#[test]
fn replies_as_redis_gives_them() {
    let r = run(
        &[
            command("c1p", "CLUSTER FAILOVER", "10s"),
            command("c2r1", "cluster failover takeover", "12s"),
        ]
        .concat(),
        1,
    );
    let got: Vec<(String, String)> = replies(&r)
        .into_iter()
        .map(|(_, _, c, reply)| (c, reply))
        .collect();
    assert_eq!(
        got,
        [
            (
                "CLUSTER FAILOVER".into(),
                "(error) ERR You should send CLUSTER FAILOVER to a replica".into()
            ),
            ("CLUSTER FAILOVER TAKEOVER".into(), "OK".into()),
        ]
    );
    // Outside a cluster.
    let plain = r#"
name = "plain"
duration = "5s"
quiet = "1s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[[faults]]
kind = "command"
target = "r1"
command = "CLUSTER FAILOVER FORCE"
at = "2s"
"#;
    let s = Scenario::parse("plain.toml", plain, &[]).unwrap();
    let out = run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
    assert_eq!(
        replies(&out)[0].3,
        "(error) ERR This instance has cluster support disabled"
    );
    // An option Redis does not know is a scenario error.
    let e = Scenario::parse(
        "bad.toml",
        &format!("{BASE}{}", command("c1r1", "CLUSTER FAILOVER NOW", "2s")),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown command \"CLUSTER FAILOVER NOW\""),
        "{e}"
    );
    assert!(e.contains("CLUSTER FAILOVER [FORCE|TAKEOVER]"), "{e}");
}

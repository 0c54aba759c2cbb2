//! Redis Cluster in the simulation, end to end: a dead primary's replica wins the election in
//! Redis's order and then serves its slots; a primary cut off with a minority acknowledges
//! writes until node-timeout, then refuses with CLUSTERDOWN, and those writes are lost; the
//! `[cluster]` section's errors.

use simkv::check::Status;
use simkv::fact::{ClusterFact, Fact, FactNote};
use simkv::history::EventType;
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> simkv::runner::RunReport {
    run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap()
}

/// The time (ms) of the first note at or after `since_ms` that `pred` accepts.
fn first_ms(notes: &[FactNote], since_ms: u64, pred: impl Fn(&Fact) -> bool) -> Option<u64> {
    notes
        .iter()
        .filter(|n| n.time.as_ms() >= since_ms)
        .find(|n| pred(&n.fact))
        .map(|n| n.time.as_ms())
}

fn cluster_event(f: &Fact, who: &str, pred: impl Fn(&ClusterFact) -> bool) -> bool {
    matches!(f, Fact::Cluster { node, event } if node == who && pred(event))
}

#[test]
fn a_dead_primarys_replica_wins_the_election_in_order_and_serves_its_slots() {
    let s = load("cluster-shard-failover.toml", &[]);
    for seed in 1..=3 {
        let r = run(&s, seed);
        let notes = &r.output.notes;
        let about_c2p =
            |e: &ClusterFact| matches!(e, ClusterFact::Pfail { about } if about == "c2p");
        let pfail = first_ms(notes, 30_000, |f| cluster_event(f, "c2r1", about_c2p)).unwrap();
        let fail = first_ms(notes, 30_000, |f| {
            cluster_event(
                f,
                "c2r1",
                |e| matches!(e, ClusterFact::Fail { about, .. } if about == "c2p"),
            )
        })
        .unwrap();
        let started = first_ms(notes, 30_000, |f| {
            cluster_event(f, "c2r1", |e| {
                matches!(e, ClusterFact::ElectionStarted { .. })
            })
        })
        .unwrap();
        let won = first_ms(notes, 30_000, |f| {
            cluster_event(
                f,
                "c2r1",
                |e| matches!(e, ClusterFact::Promoted { replaced, .. } if replaced == "c2p"),
            )
        })
        .unwrap();
        let promoted = first_ms(
            notes,
            30_000,
            |f| matches!(f, Fact::Promoted { server, .. } if server == "c2r1"),
        )
        .unwrap();
        // PFAIL needs node-timeout (5 s) without a pong; the rest follows in Redis's order.
        assert!(pfail >= 35_000, "seed {seed}: PFAIL at {pfail} ms");
        assert!(pfail <= fail && fail < started && started <= won && won <= promoted);
        assert!(promoted < 45_000, "seed {seed}: promoted at {promoted} ms");
        let voters = notes
            .iter()
            .filter(|n| matches!(&n.fact, Fact::Cluster { event: ClusterFact::VoteGranted { to, .. }, .. } if to == "c2r1"))
            .count();
        assert!(
            voters >= 2,
            "seed {seed}: a majority of 3 primaries voted, got {voters}"
        );
        // The new primary acknowledges writes after its promotion (clients found it by MOVED).
        let served = r.output.history.events.iter().any(|e| {
            e.kind == EventType::Ok
                && e.f() != "get"
                && e.server() == Some("c2r1")
                && e.time_ns / 1_000_000 > promoted
        });
        assert!(
            served,
            "seed {seed}: c2r1 acknowledged no write after its promotion"
        );
        // c2p restarts in the quiet phase, sees a newer owner of its slots and follows it.
        assert!(
            first_ms(notes, 70_000, |f| {
                cluster_event(
                    f,
                    "c2p",
                    |e| matches!(e, ClusterFact::BecameReplica { of } if of == "c2r1"),
                )
            })
            .is_some()
        );
        let slots = r
            .summary
            .checks
            .iter()
            .find(|c| c.name == "single-slot-owner")
            .unwrap();
        assert_eq!(slots.status, Status::Pass, "{}", slots.detail);
        assert_eq!(r.summary.verdict, simkv::check::verdict::Verdict::Pass);
    }
}

#[test]
fn replicas_that_may_not_fail_over_leave_the_slots_down() {
    let s = load(
        "cluster-shard-failover.toml",
        &["cluster.cluster-replica-no-failover=yes"],
    );
    let r = run(&s, 1);
    assert!(
        !r.output
            .notes
            .iter()
            .any(|n| matches!(n.fact, Fact::Promoted { .. }))
    );
    let down = r.output.history.events.iter().filter(|e| {
        e.kind == EventType::Fail && e.error() == Some("CLUSTERDOWN The cluster is down")
    });
    assert!(
        down.count() > 0,
        "every node is FAIL while c2p's slots have no working owner"
    );
}

#[test]
fn a_minority_primary_writes_until_node_timeout_then_refuses_and_loses_those_writes() {
    let s = load("cluster-minority-partition.toml", &[]);
    for seed in 1..=3 {
        let r = run(&s, seed);
        let notes = &r.output.notes;
        let state_fail = first_ms(notes, 30_000, |f| {
            cluster_event(f, "c1p", |e| *e == ClusterFact::State { ok: false })
        })
        .unwrap();
        assert!(
            (35_000..40_000).contains(&state_fail),
            "seed {seed}: c1p turned FAIL at {state_fail} ms"
        );
        let by_c1p = |e: &&simkv::history::HistoryEvent| e.server() == Some("c1p");
        let events = &r.output.history.events;
        let refused: Vec<u64> = events
            .iter()
            .filter(by_c1p)
            .filter(|e| e.error() == Some("CLUSTERDOWN The cluster is down"))
            .map(|e| e.time_ns / 1_000_000)
            .collect();
        assert!(!refused.is_empty(), "seed {seed}: c1p never refused");
        assert!(
            refused.iter().all(|&t| t >= state_fail),
            "refusals only once FAIL"
        );
        // Every lost write was acknowledged by c1p during the cut, before it turned FAIL, or
        // just before the cut, still on its way to c1r1 when the link went down.
        assert!(!r.lost.is_empty(), "seed {seed}: nothing lost");
        for w in &r.lost {
            assert_eq!(w.server, "c1p", "{w:?}");
            assert!((29_000..=state_fail).contains(&w.ack_ms), "{w:?}");
        }
        let slots = r
            .summary
            .checks
            .iter()
            .find(|c| c.name == "single-slot-owner")
            .unwrap();
        assert_eq!(slots.status, Status::Pass, "{}", slots.detail);
    }
}

/// The minority-partition scenario with its minority clients reading and writing half and half,
/// and `extra` appended to its `[cluster]` section.
fn minority_reading(extra: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join("cluster-minority-partition.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let minority = "[workloads.minority]";
    let (head, tail) = text.split_at(text.find(minority).unwrap());
    let text = format!(
        "{}{}",
        head.replace(
            "cluster-node-timeout = 5000\n",
            &format!("cluster-node-timeout = 5000\n{extra}")
        ),
        tail.replacen(
            "mix = { set = 80, incr = 20 }",
            "mix = { set = 50, get = 50 }",
            1
        )
    );
    Scenario::parse("minority-reading.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// What c1p answered its clients' GETs and SETs while its cluster state was FAIL on the
/// minority side (from its `cluster:state` fail to the heal at 70 s): `(gets ok, gets refused,
/// sets ok, sets refused)`, where refused means the CLUSTERDOWN `text`.
fn answers_while_down(r: &simkv::runner::RunReport, text: &str) -> (usize, usize, usize, usize) {
    let down = first_ms(&r.output.notes, 30_000, |f| {
        cluster_event(f, "c1p", |e| *e == ClusterFact::State { ok: false })
    })
    .expect("c1p turns its cluster state to fail");
    let by_c1p: Vec<&simkv::history::HistoryEvent> = r
        .output
        .history
        .events
        .iter()
        .filter(|e| e.server() == Some("c1p"))
        .filter(|e| (down..70_000).contains(&(e.time_ns / 1_000_000)))
        .collect();
    let count = |f: &str, ok: bool| {
        by_c1p
            .iter()
            .filter(|e| e.f() == f)
            .filter(|e| {
                if ok {
                    e.kind == EventType::Ok
                } else {
                    e.kind == EventType::Fail && e.error() == Some(text)
                }
            })
            .count()
    };
    (
        count("get", true),
        count("get", false),
        count("set", true),
        count("set", false),
    )
}

/// `cluster-allow-reads-when-down yes` (getNodeByQuery): a node whose cluster state is FAIL
/// still serves reads of its slots and refuses writes with `-CLUSTERDOWN The cluster is down
/// and only accepts read commands`; without it, it refuses both with `-CLUSTERDOWN The cluster
/// is down`.
#[test]
fn reads_when_down_serve_gets_and_refuse_sets_on_the_minority_side() {
    for seed in 1..=2 {
        let r = run(
            &minority_reading("cluster-allow-reads-when-down = true\n"),
            seed,
        );
        let ro = "CLUSTERDOWN The cluster is down and only accepts read commands";
        let (gets_ok, gets_refused, sets_ok, sets_refused) = answers_while_down(&r, ro);
        assert!(gets_ok > 0, "seed {seed}: c1p served no GET while down");
        assert_eq!(gets_refused, 0, "seed {seed}: GETs refused");
        assert_eq!(sets_ok, 0, "seed {seed}: c1p acknowledged SETs while down");
        assert!(sets_refused > 0, "seed {seed}: no SET refused: {ro}");
        let refused_as_down = answers_while_down(&r, "CLUSTERDOWN The cluster is down");
        assert_eq!(
            (refused_as_down.1, refused_as_down.3),
            (0, 0),
            "seed {seed}: the read-only text, not the plain one"
        );

        let r = run(&minority_reading(""), seed);
        let (gets_ok, gets_refused, sets_ok, sets_refused) =
            answers_while_down(&r, "CLUSTERDOWN The cluster is down");
        assert_eq!(
            (gets_ok, sets_ok),
            (0, 0),
            "seed {seed}: c1p answered while down without the knob"
        );
        assert!(
            gets_refused > 0 && sets_refused > 0,
            "seed {seed}: GETs and SETs both refused: {gets_refused} {sets_refused}"
        );
    }
}

#[test]
fn same_seed_same_trace() {
    let s = load("cluster-minority-partition.toml", &[]);
    assert_eq!(run(&s, 7).summary.trace_hash, run(&s, 7).summary.trace_hash);
}

fn errors(text: &str) -> String {
    match Scenario::parse("c.toml", text, &[]) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn cluster_section_mistakes_are_located_with_hints() {
    let head = "name = \"c\"\nduration = \"10s\"\n";
    let e = errors(&format!("{head}[cluster]\nreplicas = 1\n"));
    assert!(
        e.contains("cluster.shards") && e.contains("missing `shards`"),
        "{e}"
    );
    let e = errors(&format!(
        "{head}[cluster]\nshards = 2\ncluster-node-timout = 100\n"
    ));
    assert!(e.contains("did you mean `cluster-node-timeout`?"), "{e}");
    assert!(e.contains("c.toml:5"), "{e}");
    let e = errors(&format!("{head}[servers.c1p]\n[cluster]\nshards = 1\n"));
    assert!(e.contains("generates a server \"c1p\""), "{e}");
    let e = errors(&format!(
        "{head}[servers.p]\n[workloads.w]\ndiscovery = \"cluster\"\n"
    ));
    assert!(e.contains("the scenario has no [cluster]"), "{e}");
    let e = errors(&format!(
        "{head}regions = [\"a\", \"b\"]\n[cluster]\nshards = 2\n"
    ));
    assert!(e.contains("missing `region`"), "{e}");
    let ok = Scenario::parse(
        "c.toml",
        &format!("{head}regions = [\"a\", \"b\"]\n[cluster]\nshards = 2\nreplicas = 1\nregions = [\"a\", \"b\"]\n"),
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<(&str, usize)> = ok
        .servers
        .iter()
        .map(|s| (s.name.as_str(), s.region))
        .collect();
    assert_eq!(names, [("c1p", 0), ("c1r1", 1), ("c2p", 1), ("c2r1", 0)]);
    assert_eq!(ok.servers[1].replicaof, Some(0));
}

//! `run_real` refuses what real processes cannot do, with every reason, before it starts anything
//! (these tests need no Redis binaries: the refusal comes first), and a compressed run keeps
//! Redis's own timeouts.

mod real_support;

use simkv::real::plan;
use simkv::real::run::{RealOptions, run_real};
use simkv::real::supervisor::RealError;
use simkv::scenario::Scenario;

const BASE: &str = r#"
name = "refusals"
duration = "10s"
quiet = "2s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.app]
clients = 1
target = "p1"
"#;

fn refusal(faults: &str) -> String {
    let text = format!("{BASE}{faults}");
    let s = Scenario::parse("refusals.toml", &text, &[]).expect("a valid scenario");
    match run_real(&s, 1, &RealOptions::default()) {
        Err(RealError::Unsupported(why)) => why,
        Err(other) => panic!("expected a refusal, got {other}"),
        Ok(_) => panic!("expected a refusal"),
    }
}

#[test]
fn impossible_faults_are_refused_with_their_reasons() {
    let cases = [
        ("machine-crash", "targets = [\"p1\"]", "power loss"),
        (
            "loss",
            "between = [[\"p1\"], [\"r1\"]]\nrate = \"5%\"",
            "packet loss",
        ),
        ("clock", "targets = [\"p1\"]\njump = \"5s\"", "clocks"),
        ("disk-stall", "targets = [\"p1\"]", "disk stall"),
        ("disk-error", "targets = [\"p1\"]", "disk error"),
        (
            "slow-disk",
            "targets = [\"p1\"]\nfsync = \"1s\"",
            "slow disk",
        ),
        ("remove-server", "target = \"r1\"", "removing servers"),
    ];
    for (kind, keys, reason) in cases {
        let why = refusal(&format!(
            "[[faults]]\nkind = \"{kind}\"\n{keys}\nat = \"2s\"\n"
        ));
        assert!(why.contains(reason), "{kind}: {why}");
        assert!(why.contains(kind), "{kind}: the fault is named: {why}");
    }
}

#[test]
fn every_reason_is_given_at_once() {
    let why = refusal(
        "[[faults]]\nkind = \"machine-crash\"\ntargets = [\"p1\"]\nat = \"2s\"\n\
         [[faults]]\nkind = \"disk-stall\"\ntargets = [\"r1\"]\nat = \"3s\"\n",
    );
    assert!(
        why.contains("power loss") && why.contains("disk stall"),
        "{why}"
    );
}

/// The library's Redis Cluster scenarios run on the real backend: `[cluster]` is formed with
/// CLUSTER commands, and a machine crash of a server that persists nothing (`save = ""`) is a
/// kill plus silence on its links.
#[test]
fn cluster_scenarios_are_not_refused() {
    for name in ["cluster-shard-failover", "cluster-minority-partition"] {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
        let s = Scenario::load(&path, &[]).unwrap();
        let faults = plan::schedule(&s, 1);
        assert_eq!(plan::refusals(&s, &faults), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn a_time_scale_must_be_positive() {
    let s = Scenario::parse("refusals.toml", BASE, &[]).unwrap();
    let opts = RealOptions {
        time_scale: 0.0,
        ..RealOptions::default()
    };
    assert!(matches!(
        run_real(&s, 1, &opts),
        Err(RealError::Unsupported(why)) if why.contains("time scale")
    ));
}

#[test]
fn what_is_only_approximated_is_warned_about() {
    let s = Scenario::parse(
        "refusals.toml",
        BASE,
        &["servers.defaults.rdb-save-rate=10mb/s".into()],
    )
    .unwrap();
    let w = plan::warnings(&s);
    assert!(w.iter().any(|x| x.contains("jitter")), "{w:?}");
    assert!(w.iter().any(|x| x.contains("bandwidth")), "{w:?}");
    assert!(w.iter().any(|x| x.contains("rdb-save-rate")), "{w:?}");
}

/// `time_scale` compresses the schedule, not Redis's timeouts: pause-primary's 70 s pause becomes
/// 10.5 s at 0.15, shorter than `repl-timeout` (60 s), so the replicas never drop their links and
/// no resync follows, unlike the full-length run (and the simulator).
#[test]
fn a_compressed_run_keeps_redis_timeouts() {
    let Some(binaries) = real_support::binaries("compressed_run") else {
        return;
    };
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pause-primary.toml");
    let s = Scenario::load(&path, &[]).unwrap();
    let opts = RealOptions {
        time_scale: 0.15,
        binaries: Some(binaries),
        ..RealOptions::default()
    };
    let run = run_real(&s, 1, &opts).unwrap();
    let wall_s = run.duration_ns / 1_000_000_000;
    assert!((19..=22).contains(&wall_s), "130 s at 0.15 took {wall_s} s");
    let pause = &run.faults[0];
    assert!(
        (2900..3400).contains(&pause.at_ms),
        "the pause starts at 20 s × 0.15: {} ms",
        pause.at_ms
    );
    let report = simkv::real::output::report(&s, &simkv::runner::Provenance::default(), &run);
    assert_eq!(report.summary.replication.partial_resyncs, 0);
    let sim = simkv::runner::run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
    assert_eq!(
        sim.summary.replication.partial_resyncs, 2,
        "at full length, repl-timeout fires"
    );
}

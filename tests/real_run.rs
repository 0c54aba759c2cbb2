//! `run_real` refuses what real processes cannot do, with every reason, before it starts anything
//! (these tests need no Redis binaries: the refusal comes first).

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

//! The scenario schema through the library: warnings for legal but useless settings, fault
//! windows drawn per seed, `--set` into arrays, `[expect]` typed at load, and the load limits.

use simkv::expect::{Constraint, FIGURES, FigureKind};
use simkv::scenario::limits::{DEFAULT_MAX_MEMORY, estimate_memory};
use simkv::scenario::{LoadOptions, Scenario, ScenarioError};

const BASE: &str = r#"name = "t"
duration = "60s"
quiet = "10s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
think = "10ms"
"#;

fn parse(extra: &str, overrides: &[&str]) -> Result<Scenario, ScenarioError> {
    let text = format!("{BASE}{extra}");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::parse("t.toml", &text, &o)
}

fn ok(extra: &str) -> Scenario {
    parse(extra, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn err(extra: &str, options: &LoadOptions) -> String {
    let text = format!("{BASE}{extra}");
    match Scenario::parse_with("t.toml", &text, &[], options) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

const SENTINELS: &str = r#"
[sentinels.defaults]
monitor = "p1"
quorum = 3
[sentinels.s1]
[sentinels.s2]
"#;

#[test]
fn a_quorum_no_sentinels_can_reach_is_a_located_warning() {
    let s = ok(SENTINELS);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    let w = &s.warnings[0];
    assert_eq!(w.field, "sentinels.defaults.quorum");
    assert_eq!((w.file.as_str(), w.line), ("t.toml", 13));
    assert!(w.message.contains("never fails it over"), "{w}");
    assert!(w.message.contains("only 2 sentinel"), "{w}");
    let fine = ok(&SENTINELS.replace("quorum = 3", "quorum = 2"));
    assert!(fine.warnings.is_empty(), "{:?}", fine.warnings);
}

#[test]
fn a_fault_in_the_quiet_phase_and_a_late_nemesis_are_warnings() {
    let s = ok("[[faults]]\nkind = \"pause\"\ntargets = \"r1\"\nat = \"55s\"\n");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!(s.warnings[0].field, "faults[0].at");
    assert!(s.warnings[0].message.contains("quiet phase"));
    let early = ok("[[faults]]\nkind = \"pause\"\ntargets = \"r1\"\nat = \"20s\"\n");
    assert!(early.warnings.is_empty());
    let s = ok("[nemesis]\nstart = \"70s\"\n");
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert_eq!(s.warnings[0].field, "nemesis.start");
    assert!(s.warnings[0].message.contains("never draws a fault"));
}

#[test]
fn deny_warnings_turns_them_into_located_errors() {
    let deny = LoadOptions {
        deny_warnings: true,
        ..LoadOptions::default()
    };
    let e = err(SENTINELS, &deny);
    assert!(e.contains("t.toml:13:10"), "{e}");
    assert!(e.contains("sentinels.defaults.quorum"), "{e}");
    assert!(e.contains("hint: lower `quorum`"), "{e}");
}

#[test]
fn the_library_of_scenarios_loads_without_warnings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let s = Scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let shown: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
        assert!(shown.is_empty(), "{}", shown.join("\n"));
        assert_eq!(s.faults_for_seed(s.seed), s.faults, "{}", path.display());
        n += 1;
    }
    assert!(n >= 10);
}

const WINDOW: &str = "[[faults]]\nkind = \"isolate\"\ntargets = \"p1\"\nat = \"20s..25s\"\nheal = \"+5s..+10s\"\n[[faults]]\nkind = \"pause\"\ntargets = \"r1\"\nat = \"30s\"\nfor = \"1s\"\n";

#[test]
fn fault_windows_are_drawn_per_seed_inside_their_bounds() {
    let s = ok(WINDOW);
    let mut starts = std::collections::BTreeSet::new();
    for seed in 1..=50 {
        let faults = s.faults_for_seed(seed);
        assert_eq!(faults, s.faults_for_seed(seed), "one seed, one placement");
        let (at, heal) = (faults[0].at_ns, faults[0].heal_ns.unwrap());
        assert!((20_000_000_000..=25_000_000_000).contains(&at), "{at}");
        assert!((5_000_000_000..=10_000_000_000).contains(&(heal - at)));
        assert_eq!(
            (faults[1].at_ns, faults[1].heal_ns),
            (30_000_000_000, Some(31_000_000_000))
        );
        starts.insert(at);
    }
    assert!(
        starts.len() > 40,
        "seeds explore placements: {}",
        starts.len()
    );
    assert_eq!(s.faults, s.faults_for_seed(s.seed));
}

#[test]
fn backwards_or_mixed_windows_are_errors() {
    let d = LoadOptions::default();
    let e = err(&WINDOW.replace("20s..25s", "25s..20s"), &d);
    assert!(
        e.contains("faults[0].at") && e.contains("ends before it begins"),
        "{e}"
    );
    let e = err(&WINDOW.replace("+5s..+10s", "+5s..10s"), &d);
    assert!(e.contains("mixes a relative and an absolute end"), "{e}");
    let e = err(
        &WINDOW.replace("heal = \"+5s..+10s\"", "heal = \"24s..30s\""),
        &d,
    );
    assert!(e.contains("heals before it starts"), "{e}");
}

#[test]
fn overrides_reach_array_entries() {
    let s = parse(WINDOW, &["faults.1.at=40s"]).unwrap();
    assert_eq!(s.faults[1].at_ns, 40_000_000_000);
    let s = parse(WINDOW, &["faults[0].at=2s"]).unwrap();
    assert_eq!(s.faults[0].at_ns, 2_000_000_000);
    let e = parse(WINDOW, &["faults.2.at=1s"]).unwrap_err().to_string();
    assert!(
        e.contains("--set faults.2.at=1s") && e.contains("has 2 entries"),
        "{e}"
    );
}

#[test]
fn expect_is_typed_by_one_table() {
    assert!(FIGURES.iter().any(|f| f.kind == FigureKind::Duration));
    let s = ok(
        "[expect]\nfailover_completed_ms = { max = \"30s\" }\nconverged = true\nfailover_to = \"r1\"\nlost_acked_writes = 0\n",
    );
    let kinds: Vec<FigureKind> = s.expect.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            FigureKind::Duration,
            FigureKind::Bool,
            FigureKind::Name,
            FigureKind::Count
        ]
    );
    assert_eq!(
        s.expect[0].constraint,
        Constraint::Range {
            min: None,
            max: Some(30_000)
        }
    );
}

#[test]
fn the_memory_estimate_is_refused_above_the_limit() {
    let heavy = "[workloads.bulk]\ntarget = \"p1\"\nclients = 100\nrate = \"1000/s\"\nvalue_size = \"100kb\"\nmix = { set = 100 }\n";
    let s = ok("");
    assert!(estimate_memory(&s).bytes < DEFAULT_MAX_MEMORY / 100);
    let e = err(heavy, &LoadOptions::default());
    assert!(e.contains("of memory, above the limit of 8.0 GiB"), "{e}");
    assert!(e.contains("workloads.bulk"), "{e}");
    let small = LoadOptions {
        max_memory_bytes: 1 << 20,
        ..LoadOptions::default()
    };
    let e = err("", &small);
    assert!(e.contains("--max-memory"), "{e}");
}

//! Every scenario, run twice in separate processes with the same seed, gives the same summary
//! (except `wall_ms`), meets its expectations, and a different seed gives a different trace.

mod common;

use common::{rel, scenarios, simkv};

fn summary(file: &str, seed: &str) -> (i32, serde_json::Value) {
    let out = simkv(&["run", file, "--seed", seed, "--json"]);
    assert!(
        out.code == 0 || out.code == 1,
        "{file}: exit {} stderr {}",
        out.code,
        out.stderr
    );
    let mut v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("{file}: --json is one object: {e}\n{}", out.stdout));
    v.as_object_mut().expect("an object").remove("wall_ms");
    (out.code, v)
}

#[test]
fn every_scenario_is_deterministic_and_meets_its_expectations() {
    let all = scenarios();
    assert!(!all.is_empty());
    for path in all {
        let file = rel(&path);
        let (code_a, a) = summary(&file, "7");
        let (code_b, b) = summary(&file, "7");
        assert_eq!(code_a, code_b, "{file}: exit codes differ");
        if a != b {
            let obj_a = a.as_object().unwrap();
            let obj_b = b.as_object().unwrap();
            let diff: Vec<&String> = obj_a.keys().filter(|k| obj_a[*k] != obj_b[*k]).collect();
            panic!("{file}: same seed, different summaries in {diff:?}");
        }
        let (_, c) = summary(&file, "8");
        assert_ne!(
            a["trace_hash"], c["trace_hash"],
            "{file}: seeds 7 and 8 give one trace"
        );
        let failed: Vec<String> = a["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["met"] == false)
            .map(|e| e.to_string())
            .collect();
        assert!(
            failed.is_empty(),
            "{file} seed 7: expectations not met: {failed:?}"
        );
        assert_eq!(code_a, 0, "{file}: verdict pass means exit 0");
    }
}

#[test]
fn out_dir_gets_summary_history_and_trace() {
    let dir = std::env::temp_dir().join(format!("simkv-out-{}", std::process::id()));
    let d = dir.display().to_string();
    let out = simkv(&["run", "scenarios/basic.toml", "--out", &d, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["scenario"], "basic");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(history.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "invoke");
    assert!(
        std::fs::read_to_string(dir.join("trace.jsonl"))
            .unwrap()
            .contains("repl:psync")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Every shipped scenario's `[expect]` block holds on every seed CI sweeps (seeds 1..=50 by
//! default; `SIMKV_SEEDS=500` for the full gate of docs/ci.md), not only at its default seed.
//! A scenario whose expectations depend on luck is a flaky gate: this test names the seeds.

mod common;

use common::{rel, scenarios, simkv};

#[test]
fn every_scenario_meets_its_expectations_on_every_ci_seed() {
    let seeds: u64 = std::env::var("SIMKV_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let range = format!("1..={seeds}");
    let mut failing = Vec::new();
    for path in scenarios() {
        let file = rel(&path);
        let out = simkv(&["sweep", &file, "--seeds", &range, "--jobs", "2"]);
        let mut runs = 0;
        for line in out.stdout.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{file}: a sweep line is JSON: {e}"));
            runs += 1;
            if v["verdict"] != "pass" {
                let unmet: Vec<String> = v["expectations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["met"] == false)
                    .map(|e| format!("{} {} (actual {})", e["name"], e["expected"], e["actual"]))
                    .collect();
                failing.push(format!("{file} seed {}: {}", v["seed"], unmet.join(", ")));
            }
        }
        assert_eq!(runs, seeds, "{file}: every seed ran\n{}", out.stderr);
    }
    assert!(failing.is_empty(), "{}", failing.join("\n"));
}

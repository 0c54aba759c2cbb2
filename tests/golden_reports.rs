//! The committed example reports (reports/) are golden files: each is regenerated here and must
//! equal what is committed, so a change to the model or the reports shows up as a failing test
//! (with the command that refreshes them) instead of a stale example. `summary.json` is compared
//! without `wall_ms`, the only field allowed to differ between identical runs.

mod common;

use common::{root, simkv};

const EXAMPLES: &[&str] = &[
    "region-outage",
    "sentinel-split-brain",
    "backlog-overflow",
    "wait-vs-async",
];

fn without_wall_ms(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).expect("summary.json is JSON");
    v.as_object_mut().expect("an object").remove("wall_ms");
    v
}

#[test]
fn example_reports_are_what_the_code_writes() {
    let tmp = std::env::temp_dir().join(format!("simkv-golden-{}", std::process::id()));
    let mut stale = Vec::new();
    for name in EXAMPLES {
        let out = tmp.join(name);
        let scenario = format!("scenarios/{name}.toml");
        let r = simkv(&["run", &scenario, "--out", out.to_str().unwrap()]);
        assert!(r.code == 0 || r.code == 1, "{name}: {}", r.stderr);
        let committed = root().join("reports").join(name);
        let mut files: Vec<String> = std::fs::read_dir(&committed)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert!(files.len() >= 6, "{name}: {files:?}");
        for f in files {
            let want = std::fs::read_to_string(committed.join(&f)).unwrap();
            let got = std::fs::read_to_string(out.join(&f))
                .unwrap_or_else(|e| panic!("{name}/{f} was not written: {e}"));
            let same = match f.as_str() {
                "summary.json" => without_wall_ms(&want) == without_wall_ms(&got),
                // The committed copy keeps the first 200 lost writes.
                "lost_writes.jsonl" => got.lines().take(200).eq(want.lines()),
                _ => want == got,
            };
            if !same {
                stale.push(format!("{name}/{f}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(
        stale.is_empty(),
        "reports differ from what the code writes now: {stale:?}; refresh them with scripts/make-reports.sh"
    );
}

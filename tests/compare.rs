//! `simkv compare`: variants over seeds, the table, `--json` and `--out`. Sentinel's
//! `down-after-milliseconds` is how long a primary must be unreachable before it is subjectively
//! down (`sentinel.c: sentinelCheckSubjectivelyDown`), so detection, failover and the surviving
//! regions' write outage all grow with it.

use std::process::Command;

use serde_json::Value;

fn simkv(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simkv"))
        .args(args)
        .output()
        .expect("simkv runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p50(row: &Value, figure: &str) -> u64 {
    row[figure]["p50"]
        .as_u64()
        .unwrap_or_else(|| panic!("{figure} has a p50: {row}"))
}

#[test]
fn detection_and_outage_grow_with_down_after() {
    let (code, stdout, stderr) = simkv(&[
        "compare",
        "scenarios/region-outage.toml",
        "--vary",
        "sentinels.defaults.down-after-milliseconds=1000,5000",
        "--seeds",
        "1..=3",
        "--jobs",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("one JSON object");
    let rows = v["variants"].as_array().expect("variants");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["variant"],
        "sentinels.defaults.down-after-milliseconds=1000"
    );
    for r in rows {
        assert_eq!(r["seeds"], 3);
        assert!(r["failovers"].as_u64().unwrap() >= 3, "{r}");
        // us-west keeps acknowledging writes on the isolated primary: they are lost.
        assert!(p50(r, "lost") > 0);
        assert!(r["write_latency_p99_us"].as_u64() >= r["write_latency_p50_us"].as_u64());
    }
    let (fast, slow) = (&rows[0], &rows[1]);
    let (d1, d5) = (p50(fast, "detection_ms"), p50(slow, "detection_ms"));
    assert!((1000..2000).contains(&d1), "detected after {d1} ms");
    assert!((5000..6000).contains(&d5), "detected after {d5} ms");
    assert!(p50(slow, "completion_ms") > p50(fast, "completion_ms") + 3000);
    let east = |r: &Value| r["unavailable_ms"]["us-east"]["p50"].as_u64().unwrap();
    assert!(
        east(slow) > east(fast) + 2000,
        "us-east waits for the failover: {} vs {} ms",
        east(slow),
        east(fast)
    );
}

#[test]
fn the_table_and_the_out_folder_show_every_variant() {
    let dir = std::env::temp_dir().join(format!("simkv-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, stdout, stderr) = simkv(&[
        "compare",
        "scenarios/region-outage.toml",
        "--set",
        "duration=120s",
        "--vary",
        "sentinels.defaults.quorum=1,2",
        "--vary",
        "servers.defaults.appendfsync=always,no",
        "--seeds",
        "1..2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let md = std::fs::read_to_string(dir.join("compare.md")).unwrap();
    assert_eq!(stdout, md, "the terminal shows the same table");
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), 4, "{md}");
    assert!(rows[0].contains("quorum=1 servers.defaults.appendfsync=always"));
    assert!(rows[3].contains("quorum=2 servers.defaults.appendfsync=no"));
    for chart in [
        "lost",
        "loss-window",
        "detection",
        "failover",
        "latency-p99",
    ] {
        let svg = std::fs::read_to_string(dir.join(format!("{chart}.svg"))).unwrap();
        assert!(svg.contains("<svg") && svg.contains("quorum=2"), "{chart}");
    }
    assert!(dir.join("unavailable-us-east.svg").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_variations_are_usage_errors() {
    let (code, _, stderr) = simkv(&[
        "compare",
        "scenarios/region-outage.toml",
        "--vary",
        "sentinels.defaults.quorum",
        "--seeds",
        "1..2",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("KEY=V1,V2"), "{stderr}");
    let (code, _, stderr) = simkv(&[
        "compare",
        "scenarios/region-outage.toml",
        "--vary",
        "sentinels.defaults.quorum=two",
        "--seeds",
        "1..2",
    ]);
    assert_eq!(code, 2, "{stderr}");
}

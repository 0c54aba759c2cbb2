//! Lost acknowledged writes are judged by lineage, so the figure does not depend on how long the
//! run goes on after the loss: region-outage loses the same writes whether it stops at 300 s or
//! runs on for another ten minutes of writes that overwrite the same keys.

mod common;

use common::simkv;

fn lost(duration: &str, seed: &str) -> u64 {
    let out = simkv(&[
        "run",
        "scenarios/region-outage.toml",
        "--seed",
        seed,
        "--json",
        "--set",
        &format!("duration={duration}"),
    ]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("--json: {e}\n{}", out.stderr));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "acked-writes-durable")
        .and_then(|c| c["count"].as_u64())
        .expect("the durability check ran")
}

#[test]
fn loss_does_not_shrink_as_the_run_gets_longer() {
    for seed in ["1", "2"] {
        let short = lost("300s", seed);
        assert!(
            short > 1000,
            "seed {seed}: the split brain loses writes ({short})"
        );
        assert_eq!(lost("600s", seed), short, "seed {seed}: 600 s");
        assert_eq!(lost("900s", seed), short, "seed {seed}: 900 s");
    }
}

/// A primary without replicas does not advance its replication offset (as in Redis), so its
/// writes are told apart by their count after that offset: the writes a power loss takes from
/// fsync-policies (everything since the last everysec fsync) stay lost however long the run goes
/// on and whatever overwrites their keys later.
#[test]
fn loss_on_a_primary_without_replicas_does_not_shrink_either() {
    let lost = |duration: &str| {
        let out = simkv(&[
            "run",
            "scenarios/fsync-policies.toml",
            "--json",
            "--set",
            &format!("duration={duration}"),
        ]);
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("--json: {e}\n{}", out.stderr));
        v["lost_by_workload"]["app"].as_u64().expect("a count")
    };
    let short = lost("60s");
    assert!(short > 600, "about a second of writes is lost ({short})");
    assert_eq!(lost("120s"), short);
    assert_eq!(lost("240s"), short);
}

/// With `appendfsync no` the OS writes dirty pages back every `os-writeback-interval` (30 s)
/// from the machine's boot: a kill -9 and restart of the process (20 s) does not reset that
/// clock, so the power loss at 40 s takes only what was written since the writeback at 30 s.
#[test]
fn a_process_restart_does_not_reset_the_os_writeback() {
    let out = simkv(&[
        "run",
        "scenarios/fsync-policies.toml",
        "--json",
        "--set",
        "servers.defaults.appendfsync=no",
        "--set",
        "expect={}",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("--json: {e}\n{}", out.stderr));
    let lost = v["lost_by_workload"]["app"].as_u64().expect("a count");
    let first = v["lost_writes"][0]["ack_ms"]
        .as_u64()
        .expect("a lost write");
    assert!(
        first >= 30_000,
        "the first lost write is after the writeback ({first} ms)"
    );
    // 10 s of writes at about 720 a second.
    assert!((6_500..=7_900).contains(&lost), "{lost}");
}

//! The other commands: `check` exit codes and formats, `sweep` with shards and `merge`, and the
//! files `run --out` writes.

mod common;

use common::simkv;

#[test]
fn check_exit_codes_follow_the_verdict() {
    let ok = simkv(&["check", "tests/data/porcupine/test_data/kv/c10-ok.txt"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("linearizable"));
    let bad = simkv(&[
        "check",
        "tests/data/porcupine/test_data/jepsen/etcd_000.log",
        "--json",
    ]);
    assert_eq!(bad.code, 1);
    let v: serde_json::Value = serde_json::from_str(&bad.stdout).unwrap();
    assert_eq!(v["linearizable"], false);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("admit no linearization")
    );
    let missing = simkv(&["check", "no/such/history.jsonl"]);
    assert_eq!(missing.code, 2);
    let garbage = simkv(&["check", "Cargo.toml"]);
    assert_eq!(garbage.code, 2, "{}", garbage.stderr);
    assert!(garbage.stderr.contains("unrecognised format"));
}

#[test]
fn check_no_explain_gives_the_verdict_without_the_failing_prefix() {
    let file = "tests/data/porcupine/test_data/jepsen/etcd_000.log";
    let explained = simkv(&["check", file, "--json"]);
    let bare = simkv(&["check", file, "--json", "--no-explain"]);
    assert_eq!((explained.code, bare.code), (1, 1), "{}", bare.stderr);
    let e: serde_json::Value = serde_json::from_str(&explained.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_str(&bare.stdout).unwrap();
    // The same object, field for field, but the detail (and the time taken).
    for field in [
        "file",
        "format",
        "model",
        "operations",
        "keys",
        "status",
        "linearizable",
    ] {
        assert_eq!(e[field], b[field], "{field}");
    }
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&e), keys(&b));
    assert!(e["detail"].as_str().unwrap().contains("the first "));
    assert_eq!(b["detail"], "key register: admits no linearization");
    let ok = simkv(&[
        "check",
        "tests/data/porcupine/test_data/kv/c10-ok.txt",
        "--no-explain",
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn check_reads_its_own_histories() {
    let dir = std::env::temp_dir().join(format!("simkv-cli-{}", std::process::id()));
    let d = dir.display().to_string();
    let run = simkv(&["run", "scenarios/replica-reads.toml", "--out", &d, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for f in [
        "summary.json",
        "history.jsonl",
        "trace.jsonl",
        "lost_writes.jsonl",
        "report.md",
        "timeline.svg",
        "lag.svg",
        "throughput.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## What happened") && report.contains("stale-reads"));
    let history = dir.join("history.jsonl").display().to_string();
    let check = simkv(&["check", &history]);
    assert_eq!(
        check.code, 1,
        "replica reads are not linearizable: {}",
        check.stdout
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_shards_merge_back_into_the_whole() {
    let whole = simkv(&[
        "sweep",
        "scenarios/nemesis.toml",
        "--seeds",
        "1..7",
        "--jobs",
        "2",
    ]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let lines: Vec<serde_json::Value> = whole
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let seeds: Vec<u64> = lines.iter().map(|v| v["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, vec![1, 2, 3, 4, 5, 6], "in seed order");
    let dir = std::env::temp_dir().join(format!("simkv-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for k in 0..2 {
        let shard = format!("{k}/2");
        let part = simkv(&[
            "sweep",
            "scenarios/nemesis.toml",
            "--seeds",
            "1..7",
            "--shard",
            &shard,
        ]);
        let f = dir.join(format!("part{k}.jsonl"));
        std::fs::write(&f, &part.stdout).unwrap();
        files.push(f.display().to_string());
        for l in part.stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let same = lines.iter().find(|w| w["seed"] == v["seed"]).unwrap();
            assert_eq!(
                v["trace_hash"], same["trace_hash"],
                "a shard's run equals the whole's"
            );
        }
    }
    let merged = simkv(&["merge", &files[0], &files[1]]);
    assert_eq!(merged.code, 0);
    assert!(merged.stderr.contains("pass      6"), "{}", merged.stderr);
    let bad = simkv(&["sweep", "scenarios/nemesis.toml", "--seeds", "9..3"]);
    assert_eq!(bad.code, 2);
    let failing = simkv(&[
        "sweep",
        "scenarios/basic.toml",
        "--seeds",
        "1..3",
        "--set",
        "bugs.drop_propagation=true",
    ]);
    assert_eq!(failing.code, 1);
    assert!(
        failing.stderr.contains(
            "replay: simkv run scenarios/basic.toml --set bugs.drop_propagation=true --seed 1"
        ),
        "{}",
        failing.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shrink_finds_a_small_failing_schedule() {
    let dir = std::env::temp_dir().join(format!("simkv-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("small.toml").display().to_string();
    let args = [
        "shrink",
        "scenarios/nemesis.toml",
        "--seed",
        "2",
        "--set",
        "bugs.skip_fsync=true",
        "--out",
        &out,
    ];
    let r = simkv(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        !text.contains("[nemesis]"),
        "the nemesis became scheduled faults"
    );
    let faults = text.matches("[[faults]]").count();
    assert!((1..=3).contains(&faults), "{faults} faults left:\n{text}");
    let again = simkv(&["run", &out, "--seed", "2"]);
    assert_eq!(
        again.code, 1,
        "the small scenario still fails:\n{}",
        again.stdout
    );
    let passing = simkv(&["shrink", "scenarios/basic.toml", "--seed", "1"]);
    assert_eq!(passing.code, 2);
    assert!(passing.stderr.contains("nothing to shrink"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `simkv keyslot` prints `KEY<TAB>SLOT` per key, in order, with `keyHashSlot`'s hash tags: the
/// first `{`, the next `}`, non-empty content. The numbers are CRC16/XMODEM mod 16384 as
/// `CLUSTER KEYSLOT` gives them (the spec's vector: CRC16 of `123456789` is 0x31C3 = 12739).
#[test]
fn keyslot_prints_each_key_and_its_slot() {
    let keys = [
        "123456789",
        "{user1000}.following",
        "{user1000}.followers",
        "user1000",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "{bar",
        "foo{bar}{zap}",
        "bar",
        "foo",
    ];
    let mut args = vec!["keyslot"];
    args.extend(keys);
    let r = simkv(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<(&str, u16)> = r
        .stdout
        .lines()
        .map(|l| {
            let (k, s) = l.split_once('\t').expect("KEY<TAB>SLOT");
            (k, s.parse().expect("a slot number"))
        })
        .collect();
    let got: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    assert_eq!(got, keys, "one line per key, in order");
    let slot = |k: &str| lines.iter().find(|(key, _)| *key == k).unwrap().1;
    assert_eq!(slot("123456789"), 12739);
    assert_eq!(slot("foo"), 12182);
    // A hash tag: both keys hash `user1000` only.
    assert_eq!(slot("{user1000}.following"), 3443);
    assert_eq!(slot("{user1000}.followers"), 3443);
    assert_eq!(slot("user1000"), 3443);
    // `{}` is empty: the whole key is hashed.
    assert_eq!(slot("foo{}{bar}"), 8363);
    // The tag is between the first `{` and the next `}`: `{bar`.
    assert_eq!(slot("foo{{bar}}zap"), 4015);
    assert_eq!(slot("{bar"), 4015);
    // Only the first tag counts: `bar`.
    assert_eq!(slot("foo{bar}{zap}"), 5061);
    assert_eq!(slot("bar"), 5061);
    let none = simkv(&["keyslot"]);
    assert_eq!(none.code, 2, "a key is required: {}", none.stderr);
}

//! Results a user can trust: merge keys and coverage, sweep threads, output folders that name
//! their run, shrunk files that replay, warnings, and help that states the exit codes.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{Outcome, root, simkv};

/// A fresh temporary folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simkv-trust-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `simkv` with `input` on stdin.
fn simkv_stdin(args: &[&str], input: &str) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simkv"))
        .args(args)
        .current_dir(root())
        .env("CI", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

const IDLE: &str = "name = \"idle\"\nduration = \"5s\"\nregions = [\"local\"]\n\
                    [servers.p1]\nregion = \"local\"\n";

fn sweep_to(dir: &std::path::Path, name: &str, args: &[&str]) -> String {
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    let r = simkv(&all);
    assert!(r.code <= 1, "{}", r.stderr);
    let f = dir.join(name);
    std::fs::write(&f, &r.stdout).unwrap();
    f.display().to_string()
}

#[test]
fn merge_keys_by_scenario_and_seed_and_checks_coverage() {
    let dir = scratch("merge");
    let idle = dir.join("idle.toml");
    std::fs::write(&idle, IDLE).unwrap();
    let idle = idle.display().to_string();
    let a = sweep_to(
        &dir,
        "a.jsonl",
        &[&idle, "--seeds", "1..5", "--shard", "0/2"],
    );
    let b = sweep_to(
        &dir,
        "b.jsonl",
        &[&idle, "--seeds", "1..5", "--shard", "1/2"],
    );
    let other = sweep_to(
        &dir,
        "o.jsonl",
        &[&idle, "--seeds", "1..3", "--set", "duration=6s"],
    );
    let first = json(std::fs::read_to_string(&a).unwrap().lines().next().unwrap());
    assert_eq!(first["scenario_file"], idle.as_str());
    assert_eq!(first["scenario_hash"].as_str().unwrap().len(), 16);
    let o = json(
        std::fs::read_to_string(&other)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    );
    assert_eq!(o["overrides"][0], "duration=6s");
    assert_ne!(
        o["scenario_hash"], first["scenario_hash"],
        "an override changes the hash"
    );

    let whole = simkv(&["merge", &a, &b, &other, &a]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert_eq!(
        whole.stderr.matches("scenario idle (scenario hash").count(),
        2,
        "{}",
        whole.stderr
    );
    assert!(whole.stderr.contains("pass      4") && whole.stderr.contains("pass      2"));

    let missing = simkv(&["merge", &a, "--shards", "2"]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("missing: scenario idle: seeds 2, 4"),
        "{}",
        missing.stderr
    );
    let range = simkv(&["merge", &a, &b, "--seeds", "1..=6"]);
    assert_eq!(range.code, 1);
    assert!(range.stderr.contains("seeds 5..=6"), "{}", range.stderr);
    assert_eq!(simkv(&["merge", &a, &b, "--seeds", "1..5"]).code, 0);
    assert_eq!(
        simkv(&["merge", &a, &b, "--shards", "3"]).code,
        2,
        "wrong shard count"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn merge_rejects_bad_lines_conflicts_and_no_input() {
    let dir = scratch("merge-bad");
    let idle = dir.join("idle.toml");
    std::fs::write(&idle, IDLE).unwrap();
    let good = sweep_to(
        &dir,
        "good.jsonl",
        &[idle.to_str().unwrap(), "--seeds", "1..3"],
    );
    let text = std::fs::read_to_string(&good).unwrap();
    let line = text.lines().next().unwrap().to_string();
    let conflict = line.replacen("\"trace_hash\":\"", "\"trace_hash\":\"0", 1);
    let no_hash = line.replacen("\"scenario_hash\"", "\"scenario_hash_\"", 1);
    for (name, bad) in [
        ("empty", "{}".to_string()),
        ("truncated", line[..line.len() / 2].to_string()),
        ("no-hash", no_hash),
        ("conflict", conflict),
    ] {
        let f = dir.join(format!("{name}.jsonl"));
        std::fs::write(&f, format!("{text}{bad}\n")).unwrap();
        let f = f.display().to_string();
        let r = simkv(&["merge", &good, &f]);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("{f}:3:")),
            "{name}: {}",
            r.stderr
        );
    }
    let none = simkv(&["merge"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("needs the files"), "{}", none.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_threads_are_bounded() {
    let zero = simkv_stdin(&["sweep", "-", "--seeds", "1..3", "--jobs", "0"], IDLE);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
    assert!(
        zero.stderr.contains("--jobs must be at least 1"),
        "{}",
        zero.stderr
    );
    let many = simkv_stdin(&["sweep", "-", "--seeds", "1..3", "--jobs", "100000"], IDLE);
    assert_eq!(many.code, 0, "{}", many.stderr);
    assert!(
        many.stderr.contains("2 seeds in") && many.stderr.contains("on 2 threads"),
        "{}",
        many.stderr
    );
}

#[test]
fn out_folders_are_checked_first_replaced_whole_and_name_their_run() {
    let dir = scratch("out");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let inside = blocker.join("run").display().to_string();
    let r = simkv_stdin(&["run", "-", "--out", &inside], IDLE);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot write to"), "{}", r.stderr);
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let r = simkv_stdin(&["run", "-", "--out", foreign.to_str().unwrap()], IDLE);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );

    let out = dir.join("run");
    let o = out.display().to_string();
    for seed in ["3", "4"] {
        let r = simkv_stdin(
            &[
                "run",
                "-",
                "--seed",
                seed,
                "--set",
                "description=idle two",
                "--out",
                &o,
            ],
            IDLE,
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let manifest = json(&std::fs::read_to_string(out.join("run.json")).unwrap());
    assert_eq!(manifest["seed"], 4);
    assert_eq!(
        manifest["replay"],
        "simkv run - --set 'description=idle two' --seed 4"
    );
    let files = manifest["files"].as_array().unwrap();
    let listed: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let mut present: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "run.json")
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        present, sorted,
        "every file is listed, nothing else is there"
    );
    let svg = std::fs::read_to_string(out.join("lag.svg")).unwrap();
    assert!(
        svg.contains("--seed 4</desc>"),
        "{}",
        &svg[..300.min(svg.len())]
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("--seed 4`"));
    let summary = json(&std::fs::read_to_string(out.join("summary.json")).unwrap());
    assert_eq!(
        (summary["seed"].clone(), summary["overrides"][0].clone()),
        (4.into(), "description=idle two".into())
    );
    let leftovers = std::fs::read_dir(&dir).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".simkv-")
    });
    assert_eq!(
        leftovers.count(),
        0,
        "no partial or old folder is left behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn determinism_check_prints_json() {
    let r = simkv_stdin(&["run", "-", "--check-determinism", "--json"], IDLE);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(r.stdout.trim());
    assert_eq!(v["deterministic"], true);
    assert_eq!(v["seed"], 1);
}

#[test]
fn shrunk_files_replay_and_are_not_overwritten() {
    let dir = scratch("shrink");
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
    assert_eq!(simkv(&args).code, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("seed = 2"), "{text}");
    assert!(text.contains("-shrunk\""), "{text}");
    let long_ns = text.split('"').any(|w| w.ends_with("ns") && w.len() > 8);
    assert!(!long_ns, "durations are in human units: {text}");
    let replay = simkv(&["run", &out]);
    assert_eq!(
        replay.code, 1,
        "the shrunk file fails on its own seed: {}",
        replay.stdout
    );
    let again = simkv(&args);
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(simkv(&forced).code, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runs_without_operations_warn_and_can_be_denied() {
    let r = simkv_stdin(&["run", "-", "--json"], IDLE);
    assert_eq!(r.code, 0);
    let v = json(&r.stdout);
    assert_eq!(v["warnings"][0]["kind"], "no-operations");
    let denied = simkv_stdin(&["run", "-", "--json", "--deny-warnings"], IDLE);
    assert_eq!(denied.code, 1);
    assert_eq!(
        json(&denied.stdout)["verdict"],
        "fail",
        "the verdict matches the exit code"
    );
    let quiet = simkv(&["run", "scenarios/basic.toml", "--json", "--deny-warnings"]);
    assert_eq!(quiet.code, 0, "a run with writes has no warning");
    assert_eq!(json(&quiet.stdout)["warnings"], serde_json::json!([]));
}

#[test]
fn expected_failures_are_explained_in_words() {
    let r = simkv(&["run", "scenarios/wait-vs-async.toml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("FAIL"));
    assert!(
        r.stdout.contains(
            "these failures are what this scenario demonstrates; its [expect] block expects them"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("--set expect.lost_acked_writes=0"),
        "{}",
        r.stdout
    );
    let clean = simkv(&["run", "scenarios/basic.toml"]);
    assert!(!clean.stdout.contains("demonstrates"));
}

#[test]
fn every_command_help_has_examples_and_exit_codes() {
    for cmd in ["run", "check", "sweep", "shrink", "merge", "bench"] {
        let r = simkv(&[cmd, "--help"]);
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Examples:\n  simkv "),
            "{cmd}: {}",
            r.stdout
        );
        assert!(
            r.stdout.contains("Exit codes:") && r.stdout.contains("  2  bad input"),
            "{cmd}"
        );
    }
    let top = simkv(&["--help"]);
    assert!(top.stdout.contains("3  undecided"), "{}", top.stdout);
}

#[test]
fn counts_agree_with_their_nouns() {
    let dir = scratch("plural");
    let one = dir.join("one.jsonl");
    std::fs::write(
        &one,
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"set\",\"key\":\"k\",\"value\":\"1\",\"time_ns\":1}\n\
         {\"process\":0,\"type\":\"ok\",\"f\":\"set\",\"key\":\"k\",\"value\":\"1\",\"time_ns\":2}\n",
    )
    .unwrap();
    let r = simkv(&["check", one.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(": 1 operation over 1 key (jsonl, kv)"),
        "{}",
        r.stdout
    );
    let sweep = simkv_stdin(&["sweep", "-", "--seeds", "1..2"], IDLE);
    assert!(sweep.stderr.contains("1 seed in"), "{}", sweep.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Bad input never panics: each case exits with code 2 and names the line and field (or the
//! file) with a hint.

mod common;

use common::simkv;

const BASE: &str = r#"name = "t"
duration = "10s"
regions = ["a", "b"]

[servers.p1]
region = "a"

[servers.r1]
region = "b"
replicaof = "p1"

[workloads.w]
target = "p1"
"#;

/// (case name, file contents or None for "use the given path as is", path override, expected
/// fragments of stderr)
type Case = (
    &'static str,
    Option<String>,
    Option<&'static str>,
    Vec<&'static str>,
);

fn cases() -> Vec<Case> {
    let edit = |from: &str, to: &str| Some(BASE.replace(from, to));
    let mut v = vec![
        (
            "missing file",
            None,
            Some("no/such/file.toml"),
            vec!["no/such/file.toml", "no such file", "hint"],
        ),
        (
            "directory",
            None,
            Some("scenarios"),
            vec!["is a directory", "hint"],
        ),
        (
            "binary",
            Some("\u{0}\u{1}garbage".into()),
            None,
            vec!["not a text file", "line 1"],
        ),
        (
            "toml syntax",
            Some("name = \"x\"\nduration = [\n".into()),
            None,
            vec![":2:13", "TOML syntax error", "unclosed array"],
        ),
        (
            "wrong type",
            edit("duration = \"10s\"", "duration = true"),
            None,
            vec![":2:12", "`duration`", "expected a duration"],
        ),
        (
            "negative duration",
            edit("duration = \"10s\"", "duration = \"-10s\""),
            None,
            vec![":2:12", "negative", "hint"],
        ),
        (
            "absurd duration",
            edit("duration = \"10s\"", "duration = \"99999h\""),
            None,
            vec!["`duration`", "longer than 30 days"],
        ),
        (
            "zero duration",
            edit("duration = \"10s\"", "duration = \"0s\""),
            None,
            vec!["`duration`", "longer than zero"],
        ),
        (
            "unknown region",
            edit("region = \"b\"", "region = \"c\""),
            None,
            vec![
                ":9:10",
                "servers.r1.region",
                "unknown region \"c\"",
                "known regions: a, b",
            ],
        ),
        (
            "unknown server",
            edit("replicaof = \"p1\"", "replicaof = \"p2\""),
            None,
            vec![
                ":10:13",
                "servers.r1.replicaof",
                "unknown server \"p2\"",
                "did you mean \"p1\"",
            ],
        ),
        (
            "replica of itself",
            edit("replicaof = \"p1\"", "replicaof = \"r1\""),
            None,
            vec![":10:13", "replica of itself"],
        ),
        (
            "replication cycle",
            edit(
                "[servers.p1]\nregion = \"a\"",
                "[servers.p1]\nregion = \"a\"\nreplicaof = \"r1\"",
            ),
            None,
            vec!["replication cycle", "servers.p1.replicaof"],
        ),
        (
            "zero servers",
            Some("name = \"t\"\nduration = \"5s\"\n".into()),
            None,
            vec!["no servers", "hint"],
        ),
        (
            "unknown key with suggestion",
            edit(
                "replicaof = \"p1\"",
                "replicaof = \"p1\"\nrepl-backlog-sise = \"1mb\"",
            ),
            None,
            vec![
                ":11:1",
                "unknown key `repl-backlog-sise`",
                "did you mean `repl-backlog-size`?",
            ],
        ),
        (
            "unknown top-level key",
            Some(format!("{BASE}\nfrobnicate_the_servers = 3\n")),
            None,
            vec!["frobnicate_the_servers", "known keys here"],
        ),
        (
            "missing name",
            edit("name = \"t\"\n", ""),
            None,
            vec!["`name`", "hint"],
        ),
        (
            "bad fsync policy",
            edit(
                "region = \"a\"\n",
                "region = \"a\"\nappendfsync = \"sometimes\"\n",
            ),
            None,
            vec![
                "servers.p1.appendfsync",
                "unknown policy",
                "always, everysec or no",
            ],
        ),
        (
            "unknown fault target",
            Some(format!(
                "{BASE}\n[[faults]]\nkind = \"isolate\"\nat = \"1s\"\ntargets = [\"p9\"]\n"
            )),
            None,
            vec![
                "faults[0].targets",
                "unknown server, workload or region \"p9\"",
            ],
        ),
        (
            "fault heals before start",
            Some(format!(
                "{BASE}\n[[faults]]\nkind = \"isolate\"\nat = \"5s\"\nheal = \"2s\"\ntargets = [\"p1\"]\n"
            )),
            None,
            vec!["faults[0].heal", "heals before it starts"],
        ),
        (
            "empty file",
            Some(String::new()),
            None,
            vec!["`name`", "`duration`", "no servers"],
        ),
    ];
    v.extend(reference_cases());
    v.extend(expect_cases());
    v.extend(limit_cases());
    v
}

fn with(extra: &str) -> Option<String> {
    Some(format!("{BASE}{extra}"))
}

fn fault(body: &str) -> Option<String> {
    with(&format!("\n[[faults]]\nat = \"1s\"\n{body}\n"))
}

/// Impossible references: each names the line, column, field and a hint.
fn reference_cases() -> Vec<Case> {
    vec![
        (
            "master_name no sentinel monitors",
            with("master_name = \"ghost\"\n"),
            None,
            vec![
                ":14:15",
                "workloads.w.master_name",
                "no sentinel monitors a primary named \"ghost\"",
                "hint",
            ],
        ),
        (
            "wait for more replicas than the group has",
            with("wait = { replicas = 10 }\n"),
            None,
            vec![
                ":14:21",
                "workloads.w.wait.replicas",
                "WAIT 10 can never be satisfied",
                "1 replica(s) (r1)",
                "hint: lower `replicas` to at most 1",
            ],
        ),
        (
            "sentinel monitors a replica",
            with("\n[sentinels.s1]\nregion = \"a\"\nmonitor = \"r1\"\n"),
            None,
            vec![
                ":17:11",
                "sentinels.s1.monitor",
                "is a replica (of \"p1\")",
                "hint: monitor its primary",
            ],
        ),
        (
            "empty target list",
            fault("kind = \"isolate\"\ntargets = []"),
            None,
            vec![
                ":18:11",
                "faults[0].targets",
                "list of targets is empty",
                "hint",
            ],
        ),
        (
            "isolating every process",
            fault("kind = \"isolate\"\ntargets = \"all\""),
            None,
            vec![
                ":18:11",
                "faults[0].targets",
                "no one to cut it off from",
                "hint",
            ],
        ),
        (
            "partition with a server on both sides",
            fault("kind = \"partition\"\nbetween = [[\"p1\"], [\"p1\", \"r1\"]]"),
            None,
            vec![
                ":18:11",
                "faults[0].between",
                "\"p1\" is on both sides",
                "hint",
            ],
        ),
        (
            "one-way cut from a server to itself",
            fault("kind = \"one-way-partition\"\nfrom = \"p1\"\nto = \"p1\""),
            None,
            vec![
                ":19:6",
                "faults[0].to",
                "cannot be cut off from itself",
                "hint",
            ],
        ),
        (
            "control character in a name",
            with("\n[servers.\"p\\u0007\"]\nregion = \"a\"\n"),
            None,
            vec![
                ":15:10",
                "servers.p",
                "not allowed in a name",
                "hint: a name is 1 to 128 printable characters",
            ],
        ),
        (
            "empty name",
            with("\n[workloads.\"\"]\ntarget = \"p1\"\n"),
            None,
            vec![":15:12", "a name cannot be empty", "hint: a name is"],
        ),
        (
            "workload starts after it stops",
            with("start = \"8s\"\nstop = \"5s\"\n"),
            None,
            vec![
                ":14:9",
                "workloads.w.start",
                "never issues an operation",
                "hint",
            ],
        ),
    ]
}

/// `[expect]` values of the wrong kind, located, with a hint.
fn expect_cases() -> Vec<Case> {
    let expect = |line: &str| with(&format!("\n[expect]\n{line}\n"));
    vec![
        (
            "count for a verdict",
            expect("converged = 3"),
            None,
            vec![
                ":16:13",
                "expect.converged",
                "expected true or false",
                "hint",
            ],
        ),
        (
            "verdict for a count",
            expect("failovers = true"),
            None,
            vec![":16:13", "expect.failovers", "expected a count", "hint"],
        ),
        (
            "number for a name",
            expect("failover_to = 2"),
            None,
            vec![
                ":16:15",
                "expect.failover_to",
                "expected the name of a server",
                "hint",
            ],
        ),
        (
            "negative count",
            expect("lost_acked_writes = -1"),
            None,
            vec![":16:21", "expect.lost_acked_writes", "never negative"],
        ),
        (
            "empty range",
            expect("ops_ok = { min = 10, max = 1 }"),
            None,
            vec![":16:10", "expect.ops_ok", "larger than `max`", "hint"],
        ),
        (
            "unknown server to fail over to",
            expect("failover_to = \"ghost\""),
            None,
            vec![":16:15", "no server is named \"ghost\"", "hint"],
        ),
    ]
}

/// Limits enforced before they are hit, each naming the knob to lower.
fn limit_cases() -> Vec<Case> {
    vec![
        (
            "/dev/zero",
            None,
            Some("/dev/zero"),
            vec!["is not a regular file", "hint"],
        ),
        (
            "/dev/urandom",
            None,
            Some("/dev/urandom"),
            vec!["is not a regular file", "hint"],
        ),
        (
            "file over 10 MiB",
            Some(format!("{BASE}#{}\n", " ".repeat(11 << 20))),
            None,
            vec!["larger than the 10 MiB limit"],
        ),
        (
            "value over proto-max-bulk-len",
            with("value_size = \"1gb\"\n"),
            None,
            vec![
                ":14:14",
                "workloads.w.value_size",
                "proto-max-bulk-len",
                "hint",
            ],
        ),
        (
            "rate beyond the events budget",
            with("clients = 1000\nrate = \"10000/s\"\n"),
            None,
            vec![
                "workloads.w.rate",
                "events per simulated second",
                "hint: lower `workloads.w.rate`",
            ],
        ),
        (
            "memory beyond the limit",
            with("clients = 100\nrate = \"1000/s\"\nvalue_size = \"1mb\"\nmix = { set = 100 }\n"),
            None,
            vec![
                "of memory, above the limit of 8.0 GiB",
                "workloads.w",
                "--max-memory",
            ],
        ),
        (
            "nemesis interval under 1ms",
            with("\n[nemesis]\ninterval = \"100us\"\n"),
            None,
            vec![
                ":16:12",
                "nemesis.interval",
                "at most one fault per millisecond",
                "hint",
            ],
        ),
        (
            "backwards fault window",
            fault("kind = \"isolate\"\ntargets = \"p1\"\nheal = \"9s..3s\""),
            None,
            vec!["faults[0].heal", "ends before it begins", "hint"],
        ),
    ]
}

#[test]
fn a_fifo_is_refused_without_being_read() {
    let dir = std::env::temp_dir().join(format!("simkv-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("scenario.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo is available");
    // Reading a FIFO with no writer would block forever: an exit at all shows it was not read.
    let out = simkv(&["run", &fifo.display().to_string()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("is not a regular file"),
        "{}",
        out.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn set_reaches_array_entries_and_says_how() {
    let out = simkv(&[
        "run",
        "scenarios/partition-heal.toml",
        "--set",
        "faults.9.at=70s",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--set faults.9.at=70s"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("numbered from 0"), "{}", out.stderr);
    let out = simkv(&[
        "run",
        "scenarios/partition-heal.toml",
        "--set",
        "faults.0.at=999h",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("faults[0].at"), "{}", out.stderr);
}

#[test]
fn bad_inputs_exit_2_with_located_errors() {
    let dir = std::env::temp_dir().join(format!("simkv-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = cases();
    assert!(cases.len() >= 12);
    for (i, (name, contents, path, want)) in cases.into_iter().enumerate() {
        let file = match (contents, path) {
            (Some(c), _) => {
                let p = dir.join(format!("case{i}.toml"));
                std::fs::write(&p, c).unwrap();
                p.display().to_string()
            }
            (None, Some(p)) => p.to_string(),
            (None, None) => unreachable!(),
        };
        let out = simkv(&["run", &file]);
        assert_eq!(out.code, 2, "{name}: exit code; stderr:\n{}", out.stderr);
        assert!(
            !out.stderr.contains("panicked"),
            "{name}: panicked:\n{}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "{name}: printed on stdout: {}",
            out.stdout
        );
        for w in want {
            assert!(
                out.stderr.contains(w),
                "{name}: stderr lacks {w:?}:\n{}",
                out.stderr
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_overrides_and_arguments_exit_2() {
    let out = simkv(&[
        "run",
        "scenarios/basic.toml",
        "--set",
        "servers.defaults.appendfsync=sometimes",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--set servers.defaults.appendfsync=sometimes"),
        "{}",
        out.stderr
    );
    let out = simkv(&["run", "scenarios/basic.toml", "--set", "nonsense"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("KEY=VALUE"), "{}", out.stderr);
    let out = simkv(&["run", "scenarios/basic.toml", "--seed", "notanumber"]);
    assert_eq!(out.code, 2);
    let out = simkv(&["frobnicate"]);
    assert_eq!(out.code, 2);
}

#[test]
fn overrides_change_the_run() {
    let base = simkv(&["run", "scenarios/basic.toml", "--json"]);
    let over = simkv(&[
        "run",
        "scenarios/basic.toml",
        "--json",
        "--set",
        "servers.defaults.appendonly=yes",
    ]);
    assert_eq!(base.code, 0);
    assert_eq!(over.code, 0, "{}", over.stderr);
    let a: serde_json::Value = serde_json::from_str(&base.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_str(&over.stdout).unwrap();
    // AOF changes nothing on the wire here, but a replica count override does.
    let three = simkv(&[
        "run",
        "scenarios/basic.toml",
        "--json",
        "--set",
        "workloads.app.clients=3",
    ]);
    let c: serde_json::Value = serde_json::from_str(&three.stdout).unwrap();
    assert_ne!(a["ops"], c["ops"]);
    assert_eq!(a["scenario"], b["scenario"]);
}

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
    vec![
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
    ]
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

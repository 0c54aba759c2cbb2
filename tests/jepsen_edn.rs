//! Jepsen / Knossos EDN histories written by hand, each with the verdict reasoned out in its
//! header comment, checked through the library and through the command line.

mod common;

use common::simkv;
use simkv::check::linearizable::{CheckOptions, ModelKind, check_file_with, check_text};

/// One hand-written history and what checking it must give.
struct Case {
    file: &'static str,
    model: Option<ModelKind>,
    initial: Option<&'static str>,
    linearizable: bool,
    partitions: usize,
}

const CASES: &[Case] = &[
    Case {
        file: "register-concurrent-ok.edn",
        model: None,
        initial: None,
        linearizable: true,
        partitions: 1,
    },
    Case {
        file: "register-stale-read.edn",
        model: None,
        initial: None,
        linearizable: false,
        partitions: 1,
    },
    Case {
        file: "info-write-takes-effect-late.edn",
        model: None,
        initial: None,
        linearizable: true,
        partitions: 1,
    },
    Case {
        file: "info-write-seen-then-unseen.edn",
        model: None,
        initial: None,
        linearizable: false,
        partitions: 1,
    },
    Case {
        file: "cas-success-and-failure.edn",
        model: None,
        initial: Some("0"),
        linearizable: true,
        partitions: 1,
    },
    Case {
        file: "cas-from-stale-value.edn",
        model: None,
        initial: None,
        linearizable: false,
        partitions: 1,
    },
    Case {
        file: "txn-torn-read.edn",
        model: Some(ModelKind::MultiRegister),
        initial: Some("0"),
        linearizable: false,
        partitions: 1,
    },
    Case {
        file: "txn-atomic-read.edn",
        model: None,
        initial: Some("0"),
        linearizable: true,
        partitions: 2,
    },
    Case {
        file: "edn-syntax-tour.edn",
        model: Some(ModelKind::Register),
        initial: None,
        linearizable: true,
        partitions: 1,
    },
    Case {
        file: "kv-independent.edn",
        model: Some(ModelKind::Kv),
        initial: None,
        linearizable: false,
        partitions: 2,
    },
];

fn data(file: &str) -> std::path::PathBuf {
    common::root().join("tests/data/jepsen").join(file)
}

#[test]
fn every_hand_written_verdict_holds() {
    for case in CASES {
        let (file, expected) = (case.file, case.linearizable);
        let opts = CheckOptions {
            model: case.model,
            initial_value: case.initial.map(String::from),
            ..CheckOptions::default()
        };
        let r = check_file_with(&data(file), &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(r.format, "edn", "{file}");
        assert_eq!(r.verdict, Some(expected), "{file}: {}", r.detail);
        assert_eq!(r.keys, case.partitions, "{file}: partitions checked");
        if !expected {
            assert!(r.detail.contains("admit no linearization"), "{file}");
        }
    }
}

#[test]
fn models_are_chosen_from_the_history_when_not_given() {
    let check = |file: &str| check_file_with(&data(file), &CheckOptions::default()).unwrap();
    assert_eq!(check("register-stale-read.edn").model, "cas-register");
    assert_eq!(check("txn-atomic-read.edn").model, "multi-register");
}

#[test]
fn the_initial_value_matters() {
    // Reads of 0 with no write of 0 are only possible if the registers start at 0.
    let nil = check_file_with(&data("txn-atomic-read.edn"), &CheckOptions::default()).unwrap();
    assert_eq!(nil.verdict, Some(false));
    let cas = check_file_with(
        &data("cas-success-and-failure.edn"),
        &CheckOptions::default(),
    );
    assert_eq!(
        cas.unwrap().verdict,
        Some(false),
        "cas 0->1 needs the value 0"
    );
}

#[test]
fn nemesis_entries_are_skipped_and_not_counted() {
    let opts = CheckOptions {
        model: Some(ModelKind::Register),
        ..CheckOptions::default()
    };
    let r = check_file_with(&data("edn-syntax-tour.edn"), &opts).unwrap();
    assert_eq!(r.operations, 4);
    let only_nemesis = "[{:process :nemesis, :type :info, :f :start, :value nil}]";
    let err = check_text(only_nemesis, &CheckOptions::default()).unwrap_err();
    assert!(err.contains("no operations"), "{err}");
}

#[test]
fn a_model_that_does_not_know_an_operation_is_an_error() {
    let opts = CheckOptions {
        model: Some(ModelKind::Register),
        ..CheckOptions::default()
    };
    let err = check_file_with(&data("cas-from-stale-value.edn"), &opts).unwrap_err();
    assert!(err.starts_with("line 5:") && err.contains("`cas`"), "{err}");
}

#[test]
fn the_command_line_maps_verdicts_to_exit_codes() {
    let ok = simkv(&[
        "check",
        "tests/data/jepsen/cas-success-and-failure.edn",
        "--initial-value",
        "0",
        "--json",
    ]);
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    let v: serde_json::Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(v["status"], "linearizable");
    assert_eq!(v["model"], "cas-register");
    let bad = simkv(&[
        "check",
        "tests/data/jepsen/txn-torn-read.edn",
        "--model",
        "multi-register",
        "--initial-value",
        "0",
    ]);
    assert_eq!(bad.code, 1, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stdout.contains("txn [[:read :x 1] [:read :y 0]]"),
        "{}",
        bad.stdout
    );
    let undecided = simkv(&[
        "check",
        "tests/data/jepsen/register-concurrent-ok.edn",
        "--budget",
        "2",
        "--json",
    ]);
    assert_eq!(
        undecided.code, 3,
        "{}{}",
        undecided.stdout, undecided.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&undecided.stdout).unwrap();
    assert_eq!(v["status"], "unknown");
    let usage = simkv(&[
        "check",
        "tests/data/jepsen/txn-torn-read.edn",
        "--model",
        "queue",
    ]);
    assert_eq!(usage.code, 2);
    let format = simkv(&[
        "check",
        "tests/data/jepsen/register-stale-read.edn",
        "--format",
        "jsonl",
    ]);
    assert_eq!(
        format.code, 2,
        "an EDN file read as JSON Lines is bad input"
    );
    assert!(format.stderr.contains("line 1"), "{}", format.stderr);
}

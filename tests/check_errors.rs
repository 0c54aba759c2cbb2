//! Malformed histories are errors that name the line at fault (exit code 2), never a
//! verdict: one test per kind of damage, in simkv JSON Lines and in Jepsen EDN.

mod common;

use simkv::check::linearizable::{CheckOptions, check_text};

fn line(process: u32, kind: &str, f: &str, key: &str, value: &str, time: u64) -> String {
    format!(
        "{{\"process\": {process}, \"type\": \"{kind}\", \"f\": \"{f}\", \"key\": \"{key}\", \"value\": {value}, \"time_ns\": {time}}}\n"
    )
}

/// The error for `text`, which must not be a verdict.
fn error(text: &str) -> String {
    match check_text(text, &CheckOptions::default()) {
        Ok(r) => panic!("expected an error, got a verdict {:?}", r.verdict),
        Err(e) => e,
    }
}

#[test]
fn a_completion_without_its_invoke() {
    let text = line(1, "invoke", "set", "k", "\"a\"", 1)
        + &line(1, "ok", "set", "k", "\"a\"", 2)
        + &line(2, "ok", "get", "k", "\"a\"", 3);
    let e = error(&text);
    assert!(e.starts_with("line 3:"), "{e}");
    assert!(e.contains("never invoked"), "{e}");
}

#[test]
fn two_open_invokes_from_one_process() {
    let text =
        line(1, "invoke", "set", "k", "\"a\"", 1) + &line(1, "invoke", "get", "k", "null", 2);
    let e = error(&text);
    assert!(e.starts_with("line 2:"), "{e}");
    assert!(e.contains("still open"), "{e}");
}

#[test]
fn a_completion_before_its_invocation() {
    let text = line(1, "invoke", "set", "k", "\"a\"", 50) + &line(1, "ok", "set", "k", "\"a\"", 40);
    let e = error(&text);
    assert!(e.starts_with("line 2:"), "{e}");
    assert!(e.contains("comes before its invoke"), "{e}");
}

#[test]
fn a_key_that_differs_between_invoke_and_completion() {
    let text = line(1, "invoke", "get", "k1", "null", 1) + &line(1, "ok", "get", "k2", "\"a\"", 2);
    let e = error(&text);
    assert!(e.starts_with("line 2:"), "{e}");
    assert!(e.contains("key \"k2\" differs"), "{e}");
}

#[test]
fn an_unknown_function() {
    let text = line(1, "invoke", "lpush", "k", "\"a\"", 1) + &line(1, "ok", "lpush", "k", "1", 2);
    let e = error(&text);
    assert!(e.starts_with("line 1:"), "{e}");
    assert!(e.contains("unknown operation f `lpush`"), "{e}");
}

#[test]
fn an_empty_file_or_one_without_operations() {
    assert!(error("").contains("empty"));
    assert!(error("\n \n").contains("empty"));
    let e = error("[]");
    assert!(e.contains("no operations"), "{e}");
    let out = common::simkv(&["check", "/dev/null"]);
    assert_eq!(out.code, 2, "an empty file is bad input: {}", out.stdout);
}

#[test]
fn a_value_that_is_not_a_string_or_number() {
    let text = line(1, "invoke", "set", "k", "[1, 2]", 1) + &line(1, "ok", "set", "k", "null", 2);
    let e = error(&text);
    assert!(
        e.starts_with("line 1:") && e.contains("not a string"),
        "{e}"
    );
}

#[test]
fn the_same_damage_in_edn_names_its_line() {
    let orphan = "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0, :type :ok, :f :read, :value nil}\n {:process 1, :type :info, :f :write, :value 1}]";
    assert!(error(orphan).starts_with("line 3:"), "{}", error(orphan));
    let twice = "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :invoke, :f :write, :value 1}";
    assert!(error(twice).starts_with("line 2:"));
    let backwards = "{:process 0, :type :invoke, :f :read, :time 9}\n{:process 0, :type :ok, :f :read, :value 1, :time 3}";
    assert!(error(backwards).contains("comes before its invoke"));
    let unknown = "{:process 0, :type :invoke, :f :enqueue, :value 1}";
    assert!(error(unknown).contains("`enqueue`"));
    let mixed = "{:process 0, :type :invoke, :f :write, :key :a, :value 1}\n{:process 0, :type :ok, :f :read, :key :a, :value 1}";
    assert!(
        error(mixed).contains("differs from its invoke"),
        "{}",
        error(mixed)
    );
    let syntax = "[{:process 0, :type :invoke}\n {:process 0 :type}]";
    assert!(error(syntax).starts_with("line 2:"), "{}", error(syntax));
}

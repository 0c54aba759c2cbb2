//! simkv histories check values as Redis holds them: strings, with numbers written as their
//! decimal text, INCR parsing a key's string as an integer, and compare-and-set.

use simkv::check::linearizable::{CheckOptions, check_text};

/// A sequential history: each (f, input, output) runs alone, process 1, in order.
fn sequential(ops: &[(&str, &str, &str, &str)]) -> String {
    let mut out = String::new();
    for (i, (f, input, kind, output)) in ops.iter().enumerate() {
        let t = i as u64 * 10;
        out.push_str(&format!(
            "{{\"process\": 1, \"type\": \"invoke\", \"f\": \"{f}\", \"key\": \"k\", \"value\": {input}, \"time_ns\": {t}}}\n"
        ));
        let error = if *kind == "fail" {
            ", \"error\": \"ERR value is not an integer or out of range\""
        } else {
            ""
        };
        out.push_str(&format!(
            "{{\"process\": 1, \"type\": \"{kind}\", \"f\": \"{f}\", \"key\": \"k\", \"value\": {output}, \"time_ns\": {}{error}}}\n",
            t + 5
        ));
    }
    out
}

fn verdict(text: &str) -> Option<bool> {
    let r = check_text(text, &CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((r.format, r.model), ("jsonl", "kv"));
    r.verdict
}

#[test]
fn numbers_are_values_not_empty_strings() {
    let read_back = sequential(&[("set", "5", "ok", "5"), ("get", "null", "ok", "5")]);
    assert_eq!(verdict(&read_back), Some(true));
    let as_text = sequential(&[("set", "5", "ok", "5"), ("get", "null", "ok", "\"5\"")]);
    assert_eq!(
        verdict(&as_text),
        Some(true),
        "SET k 5 stores the string \"5\""
    );
    let other = sequential(&[("set", "5", "ok", "5"), ("get", "null", "ok", "6")]);
    assert_eq!(verdict(&other), Some(false), "5 and 6 are different values");
    let empty = sequential(&[("set", "5", "ok", "5"), ("get", "null", "ok", "\"\"")]);
    assert_eq!(verdict(&empty), Some(false), "5 is not the empty string");
}

#[test]
fn a_key_mixes_families_as_redis_allows() {
    let set_then_incr = sequential(&[
        ("set", "5", "ok", "5"),
        ("incr", "null", "ok", "6"),
        ("get", "null", "ok", "\"6\""),
        ("append", "\"x\"", "ok", "\"x\""),
        ("get", "null", "ok", "\"6x\""),
        ("incr", "null", "fail", "null"),
    ]);
    assert_eq!(verdict(&set_then_incr), Some(true));
    let wrong_incr = sequential(&[("set", "5", "ok", "5"), ("incr", "null", "ok", "1")]);
    assert_eq!(verdict(&wrong_incr), Some(false), "INCR of \"5\" answers 6");
    let refused = sequential(&[("set", "5", "ok", "5"), ("incr", "null", "fail", "null")]);
    assert_eq!(
        verdict(&refused),
        Some(false),
        "\"5\" is an integer: INCR cannot refuse it"
    );
    let not_integer = sequential(&[
        ("set", "\"05\"", "ok", "\"05\""),
        ("incr", "null", "fail", "null"),
    ]);
    assert_eq!(
        verdict(&not_integer),
        Some(true),
        "\"05\" is not, for Redis"
    );
}

#[test]
fn compare_and_set_in_simkv_histories() {
    let swaps = sequential(&[
        ("set", "\"a\"", "ok", "\"a\""),
        ("cas", "[\"a\", \"b\"]", "ok", "true"),
        ("cas", "[\"a\", \"c\"]", "ok", "false"),
        ("get", "null", "ok", "\"b\""),
        ("cas", "[\"x\", \"y\"]", "fail", "null"),
        ("cas", "[\"b\", 7]", "ok", "true"),
        ("incr", "null", "ok", "8"),
    ]);
    assert_eq!(verdict(&swaps), Some(true));
    let lost = sequential(&[
        ("set", "\"a\"", "ok", "\"a\""),
        ("cas", "[\"a\", \"b\"]", "ok", "true"),
        ("cas", "[\"a\", \"c\"]", "ok", "true"),
    ]);
    assert_eq!(verdict(&lost), Some(false), "the value was b by then");
    let from_absent = sequential(&[("cas", "[null, \"a\"]", "ok", "true")]);
    assert_eq!(
        verdict(&from_absent),
        Some(true),
        "null expects an absent key"
    );
    let bad = sequential(&[("cas", "\"a\"", "ok", "true")]);
    let e = check_text(&bad, &CheckOptions::default()).unwrap_err();
    assert!(
        e.starts_with("line 1:") && e.contains("[expected, new]"),
        "{e}"
    );
}

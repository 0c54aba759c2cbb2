//! Every input the fuzzer saved under `tests/data/fuzz/<target>/` goes back through its parser:
//! it must give a result or an error within the time limit, never a panic. Each `.panic` file
//! next to an input says what the input did when it was found.

use std::path::{Path, PathBuf};
use std::time::Instant;

use simkv::fuzz::engine::SLOW_NS;
use simkv::fuzz::{Outcome, Target, execute};

fn saved_inputs(target: Target) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target.name());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut inputs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "input"))
        .collect();
    inputs.sort();
    inputs
}

/// Runs every saved input of `target`; fails with one line per input that panics or is slow.
fn check(target: Target) {
    let mut failures = Vec::new();
    for path in saved_inputs(target) {
        let input = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let outcome = execute(target, &input);
        let elapsed = started.elapsed();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Outcome::Panicked { message, location } = &outcome {
            failures.push(format!("{name}: panicked at {location}: {message}"));
        } else if elapsed.as_nanos() > u128::from(SLOW_NS) {
            failures.push(format!("{name}: took {elapsed:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} saved {} input(s) still fail:\n{}",
        failures.len(),
        target.name(),
        failures.join("\n")
    );
}

#[test]
fn scenario_inputs_give_a_result_or_an_error() {
    check(Target::Scenario);
}

#[test]
fn set_inputs_give_a_result_or_an_error() {
    check(Target::Set);
}

#[test]
fn jsonl_histories_give_a_result_or_an_error() {
    check(Target::Jsonl);
}

#[test]
fn kv_logs_give_a_result_or_an_error() {
    check(Target::Kv);
}

#[test]
fn etcd_logs_give_a_result_or_an_error() {
    check(Target::Etcd);
}

#[test]
fn every_saved_input_has_its_note_and_a_known_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name == "corpus" {
            continue;
        }
        let target = Target::from_name(&name);
        assert!(target.is_some(), "tests/data/fuzz/{name} is not a target");
        for input in saved_inputs(target.unwrap()) {
            let note = input.with_extension("panic");
            let text = std::fs::read_to_string(&note).unwrap_or_default();
            assert!(
                text.contains("location: "),
                "{} has no note",
                input.display()
            );
        }
    }
}

/// The saved `units.rs` finding is an arithmetic overflow: builds with overflow checks (plain
/// `cargo test`) panic on it, release builds wrap silently to a wrong duration. This checks the
/// value, so it fails in both: every duration is exact (computed here in 128 bits) or an error.
#[test]
fn duration_fractions_are_exact_or_rejected() {
    let units: [(&str, u128); 6] = [
        ("ns", 1),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    let mut wrong = Vec::new();
    for int in ["0", "1", "5124095", "18446744073"] {
        for frac in ["", "5", "9999999", "999999999", "000000001"] {
            for (unit, scale) in units {
                let text = if frac.is_empty() {
                    format!("{int}{unit}")
                } else {
                    format!("{int}.{frac}{unit}")
                };
                let i: u128 = int.parse().unwrap();
                let f: u128 = frac.parse().unwrap_or(0);
                let exact = i * scale + f * scale / 10u128.pow(frac.len() as u32);
                let got = std::panic::catch_unwind(|| simkv::scenario::parse_duration(&text));
                let ok = match &got {
                    Ok(Ok(v)) => u128::from(*v) == exact,
                    Ok(Err(_)) => exact > u128::from(u64::MAX),
                    Err(_) => false,
                };
                if !ok {
                    wrong.push(format!("\"{text}\": {got:?}, exact {exact} ns"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

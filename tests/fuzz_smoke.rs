//! A short fuzzing run of every target in the normal test suite (4,000 executions each): the
//! loop is reproducible from its seed, reaches both accepted and rejected inputs, and finds no
//! panic that is not already saved under `tests/data/fuzz/` (those fail fuzz_regressions.rs).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simkv::check::linearizable::check_file_with;
use simkv::fuzz::corpus::{self, Sources};
use simkv::fuzz::mutate::mutate;
use simkv::fuzz::{FindingKind, Fuzzer, Hooks, Outcome, Target, execute};
use simkv::scenario::Scenario;

const EXECS: u64 = 4_000;

struct Clock(Instant);

impl Hooks for Clock {
    fn now_ns(&mut self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

fn sources() -> Sources {
    Sources::at(Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn fuzz(target: Target, seed: u64, execs: u64) -> Fuzzer {
    let mut f = Fuzzer::new(target, seed, corpus::load(target, &sources()));
    f.run(execs, &mut Clock(Instant::now()));
    f
}

/// The panic locations the saved inputs of `target` reach today.
fn known_locations(target: Target) -> BTreeSet<String> {
    corpus::saved_findings(&sources().root, target)
        .iter()
        .filter_map(|input| match execute(target, input) {
            Outcome::Panicked { location, .. } => Some(location),
            _ => None,
        })
        .collect()
}

fn smoke(target: Target) {
    let f = fuzz(target, 1, EXECS);
    let s = f.stats();
    assert_eq!(s.execs, EXECS);
    assert!(s.accepted > 0 && s.rejected > 0, "{s:?}");
    let known = known_locations(target);
    for finding in f.findings() {
        assert!(
            !matches!(finding.kind, FindingKind::Slow { .. }),
            "{}: {}",
            target.name(),
            finding.message
        );
        assert!(
            finding.kind != FindingKind::Panic || known.contains(&finding.location),
            "new {} finding at {}: {}\ninput: {:?}",
            target.name(),
            finding.location,
            finding.message,
            String::from_utf8_lossy(&finding.input)
        );
    }
}

#[test]
fn scenario_parser_smoke() {
    smoke(Target::Scenario);
}

#[test]
fn set_overrides_smoke() {
    smoke(Target::Set);
}

#[test]
fn jsonl_reader_smoke() {
    smoke(Target::Jsonl);
}

#[test]
fn kv_reader_smoke() {
    smoke(Target::Kv);
}

#[test]
fn etcd_reader_smoke() {
    smoke(Target::Etcd);
}

#[test]
fn edn_reader_smoke() {
    smoke(Target::Edn);
}

#[test]
fn equal_seeds_give_equal_inputs() {
    let digest = |seed| fuzz(Target::Scenario, seed, 300).stats().digest;
    assert_eq!(digest(9), digest(9));
    assert_ne!(digest(9), digest(10));
}

/// The file readers in front of the parsers (`Scenario::load`, `check_file_with`) see raw
/// bytes: invalid UTF-8 and NUL bytes must be errors too.
#[test]
fn file_readers_turn_raw_bytes_into_errors() {
    let dir = std::env::temp_dir().join(format!("simkv-fuzz-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("input");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut binary = 0;
    for target in [Target::Scenario, Target::Kv, Target::Etcd] {
        let seeds = corpus::load(target, &sources());
        for _ in 0..150 {
            let mut input = seeds[rng.random_range(0..seeds.len())].clone();
            let other = seeds[rng.random_range(0..seeds.len())].clone();
            mutate(&mut rng, &mut input, &other, target.max_len());
            binary += usize::from(std::str::from_utf8(&input).is_err() || input.contains(&0));
            std::fs::write(&path, &input).unwrap();
            let read = std::panic::catch_unwind(|| match target {
                Target::Scenario => Scenario::load(&path, &[])
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                _ => check_file_with(&path, &simkv::check::linearizable::CheckOptions::default())
                    .map(|_| ()),
            });
            let text = String::from_utf8_lossy(&input);
            let Ok(result) = read else {
                panic!("{} reader panicked on {text:?}", target.name());
            };
            if std::str::from_utf8(&input).is_err() {
                assert!(
                    result.is_err(),
                    "{}: accepted non-UTF-8 {text:?}",
                    target.name()
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(binary > 10, "only {binary} inputs were not UTF-8 text");
}

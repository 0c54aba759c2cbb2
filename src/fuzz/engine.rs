//! The mutation loop of one target: pick a corpus input, mutate it (bytes, or TOML values, or
//! `--set` overrides), execute it, keep inputs the parser accepted as new seeds, and turn each
//! distinct panic location (and each execution over the time limit) into a minimised finding.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngExt;

use super::minimise::minimise;
use super::mutate::mutate;
use super::structure::{mutate_toml, set_input};
use super::target::{Outcome, Target, execute};
use crate::sim::{RngStreams, SimRng, fnv1a};

/// An execution slower than this is a finding.
pub const SLOW_NS: u64 = 10_000_000_000;
/// Accepted mutants kept as extra seeds (the oldest are replaced when full).
const MAX_POOL: usize = 512;
/// Candidate inputs tried when minimising one finding.
const MINIMISE_BUDGET: usize = 6_000;
/// Slow (and resource-hungry) inputs kept per run, each.
const MAX_SLOW: usize = 3;

/// What the loop needs from its caller: a wall clock (the library never reads one), and
/// places to publish the input in flight and the progress.
pub trait Hooks {
    /// Nanoseconds since any fixed moment.
    fn now_ns(&mut self) -> u64;
    /// Called with each input just before it runs (e.g. to save it in case the process dies).
    fn before(&mut self, _input: &[u8]) {}
    /// Called just after each execution: a message when the caller judges it a failure
    /// (e.g. it used too much memory), recorded as a finding.
    fn after(&mut self) -> Option<String> {
        None
    }
    /// Called every 1,024 executions and at the end.
    fn progress(&mut self, _stats: &Stats) {}
}

/// How a finding failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// The parser panicked.
    Panic,
    /// One execution took longer than [`SLOW_NS`].
    Slow {
        /// How long it took.
        elapsed_ns: u64,
    },
    /// The caller's [`Hooks::after`] judged it a failure (e.g. memory).
    Resource,
}

/// One distinct failure: its first input (minimised for panics) and how often it was hit.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The target that failed.
    pub target: Target,
    /// Panic or slow.
    pub kind: FindingKind,
    /// The panic message (or a description of the slow execution).
    pub message: String,
    /// `file:line:column` of the panic (`slow` for slow executions).
    pub location: String,
    /// The (minimised) input.
    pub input: Vec<u8>,
    /// The length of the input as first found.
    pub original_len: usize,
    /// The execution (1-based) that found it.
    pub first_exec: u64,
    /// Executions that hit it.
    pub hits: u64,
}

/// Counters of one target's run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The target's name.
    pub target: &'static str,
    /// Executions so far (minimisation not counted).
    pub execs: u64,
    /// Inputs the parser accepted.
    pub accepted: u64,
    /// Inputs it rejected with an error.
    pub rejected: u64,
    /// Executions that panicked.
    pub panics: u64,
    /// Distinct findings.
    pub findings: usize,
    /// The slowest execution.
    pub slowest_ns: u64,
    /// Seeds plus accepted mutants kept.
    pub corpus: usize,
    /// FNV-1a over every executed input's FNV-1a: equal for equal seeds and corpora.
    pub digest: u64,
}

/// The fuzzing loop of one target.
pub struct Fuzzer {
    target: Target,
    seed: u64,
    rng: SimRng,
    seeds: Vec<Vec<u8>>,
    pool: Vec<Vec<u8>>,
    scenarios: Vec<String>,
    findings: BTreeMap<String, Finding>,
    stats: Stats,
}

impl Fuzzer {
    /// A loop over `seeds` (for `set`: scenario texts) drawing from the `fuzz/<target>` stream
    /// of `seed`.
    pub fn new(target: Target, seed: u64, seeds: Vec<Vec<u8>>) -> Fuzzer {
        let mut rng = RngStreams::new(seed).stream(&format!("fuzz/{}", target.name()));
        let (scenarios, mut seeds) = if target == Target::Set {
            let texts: Vec<String> = seeds
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            let inputs = texts
                .iter()
                .map(|s| set_input(&mut rng, s).into_bytes())
                .collect();
            (texts, inputs)
        } else {
            (Vec::new(), seeds)
        };
        if seeds.is_empty() {
            seeds.push(Vec::new());
        }
        let stats = Stats {
            target: target.name(),
            corpus: seeds.len(),
            digest: 0xcbf2_9ce4_8422_2325,
            ..Stats::default()
        };
        Fuzzer {
            target,
            seed,
            rng,
            seeds,
            pool: Vec::new(),
            scenarios,
            findings: BTreeMap::new(),
            stats,
        }
    }

    /// Adds seeds (e.g. saved findings) after construction; for `set` they are `set` inputs.
    pub fn add_seeds(&mut self, more: Vec<Vec<u8>>) {
        self.seeds.extend(more);
        self.stats.corpus = self.seeds.len() + self.pool.len();
    }

    /// Runs `execs` more executions.
    pub fn run(&mut self, execs: u64, hooks: &mut dyn Hooks) {
        for _ in 0..execs {
            let input = self.next_input();
            self.execute_one(input, hooks);
            if self.stats.execs.is_multiple_of(1024) {
                hooks.progress(&self.stats);
            }
        }
        hooks.progress(&self.stats);
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The findings so far, by location.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.values()
    }

    /// The seed of the run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn pick(&mut self) -> Vec<u8> {
        let n = self.seeds.len() + self.pool.len();
        let i = self.rng.random_range(0..n);
        if i < self.seeds.len() {
            self.seeds[i].clone()
        } else {
            self.pool[i - self.seeds.len()].clone()
        }
    }

    fn next_input(&mut self) -> Vec<u8> {
        let mut input = self.pick();
        let other = self.pick();
        let max = self.target.max_len();
        match (self.target, self.rng.random_range(0..3)) {
            (Target::Scenario, 0) => {
                let text = String::from_utf8_lossy(&input).into_owned();
                match mutate_toml(&mut self.rng, &text) {
                    Some(t) => input = t.into_bytes(),
                    None => mutate(&mut self.rng, &mut input, &other, max),
                }
            }
            (Target::Set, 0) if !self.scenarios.is_empty() => {
                let i = self.rng.random_range(0..self.scenarios.len());
                input = set_input(&mut self.rng, &self.scenarios[i]).into_bytes();
            }
            _ => mutate(&mut self.rng, &mut input, &other, max),
        }
        input.truncate(max);
        input
    }

    fn execute_one(&mut self, input: Vec<u8>, hooks: &mut dyn Hooks) {
        hooks.before(&input);
        let start = hooks.now_ns();
        let outcome = execute(self.target, &input);
        let elapsed = hooks.now_ns().saturating_sub(start);
        let s = &mut self.stats;
        s.execs += 1;
        s.digest = (s.digest ^ fnv1a(&input)).wrapping_mul(0x100_0000_01b3);
        s.slowest_ns = s.slowest_ns.max(elapsed);
        if elapsed > SLOW_NS {
            let message = format!("one execution took {} ms", elapsed / 1_000_000);
            self.record_other(
                &input,
                FindingKind::Slow {
                    elapsed_ns: elapsed,
                },
                message,
            );
        }
        if let Some(message) = hooks.after() {
            self.record_other(&input, FindingKind::Resource, message);
        }
        match outcome {
            Outcome::Accepted => {
                self.stats.accepted += 1;
                self.keep(input);
            }
            Outcome::Rejected => self.stats.rejected += 1,
            Outcome::Panicked { message, location } => {
                self.stats.panics += 1;
                self.record_panic(input, message, location);
            }
        }
    }

    /// Keeps an accepted mutant as a seed, so later mutations start from valid inputs.
    fn keep(&mut self, input: Vec<u8>) {
        if self.pool.len() < MAX_POOL {
            self.pool.push(input);
        } else {
            let i = self.rng.random_range(0..MAX_POOL);
            self.pool[i] = input;
        }
        self.stats.corpus = self.seeds.len() + self.pool.len();
    }

    fn record_panic(&mut self, input: Vec<u8>, message: String, location: String) {
        let execs = self.stats.execs;
        if let Some(f) = self.findings.get_mut(&location) {
            f.hits += 1;
            return;
        }
        let target = self.target;
        let small = minimise(
            &input,
            MINIMISE_BUDGET,
            |c| matches!(execute(target, c), Outcome::Panicked { location: l, .. } if l == location),
        );
        let finding = Finding {
            target,
            kind: FindingKind::Panic,
            message,
            location: location.clone(),
            original_len: input.len(),
            input: small,
            first_exec: execs,
            hits: 1,
        };
        self.findings.insert(location, finding);
        self.stats.findings = self.findings.len();
    }

    /// Records a slow or resource-hungry input as it is (minimising would repeat the cost).
    fn record_other(&mut self, input: &[u8], kind: FindingKind, message: String) {
        let prefix = match kind {
            FindingKind::Slow { .. } => "slow",
            _ => "resource",
        };
        let kept = self
            .findings
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count();
        if kept >= MAX_SLOW {
            return;
        }
        let key = format!("{prefix}-{}", self.stats.execs);
        let finding = Finding {
            target: self.target,
            kind,
            message,
            location: key.clone(),
            input: input.to_vec(),
            original_len: input.len(),
            first_exec: self.stats.execs,
            hits: 1,
        };
        self.findings.insert(key, finding);
        self.stats.findings = self.findings.len();
    }
}

impl Finding {
    /// A file name made from the location: `src_scenario_diag.rs_103_50`.
    pub fn file_stem(&self) -> String {
        self.location
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// Writes the input as `<dir>/<target>/<stem>.input` and what is known about it as
    /// `<stem>.panic` next to it; returns the input's path.
    pub fn save(&self, dir: &Path, seed: u64) -> std::io::Result<PathBuf> {
        let folder = dir.join(self.target.name());
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(format!("{}.input", self.file_stem()));
        std::fs::write(&path, &self.input)?;
        let mut note = std::fs::File::create(folder.join(format!("{}.panic", self.file_stem())))?;
        writeln!(note, "target: {}", self.target.name())?;
        writeln!(note, "location: {}", self.location)?;
        writeln!(note, "message: {}", self.message)?;
        writeln!(note, "seed: {seed}, first execution: {}", self.first_exec)?;
        writeln!(note, "hits: {}", self.hits)?;
        writeln!(
            note,
            "input: {} bytes (minimised from {})",
            self.input.len(),
            self.original_len
        )?;
        Ok(path)
    }
}

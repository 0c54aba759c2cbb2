//! Fuzzing the text simkv reads: scenario TOML, `--set` overrides and recorded histories. Each
//! input runs under `catch_unwind`; a panic is a finding, kept with its message and location,
//! minimised by greedy byte removal, and written to a findings folder. The mutation loop is
//! seeded by a number (ChaCha8), so a run is reproducible. docs/fuzzing.md is the guide.

pub mod corpus;
pub mod engine;
pub mod minimise;
pub mod mutate;
pub mod structure;
pub mod target;

pub use engine::{Finding, FindingKind, Fuzzer, Hooks, Stats};
pub use target::{Outcome, Target, execute};

//! Helpers shared by the integration tests: run the simkv binary and capture its output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one invocation of the binary produced.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `simkv` with these arguments from the project root.
pub fn simkv(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_simkv"))
        .args(args)
        .current_dir(root())
        .env("CI", "1")
        .output()
        .expect("the simkv binary runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every scenario in scenarios/, sorted.
pub fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("scenarios"))
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

/// A path relative to the root, as a string argument.
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

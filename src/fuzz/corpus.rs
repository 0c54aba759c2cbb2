//! The seed corpus of each target: the shipped scenarios, the simkv histories under
//! `tests/data/`, and small slices of Porcupine's kv and Jepsen etcd logs (whole logs would make
//! every execution a long linearizability search). Saved findings are seeds too.

use std::path::{Path, PathBuf};

use super::target::Target;

/// Lines per slice of a Porcupine log.
const SLICE_LINES: [usize; 3] = [4, 12, 30];
/// Logs sliced per Porcupine folder (the first ones by name).
const LOGS_PER_FOLDER: usize = 6;

/// Where the corpus is read from.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The repository root (with `scenarios/` and `tests/data/`).
    pub root: PathBuf,
    /// The Porcupine data folder (with `test_data/kv` and `test_data/jepsen`).
    pub porcupine: PathBuf,
}

impl Sources {
    /// The repository at `root`, with the Porcupine data in `../shared/data/porcupine` when
    /// it exists and in the repository's own `tests/data/porcupine` otherwise.
    pub fn at(root: &Path) -> Sources {
        let shared = root.join("../shared/data/porcupine");
        let porcupine = if shared.join("test_data").is_dir() {
            shared
        } else {
            root.join("tests/data/porcupine")
        };
        Sources {
            root: root.to_path_buf(),
            porcupine,
        }
    }
}

/// The seeds of one target, in a fixed order. For `set` these are scenario texts; the loop
/// turns them into `set` inputs.
pub fn load(target: Target, sources: &Sources) -> Vec<Vec<u8>> {
    let mut seeds = match target {
        Target::Scenario | Target::Set => files(&sources.root.join("scenarios"), "toml"),
        Target::Jsonl => {
            let mut all = Vec::new();
            jsonl_files(&sources.root.join("tests/data"), &mut all);
            all.sort();
            all.iter().filter_map(|p| std::fs::read(p).ok()).collect()
        }
        Target::Kv => sliced(&sources.porcupine.join("test_data/kv"), "txt"),
        Target::Etcd => sliced(&sources.porcupine.join("test_data/jepsen"), "log"),
        Target::Edn => files(&sources.root.join("tests/data/jepsen"), "edn"),
    };
    if target != Target::Set {
        seeds.extend(saved_findings(&sources.root, target));
    }
    seeds.retain(|s| s.len() <= target.max_len());
    seeds
}

/// The inputs saved under `tests/data/fuzz/<target>/`.
pub fn saved_findings(root: &Path, target: Target) -> Vec<Vec<u8>> {
    let dir = root.join("tests/data/fuzz").join(target.name());
    files(&dir, "")
}

/// The contents of the files in `dir` ending in `.ext` (any file when `ext` is empty), by name.
fn files(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && (ext.is_empty() || p.extension().is_some_and(|x| x == ext)))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn jsonl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.is_dir() {
            jsonl_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// The first `n` lines and a middle window of `n` lines, for each slice size, of the first
/// few logs in `dir` (plus the last log, which in the etcd folder uses spaces, not tabs).
fn sliced(dir: &Path, ext: &str) -> Vec<Vec<u8>> {
    let logs = files(dir, ext);
    let mut chosen: Vec<&Vec<u8>> = logs.iter().take(LOGS_PER_FOLDER).collect();
    chosen.extend(logs.last());
    let mut out = Vec::new();
    for log in chosen {
        let text = String::from_utf8_lossy(log);
        let lines: Vec<&str> = text.lines().collect();
        for n in SLICE_LINES {
            let middle = lines.len().saturating_sub(n) / 2;
            for start in [0, middle] {
                let end = (start + n).min(lines.len());
                let mut slice = lines[start..end].join("\n");
                slice.push('\n');
                out.push(slice.into_bytes());
            }
        }
    }
    out.dedup();
    out
}

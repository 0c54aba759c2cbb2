//! The `--out` folder: every file of one run, built in a private sibling folder and renamed into
//! place at the end, so a folder never mixes two runs and never holds half a run. `run.json`,
//! written last, names the run (scenario file, overrides, seed, scenario hash) and every file
//! with its size and FNV-1a hash; `summary.json`, `report.md` and the SVG plots also name the
//! run inside; `report.html` is the same run as one self-contained interactive page. The JSON Lines files keep their documented formats, line for line.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Summary;
use crate::check::LostWrite;
use crate::sim::fnv1a;
use crate::world::RunOutput;

/// The file that marks a complete simkv output folder.
pub const MANIFEST: &str = "run.json";

/// An output folder being built: the target, and the sibling folder the files go to first.
/// Dropped without [`OutDir::commit`], it removes the partial folder.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    staging: PathBuf,
    committed: bool,
}

fn sibling(target: &Path, what: &str) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the folder has no name"))?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let label = format!(
        ".{}.simkv-{what}-{}",
        name.to_string_lossy(),
        std::process::id()
    );
    Ok(parent.join(label))
}

/// Refuses a target that holds something other than an earlier simkv output.
fn replaceable(target: &Path) -> io::Result<()> {
    if !target.exists() {
        return Ok(());
    }
    if !target.is_dir() {
        return Err(io::Error::other("exists and is not a folder"));
    }
    let empty = std::fs::read_dir(target)?.next().is_none();
    if empty || target.join(MANIFEST).is_file() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "exists and is not a simkv output folder (no {MANIFEST}); choose an empty or new folder"
    )))
}

impl OutDir {
    /// Checks, before a run, that `target` can be written: its parent is created if needed and
    /// the private sibling folder is created there now.
    pub fn prepare(target: &Path) -> io::Result<OutDir> {
        replaceable(target)?;
        let staging = sibling(target, "partial")?;
        if let Some(parent) = staging.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        std::fs::create_dir(&staging)?;
        Ok(OutDir {
            target: target.to_path_buf(),
            staging,
            committed: false,
        })
    }

    /// Where the files go until [`OutDir::commit`].
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Puts the finished folder in place of the target (replacing an earlier simkv output).
    pub fn commit(mut self) -> io::Result<PathBuf> {
        replaceable(&self.target)?;
        let old = sibling(&self.target, "old")?;
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old)?;
        }
        std::fs::rename(&self.staging, &self.target)?;
        self.committed = true;
        if had_old {
            std::fs::remove_dir_all(&old)?;
        }
        Ok(self.target.clone())
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// What a run leaves in its output folder.
pub struct RunFiles<'a> {
    /// The summary.
    pub summary: &'a Summary,
    /// The run's raw output.
    pub output: &'a RunOutput,
    /// Every lost acknowledged write.
    pub lost: &'a [LostWrite],
    /// The linearizability counterexample, if any.
    pub counterexample: Option<&'a str>,
    /// The scenario's description.
    pub description: &'a str,
}

#[derive(Serialize)]
struct FileEntry {
    name: String,
    bytes: usize,
    fnv1a: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    simkv_version: &'a str,
    scenario: &'a str,
    scenario_file: &'a str,
    overrides: &'a [String],
    seed: u64,
    scenario_hash: &'a str,
    trace_hash: &'a str,
    replay: String,
    files: Vec<FileEntry>,
}

fn jsonl<T: Serialize>(items: &[T]) -> String {
    let mut s = String::new();
    for i in items {
        s.push_str(&serde_json::to_string(i).expect("records serialise"));
        s.push('\n');
    }
    s
}

/// `svg` with a `<desc>` naming the run right after its opening tag.
fn with_run(svg: String, run: &str) -> String {
    let Some(end) = svg
        .find("<svg")
        .and_then(|s| svg[s..].find('>').map(|e| s + e + 1))
    else {
        return svg;
    };
    let desc = run
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!("{}\n<desc>{desc}</desc>{}", &svg[..end], &svg[end..])
}

fn contents(f: &RunFiles) -> io::Result<Vec<(&'static str, String)>> {
    let out = f.output;
    let end_s = out.sim_time.as_nanos() as f64 / 1e9;
    let run = format!("simkv run: {}", f.summary.replay_command());
    let plots = [
        (
            "timeline.svg",
            super::timeline_svg(&out.metrics, &out.notes, end_s),
        ),
        ("lag.svg", super::lag_svg(&out.metrics, end_s)),
        ("throughput.svg", super::throughput_svg(&out.history, end_s)),
        (
            "servers.svg",
            super::server_throughput_svg(&out.history, end_s),
        ),
    ];
    let summary = serde_json::to_string_pretty(f.summary).expect("the summary serialises");
    let names: Vec<String> = out.servers.iter().map(|s| s.name.clone()).collect();
    let slot_maps: Vec<_> = out.servers.iter().map(|s| s.slot_owners.clone()).collect();
    let cluster = super::narrative::ClusterStory {
        servers: &names,
        shards: &super::timeline_data::shard_rows(&names, &out.notes, &slot_maps),
        elections: &super::timeline_data::elections(&names, &out.notes, end_s),
    };
    let mut md = super::markdown(
        f.summary,
        f.description,
        &out.notes,
        f.lost,
        f.counterexample,
        &cluster,
    );
    md.push_str(&super::vitals_report::vitals_markdown(
        &f.summary.vitals,
        &out.servers,
    ));
    let mut files = vec![
        ("summary.json", summary),
        ("history.jsonl", out.history.to_jsonl()),
        ("trace.jsonl", jsonl(&out.notes)),
        ("lost_writes.jsonl", jsonl(f.lost)),
        ("replication.csv", out.metrics.to_csv()),
        ("vitals.csv", out.metrics.vitals_csv()),
        ("report.md", md),
        ("report.html", super::html::report_html(f)),
    ];
    let vitals_plots = super::vitals_report::vitals_svgs(&out.metrics, end_s);
    let vitals_plots = vitals_plots.into_iter().map(|(name, _, svg)| (name, svg));
    for (name, svg) in plots.into_iter().chain(vitals_plots) {
        files.push((name, with_run(svg.map_err(io::Error::other)?, &run)));
    }
    Ok(files)
}

/// Writes every file of a run into `dir`'s private folder, `run.json` last, and puts the folder
/// in place. Returns the folder's path.
pub fn write_dir(dir: OutDir, f: &RunFiles) -> io::Result<PathBuf> {
    let mut entries = Vec::new();
    for (name, text) in contents(f)? {
        std::fs::write(dir.staging().join(name), &text)?;
        entries.push(FileEntry {
            name: name.to_string(),
            bytes: text.len(),
            fnv1a: format!("{:016x}", fnv1a(text.as_bytes())),
        });
    }
    let s = f.summary;
    let manifest = Manifest {
        simkv_version: &s.simkv_version,
        scenario: &s.scenario,
        scenario_file: &s.scenario_file,
        overrides: &s.overrides,
        seed: s.seed,
        scenario_hash: &s.scenario_hash,
        trace_hash: &s.trace_hash,
        replay: s.replay_command(),
        files: entries,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("the manifest serialises");
    super::write_atomic(&dir.staging().join(MANIFEST), text.as_bytes())?;
    dir.commit()
}

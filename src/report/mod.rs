//! Reports: the JSON summary (DESIGN.md's contract), the short human summary, the `--out`
//! folder, `--help` texts and atomic file writes. Reports render; they never decide a verdict.

mod bars;
mod cluster;
mod files;
pub mod help;
pub mod html;
mod narrative;
mod plot;
mod summary;
mod timeline_data;
mod vitals;
mod vitals_report;
mod words;

pub use bars::bar_chart_svg;
pub use cluster::{ClusterSummary, ElectionSummary, ShardSummary, cluster_summary};
pub use narrative::markdown;
pub use plot::{lag_svg, server_throughput_svg, throughput_svg, timeline_svg};

pub use files::{MANIFEST, OutDir, RunFiles, write_dir};
pub use summary::{LOST_WRITES_SHOWN, OperatorAction, Summary, operator_actions};
pub use vitals::{ServerVitals, VitalsSummary, human_bytes, human_usec, vitals_summary};
pub use words::{human_duration, per_workload, plural, replay_command, shell_quote};

pub use crate::check::failover::Failover;
pub use crate::check::figures::{OpsCounts, ReplicationCounts};
pub use crate::check::verdict::{Verdict, Warning};

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically: a temporary file in the same directory, flushed and
/// synced, then renamed over the target, so a reader never sees a half-written report.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("simkv-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("summary.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

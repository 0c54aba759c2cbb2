//! Scenario files: the TOML schema, `--set` overrides, validation, and the errors users see.
//! Every problem names the file, line and column, the field and a hint; all problems in a file
//! are reported at once. `docs/scenarios.md` is the reference.

mod diag;
mod fields;
pub mod tree;
mod units;

use std::path::Path;

use toml::de::DeTable;

pub use diag::{Diagnostic, Origin, ScenarioError, did_you_mean, edit_distance};
pub use units::{parse_duration, parse_percent, parse_rate, parse_size};

use crate::client::WorkloadSpec;
use crate::expect::Expectation;
use crate::fault::FaultSpec;
use crate::net::Topology;
use crate::redis::ServerConfig;

/// The longest simulated run a scenario may ask for (30 days).
pub const MAX_DURATION_NS: u64 = 30 * 24 * 3600 * 1_000_000_000;
/// The most servers and clients one scenario may have.
pub const MAX_PROCESSES: usize = 10_000;

/// One server of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// Its name.
    pub name: String,
    /// Region index.
    pub region: usize,
    /// Index of the server it replicates from at start.
    pub replicaof: Option<usize>,
    /// redis.conf knobs.
    pub config: ServerConfig,
}

/// One sentinel of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelSpec {
    /// Its name.
    pub name: String,
    /// Region index.
    pub region: usize,
    /// One `sentinel monitor` (with its knobs) per watched primary.
    pub monitors: Vec<crate::sentinel::SentinelConfig>,
}

/// A workload and where its clients run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadGroup {
    /// What each client does.
    pub spec: WorkloadSpec,
    /// How many clients.
    pub clients: u32,
    /// Region index.
    pub region: usize,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's name.
    pub name: String,
    /// What it teaches.
    pub description: String,
    /// The default seed.
    pub seed: u64,
    /// Total simulated time.
    pub duration_ns: u64,
    /// The final quiet (liveness) phase: faults healed, no new operations.
    pub quiet_ns: u64,
    /// The most events the run may deliver.
    pub max_events: u64,
    /// Regions and paths.
    pub topology: Topology,
    /// Servers; server `i` is process `i`.
    pub servers: Vec<ServerSpec>,
    /// Sentinels; they follow the servers in process order.
    pub sentinels: Vec<SentinelSpec>,
    /// Workloads; their clients follow the servers and sentinels in process order.
    pub workloads: Vec<WorkloadGroup>,
    /// Scheduled faults.
    pub faults: Vec<FaultSpec>,
    /// The random nemesis, if enabled.
    pub nemesis: Option<crate::nemesis::NemesisSpec>,
    /// `[expect]` assertions.
    pub expect: Vec<Expectation>,
}

impl Scenario {
    /// Reads, overrides and validates a scenario file.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let source = read_text(path, &file)?;
        Scenario::parse(&file, &source, overrides)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(
        file: &str,
        source: &str,
        overrides: &[String],
    ) -> Result<Scenario, ScenarioError> {
        let (root, mut err) = Scenario::tree(file, source, overrides)?;
        match fields::build(&root) {
            Ok(s) => Ok(s),
            Err(diags) => {
                err.diagnostics = diags;
                Err(err)
            }
        }
    }

    /// The value tree of scenario text with the overrides applied (what `simkv shrink` edits),
    /// and an empty error that carries the source for later diagnostics.
    pub fn tree(
        file: &str,
        source: &str,
        overrides: &[String],
    ) -> Result<(tree::Table, ScenarioError), ScenarioError> {
        let mut err = ScenarioError {
            file: file.to_string(),
            source: source.to_string(),
            overrides: overrides.to_vec(),
            diagnostics: Vec::new(),
        };
        let doc = match DeTable::parse(source) {
            Ok(d) => d,
            Err(e) => {
                let (start, end) = e.span().map_or((0, 0), |s| (s.start, s.end));
                err.diagnostics.push(Diagnostic {
                    origin: Origin::File { start, end },
                    field: String::new(),
                    message: format!("TOML syntax error: {}", e.message().trim()),
                    hint: Some(
                        "check quotes, brackets and `key = value` pairs near this spot".into(),
                    ),
                });
                return Err(err);
            }
        };
        let mut root = tree::from_document(doc.get_ref());
        for (i, o) in overrides.iter().enumerate() {
            let Some((key, value)) = o.split_once('=') else {
                err.diagnostics.push(Diagnostic {
                    origin: Origin::Override(i),
                    field: o.clone(),
                    message: "an override must look like KEY=VALUE".into(),
                    hint: Some("e.g. --set servers.defaults.appendfsync=always".into()),
                });
                continue;
            };
            let path: Vec<&str> = key.trim().split('.').collect();
            if let Err(m) = root.set_path(&path, tree::override_value(value.trim(), i)) {
                err.diagnostics.push(Diagnostic {
                    origin: Origin::Override(i),
                    field: key.to_string(),
                    message: m,
                    hint: None,
                });
            }
        }
        if !err.diagnostics.is_empty() {
            return Err(err);
        }
        Ok((root, err))
    }

    /// Reads a scenario file's text (with the same errors as [`Scenario::load`]).
    pub fn read(path: &Path) -> Result<String, ScenarioError> {
        read_text(path, &path.display().to_string())
    }
}

fn read_text(path: &Path, file: &str) -> Result<String, ScenarioError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        ScenarioError::whole(
            file,
            format!("cannot read the scenario: {}", io_reason(&e)),
            Some("check the path; the scenario library lives in scenarios/".into()),
        )
    })?;
    if meta.is_dir() {
        return Err(ScenarioError::whole(
            file,
            "is a directory, not a scenario file".into(),
            Some("give one .toml file, e.g. scenarios/basic.toml".into()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        ScenarioError::whole(
            file,
            format!("cannot read the scenario: {}", io_reason(&e)),
            None,
        )
    })?;
    let bad = bytes
        .iter()
        .position(|&b| b == 0)
        .or_else(|| std::str::from_utf8(&bytes).err().map(|e| e.valid_up_to()));
    if let Some(pos) = bad {
        let line = bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(ScenarioError::whole(
            file,
            format!("line {line}: not a text file (binary data or invalid UTF-8 at byte {pos})"),
            Some("scenario files are UTF-8 TOML text".into()),
        ));
    }
    Ok(String::from_utf8(bytes).expect("checked above"))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

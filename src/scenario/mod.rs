//! Scenario files: the TOML schema, `--set` overrides, validation, and the errors users see.
//! Every problem names the file, line and column, the field and a hint; all problems in a file
//! are reported at once. `docs/scenarios.md` is the reference.

mod diag;
mod fields;
pub mod limits;
pub mod timing;
pub mod tree;
mod units;
mod warning;

use std::path::Path;

use toml::de::DeTable;

pub use diag::{Diagnostic, Origin, ScenarioError, did_you_mean, edit_distance};
pub use timing::{FaultTiming, Heal, Window};
pub use units::{parse_duration, parse_percent, parse_rate, parse_size};
pub use warning::Warning;

use crate::client::WorkloadSpec;
use crate::expect::Expectation;
use crate::fault::FaultSpec;
use crate::net::Topology;
use crate::redis::ServerConfig;

/// The longest simulated run a scenario may ask for (30 days).
pub const MAX_DURATION_NS: u64 = 30 * 24 * 3600 * 1_000_000_000;
/// The most servers and clients one scenario may have.
pub const MAX_PROCESSES: usize = 10_000;

/// How `--set` reaches a value, for usage texts and hints.
pub const OVERRIDE_SYNTAX: &str = "--set KEY=VALUE, KEY a dotted path: \
     servers.defaults.appendfsync=always, workloads.app.clients=8; a number picks an array \
     entry, counted from 0: faults.0.at=70s (or faults[0].at=70s)";

/// Limits applied while loading a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Refuse a scenario whose run is estimated to need more memory than this (bytes).
    pub max_memory_bytes: u64,
    /// Refuse a scenario with warnings, reporting them as errors.
    pub deny_warnings: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            max_memory_bytes: limits::DEFAULT_MAX_MEMORY,
            deny_warnings: false,
        }
    }
}

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
    /// A machine kept in reserve: it does not run until an operator adds it (`add-server`).
    pub standby: bool,
}

/// `[operator]`: automation around Sentinel that replaces sick replicas with spares (Sentinel
/// itself only ever fails over primaries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorSpec {
    /// Standby servers (indices), in the order they are brought in.
    pub spares: Vec<usize>,
    /// How often the operator looks.
    pub interval_ns: u64,
    /// Replace a replica whose process has been down this long.
    pub down_ns: Option<u64>,
    /// Replace a replica this many bytes behind its primary...
    pub lag_bytes: Option<u64>,
    /// ...for this long.
    pub lag_for_ns: u64,
    /// Replace a replica whose disk reported an error.
    pub disk_errors: bool,
    /// Send `SENTINEL RESET <name>` to every sentinel after taking a replica out.
    pub sentinel_reset: bool,
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

/// A Redis Cluster (`[cluster]`): its shards and the knobs every node shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSpec {
    /// `cluster-*` knobs.
    pub config: crate::cluster::node::ClusterConfig,
    /// The shards, in slot order (shard `i` gets the `i`-th range of `topology::even_split`).
    pub shards: Vec<ShardSpec>,
}

/// One shard: server indices of its primary and replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// The primary's server index.
    pub primary: usize,
    /// The replicas' server indices.
    pub replicas: Vec<usize>,
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
    /// The Redis Cluster its servers form, if `[cluster]` is present.
    pub cluster: Option<ClusterSpec>,
    /// Workloads; their clients follow the servers and sentinels in process order.
    pub workloads: Vec<WorkloadGroup>,
    /// Scheduled faults, with the times of fault windows drawn for the scenario's own `seed`;
    /// a run with another seed uses [`Scenario::faults_for_seed`].
    pub faults: Vec<FaultSpec>,
    /// When each scheduled fault starts and heals, as written (fixed times or windows).
    pub fault_timings: Vec<FaultTiming>,
    /// The random nemesis, if enabled.
    pub nemesis: Option<crate::nemesis::NemesisSpec>,
    /// The `[operator]` policy that replaces sick replicas, if any.
    pub operator: Option<OperatorSpec>,
    /// `[expect]` assertions.
    pub expect: Vec<Expectation>,
    /// Legal but useless settings, in the order found.
    pub warnings: Vec<Warning>,
}

impl Scenario {
    /// Reads, overrides and validates a scenario file with the default [`LoadOptions`].
    pub fn load(path: &Path, overrides: &[String]) -> Result<Scenario, ScenarioError> {
        Scenario::load_with(path, overrides, &LoadOptions::default())
    }

    /// Reads, overrides and validates a scenario file.
    pub fn load_with(
        path: &Path,
        overrides: &[String],
        options: &LoadOptions,
    ) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let source = read_text(path, &file)?;
        Scenario::parse_with(&file, &source, overrides, options)
    }

    /// Parses and validates scenario text with the default [`LoadOptions`]; `file` names it in
    /// errors.
    pub fn parse(
        file: &str,
        source: &str,
        overrides: &[String],
    ) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(file, source, overrides, &LoadOptions::default())
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse_with(
        file: &str,
        source: &str,
        overrides: &[String],
        options: &LoadOptions,
    ) -> Result<Scenario, ScenarioError> {
        let (root, mut err) = Scenario::tree(file, source, overrides)?;
        let (mut scenario, warnings) = fields::build(&root).map_err(|diags| {
            err.diagnostics = diags;
            err.clone()
        })?;
        err.diagnostics = limits::check(&scenario, options.max_memory_bytes);
        if options.deny_warnings {
            err.diagnostics.extend(warnings.iter().cloned());
        }
        if !err.diagnostics.is_empty() {
            return Err(err);
        }
        scenario.warnings = warnings.iter().map(|d| err.warning(d)).collect();
        Ok(scenario)
    }

    /// The scheduled faults with their windows drawn for `seed` from the `faults` stream.
    pub fn faults_for_seed(&self, seed: u64) -> Vec<FaultSpec> {
        timing::place(&self.faults, &self.fault_timings, seed)
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
                    hint: Some(format!("write {OVERRIDE_SYNTAX}")),
                });
                continue;
            };
            let parts = tree::override_path(key);
            let path: Vec<&str> = parts.iter().map(String::as_str).collect();
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
    let bytes = read_input(path, limits::MAX_INPUT_BYTES)
        .map_err(|(message, hint)| ScenarioError::whole(file, message, hint))?;
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

/// Reads an input file of at most `max_bytes`, refusing anything but a regular file (a
/// directory, a FIFO, a device such as /dev/zero) before opening it, and never reading more
/// than `max_bytes + 1` bytes. The error is a message and a hint.
pub fn read_input(path: &Path, max_bytes: u64) -> Result<Vec<u8>, (String, Option<String>)> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| {
        (
            format!("cannot read the scenario: {}", io_reason(&e)),
            Some("check the path; the scenario library lives in scenarios/".into()),
        )
    })?;
    if meta.is_dir() {
        return Err((
            "is a directory, not a scenario file".into(),
            Some("give one .toml file, e.g. scenarios/basic.toml".into()),
        ));
    }
    if !meta.is_file() {
        return Err((
            "is not a regular file (a pipe, socket or device): refused without reading it".into(),
            Some("give a .toml file on disk, e.g. scenarios/basic.toml".into()),
        ));
    }
    let too_big = || {
        (
            format!(
                "is larger than the {} MiB limit on input files",
                max_bytes >> 20
            ),
            Some("scenario files are a few kilobytes: is this the right file?".into()),
        )
    };
    if meta.len() > max_bytes {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| (format!("cannot read the scenario: {}", io_reason(&e)), None))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(bytes)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

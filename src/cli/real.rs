//! `simkv run --backend real`, `simkv diff` and `simkv keyslot`: the real-Redis backend's
//! commands (real `redis-server` and `redis-sentinel` processes on loopback addresses).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use simkv::real::diff::DiffOptions;
use simkv::real::run::RealOptions;
use simkv::real::supervisor::Binaries;
use simkv::report::OutDir;

use super::commands::{Outcome, load, print_human, write_outputs};
use super::emit_out;
use crate::Source;

/// Where the scenario runs.
#[derive(Args, Clone, Debug)]
pub struct RealArgs {
    /// `sim` (the simulator) or `real` (real redis-server and redis-sentinel processes).
    #[arg(long, default_value = "sim", value_parser = ["sim", "real"])]
    backend: String,
    /// The redis-server binary of the real backend (default: on PATH).
    #[arg(long, value_name = "PATH")]
    redis_server: Option<PathBuf>,
    /// The redis-sentinel binary of the real backend (default: on PATH).
    #[arg(long, value_name = "PATH")]
    redis_sentinel: Option<PathBuf>,
    /// Real backend: scenario seconds per wall second (1 runs in real time; 0.2 runs a 300 s
    /// scenario in 60 s but leaves Redis's own timeouts as they are).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

impl RealArgs {
    /// Whether the real backend was asked for.
    pub fn is_real(&self) -> bool {
        self.backend == "real"
    }

    fn options(&self) -> Result<RealOptions, String> {
        if !(self.time_scale > 0.0 && self.time_scale <= 100.0) {
            return Err(format!(
                "error: --time-scale {} must lie in (0, 100]",
                self.time_scale
            ));
        }
        let binaries = match (&self.redis_server, &self.redis_sentinel) {
            (None, None) => None,
            (server, sentinel) => {
                let found = Binaries::from_path();
                let pick = |given: &Option<PathBuf>, name: &str| -> Result<PathBuf, String> {
                    given
                        .clone()
                        .or_else(|| {
                            found.as_ref().map(|b| match name {
                                "redis-server" => b.redis_server.clone(),
                                _ => b.redis_sentinel.clone(),
                            })
                        })
                        .ok_or_else(|| format!("error: {name} is not on PATH; give --{name} PATH"))
                };
                Some(Binaries {
                    redis_server: pick(server, "redis-server")?,
                    redis_sentinel: pick(sentinel, "redis-sentinel")?,
                })
            }
        };
        Ok(RealOptions {
            time_scale: self.time_scale,
            binaries,
            ..RealOptions::default()
        })
    }
}

/// `simkv run FILE --backend real`: the same summary, checks and outputs as a simulated run.
pub fn run_real(
    s: &Source,
    seed: Option<u64>,
    json: bool,
    out: Option<&Path>,
    real: &RealArgs,
) -> Outcome {
    let (scenario, source) = load(s)?;
    let seed = seed.unwrap_or(scenario.seed);
    let opts = real.options()?;
    let dir = out
        .map(|d| {
            OutDir::prepare(d).map_err(|e| format!("error: cannot write to {}: {e}", d.display()))
        })
        .transpose()?;
    let run = simkv::real::run::run_real(&scenario, seed, &opts)
        .map_err(|e| format!("error: {}: {e}", source.scenario_file))?;
    let report = simkv::real::output::report(&scenario, &source, &run);
    if let Some(dir) = dir {
        write_outputs(dir, &report, &scenario.description)?;
    }
    let summary = &report.summary;
    if json {
        outln!(
            "{}",
            serde_json::to_string(summary).expect("the summary serialises")
        );
    } else {
        print_human(
            summary,
            report.counterexample.as_deref(),
            source.deny_warnings,
        );
    }
    Ok(ExitCode::from(summary.verdict.exit_code()))
}

/// `simkv diff FILE`: the simulator over seeds next to real runs, with tolerances.
pub fn diff(s: &Source, seeds: &str, repeat: u32, json: bool, real: &RealArgs) -> Outcome {
    let (scenario, source) = load(s)?;
    let seeds = simkv::sweep::parse_seeds(seeds).map_err(|e| format!("error: --seeds: {e}"))?;
    if repeat == 0 {
        return Err("error: --repeat must be at least 1".into());
    }
    let opts = DiffOptions {
        seeds,
        real_runs: repeat,
        real: real.options()?,
        ..DiffOptions::default()
    };
    let d = simkv::real::diff::diff(&scenario, &opts)
        .map_err(|e| format!("error: {}: {e}", source.scenario_file))?;
    if json {
        outln!("{}", d.to_json());
    } else {
        emit_out(&d.render_table());
    }
    Ok(ExitCode::from(if d.agrees() { 0 } else { 1 }))
}

/// `simkv keyslot KEY...`.
pub fn keyslot(keys: &[String]) -> ExitCode {
    emit_out(&simkv::cluster::slot::format_keyslot_lines(keys));
    ExitCode::SUCCESS
}

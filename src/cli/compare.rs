//! The body of `simkv compare`: build every variant's scenario, run the variants over the seeds,
//! print the table (or one JSON object) and write `--out` (compare.md, compare.json, bar charts).

use std::path::Path;
use std::process::ExitCode;

use simkv::compare::{Comparison, Variant, parse_vary, row, variants};
use simkv::runner::Provenance;
use simkv::scenario::Scenario;

use super::commands::{Outcome, progress_bar};
use super::{Clock, emit_err, emit_out};
use crate::Source;

/// What `simkv compare` was asked.
pub struct Request<'a> {
    /// The scenario and the overrides every variant shares.
    pub source: &'a Source,
    /// The `--vary KEY=V1,V2,...` options.
    pub vary: &'a [String],
    /// The seed range.
    pub seeds: &'a str,
    /// Parallel runs.
    pub jobs: Option<usize>,
    /// Print one JSON object.
    pub json: bool,
    /// Where to write compare.md and the charts.
    pub out: Option<&'a Path>,
}

/// Every variant's scenario, validated before anything runs.
fn build(source: &Source, vary: &[String]) -> Result<Vec<Variant>, String> {
    if source.file.as_os_str() == "-" {
        return Err("error: compare reads the scenario from a file, not stdin".into());
    }
    if vary.is_empty() {
        return Err("error: compare needs at least one --vary KEY=V1,V2,...".into());
    }
    let varies = vary
        .iter()
        .map(|v| parse_vary(v).map_err(|e| format!("error: --vary {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    variants(&varies)
        .into_iter()
        .map(|own| {
            let mut overrides = source.overrides.clone();
            overrides.extend(own.iter().cloned());
            let scenario = Scenario::load(&source.file, &overrides).map_err(|e| e.to_string())?;
            Ok(Variant {
                label: own.join(" "),
                scenario,
                source: Provenance {
                    scenario_file: source.file.display().to_string(),
                    overrides,
                    deny_warnings: false,
                },
            })
        })
        .collect()
}

fn write_out(dir: &Path, c: &Comparison) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("error: cannot write to {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let json = serde_json::to_string_pretty(c).expect("the comparison serialises");
    let mut files = vec![
        ("compare.md".to_string(), c.markdown()),
        ("compare.json".to_string(), json),
    ];
    files.extend(
        c.charts()
            .map_err(|e| format!("error: cannot draw a chart: {e}"))?,
    );
    for (name, text) in files {
        simkv::report::write_atomic(&dir.join(name), text.as_bytes()).map_err(fail)?;
    }
    Ok(())
}

/// `simkv compare`: exit 0 when every run completed, 1 when one did not, 2 on bad input.
pub fn compare(r: &Request, now: Clock) -> Outcome {
    let variants = build(r.source, r.vary)?;
    let seeds = simkv::sweep::parse_seeds(r.seeds).map_err(|e| format!("error: --seeds {e}"))?;
    let runs = variants.len() * seeds.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = simkv::sweep::threads(r.jobs, runs, cores).map_err(|e| format!("error: {e}"))?;
    let pb = progress_bar(runs as u64, "runs", false);
    let started = now();
    let results = simkv::compare::run(&variants, &seeds, jobs, &|| pb.inc(1));
    pb.finish_and_clear();
    let comparison = Comparison {
        scenario: variants[0].scenario.name.clone(),
        scenario_file: r.source.file.display().to_string(),
        overrides: r.source.overrides.clone(),
        seeds: r.seeds.to_string(),
        variants: variants
            .iter()
            .zip(&results)
            .map(|(v, rs)| row(&v.label, rs))
            .collect(),
    };
    if let Some(dir) = r.out {
        write_out(dir, &comparison)?;
    }
    if r.json {
        outln!(
            "{}",
            serde_json::to_string(&comparison).expect("the comparison serialises")
        );
    } else {
        out!("{}", comparison.markdown());
    }
    errln!(
        "{runs} runs in {:.1} s on {jobs} threads",
        (now() - started).as_secs_f64()
    );
    let errors = comparison.variants.iter().any(|v| !v.errors.is_empty());
    Ok(ExitCode::from(u8::from(errors)))
}

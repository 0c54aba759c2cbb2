//! The bodies of `run`, `sweep`, `merge` and `shrink`: load the scenario, call the library,
//! print, and turn the result into an exit code (or a bad-input message, exit 2).

use super::Clock;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use simkv::report::{OutDir, RunFiles, Summary, write_dir};
use simkv::runner::{Provenance, RunReport};
use simkv::scenario::Scenario;
use simkv::sim::SimTime;
use simkv::sweep::{Merged, Plan, SeedLine};

use super::{emit_err, emit_out};
use crate::Source;

/// What a command returns: its exit code, or a bad-input message (exit 2).
pub type Outcome = Result<ExitCode, String>;

/// Reads, overrides and validates the scenario (`-`: from stdin).
pub fn load(source: &Source) -> Result<(Scenario, Provenance), String> {
    let file = source.file.display().to_string();
    let scenario = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("error: cannot read the scenario from stdin: {e}"))?;
        Scenario::parse("<stdin>", &text, &source.overrides)
    } else {
        Scenario::load(&source.file, &source.overrides)
    };
    let provenance = Provenance {
        scenario_file: file,
        overrides: source.overrides.clone(),
        deny_warnings: source.deny_warnings,
    };
    scenario.map(|s| (s, provenance)).map_err(|e| e.to_string())
}

fn quiet_terminal() -> bool {
    std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal()
}

pub(crate) fn progress_bar(len: u64, unit: &str, hidden: bool) -> indicatif::ProgressBar {
    if hidden || quiet_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{elapsed}})");
    let style = indicatif::ProgressStyle::with_template(&template).expect("valid template");
    indicatif::ProgressBar::new(len).with_style(style)
}

/// `simkv run`: one scenario, one seed; the summary on stdout, the files in `--out`.
pub fn run(
    s: &Source,
    seed: Option<u64>,
    json: bool,
    out: Option<&Path>,
    verbose: bool,
    now: Clock,
) -> Outcome {
    let (scenario, source) = load(s)?;
    let seed = seed.unwrap_or(scenario.seed);
    let dir = out
        .map(|d| {
            OutDir::prepare(d).map_err(|e| format!("error: cannot write to {}: {e}", d.display()))
        })
        .transpose()?;
    let pb = progress_bar(
        scenario.duration_ns / SimTime::NANOS_PER_MS,
        "simulated ms",
        json,
    );
    let started = now();
    let mut on_note = |n: &simkv::fact::FactNote| {
        if verbose {
            pb.suspend(|| {
                errln!(
                    "{:>12} {:<26} {}",
                    n.time.to_string(),
                    n.fact.kind(),
                    n.fact
                )
            });
        }
    };
    let report = simkv::runner::run_from(
        &scenario,
        &source,
        seed,
        &mut |t: SimTime| pb.set_position(t.as_ms()),
        &mut on_note,
        &mut || (now() - started).as_millis() as u64,
    );
    pb.finish_and_clear();
    let report = report.map_err(|e| {
        format!(
            "error: {}: {e}\n  hint: raise `max_events` in the scenario, or shorten `duration`",
            source.scenario_file
        )
    })?;
    let summary = &report.summary;
    if let Some(dir) = dir {
        write_outputs(dir, &report, &scenario.description)?;
    }
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
    let code = ExitCode::from(summary.verdict.exit_code());
    // The process exits next and the OS takes back its memory at once: freeing a long run's
    // history and trace one allocation at a time would only delay the exit.
    std::mem::forget(report);
    Ok(code)
}

/// Writes the `--out` folder of a finished run.
pub fn write_outputs(dir: OutDir, report: &RunReport, description: &str) -> Result<(), String> {
    let files = RunFiles {
        summary: &report.summary,
        output: &report.output,
        lost: &report.lost,
        counterexample: report.counterexample.as_deref(),
        description,
    };
    write_dir(dir, &files)
        .map(|_| ())
        .map_err(|e| format!("error: cannot write the reports: {e}"))
}

pub fn print_human(summary: &Summary, counterexample: Option<&str>, deny_warnings: bool) {
    out!("{}", summary.human());
    if let Some(c) = counterexample {
        out!("linearizability counterexample:\n{c}");
    }
    if deny_warnings && !summary.warnings.is_empty() {
        outln!("--deny-warnings: the warnings above fail the run");
    }
    if summary.verdict != simkv::report::Verdict::Pass {
        outln!("replay: {}", summary.replay_command());
    }
}

pub fn determinism(s: &Source, seed: Option<u64>, json: bool) -> Outcome {
    let (scenario, source) = load(s)?;
    let seed = seed.unwrap_or(scenario.seed);
    let d = simkv::runner::check_determinism(&scenario, seed)
        .map_err(|e| format!("error: {}: {e}", source.scenario_file))?;
    if json {
        outln!("{}", serde_json::to_string(&d).expect("serialises"));
    } else if d.deterministic {
        outln!(
            "deterministic: two runs of seed {seed} agree at all {} checkpoints (trace {})",
            d.checkpoints,
            d.trace_hash
        );
    } else {
        let (after, by) = (d.agree_until_ms.unwrap_or(0), d.differ_at_ms.unwrap_or(0));
        outln!(
            "NOT deterministic: the runs of seed {seed} agree up to {after} ms and differ by {by} ms"
        );
    }
    Ok(ExitCode::from(u8::from(!d.deterministic)))
}

/// `simkv shrink`: a smaller scenario that still fails, written to `out` (or
/// `<stem>-shrunk.toml`), replacing an existing file only with `force`.
pub fn shrink(
    file: &Path,
    overrides: &[String],
    seed: u64,
    (out, force): (Option<&Path>, bool),
    max_runs: usize,
) -> Outcome {
    let text = Scenario::read(file).map_err(|e| e.to_string())?;
    let label = file.display().to_string();
    let target = out.map_or_else(|| simkv::shrink::default_target(file), Path::to_path_buf);
    if target.exists() && !force {
        return Err(format!(
            "error: {} exists; pass --force to replace it",
            target.display()
        ));
    }
    let result = simkv::shrink::shrink(&label, &text, overrides, seed, max_runs)
        .map_err(|e| format!("error: {label}: {e}"))?;
    let file = simkv::shrink::file_text(&label, overrides, seed, &result);
    simkv::shrink::write(&target, &file, force).map_err(|e| format!("error: {e}"))?;
    let replay = simkv::report::replay_command(&target.display().to_string(), seed, &[]);
    outln!(
        "{} in {} runs; wrote {} (replay: {replay})",
        simkv::report::plural(result.steps.len() as u64, "step"),
        result.runs,
        target.display()
    );
    for step in &result.steps {
        outln!("  {step}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn sweep(
    s: &Source,
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    now: Clock,
) -> Outcome {
    let (scenario, source) = load(s)?;
    let all = simkv::sweep::parse_seeds(seeds).map_err(|e| format!("error: --seeds {e}"))?;
    let k = shard
        .map_or(Ok((0, 1)), simkv::sweep::parse_shard)
        .map_err(|e| format!("error: --shard {e}"))?;
    let list = simkv::sweep::shard(&all, k);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = simkv::sweep::threads(jobs, list.len(), cores).map_err(|e| format!("error: {e}"))?;
    let plan = Plan {
        scenario: &scenario,
        source: &source,
        seeds: &list,
    };
    let pb = progress_bar(list.len() as u64, "seeds", false);
    let started = now();
    let results = simkv::sweep::run(&plan, jobs, &|| pb.inc(1));
    pb.finish_and_clear();
    let mut lines = Vec::new();
    for r in &results {
        outln!("{}", simkv::sweep::seed_line(&plan, r, seeds, k));
        lines.push(match &r.1 {
            Ok(summary) => SeedLine::of(summary),
            Err(e) => SeedLine::error(&plan, r.0, e),
        });
    }
    let secs = (now() - started).as_secs_f64();
    errln!(
        "{} in {secs:.1} s ({:.1} seeds/s on {})",
        simkv::report::plural(results.len() as u64, "seed"),
        results.len() as f64 / secs,
        simkv::report::plural(jobs as u64, "thread")
    );
    let (table, all_pass) = simkv::sweep::table(&lines.iter().collect::<Vec<_>>());
    err!("{table}");
    Ok(ExitCode::from(u8::from(!all_pass)))
}

pub fn merge(files: &[PathBuf], seeds: Option<&str>, shards: Option<usize>) -> Outcome {
    if files.is_empty() {
        return Err(
            "error: merge needs the files written by `simkv sweep`, e.g. simkv merge part-*.jsonl"
                .into(),
        );
    }
    let mut merged = Merged::default();
    for f in files {
        let text =
            std::fs::read_to_string(f).map_err(|e| format!("error: {}: {e}", f.display()))?;
        merged
            .add(&f.display().to_string(), &text)
            .map_err(|e| format!("error: {e}"))?;
    }
    let expected =
        simkv::sweep::expected_seeds(&merged, seeds, shards).map_err(|e| format!("error: {e}"))?;
    let lines: Vec<&SeedLine> = merged
        .groups
        .values()
        .flat_map(|g| g.seeds.values().map(|(l, _)| l))
        .collect();
    let (table, mut ok) = simkv::sweep::table(&lines);
    err!("{table}");
    for (scenario, gaps) in expected.map(|e| merged.missing(&e)).unwrap_or_default() {
        errln!(
            "missing: scenario {scenario}: seeds {}",
            simkv::sweep::seed_list(&gaps)
        );
        ok = false;
    }
    Ok(ExitCode::from(u8::from(!ok)))
}

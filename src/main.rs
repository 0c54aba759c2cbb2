//! The `simkv` command line. It parses arguments, calls the library, prints, writes files and
//! maps results to exit codes: 0 pass, 1 an expectation or invariant failed, 2 bad input,
//! 3 undecided.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use simkv::report::{OutDir, RunFiles, Summary, help, write_dir};
use simkv::runner::Provenance;
use simkv::scenario::Scenario;
use simkv::sim::SimTime;
use simkv::sweep::{Merged, Plan, SeedLine};

/// Writes to stdout; a closed pipe (`simkv run ... | head`) ends the process quietly, as SIGPIPE
/// would, instead of panicking.
fn emit_out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .is_err()
    {
        std::process::exit(141);
    }
}

/// Writes to stderr, never panicking.
fn emit_err(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

macro_rules! out {
    ($($t:tt)*) => { emit_out(&format!($($t)*)) };
}
macro_rules! outln {
    ($($t:tt)*) => { emit_out(&format!("{}\n", format!($($t)*))) };
}
macro_rules! err {
    ($($t:tt)*) => { emit_err(&format!($($t)*)) };
}
macro_rules! errln {
    ($($t:tt)*) => { emit_err(&format!("{}\n", format!($($t)*))) };
}

#[derive(Parser)]
#[command(
    name = "simkv",
    version,
    about = "Deterministic simulation of Redis replication, Sentinel failover and what they lose",
    after_help = help::EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A scenario and its overrides.
#[derive(Args)]
struct Source {
    /// The scenario file (`-` reads it from stdin).
    file: PathBuf,
    /// Override a scenario value by its dotted path, e.g. servers.defaults.appendfsync=always.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Fail the run (exit 1) when it has warnings, e.g. no operation or no acknowledged write.
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and check it.
    #[command(after_help = help::RUN)]
    Run {
        #[command(flatten)]
        source: Source,
        /// The seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print exactly one JSON object on stdout (the summary, or the determinism check).
        #[arg(long)]
        json: bool,
        /// Write summary.json, history.jsonl, trace.jsonl, report.md, SVG plots and run.json
        /// into this folder (replacing an earlier simkv output there, never mixing two runs).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the trace's facts on stderr as they happen.
        #[arg(long, short)]
        verbose: bool,
        /// Run the seed twice and report the simulated time at which the runs first diverge.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Check a recorded history (simkv JSON Lines, Porcupine kv or Jepsen etcd logs) for
    /// linearizability.
    #[command(after_help = help::CHECK)]
    Check {
        /// The history file.
        file: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Run one scenario over many seeds in parallel: one JSON summary line per seed on stdout,
    /// a table and the replay command of every failing seed on stderr.
    #[command(after_help = help::SWEEP)]
    Sweep {
        #[command(flatten)]
        source: Source,
        /// Seeds: A..B (B excluded) or A..=B.
        #[arg(long, default_value = "1..101")]
        seeds: String,
        /// Parallel runs (default: the number of cores; never more than the seeds).
        #[arg(long)]
        jobs: Option<usize>,
        /// Take every N-th seed starting at the K-th (K/N), to split a sweep over machines.
        #[arg(long)]
        shard: Option<String>,
    },
    /// Reduce a failing run to a smaller scenario that still fails one of the same
    /// expectations on the same seed, and write it (with that seed) as a new scenario file.
    #[command(after_help = help::SHRINK)]
    Shrink {
        #[command(flatten)]
        source: Source,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the smaller scenario (default: <name>-shrunk.toml here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// The most runs to try.
        #[arg(long, default_value_t = 200)]
        max_runs: usize,
    },
    /// Combine the JSON lines of sweeps (shards, scenarios) into one table per scenario.
    #[command(after_help = help::MERGE)]
    Merge {
        /// Files written by `simkv sweep` (stdout).
        files: Vec<PathBuf>,
        /// Require every seed of this range (A..B or A..=B) for every scenario.
        #[arg(long)]
        seeds: Option<String>,
        /// Require the N shards of the sweep the lines record (its whole --seeds range).
        #[arg(long)]
        shards: Option<usize>,
    },
    /// Print performance figures.
    #[command(after_help = help::BENCH)]
    Bench {
        /// Scenario to time (default scenarios/basic.toml when present).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Kernel events for the timer benchmark.
        #[arg(long, default_value_t = 20_000_000)]
        events: u64,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run {
            source,
            seed,
            json,
            check_determinism: true,
            ..
        } => determinism(&source, seed, json),
        Command::Run {
            source,
            seed,
            json,
            out,
            verbose,
            ..
        } => run(&source, seed, json, out.as_deref(), verbose),
        Command::Check { file, json } => Ok(check(&file, json)),
        Command::Sweep {
            source,
            seeds,
            jobs,
            shard,
        } => sweep(&source, &seeds, jobs, shard.as_deref()),
        Command::Merge {
            files,
            seeds,
            shards,
        } => merge(&files, seeds.as_deref(), shards),
        Command::Shrink {
            source,
            seed,
            out,
            force,
            max_runs,
        } => shrink(&source, seed, out.as_deref(), force, max_runs),
        Command::Bench { scenario, events } => Ok(bench(scenario.as_deref(), events)),
    };
    result.unwrap_or_else(|message| {
        errln!("{}", message.trim_end());
        ExitCode::from(2)
    })
}

/// What a command returns: its exit code, or a bad-input message (exit 2).
type Outcome = Result<ExitCode, String>;

/// Reads, overrides and validates the scenario (`-`: from stdin).
fn load(source: &Source) -> Result<(Scenario, Provenance), String> {
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

fn progress_bar(len: u64, unit: &str, hidden: bool) -> indicatif::ProgressBar {
    if hidden || quiet_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{elapsed}})");
    let style = indicatif::ProgressStyle::with_template(&template).expect("valid template");
    indicatif::ProgressBar::new(len).with_style(style)
}

fn run(s: &Source, seed: Option<u64>, json: bool, out: Option<&Path>, verbose: bool) -> Outcome {
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
    let started = Instant::now();
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
        &mut || started.elapsed().as_millis() as u64,
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
        let files = RunFiles {
            summary,
            output: &report.output,
            lost: &report.lost,
            counterexample: report.counterexample.as_deref(),
            description: &scenario.description,
        };
        write_dir(dir, &files).map_err(|e| format!("error: cannot write the reports: {e}"))?;
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
    Ok(ExitCode::from(summary.verdict.exit_code()))
}

fn print_human(summary: &Summary, counterexample: Option<&str>, deny_warnings: bool) {
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

fn determinism(s: &Source, seed: Option<u64>, json: bool) -> Outcome {
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

fn shrink(s: &Source, seed: u64, out: Option<&Path>, force: bool, max_runs: usize) -> Outcome {
    let text = Scenario::read(&s.file).map_err(|e| e.to_string())?;
    let label = s.file.display().to_string();
    let target = out.map_or_else(|| simkv::shrink::default_target(&s.file), Path::to_path_buf);
    if target.exists() && !force {
        return Err(format!(
            "error: {} exists; pass --force to replace it",
            target.display()
        ));
    }
    let result = simkv::shrink::shrink(&label, &text, &s.overrides, seed, max_runs)
        .map_err(|e| format!("error: {label}: {e}"))?;
    let file = simkv::shrink::file_text(&label, &s.overrides, seed, &result);
    simkv::shrink::write(&target, &file, force).map_err(|e| format!("error: {e}"))?;
    let t = target.display();
    outln!(
        "{} in {} runs; wrote {t} (replay: simkv run {t})",
        simkv::report::plural(result.steps.len() as u64, "step"),
        result.runs
    );
    for step in &result.steps {
        outln!("  {step}");
    }
    Ok(ExitCode::SUCCESS)
}

fn sweep(s: &Source, seeds: &str, jobs: Option<usize>, shard: Option<&str>) -> Outcome {
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
    let started = Instant::now();
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
    let secs = started.elapsed().as_secs_f64();
    errln!(
        "{} in {secs:.1} s ({:.1} seeds/s on {jobs} threads)",
        simkv::report::plural(results.len() as u64, "seed"),
        results.len() as f64 / secs
    );
    let (table, all_pass) = simkv::sweep::table(&lines.iter().collect::<Vec<_>>());
    err!("{table}");
    Ok(ExitCode::from(u8::from(!all_pass)))
}

fn merge(files: &[PathBuf], seeds: Option<&str>, shards: Option<usize>) -> Outcome {
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

fn check(file: &Path, json: bool) -> ExitCode {
    let started = Instant::now();
    let result = simkv::check::linearizable::check_file(file);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Err(e) => {
            errln!("error: {}: {e}", file.display());
            ExitCode::from(2)
        }
        Ok(r) => {
            if json {
                let v = serde_json::json!({
                    "file": file.display().to_string(),
                    "format": r.format,
                    "operations": r.operations,
                    "keys": r.keys,
                    "linearizable": r.verdict,
                    "detail": r.detail,
                    "wall_ms": elapsed_ms,
                });
                outln!("{v}");
            } else {
                outln!(
                    "{}: {} operations over {} keys ({}): {}",
                    file.display(),
                    r.operations,
                    r.keys,
                    r.format,
                    match r.verdict {
                        Some(true) => "linearizable".to_string(),
                        Some(false) => "NOT linearizable".to_string(),
                        None => "unknown (search budget exhausted)".to_string(),
                    }
                );
                if !r.detail.is_empty() {
                    outln!("{}", r.detail);
                }
            }
            ExitCode::from(match r.verdict {
                Some(true) => 0,
                Some(false) => 1,
                None => 2,
            })
        }
    }
}

/// Checker throughput: a history of about 100k operations from basic.toml, and Porcupine's
/// largest test files.
fn bench_checkers() -> Result<(), ExitCode> {
    let path = Path::new("scenarios/basic.toml");
    if path.exists() {
        let overrides = [
            "duration=90s".to_string(),
            "workloads.app.clients=12".to_string(),
        ];
        let sc = Scenario::load(path, &overrides).map_err(|e| {
            err!("{e}");
            ExitCode::from(2)
        })?;
        let out = simkv::world::World::new(&sc, 1)
            .run(&mut |_| {})
            .map_err(|_| ExitCode::from(2))?;
        let ops = out.history.operations().len();
        let finals = simkv::runner::final_states(&out);
        let evidence = simkv::check::Evidence {
            history: &out.history,
            notes: &out.notes,
            finals: &finals,
        };
        let t = Instant::now();
        let (durable, _) = simkv::check::acked_writes_durable(&evidence);
        let d = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let lin = simkv::check::linearizable::check_history(&out.history);
        let l = t.elapsed().as_secs_f64();
        outln!(
            "checkers on a {ops}-operation history: acked-writes-durable {:.0} ms ({:.1} million ops/s, {:?}), linearizable {:.0} ms ({:.2} million ops/s, {:?})",
            d * 1000.0,
            ops as f64 / d / 1e6,
            durable.status,
            l * 1000.0,
            ops as f64 / l / 1e6,
            lin.result.status
        );
    }
    for f in ["c50-ok.txt", "c50-bad.txt"] {
        let p = Path::new("tests/data/porcupine/test_data/kv").join(f);
        if !p.exists() {
            continue;
        }
        let t = Instant::now();
        let r = simkv::check::linearizable::check_file(&p).map_err(|_| ExitCode::from(2))?;
        let s = t.elapsed().as_secs_f64();
        outln!(
            "porcupine {f}: {} operations in {:.1} ms = {:.0} thousand ops/s (linearizable: {:?})",
            r.operations,
            s * 1000.0,
            r.operations as f64 / s / 1e3,
            r.verdict
        );
    }
    Ok(())
}

fn bench(scenario: Option<&Path>, events: u64) -> ExitCode {
    let started = Instant::now();
    let (delivered, hash) = simkv::bench::timer_workload(1000, events);
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "kernel: {delivered} timer events in {secs:.3} s = {:.1} million events/s (1000 processes, trace {hash:016x})",
        delivered as f64 / secs / 1e6
    );
    let text = simkv::bench::scale_scenario(50, 200, 60);
    let sc =
        Scenario::parse("scale (built in)", &text, &[]).expect("the built-in scenario is valid");
    let started = Instant::now();
    match simkv::world::World::new(&sc, 1).run(&mut |_| {}) {
        Ok(out) => {
            let secs = started.elapsed().as_secs_f64();
            outln!(
                "scale: 50 servers, 200 clients, random nemesis ({} faults): {} events in {secs:.3} s = {:.2} million events/s, {:.0}x real time",
                out.faults.len(),
                out.events,
                out.events as f64 / secs / 1e6,
                60.0 / secs
            );
        }
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(code) = bench_checkers() {
        return code;
    }
    let default = Path::new("scenarios/basic.toml");
    let path = scenario.or(default.exists().then_some(default));
    if let Some(p) = path {
        let sc = match Scenario::load(p, &[]) {
            Ok(s) => s,
            Err(e) => {
                err!("{e}");
                return ExitCode::from(2);
            }
        };
        let started = Instant::now();
        let mut wall = || 0;
        match simkv::runner::run_scenario(&sc, sc.seed, &mut |_| {}, &mut |_| {}, &mut wall) {
            Ok(r) => {
                let secs = started.elapsed().as_secs_f64();
                let sim = r.summary.sim_time_ms as f64 / 1000.0;
                outln!(
                    "scenario {}: {sim:.0} simulated s in {secs:.3} wall s = {:.0}x real time, {:.2} million events/s, {:.1} seeds/s",
                    sc.name,
                    sim / secs,
                    r.summary.events as f64 / secs / 1e6,
                    1.0 / secs
                );
            }
            Err(e) => {
                errln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

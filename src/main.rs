//! The `simkv` command line. It parses arguments, calls the library, prints, writes files and
//! maps results to exit codes: 0 pass, 1 an expectation or invariant failed, 2 bad input, 3 undecided (`check`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use simkv::report::write_atomic;
use simkv::scenario::Scenario;
use simkv::sim::SimTime;

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
    about = "Deterministic simulation of Redis replication, Sentinel failover and what they lose"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario and check it.
    Run {
        /// The scenario file.
        file: PathBuf,
        /// The seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Print exactly one JSON object (the summary) on stdout.
        #[arg(long)]
        json: bool,
        /// Write summary.json, history.jsonl, trace.jsonl, report.md and SVG plots (timeline,
        /// lag, throughput) into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a scenario value by its dotted path, e.g. servers.defaults.appendfsync=always.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print the trace's notes (handshakes, resyncs, role changes, faults) on stderr as they
        /// happen.
        #[arg(long, short)]
        verbose: bool,
        /// Run the scenario twice and report the simulated time at which the two runs first
        /// diverge (a determinism self-check), instead of the usual output.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Check a recorded history for linearizability: Jepsen/Knossos EDN, simkv JSON Lines,
    /// Porcupine kv or Jepsen etcd logs.
    #[command(after_help = CHECK_HELP)]
    Check {
        /// The history file.
        file: PathBuf,
        /// Print the result as one JSON object (with "status").
        #[arg(long)]
        json: bool,
        /// The history's format: edn, jsonl, porcupine-kv or etcd (default: detected).
        #[arg(long)]
        format: Option<simkv::check::linearizable::Format>,
        /// The model: register, cas-register, multi-register or kv (default: by format).
        #[arg(long)]
        model: Option<simkv::check::linearizable::ModelKind>,
        /// The registers' initial value, as EDN (default nil).
        #[arg(long, value_name = "V")]
        initial_value: Option<String>,
        /// Search steps per key before the verdict is "unknown" (exit 3).
        #[arg(long, value_name = "STEPS", default_value_t = simkv::check::linearizable::DEFAULT_BUDGET)]
        budget: u64,
    },
    /// Run one scenario over many seeds in parallel: one JSON summary line per seed on stdout,
    /// a table and the replay command of every failing seed on stderr.
    Sweep {
        /// The scenario file.
        file: PathBuf,
        /// Seeds: A..B (B excluded) or A..=B.
        #[arg(long, default_value = "1..101")]
        seeds: String,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Take every N-th seed starting at the K-th (K/N), to split a sweep over machines.
        #[arg(long)]
        shard: Option<String>,
        /// Override a scenario value by its dotted path.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Reduce a failing run to a smaller scenario (fewer faults, shorter faults, fewer clients)
    /// that still fails one of the same expectations on the same seed, and write it.
    Shrink {
        /// The scenario file.
        file: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the smaller scenario (default: <name>-shrunk.toml here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a scenario value by its dotted path.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// The most runs to try.
        #[arg(long, default_value_t = 200)]
        max_runs: usize,
    },
    /// Combine the JSON lines of several sweeps (shards) into one table.
    Merge {
        /// Files written by `simkv sweep` (stdout).
        files: Vec<PathBuf>,
    },
    /// Print performance figures.
    Bench {
        /// Scenario to time (default scenarios/basic.toml when present).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Kernel events per round of the timer benchmark.
        #[arg(long, default_value_t = 5_000_000)]
        events: u64,
        /// Rounds of each timing (the median is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Print one JSON object of the figures instead of text.
        #[arg(long)]
        json: bool,
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
    match cli.command {
        Command::Run {
            file,
            seed,
            overrides,
            check_determinism: true,
            ..
        } => determinism(&file, seed, &overrides),
        Command::Run {
            file,
            seed,
            json,
            out,
            overrides,
            verbose,
            check_determinism: false,
        } => run(&file, seed, json, out.as_deref(), &overrides, verbose),
        Command::Check {
            file,
            json,
            format,
            model,
            initial_value,
            budget,
        } => check(
            &file,
            json,
            &simkv::check::linearizable::CheckOptions {
                format,
                model,
                initial_value,
                budget,
                explain: true,
            },
        ),
        Command::Sweep {
            file,
            seeds,
            jobs,
            shard,
            overrides,
        } => sweep(&file, &seeds, jobs, shard.as_deref(), &overrides),
        Command::Merge { files } => merge(&files),
        Command::Shrink {
            file,
            seed,
            out,
            overrides,
            max_runs,
        } => shrink(&file, seed, out.as_deref(), &overrides, max_runs),
        Command::Bench {
            scenario,
            events,
            rounds,
            json,
        } => bench(scenario.as_deref(), events, rounds, json),
    }
}

/// Loads a scenario, printing its errors and giving exit code 2 on bad input.
fn load(file: &Path, overrides: &[String]) -> Result<Scenario, ExitCode> {
    Scenario::load(file, overrides).map_err(|e| {
        err!("{e}");
        ExitCode::from(2)
    })
}

fn quiet_terminal() -> bool {
    std::env::var_os("CI").is_some() || !std::io::stderr().is_terminal()
}

fn progress_bar(total_ns: u64, hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(total_ns / SimTime::NANOS_PER_MS);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} simulated ms ({elapsed})")
            .expect("valid template"),
    );
    pb
}

fn run(
    file: &Path,
    seed: Option<u64>,
    json: bool,
    out: Option<&Path>,
    overrides: &[String],
    verbose: bool,
) -> ExitCode {
    let scenario = match load(file, overrides) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.seed);
    let pb = progress_bar(scenario.duration_ns, json || quiet_terminal());
    let started = Instant::now();
    let mut progress = |t: SimTime| pb.set_position(t.as_ms());
    let mut wall = || started.elapsed().as_millis() as u64;
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
    let report = match simkv::runner::run_scenario(
        &scenario,
        seed,
        &mut progress,
        &mut on_note,
        &mut wall,
    ) {
        Ok(r) => r,
        Err(e) => {
            pb.finish_and_clear();
            errln!("error: {}: {e}", file.display());
            errln!("  hint: raise `max_events` in the scenario, or shorten `duration`");
            return ExitCode::from(2);
        }
    };
    pb.finish_and_clear();
    let summary = &report.summary;
    if let Some(dir) = out
        && let Err(e) = write_outputs(dir, &report, &scenario.description)
    {
        errln!("error: cannot write reports to {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    if json {
        outln!(
            "{}",
            serde_json::to_string(summary).expect("the summary serialises")
        );
    } else {
        out!("{}", summary.human());
        if let Some(c) = &report.counterexample {
            out!("linearizability counterexample:\n{c}");
        }
        if summary.verdict != "pass" {
            outln!(
                "replay: simkv run {} --seed {}{}",
                file.display(),
                seed,
                overrides
                    .iter()
                    .map(|o| format!(" --set {o}"))
                    .collect::<String>()
            );
        }
    }
    ExitCode::from(if summary.verdict == "pass" { 0 } else { 1 })
}

fn determinism(file: &Path, seed: Option<u64>, overrides: &[String]) -> ExitCode {
    let scenario = match load(file, overrides) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.seed);
    let runs: Vec<_> = (0..2)
        .map(|_| simkv::world::World::new(&scenario, seed).run(&mut |_| {}))
        .collect();
    match (&runs[0], &runs[1]) {
        (Ok(a), Ok(b)) => match simkv::world::first_divergence(a, b) {
            None => {
                outln!(
                    "deterministic: two runs of seed {seed} agree at all {} checkpoints (trace {})",
                    a.checkpoints.len(),
                    a.trace_hash
                );
                ExitCode::SUCCESS
            }
            Some((after, by)) => {
                outln!(
                    "NOT deterministic: the runs of seed {seed} agree up to {after} and differ by {by}"
                );
                ExitCode::from(1)
            }
        },
        (Err(e), _) | (_, Err(e)) => {
            errln!("error: {}: {e}", file.display());
            ExitCode::from(2)
        }
    }
}

fn shrink(
    file: &Path,
    seed: u64,
    out: Option<&Path>,
    overrides: &[String],
    max_runs: usize,
) -> ExitCode {
    let source = match Scenario::read(file) {
        Ok(s) => s,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(2);
        }
    };
    let label = file.display().to_string();
    let result = match simkv::shrink::shrink(&label, &source, overrides, seed, max_runs) {
        Ok(r) => r,
        Err(e) => {
            errln!("error: {label}: {e}");
            return ExitCode::from(2);
        }
    };
    let stem = file
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().to_string());
    let target = out.map_or_else(
        || PathBuf::from(format!("{stem}-shrunk.toml")),
        Path::to_path_buf,
    );
    let mut text = format!(
        "# Shrunk by `simkv shrink {label} --seed {seed}`: still fails {} on seed {seed}.\n",
        result.failing.join(", ")
    );
    for s in &result.steps {
        text.push_str(&format!("# - {s}\n"));
    }
    text.push_str(&result.text);
    if let Err(e) = write_atomic(&target, text.as_bytes()) {
        errln!("error: cannot write {}: {e}", target.display());
        return ExitCode::from(2);
    }
    outln!(
        "{} steps in {} runs; wrote {} (replay: simkv run {} --seed {seed})",
        result.steps.len(),
        result.runs,
        target.display(),
        target.display()
    );
    for s in &result.steps {
        outln!("  {s}");
    }
    ExitCode::SUCCESS
}

fn sweep(
    file: &Path,
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    overrides: &[String],
) -> ExitCode {
    let scenario = match load(file, overrides) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut list = match simkv::sweep::parse_seeds(seeds) {
        Ok(l) => l,
        Err(e) => {
            errln!("error: --seeds {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(s) = shard {
        match simkv::sweep::parse_shard(s) {
            Ok(k) => list = simkv::sweep::shard(&list, k),
            Err(e) => {
                errln!("error: --shard {e}");
                return ExitCode::from(2);
            }
        }
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pb = if quiet_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let pb = indicatif::ProgressBar::new(list.len() as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds ({eta} left)")
                .expect("valid template"),
        );
        pb
    };
    let started = Instant::now();
    let results = simkv::sweep::run(&scenario, &list, jobs, &|| pb.inc(1));
    pb.finish_and_clear();
    let mut lines = Vec::new();
    for (seed, r) in &results {
        match r {
            Ok(summary) => outln!("{}", serde_json::to_string(summary).expect("serialises")),
            Err(e) => outln!(
                "{}",
                serde_json::json!({"seed": seed, "error": e, "verdict": "error"})
            ),
        }
        lines.push(sweep_line(*seed, r.as_ref().ok()));
    }
    let secs = started.elapsed().as_secs_f64();
    errln!(
        "{} seeds in {secs:.1} s ({:.1} seeds/s on {jobs} threads)",
        results.len(),
        results.len() as f64 / secs
    );
    let extra: String = overrides.iter().map(|o| format!(" --set {o}")).collect();
    report_sweep(&lines, &format!("simkv run {}{extra}", file.display()))
}

/// One row of a sweep table: seed, verdict, and the unmet expectations.
struct SweepLine {
    seed: u64,
    verdict: String,
    unmet: Vec<String>,
}

fn sweep_line(seed: u64, s: Option<&simkv::report::Summary>) -> SweepLine {
    match s {
        Some(s) => SweepLine {
            seed,
            verdict: s.verdict.clone(),
            unmet: s
                .expectations
                .iter()
                .filter(|e| !e.met)
                .map(|e| format!("{} {} (actual {})", e.name, e.expected, e.actual))
                .collect(),
        },
        None => SweepLine {
            seed,
            verdict: "error".into(),
            unmet: vec!["the run did not complete".into()],
        },
    }
}

fn report_sweep(lines: &[SweepLine], replay: &str) -> ExitCode {
    let failed: Vec<&SweepLine> = lines.iter().filter(|l| l.verdict != "pass").collect();
    errln!("verdict   seeds");
    errln!("pass      {}", lines.len() - failed.len());
    errln!("fail      {}", failed.len());
    for f in &failed {
        errln!("seed {}: {}", f.seed, f.unmet.join("; "));
        errln!("  replay: {replay} --seed {}", f.seed);
    }
    ExitCode::from(if failed.is_empty() { 0 } else { 1 })
}

fn merge(files: &[PathBuf]) -> ExitCode {
    let mut lines = Vec::new();
    let mut scenario = String::new();
    for f in files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                errln!("error: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = match serde_json::from_str(l) {
                Ok(v) => v,
                Err(e) => {
                    errln!("error: {}:{}: not a sweep line: {e}", f.display(), i + 1);
                    return ExitCode::from(2);
                }
            };
            scenario = v["scenario"].as_str().unwrap_or(&scenario).to_string();
            let unmet = v["expectations"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|e| e["met"] == false)
                        .map(|e| {
                            format!("{} {} (actual {})", e["name"], e["expected"], e["actual"])
                        })
                        .collect()
                })
                .unwrap_or_default();
            lines.push(SweepLine {
                seed: v["seed"].as_u64().unwrap_or(0),
                verdict: v["verdict"].as_str().unwrap_or("error").to_string(),
                unmet,
            });
        }
    }
    lines.sort_by_key(|l| l.seed);
    lines.dedup_by_key(|l| l.seed);
    report_sweep(&lines, &format!("simkv run scenarios/{scenario}.toml"))
}

fn write_outputs(
    dir: &Path,
    report: &simkv::runner::RunReport,
    description: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let summary = serde_json::to_string_pretty(&report.summary).expect("the summary serialises");
    write_atomic(&dir.join("summary.json"), summary.as_bytes())?;
    write_atomic(
        &dir.join("history.jsonl"),
        report.output.history.to_jsonl().as_bytes(),
    )?;
    let mut trace = String::new();
    for n in &report.output.notes {
        trace.push_str(&serde_json::to_string(n).expect("notes serialise"));
        trace.push('\n');
    }
    write_atomic(&dir.join("trace.jsonl"), trace.as_bytes())?;
    let out = &report.output;
    let end_s = out.sim_time.as_nanos() as f64 / 1e9;
    let plots = [
        (
            "timeline.svg",
            simkv::report::timeline_svg(&out.metrics, &out.notes, end_s),
        ),
        ("lag.svg", simkv::report::lag_svg(&out.metrics, end_s)),
        (
            "throughput.svg",
            simkv::report::throughput_svg(&out.history, end_s),
        ),
        (
            "servers.svg",
            simkv::report::server_throughput_svg(&out.history, end_s),
        ),
    ];
    for (name, svg) in plots {
        let svg = svg.map_err(std::io::Error::other)?;
        write_atomic(&dir.join(name), svg.as_bytes())?;
    }
    let mut lost = String::new();
    for l in &report.lost {
        lost.push_str(&serde_json::to_string(l).expect("lost writes serialise"));
        lost.push('\n');
    }
    write_atomic(&dir.join("lost_writes.jsonl"), lost.as_bytes())?;
    let md = simkv::report::markdown(
        &report.summary,
        description,
        &out.notes,
        &report.lost,
        report.counterexample.as_deref(),
    );
    write_atomic(&dir.join("report.md"), md.as_bytes())
}

const CHECK_HELP: &str = "\
Formats (detected from the first line unless --format is given):
  edn           Jepsen/Knossos: a vector of maps, or one map per line:
                  {:type :invoke, :f :write, :value 3, :process 0}
                :type :invoke/:ok/:fail/:info; :f :read/:write/:cas [old new]/:txn;
                optional :time, :index, :key; :process :nemesis entries are skipped.
                File order is real-time order; a nil read value means unknown.
  jsonl         simkv: {\"process\":1,\"type\":\"invoke\",\"f\":\"set\",\"key\":\"k\",\"value\":5,\"time_ns\":10}
                f: get set del incr append cas (value [expected, new]).
  porcupine-kv  Porcupine's kv logs (get/put/append on string keys).
  etcd          Jepsen etcd logs (INFO  jepsen.util - 3 :invoke :cas [1 2]).
Models (--model): register (read/write), cas-register (+ cas; EDN default),
  multi-register (:txn [[:read :x 1] [:write :y 2]], atomic over keys; default for :txn),
  kv (a register per :key or [key value] tuple for EDN; for jsonl a Redis string per key,
  where INCR parses the string as Redis does).
An :info operation may take effect at any later time or never; :fail ones never did.

Exit codes: 0 linearizable, 1 not linearizable, 2 bad input (the message names the
line), 3 undecided (the search budget ran out: status unknown).

Examples:
  simkv check history.edn --model cas-register --initial-value 0
  simkv check txns.edn --model multi-register --json
  simkv check out/history.jsonl";

fn check(file: &Path, json: bool, opts: &simkv::check::linearizable::CheckOptions) -> ExitCode {
    let started = Instant::now();
    let result = simkv::check::linearizable::check_file_with(file, opts);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let r = match result {
        Err(e) => {
            errln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
        Ok(r) => r,
    };
    if json {
        let v = serde_json::json!({
            "file": file.display().to_string(),
            "format": r.format,
            "model": r.model,
            "operations": r.operations,
            "keys": r.keys,
            "status": r.status(),
            "linearizable": r.verdict,
            "detail": r.detail,
            "wall_ms": elapsed_ms,
        });
        outln!("{v}");
    } else {
        outln!(
            "{}: {} operations over {} keys ({}, {}): {}",
            file.display(),
            r.operations,
            r.keys,
            r.format,
            r.model,
            match r.verdict {
                Some(true) => "linearizable",
                Some(false) => "NOT linearizable",
                None => "unknown (search budget exhausted)",
            }
        );
        if !r.detail.is_empty() {
            outln!("{}", r.detail);
        }
    }
    ExitCode::from(r.exit_code())
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

/// The kernel next to a bare binary-heap loop doing the same events.
fn bench_kernel(events: u64, rounds: usize, json: bool) -> serde_json::Value {
    let timers = simkv::bench::BENCH_TIMERS;
    let k = simkv::bench::kernel_vs_bare(timers, events, rounds);
    if !json {
        outln!(
            "kernel {timers} timers: {:.1} M events/s; bare BinaryHeap loop {:.1} M/s; ratio {:.2} (target >= 0.85; median of {rounds} rounds of {events} events, trace {:016x})",
            k.kernel_per_s / 1e6,
            k.bare_per_s / 1e6,
            k.ratio(),
            k.trace_hash
        );
    }
    serde_json::json!({
        "timers": timers, "events": events, "rounds": rounds,
        "kernel_events_per_s": k.kernel_per_s, "bare_heap_events_per_s": k.bare_per_s,
        "ratio": k.ratio(), "trace_hash": format!("{:016x}", k.trace_hash),
    })
}

/// One scenario's simulation alone (no checkers, no reports), median of `rounds` runs.
fn bench_simulation(
    sc: &Scenario,
    rounds: usize,
    json: bool,
) -> Result<serde_json::Value, ExitCode> {
    let f = simkv::bench::simulation_only(sc, sc.seed, rounds).map_err(|e| {
        errln!("error: {e}");
        ExitCode::from(2)
    })?;
    if !json {
        outln!(
            "{} simulation only: {} events in {:.3} s = {:.2} M events/s, {:.0}x real time (median of {rounds})",
            f.scenario,
            f.events,
            f.wall_s,
            f.events_per_s() / 1e6,
            f.times_real_time()
        );
    }
    Ok(serde_json::json!({
        "scenario": f.scenario, "seed": sc.seed, "events": f.events, "sim_s": f.sim_s,
        "wall_s": f.wall_s, "events_per_s": f.events_per_s(), "times_real_time": f.times_real_time(),
    }))
}

fn bench(scenario: Option<&Path>, events: u64, rounds: usize, json: bool) -> ExitCode {
    let mut figures = serde_json::json!({ "kernel": bench_kernel(events, rounds, json) });
    let outage = Path::new("scenarios/region-outage.toml");
    if outage.exists() {
        let sc = match Scenario::load(outage, &[]) {
            Ok(s) => s,
            Err(e) => {
                err!("{e}");
                return ExitCode::from(2);
            }
        };
        match bench_simulation(&sc, rounds, json) {
            Ok(v) => figures["region_outage"] = v,
            Err(code) => return code,
        }
    }
    let text = simkv::bench::scale_scenario(50, 200, 60);
    let sc =
        Scenario::parse("scale (built in)", &text, &[]).expect("the built-in scenario is valid");
    match bench_simulation(&sc, 1, json) {
        Ok(v) => figures["scale"] = v,
        Err(code) => return code,
    }
    if json {
        outln!("{figures}");
        return ExitCode::SUCCESS;
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

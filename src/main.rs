//! The `simkv` command line: it parses arguments and maps results to exit codes (0 pass, 1 an
//! expectation or invariant failed, 2 bad input, 3 undecided); the commands' bodies are in `cli`.

mod cli;

/// mimalloc instead of glibc's malloc: the simulation and checkers allocate many small objects
/// (history events, commands, replies); glibc's malloc/free took about 40% of a run's cycles.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use cli::commands::{determinism, merge, run, shrink, sweep};
use cli::real::{RealArgs, diff, keyslot, run_real};
use cli::tools::{bench, check};
use simkv::report::help;

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
        /// Write summary.json, history.jsonl, trace.jsonl, report.md, report.html, SVG plots and run.json
        /// into this folder (replacing an earlier simkv output there, never mixing two runs).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the trace's facts on stderr as they happen.
        #[arg(long, short)]
        verbose: bool,
        /// Run the seed twice and report the simulated time at which the runs first diverge.
        #[arg(long)]
        check_determinism: bool,
        #[command(flatten)]
        real: RealArgs,
    },
    /// Run a scenario on the simulator over seeds and on real Redis, and compare every
    /// observable side by side with its tolerance.
    #[command(after_help = help::DIFF)]
    Diff {
        #[command(flatten)]
        source: Source,
        /// The simulator's seeds (A..B or A..=B).
        #[arg(long, default_value = "1..=3")]
        seeds: String,
        /// Real runs (seeds taken from --seeds in turn).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        real: RealArgs,
    },
    /// Print the Redis Cluster hash slot of each key (`KEY<TAB>SLOT`), as CLUSTER KEYSLOT does.
    #[command(after_help = help::KEYSLOT)]
    Keyslot {
        /// The keys (hash tags `{...}` decide the slot, as in Redis).
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Check a recorded history for linearizability: Jepsen/Knossos EDN, simkv JSON Lines,
    /// Porcupine kv or Jepsen etcd logs.
    #[command(after_help = help::CHECK)]
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
        /// The verdict only: do not search for the shortest failing prefix of a violation (a
        /// few more searches); "detail" then names the key that admits no linearization.
        #[arg(long)]
        no_explain: bool,
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
        /// The scenario file.
        file: PathBuf,
        /// Override a scenario value by its dotted path.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
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
    /// Run variants of a scenario (every combination of the --vary values, applied as --set)
    /// over the same seeds and print one table: lost writes, data-loss window, write
    /// unavailability per client region, failover timings, write latency, full resyncs.
    #[command(after_help = help::COMPARE)]
    Compare {
        #[command(flatten)]
        source: Source,
        /// A scenario value and the values to try, e.g.
        /// sentinels.defaults.down-after-milliseconds=1000,5000 (repeat to combine).
        #[arg(long, value_name = "KEY=V1,V2,...", required = true)]
        vary: Vec<String>,
        /// Seeds: A..B (B excluded) or A..=B.
        #[arg(long, default_value = "1..11")]
        seeds: String,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Write compare.md, compare.json and one SVG bar chart per figure into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print performance figures.
    #[command(after_help = help::BENCH)]
    Bench {
        /// Scenario to time as a whole run (default scenarios/basic.toml when present); when
        /// given, also where its run's time goes (simulation, checkers, each checker step).
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
        /// Also the hour-long figures: `basic` for 1 simulated hour as its own process (time
        /// and peak memory), and the linearizability cost per operation up to that length
        /// (about a minute more and 2-3 GB of memory).
        #[arg(long)]
        long: bool,
    },
}

/// The wall clock: time since the process started. Only `main.rs` reads it; the commands get it
/// injected, so the library and the command bodies never touch the wall clock themselves.
fn wall_clock() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, mimalloc.h, v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Memory freed is given back to the system at once rather than after 10 ms: a long run's
    // peak memory then matches glibc's (region-outage for an hour: 384 -> 268 MB) at no
    // measurable cost in speed.
    // SAFETY: setting an option is a plain store mimalloc allows at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let now: cli::Clock = &wall_clock;
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    dispatch(cli.command, now).unwrap_or_else(|message| {
        cli::emit_err(&format!("{}\n", message.trim_end()));
        ExitCode::from(2)
    })
}

/// Runs one command: its exit code, or a bad-input message (exit 2).
fn dispatch(command: Command, now: cli::Clock) -> cli::commands::Outcome {
    match command {
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
            real,
            ..
        } if real.is_real() => run_real(&source, seed, json, out.as_deref(), &real),
        Command::Run {
            source,
            seed,
            json,
            out,
            verbose,
            ..
        } => run(&source, seed, json, out.as_deref(), verbose, now),
        Command::Diff {
            source,
            seeds,
            repeat,
            json,
            real,
        } => diff(&source, &seeds, repeat, json, &real),
        Command::Keyslot { keys } => Ok(keyslot(&keys)),
        Command::Sweep {
            source,
            seeds,
            jobs,
            shard,
        } => sweep(&source, &seeds, jobs, shard.as_deref(), now),
        Command::Merge {
            files,
            seeds,
            shards,
        } => merge(&files, seeds.as_deref(), shards),
        Command::Shrink {
            file,
            overrides,
            seed,
            out,
            force,
            max_runs,
        } => shrink(&file, &overrides, seed, (out.as_deref(), force), max_runs),
        Command::Bench {
            scenario,
            events,
            rounds,
            json,
            long,
        } => Ok(bench(scenario.as_deref(), events, rounds, json, long, now)),
        command => dispatch_tools(command, now),
    }
}

/// `check` and `compare`, whose options are assembled here.
fn dispatch_tools(command: Command, now: cli::Clock) -> cli::commands::Outcome {
    match command {
        Command::Check {
            file,
            json,
            format,
            model,
            initial_value,
            budget,
            no_explain,
        } => {
            let opts = simkv::check::linearizable::CheckOptions {
                format,
                model,
                initial_value,
                budget,
                explain: !no_explain,
            };
            Ok(check(&file, json, &opts, now))
        }
        Command::Compare {
            source,
            vary,
            seeds,
            jobs,
            json,
            out,
        } => {
            let request = cli::compare::Request {
                source: &source,
                vary: &vary,
                seeds: &seeds,
                jobs,
                json,
                out: out.as_deref(),
            };
            cli::compare::compare(&request, now)
        }
        _ => unreachable!("dispatch handles every other command"),
    }
}

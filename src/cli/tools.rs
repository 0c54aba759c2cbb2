//! The `check` and `bench` commands.

use super::Clock;
use std::path::Path;
use std::process::ExitCode;

use simkv::report::plural;
use simkv::scenario::Scenario;

use super::bench_targets::{self, Target};
use super::{emit_err, emit_out};

pub fn check(
    file: &Path,
    json: bool,
    opts: &simkv::check::linearizable::CheckOptions,
    now: Clock,
) -> ExitCode {
    let started = now();
    let result = simkv::check::linearizable::check_file_with(file, opts);
    let elapsed_ms = (now() - started).as_secs_f64() * 1000.0;
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
            "{}: {} over {} ({}, {}): {}",
            file.display(),
            plural(r.operations as u64, "operation"),
            plural(r.keys as u64, "key"),
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
fn bench_checkers(now: Clock) -> Result<(), ExitCode> {
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
        let t = now();
        let (durable, _) = simkv::check::acked_writes_durable(&evidence);
        let d = (now() - t).as_secs_f64();
        let t = now();
        let lin = simkv::check::linearizable::check_history(&out.history);
        let l = (now() - t).as_secs_f64();
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
        let t = now();
        let r = simkv::check::linearizable::check_file(&p).map_err(|_| ExitCode::from(2))?;
        let s = (now() - t).as_secs_f64();
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
fn bench_kernel(
    events: u64,
    rounds: usize,
    json: bool,
    now: Clock,
) -> (serde_json::Value, simkv::bench::KernelFigures) {
    let timers = simkv::bench::BENCH_TIMERS;
    let k = simkv::bench::kernel_vs_bare(timers, events, rounds, now);
    if !json {
        outln!(
            "kernel {timers} timers: {:.1} M events/s; bare BinaryHeap loop {:.1} M/s; ratio {:.2} (target >= 0.85; median of {rounds} rounds of {events} events, trace {:016x})",
            k.kernel_per_s / 1e6,
            k.bare_per_s / 1e6,
            k.ratio(),
            k.trace_hash
        );
    }
    let v = serde_json::json!({
        "timers": timers, "events": events, "rounds": rounds,
        "kernel_events_per_s": k.kernel_per_s, "bare_heap_events_per_s": k.bare_per_s,
        "ratio": k.ratio(), "trace_hash": format!("{:016x}", k.trace_hash),
    });
    (v, k)
}

/// Where a run's wall time goes: the simulation, the checkers and each checker step, median
/// of `rounds` runs.
fn bench_checker_steps(
    sc: &Scenario,
    rounds: usize,
    json: bool,
    now: Clock,
) -> Result<(serde_json::Value, simkv::bench::CheckerFigures), ExitCode> {
    let f = simkv::bench::checker_steps(sc, sc.seed, rounds, now).map_err(|e| {
        errln!("error: {e}");
        ExitCode::from(2)
    })?;
    let ms = |s: f64| s * 1000.0;
    if !json {
        let steps: Vec<String> = f
            .steps
            .iter()
            .map(|(name, s)| format!("{name} {:.1}", ms(*s)))
            .collect();
        outln!(
            "{} run of {} operations: simulation {:.0} ms, checkers {:.0} ms = {:.0}% of the run (median of {rounds}); checker steps in ms: {}",
            f.scenario,
            f.operations,
            ms(f.simulation_s),
            ms(f.checkers_s),
            f.checker_share() * 100.0,
            steps.join(", ")
        );
    }
    let steps: serde_json::Map<String, serde_json::Value> = f
        .steps
        .iter()
        .map(|(name, s)| (name.to_string(), serde_json::json!(ms(*s))))
        .collect();
    let v = serde_json::json!({
        "scenario": f.scenario, "seed": sc.seed, "operations": f.operations,
        "simulation_ms": ms(f.simulation_s), "checkers_ms": ms(f.checkers_s),
        "checker_share": f.checker_share(), "steps_ms": steps,
    });
    Ok((v, f))
}

/// One scenario's simulation alone (no checkers, no reports), median of `rounds` runs.
fn bench_simulation(
    sc: &Scenario,
    rounds: usize,
    json: bool,
    now: Clock,
) -> Result<(serde_json::Value, simkv::bench::SimulationFigures), ExitCode> {
    let f = simkv::bench::simulation_only(sc, sc.seed, rounds, now).map_err(|e| {
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
    let v = serde_json::json!({
        "scenario": f.scenario, "seed": sc.seed, "events": f.events, "sim_s": f.sim_s,
        "wall_s": f.wall_s, "events_per_s": f.events_per_s(), "times_real_time": f.times_real_time(),
    });
    Ok((v, f))
}

/// A whole run as `simkv run` does it (simulation, checkers, summary), median of `rounds`.
struct WholeRun {
    /// Median wall seconds.
    wall_s: f64,
    /// Simulated seconds.
    sim_s: f64,
    /// Kernel events.
    events: u64,
}

fn whole_run(sc: &Scenario, rounds: usize, now: Clock) -> Result<WholeRun, ExitCode> {
    let mut walls = Vec::new();
    let (mut sim_s, mut events) = (0.0, 0);
    for _ in 0..rounds.max(1) {
        let started = now();
        let mut wall = || 0;
        let r = simkv::runner::run_scenario(sc, sc.seed, &mut |_| {}, &mut |_| {}, &mut wall)
            .map_err(|e| {
                errln!("error: {e}");
                ExitCode::from(2)
            })?;
        walls.push((now() - started).as_secs_f64());
        sim_s = r.summary.sim_time_ms as f64 / 1000.0;
        events = r.summary.events;
    }
    Ok(WholeRun {
        wall_s: simkv::bench::median(&mut walls),
        sim_s,
        events,
    })
}

/// The linearizability checker alone on a run of the scenario at `path` lasting `duration`:
/// operations and seconds.
fn linearizability_cost(path: &Path, duration: &str, now: Clock) -> Result<(usize, f64), ExitCode> {
    let sc = Scenario::load(path, &[format!("duration={duration}")]).map_err(|e| {
        err!("{e}");
        ExitCode::from(2)
    })?;
    let out = simkv::world::World::new(&sc, sc.seed)
        .run(&mut |_| {})
        .map_err(|_| ExitCode::from(2))?;
    let ops = simkv::check::operations::Operations::of(&out.history);
    let t = now();
    let lin = simkv::check::linearizable::check_operations(&ops);
    let secs = (now() - t).as_secs_f64();
    debug_assert_eq!(lin.result.name, "linearizable");
    Ok((ops.len(), secs))
}

/// The rows of the table that need only this process.
fn in_process_targets(
    kernel: &simkv::bench::KernelFigures,
    sim: &simkv::bench::SimulationFigures,
    steps: &simkv::bench::CheckerFigures,
    whole: &WholeRun,
) -> Vec<Target> {
    let times = whole.sim_s / whole.wall_s;
    vec![
        Target::new(
            "region-outage (300 s simulated), whole run incl. checkers and summary",
            format!("{times:.0}x real time ({:.0} ms)", whole.wall_s * 1000.0),
            ">= 2000x",
            times >= 2000.0,
        ),
        Target::new(
            "same, simulation only",
            format!(
                "{:.2} M events/s ({:.0}x real time)",
                sim.events_per_s() / 1e6,
                sim.times_real_time()
            ),
            ">= 5 M events/s",
            sim.events_per_s() >= 5e6,
        ),
        Target::new(
            "checkers' share of that run",
            format!(
                "{:.0}% ({:.0} ms checkers vs {:.0} ms simulation)",
                steps.checker_share() * 100.0,
                steps.checkers_s * 1000.0,
                steps.simulation_s * 1000.0
            ),
            "<= 25%",
            steps.checker_share() <= 0.25,
        ),
        Target::new(
            "kernel at 1,024 live timers vs a bare `BinaryHeap` loop doing the same events",
            format!("{:.1} M events/s", kernel.kernel_per_s / 1e6),
            ">= 0.85",
            kernel.ratio() >= 0.85,
        )
        .against(
            format!("{:.1} M events/s", kernel.bare_per_s / 1e6),
            kernel.ratio(),
        ),
    ]
}

/// Rows measured by running `simkv` itself, the linearizability cost across run lengths, and
/// Porcupine's comparison; `long` adds the hour-long `basic` run.
fn process_targets(long: bool, rounds: usize, now: Clock) -> Vec<Target> {
    let mut rows = Vec::new();
    let outage = Path::new("scenarios/region-outage.toml");
    let basic = Path::new("scenarios/basic.toml");
    let note = |what: &str, e: String| errln!("bench: {what} not measured: {e}");
    if outage.exists() {
        match bench_targets::long_run_memory(outage, "3600s", 200_000_000, now) {
            Ok((row, _)) => rows.push(row),
            Err(e) => note("region-outage for 1 h", e),
        }
        match bench_targets::sweep_scaling(outage, 8, now) {
            Ok(row) => rows.push(row),
            Err(e) => note("sweep scaling", e),
        }
    }
    if basic.exists() {
        let longest = if long { "3600s" } else { "600s" };
        {
            let short = linearizability_cost(basic, "60s", now);
            let longer = linearizability_cost(basic, longest, now);
            if let (Ok((n1, s1)), Ok((n2, s2))) = (short, longer) {
                let (a, b) = (s1 / n1 as f64 * 1e6, s2 / n2 as f64 * 1e6);
                rows.push(
                    Target::new(
                        &format!("linearizability cost per operation, basic 60 s vs {longest}"),
                        format!("{b:.2} us per op at {n2} ops"),
                        "within 2x",
                        b / a <= 2.0,
                    )
                    .against(format!("{a:.2} us per op at {n1} ops"), b / a),
                );
            }
        }
        if long {
            match bench_targets::long_run_memory(basic, "3600s", 1_000_000_000, now) {
                Ok((memory, cost)) => {
                    // Time and memory are two targets, each met or not on its own.
                    rows.push(Target::new(
                        "basic for 1 simulated hour, whole run: wall time",
                        format!("{:.1} s", cost.wall_s),
                        "<= 15 s",
                        cost.wall_s <= 15.0,
                    ));
                    rows.push(memory);
                }
                Err(e) => note("basic for 1 h", e),
            }
        }
    }
    let reference = Path::new("bench/porcupine-go.tsv");
    let data = Path::new("tests/data/porcupine/test_data");
    if reference.exists() && data.exists() {
        match bench_targets::porcupine_reference(reference)
            .and_then(|r| bench_targets::porcupine(data, &r, rounds, now))
        {
            Ok(two) => rows.extend(two),
            Err(e) => note("Porcupine comparison", e),
        }
    }
    rows
}

pub fn bench(
    scenario: Option<&Path>,
    events: u64,
    rounds: usize,
    json: bool,
    long: bool,
    now: Clock,
) -> ExitCode {
    let (kernel_json, kernel) = bench_kernel(events, rounds, json, now);
    let mut figures = serde_json::json!({ "kernel": kernel_json });
    let mut targets = Vec::new();
    let outage = Path::new("scenarios/region-outage.toml");
    if outage.exists() {
        let sc = match Scenario::load(outage, &[]) {
            Ok(s) => s,
            Err(e) => {
                err!("{e}");
                return ExitCode::from(2);
            }
        };
        let sim = match bench_simulation(&sc, rounds, json, now) {
            Ok((v, f)) => {
                figures["region_outage"] = v;
                f
            }
            Err(code) => return code,
        };
        let steps = match bench_checker_steps(&sc, rounds, json, now) {
            Ok((v, f)) => {
                figures["region_outage_checkers"] = v;
                f
            }
            Err(code) => return code,
        };
        let whole = match whole_run(&sc, rounds, now) {
            Ok(w) => w,
            Err(code) => return code,
        };
        targets = in_process_targets(&kernel, &sim, &steps, &whole);
    }
    targets.extend(process_targets(long, rounds, now));
    figures["targets"] = serde_json::json!(targets);
    let text = simkv::bench::scale_scenario(50, 200, 60);
    let sc =
        Scenario::parse("scale (built in)", &text, &[]).expect("the built-in scenario is valid");
    match bench_simulation(&sc, 1, json, now) {
        Ok((v, _)) => figures["scale"] = v,
        Err(code) => return code,
    }
    if json {
        outln!("{figures}");
        return ExitCode::SUCCESS;
    }
    if let Err(code) = bench_checkers(now) {
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
        if scenario.is_some() {
            // A scenario asked for by name: where its run's time goes too (one round: it may
            // be long).
            if let Err(code) = bench_checker_steps(&sc, 1, json, now) {
                return code;
            }
        }
        match whole_run(&sc, 1, now) {
            Ok(w) => outln!(
                "scenario {}: {:.0} simulated s in {:.3} wall s = {:.0}x real time, {:.2} million events/s, {:.1} seeds/s",
                sc.name,
                w.sim_s,
                w.wall_s,
                w.sim_s / w.wall_s,
                w.events as f64 / w.wall_s / 1e6,
                1.0 / w.wall_s
            ),
            Err(code) => return code,
        }
    }
    bench_targets::print(&targets);
    ExitCode::SUCCESS
}

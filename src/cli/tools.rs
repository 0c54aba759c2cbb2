//! The `check` and `bench` commands.

use super::Clock;
use std::path::Path;
use std::process::ExitCode;

use simkv::report::plural;
use simkv::scenario::Scenario;

use super::{emit_err, emit_out};

pub fn check(file: &Path, json: bool, now: Clock) -> ExitCode {
    let started = now();
    let result = simkv::check::linearizable::check_file(file);
    let elapsed_ms = (now() - started).as_secs_f64() * 1000.0;
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
                    "{}: {} over {} ({}): {}",
                    file.display(),
                    plural(r.operations as u64, "operation"),
                    plural(r.keys as u64, "key"),
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
                None => 3,
            })
        }
    }
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

pub fn bench(scenario: Option<&Path>, events: u64, now: Clock) -> ExitCode {
    let started = now();
    let (delivered, hash) = simkv::bench::timer_workload(1000, events);
    let secs = (now() - started).as_secs_f64();
    outln!(
        "kernel: {delivered} timer events in {secs:.3} s = {:.1} million events/s (1000 processes, trace {hash:016x})",
        delivered as f64 / secs / 1e6
    );
    let text = simkv::bench::scale_scenario(50, 200, 60);
    let sc =
        Scenario::parse("scale (built in)", &text, &[]).expect("the built-in scenario is valid");
    let started = now();
    match simkv::world::World::new(&sc, 1).run(&mut |_| {}) {
        Ok(out) => {
            let secs = (now() - started).as_secs_f64();
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
        let started = now();
        let mut wall = || 0;
        match simkv::runner::run_scenario(&sc, sc.seed, &mut |_| {}, &mut |_| {}, &mut wall) {
            Ok(r) => {
                let secs = (now() - started).as_secs_f64();
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

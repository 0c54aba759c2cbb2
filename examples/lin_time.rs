//! Times the linearizability step alone on one run's history: simulates once, pairs the
//! operations once, then checks them `REPS` times and prints the fastest and median times, the
//! cost per operation and the verdict line (to compare before and after a change).
//! `cargo run --release --example lin_time -- scenarios/region-outage.toml [SEED] [REPS] [--set k=v]...`

use std::time::Instant;

use simkv::check::linearizable::{Report, check_operations};
use simkv::check::operations::Operations;
use simkv::scenario::Scenario;
use simkv::world::World;

// The allocator `simkv` itself runs with, so the figures match a run's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[inline(never)]
fn lin_step(ops: &Operations<'_>) -> Report {
    check_operations(ops)
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut overrides = Vec::new();
    while let Some(i) = args.iter().position(|a| a == "--set") {
        overrides.push(args.remove(i + 1));
        args.remove(i);
    }
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "scenarios/basic.toml".into());
    let seed: u64 = args.get(1).map_or(1, |s| s.parse().expect("a seed"));
    let reps: usize = args.get(2).map_or(5, |s| s.parse().expect("repetitions"));
    let s =
        Scenario::load(std::path::Path::new(&path), &overrides).unwrap_or_else(|e| panic!("{e}"));
    let out = World::new(&s, seed).run(&mut |_| {}).expect("run");
    let ops = Operations::of(&out.history);
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = lin_step(&ops);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        report = Some(r);
    }
    times.sort_by(f64::total_cmp);
    let r = report.expect("at least one repetition");
    let n = ops.len();
    println!(
        "ops {n}  keys {}  min {:.3} ms  median {:.3} ms  {:.3} us/op",
        r.keys,
        times[0],
        times[times.len() / 2],
        times[0] * 1000.0 / n as f64
    );
    println!(
        "{:?} {} | {}",
        r.result.status, r.result.count, r.result.detail
    );
    if let Some(c) = r.counterexample {
        println!("{c}");
    }
}

//! Times gathering each key's operations (`Operations::each_key`) and the linearizability step
//! on one run's history (seed 1), three times, per operation.
//! `cargo run --release --example perkey_time -- scenarios/basic.toml duration=900s`
use std::time::Instant;

use simkv::check::operations::Operations;
use simkv::scenario::Scenario;
use simkv::world::World;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let s = Scenario::load(std::path::Path::new(&args[0]), &args[1..]).expect("scenario");
    let out = World::new(&s, 1).run(&mut |_| {}).expect("run");
    let ops = Operations::of(&out.history);
    let n = ops.len() as f64;
    for _ in 0..3 {
        let t = Instant::now();
        let mut sum = 0u64;
        ops.each_key(|_, o| {
            sum += o
                .iter()
                .map(|o| o.invoke_ns ^ o.input.as_str().map_or(0, |s| s.len() as u64))
                .sum::<u64>()
        });
        let g = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let r = simkv::check::linearizable::check_operations(&ops);
        let l = t.elapsed().as_secs_f64();
        println!(
            "ops {n}  gather {:.3} us/op  lin {:.3} us/op  ({sum} {:?})",
            g * 1e6 / n,
            l * 1e6 / n,
            r.result.status
        );
    }
}

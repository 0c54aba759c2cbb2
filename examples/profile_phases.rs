//! Times the phases of one run (simulation, each checker) to see where wall time goes.
//! `cargo run --release --example profile_phases -- scenarios/basic.toml`

use std::time::Instant;

use simkv::check::{self, Evidence};
use simkv::runner::final_states;
use simkv::scenario::Scenario;
use simkv::world::World;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "scenarios/basic.toml".into());
    let s = Scenario::load(std::path::Path::new(&path), &[]).unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let out = World::new(&s, s.seed).run(&mut |_| {}).expect("run");
    println!(
        "simulate: {:?} ({} events, {} history events)",
        t.elapsed(),
        out.events,
        out.history.events.len()
    );
    let finals = final_states(&out);
    let e = Evidence {
        history: &out.history,
        notes: &out.notes,
        finals: &finals,
    };
    let t = Instant::now();
    let _ = check::run_all(&e);
    println!("all checkers: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = check::acked_writes_durable(&e);
    println!("durable: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = check::converged(&finals);
    println!("converged: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = check::single_primary(&e);
    println!("single-primary: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = simkv::check::linearizable::check_history(&out.history);
    println!("linearizable: {:?}", t.elapsed());
}

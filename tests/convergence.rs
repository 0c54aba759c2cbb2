//! Property: under any random fault schedule, once every fault has healed and the quiet period
//! has passed, every replica holds exactly its primary's data (200 seeds of the nemesis scenario);
//! and the clean model passes every checker on every one of those seeds.

use simkv::check::{Evidence, Status, converged, run_all};
use simkv::runner::final_states;
use simkv::scenario::Scenario;
use simkv::world::World;

#[test]
fn replicas_converge_after_random_faults_heal() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nemesis.toml");
    let s = Scenario::load(&path, &[]).unwrap();
    let mut failures = Vec::new();
    let mut faults = 0;
    for seed in 1..=200 {
        let out = World::new(&s, seed)
            .run(&mut |_| {})
            .expect("the run completes");
        faults += out.faults.len();
        let finals = final_states(&out);
        let r = converged(&finals);
        if r.status != Status::Pass {
            failures.push(format!("seed {seed}: {}", r.detail));
        }
        let evidence = Evidence {
            history: &out.history,
            notes: &out.notes,
            finals: &finals,
        };
        for c in run_all(&evidence).checks {
            if c.status != Status::Pass {
                failures.push(format!(
                    "seed {seed}: {} {:?}: {}",
                    c.name, c.status, c.detail
                ));
            }
        }
    }
    assert!(faults > 1000, "the nemesis was busy ({faults} faults)");
    assert!(failures.is_empty(), "{failures:#?}");
}

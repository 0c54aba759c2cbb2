mod real_support;
use simkv::real::run::{RealOptions, run_real};
use simkv::scenario::Scenario;

const FAILOVER: &str = r#"
name = "real-failover"
seed = 1
duration = "25s"
quiet = "8s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"
[sentinels.defaults]
monitor = "p1"
quorum = 2
down-after-milliseconds = 2000
failover-timeout = 10000
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
[workloads.app]
clients = 2
discovery = "sentinel"
think = "20ms"
keys = 50
mix = { set = 80, get = 20 }
timeout = "500ms"
[[faults]]
kind = "crash"
targets = ["p1"]
at = "5s"
"#;

#[test]
fn smoke() {
    let Some(b) = real_support::binaries("smoke") else { return };
    let s = Scenario::parse("x.toml", FAILOVER, &[]).unwrap();
    let opts = RealOptions { binaries: Some(b), ..RealOptions::default() };
    let run = run_real(&s, 1, &opts).unwrap();
    for n in &run.notes { println!("{:>8} {} {}", n.time.0 / 1_000_000, n.fact.kind(), n.fact); }
    let f = run.check();
    for c in &f.checks { println!("{} {:?} {} {}", c.name, c.status, c.count, c.detail); }
    println!("ops {}", run.history.events.len());
    for s in &run.servers { println!("{} up={} master={} of={:?} keys={}", s.name, s.up, s.is_master, s.master, s.data.len()); }
}

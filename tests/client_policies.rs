//! How a sentinel-aware client follows a failover (`follow`): Jedis-like clients move on the
//! sentinels' `+switch-master` push, redis-py-like clients only when a connection fails. When
//! the sentinels lose the primary but the clients do not, the two lose very different amounts.

use simkv::expect::Figure;
use simkv::fact::{Fact, SentinelEventKind};
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn scenario(overrides: &[&str]) -> Scenario {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sentinels-cut-off.toml");
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&p, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(follow: &str, seed: u64) -> RunReport {
    let s = scenario(&[&format!("workloads.app.follow={follow}"), "expect={}"]);
    run_scenario(&s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).expect("the run completes")
}

fn lost(r: &RunReport) -> i64 {
    match r.summary.figure("lost_acked_writes") {
        Figure::Number(n) => n,
        other => panic!("{other:?}"),
    }
}

/// The last acknowledged write p1 took, in ms.
fn last_ack_by_p1(r: &RunReport) -> u64 {
    r.output
        .history
        .events
        .iter()
        .filter(|e| e.server() == Some("p1") && e.error().is_none())
        .filter(|e| e.kind == simkv::history::EventType::Ok)
        .map(|e| e.time_ns / 1_000_000)
        .max()
        .expect("p1 acknowledged writes")
}

/// The first +switch-master, in ms.
fn first_switch(r: &RunReport) -> u64 {
    r.output
        .notes
        .iter()
        .find(|n| {
            matches!(
                &n.fact,
                Fact::Sentinel {
                    event: SentinelEventKind::SwitchMaster,
                    ..
                }
            )
        })
        .expect("a failover")
        .time
        .as_ms()
}

#[test]
fn push_clients_leave_the_old_primary_at_the_switch_reconnect_clients_at_the_heal() {
    for seed in 1..=3 {
        let push = run("push", seed);
        let reconnect = run("reconnect", seed);
        let switch = first_switch(&push);
        assert!(
            (30_000..34_000).contains(&switch),
            "seed {seed}: failover at {switch} ms"
        );
        // Push: p1's last acknowledged write comes before the sentinels' announcement has
        // reached every client (within 3 s of the first +switch-master).
        let last = last_ack_by_p1(&push);
        assert!(
            last < switch + 3_000,
            "seed {seed}: push clients wrote to p1 until {last} ms, switch at {switch} ms"
        );
        // Reconnect: nothing breaks the clients' connection to p1 until the heal at 65 s, when
        // p1 is turned into a replica.
        let last = last_ack_by_p1(&reconnect);
        assert!(
            (64_000..80_000).contains(&last),
            "seed {seed}: reconnect clients wrote to p1 until {last} ms"
        );
        let (p, r) = (lost(&push), lost(&reconnect));
        assert!(p > 0, "seed {seed}: the 6 s before the switch are lost");
        assert!(
            r > 4 * p,
            "seed {seed}: reconnect loses the whole cut ({r}), push about 6 s of it ({p})"
        );
    }
}

#[test]
fn the_default_follows_the_pushes_of_the_sentinel_it_asked() {
    let both = run("both", 1);
    let push = run("push", 1);
    let (b, p) = (lost(&both), lost(&push));
    assert!(
        b.abs_diff(p) * 5 <= p.max(1).unsigned_abs(),
        "both ({b}) loses about what push ({p}) loses"
    );
}

#[test]
fn follow_is_checked_and_warned_about() {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sentinels-cut-off.toml");
    let err = Scenario::load(&p, &["workloads.app.follow=sometimes".to_string()])
        .expect_err("an unknown policy is refused");
    let text = err.to_string();
    assert!(text.contains("workloads.app.follow"), "{text}");
    assert!(text.contains("unknown follow policy"), "{text}");
    let pinned = Scenario::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/basic.toml")
            .as_path(),
        &["workloads.app.follow=push".to_string()],
    );
    match pinned {
        Ok(s) => assert!(
            s.warnings
                .iter()
                .any(|w| w.field == "workloads.app.follow" && w.message.contains("only applies")),
            "a useless follow is warned about: {:?}",
            s.warnings
        ),
        Err(e) => panic!("{e}"),
    }
}

//! Resharding on both backends: `redis-cli --cluster reshard` (the `reshard` fault kind) against
//! real redis-server 7.0.15 Cluster nodes and in the simulator, compared. Each test asserts what
//! real Redis did first (who owns the slots at the end by every node's `CLUSTER NODES`, the
//! redirections clients followed, no acknowledged write lost, the console's replies), then what
//! the simulator must agree on.

mod real_support;

use simkv::cluster::slot::key_hash_slot;
use simkv::fact::{ClusterFact, Fact, FactNote};
use simkv::history::EventType;
use simkv::real::diff::{Diff, DiffOptions, Verdict, diff_with_runs};
use simkv::real::run::{RealOptions, RealRun};
use simkv::runner::run_scenario;
use simkv::scenario::Scenario;

const SEEDS: [u64; 3] = [1, 2, 3];

fn both(test: &str, toml: &str) -> Option<(Scenario, Diff, RealRun)> {
    let binaries = real_support::binaries(test)?;
    let scenario = Scenario::parse(&format!("{test}.toml"), toml, &[]).expect("valid scenario");
    let opts = DiffOptions {
        seeds: SEEDS.to_vec(),
        real_runs: 1,
        real: RealOptions {
            binaries: Some(binaries),
            ..RealOptions::default()
        },
        timing_margin_ms: 1500,
        ops_percent: 60,
    };
    let (diff, mut runs) = diff_with_runs(&scenario, &opts).expect("both backends ran");
    println!("{}", diff.render_table());
    if let Some(dir) = std::env::var_os("SIMKV_DIFF_TABLES") {
        let path = std::path::Path::new(&dir).join(format!("{test}.md"));
        std::fs::write(path, diff.render_markdown()).expect("the table is written");
    }
    Some((scenario, diff, runs.remove(0)))
}

fn agrees(d: &Diff, observable: &str) {
    let row = d.row(observable).expect("a row");
    assert_eq!(
        row.verdict,
        Verdict::Agree,
        "{observable}: simulator {:?} vs real {:?}",
        row.sim,
        row.real
    );
}

/// The console's replies: (ms, server, command, reply).
fn replies(notes: &[FactNote]) -> Vec<(u64, String, String, String)> {
    notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::OperatorReply {
                server,
                command,
                reply,
            } => Some((
                n.time.as_ms(),
                server.clone(),
                command.clone(),
                reply.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// The slots that `SETSLOT <slot> NODE` gave away on `node`.
fn closed_on(notes: &[FactNote], node: &str) -> Vec<u16> {
    notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Cluster {
                node: at,
                event: ClusterFact::SetSlot { slot, action, .. },
            } if at == node && action == "node" => Some(*slot),
            _ => None,
        })
        .collect()
}

/// Real Redis facts common to both tests: every running node's `CLUSTER NODES` gives `moved`
/// to c2p, c2p holds the tagged keys and c1p none of them, clients were redirected to c2p and
/// c2p answered keys of the moved slots, and nothing acknowledged was lost.
fn assert_real_resharded(
    real: &RealRun,
    moved: std::ops::RangeInclusive<u16>,
    cut_ms: Option<(u64, u64)>,
) {
    for s in real.servers.iter().filter(|s| s.up) {
        let owners = s.slot_owners.as_ref().expect("a cluster node's slot map");
        for slot in moved.clone() {
            let owner = owners
                .iter()
                .find(|r| (r.first..=r.last).contains(&slot))
                .and_then(|r| r.owner.as_deref());
            assert_eq!(owner, Some("c2p"), "{}: slot {slot} at the end", s.name);
        }
    }
    let tagged = |k: &String| k.starts_with("{user1000}");
    let c1p = real.servers.iter().find(|s| s.name == "c1p").unwrap();
    let c2p = real.servers.iter().find(|s| s.name == "c2p").unwrap();
    assert!(
        !c1p.data.keys().any(tagged),
        "c1p kept keys it migrated: {:?}",
        c1p.data.keys().filter(|k| tagged(k)).collect::<Vec<_>>()
    );
    assert!(
        c2p.data.keys().filter(|k| tagged(k)).count() > 10,
        "the tagged keys are on c2p"
    );
    // Clients learnt of the move the way Redis tells them: -ASK while a slot migrates, -MOVED
    // once it moved (only the resharded slots go to c2p: there is no failover).
    let to_c2p: Vec<&String> = real
        .redirects
        .keys()
        .filter(|p| p.ends_with(" c2p"))
        .collect();
    assert!(
        to_c2p.iter().any(|p| p.starts_with("MOVED")),
        "clients were told the slots moved: {:?}",
        real.redirects
    );
    let reshard_ms = real
        .notes
        .iter()
        .find_map(|n| match &n.fact {
            Fact::FaultStarted { fault } if fault.kind == "reshard" => Some(n.time.as_ms()),
            _ => None,
        })
        .expect("the reshard started");
    let served_after = real.history.events.iter().any(|e| {
        e.kind == EventType::Ok
            && e.server() == Some("c2p")
            && e.time_ns / 1_000_000 > reshard_ms
            && moved.contains(&key_hash_slot(e.key.as_bytes()))
    });
    assert!(served_after, "c2p served keys of the moved slots");
    let findings = real.check();
    let durable = findings
        .checks
        .iter()
        .find(|c| c.name == "acked-writes-durable")
        .expect("the check ran");
    match cut_ms {
        None => assert_eq!(durable.count, 0, "{}", durable.detail),
        // Real Redis may lose a write c1p acknowledged between MIGRATE attempts during the cut:
        // each attempt dials a new connection, a timed-out attempt's RESTORE ... REPLACE of the
        // older value is held by the cut and can reach c2p after the attempt that moved the newer
        // one (no order between connections), which overwrites it. The simulator keeps one
        // ordered link per pair and never does (docs/fidelity.md). Only such writes may be lost.
        Some((from, to)) => {
            for l in &findings.lost {
                assert!(
                    l.key.starts_with("{user1000}")
                        && l.server == "c1p"
                        && (from..to + 2_000).contains(&l.ack_ms),
                    "a write lost other than by a late RESTORE: {l:?}"
                );
            }
        }
    }
    let owners = findings
        .checks
        .iter()
        .find(|c| c.name == "slot-owners-at-end")
        .expect("the real final states carry slot maps");
    assert_eq!(owners.count, 0, "{}", owners.detail);
    // Every moved slot was closed on the source, once.
    let mut closed = closed_on(&real.notes, "c1p");
    closed.sort();
    closed.dedup();
    assert_eq!(closed, moved.collect::<Vec<_>>());
}

/// Slots 3400-3499 (3443 holds every `{user1000}` key) move from c1p to c2p at 6 s while six
/// clients write; no fault.
const RESHARD: &str = r#"
name = "diff-cluster-resharding"
duration = "20s"
quiet = "5s"
regions = ["a", "b", "c"]
[servers.defaults]
save = ""
[cluster]
shards = 3
replicas = 1
regions = ["a", "b", "c"]
cluster-node-timeout = 5000
[workloads.app]
region = "c"
clients = 4
discovery = "cluster"
think = "10ms"
keys = 2000
timeout = "1s"
start = "3s"
mix = { set = 60, get = 20, incr = 20 }
[workloads.tagged]
region = "c"
clients = 2
discovery = "cluster"
think = "10ms"
keys = 100
key_prefix = "{user1000}"
timeout = "1s"
start = "3s"
mix = { set = 60, get = 20, incr = 20 }
[[faults]]
kind = "reshard"
from = "c1p"
to = "c2p"
slots = [3400, 3499]
batch = 10
interval = "100ms"
timeout = "2s"
at = "6s"
"#;

#[test]
fn resharding_moves_slots_while_clients_write() {
    let Some((_, d, real)) = both("cluster_resharding", RESHARD) else {
        return;
    };
    assert_real_resharded(&real, 3400..=3499, None);
    // Without a partition every MIGRATE goes through, and every command is accepted.
    let r = replies(&real.notes);
    assert!(
        r.iter()
            .any(|(_, _, c, _)| c.starts_with("MIGRATE c2p 6379"))
    );
    let refused: Vec<_> = r.iter().filter(|(.., reply)| reply != "OK").collect();
    assert!(refused.is_empty(), "{refused:?}");
    // The simulator agrees on what clients saw and on the move itself.
    agrees(&d, "cluster: redirects followed");
    agrees(&d, "cluster: error texts");
    agrees(&d, "cluster: slots moved");
    agrees(&d, "cluster: resharding done (ms)");
    agrees(&d, "lost acknowledged writes");
    agrees(&d, "failovers");
}

/// `scenarios/cluster-resharding-under-partition.toml` made short: the same resharding, and
/// zones a (c1p) and b (c2p) cut off from each other 6.5-14 s, while slot 3443's keys move.
fn under_partition() -> String {
    let mut s = RESHARD.replace(
        "name = \"diff-cluster-resharding\"\nduration = \"20s\"\nquiet = \"5s\"",
        "name = \"diff-cluster-resharding-under-partition\"\nduration = \"30s\"\nquiet = \"8s\"",
    );
    // 300 keys in slot 3443: 30 MIGRATEs, about 3 s of the resharding, which the cut meets.
    s = s.replace("keys = 100\nkey_prefix", "keys = 300\nkey_prefix");
    s.push_str(
        "[[faults]]\nkind = \"partition\"\nbetween = [[\"a\"], [\"b\"]]\nat = \"6500ms\"\nheal = \"14s\"\n",
    );
    s
}

#[test]
fn resharding_under_partition_times_out_and_finishes_after_the_heal() {
    let toml = under_partition();
    let Some((scenario, d, real)) = both("cluster_resharding_under_partition", &toml) else {
        return;
    };
    assert_real_resharded(&real, 3400..=3499, Some((6_500, 14_000)));
    // MIGRATE crosses the cut link (c1p dials c2p's proxy): it times out while the cut lasts,
    // as Redis words it, and goes through after the heal.
    let timeout = "(error) IOERR error or timeout reading to target instance";
    let r = replies(&real.notes);
    let failed: Vec<u64> = r
        .iter()
        .filter(|(_, s, c, reply)| s == "c1p" && c.starts_with("MIGRATE") && reply == timeout)
        .map(|(ms, ..)| *ms)
        .collect();
    assert!(!failed.is_empty(), "MIGRATE timed out in the cut: {r:?}");
    assert!(
        failed.iter().all(|ms| (6_500..16_500).contains(ms)),
        "only while the cut lasted (and one timeout after it): {failed:?}"
    );
    assert!(
        r.iter().any(|(ms, s, c, reply)| *ms > 14_000
            && s == "c1p"
            && c.starts_with("MIGRATE")
            && reply == "OK"),
        "the retries go through after the heal"
    );
    // The simulator's console replies have the same texts (the real set among the model's).
    let mut sim_replies = std::collections::BTreeSet::new();
    for seed in SEEDS {
        let run = run_scenario(&scenario, seed, &mut |_| {}, &mut |_| {}, &mut || 0).unwrap();
        sim_replies.extend(replies(&run.output.notes).into_iter().map(|(.., r)| r));
    }
    for (.., reply) in &r {
        assert!(
            sim_replies.contains(reply),
            "real reply {reply:?} not among the simulator's {sim_replies:?}"
        );
    }
    agrees(&d, "cluster: slots moved");
    agrees(&d, "cluster: redirects followed");
    agrees(&d, "failovers");
    // The model loses nothing here; real Redis now and then loses a write to a late RESTORE
    // (above), so the two agree only when the real run lost none.
    if d.real[0].lost_acked_writes == 0 {
        agrees(&d, "lost acknowledged writes");
    } else {
        println!(
            "real Redis lost {} write(s) to a late RESTORE: a known difference",
            d.real[0].lost_acked_writes
        );
    }
}

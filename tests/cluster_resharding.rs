//! Resharding (`redis-cli --cluster reshard` as the `reshard` fault kind): `CLUSTER SETSLOT ...
//! IMPORTING/MIGRATING/NODE` with Redis's replies, `MIGRATE` blocking its source, clients
//! following `-ASK` to the target while a slot migrates, and `scenarios/cluster-resharding-under-
//! partition.toml` end to end: nothing acknowledged is lost, every slot ends with one owner.

use simkv::check::Status;
use simkv::cluster::slot::key_hash_slot;
use simkv::fact::{ClusterFact, Fact};
use simkv::history::EventType;
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn load(name: &str, overrides: &[&str]) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Scenario::load(&path, &o).unwrap_or_else(|e| panic!("{e}"))
}

fn run(s: &Scenario, seed: u64) -> RunReport {
    run_scenario(s, seed, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

fn replies(r: &RunReport) -> Vec<(u64, String, String, String)> {
    r.output
        .notes
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

fn status(r: &RunReport, check: &str) -> Status {
    r.summary
        .checks
        .iter()
        .find(|c| c.name == check)
        .unwrap_or_else(|| panic!("no {check}"))
        .status
}

/// When `server` took `slot` out of its hands (`SETSLOT <slot> NODE` on it), ms.
fn closed_at(r: &RunReport, server: &str, slot: u16) -> Option<u64> {
    r.output.notes.iter().find_map(|n| match &n.fact {
        Fact::Cluster {
            node,
            event: ClusterFact::SetSlot {
                slot: s, action, ..
            },
        } if node == server && *s == slot && action == "node" => Some(n.time.as_ms()),
        _ => None,
    })
}

#[test]
fn setslot_answers_as_redis_does() {
    // k2 hashes to slot 449, c1p's; the workload writes it before 5 s.
    assert_eq!(key_hash_slot(b"k2"), 449);
    let text = r#"
name = "setslot"
duration = "10s"
quiet = "2s"
regions = ["local"]
[servers.defaults]
save = ""
[cluster]
shards = 3
replicas = 1
[workloads.app]
clients = 1
discovery = "cluster"
think = "5ms"
keys = 3
mix = { set = 100 }
[[faults]]
kind = "command"
target = "c2p"
command = "CLUSTER SETSLOT 449 MIGRATING c3p"
at = "5s"
[[faults]]
kind = "command"
target = "c1p"
command = "CLUSTER SETSLOT 449 IMPORTING c2p"
at = "5100ms"
[[faults]]
kind = "command"
target = "c1r1"
command = "CLUSTER SETSLOT 449 STABLE"
at = "5200ms"
[[faults]]
kind = "command"
target = "c1p"
command = "CLUSTER SETSLOT 449 NODE c2p"
at = "5300ms"
[[faults]]
kind = "command"
target = "c1p"
command = "CLUSTER SETSLOT 449 MIGRATING c2r1"
at = "5400ms"
[[faults]]
kind = "command"
target = "c1p"
command = "CLUSTER SETSLOT 449 MIGRATING c2p"
at = "5500ms"
[[faults]]
kind = "command"
target = "c2p"
command = "CLUSTER SETSLOT 449 IMPORTING c1p"
at = "5600ms"
"#;
    let s = Scenario::parse("setslot.toml", text, &[]).unwrap_or_else(|e| panic!("{e}"));
    let r = run(&s, 1);
    let got: Vec<(String, String)> = replies(&r)
        .into_iter()
        .map(|(_, server, _, reply)| (server, reply))
        .collect();
    let want = [
        ("c2p", "(error) ERR I'm not the owner of hash slot 449"),
        ("c1p", "(error) ERR I'm already the owner of hash slot 449"),
        ("c1r1", "(error) ERR Please use SETSLOT only with masters."),
        (
            "c1p",
            "(error) ERR Can't assign hashslot 449 to a different node while I still hold keys for this hash slot.",
        ),
        ("c1p", "(error) ERR Target node is not a master"),
        ("c1p", "OK"),
        ("c2p", "OK"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(got, want);
    // A slot still migrating at the end is c1p's: one owner, nothing lost.
    assert_eq!(status(&r, "slot-owners-at-end"), Status::Pass);
}

#[test]
fn resharding_under_a_partition_moves_every_slot_and_loses_nothing() {
    let s = load("cluster-resharding-under-partition.toml", &[]);
    for seed in 1..=3 {
        let r = run(&s, seed);
        // Every slot of the range is c2p's at the end, in every running node's map.
        let finals = simkv::runner::final_states(&r.output);
        for f in finals.iter().filter(|f| f.up) {
            let map = f.slot_owners.as_ref().expect("a cluster node");
            let owner = |slot: u16| {
                map.iter()
                    .find(|x| x.first <= slot && slot <= x.last)
                    .and_then(|x| x.owner.clone())
            };
            assert_eq!(owner(3400).as_deref(), Some("c2p"), "{}", f.name);
            assert_eq!(owner(3599).as_deref(), Some("c2p"), "{}", f.name);
            assert_eq!(owner(3399).as_deref(), Some("c1p"), "{}", f.name);
            assert_eq!(owner(3600).as_deref(), Some("c1p"), "{}", f.name);
        }
        // During the cut (21-36 s) MIGRATE times out after 2 s, blocking c1p; then it succeeds.
        let migrates: Vec<(u64, String)> = replies(&r)
            .into_iter()
            .filter(|(_, server, command, _)| server == "c1p" && command.starts_with("MIGRATE"))
            .map(|(t, _, _, reply)| (t, reply))
            .collect();
        let ioerr: Vec<u64> = migrates
            .iter()
            .filter(|(_, reply)| {
                reply.contains("IOERR error or timeout reading to target instance")
            })
            .map(|(t, _)| *t)
            .collect();
        assert!(ioerr.len() >= 5, "seed {seed}: {migrates:?}");
        assert!(ioerr.iter().all(|t| (21_000..38_500).contains(t)));
        for pair in ioerr.windows(2) {
            assert!(
                pair[1] - pair[0] >= 2_000,
                "each attempt blocks c1p for 2 s"
            );
        }
        assert!(
            migrates
                .iter()
                .any(|(t, reply)| *t > 36_000 && reply == "OK")
        );
        // Clients asked about keys of the tagged slot that had moved got -ASK, and c2p answered
        // them before the slot was closed.
        let tagged = key_hash_slot(b"{user1000}k1");
        let closed = closed_at(&r, "c1p", tagged).expect("the tagged slot moved") * 1_000_000;
        let asked = r
            .output
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Ok && e.server() == Some("c2p"))
            .filter(|e| key_hash_slot(e.key.as_bytes()) == tagged && e.time_ns < closed)
            .count();
        assert!(asked > 5, "seed {seed}: {asked} operations followed -ASK");
        // No failover, nothing lost, replicas equal, every key linearizable.
        assert!(r.summary.failovers.is_empty());
        assert!(r.lost.is_empty(), "seed {seed}: {:?}", r.lost.first());
        for check in [
            "converged",
            "slot-owners-at-end",
            "linearizable",
            "acked-writes-durable",
            "single-slot-owner",
        ] {
            assert_eq!(status(&r, check), Status::Pass, "seed {seed}: {check}");
        }
    }
}

#[test]
fn a_reshard_is_checked_where_it_is_written() {
    let e = |text: &str| match Scenario::parse("r.toml", text, &[]) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let head = "name = \"r\"\nduration = \"10s\"\n[cluster]\nshards = 2\n[[faults]]\nkind = \"reshard\"\nat = \"1s\"\n";
    let msg = e(&format!("{head}from = \"c1p\"\nto = \"c1p\"\nslots = 1\n"));
    assert!(msg.contains("two different servers"), "{msg}");
    let msg = e(&format!(
        "{head}from = \"c1p\"\nto = \"c2p\"\nslots = [9, 3]\n"
    ));
    assert!(msg.contains("9 comes after 3"), "{msg}");
    let msg = e(&format!(
        "{head}from = \"c1p\"\nto = \"c2p\"\nslots = 16384\n"
    ));
    assert!(msg.contains("faults[0].slots"), "{msg}");
    let msg = e(&format!(
        "{head}from = \"c1p\"\nto = \"c2p\"\nslots = 5\nheal = \"5s\"\n"
    ));
    assert!(msg.contains("is not healed"), "{msg}");
}

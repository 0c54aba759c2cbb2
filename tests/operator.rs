//! An operator's actions (`add-server`, `remove-server`, `SENTINEL RESET`) and the `[operator]`
//! policy that replaces sick replicas: what Sentinel never does itself.

use simkv::fact::{Fact, SentinelEventKind};
use simkv::runner::{RunReport, run_scenario};
use simkv::scenario::Scenario;

fn run(text: &str) -> RunReport {
    let s = Scenario::parse("operator.toml", text, &["expect={}".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    run_scenario(&s, 1, &mut |_| {}, &mut |_| {}, &mut || 0).expect("runs")
}

/// p1 with replicas r1 and r2, a standby r3, three sentinels and a writer; `extra` adds
/// faults and an `[operator]`.
fn base(extra: &str) -> String {
    format!(
        r#"
name = "operator"
duration = "80s"
quiet = "10s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[servers.r2]
replicaof = "p1"
[servers.r3]
standby = true
[sentinels.defaults]
monitor = "p1"
quorum = 2
down-after-milliseconds = 3000
[sentinels.s1]
[sentinels.s2]
[sentinels.s3]
[workloads.w]
discovery = "sentinel"
clients = 2
think = "20ms"
keys = 200
mix = {{ set = 80, get = 20 }}
{extra}
"#
    )
}

fn action(kind: &str, target: &str, at: &str) -> String {
    format!("[[faults]]\nkind = \"{kind}\"\ntarget = \"{target}\"\nat = \"{at}\"\n")
}

fn crash(target: &str, at: &str, heal: Option<&str>) -> String {
    let heal = heal.map_or(String::new(), |h| format!("heal = \"{h}\"\n"));
    format!("[[faults]]\nkind = \"crash\"\ntargets = [\"{target}\"]\nat = \"{at}\"\n{heal}")
}

fn times(r: &RunReport, pick: impl Fn(&Fact) -> bool) -> Vec<u64> {
    r.output
        .notes
        .iter()
        .filter(|n| pick(&n.fact))
        .map(|n| n.time.as_ms())
        .collect()
}

fn added(r: &RunReport) -> Vec<(u64, String, String, Option<String>)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::ServerAdded {
                server,
                primary,
                reason,
            } => Some((
                n.time.as_ms(),
                server.clone(),
                primary.clone(),
                reason.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn removed(r: &RunReport) -> Vec<(u64, String, Option<String>)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::ServerRemoved { server, reason } => {
                Some((n.time.as_ms(), server.clone(), reason.clone()))
            }
            _ => None,
        })
        .collect()
}

fn started(r: &RunReport, server: &str) -> Vec<u64> {
    times(
        r,
        |f| matches!(f, Fact::Started { server: s, .. } if s == server),
    )
}

fn synced(r: &RunReport, server: &str) -> Vec<u64> {
    times(
        r,
        |f| matches!(f, Fact::FullResyncDone { server: s, .. } if s == server),
    )
}

/// (ms, sentinel, subject text) of a sentinel event kind.
fn sentinel_events(r: &RunReport, kind: SentinelEventKind) -> Vec<(u64, String, String)> {
    r.output
        .notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Sentinel {
                sentinel,
                event,
                subject,
            } if *event == kind => Some((n.time.as_ms(), sentinel.clone(), subject.to_string())),
            _ => None,
        })
        .collect()
}

fn check_passes(r: &RunReport, name: &str) -> bool {
    r.summary
        .checks
        .iter()
        .any(|c| c.name == name && c.status == simkv::check::Status::Pass)
}

/// A standby server never runs until added; then it starts empty as a replica of the primary
/// the sentinels name, full-syncs, and the sentinels find it in the primary's INFO.
#[test]
fn an_added_server_full_syncs_and_the_sentinels_discover_it() {
    let r = run(&base(""));
    assert!(started(&r, "r3").is_empty(), "a standby machine stays off");
    let r = run(&base(&action("add-server", "r3", "20s")));
    assert_eq!(started(&r, "r3"), vec![20_000]);
    assert_eq!(added(&r), vec![(20_000, "r3".into(), "p1".into(), None)]);
    let done = synced(&r, "r3");
    assert!(
        done.len() == 1 && done[0] > 20_000 && done[0] < 22_000,
        "{done:?}"
    );
    let found = sentinel_events(&r, SentinelEventKind::Slave);
    let r3: Vec<u64> = found
        .iter()
        .filter(|(_, _, s)| s.contains("r3"))
        .map(|(t, _, _)| *t)
        .collect();
    assert_eq!(r3.len(), 3, "each sentinel finds r3: {found:?}");
    assert!(r3.iter().all(|&t| t > 20_000 && t <= 31_000), "{r3:?}");
    assert!(
        check_passes(&r, "converged"),
        "r3 holds p1's data at the end"
    );
    assert_eq!(r.summary.operator_actions.len(), 1);
}

/// Without `replicaof` the operator asks the sentinels where the primary is: after a failover
/// the new server follows the promoted replica.
#[test]
fn an_added_server_follows_the_current_primary() {
    let r = run(&base(&format!(
        "{}{}",
        crash("p1", "10s", None),
        action("add-server", "r3", "40s")
    )));
    let promoted = r.summary.failovers.first().expect("a failover").to.clone();
    let a = added(&r);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].2, promoted, "r3 replicates the promoted replica");
    assert!(synced(&r, "r3").iter().any(|&t| t > 40_000));
}

/// A removed server's process stops; the heal of a crash does not bring it back.
#[test]
fn a_removed_server_stays_down() {
    let r = run(&base(&format!(
        "{}{}",
        crash("r2", "10s", Some("20s")),
        action("remove-server", "r2", "15s")
    )));
    assert_eq!(removed(&r), vec![(15_000, "r2".into(), None)]);
    assert_eq!(started(&r, "r2"), vec![0], "no restart at 20 s");
    // Removing a running server stops it at once.
    let r = run(&base(&action("remove-server", "r1", "15s")));
    let exits = times(
        &r,
        |f| matches!(f, Fact::Sentinel { event: SentinelEventKind::Sdown, subject, .. } if subject.to_string().contains("r1")),
    );
    assert!(exits.iter().all(|&t| t > 15_000) && !exits.is_empty());
    let final_r1 = r.output.servers.iter().find(|f| f.name == "r1").unwrap();
    assert!(!final_r1.up);
}

/// Adding a server that runs is refused.
#[test]
fn adding_a_running_server_is_an_error() {
    let r = run(&base(&action("add-server", "r1", "20s")));
    assert!(added(&r).is_empty());
    let replies = times(
        &r,
        |f| matches!(f, Fact::OperatorReply { reply, .. } if reply.contains("already running")),
    );
    assert_eq!(replies, vec![20_000]);
}

/// `SENTINEL RESET <pattern>` (sentinelResetMastersByPattern): the replicas and other sentinels
/// are forgotten and rediscovered, so a removed replica is no longer watched (no more
/// +sdown for it); the reply counts the primaries reset.
#[test]
fn sentinel_reset_forgets_a_removed_replica() {
    let reset = |pattern: &str| {
        format!(
            "[[faults]]\nkind = \"command\"\ntarget = \"s1\"\ncommand = \"SENTINEL RESET {pattern}\"\nat = \"30s\"\n"
        )
    };
    let text = |pattern: &str| {
        base(&format!(
            "{}{}",
            action("remove-server", "r2", "20s"),
            reset(pattern)
        ))
    };
    let r = run(&text("*"));
    let replies = times(
        &r,
        |f| matches!(f, Fact::OperatorReply { command, reply, .. } if command == "SENTINEL RESET *" && reply == "(integer) 1"),
    );
    assert_eq!(replies, vec![30_000]);
    let resets = sentinel_events(&r, SentinelEventKind::ResetMaster);
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].1, "s1");
    let rediscovered: Vec<String> = sentinel_events(&r, SentinelEventKind::Slave)
        .into_iter()
        .filter(|(t, s, _)| *t >= 30_000 && s == "s1")
        .map(|(_, _, subject)| subject)
        .collect();
    assert!(rediscovered.iter().any(|s| s.contains("r1")));
    assert!(
        !rediscovered.iter().any(|s| s.contains("r2")),
        "{rediscovered:?}"
    );
    // s1 knows the other sentinels again.
    let peers = sentinel_events(&r, SentinelEventKind::Sentinel);
    assert!(peers.iter().any(|(t, s, _)| *t > 30_000 && s == "s1"));

    let r = run(&text("other*"));
    let replies = times(
        &r,
        |f| matches!(f, Fact::OperatorReply { reply, .. } if reply == "(integer) 0"),
    );
    assert_eq!(replies, vec![30_000]);
    assert!(sentinel_events(&r, SentinelEventKind::ResetMaster).is_empty());
}

fn operator(keys: &str) -> String {
    format!("[operator]\nspares = [\"r3\"]\n{keys}\n")
}

/// The policy replaces a replica whose process has been down for `down`: it takes it out, adds
/// the spare as a replica of the primary, and resets the sentinels.
#[test]
fn the_policy_replaces_a_replica_down_too_long() {
    let r = run(&base(&format!(
        "{}{}",
        crash("r2", "20s", None),
        operator("down = \"10s\"\ndisk_errors = false")
    )));
    let rm = removed(&r);
    assert_eq!(rm.len(), 1, "{rm:?}");
    assert_eq!(rm[0].1, "r2");
    assert!(
        (30_000..=31_000).contains(&rm[0].0),
        "down 10 s: {}",
        rm[0].0
    );
    assert!(rm[0].2.as_deref().unwrap().starts_with("down for 1"));
    let a = added(&r);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].0, a[0].1.as_str(), a[0].2.as_str()),
        (rm[0].0, "r3", "p1")
    );
    assert_eq!(a[0].3.as_deref(), Some("replaces r2"));
    assert!(synced(&r, "r3").iter().any(|&t| t > rm[0].0));
    assert_eq!(sentinel_events(&r, SentinelEventKind::ResetMaster).len(), 3);
    assert!(check_passes(&r, "converged"));
    // Down for less than `down`: nothing happens.
    let r = run(&base(&format!(
        "{}{}",
        crash("r2", "20s", Some("25s")),
        operator("down = \"10s\"\ndisk_errors = false")
    )));
    assert!(removed(&r).is_empty() && added(&r).is_empty());
}

/// The policy replaces a replica `lag` bytes behind for `lag_for`; `sentinel_reset = false`
/// leaves the sentinels alone.
#[test]
fn the_policy_replaces_a_lagging_replica() {
    let cut = "[[faults]]\nkind = \"partition\"\nbetween = [[\"r2\"], [\"p1\"]]\nat = \"20s\"\nheal = \"60s\"\n";
    let keys = "lag = \"20kb\"\nlag_for = \"5s\"\ndisk_errors = false\nsentinel_reset = false";
    let r = run(&base(&format!("{cut}{}", operator(keys))));
    let rm = removed(&r);
    assert_eq!(rm.len(), 1, "{rm:?}");
    assert_eq!(rm[0].1, "r2");
    let why = rm[0].2.as_deref().unwrap();
    assert!(why.contains("bytes behind for 5"), "{why}");
    assert!((25_000..35_000).contains(&rm[0].0), "{}", rm[0].0);
    assert!(sentinel_events(&r, SentinelEventKind::ResetMaster).is_empty());
    // A lag under the threshold: nothing.
    let keys = "lag = \"10mb\"\nlag_for = \"5s\"\ndisk_errors = false";
    let r = run(&base(&format!("{cut}{}", operator(keys))));
    assert!(removed(&r).is_empty());
}

/// The policy replaces a replica whose disk reported an error, at its next look; with
/// `disk_errors = false` it does not; with no spare left it takes nobody out.
#[test]
fn the_policy_replaces_a_replica_whose_disk_fails() {
    let disk = "[[faults]]\nkind = \"disk-error\"\ntargets = [\"r2\"]\nat = \"20500ms\"\n";
    let text = |keys: &str| {
        base(&format!("{disk}{}", operator(keys))).replace(
            "[servers.r2]\nreplicaof = \"p1\"",
            "[servers.r2]\nreplicaof = \"p1\"\nappendonly = true",
        )
    };
    let r = run(&text(""));
    let rm = removed(&r);
    assert_eq!(rm.len(), 1, "{rm:?}");
    assert_eq!(rm[0].0, 21_000, "at the first look after the error");
    assert!(rm[0].2.as_deref().unwrap().contains("disk:aof-write-error"));
    assert_eq!(added(&r)[0].1, "r3");
    let r = run(&text("disk_errors = false"));
    assert!(removed(&r).is_empty());
    let r = run(&text("").replace("spares = [\"r3\"]", "spares = []"));
    assert!(removed(&r).is_empty(), "no spare: the sick replica stays");
}

/// Impossible `[operator]` input is refused with where and why; useless input warns.
#[test]
fn operator_input_is_checked() {
    let err = |extra: &str| {
        Scenario::parse("operator.toml", &base(extra), &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err("[operator]\nspares = [\"r1\"]\ndown = \"5s\"");
    assert!(e.contains("\"r1\" is not a standby server"), "{e}");
    assert!(e.contains("standby = true"), "{e}");
    let e = err("[operator]\nspares = [\"r9\"]");
    assert!(e.contains("unknown server \"r9\""), "{e}");
    let e = err(&action("add-server", "r3", "10s").replace("at = ", "heal = \"20s\"\nat = "));
    assert!(e.contains("is not healed"), "{e}");
    let s = Scenario::parse(
        "operator.toml",
        &base("[operator]\nspares = [\"r3\"]\ndisk_errors = false"),
        &[],
    )
    .expect("valid");
    assert!(
        s.warnings
            .iter()
            .any(|w| w.to_string().contains("the operator watches nothing")),
        "{:?}",
        s.warnings
    );
}

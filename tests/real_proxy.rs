//! Link faults through the loopback proxies on real processes: a cut primary→replica link is
//! noticed by the replica only through `repl-timeout`, and after the heal it continues partially.

mod real_support;

use std::time::{Duration, Instant};

use real_support::{binaries, node_ip, wait_for};
use simkv::real::info::ReplicationInfo;
use simkv::real::observe::{LogTailer, Observation};
use simkv::real::proxy::Network;
use simkv::real::resp::Connection;
use simkv::real::supervisor::{ServerSpec, Supervisor};

const REPL_TIMEOUT_S: u32 = 2;

fn info(c: &mut Connection) -> ReplicationInfo {
    let text = c.cmd(&["INFO", "replication"]).unwrap().as_text().unwrap();
    ReplicationInfo::parse(&text).unwrap()
}

fn link_up(c: &mut Connection) -> bool {
    info(c).replica.expect("a replica").master_link_up
}

#[test]
fn a_cut_primary_to_replica_link_is_noticed_after_repl_timeout() {
    let Some(bins) = binaries("a_cut_primary_to_replica_link_is_noticed_after_repl_timeout") else {
        return;
    };
    let (p_ip, r_ip) = (node_ip(61), node_ip(62));
    let net = Network::new();
    net.add_node("p1", p_ip);
    net.add_node("r1", r_ip);
    let mut sup = Supervisor::new(bins).unwrap();
    let mut p = ServerSpec::new("p1", p_ip);
    p.save = Some(String::new());
    p.extra = vec![
        ("repl-diskless-sync-delay".into(), "0".into()),
        ("repl-ping-replica-period".into(), "1".into()),
    ];
    let p_addr = sup.start_server(&p).unwrap();
    let p_proxy = net
        .expose("p1", std::net::Ipv4Addr::new(127, 0, 1, 61), p_addr)
        .unwrap();
    let mut r = ServerSpec::new("r1", r_ip);
    r.save = Some(String::new());
    r.repl_timeout = Some(REPL_TIMEOUT_S);
    r.replicaof = Some(p_proxy);
    sup.start_server(&r).unwrap();
    let mut rc = sup
        .connect("r1", node_ip(60), Duration::from_secs(2))
        .unwrap();
    wait_for("the replica's link", Duration::from_secs(5), || {
        link_up(&mut rc).then_some(())
    });
    let mut rlog = LogTailer::new(&sup.node("r1").unwrap().log_path());
    let mut plog = LogTailer::new(&sup.node("p1").unwrap().log_path());
    rlog.poll().unwrap();
    plog.poll().unwrap();

    net.cut("p1", "r1");
    let cut_at = Instant::now();
    wait_for("the link to go down", Duration::from_secs(8), || {
        (!link_up(&mut rc)).then_some(())
    });
    let noticed_after = cut_at.elapsed();
    println!("replica noticed the cut after {noticed_after:?} (repl-timeout {REPL_TIMEOUT_S} s)");
    // The last PING crossed at most 1 s before the cut; repl-timeout counts from it, and
    // replicationCron checks once a second.
    assert!(
        noticed_after >= Duration::from_millis(900),
        "{noticed_after:?}"
    );
    assert!(
        noticed_after <= Duration::from_secs(REPL_TIMEOUT_S as u64 + 2),
        "{noticed_after:?}"
    );
    let seen: Vec<Observation> = rlog
        .poll_observations()
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert!(seen.contains(&Observation::MasterTimeout), "{seen:?}");

    net.heal("p1", "r1");
    wait_for("the link to come back", Duration::from_secs(8), || {
        link_up(&mut rc).then_some(())
    });
    let seen: Vec<Observation> = plog
        .poll_observations()
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert!(
        seen.iter()
            .any(|o| matches!(o, Observation::PartialResyncAccepted { .. })),
        "the replica continues from the backlog: {seen:?}"
    );
}

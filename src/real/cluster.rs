//! The Redis Cluster of a real run (`[cluster]`): every node of a shard runs with
//! `cluster-enabled yes` and is joined into the layout the simulator starts from
//! (world/mod.rs: `cluster_nodes`), before the run's clock starts:
//!
//! 1. primary `i` (scenario order) takes configEpoch `i + 1` (`CLUSTER SET-CONFIG-EPOCH`, as
//!    `redis-cli --cluster create` numbers its nodes) and the `i`-th range of
//!    `topology::even_split` (`CLUSTER ADDSLOTSRANGE`, the ranges `redis-cli` computes);
//! 2. every other node meets the first through its proxies (`CLUSTER MEET ip port bus-port`:
//!    the bus proxy, so the bus crosses the link proxies from the first packet);
//! 3. each replica follows its primary (`CLUSTER REPLICATE <id>`) once it knows it;
//! 4. the run starts when every node reports `cluster_state:ok` with all 16384 slots assigned and
//!    every node known, every node sees every replica under its primary, and every replica's
//!    link is up.
//!
//! This is what `redis-cli --cluster create` does, minus its own placement of replicas (it
//! spreads them over hosts by IP and then shuffles for anti-affinity, which would not give the
//! scenario's `c<i>r<j>` layout) and minus its 3-primary minimum.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::cluster::topology::even_split;
use crate::scenario::{ClusterSpec, Scenario};

use super::directory::Directory;
use super::resp::{Connection, Reply};
use super::supervisor::{RealError, Supervisor};

/// How long the cluster may take to form (replicas' first full syncs included).
const FORM_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of each command sent while forming.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between two looks at a forming cluster.
const POLL: Duration = Duration::from_millis(100);

/// The server indices of every cluster node, shard by shard (primary, then its replicas).
pub fn members(spec: &ClusterSpec) -> Vec<usize> {
    spec.shards
        .iter()
        .flat_map(|s| std::iter::once(s.primary).chain(s.replicas.iter().copied()))
        .collect()
}

/// Forms the cluster of `s` out of its running nodes: `first_bus` is the bus proxy of the first
/// shard's primary. Records every node's ID in `dir`.
pub fn form(
    s: &Scenario,
    sup: &Supervisor,
    dir: &mut Directory,
    observer: Ipv4Addr,
    first_bus: SocketAddr,
) -> Result<(), RealError> {
    let Some(spec) = &s.cluster else {
        return Ok(());
    };
    let name = |i: usize| s.servers[i].name.clone();
    let connect = |n: &str| sup.connect(n, observer, COMMAND_TIMEOUT);
    for i in members(spec) {
        let mut c = connect(&name(i))?;
        let id = text(&mut c, &["CLUSTER", "MYID"])
            .ok_or_else(|| not_ready(&name(i), "answered no CLUSTER MYID"))?;
        dir.add_node_id(&name(i), &id);
    }
    for (i, (shard, range)) in spec
        .shards
        .iter()
        .zip(even_split(spec.shards.len()))
        .enumerate()
    {
        let n = name(shard.primary);
        let mut c = connect(&n)?;
        let epoch = (i + 1).to_string();
        expect_ok(&mut c, &n, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch])?;
        let (first, last) = (range.start().to_string(), range.end().to_string());
        expect_ok(&mut c, &n, &["CLUSTER", "ADDSLOTSRANGE", &first, &last])?;
    }
    let first = name(spec.shards[0].primary);
    let proxy = dir
        .proxy(&first)
        .ok_or_else(|| not_ready(&first, "has no proxy"))?;
    let (ip, port, bus) = (
        proxy.ip().to_string(),
        proxy.port().to_string(),
        first_bus.port().to_string(),
    );
    for i in members(spec).into_iter().skip(1) {
        let n = name(i);
        expect_ok(
            &mut connect(&n)?,
            &n,
            &["CLUSTER", "MEET", &ip, &port, &bus],
        )?;
    }
    let deadline = Instant::now() + FORM_TIMEOUT;
    for shard in &spec.shards {
        let primary_id = dir
            .node_id(&name(shard.primary))
            .expect("recorded above")
            .to_string();
        for &r in &shard.replicas {
            replicate(sup, &name(r), &primary_id, observer, deadline)?;
        }
    }
    wait_formed(s, spec, sup, dir, observer, deadline)
}

/// `CLUSTER REPLICATE`, retried until the replica has heard of its primary through gossip.
fn replicate(
    sup: &Supervisor,
    replica: &str,
    primary_id: &str,
    observer: Ipv4Addr,
    deadline: Instant,
) -> Result<(), RealError> {
    let mut c = sup.connect(replica, observer, COMMAND_TIMEOUT)?;
    loop {
        match c.cmd(&["CLUSTER", "REPLICATE", primary_id]) {
            Ok(Reply::Simple(ok)) if ok == "OK" => return Ok(()),
            // "ERR Unknown node": the MEET has not reached it yet.
            Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(other) => return Err(not_ready(replica, &format!("CLUSTER REPLICATE: {other:?}"))),
            Err(e) => return Err(not_ready(replica, &format!("CLUSTER REPLICATE: {e}"))),
        }
    }
}

/// Waits until every node is in state ok and agrees on the layout, and every replica's link
/// is up.
fn wait_formed(
    s: &Scenario,
    spec: &ClusterSpec,
    sup: &Supervisor,
    dir: &Directory,
    observer: Ipv4Addr,
    deadline: Instant,
) -> Result<(), RealError> {
    let nodes = members(spec);
    let mut expected = Vec::new();
    for shard in &spec.shards {
        let primary = dir.node_id(&s.servers[shard.primary].name).unwrap_or("");
        for &r in &shard.replicas {
            let id = dir.node_id(&s.servers[r].name).unwrap_or("").to_string();
            expected.push((id, primary.to_string()));
        }
    }
    loop {
        let mut missing = None;
        for &i in &nodes {
            let n = &s.servers[i].name;
            let is_replica = spec.shards.iter().any(|sh| sh.replicas.contains(&i));
            let why = sup
                .connect(n, observer, COMMAND_TIMEOUT)
                .ok()
                .and_then(|mut c| unready(&mut c, nodes.len(), &expected, is_replica));
            if let Some(why) = why {
                missing = Some(format!("{n}: {why}"));
                break;
            }
        }
        let Some(why) = missing else {
            return Ok(());
        };
        if Instant::now() > deadline {
            return Err(RealError::NotReady(format!(
                "the cluster did not form within {} s: {why}",
                FORM_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// What one node still lacks, or `None` when it is ready.
fn unready(
    c: &mut Connection,
    nodes: usize,
    expected: &[(String, String)],
    is_replica: bool,
) -> Option<String> {
    let info = text(c, &["CLUSTER", "INFO"])?;
    let field = |k: &str| {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(k)?.strip_prefix(':'))
            .map(str::to_string)
    };
    if field("cluster_state").as_deref() != Some("ok") {
        return Some("cluster_state is not ok yet".into());
    }
    if field("cluster_slots_assigned").as_deref() != Some("16384") {
        return Some("not every slot is assigned yet".into());
    }
    if field("cluster_known_nodes") != Some(nodes.to_string()) {
        return Some(format!("does not know all {nodes} nodes yet"));
    }
    let view = text(c, &["CLUSTER", "NODES"])?;
    for (replica, primary) in expected {
        let seen = view.lines().any(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            w.first() == Some(&replica.as_str())
                && w.get(3) == Some(&primary.as_str())
                && w.get(2).is_some_and(|f| f.split(',').any(|f| f == "slave"))
        });
        if !seen {
            return Some(format!(
                "does not see {replica} as a replica of {primary} yet"
            ));
        }
    }
    if is_replica {
        let repl = text(c, &["INFO", "replication"])?;
        if !repl.lines().any(|l| l.trim() == "master_link_status:up") {
            return Some("its replication link is not up yet".into());
        }
    }
    None
}

/// A command's reply as text (bulk or simple), `None` on an error or a broken connection.
fn text(c: &mut Connection, words: &[&str]) -> Option<String> {
    match c.cmd(words).ok()? {
        r @ (Reply::Bulk(Some(_)) | Reply::Simple(_)) => r.as_text(),
        _ => None,
    }
}

fn expect_ok(c: &mut Connection, node: &str, words: &[&str]) -> Result<(), RealError> {
    match c.cmd(words) {
        Ok(Reply::Simple(ok)) if ok == "OK" => Ok(()),
        Ok(other) => Err(not_ready(node, &format!("{}: {other:?}", words.join(" ")))),
        Err(e) => Err(not_ready(node, &format!("{}: {e}", words.join(" ")))),
    }
}

fn not_ready(node: &str, why: &str) -> RealError {
    RealError::NotReady(format!("forming the cluster: {node} {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_listed_shard_by_shard() {
        let s = Scenario::parse(
            "c.toml",
            "name = \"c\"\nduration = \"10s\"\n[cluster]\nshards = 2\nreplicas = 1\n\
             region = \"local\"\n",
            &[],
        )
        .unwrap();
        let spec = s.cluster.as_ref().unwrap();
        let names: Vec<&str> = members(spec)
            .into_iter()
            .map(|i| s.servers[i].name.as_str())
            .collect();
        assert_eq!(names, ["c1p", "c1r1", "c2p", "c2r1"]);
    }
}

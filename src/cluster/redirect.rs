//! Where a key-based command runs (`cluster.c: getNodeByQuery`) and the errors a client gets
//! otherwise (`cluster.c: clusterRedirectClient`).

use std::fmt;

use super::slot::{CLUSTER_SLOTS, key_hash_slot};
use super::state::ClusterState;
use super::topology::{Endpoint, NodeId, Topology};

/// A command as routing sees it: its keys and flags.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The command's keys, in order (`getKeysFromCommand`); empty for keyless commands.
    pub keys: &'a [&'a [u8]],
    /// The command writes (`CMD_WRITE`).
    pub is_write: bool,
    /// The client sent ASKING before it (`CLIENT_ASKING`).
    pub asking: bool,
    /// The client sent READONLY on this connection (`CLIENT_READONLY`).
    pub readonly: bool,
}

/// What the node that received the query knows.
pub struct RouteView<'a> {
    /// Its view of the slots.
    pub topology: &'a Topology,
    /// Itself.
    pub me: NodeId,
    /// Its cluster state.
    pub state: ClusterState,
    /// `cluster-allow-reads-when-down` (default no).
    pub allow_reads_when_down: bool,
    /// Whether a key exists in its keyspace (only asked for migrating or importing slots).
    pub key_exists: &'a dyn Fn(&[u8]) -> bool,
}

/// The query runs here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    /// The slot of its keys, `None` for a keyless command.
    pub slot: Option<u16>,
}

/// Why the query does not run here, one variant per `CLUSTER_REDIR_*` code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// The slot is served by another node.
    Moved { slot: u16, endpoint: Endpoint },
    /// The slot is migrating and the keys are not here: ask the target.
    Ask { slot: u16, endpoint: Endpoint },
    /// The keys hash to different slots.
    CrossSlot,
    /// Some keys are here and some already migrated.
    TryAgain,
    /// The cluster state is FAIL.
    Down,
    /// The cluster state is FAIL, reads allowed, and this is a write.
    DownReadOnly,
    /// Nobody serves the slot.
    Unbound,
}

impl Redirect {
    /// The error text as `simkv`'s replies carry it (without the leading `-`).
    pub fn error_text(&self) -> String {
        match self {
            Redirect::Moved { slot, endpoint } => format!("MOVED {slot} {endpoint}"),
            Redirect::Ask { slot, endpoint } => format!("ASK {slot} {endpoint}"),
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served".into(),
        }
    }
}

/// A `-MOVED` or `-ASK` error as a client reads it: kind, slot and the endpoint it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectText<'a> {
    /// `MOVED` or `ASK`.
    pub kind: &'a str,
    /// The slot.
    pub slot: u16,
    /// `host:port` as printed (the host may be empty).
    pub endpoint: &'a str,
}

impl<'a> RedirectText<'a> {
    /// Reads `MOVED <slot> <host>:<port>` or `ASK ...` (without the leading `-`).
    pub fn parse(text: &'a str) -> Option<RedirectText<'a>> {
        let mut parts = text.split(' ');
        let kind = parts.next().filter(|k| matches!(*k, "MOVED" | "ASK"))?;
        let slot = parts.next()?.parse().ok().filter(|s| *s < CLUSTER_SLOTS)?;
        let endpoint = parts.next().filter(|e| e.contains(':'))?;
        parts.next().is_none().then_some(RedirectText {
            kind,
            slot,
            endpoint,
        })
    }

    /// The host part of the endpoint (the simulator's endpoints are node names).
    pub fn host(&self) -> &'a str {
        self.endpoint
            .rsplit_once(':')
            .map_or(self.endpoint, |(h, _)| h)
    }

    /// The redirection with its slot left out and its endpoint named by `node` (e.g.
    /// `MOVED <slot> c2r1`), so the texts of two runs that drew different keys, or of two
    /// backends whose nodes listen at different addresses, can be compared.
    pub fn pattern(&self, node: &str) -> String {
        format!("{} <slot> {node}", self.kind)
    }
}

/// An error text with the slot and endpoint of a `MOVED`/`ASK` replaced by placeholders
/// (`MOVED <slot> <endpoint>`); any other text as it is.
pub fn error_pattern(text: &str) -> String {
    match RedirectText::parse(text) {
        Some(r) => format!("{} <slot> <endpoint>", r.kind),
        None => text.to_string(),
    }
}

impl fmt::Display for Redirect {
    /// The error exactly as on the wire, with the leading `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{}", self.error_text())
    }
}

/// The slot of the query's keys, or CROSSSLOT / unbound, and whether several distinct keys
/// share it (the key loop of `getNodeByQuery`).
fn query_slot(keys: &[&[u8]], view: &Topology) -> Result<Option<(u16, bool)>, Redirect> {
    let Some(first) = keys.first() else {
        return Ok(None);
    };
    let slot = key_hash_slot(first);
    if view.owner(slot).is_none() {
        return Err(Redirect::Unbound);
    }
    let mut multiple_keys = false;
    for key in &keys[1..] {
        if key != first {
            if key_hash_slot(key) != slot {
                return Err(Redirect::CrossSlot);
            }
            multiple_keys = true;
        }
    }
    Ok(Some((slot, multiple_keys)))
}

/// Routes a query as `cluster.c: getNodeByQuery` does, in its order: slot and CROSSSLOT,
/// unbound slot, cluster down, migrating (ASK / TRYAGAIN), importing with ASKING, READONLY on a
/// replica of the owner, and MOVED.
pub fn route(query: &Query<'_>, view: &RouteView<'_>) -> Result<Local, Redirect> {
    let Some((slot, multiple_keys)) = query_slot(query.keys, view.topology)? else {
        return Ok(Local { slot: None });
    };
    let owner = view.topology.owner(slot).expect("checked by query_slot");
    let migrating_to = (owner == view.me)
        .then(|| view.topology.migrating_to.get(&slot).copied())
        .flatten();
    let importing = migrating_to.is_none() && view.topology.importing_from.contains_key(&slot);
    let (mut missing, mut existing) = (0usize, 0usize);
    if migrating_to.is_some() || importing {
        for key in query.keys {
            if (view.key_exists)(key) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    if view.state != ClusterState::Ok {
        if !view.allow_reads_when_down {
            return Err(Redirect::Down);
        }
        if query.is_write {
            return Err(Redirect::DownReadOnly);
        }
    }
    if let Some(target) = migrating_to.filter(|_| missing > 0) {
        if existing > 0 {
            return Err(Redirect::TryAgain);
        }
        let endpoint = view.topology.node(target).endpoint.clone();
        return Err(Redirect::Ask { slot, endpoint });
    }
    if importing && query.asking {
        if multiple_keys && missing > 0 {
            return Err(Redirect::TryAgain);
        }
        return Ok(Local { slot: Some(slot) });
    }
    let me = view.topology.node(view.me);
    if query.readonly && !query.is_write && me.primary() == Some(owner) {
        return Ok(Local { slot: Some(slot) });
    }
    if owner != view.me {
        let endpoint = view.topology.node(owner).endpoint.clone();
        return Err(Redirect::Moved { slot, endpoint });
    }
    Ok(Local { slot: Some(slot) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Shard;

    #[test]
    fn redirect_texts_are_read_and_reduced_to_patterns() {
        let r = RedirectText::parse("MOVED 3999 127.100.1.5:40123").unwrap();
        assert_eq!((r.kind, r.slot, r.host()), ("MOVED", 3999, "127.100.1.5"));
        assert_eq!(r.pattern("c2r1"), "MOVED <slot> c2r1");
        assert_eq!(RedirectText::parse("ASK 7 :6380").unwrap().host(), "");
        assert_eq!(RedirectText::parse("MOVED 16384 a:1"), None);
        assert_eq!(RedirectText::parse("CLUSTERDOWN The cluster is down"), None);
        assert_eq!(
            error_pattern("MOVED 12 c2p:6379"),
            "MOVED <slot> <endpoint>"
        );
        assert_eq!(
            error_pattern("CLUSTERDOWN Hash slot not served"),
            "CLUSTERDOWN Hash slot not served"
        );
    }

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// Three shards: node0 (0-5460), node1 (5461-10922), node2 (10923-16383); node10 replicates
    /// node0.
    fn topology() -> Topology {
        let shards: Vec<Shard> = (0..3u32)
            .map(|i| Shard {
                primary: (NodeId(i), endpoint(7000 + i as u16)),
                replicas: vec![(NodeId(10 + i), endpoint(7100 + i as u16))],
            })
            .collect();
        Topology::from_shards(&shards)
    }

    fn query<'a>(keys: &'a [&'a [u8]], is_write: bool) -> Query<'a> {
        Query {
            keys,
            is_write,
            asking: false,
            readonly: false,
        }
    }

    fn route_at(
        q: &Query<'_>,
        t: &Topology,
        me: u32,
        state: ClusterState,
        exists: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Local, Redirect> {
        let view = RouteView {
            topology: t,
            me: NodeId(me),
            state,
            allow_reads_when_down: false,
            key_exists: exists,
        };
        route(q, &view)
    }

    fn nothing(_: &[u8]) -> bool {
        false
    }

    #[test]
    fn local_and_moved() {
        let t = topology();
        // "bar" is slot 5061 (node0), "foo" is slot 12182 (node2).
        let ok = route_at(&query(&[b"bar"], true), &t, 0, ClusterState::Ok, &nothing);
        assert_eq!(ok, Ok(Local { slot: Some(5061) }));
        let moved = route_at(&query(&[b"foo"], false), &t, 0, ClusterState::Ok, &nothing);
        let err = moved.unwrap_err();
        assert_eq!(err.to_string(), "-MOVED 12182 127.0.0.1:7002");
        assert_eq!(err.error_text(), "MOVED 12182 127.0.0.1:7002");
    }

    #[test]
    fn keyless_commands_run_even_when_down() {
        let t = topology();
        let r = route_at(&query(&[], true), &t, 1, ClusterState::Fail, &nothing);
        assert_eq!(r, Ok(Local { slot: None }));
    }

    #[test]
    fn crossslot_and_same_slot_multi_keys() {
        let t = topology();
        let cross = route_at(
            &query(&[b"foo", b"bar"], true),
            &t,
            2,
            ClusterState::Ok,
            &nothing,
        );
        assert_eq!(
            cross.unwrap_err().to_string(),
            "-CROSSSLOT Keys in request don't hash to the same slot"
        );
        let tagged: [&[u8]; 2] = [b"{user1000}.following", b"{user1000}.followers"];
        let same = route_at(&query(&tagged, true), &t, 0, ClusterState::Ok, &nothing);
        assert_eq!(same, Ok(Local { slot: Some(3443) }));
    }

    #[test]
    fn down_state_and_reads_when_down() {
        let t = topology();
        let down = route_at(
            &query(&[b"bar"], false),
            &t,
            0,
            ClusterState::Fail,
            &nothing,
        );
        assert_eq!(
            down.unwrap_err().to_string(),
            "-CLUSTERDOWN The cluster is down"
        );
        let mut view = RouteView {
            topology: &t,
            me: NodeId(0),
            state: ClusterState::Fail,
            allow_reads_when_down: true,
            key_exists: &nothing,
        };
        assert_eq!(
            route(&query(&[b"bar"], false), &view),
            Ok(Local { slot: Some(5061) })
        );
        assert_eq!(
            route(&query(&[b"bar"], true), &view)
                .unwrap_err()
                .to_string(),
            "-CLUSTERDOWN The cluster is down and only accepts read commands"
        );
        // A read for another node's slot is still redirected when reads are allowed.
        view.me = NodeId(1);
        assert!(matches!(
            route(&query(&[b"bar"], false), &view),
            Err(Redirect::Moved { .. })
        ));
    }

    #[test]
    fn unbound_slot_is_reported_before_the_state() {
        let mut t = topology();
        t.unassign_slot(5061);
        let r = route_at(
            &query(&[b"bar"], false),
            &t,
            0,
            ClusterState::Fail,
            &nothing,
        );
        assert_eq!(
            r.unwrap_err().to_string(),
            "-CLUSTERDOWN Hash slot not served"
        );
    }

    #[test]
    fn migrating_slot_asks_or_tries_again() {
        let mut t = topology();
        t.migrating_to.insert(5061, NodeId(1));
        let here = |k: &[u8]| k == b"bar";
        assert_eq!(
            route_at(&query(&[b"bar"], true), &t, 0, ClusterState::Ok, &here),
            Ok(Local { slot: Some(5061) })
        );
        let ask = route_at(&query(&[b"{bar}x"], true), &t, 0, ClusterState::Ok, &here);
        assert_eq!(ask.unwrap_err().to_string(), "-ASK 5061 127.0.0.1:7001");
        let split: [&[u8]; 2] = [b"bar", b"{bar}x"];
        let again = route_at(&query(&split, true), &t, 0, ClusterState::Ok, &here);
        assert_eq!(
            again.unwrap_err().to_string(),
            "-TRYAGAIN Multiple keys request during rehashing of slot"
        );
    }

    #[test]
    fn importing_slot_needs_asking() {
        let mut t = topology();
        t.importing_from.insert(5061, NodeId(0));
        let mut q = query(&[b"bar"], true);
        assert!(matches!(
            route_at(&q, &t, 1, ClusterState::Ok, &nothing),
            Err(Redirect::Moved { slot: 5061, .. })
        ));
        q.asking = true;
        assert_eq!(
            route_at(&q, &t, 1, ClusterState::Ok, &nothing),
            Ok(Local { slot: Some(5061) })
        );
        let split: [&[u8]; 2] = [b"bar", b"{bar}x"];
        let only_bar = |k: &[u8]| k == b"bar";
        let multi = Query {
            asking: true,
            ..query(&split, true)
        };
        assert_eq!(
            route_at(&multi, &t, 1, ClusterState::Ok, &only_bar),
            Err(Redirect::TryAgain)
        );
    }

    #[test]
    fn readonly_replica_serves_reads_of_its_primary_only() {
        let t = topology();
        let mut q = query(&[b"bar"], false);
        assert!(matches!(
            route_at(&q, &t, 10, ClusterState::Ok, &nothing),
            Err(Redirect::Moved { .. })
        ));
        q.readonly = true;
        assert_eq!(
            route_at(&q, &t, 10, ClusterState::Ok, &nothing),
            Ok(Local { slot: Some(5061) })
        );
        q.is_write = true;
        let w = route_at(&q, &t, 10, ClusterState::Ok, &nothing);
        assert_eq!(w.unwrap_err().to_string(), "-MOVED 5061 127.0.0.1:7000");
        let other = Query {
            readonly: true,
            ..query(&[b"foo"], false)
        };
        assert!(matches!(
            route_at(&other, &t, 10, ClusterState::Ok, &nothing),
            Err(Redirect::Moved { slot: 12182, .. })
        ));
    }
}

//! The names of a real run: which node answers at which `ip:port` (its own address and its
//! proxy's), which sentinel has which run ID, and which Redis Cluster node has which node ID
//! (40 hex characters), so observations that name addresses and IDs become facts that name
//! nodes, exactly as the simulator's facts do.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Addresses and run IDs to node names.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// Every process's name, in process order (servers, sentinels, clients).
    pub names: Vec<String>,
    /// How many of them are servers (the first ones).
    pub servers: usize,
    /// How many sentinels follow the servers.
    pub sentinels: usize,
    by_addr: BTreeMap<String, String>,
    by_run_id: BTreeMap<String, String>,
    by_node_id: BTreeMap<String, String>,
    proxies: BTreeMap<String, SocketAddr>,
    /// (source, target) to the proxy of the target that the source's `MIGRATE` dials.
    migrate_routes: BTreeMap<(String, String), SocketAddr>,
}

impl Directory {
    /// A directory of these processes; addresses are added as nodes start.
    pub fn new(names: Vec<String>, servers: usize, sentinels: usize) -> Directory {
        Directory {
            names,
            servers,
            sentinels,
            ..Directory::default()
        }
    }

    /// Records that `name` answers at `addr` (its own address or its proxy's).
    pub fn add_addr(&mut self, name: &str, addr: SocketAddr) {
        self.by_addr.insert(addr.to_string(), name.to_string());
    }

    /// Records `name`'s proxy address: the one every peer dials.
    pub fn add_proxy(&mut self, name: &str, addr: SocketAddr) {
        self.add_addr(name, addr);
        self.proxies.insert(name.to_string(), addr);
    }

    /// Records the proxy of `to`'s client port that `from`'s `MIGRATE` dials (see
    /// `proxy::Network::listen_for`).
    pub fn add_migrate_route(&mut self, from: &str, to: &str, addr: SocketAddr) {
        self.add_addr(to, addr);
        self.migrate_routes
            .insert((from.to_string(), to.to_string()), addr);
    }

    /// Where `from`'s `MIGRATE` to `to` connects.
    pub fn migrate_route(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.migrate_routes
            .get(&(from.to_string(), to.to_string()))
            .copied()
    }

    /// Records a sentinel's run ID (`INFO server`'s `run_id`).
    pub fn add_run_id(&mut self, name: &str, run_id: &str) {
        self.by_run_id.insert(run_id.to_string(), name.to_string());
    }

    /// Records a Redis Cluster node's ID (`CLUSTER MYID`).
    pub fn add_node_id(&mut self, name: &str, id: &str) {
        self.by_node_id.insert(id.to_string(), name.to_string());
    }

    /// The cluster node with this ID, or the ID itself.
    pub fn cluster_node_named(&self, id: &str) -> String {
        self.by_node_id
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The ID of cluster node `name`.
    pub fn node_id(&self, name: &str) -> Option<&str> {
        self.by_node_id
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(id, _)| id.as_str())
    }

    /// The proxy address of node `name`.
    pub fn proxy(&self, name: &str) -> Option<SocketAddr> {
        self.proxies.get(name).copied()
    }

    /// The proxy address of process `i`.
    pub fn proxy_of(&self, i: usize) -> Option<SocketAddr> {
        self.names.get(i).and_then(|n| self.proxy(n))
    }

    /// The node at `ip:port`, or the address itself when no node is there.
    pub fn name_at(&self, ip: &str, port: u16) -> String {
        self.name_of(&format!("{ip}:{port}"))
    }

    /// The node at `ip:port` written as one word.
    pub fn name_of(&self, addr: &str) -> String {
        self.by_addr
            .get(addr)
            .cloned()
            .unwrap_or_else(|| addr.to_string())
    }

    /// The sentinel with this run ID, or the ID itself.
    pub fn sentinel_named(&self, run_id: &str) -> String {
        self.by_run_id
            .get(run_id)
            .cloned()
            .unwrap_or_else(|| run_id.to_string())
    }

    /// The index of node `name` among all processes.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_run_ids_name_nodes() {
        let mut d = Directory::new(vec!["p1".into(), "s1".into()], 1, 1);
        d.add_proxy("p1", "127.9.1.1:4000".parse().unwrap());
        d.add_addr("p1", "127.9.0.1:5000".parse().unwrap());
        d.add_run_id("s1", "abc");
        d.add_node_id("p1", "07c37dfeb235213a872192d90877d0cd55635b91");
        assert_eq!(d.name_at("127.9.1.1", 4000), "p1");
        assert_eq!(d.name_of("127.9.0.1:5000"), "p1");
        assert_eq!(d.name_of("127.9.0.9:1"), "127.9.0.9:1");
        assert_eq!(d.sentinel_named("abc"), "s1");
        assert_eq!(d.proxy_of(0), Some("127.9.1.1:4000".parse().unwrap()));
        assert_eq!(d.index("s1"), Some(1));
        d.add_migrate_route("s1", "p1", "127.9.1.1:4001".parse().unwrap());
        assert_eq!(
            d.migrate_route("s1", "p1"),
            Some("127.9.1.1:4001".parse().unwrap())
        );
        assert_eq!(d.migrate_route("p1", "s1"), None);
        assert_eq!(d.name_of("127.9.1.1:4001"), "p1");
        assert_eq!(
            d.cluster_node_named("07c37dfeb235213a872192d90877d0cd55635b91"),
            "p1"
        );
        assert_eq!(
            d.node_id("p1"),
            Some("07c37dfeb235213a872192d90877d0cd55635b91")
        );
    }
}

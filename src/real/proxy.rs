//! Link faults without root: an in-process TCP proxy in front of every node, on loopback.
//!
//! Each node has its own address `127.0.0.N` and is reached only through its proxy's address,
//! so a proxy knows both ends of every connection: the destination is its node, the source is
//! the node whose address the connection comes from. Rules are kept per (source node,
//! destination node) and apply to the bytes flowing that way:
//! - a cut holds the bytes (nobody is told, as in the simulator: peers notice through their own
//!   timeouts) and a heal delivers what was held, in order;
//! - a one-way latency delays every chunk by that much from the moment it was read;
//! - a node that is *silent* (its machine lost power) answers nothing: every link to or from it
//!   holds its bytes, its proxies accept connections and never forward them, and the end of its
//!   killed process's connections is not passed on until it comes back (then they close, as a
//!   rebooted machine resets connections it no longer knows).
//!
//! A closed connection crosses a link as its last bytes do: a cut or silent link holds the close
//! too, so nobody learns of a partition by a connection closing on the far side.
//!
//! A node can have a second proxy for a second service (a Redis Cluster node's bus port): the
//! same rules apply to it, since they name nodes, not ports.
//!
//! Every connection has a reader and a writer thread per direction, joined by a bounded queue, so a
//! cut link that holds too much stops reading and TCP's own flow control pushes back.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::resp::connect_from;

/// Chunks queued per direction before the reader stops reading (at most 16 KiB each).
const QUEUE_CHUNKS: usize = 1024;
/// How often blocked threads look at the stop flag and the rules.
const POLL: Duration = Duration::from_millis(5);
/// How long a proxy waits to connect to its node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections a silent node's proxy holds before it closes new ones at once.
const MAX_PARKED: usize = 4096;

/// What happens to bytes flowing from one node to another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkRule {
    /// Bytes are held, not delivered.
    pub cut: bool,
    /// Extra one-way delay.
    pub latency: Duration,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Source address to node name.
    nodes: Mutex<BTreeMap<Ipv4Addr, String>>,
    /// (from, to) to the rule.
    rules: Mutex<BTreeMap<(String, String), LinkRule>>,
    /// (node name, service) to the address its proxy forwards to.
    targets: Mutex<BTreeMap<(String, Service), SocketAddr>>,
    /// Nodes that are down: their proxies refuse connections.
    down: Mutex<std::collections::BTreeSet<String>>,
    /// Nodes that are silent (their machine is off): nothing to or from them is delivered.
    silent: Mutex<std::collections::BTreeSet<String>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn rule(&self, link: &(String, String)) -> LinkRule {
        let rules = self.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.get(link).copied().unwrap_or_default()
    }
    /// The rule as delivery sees it: a link to or from a silent node is cut.
    fn effective_rule(&self, link: &(String, String)) -> LinkRule {
        let mut rule = self.rule(link);
        rule.cut |= self.is_silent(&link.0) || self.is_silent(&link.1);
        rule
    }
    fn target(&self, node: &str, service: Service) -> Option<SocketAddr> {
        let targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.get(&(node.to_string(), service)).copied()
    }
    fn is_silent(&self, node: &str) -> bool {
        let silent = self.silent.lock().unwrap_or_else(|e| e.into_inner());
        silent.contains(node)
    }
    fn is_down(&self, node: &str) -> bool {
        let down = self.down.lock().unwrap_or_else(|e| e.into_inner());
        down.contains(node)
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    fn node_of(&self, addr: SocketAddr) -> String {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        match addr.ip() {
            IpAddr::V4(ip) => nodes.get(&ip).cloned(),
            IpAddr::V6(_) => None,
        }
        .unwrap_or_else(|| addr.ip().to_string())
    }
    fn spawn(self: &Arc<Self>, f: impl FnOnce() + Send + 'static) {
        let handle = std::thread::spawn(f);
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }
}

/// What a node's proxy fronts: its client port (commands, replication, sentinels) or, for a
/// Redis Cluster node, its cluster bus port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// The port clients, replicas and sentinels dial.
    Client,
    /// The cluster bus (`cluster-port`).
    Bus,
}

/// The proxies of one run and their rules.
pub struct Network {
    shared: Arc<Shared>,
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// No nodes, no rules.
    pub fn new() -> Network {
        Network {
            shared: Arc::new(Shared::default()),
        }
    }

    /// Names the node whose connections come from `ip`.
    pub fn add_node(&self, name: &str, ip: Ipv4Addr) {
        assert!(ip.is_loopback(), "nodes live on 127.0.0.0/8 only");
        let mut nodes = self.shared.nodes.lock().unwrap_or_else(|e| e.into_inner());
        nodes.insert(ip, name.to_string());
    }

    /// Starts the proxy of node `name`, listening on a free port of `listen_ip` and forwarding to
    /// `target`; returns the address peers must dial.
    pub fn expose(
        &self,
        name: &str,
        listen_ip: Ipv4Addr,
        target: SocketAddr,
    ) -> io::Result<SocketAddr> {
        self.route(name, target)?;
        self.listen(name, listen_ip)
    }

    /// Starts a second proxy of node `name`, for `service`, on a free port of `listen_ip`; like
    /// [`Network::listen`], it refuses connections until [`Network::route_service`] names its
    /// target. The node's rules, down and silent states apply to it as to its first proxy.
    pub fn listen_service(
        &self,
        name: &str,
        listen_ip: Ipv4Addr,
        service: Service,
    ) -> io::Result<SocketAddr> {
        self.spawn_proxy(name, listen_ip, service, None)
    }

    /// Starts a proxy of node `name`'s client port that only node `source` dials: its
    /// connections cross the link from `source` whatever address they come from. `MIGRATE`
    /// connects without `bind-source-addr` (connection.c: `connSocketBlockingConnect` calls
    /// `anetTcpNonBlockConnect` with no source address), so its connections come from
    /// 127.0.0.1 and only the port they dial can tell whose they are.
    pub fn listen_for(
        &self,
        name: &str,
        listen_ip: Ipv4Addr,
        source: &str,
    ) -> io::Result<SocketAddr> {
        self.spawn_proxy(name, listen_ip, Service::Client, Some(source.to_string()))
    }

    /// A proxy of node `name`'s `service` on a free port of `listen_ip` (loopback only), its
    /// connections crossing the link from `source` when given, else from their own address.
    fn spawn_proxy(
        &self,
        name: &str,
        listen_ip: Ipv4Addr,
        service: Service,
        source: Option<String>,
    ) -> io::Result<SocketAddr> {
        if !listen_ip.is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "proxies live on 127.0.0.0/8 only",
            ));
        }
        let listener = TcpListener::bind((listen_ip, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = self.shared.clone();
        let name = name.to_string();
        self.shared
            .spawn(move || accept_loop(shared, listener, name, service, source));
        Ok(addr)
    }

    /// Starts the proxy of node `name` on a free port of `listen_ip` before the node itself runs
    /// (so the node can be configured to announce the proxy's address); connections are refused
    /// until [`Network::route`] names the target. Returns the address peers must dial.
    pub fn listen(&self, name: &str, listen_ip: Ipv4Addr) -> io::Result<SocketAddr> {
        self.listen_service(name, listen_ip, Service::Client)
    }

    /// Makes node `name`'s proxy forward to `target` (its node's own address).
    pub fn route(&self, name: &str, target: SocketAddr) -> io::Result<()> {
        self.route_service(name, Service::Client, target)
    }

    /// Makes node `name`'s proxy for `service` forward to `target`.
    pub fn route_service(
        &self,
        name: &str,
        service: Service,
        target: SocketAddr,
    ) -> io::Result<()> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "proxies forward to 127.0.0.0/8 only",
            ));
        }
        let mut targets = self
            .shared
            .targets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        targets.insert((name.to_string(), service), target);
        Ok(())
    }

    /// Makes node `name` silent, as a machine that lost power (see the module's header), or
    /// brings it back: then the connections it held end, and new ones are forwarded again.
    pub fn set_silent(&self, name: &str, silent: bool) {
        let mut set = self.shared.silent.lock().unwrap_or_else(|e| e.into_inner());
        if silent {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Marks node `name` down (its proxy refuses connections, as a dead server's port does) or
    /// up again (its proxy listens again on the same address).
    pub fn set_down(&self, name: &str, down: bool) {
        let mut set = self.shared.down.lock().unwrap_or_else(|e| e.into_inner());
        if down {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    /// Sets the rule for bytes flowing from `from` to `to`.
    pub fn set(&self, from: &str, to: &str, rule: LinkRule) {
        let mut rules = self.shared.rules.lock().unwrap_or_else(|e| e.into_inner());
        rules.insert((from.to_string(), to.to_string()), rule);
    }

    /// The rule for bytes flowing from `from` to `to`.
    pub fn rule(&self, from: &str, to: &str) -> LinkRule {
        self.shared.rule(&(from.to_string(), to.to_string()))
    }

    /// Holds the bytes flowing from `from` to `to`.
    pub fn cut(&self, from: &str, to: &str) {
        let latency = self.rule(from, to).latency;
        self.set(from, to, LinkRule { cut: true, latency });
    }

    /// Delivers what was held and lets bytes flow again from `from` to `to`.
    pub fn heal(&self, from: &str, to: &str) {
        let latency = self.rule(from, to).latency;
        self.set(
            from,
            to,
            LinkRule {
                cut: false,
                latency,
            },
        );
    }

    /// Delays bytes flowing from `from` to `to` by `latency`.
    pub fn set_latency(&self, from: &str, to: &str, latency: Duration) {
        let cut = self.rule(from, to).cut;
        self.set(from, to, LinkRule { cut, latency });
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        loop {
            let handle = self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop();
            match handle {
                Some(h) => {
                    let _ = h.join();
                }
                None => break,
            }
        }
    }
}

/// Accepts connections to `node`'s `service`; they come from the node whose address they come
/// from, or from `fixed_source` when given.
fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    node: String,
    service: Service,
    fixed_source: Option<String>,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut listener = Some(listener);
    // Connections accepted while the node is silent: held, never answered, closed when it
    // comes back (a rebooted machine knows none of them).
    let mut parked: Vec<TcpStream> = Vec::new();
    while !shared.stopped() {
        if !parked.is_empty() && !shared.is_silent(&node) {
            parked.clear();
        }
        // A node that is down refuses connections, as a dead server's port does: the proxy
        // closes its listening socket until the node is up again, then listens on the same port.
        if shared.is_down(&node) {
            listener = None;
            std::thread::sleep(POLL);
            continue;
        }
        if listener.is_none() {
            listener = TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .ok();
        }
        let Some(l) = listener.as_ref() else {
            std::thread::sleep(POLL);
            continue;
        };
        match l.accept() {
            Ok((client, peer)) => {
                if shared.is_silent(&node) {
                    if parked.len() < MAX_PARKED {
                        parked.push(client);
                    }
                    continue;
                }
                let source = fixed_source.clone().unwrap_or_else(|| shared.node_of(peer));
                let from = SocketAddr::new(addr.ip(), 0);
                // A node that cannot be reached just closes the client.
                let Some(target) = shared.target(&node, service) else {
                    continue;
                };
                if let Ok(server) = connect_from(from, target, CONNECT_TIMEOUT) {
                    let _ = bridge(&shared, client, server, &source, &node);
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Starts the two directions of one proxied connection.
fn bridge(
    shared: &Arc<Shared>,
    client: TcpStream,
    server: TcpStream,
    source: &str,
    node: &str,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    // Without this, Nagle's algorithm and delayed ACKs hold small replies for ~40 ms.
    client.set_nodelay(true)?;
    let up = (source.to_string(), node.to_string());
    let down = (node.to_string(), source.to_string());
    direction(shared, client.try_clone()?, server.try_clone()?, up)?;
    direction(shared, server, client, down)
}

type Chunk = Option<(Instant, Vec<u8>)>;

fn direction(
    shared: &Arc<Shared>,
    from: TcpStream,
    to: TcpStream,
    link: (String, String),
) -> io::Result<()> {
    from.set_read_timeout(Some(Duration::from_millis(50)))?;
    let (tx, rx) = sync_channel::<Chunk>(QUEUE_CHUNKS);
    let s = shared.clone();
    shared.spawn(move || read_side(&s, from, tx));
    let s = shared.clone();
    shared.spawn(move || write_side(&s, to, rx, &link));
    Ok(())
}

fn read_side(shared: &Shared, mut from: TcpStream, tx: SyncSender<Chunk>) {
    let mut buf = vec![0u8; 16 * 1024];
    while !shared.stopped() {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx.send(Some((Instant::now(), buf[..n].to_vec()))).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = tx.send(None);
}

fn write_side(shared: &Shared, mut to: TcpStream, rx: Receiver<Chunk>, link: &(String, String)) {
    while !shared.stopped() {
        let chunk = match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(c) => c,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => None,
        };
        let Some((read_at, bytes)) = chunk else {
            // The close crosses the link as bytes do: not while it is cut.
            if hold_until_deliverable(shared, link, Instant::now()) {
                let _ = to.shutdown(Shutdown::Write);
            }
            return;
        };
        if !hold_until_deliverable(shared, link, read_at) || to.write_all(&bytes).is_err() {
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// Waits while the link is cut or the chunk's latency has not passed; false if stopped.
fn hold_until_deliverable(shared: &Shared, link: &(String, String), read_at: Instant) -> bool {
    loop {
        if shared.stopped() {
            return false;
        }
        let rule = shared.effective_rule(link);
        let due = read_at + rule.latency;
        let now = Instant::now();
        if !rule.cut && now >= due {
            return true;
        }
        let wait = if rule.cut {
            POLL
        } else {
            (due - now).min(POLL)
        };
        std::thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on `ip`: it answers every byte with the same byte.
    fn echo_server(ip: Ipv4Addr) -> SocketAddr {
        let l = TcpListener::bind((ip, 0)).unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn client(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
        let s = connect_from(SocketAddr::new(from.into(), 0), to, CONNECT_TIMEOUT).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s
    }

    fn round_trip(s: &mut TcpStream, byte: u8) -> Duration {
        let start = Instant::now();
        s.write_all(&[byte]).unwrap();
        let mut b = [0u8];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b[0], byte);
        start.elapsed()
    }

    #[test]
    fn latency_applies_one_way_per_direction() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 71), Ipv4Addr::new(127, 0, 0, 72));
        net.add_node("a", a);
        net.add_node("b", b);
        let proxy = net
            .expose("b", Ipv4Addr::new(127, 0, 1, 72), echo_server(b))
            .unwrap();
        let mut s = client(a, proxy);
        assert!(round_trip(&mut s, 1) < Duration::from_millis(100));
        net.set_latency("a", "b", Duration::from_millis(150));
        let rtt = round_trip(&mut s, 2);
        assert!(
            rtt >= Duration::from_millis(150) && rtt < Duration::from_millis(300),
            "{rtt:?}"
        );
        net.set_latency("b", "a", Duration::from_millis(100));
        let rtt = round_trip(&mut s, 3);
        assert!(rtt >= Duration::from_millis(250), "{rtt:?}");
    }

    #[test]
    fn a_proxy_for_one_source_applies_its_links_whatever_the_address() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 73), Ipv4Addr::new(127, 0, 0, 74));
        net.add_node("a", a);
        net.add_node("b", b);
        let target = echo_server(b);
        net.route("b", target).unwrap();
        let proxy = net
            .listen_for("b", Ipv4Addr::new(127, 0, 1, 74), "a")
            .unwrap();
        // From an address no node has (as MIGRATE connects): the link from a applies.
        let mut s = client(Ipv4Addr::new(127, 0, 0, 1), proxy);
        round_trip(&mut s, 1);
        net.cut("a", "b");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.write_all(&[2]).unwrap();
        let mut buf = [0u8; 1];
        assert!(s.read(&mut buf).is_err(), "the cut from a holds the bytes");
        net.heal("a", "b");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf[0], 2, "the heal delivers what was held");
    }

    #[test]
    fn a_node_that_is_down_refuses_connections_until_it_is_up() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 75), Ipv4Addr::new(127, 0, 0, 76));
        net.add_node("a", a);
        net.add_node("b", b);
        let proxy = net
            .expose("b", Ipv4Addr::new(127, 0, 1, 76), echo_server(b))
            .unwrap();
        round_trip(&mut client(a, proxy), 1);
        net.set_down("b", true);
        std::thread::sleep(POLL * 4);
        let from = SocketAddr::new(a.into(), 0);
        let refused = connect_from(from, proxy, CONNECT_TIMEOUT).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        net.set_down("b", false);
        std::thread::sleep(POLL * 4);
        round_trip(&mut client(a, proxy), 2);
    }

    #[test]
    fn a_silent_node_answers_nothing_and_hides_its_end() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 77), Ipv4Addr::new(127, 0, 0, 78));
        net.add_node("a", a);
        net.add_node("b", b);
        let l = TcpListener::bind((b, 0)).unwrap();
        let target = l.local_addr().unwrap();
        let proxy = net
            .expose("b", Ipv4Addr::new(127, 0, 1, 78), target)
            .unwrap();
        let mut old = client(a, proxy);
        let (server_side, _) = l.accept().unwrap();
        net.set_silent("b", true);
        // The node's end closes (its process was killed): the client is not told.
        drop(server_side);
        old.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1];
        let e = old.read(&mut buf).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
            "no end-of-file crosses: {e:?}"
        );
        // A new connection is accepted (the kernel of the proxy answers) but never answered.
        let mut new = client(a, proxy);
        new.write_all(b"PING\r\n").unwrap();
        new.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        assert!(new.read(&mut buf).is_err(), "nothing answers");
        // Back: the held connections end, as a rebooted machine resets them.
        net.set_silent("b", false);
        old.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(
            old.read(&mut buf).unwrap_or(0),
            0,
            "the old connection ends"
        );
    }

    #[test]
    fn a_cut_holds_a_close_until_it_heals() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 79), Ipv4Addr::new(127, 0, 0, 80));
        net.add_node("a", a);
        net.add_node("b", b);
        let l = TcpListener::bind((b, 0)).unwrap();
        let target = l.local_addr().unwrap();
        let proxy = net
            .expose("b", Ipv4Addr::new(127, 0, 1, 80), target)
            .unwrap();
        let mut s = client(a, proxy);
        let (server_side, _) = l.accept().unwrap();
        net.cut("b", "a");
        drop(server_side);
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 1];
        assert!(s.read(&mut buf).is_err(), "the close is held by the cut");
        net.heal("b", "a");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "the close arrives at the heal"
        );
    }

    #[test]
    fn a_cut_holds_bytes_and_a_heal_delivers_them_in_order() {
        let net = Network::new();
        let (a, b) = (Ipv4Addr::new(127, 0, 0, 73), Ipv4Addr::new(127, 0, 0, 74));
        net.add_node("a", a);
        net.add_node("b", b);
        let proxy = net
            .expose("b", Ipv4Addr::new(127, 0, 1, 74), echo_server(b))
            .unwrap();
        let mut s = client(a, proxy);
        round_trip(&mut s, 0);
        net.cut("b", "a");
        s.write_all(b"held").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4];
        assert!(
            s.read(&mut buf).is_err(),
            "nothing crosses a cut link, and nobody is told"
        );
        net.heal("b", "a");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"held");
        assert_eq!(net.rule("b", "a"), LinkRule::default());
    }
}

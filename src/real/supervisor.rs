//! The supervisor of one real run: it owns a run directory, starts `redis-server` and
//! `redis-sentinel` processes from generated configs on loopback, signals them (pause, resume,
//! kill, restart, stop), and removes every process and file of the run when it ends, however it
//! ends.
//!
//! Cleanup has three layers, because each covers a way of ending the others miss:
//! - `Drop` kills the children and removes the directory: normal ends, `?` errors and panics
//!   (unwinding runs destructors).
//! - A SIGINT/SIGTERM handler (the `ctrlc` crate, which installs one handler safely and runs it
//!   on its own thread, where killing and deleting files is allowed) does the same for every live
//!   run, then exits with status 130. Children also get their own process group, so a Ctrl-C typed
//!   at the terminal reaches simkv only, and a server cannot start a shutdown save into a directory
//!   that is being removed.
//! - Each child asks the kernel (`PR_SET_PDEATHSIG`) to be killed when the thread that started it
//!   ends, which covers SIGKILL of simkv itself; a supervisor must therefore live on one thread.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use super::resp::{Connection, Reply};

/// How long a started process has to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `stop` waits for a clean exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts to start a process on a fresh free port when the port was taken meanwhile.
const START_ATTEMPTS: u32 = 3;

/// A Redis version as `redis-server --version` prints it (`v=7.0.15`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RedisVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

impl RedisVersion {
    /// Reads the version out of `redis-server --version` output.
    pub fn parse(text: &str) -> Option<RedisVersion> {
        let v = text.split_whitespace().find_map(|w| w.strip_prefix("v="))?;
        let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
        Some(RedisVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next().unwrap_or(Some(0))?,
        })
    }
}

impl fmt::Display for RedisVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Where the binaries are (`--redis-server PATH`, `--redis-sentinel PATH`).
#[derive(Clone, Debug)]
pub struct Binaries {
    /// The `redis-server` binary.
    pub redis_server: PathBuf,
    /// The `redis-sentinel` binary.
    pub redis_sentinel: PathBuf,
}

impl Binaries {
    /// The binaries found on `PATH`, if both are there.
    pub fn from_path() -> Option<Binaries> {
        Some(Binaries {
            redis_server: which("redis-server")?,
            redis_sentinel: which("redis-sentinel")?,
        })
    }
    /// The server's version.
    pub fn version(&self) -> Result<RedisVersion, RealError> {
        detect_version(&self.redis_server)
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `binary --version` and parses it.
pub fn detect_version(binary: &Path) -> Result<RedisVersion, RealError> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| RealError::Io(format!("running {} --version", binary.display()), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    RedisVersion::parse(&text).ok_or_else(|| RealError::Version(text.trim().to_string()))
}

/// What can go wrong driving real processes.
#[derive(Debug)]
pub enum RealError {
    /// A file or process operation failed; the text says which.
    Io(String, io::Error),
    /// `--version` printed something unexpected.
    Version(String),
    /// A process did not become ready; the text carries the end of its log.
    NotReady(String),
    /// No node has this name.
    UnknownNode(String),
    /// A node with this name exists already.
    DuplicateNode(String),
    /// The node is not running (killed or stopped).
    NotRunning(String),
    /// The node is running, so it cannot be started again.
    StillRunning(String),
    /// An address outside 127.0.0.0/8: the real backend never leaves the machine.
    NotLoopback(Ipv4Addr),
    /// The scenario asks for something real processes cannot do; the text says what and why.
    Unsupported(String),
    /// `redis-server` or `redis-sentinel` is not installed.
    NotInstalled,
}

impl fmt::Display for RealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealError::Io(what, e) => write!(f, "{what}: {e}"),
            RealError::Version(t) => write!(f, "cannot read a Redis version from {t:?}"),
            RealError::NotReady(m) => write!(f, "{m}"),
            RealError::UnknownNode(n) => write!(f, "no node named {n:?}"),
            RealError::DuplicateNode(n) => write!(f, "a node named {n:?} exists already"),
            RealError::NotRunning(n) => write!(f, "node {n:?} is not running"),
            RealError::StillRunning(n) => write!(f, "node {n:?} is still running"),
            RealError::NotLoopback(ip) => write!(f, "{ip} is not a loopback address"),
            RealError::Unsupported(why) => {
                write!(f, "the real backend cannot run this scenario: {why}")
            }
            RealError::NotInstalled => write!(
                f,
                "redis-server and redis-sentinel were not found on PATH (Debian: apt-get install redis-server redis-sentinel)"
            ),
        }
    }
}

impl std::error::Error for RealError {}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> RealError {
    let what = what.into();
    move |e| RealError::Io(what, e)
}

/// One `redis-server`, its knobs spelled as in redis.conf. `None` leaves Redis's default.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// The node's name (also its directory's name).
    pub name: String,
    /// The loopback address it binds and connects from (`bind`, `bind-source-addr`).
    pub ip: Ipv4Addr,
    /// `save`, e.g. `""` (off) or `"3600 1 300 100"`.
    pub save: Option<String>,
    /// `appendonly`.
    pub appendonly: Option<bool>,
    /// `appendfsync`: `always`, `everysec` or `no`.
    pub appendfsync: Option<String>,
    /// `repl-backlog-size`, e.g. `"16kb"` (Redis's default 1mb).
    pub repl_backlog_size: Option<String>,
    /// `repl-timeout` in seconds (Redis's default 60).
    pub repl_timeout: Option<u32>,
    /// `min-replicas-to-write` (Redis's default 0).
    pub min_replicas_to_write: Option<u32>,
    /// `replicaof`: the address of its primary.
    pub replicaof: Option<SocketAddr>,
    /// `replica-announce-ip`.
    pub replica_announce_ip: Option<Ipv4Addr>,
    /// `replica-announce-port`.
    pub replica_announce_port: Option<u16>,
    /// `cluster-enabled yes`: the supervisor also picks a free port of `ip` for the cluster bus
    /// and writes it as `cluster-port` (the bus then listens there, not on port + 10000).
    pub cluster_bus: bool,
    /// Any other redis.conf lines, as `(knob, value)`.
    pub extra: Vec<(String, String)>,
}

impl ServerSpec {
    /// A server with Redis's defaults.
    pub fn new(name: &str, ip: Ipv4Addr) -> ServerSpec {
        ServerSpec {
            name: name.to_string(),
            ip,
            save: None,
            appendonly: None,
            appendfsync: None,
            repl_backlog_size: None,
            repl_timeout: None,
            min_replicas_to_write: None,
            replicaof: None,
            replica_announce_ip: None,
            replica_announce_port: None,
            cluster_bus: false,
            extra: Vec::new(),
        }
    }

    fn knobs(&self) -> Vec<(String, String)> {
        let mut k = Vec::new();
        let mut put = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                k.push((name.to_string(), v));
            }
        };
        put("save", self.save.as_ref().map(|s| quote(s)));
        put("appendonly", self.appendonly.map(yes_no));
        put("appendfsync", self.appendfsync.clone());
        put("repl-backlog-size", self.repl_backlog_size.clone());
        put("repl-timeout", self.repl_timeout.map(|v| v.to_string()));
        put(
            "min-replicas-to-write",
            self.min_replicas_to_write.map(|v| v.to_string()),
        );
        put(
            "replicaof",
            self.replicaof.map(|a| format!("{} {}", a.ip(), a.port())),
        );
        put(
            "replica-announce-ip",
            self.replica_announce_ip.map(|a| a.to_string()),
        );
        put(
            "replica-announce-port",
            self.replica_announce_port.map(|p| p.to_string()),
        );
        k.extend(self.extra.iter().cloned());
        k
    }
}

/// What one sentinel watches (`sentinel monitor` and the per-primary knobs).
#[derive(Clone, Debug)]
pub struct Monitor {
    /// The primary's name, e.g. `mymaster`.
    pub primary_name: String,
    /// The address the sentinel dials.
    pub addr: SocketAddr,
    /// The quorum.
    pub quorum: u32,
    /// `down-after-milliseconds` (Redis's default 30000).
    pub down_after_milliseconds: Option<u64>,
    /// `failover-timeout` in ms (Redis's default 180000).
    pub failover_timeout: Option<u64>,
    /// `parallel-syncs` (Redis's default 1).
    pub parallel_syncs: Option<u32>,
}

/// One `redis-sentinel`, its knobs spelled as in sentinel.conf.
#[derive(Clone, Debug)]
pub struct SentinelSpec {
    /// The node's name.
    pub name: String,
    /// The loopback address it binds and connects from.
    pub ip: Ipv4Addr,
    /// The primaries it watches.
    pub monitors: Vec<Monitor>,
    /// `sentinel announce-ip`.
    pub announce_ip: Option<Ipv4Addr>,
    /// `sentinel announce-port`.
    pub announce_port: Option<u16>,
    /// Any other sentinel.conf lines, as `(knob, value)`.
    pub extra: Vec<(String, String)>,
}

impl SentinelSpec {
    fn knobs(&self) -> Vec<(String, String)> {
        let mut k = Vec::new();
        for m in &self.monitors {
            let n = &m.primary_name;
            let (ip, port) = (m.addr.ip(), m.addr.port());
            k.push((
                "sentinel monitor".into(),
                format!("{n} {ip} {port} {}", m.quorum),
            ));
            let mut per = |knob: &str, v: Option<String>| {
                if let Some(v) = v {
                    k.push((format!("sentinel {knob}"), format!("{n} {v}")));
                }
            };
            per(
                "down-after-milliseconds",
                m.down_after_milliseconds.map(|v| v.to_string()),
            );
            per(
                "failover-timeout",
                m.failover_timeout.map(|v| v.to_string()),
            );
            per("parallel-syncs", m.parallel_syncs.map(|v| v.to_string()));
        }
        if let Some(ip) = self.announce_ip {
            k.push(("sentinel announce-ip".into(), ip.to_string()));
        }
        if let Some(p) = self.announce_port {
            k.push(("sentinel announce-port".into(), p.to_string()));
        }
        k.extend(self.extra.iter().cloned());
        k
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// `save ""` turns snapshots off; a non-empty value is several words on one line.
fn quote(s: &str) -> String {
    if s.is_empty() {
        "\"\"".to_string()
    } else {
        s.to_string()
    }
}

/// Which program a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// `redis-server`.
    Server,
    /// `redis-sentinel`.
    Sentinel,
}

/// One started process and its files.
#[derive(Debug)]
pub struct Node {
    /// The node's name.
    pub name: String,
    /// Server or sentinel.
    pub kind: NodeKind,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its cluster bus listens (`cluster-port`), for a Redis Cluster node.
    pub bus_addr: Option<SocketAddr>,
    /// Its own directory (config, log, RDB, AOF; `nodes.conf` for a cluster node).
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// Its config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join(match self.kind {
            NodeKind::Server => "redis.conf",
            NodeKind::Sentinel => "sentinel.conf",
        })
    }
    /// Its log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// The live runs, for the interrupt handler: run id to (directory, child pids).
static LIVE: Mutex<BTreeMap<u64, (PathBuf, Vec<u32>)>> = Mutex::new(BTreeMap::new());
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);
static HANDLER: Once = Once::new();

fn live() -> std::sync::MutexGuard<'static, BTreeMap<u64, (PathBuf, Vec<u32>)>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

fn install_interrupt_cleanup() {
    HANDLER.call_once(|| {
        // If the program installed its own handler, ours is not set: the other layers remain.
        let _ = ctrlc::set_handler(|| {
            for (dir, pids) in live().values() {
                for pid in pids {
                    signal(*pid, libc::SIGKILL);
                }
                for pid in pids {
                    // Reap them: after our exit they would be orphans nobody may reap.
                    // SAFETY: waitpid(2) on our own child.
                    unsafe { libc::waitpid(*pid as libc::pid_t, std::ptr::null_mut(), 0) };
                }
                let _ = fs::remove_dir_all(dir);
            }
            std::process::exit(130);
        });
    });
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) with a pid of a child we have not reaped yet, so it cannot be reused.
    unsafe { libc::kill(pid as libc::pid_t, sig) == 0 }
}

/// The processes and directory of one run.
pub struct Supervisor {
    binaries: Binaries,
    run_id: u64,
    dir: PathBuf,
    nodes: BTreeMap<String, Node>,
}

impl Supervisor {
    /// Creates a fresh run directory under the system's temporary directory.
    pub fn new(binaries: Binaries) -> Result<Supervisor, RealError> {
        install_interrupt_cleanup();
        let run_id = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("simkv-real-{}-{run_id}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_err(format!("clearing {}", dir.display())))?;
        }
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        live().insert(run_id, (dir.clone(), Vec::new()));
        Ok(Supervisor {
            binaries,
            run_id,
            dir,
            nodes: BTreeMap::new(),
        })
    }

    /// Runs `body` with a new supervisor; everything is cleaned up when it returns or panics.
    pub fn scope<T, E: From<RealError>>(
        binaries: Binaries,
        body: impl FnOnce(&mut Supervisor) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut sup = Supervisor::new(binaries)?;
        body(&mut sup)
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The binaries in use.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }
    /// A node by name.
    pub fn node(&self, name: &str) -> Result<&Node, RealError> {
        self.nodes
            .get(name)
            .ok_or_else(|| RealError::UnknownNode(name.to_string()))
    }
    /// The address a node listens on.
    pub fn addr(&self, name: &str) -> Result<SocketAddr, RealError> {
        Ok(self.node(name)?.addr)
    }
    /// Every node, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Starts a `redis-server` on a free port of `spec.ip` and waits until it answers PING.
    pub fn start_server(&mut self, spec: &ServerSpec) -> Result<SocketAddr, RealError> {
        self.start(
            &spec.name,
            spec.ip,
            NodeKind::Server,
            &spec.knobs(),
            spec.cluster_bus,
        )
    }

    /// Starts a `redis-sentinel` on a free port of `spec.ip` and waits until it answers PING.
    pub fn start_sentinel(&mut self, spec: &SentinelSpec) -> Result<SocketAddr, RealError> {
        self.start(
            &spec.name,
            spec.ip,
            NodeKind::Sentinel,
            &spec.knobs(),
            false,
        )
    }

    /// The address node `name`'s cluster bus listens on, for a Redis Cluster node.
    pub fn bus_addr(&self, name: &str) -> Result<Option<SocketAddr>, RealError> {
        Ok(self.node(name)?.bus_addr)
    }

    fn start(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        kind: NodeKind,
        knobs: &[(String, String)],
        cluster_bus: bool,
    ) -> Result<SocketAddr, RealError> {
        if self.nodes.contains_key(name) {
            return Err(RealError::DuplicateNode(name.to_string()));
        }
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let addr = free_port(ip)?;
            let bus_addr = if cluster_bus {
                Some(free_port_besides(ip, addr)?)
            } else {
                None
            };
            let mut node = Node {
                name: name.to_string(),
                kind,
                addr,
                bus_addr,
                dir: dir.clone(),
                child: None,
            };
            fs::write(node.config_path(), render_config(&node, knobs))
                .map_err(io_err(format!("writing {}", node.config_path().display())))?;
            match self.launch(&mut node) {
                Ok(()) => {
                    self.nodes.insert(name.to_string(), node);
                    return Ok(addr);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn launch(&mut self, node: &mut Node) -> Result<(), RealError> {
        let binary = match node.kind {
            NodeKind::Server => &self.binaries.redis_server,
            NodeKind::Sentinel => &self.binaries.redis_sentinel,
        };
        let mut cmd = Command::new(binary);
        cmd.arg(node.config_path())
            .current_dir(&node.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(io_err(format!("starting {}", binary.display())))?;
        self.track(child.id());
        node.child = Some(child);
        wait_ready(node).inspect_err(|_| {
            if let Some(mut c) = node.child.take() {
                let _ = c.kill();
                let _ = c.wait();
                self.untrack(c.id());
            }
        })
    }

    fn track(&self, pid: u32) {
        if let Some((_, pids)) = live().get_mut(&self.run_id) {
            pids.push(pid);
        }
    }

    fn untrack(&self, pid: u32) {
        if let Some((_, pids)) = live().get_mut(&self.run_id) {
            pids.retain(|p| *p != pid);
        }
    }

    fn running(&mut self, name: &str) -> Result<&mut Node, RealError> {
        let node = self
            .nodes
            .get_mut(name)
            .ok_or_else(|| RealError::UnknownNode(name.to_string()))?;
        if node.child.is_none() {
            return Err(RealError::NotRunning(name.to_string()));
        }
        Ok(node)
    }

    /// SIGSTOP: the process stops running but keeps its sockets open, as a stalled machine.
    pub fn pause(&mut self, name: &str) -> Result<(), RealError> {
        self.send(name, libc::SIGSTOP)
    }

    /// SIGCONT after a pause.
    pub fn resume(&mut self, name: &str) -> Result<(), RealError> {
        self.send(name, libc::SIGCONT)
    }

    fn send(&mut self, name: &str, sig: libc::c_int) -> Result<(), RealError> {
        let pid = self.running(name)?.pid().expect("running");
        if signal(pid, sig) {
            Ok(())
        } else {
            Err(RealError::Io(
                format!("signalling {name}"),
                io::Error::last_os_error(),
            ))
        }
    }

    /// SIGKILL: a crash; what was not written to disk is lost.
    pub fn kill(&mut self, name: &str) -> Result<(), RealError> {
        let node = self.running(name)?;
        let mut child = node.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
        self.untrack(child.id());
        Ok(())
    }

    /// A clean stop: SIGTERM (Redis saves if configured to), then SIGKILL after a timeout.
    pub fn stop(&mut self, name: &str) -> Result<(), RealError> {
        let node = self.running(name)?;
        let mut child = node.child.take().expect("running");
        let pid = child.id();
        signal(pid, libc::SIGCONT);
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.untrack(pid);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.untrack(pid);
        Ok(())
    }

    /// Starts a killed or stopped node again from its directory, config and port.
    pub fn restart(&mut self, name: &str) -> Result<(), RealError> {
        let mut node = self
            .nodes
            .remove(name)
            .ok_or_else(|| RealError::UnknownNode(name.to_string()))?;
        let result = if node.child.is_some() {
            Err(RealError::StillRunning(name.to_string()))
        } else {
            self.launch(&mut node)
        };
        self.nodes.insert(name.to_string(), node);
        result
    }

    /// A connection to a node from `from` with `timeout` per command.
    pub fn connect(
        &self,
        name: &str,
        from: Ipv4Addr,
        timeout: Duration,
    ) -> Result<Connection, RealError> {
        let to = self.addr(name)?;
        Connection::connect(SocketAddr::new(from.into(), 0), to, timeout)
            .map_err(|e| RealError::Io(format!("connecting to {name}"), to_io(e)))
    }
}

fn to_io(e: super::resp::RespError) -> io::Error {
    match e {
        super::resp::RespError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            if let Some(mut c) = node.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        live().remove(&self.run_id);
    }
}

fn free_port(ip: Ipv4Addr) -> Result<SocketAddr, RealError> {
    if !ip.is_loopback() {
        return Err(RealError::NotLoopback(ip));
    }
    let l = TcpListener::bind((ip, 0)).map_err(io_err(format!("finding a free port on {ip}")))?;
    l.local_addr()
        .map_err(io_err(format!("finding a free port on {ip}")))
}

/// A free port of `ip` other than `taken`'s (the client port just picked, not yet bound).
fn free_port_besides(ip: Ipv4Addr, taken: SocketAddr) -> Result<SocketAddr, RealError> {
    for _ in 0..START_ATTEMPTS {
        let addr = free_port(ip)?;
        if addr != taken {
            return Ok(addr);
        }
    }
    Err(RealError::Io(
        format!("finding a second free port on {ip}"),
        io::Error::from(io::ErrorKind::AddrInUse),
    ))
}

fn render_config(node: &Node, knobs: &[(String, String)]) -> String {
    let ip = node.addr.ip();
    let mut lines = vec![
        format!("port {}", node.addr.port()),
        format!("bind {ip}"),
        format!("dir {}", node.dir.display()),
        format!("logfile {}", node.log_path().display()),
        "daemonize no".to_string(),
        "protected-mode no".to_string(),
        format!("pidfile {}", node.dir.join("redis.pid").display()),
    ];
    // Outgoing links (replica to primary, sentinel to anyone) leave from the node's own address,
    // so a link proxy can tell who is talking. Sentinel honours it too (sentinel.c:
    // instanceLinkConnection uses redisAsyncConnectBind with server.bind_source_addr).
    lines.push(format!("bind-source-addr {ip}"));
    if let Some(bus) = node.bus_addr {
        // cluster.c: clusterInit listens on cluster_port when it is set, else port + 10000.
        lines.push("cluster-enabled yes".to_string());
        lines.push(format!("cluster-port {}", bus.port()));
        lines.push(format!(
            "cluster-config-file {}",
            node.dir.join("nodes.conf").display()
        ));
    }
    lines.extend(knobs.iter().map(|(k, v)| format!("{k} {v}")));
    lines.join("\n") + "\n"
}

fn wait_ready(node: &mut Node) -> Result<(), RealError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let from = SocketAddr::new(node.addr.ip(), 0);
    loop {
        let child = node.child.as_mut().expect("launched");
        if let Ok(Some(status)) = child.try_wait() {
            return Err(not_ready(node, &format!("exited with {status}")));
        }
        if let Ok(mut c) = Connection::connect(from, node.addr, Duration::from_millis(500))
            && let Ok(Reply::Simple(pong)) = c.cmd(&["PING"])
            && pong == "PONG"
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(not_ready(node, "did not answer PING within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn not_ready(node: &Node, why: &str) -> RealError {
    let log = fs::read_to_string(node.log_path()).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    RealError::NotReady(format!(
        "{} at {} {why}; its log ends with:\n{}",
        node.name,
        node.addr,
        tail.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = RedisVersion::parse(
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0",
        )
        .unwrap();
        assert_eq!(
            v,
            RedisVersion {
                major: 7,
                minor: 0,
                patch: 15
            }
        );
        assert_eq!(v.to_string(), "7.0.15");
        assert!(v < RedisVersion::parse("v=7.2.4").unwrap());
        assert_eq!(RedisVersion::parse("no version here"), None);
    }

    #[test]
    fn config_has_every_knob_as_redis_conf_spells_it() {
        let mut spec = ServerSpec::new("r1", Ipv4Addr::new(127, 0, 0, 3));
        spec.save = Some(String::new());
        spec.appendonly = Some(true);
        spec.appendfsync = Some("always".into());
        spec.repl_backlog_size = Some("16kb".into());
        spec.repl_timeout = Some(5);
        spec.min_replicas_to_write = Some(1);
        spec.replicaof = Some("127.0.0.2:7000".parse().unwrap());
        spec.replica_announce_ip = Some(Ipv4Addr::new(127, 0, 1, 3));
        spec.replica_announce_port = Some(7001);
        let node = Node {
            name: "r1".into(),
            kind: NodeKind::Server,
            addr: "127.0.0.3:7002".parse().unwrap(),
            bus_addr: None,
            dir: PathBuf::from("/tmp/x/r1"),
            child: None,
        };
        let text = render_config(&node, &spec.knobs());
        for line in [
            "port 7002",
            "bind 127.0.0.3",
            "bind-source-addr 127.0.0.3",
            "dir /tmp/x/r1",
            "logfile /tmp/x/r1/redis.log",
            "save \"\"",
            "appendonly yes",
            "appendfsync always",
            "repl-backlog-size 16kb",
            "repl-timeout 5",
            "min-replicas-to-write 1",
            "replicaof 127.0.0.2 7000",
            "replica-announce-ip 127.0.1.3",
            "replica-announce-port 7001",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn sentinel_config() {
        let spec = SentinelSpec {
            name: "s1".into(),
            ip: Ipv4Addr::new(127, 0, 0, 9),
            monitors: vec![Monitor {
                primary_name: "mymaster".into(),
                addr: "127.0.1.1:7000".parse().unwrap(),
                quorum: 2,
                down_after_milliseconds: Some(5000),
                failover_timeout: Some(60000),
                parallel_syncs: Some(1),
            }],
            announce_ip: Some(Ipv4Addr::new(127, 0, 1, 9)),
            announce_port: Some(26379),
            extra: vec![],
        };
        let k: Vec<String> = spec
            .knobs()
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        assert_eq!(
            k,
            [
                "sentinel monitor mymaster 127.0.1.1 7000 2",
                "sentinel down-after-milliseconds mymaster 5000",
                "sentinel failover-timeout mymaster 60000",
                "sentinel parallel-syncs mymaster 1",
                "sentinel announce-ip 127.0.1.9",
                "sentinel announce-port 26379",
            ]
        );
    }
}

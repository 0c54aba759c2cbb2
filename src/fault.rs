//! Faults: what can go wrong, when, and to whom. A fault starts at `at` and optionally heals at
//! `heal`; the world applies it to the kernel and the network and records it in the trace.

use crate::sim::ProcessId;

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Cut links from every process in `a` to every process in `b` (and back unless `one_way`).
    Partition {
        /// One side.
        a: Vec<ProcessId>,
        /// The other side.
        b: Vec<ProcessId>,
        /// Only `a → b` is cut.
        one_way: bool,
    },
    /// Packet loss (parts per million) on links between `a` and `b`, both ways.
    Loss {
        /// One side.
        a: Vec<ProcessId>,
        /// The other side.
        b: Vec<ProcessId>,
        /// Loss rate in parts per million.
        ppm: u32,
    },
    /// Extra one-way latency on links between `a` and `b`, both ways.
    Latency {
        /// One side.
        a: Vec<ProcessId>,
        /// The other side.
        b: Vec<ProcessId>,
        /// Extra latency in nanoseconds.
        extra_ns: u64,
    },
    /// Crash servers: a process crash (kill -9, the page cache survives) or a machine crash (power
    /// loss: what was not fsynced is gone). The heal restarts them.
    Crash {
        /// The crashed processes.
        nodes: Vec<ProcessId>,
        /// Machine crash rather than process crash.
        machine: bool,
        /// Restart with an empty disk.
        wipe_disk: bool,
    },
    /// SIGSTOP; the heal is SIGCONT.
    Pause {
        /// The paused processes.
        nodes: Vec<ProcessId>,
    },
    /// The disk stops completing fsyncs (AOF `fsynced` freezes; what is written stays in the page
    /// cache). The heal lets fsyncs complete again.
    DiskStall {
        /// The affected servers.
        nodes: Vec<ProcessId>,
    },
    /// The disk refuses writes (`ENOSPC` or `EIO`): the AOF's writes and BGSAVE fail until the
    /// heal.
    DiskError {
        /// The affected servers.
        nodes: Vec<ProcessId>,
        /// How writes fail.
        error: DiskError,
    },
    /// Each fsync takes `fsync_ns` longer until the heal.
    SlowDisk {
        /// The affected servers.
        nodes: Vec<ProcessId>,
        /// Extra time per fsync, in nanoseconds.
        fsync_ns: u64,
    },
    /// An operator adds a server: a standby machine (or one removed earlier) starts with an
    /// empty disk as a replica of `primary`, or of the primary the sentinels name at that
    /// moment (`SENTINEL get-master-addr-by-name`).
    AddServer {
        /// The server.
        node: ProcessId,
        /// Its primary, when the scenario names it.
        primary: Option<ProcessId>,
    },
    /// An operator takes a server out: its process stops (its sockets close) and it stays down
    /// until added again.
    RemoveServer {
        /// The server.
        node: ProcessId,
    },
    /// An operator's failover: `REPLICAOF NO ONE` on `target` at the start, and
    /// `REPLICAOF target` on every other server at the heal (immediately when the fault has no
    /// heal). A server that is down gets its config file rewritten instead.
    Failover {
        /// The replica to promote.
        target: ProcessId,
        /// Every other server.
        others: Vec<ProcessId>,
    },
    /// An operator's command to one server from its console (redis-cli on its machine).
    Command {
        /// The server.
        node: ProcessId,
        /// The command.
        command: AdminCommand,
        /// The command as written, for the trace.
        text: String,
    },
    /// `redis-cli --cluster reshard`: move the slots `first..=last` from the primary `from` to
    /// the primary `to`, slot by slot (`CLUSTER SETSLOT ... IMPORTING` on `to`, `MIGRATING` on
    /// `from`, `MIGRATE` of `batch` keys at a time, `interval_ns` apart, then `SETSLOT ... NODE`
    /// on every primary). A failed `MIGRATE` is retried at the next step.
    Reshard {
        /// The primary the slots leave.
        from: ProcessId,
        /// The primary they go to.
        to: ProcessId,
        /// The first slot.
        first: u16,
        /// The last slot (inclusive).
        last: u16,
        /// Keys per `MIGRATE` (`--cluster-pipeline`, 10).
        batch: u32,
        /// Time between two steps.
        interval_ns: u64,
        /// `MIGRATE`'s timeout in ms (`--cluster-timeout`, 60000).
        timeout_ms: u64,
    },
    /// Shift processes' local clocks and set their drift (Redis and Sentinel time out on local
    /// clocks). The heal removes the drift but keeps the jump (clocks do not jump back).
    Clock {
        /// The affected processes.
        nodes: Vec<ProcessId>,
        /// Jump in nanoseconds (may be negative).
        jump_ns: i64,
        /// Drift in parts per million.
        drift_ppm: i64,
    },
}

impl FaultKind {
    /// The kind's name as in scenario files and the summary.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { one_way: true, .. } => "one-way-partition",
            FaultKind::Partition { .. } => "partition",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Crash { machine: true, .. } => "machine-crash",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Pause { .. } => "pause",
            FaultKind::Clock { .. } => "clock",
            FaultKind::Failover { .. } => "failover",
            FaultKind::Command { .. } => "command",
            FaultKind::DiskStall { .. } => "disk-stall",
            FaultKind::DiskError { .. } => "disk-error",
            FaultKind::SlowDisk { .. } => "slow-disk",
            FaultKind::AddServer { .. } => "add-server",
            FaultKind::RemoveServer { .. } => "remove-server",
            FaultKind::Reshard { .. } => "reshard",
        }
    }
}

/// How a failing disk refuses a write (the `errno` Redis reports with `strerror`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskError {
    /// `ENOSPC`: the disk is full.
    Full,
    /// `EIO`: the device fails.
    Io,
}

impl DiskError {
    /// The name in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            DiskError::Full => "full",
            DiskError::Io => "io",
        }
    }
    /// `strerror(errno)`.
    pub fn strerror(self) -> &'static str {
        match self {
            DiskError::Full => "No space left on device",
            DiskError::Io => "Input/output error",
        }
    }
}

/// A command an operator sends to one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminCommand {
    /// `REPLICAOF host port` (a server of the scenario), or `REPLICAOF NO ONE`.
    ReplicaOf(Option<ProcessId>),
    /// `CLIENT KILL TYPE replica`: every replica's connection is closed.
    KillReplicas,
    /// `CONFIG SET repl-backlog-size <bytes>`.
    SetBacklogSize(u64),
    /// `INFO replication`: the reply records the server's replication state at that moment.
    InfoReplication,
    /// `CLIENT PAUSE <ms> WRITE|ALL`: clients' commands (only the writes, or all) wait until
    /// the pause ends; replicas and the replication stream go on.
    Pause {
        /// The pause in nanoseconds.
        ns: u64,
        /// `WRITE` rather than `ALL`.
        writes_only: bool,
    },
    /// A data command (`SET`, `GET`, `INCR`, `DEL`, `APPEND`, `SADD`, `SMEMBERS`) or `WAIT`, run
    /// on the console's own connection like any client's (WAIT waits for the stream as it stood
    /// after the console's previous command).
    /// The words, checked when the scenario is read.
    Data(Vec<String>),
    /// `BGSAVE`: an RDB child writes dump.rdb.
    Bgsave,
    /// `SAVE`: the server writes dump.rdb itself and answers nothing meanwhile.
    Save,
    /// `SHUTDOWN [NOSAVE|SAVE]`: the server lets its replicas catch up (up to `shutdown-timeout`),
    /// saves when asked to or when `save` rules are set, and exits.
    Shutdown(ShutdownSave),
    /// `DEBUG SLEEP <seconds>`: the server's event loop sleeps (refused unless
    /// `enable-debug-command` allows the console).
    DebugSleep {
        /// The sleep in nanoseconds.
        ns: u64,
    },
    /// `FAILOVER [TO <server> [FORCE]] [TIMEOUT <ms>]` (Redis 6.2+), sent to a primary: it
    /// pauses writes, waits for the target replica to catch up, then hands over its role.
    Failover {
        /// `TO`: the replica that takes over (any caught-up replica without it).
        to: Option<ProcessId>,
        /// `FORCE`: hand over at the timeout even if the target has not caught up.
        force: bool,
        /// `TIMEOUT` in milliseconds (0: none).
        timeout_ms: u64,
    },
    /// `FAILOVER ABORT`.
    FailoverAbort,
    /// `SENTINEL FAILOVER <master-name>`, sent to a sentinel: a failover now, with no agreement
    /// that the primary is down and no election.
    SentinelFailover(String),
    /// `SENTINEL RESET <pattern>` at a sentinel: every primary whose name matches the glob
    /// forgets its replicas and the other sentinels, and rediscovers them.
    SentinelReset(String),
    /// `CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|NODE <server>` or `STABLE`.
    SetSlot {
        /// The slot.
        slot: u16,
        /// What to do.
        action: SlotAction,
    },
    /// `MIGRATE <host> <port> "" 0 <timeout> REPLACE KEYS <key>...`: the server sends the keys
    /// to `to` and deletes them once `to` has them, blocked until it answers or `timeout_ms`.
    Migrate {
        /// The receiving server.
        to: ProcessId,
        /// The keys.
        keys: Vec<String>,
        /// The I/O timeout, ms.
        timeout_ms: u64,
    },
    /// `CLUSTER FAILOVER [FORCE|TAKEOVER]`, sent to a Redis Cluster replica.
    ClusterFailover {
        /// `FORCE` (or `TAKEOVER`): no handshake with the primary.
        force: bool,
        /// `TAKEOVER`: no election either.
        takeover: bool,
    },
}

/// What `SHUTDOWN` does about an RDB save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownSave {
    /// No modifier: save when `save` rules are configured.
    Default,
    /// `NOSAVE`.
    NoSave,
    /// `SAVE`.
    Save,
}

impl AdminCommand {
    /// The command's words as Redis reads them, for both backends; `None` for `REPLICAOF
    /// <server>`, `FAILOVER TO <server>`, `CLUSTER SETSLOT ... <server>` and `MIGRATE`, whose
    /// addresses and node IDs each backend supplies.
    pub fn words(&self) -> Option<Vec<String>> {
        let w: &[&str] = match self {
            AdminCommand::ReplicaOf(Some(_)) => return None,
            AdminCommand::ReplicaOf(None) => &["REPLICAOF", "NO", "ONE"],
            AdminCommand::KillReplicas => &["CLIENT", "KILL", "TYPE", "replica"],
            AdminCommand::InfoReplication => &["INFO", "replication"],
            AdminCommand::SetBacklogSize(b) => {
                let size = b.to_string();
                return Some(
                    ["CONFIG", "SET", "repl-backlog-size", &size]
                        .map(String::from)
                        .to_vec(),
                );
            }
            AdminCommand::Pause { ns, writes_only } => {
                let ms = (ns / 1_000_000).to_string();
                let mode = if *writes_only { "WRITE" } else { "ALL" };
                return Some(["CLIENT", "PAUSE", &ms, mode].map(String::from).to_vec());
            }
            AdminCommand::Data(words) => return Some(words.clone()),
            AdminCommand::Bgsave => &["BGSAVE"],
            AdminCommand::Save => &["SAVE"],
            AdminCommand::Shutdown(ShutdownSave::Default) => &["SHUTDOWN"],
            AdminCommand::Shutdown(ShutdownSave::NoSave) => &["SHUTDOWN", "NOSAVE"],
            AdminCommand::Shutdown(ShutdownSave::Save) => &["SHUTDOWN", "SAVE"],
            AdminCommand::DebugSleep { ns } => {
                let secs = format_seconds(*ns);
                return Some(["DEBUG", "SLEEP", &secs].map(String::from).to_vec());
            }
            AdminCommand::Failover { to: Some(_), .. } => return None,
            AdminCommand::Failover {
                to: None,
                timeout_ms,
                ..
            } => {
                let mut w = vec!["FAILOVER".to_string()];
                if *timeout_ms > 0 {
                    w.extend(["TIMEOUT".to_string(), timeout_ms.to_string()]);
                }
                return Some(w);
            }
            AdminCommand::FailoverAbort => &["FAILOVER", "ABORT"],
            AdminCommand::SentinelFailover(name) => {
                return Some(["SENTINEL", "FAILOVER", name].map(String::from).to_vec());
            }
            AdminCommand::SentinelReset(pattern) => {
                return Some(["SENTINEL", "RESET", pattern].map(String::from).to_vec());
            }
            AdminCommand::ClusterFailover { takeover: true, .. } => {
                &["CLUSTER", "FAILOVER", "TAKEOVER"]
            }
            AdminCommand::ClusterFailover { force: true, .. } => &["CLUSTER", "FAILOVER", "FORCE"],
            AdminCommand::ClusterFailover { .. } => &["CLUSTER", "FAILOVER"],
            AdminCommand::SetSlot {
                slot,
                action: SlotAction::Stable,
            } => {
                let slot = slot.to_string();
                return Some(
                    ["CLUSTER", "SETSLOT", &slot, "STABLE"]
                        .map(String::from)
                        .to_vec(),
                );
            }
            // Node IDs and addresses are each backend's.
            AdminCommand::SetSlot { .. } | AdminCommand::Migrate { .. } => return None,
        };
        Some(w.iter().map(|x| x.to_string()).collect())
    }
}

/// Seconds as DEBUG SLEEP reads them (a decimal, e.g. `1.5`).
fn format_seconds(ns: u64) -> String {
    let whole = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The action of `CLUSTER SETSLOT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotAction {
    /// `MIGRATING <server>`.
    Migrating(ProcessId),
    /// `IMPORTING <server>`.
    Importing(ProcessId),
    /// `NODE <server>`.
    Node(ProcessId),
    /// `STABLE`.
    Stable,
}

/// A scheduled fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    /// What it does.
    pub kind: FaultKind,
    /// The names the user gave as targets (for reports).
    pub targets: Vec<String>,
    /// The kind as the user wrote it (`region-outage`, `isolate`, `partition`, ...).
    pub label: String,
    /// Start time.
    pub at_ns: u64,
    /// Heal time, if it heals before the run's final heal.
    pub heal_ns: Option<u64>,
}

/// A fault as it happened, for the summary.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FaultRecord {
    /// The kind as the user wrote it.
    pub kind: String,
    /// Target names.
    pub targets: Vec<String>,
    /// Start, in simulated milliseconds.
    pub at_ms: u64,
    /// Heal, in simulated milliseconds (`null` if it never healed).
    pub healed_ms: Option<u64>,
}

/// Every directed link a partition-like fault touches, each once, in a fixed order.
pub fn directed_links(
    a: &[ProcessId],
    b: &[ProcessId],
    one_way: bool,
) -> Vec<(ProcessId, ProcessId)> {
    let mut out = std::collections::BTreeSet::new();
    for &x in a {
        for &y in b {
            if x == y {
                continue;
            }
            out.insert((x, y));
            if !one_way {
                out.insert((y, x));
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_deduplicated_and_directional() {
        let p = |i| ProcessId(i);
        let both = directed_links(&[p(0), p(1)], &[p(1), p(2)], false);
        assert_eq!(both.len(), 6, "0<->1, 0<->2, 1<->2; no self-link");
        let one = directed_links(&[p(0)], &[p(2)], true);
        assert_eq!(one, vec![(p(0), p(2))]);
    }
}

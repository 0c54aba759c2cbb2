//! The messages simulated processes exchange: client commands and replies, the replication
//! protocol (handshake, PSYNC, RDB transfer, stream, ACKs) and Sentinel's commands.

use std::rc::Rc;

use crate::cluster::bus::BusMessage;
pub use crate::redis::Hello;
use crate::redis::{Command, Keyspace, ReplId, Reply, StreamEntry};
use crate::sim::{Message, ProcessId};

/// A server's answer to `INFO replication` (what Sentinel reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoReply {
    /// Whether the server is a primary.
    pub is_master: bool,
    /// The primary it replicates from, if a replica.
    pub master: Option<ProcessId>,
    /// Whether the replica's link to its primary is up (`master_link_status:up`).
    pub master_link_up: bool,
    /// Seconds since a connected link was lost (`master_link_down_since_seconds`): -1 before
    /// any link was lost (`repl_down_since` is 0), 0 while the link is up.
    pub master_link_down_secs: i64,
    /// `master_repl_offset` (or `slave_repl_offset` on a replica).
    pub offset: u64,
    /// `replica-priority`.
    pub priority: u32,
    /// The replication ID.
    pub replid: ReplId,
    /// The server's run ID (drawn at each start).
    pub run_id: ReplId,
    /// Connected replicas with their acknowledged offsets (a primary's `slaveN:` lines).
    pub replicas: Vec<(ProcessId, u64)>,
}

/// Everything that crosses the simulated network.
#[derive(Clone, Debug)]
pub enum Msg {
    /// A client command with the client's request id.
    Request {
        /// Client-chosen id echoed in the reply.
        id: u64,
        /// The command.
        cmd: Command,
    },
    /// A reply to a [`Msg::Request`].
    Reply {
        /// The request id.
        id: u64,
        /// The reply.
        reply: Reply,
        /// Where a write the server applied as a primary landed in its replication history
        /// (`master_replid`, `master_repl_offset` right after it, and its count among the
        /// unstreamed writes of a primary without backlog). An observation for the checkers'
        /// lineage, not bytes on the wire.
        at: Option<crate::redis::Mark>,
    },
    /// Replica → primary: `PING` opening a replication connection.
    ReplPing {
        /// The replica's connection id.
        conn: u64,
    },
    /// Primary → replica: `+PONG`.
    ReplPong {
        /// The connection id.
        conn: u64,
    },
    /// Replica → primary: pipelined `REPLCONF listening-port` and `REPLCONF capa eof capa psync2`.
    Replconf {
        /// The connection id.
        conn: u64,
    },
    /// Primary → replica: `+OK` to the REPLCONFs.
    ReplconfOk {
        /// The connection id.
        conn: u64,
    },
    /// Replica → primary: `PSYNC <replid> <offset>` (`PSYNC ? -1` when `from` is `None`).
    Psync {
        /// The connection id.
        conn: u64,
        /// The cached primary's ID and the first offset the replica lacks.
        from: Option<(ReplId, u64)>,
        /// `PSYNC ... FAILOVER`: a primary handing its role to this replica (FAILOVER command).
        failover: bool,
    },
    /// Primary → replica: `+FULLRESYNC <replid> <offset>`.
    FullResync {
        /// The connection id.
        conn: u64,
        /// The primary's replid.
        replid: ReplId,
        /// The offset the snapshot corresponds to.
        offset: u64,
    },
    /// Primary → replica: `+CONTINUE <replid>`.
    Continue {
        /// The connection id.
        conn: u64,
        /// The primary's current replid.
        replid: ReplId,
    },
    /// Primary → replica: an error to PSYNC (`-NOMASTERLINK ...`, `-LOADING ...`).
    SyncError {
        /// The connection id.
        conn: u64,
        /// The error text.
        text: &'static str,
    },
    /// Primary → replica: a part of the RDB payload of a full resync that is not the last
    /// one (each read of the payload is I/O for `repl-timeout`, as in `readSyncBulkPayload`).
    RdbChunk {
        /// The connection id.
        conn: u64,
        /// Bytes in this part.
        bytes: u64,
        /// The transfer it belongs to.
        transfer: Rc<RdbTransfer>,
    },
    /// Primary → replica: the last part of the RDB payload of a full resync.
    Rdb {
        /// The connection id.
        conn: u64,
        /// Bytes in this part.
        bytes: u64,
        /// The transfer it ends.
        transfer: Rc<RdbTransfer>,
    },
    /// Primary → replica: entries of the replication stream.
    Stream {
        /// The connection id.
        conn: u64,
        /// Contiguous entries.
        entries: Vec<Rc<StreamEntry>>,
    },
    /// Replica → primary: `REPLCONF ACK <offset> FACK <aof-offset>`.
    Ack {
        /// The connection id.
        conn: u64,
        /// Replication offset processed.
        offset: u64,
        /// 7.2's `FACK`: the offset the replica's AOF has fsynced (`None`: not sent, as by
        /// 7.0 or a replica without AOF).
        aof: Option<u64>,
    },
    /// The OS of a killed process to a client: the command with this request id reached a
    /// closed port (ECONNREFUSED on a new connection, a reset on an old one): it never ran.
    Refused {
        /// The request id.
        id: u64,
    },
    /// Either side closed the connection (FIN / RST).
    Close {
        /// The connection id.
        conn: u64,
    },
    /// Sentinel → server: `REPLICAOF host port` (or `NO ONE`), followed by `CONFIG REWRITE`.
    ReplicaOf {
        /// The new primary, or `None` for `REPLICAOF NO ONE`.
        master: Option<ProcessId>,
    },
    /// Operator console → server: an administrative command (`CLIENT KILL TYPE replica`,
    /// `CONFIG SET repl-backlog-size`); the server notes its reply.
    Admin(crate::fault::AdminCommand),
    /// Sentinel → server: `INFO` (and `PING`).
    Info {
        /// Request id echoed in the reply.
        id: u64,
    },
    /// Server → sentinel: the INFO reply.
    InfoReply {
        /// The request id.
        id: u64,
        /// The replication section.
        info: Box<InfoReply>,
    },
    /// Primary → replica: the `\n` keep-alive a primary sends while preparing an RDB, and an
    /// intermediate replica sends to its sub-replicas while its own link is down. Counts as I/O
    /// for timeouts but carries no stream bytes.
    KeepAlive {
        /// The connection id.
        conn: u64,
    },
    /// Sentinel → server or sentinel: `PING`.
    Ping {
        /// Request id echoed in the reply.
        id: u64,
    },
    /// A reply to a [`Msg::Ping`]: `+PONG` (`-LOADING` and `-MASTERDOWN` count as alive too), or
    /// an error that does not (`-MISCONF` from a server whose disk fails).
    Pong {
        /// The request id.
        id: u64,
        /// The reply was an error Sentinel does not count as available.
        refused: bool,
    },
    /// A Sentinel hello (`PUBLISH __sentinel__:hello ...`): sent to a monitored server, which
    /// relays it to every sentinel subscribed to it.
    Hello(Rc<Hello>),
    /// Sentinel → sentinel: `SENTINEL is-master-down-by-addr <ip> <port> <epoch> <runid|*>`.
    IsMasterDown {
        /// Request id.
        id: u64,
        /// The monitored primary's name.
        name: Rc<str>,
        /// The primary asked about.
        master: ProcessId,
        /// The asker's current epoch.
        epoch: u64,
        /// `Some(asker)` to ask for a vote, `None` (`*`) to ask only about the state.
        vote_for: Option<ProcessId>,
    },
    /// Sentinel → sentinel: the reply (`down_state`, `leader_runid`, `leader_epoch`).
    IsMasterDownReply {
        /// The request id.
        id: u64,
        /// Whether the replier sees the primary as SDOWN.
        down: bool,
        /// Whom the replier voted for in `leader_epoch`.
        leader: Option<ProcessId>,
        /// The epoch of that vote.
        leader_epoch: u64,
    },
    /// Client → sentinel: `SENTINEL get-master-addr-by-name <name>`.
    GetMasterAddr {
        /// Request id.
        id: u64,
        /// The monitored primary's name.
        name: Rc<str>,
        /// Whether the asker also hears this sentinel's `+switch-master` pushes afterwards.
        subscribe: bool,
    },
    /// Client → sentinel: `SUBSCRIBE +switch-master`, for pushes about primary `name`.
    Subscribe {
        /// The monitored primary's name.
        name: Rc<str>,
    },
    /// Sentinel → client: the primary's address (or nil when unknown).
    MasterAddr {
        /// The request id.
        id: u64,
        /// The primary.
        master: Option<ProcessId>,
    },
    /// Sentinel → subscribed client: a `+switch-master` event.
    SwitchMaster {
        /// The monitored primary's name.
        name: Rc<str>,
        /// The new primary.
        master: ProcessId,
    },
    /// Cluster node → cluster node: a message on the cluster bus (port + 10000), charged by
    /// its `totlen` (`BusMessage::size_bytes`).
    ClusterBus(Rc<BusMessage>),
    /// Client → cluster node: `ASKING`, so that its next command may run on a slot this node is
    /// importing (`cluster.c: askingCommand`); answered `+OK` with the request id.
    Asking {
        /// Request id echoed in the reply.
        id: u64,
    },
    /// Cluster node → cluster node: the keys of a `MIGRATE`, one `RESTORE-ASKING ... REPLACE`
    /// each (`cluster.c: migrateCommand`).
    MigrateKeys {
        /// The MIGRATE's id, echoed in the reply.
        id: u64,
        /// Each key with its value (`DUMP` payload).
        keys: Rc<Vec<(Rc<str>, crate::redis::Value)>>,
    },
    /// Cluster node → cluster node: the target's answer to a `MIGRATE`: `Ok`, or the error of
    /// the first key it refused.
    MigrateReply {
        /// The MIGRATE's id.
        id: u64,
        /// `None` when every key was restored.
        error: Option<Rc<str>>,
    },
    /// Client → cluster node: `CLUSTER SLOTS`, the slot map as this node sees it
    /// (`cluster.c: clusterReplyMultiBulkSlots`).
    ClusterSlots {
        /// Request id echoed in the reply.
        id: u64,
    },
    /// Cluster node → client: its slot map, as runs of slots with the process serving them
    /// (`None`: unassigned, left out of Redis's reply).
    SlotsReply {
        /// The request id.
        id: u64,
        /// First slot, last slot, owner.
        ranges: Rc<Vec<(u16, u16, Option<ProcessId>)>>,
        /// Each owner's replicas listed with its slots (available ones only), by owner.
        replicas: Rc<Vec<(ProcessId, Vec<ProcessId>)>>,
    },
    /// Client → cluster node: `READONLY`, so that this connection may read keys of the slots
    /// of the node's primary (`cluster.c: readonlyCommand`); answered `+OK` with the request id.
    ReadOnly {
        /// Request id echoed in the reply.
        id: u64,
    },
}

/// Bytes per part of an RDB payload: small enough that a part crosses even a slow link well
/// within `repl-timeout`.
pub const RDB_CHUNK_BYTES: u64 = 64 * 1024;

/// One RDB transfer, shared by its parts.
#[derive(Debug)]
pub struct RdbTransfer {
    /// The dataset at the snapshot's offset.
    pub snapshot: Rc<Keyspace>,
    /// Bytes of the whole RDB.
    pub size: u64,
    /// Set by the primary when it closes the connection before the whole payload left its
    /// output buffer: the rest never arrives, and the replica sees a short read.
    pub truncated: std::cell::Cell<bool>,
}

impl RdbTransfer {
    /// The messages that carry `snapshot` to a replica on `conn`, in order.
    pub fn messages(conn: u64, snapshot: Rc<Keyspace>) -> (Rc<RdbTransfer>, Vec<Msg>) {
        let size = snapshot.rdb_size_bytes();
        let transfer = Rc::new(RdbTransfer {
            snapshot,
            size,
            truncated: std::cell::Cell::new(false),
        });
        let mut msgs = Vec::new();
        let mut left = size;
        while left > RDB_CHUNK_BYTES {
            let bytes = RDB_CHUNK_BYTES;
            let transfer = transfer.clone();
            msgs.push(Msg::RdbChunk {
                conn,
                bytes,
                transfer,
            });
            left -= bytes;
        }
        let last = Msg::Rdb {
            conn,
            bytes: left,
            transfer: transfer.clone(),
        };
        msgs.push(last);
        (transfer, msgs)
    }
}

impl crate::sim::Vocabulary for Msg {
    type Fact = crate::fact::Fact;
}

impl crate::sim::Observation for crate::fact::Fact {
    fn kind(&self) -> &'static str {
        crate::fact::Fact::kind(self)
    }
}

impl Message for Msg {
    /// A killed server's OS resets the connection a message came on: the peer reads a closed
    /// connection (a client's command, every message of the replication protocol in either
    /// direction). Sentinel links, hellos, the cluster bus and replies to a dead client get no
    /// answer that changes anything: Sentinel and Cluster judge a peer by how long it has not
    /// answered (`sentinelCheckSubjectivelyDown`, `clusterCron`), not by its connection.
    fn refusal(&self) -> Option<Msg> {
        let conn = match self {
            Msg::Request { id, .. }
            | Msg::Asking { id }
            | Msg::ReadOnly { id }
            | Msg::ClusterSlots { id } => {
                return Some(Msg::Refused { id: *id });
            }
            Msg::ReplPing { conn }
            | Msg::ReplPong { conn }
            | Msg::Replconf { conn }
            | Msg::ReplconfOk { conn }
            | Msg::Psync { conn, .. }
            | Msg::FullResync { conn, .. }
            | Msg::Continue { conn, .. }
            | Msg::SyncError { conn, .. }
            | Msg::RdbChunk { conn, .. }
            | Msg::Rdb { conn, .. }
            | Msg::Stream { conn, .. }
            | Msg::Ack { conn, .. }
            | Msg::KeepAlive { conn } => *conn,
            _ => return None,
        };
        Some(Msg::Close { conn })
    }

    fn wire_size(&self) -> u64 {
        match self {
            Msg::Request { cmd, .. } => cmd.resp_len(),
            Msg::Reply { reply, .. } => match reply {
                Reply::Bulk(s) => s.len() as u64 + 8,
                Reply::Error(s) => s.len() as u64 + 3,
                Reply::Array(items) => {
                    crate::redis::resp_array_len_of(items.len(), items.iter().map(|i| i.len()))
                }
                // `*N\r\n`, then `$len\r\n<value>\r\n` or `$-1\r\n` (5 bytes) per key.
                Reply::Values(items) => {
                    items
                        .iter()
                        .fold(crate::redis::resp_array_len(&[]), |n, i| {
                            n + i
                                .as_ref()
                                .map_or(5, |v| crate::redis::resp_bulk_len(v.len()))
                        })
                }
                _ => 8,
            },
            Msg::Rdb { bytes, .. } | Msg::RdbChunk { bytes, .. } => *bytes,
            Msg::Hello(h) => h.publish_len(),
            Msg::Stream { entries, .. } => entries.iter().map(|e| e.len).sum(),
            Msg::InfoReply { info, .. } => 400 + 40 * info.replicas.len() as u64,
            Msg::ClusterBus(m) => m.size_bytes() as u64,
            // Per range: start, end, and the primary's ip, port and 40-character id.
            Msg::SlotsReply { ranges, .. } => 16 + 90 * ranges.len() as u64,
            Msg::ReadOnly { .. } => 29,
            // RESTORE-ASKING key ttl payload REPLACE, per key.
            Msg::MigrateKeys { keys, .. } => keys
                .iter()
                .map(|(k, v)| 60 + k.len() as u64 + v.size_bytes())
                .sum(),
            _ => 60,
        }
    }

    fn trace_word(&self) -> u64 {
        let (tag, word) = match self {
            Msg::Request { id, cmd } => (1, id ^ cmd.resp_len().rotate_left(32)),
            Msg::Reply { id, reply, .. } => (2, id ^ reply_word(reply)),
            Msg::ReplPing { conn } => (3, *conn),
            Msg::ReplPong { conn } => (4, *conn),
            Msg::Replconf { conn } => (5, *conn),
            Msg::ReplconfOk { conn } => (6, *conn),
            Msg::Psync {
                conn,
                from,
                failover,
            } => (
                7,
                conn ^ from.map_or(0, |(id, o)| id.word() ^ o) ^ u64::from(*failover) << 63,
            ),
            Msg::FullResync {
                conn,
                replid,
                offset,
            } => (8, conn ^ replid.word() ^ offset),
            Msg::Continue { conn, replid } => (9, conn ^ replid.word()),
            Msg::SyncError { conn, .. } => (10, *conn),
            Msg::Rdb { conn, transfer, .. } => (11, conn ^ transfer.size),
            Msg::RdbChunk { conn, bytes, .. } => (27, conn ^ bytes.rotate_left(24)),
            Msg::Stream { conn, entries } => (
                12,
                conn ^ entries.first().map_or(0, |e| e.offset) ^ (entries.len() as u64) << 40,
            ),
            Msg::Ack { conn, offset, aof } => (
                13,
                conn ^ offset.rotate_left(20) ^ aof.map_or(0, |a| a.rotate_left(40) ^ 1 << 63),
            ),
            Msg::Close { conn } => (14, *conn),
            Msg::Refused { id } => (30, *id),
            Msg::ReplicaOf { master } => (15, master.map_or(u64::MAX, |m| u64::from(m.0))),
            Msg::Info { id } => (16, *id),
            Msg::InfoReply { id, info } => (17, id ^ info.offset.rotate_left(16)),
            Msg::KeepAlive { conn } => (18, *conn),
            Msg::Ping { id } => (19, *id),
            Msg::Pong { id, .. } => (20, *id),
            Msg::Hello(h) => (
                21,
                u64::from(h.sentinel.0)
                    ^ h.config_epoch.rotate_left(20)
                    ^ u64::from(h.master.0) << 40,
            ),
            Msg::IsMasterDown {
                id,
                epoch,
                vote_for,
                ..
            } => (
                22,
                id ^ epoch.rotate_left(24) ^ vote_for.map_or(0, |v| u64::from(v.0) << 48),
            ),
            Msg::IsMasterDownReply {
                id,
                down,
                leader,
                leader_epoch,
            } => (
                23,
                id ^ u64::from(*down) << 40
                    ^ leader_epoch.rotate_left(24)
                    ^ leader.map_or(0, |v| u64::from(v.0) << 48),
            ),
            Msg::GetMasterAddr { id, .. } => (24, *id),
            Msg::MasterAddr { id, master } => (25, id ^ master.map_or(0, |m| u64::from(m.0) << 40)),
            Msg::SwitchMaster { master, .. } => (26, u64::from(master.0)),
            Msg::Subscribe { .. } => (31, 0),
            Msg::Admin(c) => (
                32,
                match c {
                    crate::fault::AdminCommand::ReplicaOf(m) => {
                        m.map_or(u64::MAX, |m| u64::from(m.0))
                    }
                    crate::fault::AdminCommand::KillReplicas => 1,
                    crate::fault::AdminCommand::SetBacklogSize(b) => *b,
                    crate::fault::AdminCommand::InfoReplication => 2,
                    crate::fault::AdminCommand::Pause { ns, writes_only } => {
                        ns ^ u64::from(*writes_only) << 63
                    }
                    crate::fault::AdminCommand::Data(words) => 12 ^ (words.len() as u64) << 8,
                    crate::fault::AdminCommand::Bgsave => 4,
                    crate::fault::AdminCommand::Save => 5,
                    crate::fault::AdminCommand::Shutdown(s) => 6 ^ (*s as u64) << 8,
                    crate::fault::AdminCommand::DebugSleep { ns } => 7 ^ ns << 8,
                    crate::fault::AdminCommand::Failover {
                        to,
                        force,
                        timeout_ms,
                    } => {
                        8 ^ to.map_or(0, |t| u64::from(t.0) << 8)
                            ^ u64::from(*force) << 40
                            ^ timeout_ms << 41
                    }
                    crate::fault::AdminCommand::FailoverAbort => 9,
                    crate::fault::AdminCommand::SentinelFailover(name) => {
                        10 ^ crate::sim::fnv1a(name.as_bytes()) << 8
                    }
                    crate::fault::AdminCommand::SentinelReset(pattern) => {
                        11 ^ crate::sim::fnv1a(pattern.as_bytes()) << 8
                    }
                    crate::fault::AdminCommand::ClusterFailover { force, takeover } => {
                        3 ^ u64::from(*force) << 8 ^ u64::from(*takeover) << 9
                    }
                    crate::fault::AdminCommand::SetSlot { slot, action } => {
                        use crate::fault::SlotAction;
                        let (a, n) = match action {
                            SlotAction::Migrating(p) => (1, p.0),
                            SlotAction::Importing(p) => (2, p.0),
                            SlotAction::Node(p) => (3, p.0),
                            SlotAction::Stable => (4, 0),
                        };
                        4 ^ u64::from(*slot) << 8 ^ a << 24 ^ u64::from(n) << 32
                    }
                    crate::fault::AdminCommand::Migrate { to, keys, .. } => {
                        5 ^ u64::from(to.0) << 8 ^ (keys.len() as u64) << 32
                    }
                },
            ),
            Msg::ClusterBus(m) => (
                28,
                u64::from(m.type_code())
                    ^ u64::from(m.header.sender.0) << 16
                    ^ m.header.current_epoch.rotate_left(24)
                    ^ m.header.offset.rotate_left(40),
            ),
            Msg::Asking { id } => (29, *id),
            Msg::ClusterSlots { id } => (33, *id),
            Msg::MigrateKeys { id, keys } => (35, id ^ (keys.len() as u64) << 40),
            Msg::MigrateReply { id, error } => (36, id ^ u64::from(error.is_some()) << 40),
            Msg::SlotsReply { id, ranges, .. } => (34, id ^ (ranges.len() as u64) << 40),
            Msg::ReadOnly { id } => (37, *id),
        };
        (tag << 56) ^ word
    }
}

fn reply_word(r: &Reply) -> u64 {
    match r {
        Reply::Ok => 1,
        Reply::Nil => 2,
        Reply::Int(n) => 3 ^ (*n as u64).rotate_left(8),
        Reply::Bulk(s) => 4 ^ crate::sim::fnv1a(s.as_bytes()),
        Reply::Error(s) => 5 ^ crate::sim::fnv1a(s.as_bytes()),
        Reply::Array(items) => items
            .iter()
            .fold(6, |h, i| h.rotate_left(5) ^ crate::sim::fnv1a(i.as_bytes())),
        Reply::Ints(v) => v.iter().fold(7, |h, n| h.rotate_left(5) ^ *n as u64),
        Reply::Values(v) => v.iter().fold(8, |h, i| {
            h.rotate_left(5) ^ i.as_ref().map_or(2, |s| crate::sim::fnv1a(s.as_bytes()))
        }),
    }
}

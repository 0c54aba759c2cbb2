//! Facts: what the servers, sentinels and the world observed, as typed values. They are the only
//! way a run tells the checkers and the reports what happened: producers build a variant, consumers
//! `match` on it, and the human text is its `Display`. Each fact is an observation a real Redis
//! deployment also yields (a log line, an `INFO` field, a Sentinel event), so the real-Redis backend
//! produces the same facts.
//!
//! Architecture Invariant: this module imports nothing from the crate but the kernel's `Note`
//! (a fact with its time and process) and the history's `Position`. A fact's `kind`
//! is its stable name in `trace.jsonl` (documented in docs/trace.md); its text is for people and is
//! never parsed.

use std::fmt;

use serde::Serialize;

/// A fact with the moment and the process that observed it: one line of the trace.
pub type FactNote = crate::sim::Note<Fact>;

/// Why a primary answered PSYNC with a full resync (`masterTryPartialResynchronization`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum FullResyncReason {
    /// The replica sent `PSYNC ? -1` (it has no cached primary).
    NoCachedMaster,
    /// The ID matches neither replid nor replid2.
    IdMismatch,
    /// The ID is replid2 but the offset lies beyond where replid2 is valid.
    SecondIdOffsetTooHigh {
        /// Offset requested.
        requested: u64,
        /// Last offset valid under replid2 (`second_replid_offset - 1`).
        valid_up_to: u64,
    },
    /// The primary has no backlog.
    NoBacklog,
    /// The requested offset is outside the backlog.
    OutOfBacklog {
        /// Offset requested.
        requested: u64,
        /// First offset in the backlog.
        first: u64,
        /// One past the last offset in the backlog.
        end: u64,
    },
}

impl fmt::Display for FullResyncReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FullResyncReason::NoCachedMaster => {
                write!(f, "replica has no cached master (PSYNC ? -1)")
            }
            FullResyncReason::IdMismatch => write!(f, "Replication ID mismatch"),
            FullResyncReason::SecondIdOffsetTooHigh {
                requested,
                valid_up_to,
            } => write!(
                f,
                "Requested offset for second ID was {requested}, but I can reply up to {valid_up_to}"
            ),
            FullResyncReason::NoBacklog => write!(f, "lack of backlog"),
            FullResyncReason::OutOfBacklog {
                requested,
                first,
                end,
            } => write!(
                f,
                "requested offset {requested} is outside the backlog [{first}, {end}]"
            ),
        }
    }
}

pub use crate::history::Position;

/// A server's role when it started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum StartRole {
    /// It started as a primary.
    Primary,
    /// It started as a replica of `primary`.
    Replica {
        /// The server it replicates.
        primary: String,
    },
}

/// Which replication timeout fired on a replica (`replicationCron`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplTimeout {
    /// "MASTER timeout: no data nor PING received" on an established link.
    Streaming,
    /// "Timeout connecting to the MASTER" during the handshake or transfer.
    Handshake,
}

/// A fault of the scenario (scheduled or drawn by the nemesis), as its start and heal name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultRef {
    /// The fault's number in the run's schedule: a start and its heal share it.
    pub id: u32,
    /// The kind as the user wrote it (`region-outage`, `isolate`, `partition`, ...).
    pub label: String,
    /// The kind as the model applies it (`partition`, `crash`, `machine-crash`, ...).
    pub kind: String,
    /// Target names as the user gave them.
    pub targets: Vec<String>,
    /// Whether it is an operator's action (a scripted failover) rather than a failure.
    pub operator: bool,
}

impl fmt::Display for FaultRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.label, self.targets.join(", "))
    }
}

/// A Sentinel event, as `sentinelEvent` names it (and publishes it on the channel of that name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[allow(missing_docs)] // each variant is its Redis event name, given by `as_str`
pub enum SentinelEventKind {
    Monitor,
    Tilt,
    TiltExit,
    Sdown,
    SdownExit,
    Odown,
    OdownExit,
    NewEpoch,
    TryFailover,
    VoteForLeader,
    ElectedLeader,
    FailoverStateSelectSlave,
    FailoverAbortNotElected,
    FailoverAbortNoGoodSlave,
    FailoverAbortSlaveTimeout,
    SelectedSlave,
    FailoverStateSendSlaveofNoone,
    FailoverStateWaitPromotion,
    PromotedSlave,
    FailoverStateReconfSlaves,
    SlaveReconfSent,
    SlaveReconfSentTimeout,
    SlaveReconfSentBe,
    SlaveReconfInprog,
    SlaveReconfDone,
    FailoverEndForTimeout,
    FailoverEnd,
    SwitchMaster,
    Sentinel,
    ConfigUpdateFrom,
    Slave,
    ConvertToSlave,
    FixSlaveConfig,
    Reboot,
    /// `SENTINEL RESET`: the primary's replicas and sentinels are forgotten and rediscovered.
    ResetMaster,
}

impl SentinelEventKind {
    /// The event's name as Redis writes it in the log and publishes it (`+sdown`, ...).
    pub fn as_str(self) -> &'static str {
        use SentinelEventKind::*;
        match self {
            Monitor => "+monitor",
            Tilt => "+tilt",
            TiltExit => "-tilt",
            Sdown => "+sdown",
            SdownExit => "-sdown",
            Odown => "+odown",
            OdownExit => "-odown",
            NewEpoch => "+new-epoch",
            TryFailover => "+try-failover",
            VoteForLeader => "+vote-for-leader",
            ElectedLeader => "+elected-leader",
            FailoverStateSelectSlave => "+failover-state-select-slave",
            FailoverAbortNotElected => "-failover-abort-not-elected",
            FailoverAbortNoGoodSlave => "-failover-abort-no-good-slave",
            FailoverAbortSlaveTimeout => "-failover-abort-slave-timeout",
            SelectedSlave => "+selected-slave",
            FailoverStateSendSlaveofNoone => "+failover-state-send-slaveof-noone",
            FailoverStateWaitPromotion => "+failover-state-wait-promotion",
            PromotedSlave => "+promoted-slave",
            FailoverStateReconfSlaves => "+failover-state-reconf-slaves",
            SlaveReconfSent => "+slave-reconf-sent",
            SlaveReconfSentTimeout => "-slave-reconf-sent-timeout",
            SlaveReconfSentBe => "+slave-reconf-sent-be",
            SlaveReconfInprog => "+slave-reconf-inprog",
            SlaveReconfDone => "+slave-reconf-done",
            FailoverEndForTimeout => "+failover-end-for-timeout",
            FailoverEnd => "+failover-end",
            SwitchMaster => "+switch-master",
            Sentinel => "+sentinel",
            ConfigUpdateFrom => "+config-update-from",
            Slave => "+slave",
            ConvertToSlave => "+convert-to-slave",
            FixSlaveConfig => "+fix-slave-config",
            Reboot => "+reboot",
            ResetMaster => "+reset-master",
        }
    }

    /// Every kind, for parsers of real Sentinel logs.
    pub const ALL: [SentinelEventKind; 35] = {
        use SentinelEventKind::*;
        [
            Monitor,
            Tilt,
            TiltExit,
            Sdown,
            SdownExit,
            Odown,
            OdownExit,
            NewEpoch,
            TryFailover,
            VoteForLeader,
            ElectedLeader,
            FailoverStateSelectSlave,
            FailoverAbortNotElected,
            FailoverAbortNoGoodSlave,
            FailoverAbortSlaveTimeout,
            SelectedSlave,
            FailoverStateSendSlaveofNoone,
            FailoverStateWaitPromotion,
            PromotedSlave,
            FailoverStateReconfSlaves,
            SlaveReconfSent,
            SlaveReconfSentTimeout,
            SlaveReconfSentBe,
            SlaveReconfInprog,
            SlaveReconfDone,
            FailoverEndForTimeout,
            FailoverEnd,
            SwitchMaster,
            Sentinel,
            ConfigUpdateFrom,
            Slave,
            ConvertToSlave,
            FixSlaveConfig,
            Reboot,
            ResetMaster,
        ]
    };

    /// The kind named `s` (`+sdown`, ...).
    pub fn parse(s: &str) -> Option<SentinelEventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a Sentinel event is about (the `%@` instance of `sentinelEvent`, and its extra words).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "subject", rename_all = "kebab-case")]
pub enum EventSubject {
    /// The monitored primary.
    Master {
        /// The name sentinels monitor it by.
        master: String,
        /// The server.
        server: String,
    },
    /// `+monitor`: the primary and the quorum.
    Monitor {
        /// The name sentinels monitor it by.
        master: String,
        /// The server.
        server: String,
        /// The configured quorum.
        quorum: u32,
    },
    /// `+odown`: the primary and the votes that made it objectively down.
    Quorum {
        /// The name sentinels monitor it by.
        master: String,
        /// The server.
        server: String,
        /// Sentinels (this one included) that consider it down.
        votes: u32,
        /// The configured quorum.
        quorum: u32,
    },
    /// `+elected-leader`: the primary and the failover's epoch.
    Epoch {
        /// The name sentinels monitor it by.
        master: String,
        /// The server.
        server: String,
        /// The failover epoch.
        epoch: u64,
    },
    /// A primary named without a server (`+failover-end-for-timeout`).
    MasterName {
        /// The name sentinels monitor it by.
        master: String,
    },
    /// A watched server, primary or replica (`+sdown`, `-sdown`).
    Instance {
        /// Whether it is the monitored primary.
        is_master: bool,
        /// The server.
        server: String,
    },
    /// A replica.
    Slave {
        /// The server.
        server: String,
    },
    /// Another sentinel.
    Sentinel {
        /// Its name.
        name: String,
    },
    /// `+new-epoch`.
    NewEpoch {
        /// The new current epoch.
        epoch: u64,
    },
    /// `+vote-for-leader`.
    Vote {
        /// The sentinel voted for.
        leader: String,
        /// The epoch of the vote.
        epoch: u64,
    },
    /// `+switch-master`.
    Switch {
        /// The name sentinels monitor it by.
        master: String,
        /// The old primary.
        from: String,
        /// The new primary.
        to: String,
    },
    /// `+tilt` / `-tilt`.
    Tilt {
        /// Entered (`true`) or left.
        entered: bool,
    },
}

impl fmt::Display for EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventSubject::Master { master, server } => write!(f, "master {master} {server}"),
            EventSubject::Monitor {
                master,
                server,
                quorum,
            } => write!(f, "master {master} {server} quorum {quorum}"),
            EventSubject::Quorum {
                master,
                server,
                votes,
                quorum,
            } => write!(f, "master {master} {server} #quorum {votes}/{quorum}"),
            EventSubject::Epoch {
                master,
                server,
                epoch,
            } => write!(f, "master {master} {server} #epoch {epoch}"),
            EventSubject::MasterName { master } => write!(f, "master {master}"),
            EventSubject::Instance {
                is_master: true,
                server,
            } => write!(f, "master {server}"),
            EventSubject::Instance { server, .. } | EventSubject::Slave { server } => {
                write!(f, "slave {server}")
            }
            EventSubject::Sentinel { name } => write!(f, "sentinel {name}"),
            EventSubject::NewEpoch { epoch } => write!(f, "{epoch}"),
            EventSubject::Vote { leader, epoch } => write!(f, "{leader} {epoch}"),
            EventSubject::Switch { master, from, to } => write!(f, "{master} {from} {to}"),
            EventSubject::Tilt { entered: true } => write!(f, "#tilt mode entered"),
            EventSubject::Tilt { entered: false } => write!(f, "#tilt mode exited"),
        }
    }
}

/// What a server's disk did to it (`aof.c: flushAppendOnlyFile`, `rdb.c`, `server.c:
/// processCommand`): the log lines Redis writes for each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DiskFact {
    /// A write to the AOF failed: writes (and PING) are refused with `-MISCONF` until one works.
    AofWriteError {
        /// `strerror(errno)`.
        error: String,
    },
    /// A write to the AOF worked again after errors.
    AofWriteRecovered,
    /// An AOF write failed with `appendfsync always`: the server exits.
    AofWriteFatal {
        /// `strerror(errno)`.
        error: String,
    },
    /// With `appendfsync everysec`, the background fsync kept the AOF write waiting for 2 s:
    /// the write goes ahead and blocks the event loop until the fsync completes.
    FsyncTooSlow,
    /// A BGSAVE (or SAVE) could not write its RDB file.
    BgsaveError {
        /// `strerror(errno)`.
        error: String,
    },
    /// A BGSAVE succeeded after a failed one: writes are accepted again.
    BgsaveRecovered,
    /// A replica that cannot write its disk got a write from its primary:
    /// `serverPanic("Replica was unable to write command to disk.")`.
    ReplicaPanic,
    /// A replica could not write the RDB of a full sync to disk: the sync is cancelled.
    SyncWriteError {
        /// `strerror(errno)`.
        error: String,
    },
}

impl DiskFact {
    /// The trace kind.
    pub fn kind(&self) -> &'static str {
        match self {
            DiskFact::AofWriteError { .. } => "disk:aof-write-error",
            DiskFact::AofWriteRecovered => "disk:aof-write-recovered",
            DiskFact::AofWriteFatal { .. } => "disk:aof-write-fatal",
            DiskFact::FsyncTooSlow => "disk:fsync-too-slow",
            DiskFact::BgsaveError { .. } => "disk:bgsave-error",
            DiskFact::BgsaveRecovered => "disk:bgsave-recovered",
            DiskFact::ReplicaPanic => "disk:replica-panic",
            DiskFact::SyncWriteError { .. } => "disk:sync-write-error",
        }
    }
}

impl fmt::Display for DiskFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiskFact::AofWriteError { error } => write!(
                f,
                "Error writing to the AOF file: {error} (writes are refused with -MISCONF)"
            ),
            DiskFact::AofWriteRecovered => {
                write!(f, "AOF write error looks solved, Redis can write again.")
            }
            DiskFact::AofWriteFatal { error } => write!(
                f,
                "Error writing to the AOF file: {error}. Can't recover from AOF write error \
                 when the AOF fsync policy is 'always'. Exiting..."
            ),
            DiskFact::FsyncTooSlow => write!(
                f,
                "Asynchronous AOF fsync is taking too long (disk is busy?). Writing the AOF \
                 buffer without waiting for fsync to complete, this may slow down Redis."
            ),
            DiskFact::BgsaveError { error } => write!(
                f,
                "Background saving error: {error} (with stop-writes-on-bgsave-error, writes \
                 are refused with -MISCONF)"
            ),
            DiskFact::BgsaveRecovered => {
                write!(f, "Background saving terminated with success")
            }
            DiskFact::ReplicaPanic => write!(
                f,
                "Replica was unable to write command to disk. (serverPanic: the process dies)"
            ),
            DiskFact::SyncWriteError { error } => write!(
                f,
                "Write error writing to the DB dump file needed for MASTER <-> REPLICA \
                 synchronization: {error}"
            ),
        }
    }
}

/// What a Redis Cluster node observed about the cluster (`cluster.c`: its log lines and the
/// flags `CLUSTER NODES` shows). Nodes are named by their server names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum ClusterFact {
    /// `about` missed its pong for `cluster-node-timeout`: flagged PFAIL.
    Pfail {
        /// The node flagged.
        about: String,
    },
    /// `about` answered again: PFAIL cleared.
    PfailCleared {
        /// The node.
        about: String,
    },
    /// `about` flagged FAIL: by this node's own quorum of reports, or told by a FAIL message.
    Fail {
        /// The node.
        about: String,
        /// This node gathered the majority of reports itself.
        by_quorum: bool,
    },
    /// `about`'s FAIL flag cleared (`clearNodeFailureIfNeeded`).
    FailCleared {
        /// The node.
        about: String,
    },
    /// This node's cluster state changed (`clusterUpdateState`).
    State {
        /// `true` for `ok`, `false` for `fail`.
        ok: bool,
    },
    /// A replica scheduled its election `delay_ms` from now at `rank`.
    ElectionScheduled {
        /// The delay, ms.
        delay_ms: u64,
        /// The replica's rank by offset.
        rank: u32,
    },
    /// A replica asked the primaries for votes in `epoch`.
    ElectionStarted {
        /// The epoch.
        epoch: u64,
    },
    /// A replica cannot fail over (reported when the reason changes).
    FailoverBlocked {
        /// Why, in words (`clusterLogCantFailover`).
        reason: String,
    },
    /// A primary voted for `to` in `epoch`.
    VoteGranted {
        /// The replica voted for.
        to: String,
        /// The epoch.
        epoch: u64,
    },
    /// A primary refused its vote to `to`.
    VoteRefused {
        /// The replica.
        to: String,
        /// Why, in words.
        reason: String,
    },
    /// This replica won its election: it serves `replaced`'s slots at configEpoch `epoch`.
    Promoted {
        /// The primary it replaced.
        replaced: String,
        /// Its new configEpoch.
        epoch: u64,
    },
    /// This node now replicates `of`.
    BecameReplica {
        /// Its primary.
        of: String,
    },
    /// Two primaries had the same configEpoch; this one moved to `epoch`.
    ConfigEpochBumped {
        /// The new configEpoch.
        epoch: u64,
    },
    /// This replica accepted `CLUSTER FAILOVER` with `mode` (`default`, `force`, `takeover`).
    ManualFailover {
        /// The option.
        mode: String,
    },
    /// This primary's replica `by` asked for a manual failover (MFSTART): client writes pause
    /// for `pause_ms` at most.
    ManualFailoverRequested {
        /// The replica.
        by: String,
        /// The longest pause, ms.
        pause_ms: u64,
    },
    /// This replica heard its paused primary's final replication offset.
    ManualFailoverOffset {
        /// The offset.
        offset: u64,
    },
    /// This replica reached that offset: its election may start.
    ManualFailoverCanStart,
    /// The manual failover was abandoned after 5 s (`CLUSTER_MF_TIMEOUT`).
    ManualFailoverTimedOut,
    /// This primary's write pause for a manual failover ended.
    FailoverPauseEnded,
    /// A takeover gave this node configEpoch `epoch` without any vote.
    ConfigEpochWithoutConsensus {
        /// The new configEpoch.
        epoch: u64,
    },
    /// This replica migrates to the orphaned primary `to` (`clusterHandleSlaveMigration`).
    ReplicaMigration {
        /// The orphaned primary.
        to: String,
    },
    /// `CLUSTER SETSLOT <slot> <action> [<node>]` took effect on this primary.
    #[serde(rename = "setslot")]
    SetSlot {
        /// The slot.
        slot: u16,
        /// `migrating`, `importing`, `stable` or `node`.
        action: String,
        /// The server named (the target, the source, or the new owner).
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<String>,
    },
    /// A newer claim took slots this primary still served: it deletes its keys of them.
    DirtySlots {
        /// How many slots.
        count: usize,
        /// The first of them.
        first: u16,
    },
}

impl ClusterFact {
    /// The stable kind (`cluster:<what>`).
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterFact::Pfail { .. } => "cluster:pfail",
            ClusterFact::PfailCleared { .. } => "cluster:pfail-cleared",
            ClusterFact::Fail { .. } => "cluster:fail",
            ClusterFact::FailCleared { .. } => "cluster:fail-cleared",
            ClusterFact::State { .. } => "cluster:state",
            ClusterFact::ElectionScheduled { .. } => "cluster:election-scheduled",
            ClusterFact::ElectionStarted { .. } => "cluster:election-started",
            ClusterFact::FailoverBlocked { .. } => "cluster:failover-blocked",
            ClusterFact::VoteGranted { .. } => "cluster:vote-granted",
            ClusterFact::VoteRefused { .. } => "cluster:vote-refused",
            ClusterFact::Promoted { .. } => "cluster:promoted",
            ClusterFact::BecameReplica { .. } => "cluster:became-replica",
            ClusterFact::ConfigEpochBumped { .. } => "cluster:config-epoch-bumped",
            ClusterFact::ManualFailover { .. } => "cluster:manual-failover",
            ClusterFact::ManualFailoverRequested { .. } => "cluster:manual-failover-requested",
            ClusterFact::ManualFailoverOffset { .. } => "cluster:manual-failover-offset",
            ClusterFact::ManualFailoverCanStart => "cluster:manual-failover-can-start",
            ClusterFact::ManualFailoverTimedOut => "cluster:manual-failover-timed-out",
            ClusterFact::FailoverPauseEnded => "cluster:failover-pause-ended",
            ClusterFact::ConfigEpochWithoutConsensus { .. } => {
                "cluster:config-epoch-without-consensus"
            }
            ClusterFact::ReplicaMigration { .. } => "cluster:replica-migration",
            ClusterFact::SetSlot { .. } => "cluster:setslot",
            ClusterFact::DirtySlots { .. } => "cluster:dirty-slots",
        }
    }
}

impl fmt::Display for ClusterFact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterFact::Pfail { about } => write!(f, "marks {about} as PFAIL"),
            ClusterFact::PfailCleared { about } => write!(f, "clears PFAIL of {about}"),
            ClusterFact::Fail {
                about,
                by_quorum: true,
            } => {
                write!(f, "marks {about} as failing (quorum reached)")
            }
            ClusterFact::Fail { about, .. } => write!(f, "marks {about} as failing (FAIL message)"),
            ClusterFact::FailCleared { about } => write!(f, "clears FAIL state of {about}"),
            ClusterFact::State { ok: true } => write!(f, "cluster state changed: ok"),
            ClusterFact::State { ok: false } => write!(f, "cluster state changed: fail"),
            ClusterFact::ElectionScheduled { delay_ms, rank } => write!(
                f,
                "start of election delayed for {delay_ms} milliseconds (rank #{rank})"
            ),
            ClusterFact::ElectionStarted { epoch } => {
                write!(f, "starting a failover election for epoch {epoch}")
            }
            ClusterFact::FailoverBlocked { reason } => {
                write!(f, "currently unable to failover: {reason}")
            }
            ClusterFact::VoteGranted { to, epoch } => {
                write!(f, "failover auth granted to {to} for epoch {epoch}")
            }
            ClusterFact::VoteRefused { to, reason } => {
                write!(f, "failover auth denied to {to}: {reason}")
            }
            ClusterFact::Promoted { replaced, epoch } => write!(
                f,
                "failover election won: replaces {replaced} at configEpoch {epoch}"
            ),
            ClusterFact::BecameReplica { of } => write!(f, "configured as a replica of {of}"),
            ClusterFact::ConfigEpochBumped { epoch } => {
                write!(f, "configEpoch collision: moved to configEpoch {epoch}")
            }
            ClusterFact::ManualFailover { mode } => match mode.as_str() {
                "force" => write!(f, "forced failover user request accepted"),
                "takeover" => write!(f, "taking over the master (user request)"),
                _ => write!(f, "manual failover user request accepted"),
            },
            ClusterFact::ManualFailoverRequested { by, pause_ms } => write!(
                f,
                "manual failover requested by replica {by} (writes paused for up to {pause_ms} ms)"
            ),
            ClusterFact::ManualFailoverOffset { offset } => write!(
                f,
                "received replication offset for paused master manual failover: {offset}"
            ),
            ClusterFact::ManualFailoverCanStart => write!(
                f,
                "all master replication stream processed, manual failover can start"
            ),
            ClusterFact::ManualFailoverTimedOut => write!(f, "manual failover timed out"),
            ClusterFact::FailoverPauseEnded => {
                write!(f, "manual failover over: clients' writes unpaused")
            }
            ClusterFact::ConfigEpochWithoutConsensus { epoch } => {
                write!(f, "new configEpoch set to {epoch} (without consensus)")
            }
            ClusterFact::ReplicaMigration { to } => write!(f, "migrating to orphaned master {to}"),
            ClusterFact::SetSlot {
                slot,
                action,
                server,
            } => match server {
                Some(n) => write!(f, "CLUSTER SETSLOT {slot} {} {n}", action.to_uppercase()),
                None => write!(f, "CLUSTER SETSLOT {slot} {}", action.to_uppercase()),
            },
            ClusterFact::DirtySlots { count, first } => write!(
                f,
                "lost {count} slots it still served (first {first}) to a newer claim: deletes their keys"
            ),
        }
    }
}

/// One observation. Server facts name the server that observed it first (`server`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum Fact {
    /// A server started (or restarted) with this role and data.
    #[serde(rename = "start")]
    Started {
        /// The server.
        server: String,
        /// Its role.
        #[serde(flatten)]
        role: StartRole,
        /// Keys loaded.
        keys: u64,
        /// Its replication ID.
        replid: String,
        /// Its replication offset.
        offset: u64,
        /// The position in the previous history that the data it loaded from disk reaches
        /// (absent when it loaded nothing, or when that is unknown).
        data_from: Option<Position>,
    },
    /// A replica's link to its primary timed out.
    #[serde(rename = "repl:timeout")]
    ReplTimeout {
        /// The replica.
        server: String,
        /// Which timeout.
        phase: ReplTimeout,
    },
    /// A primary dropped a replica that sent nothing for `repl-timeout`.
    #[serde(rename = "repl:replica-timeout")]
    ReplicaTimedOut {
        /// The primary.
        server: String,
        /// The replica dropped.
        replica: String,
    },
    /// A primary freed its backlog after `repl-backlog-ttl` without replicas, and took a new
    /// replication ID for the same data (`changeReplicationId`, `clearReplicationId2`).
    #[serde(rename = "repl:backlog-freed")]
    BacklogFreed {
        /// The primary.
        server: String,
        /// The TTL that elapsed, in seconds.
        after_s: u64,
        /// The new replication ID.
        replid: String,
        /// Where the old history stood: the new one holds all of it.
        parent: Position,
    },
    /// A primary's first replica made it create its backlog under a new replication ID, keeping
    /// its data ("Replication backlog created, my new replication IDs are ...").
    #[serde(rename = "repl:backlog-created")]
    BacklogCreated {
        /// The primary.
        server: String,
        /// The new replication ID.
        replid: String,
        /// Where the old history stood: the new one holds all of it.
        parent: Position,
    },
    /// A replica starts connecting to its primary.
    #[serde(rename = "repl:connect")]
    Connecting {
        /// The replica.
        server: String,
        /// Its primary.
        primary: String,
    },
    /// The handshake reached REPLCONF.
    #[serde(rename = "repl:replconf")]
    Replconf {
        /// The replica.
        server: String,
    },
    /// A replica sent PSYNC (`replid`/`offset` absent for `PSYNC ? -1`).
    #[serde(rename = "repl:psync")]
    PsyncSent {
        /// The replica.
        server: String,
        /// The replication ID asked for.
        replid: Option<String>,
        /// The offset asked for.
        offset: Option<u64>,
    },
    /// The primary refused the sync with an error.
    #[serde(rename = "repl:psync-error")]
    PsyncError {
        /// The replica.
        server: String,
        /// The error text without its leading `-`.
        error: String,
    },
    /// A replica got `+FULLRESYNC replid offset`.
    #[serde(rename = "repl:fullresync")]
    FullResyncStarted {
        /// The replica.
        server: String,
        /// The primary's replication ID.
        replid: String,
        /// The offset the snapshot is taken at.
        offset: u64,
    },
    /// A replica flushed its data to load an RDB.
    #[serde(rename = "repl:flush")]
    Flushed {
        /// The replica.
        server: String,
        /// Keys it dropped.
        keys: u64,
        /// Size of the RDB it loads.
        rdb_bytes: u64,
    },
    /// A replica finished loading the RDB of a full resync.
    #[serde(rename = "repl:full-resync-done")]
    FullResyncDone {
        /// The replica.
        server: String,
        /// Keys loaded.
        keys: u64,
        /// Its offset now.
        offset: u64,
        /// Its primary.
        primary: String,
    },
    /// A replica continues from the backlog (`+CONTINUE`).
    #[serde(rename = "repl:partial-resync-done")]
    PartialResyncDone {
        /// The replica.
        server: String,
        /// The first offset it receives.
        from_offset: u64,
        /// Its primary.
        primary: String,
        /// The primary's replication ID.
        replid: String,
    },
    /// A server became a primary (`REPLICAOF NO ONE`: "MASTER MODE enabled").
    #[serde(rename = "role:promoted")]
    Promoted {
        /// The server.
        server: String,
        /// Its new replication ID.
        replid: String,
        /// The previous ID it can still serve partial resyncs for.
        replid2: Option<String>,
        /// Its offset at the promotion.
        offset: u64,
    },
    /// A primary became a replica.
    #[serde(rename = "role:demoted")]
    Demoted {
        /// The server.
        server: String,
        /// Its new primary.
        primary: String,
        /// Its offset at the demotion.
        offset: u64,
    },
    /// A replica was pointed at another primary.
    #[serde(rename = "role:replicaof")]
    Repointed {
        /// The server.
        server: String,
        /// Its new primary.
        primary: String,
        /// Its offset then.
        offset: u64,
    },
    /// A primary dropped a replica over `client-output-buffer-limit replica`.
    #[serde(rename = "repl:obuf-limit")]
    OutputBufferLimit {
        /// The primary.
        server: String,
        /// The replica dropped.
        replica: String,
        /// Bytes in its output buffer.
        bytes: u64,
    },
    /// A primary answered PSYNC with a full resync.
    #[serde(rename = "repl:full-resync-needed")]
    FullResyncNeeded {
        /// The primary.
        server: String,
        /// The replica.
        replica: String,
        /// Why.
        #[serde(flatten)]
        reason: FullResyncReason,
    },
    /// A primary accepted a partial resync.
    #[serde(rename = "repl:continue")]
    PartialResyncAccepted {
        /// The primary.
        server: String,
        /// The replica.
        replica: String,
        /// The offset asked for.
        offset: u64,
        /// Bytes sent from the backlog.
        backlog_bytes: u64,
    },
    /// A server forked an RDB child.
    #[serde(rename = "bgsave:start")]
    BgsaveStarted {
        /// The server.
        server: String,
        /// Its offset at the fork.
        offset: u64,
        /// Keys in the snapshot.
        keys: u64,
        /// Size of the RDB.
        bytes: u64,
        /// Streamed to replicas rather than written to disk.
        diskless: bool,
    },
    /// The RDB child finished writing dump.rdb.
    #[serde(rename = "bgsave:done")]
    BgsaveDone {
        /// The server.
        server: String,
        /// The offset the snapshot holds.
        offset: u64,
    },
    /// A replica saw its primary close the link.
    #[serde(rename = "repl:link-closed")]
    LinkClosed {
        /// The replica.
        server: String,
        /// Its primary.
        primary: String,
    },
    /// A server answered a command an operator sent from its console (a `command` fault).
    #[serde(rename = "operator:reply")]
    OperatorReply {
        /// The server.
        server: String,
        /// The command as the scenario wrote it.
        command: String,
        /// Redis's reply, in redis-cli's notation (`OK`, `(integer) 2`).
        reply: String,
    },
    /// SHUTDOWN began its last steps (server.c: finishShutdown logs "N of M replicas are in
    /// sync when shutting down").
    #[serde(rename = "server:shutdown")]
    ShutdownStarted {
        /// The server.
        server: String,
        /// Its replicas.
        replicas: u32,
        /// Those that had not acknowledged the whole stream.
        lagging: u32,
    },
    /// The server process exited after SHUTDOWN (its sockets closed).
    #[serde(rename = "server:exit")]
    ServerExited {
        /// The server.
        server: String,
    },
    /// An operator added a server: it starts with an empty disk as a replica of `primary`.
    #[serde(rename = "operator:add-server")]
    ServerAdded {
        /// The server.
        server: String,
        /// Its primary.
        primary: String,
        /// Why, when the `[operator]` policy did it.
        reason: Option<String>,
    },
    /// An operator took a server out: its process stopped.
    #[serde(rename = "operator:remove-server")]
    ServerRemoved {
        /// The server.
        server: String,
        /// Why, when the `[operator]` policy did it.
        reason: Option<String>,
    },
    /// A coordinated FAILOVER (Redis 6.2+) changed state at its primary.
    #[serde(rename = "operator:failover")]
    CoordinatedFailover {
        /// The primary the operator sent FAILOVER to.
        server: String,
        /// `waiting-for-sync`, `failover-in-progress`, `done` or `aborted`.
        state: String,
        /// The replica taking over, once known.
        target: Option<String>,
    },
    /// A Sentinel event.
    #[serde(rename = "sentinel")]
    Sentinel {
        /// The sentinel.
        sentinel: String,
        /// The event.
        event: SentinelEventKind,
        /// What it is about.
        #[serde(flatten)]
        subject: EventSubject,
    },
    /// What a server's disk did (`kind` is the event's `disk:<what>`).
    #[serde(rename = "disk")]
    Disk {
        /// The server.
        server: String,
        /// What happened.
        #[serde(flatten)]
        event: DiskFact,
    },
    /// A Redis Cluster node's observation (`kind` is the event's `cluster:<what>`).
    #[serde(rename = "cluster")]
    Cluster {
        /// The node (its server name).
        node: String,
        /// What it observed.
        #[serde(flatten)]
        event: ClusterFact,
    },
    /// A fault began.
    #[serde(rename = "fault:start")]
    FaultStarted {
        /// The fault.
        fault: FaultRef,
    },
    /// A fault healed.
    #[serde(rename = "fault:heal")]
    FaultHealed {
        /// The fault.
        fault: FaultRef,
    },
    /// Every fault healed; no new ones start.
    #[serde(rename = "phase")]
    QuietPhase,
}

impl Fact {
    /// The stable name of this fact's kind (for Sentinel events, the event's own name).
    pub fn kind(&self) -> &'static str {
        match self {
            Fact::Started { .. } => "start",
            Fact::ReplTimeout { .. } => "repl:timeout",
            Fact::ReplicaTimedOut { .. } => "repl:replica-timeout",
            Fact::BacklogFreed { .. } => "repl:backlog-freed",
            Fact::BacklogCreated { .. } => "repl:backlog-created",
            Fact::Connecting { .. } => "repl:connect",
            Fact::Replconf { .. } => "repl:replconf",
            Fact::PsyncSent { .. } => "repl:psync",
            Fact::PsyncError { .. } => "repl:psync-error",
            Fact::FullResyncStarted { .. } => "repl:fullresync",
            Fact::Flushed { .. } => "repl:flush",
            Fact::FullResyncDone { .. } => "repl:full-resync-done",
            Fact::PartialResyncDone { .. } => "repl:partial-resync-done",
            Fact::Promoted { .. } => "role:promoted",
            Fact::Demoted { .. } => "role:demoted",
            Fact::Repointed { .. } => "role:replicaof",
            Fact::OutputBufferLimit { .. } => "repl:obuf-limit",
            Fact::FullResyncNeeded { .. } => "repl:full-resync-needed",
            Fact::PartialResyncAccepted { .. } => "repl:continue",
            Fact::BgsaveStarted { .. } => "bgsave:start",
            Fact::BgsaveDone { .. } => "bgsave:done",
            Fact::LinkClosed { .. } => "repl:link-closed",
            Fact::OperatorReply { .. } => "operator:reply",
            Fact::ShutdownStarted { .. } => "server:shutdown",
            Fact::ServerExited { .. } => "server:exit",
            Fact::CoordinatedFailover { .. } => "operator:failover",
            Fact::ServerAdded { .. } => "operator:add-server",
            Fact::ServerRemoved { .. } => "operator:remove-server",
            Fact::Sentinel { event, .. } => event.as_str(),
            Fact::Cluster { event, .. } => event.kind(),
            Fact::Disk { event, .. } => event.kind(),
            Fact::FaultStarted { .. } => "fault:start",
            Fact::FaultHealed { .. } => "fault:heal",
            Fact::QuietPhase => "phase",
        }
    }

    /// The server a role or data fact is about, if it is one.
    pub fn server(&self) -> Option<&str> {
        match self {
            Fact::Started { server, .. }
            | Fact::ReplTimeout { server, .. }
            | Fact::ReplicaTimedOut { server, .. }
            | Fact::BacklogFreed { server, .. }
            | Fact::BacklogCreated { server, .. }
            | Fact::Connecting { server, .. }
            | Fact::Replconf { server }
            | Fact::PsyncSent { server, .. }
            | Fact::PsyncError { server, .. }
            | Fact::FullResyncStarted { server, .. }
            | Fact::Flushed { server, .. }
            | Fact::FullResyncDone { server, .. }
            | Fact::PartialResyncDone { server, .. }
            | Fact::Promoted { server, .. }
            | Fact::Demoted { server, .. }
            | Fact::Repointed { server, .. }
            | Fact::OutputBufferLimit { server, .. }
            | Fact::FullResyncNeeded { server, .. }
            | Fact::PartialResyncAccepted { server, .. }
            | Fact::BgsaveStarted { server, .. }
            | Fact::BgsaveDone { server, .. }
            | Fact::LinkClosed { server, .. }
            | Fact::OperatorReply { server, .. }
            | Fact::ShutdownStarted { server, .. }
            | Fact::ServerExited { server }
            | Fact::CoordinatedFailover { server, .. }
            | Fact::ServerAdded { server, .. }
            | Fact::ServerRemoved { server, .. }
            | Fact::Cluster { node: server, .. }
            | Fact::Disk { server, .. } => Some(server),
            Fact::Sentinel { .. }
            | Fact::FaultStarted { .. }
            | Fact::FaultHealed { .. }
            | Fact::QuietPhase => None,
        }
    }

    /// Whether the server became (`Some(true)`) or stopped being (`Some(false)`) a primary.
    pub fn primary_role(&self) -> Option<bool> {
        match self {
            Fact::Started { role, .. } => Some(*role == StartRole::Primary),
            Fact::Promoted { .. } => Some(true),
            Fact::Demoted { .. } | Fact::Repointed { .. } => Some(false),
            _ => None,
        }
    }
}

fn short(replid: &str) -> &str {
    replid.get(..8).unwrap_or(replid)
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Promoted { .. }
            | Fact::Demoted { .. }
            | Fact::Repointed { .. }
            | Fact::OutputBufferLimit { .. }
            | Fact::FullResyncNeeded { .. }
            | Fact::PartialResyncAccepted { .. }
            | Fact::BgsaveStarted { .. }
            | Fact::BgsaveDone { .. }
            | Fact::LinkClosed { .. }
            | Fact::OperatorReply { .. }
            | Fact::ShutdownStarted { .. }
            | Fact::ServerExited { .. }
            | Fact::CoordinatedFailover { .. }
            | Fact::ServerAdded { .. }
            | Fact::ServerRemoved { .. }
            | Fact::Sentinel { .. }
            | Fact::Cluster { .. }
            | Fact::Disk { .. }
            | Fact::FaultStarted { .. }
            | Fact::FaultHealed { .. }
            | Fact::QuietPhase => self.fmt_roles_and_world(f),
            _ => self.fmt_replica_side(f),
        }
    }
}

impl Fact {
    /// The text of a start or of a replica's side of replication.
    fn fmt_replica_side(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Started {
                server,
                role,
                keys,
                replid,
                offset,
                ..
            } => {
                let role = match role {
                    StartRole::Primary => "primary".to_string(),
                    StartRole::Replica { primary } => format!("replica of {primary}"),
                };
                write!(
                    f,
                    "{server} started as {role} with {keys} keys (replid {}, offset {offset})",
                    short(replid)
                )
            }
            Fact::ReplTimeout {
                server,
                phase: ReplTimeout::Streaming,
            } => write!(f, "{server}: MASTER timeout: no data nor PING received"),
            Fact::ReplTimeout {
                server,
                phase: ReplTimeout::Handshake,
            } => write!(f, "{server}: Timeout connecting to the MASTER"),
            Fact::ReplicaTimedOut { server, replica } => write!(
                f,
                "{server}: Disconnecting timedout replica (streaming sync) {replica}"
            ),
            Fact::BacklogFreed {
                server, after_s, ..
            } => write!(
                f,
                "{server}: replication backlog freed after {after_s} seconds without replicas"
            ),
            Fact::BacklogCreated { server, replid, .. } => write!(
                f,
                "{server}: replication backlog created, new replication ID {}",
                short(replid)
            ),
            Fact::Connecting { server, primary } => {
                write!(f, "{server} connecting to primary {primary} (PING)")
            }
            Fact::Replconf { server } => write!(
                f,
                "{server} got +PONG, sends REPLCONF listening-port and REPLCONF capa eof capa psync2"
            ),
            Fact::PsyncSent {
                server,
                replid: Some(id),
                offset: Some(off),
            } => write!(f, "{server} sends PSYNC {id} {off}"),
            Fact::PsyncSent { server, .. } => write!(f, "{server} sends PSYNC ? -1"),
            Fact::PsyncError { server, error } => {
                write!(f, "{server}: primary replied -{error}; retrying later")
            }
            Fact::FullResyncStarted {
                server,
                replid,
                offset,
            } => write!(f, "{server} got +FULLRESYNC {} {offset}", short(replid)),
            Fact::Flushed {
                server,
                keys,
                rdb_bytes,
            } => write!(
                f,
                "{server} flushes its old data ({keys} keys) and loads a {rdb_bytes} byte RDB"
            ),
            Fact::FullResyncDone {
                server,
                keys,
                offset,
                primary,
            } => write!(
                f,
                "{server} loaded the RDB: {keys} keys at offset {offset}; streaming from {primary}"
            ),
            Fact::PartialResyncDone {
                server,
                from_offset,
                primary,
                replid,
            } => write!(
                f,
                "{server} continues from offset {from_offset} with primary {primary} (+CONTINUE {})",
                short(replid)
            ),
            _ => unreachable!("every other fact is written by fmt_roles_and_world"),
        }
    }

    /// The text of a role change, a primary's side of replication, Sentinel or the world.
    fn fmt_roles_and_world(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Promoted {
                server,
                replid,
                replid2,
                offset,
            } => write!(
                f,
                "{server} is now a primary (MASTER MODE enabled): replid {}, replid2 {} valid up to {offset}",
                short(replid),
                replid2.as_deref().map_or("-", short)
            ),
            Fact::Demoted {
                server,
                primary,
                offset,
            }
            | Fact::Repointed {
                server,
                primary,
                offset,
            } => write!(
                f,
                "{server} becomes a replica of {primary} (offset {offset})"
            ),
            Fact::OutputBufferLimit {
                server,
                replica,
                bytes,
            } => write!(
                f,
                "{server} disconnects replica {replica}: output buffer {bytes} bytes exceeds client-output-buffer-limit"
            ),
            Fact::FullResyncNeeded {
                server,
                replica,
                reason,
            } => write!(
                f,
                "{server} answers PSYNC from {replica} with a full resync: {reason}"
            ),
            Fact::PartialResyncAccepted {
                server,
                replica,
                offset,
                backlog_bytes,
            } => write!(
                f,
                "{server} accepts partial resync of {replica} from offset {offset} ({backlog_bytes} bytes from the backlog)"
            ),
            Fact::BgsaveStarted {
                server,
                offset,
                keys,
                bytes,
                diskless,
            } => write!(
                f,
                "{server} forks an RDB child at offset {offset} ({keys} keys, {bytes} bytes, {})",
                if *diskless { "diskless" } else { "to disk" }
            ),
            Fact::BgsaveDone { server, offset } => {
                write!(f, "{server} saved dump.rdb at offset {offset}")
            }
            Fact::LinkClosed { server, primary } => {
                write!(f, "{server}: connection with primary {primary} closed")
            }
            Fact::OperatorReply {
                server,
                command,
                reply,
            } => write!(f, "{server}> {command}: {reply}"),
            Fact::ShutdownStarted {
                server,
                replicas,
                lagging,
            } => write!(
                f,
                "{server} shuts down: {} of {replicas} replicas are in sync",
                replicas - lagging
            ),
            Fact::ServerExited { server } => write!(f, "{server} exited"),
            Fact::ServerAdded {
                server,
                primary,
                reason,
            } => {
                write!(
                    f,
                    "operator adds {server} as a replica of {primary} (empty disk)"
                )?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            Fact::ServerRemoved { server, reason } => {
                write!(f, "operator removes {server} (its process stops)")?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            Fact::CoordinatedFailover {
                server,
                state,
                target,
            } => match target {
                Some(t) => write!(f, "{server} FAILOVER to {t}: {state}"),
                None => write!(f, "{server} FAILOVER: {state}"),
            },
            Fact::Sentinel {
                sentinel,
                event,
                subject,
            } => write!(f, "{sentinel} {} {subject}", event.as_str()),
            Fact::Cluster { node, event } => write!(f, "{node} {event}"),
            Fact::Disk { server, event } => write!(f, "{server}: {event}"),
            Fact::FaultStarted { fault } => write!(f, "{fault} begins"),
            Fact::FaultHealed { fault } => write!(f, "{fault} heals"),
            Fact::QuietPhase => write!(f, "quiet phase: every fault healed, no new faults"),
            _ => unreachable!("every other fact is written by fmt_replica_side"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentinel_event_names_round_trip() {
        for k in SentinelEventKind::ALL {
            assert_eq!(SentinelEventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SentinelEventKind::parse("+nonsense"), None);
    }

    #[test]
    fn serialises_with_a_kind_tag_and_typed_fields() {
        let f = Fact::FullResyncNeeded {
            server: "p1".into(),
            replica: "r1".into(),
            reason: FullResyncReason::OutOfBacklog {
                requested: 10,
                first: 20,
                end: 30,
            },
        };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["kind"], "repl:full-resync-needed");
        assert_eq!(v["reason"], "out-of-backlog");
        assert_eq!(v["first"], 20);
        let s = Fact::Started {
            server: "r1".into(),
            role: StartRole::Replica {
                primary: "p1".into(),
            },
            keys: 0,
            replid: "0123456789abcdef".into(),
            offset: 0,
            data_from: None,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["role"], "replica");
        assert_eq!(v["primary"], "p1");
        assert_eq!(
            s.to_string(),
            "r1 started as replica of p1 with 0 keys (replid 01234567, offset 0)"
        );
    }

    #[test]
    fn roles_come_from_the_variant_not_the_text() {
        let p = Fact::Promoted {
            server: "r1".into(),
            replid: "x".into(),
            replid2: None,
            offset: 1,
        };
        assert_eq!(p.primary_role(), Some(true));
        assert_eq!(p.server(), Some("r1"));
        assert_eq!(Fact::QuietPhase.primary_role(), None);
    }
}

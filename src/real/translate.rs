//! Log observations of real processes translated into simkv's facts (`crate::fact::Fact`), naming
//! nodes instead of addresses. The server side needs context the log line does not carry (a
//! replica's current primary, its last PSYNC request, the primary's backlog bounds), which the
//! caller passes in as a [`ServerContext`].

use crate::fact::{
    ClusterFact, EventSubject, Fact, FullResyncReason, ReplTimeout, SentinelEventKind,
};

use super::directory::Directory;
use super::info::ReplicationInfo;
use super::observe::{ClusterLine, Observation, PsyncRefusal, SentinelEvent};

/// Lines simkv reads that `observe` does not type (replication.c, 7.0.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtraLine {
    /// Replica: "Trying a partial resynchronization (request %s:%s)." (`slaveTryPartialResynchronization`).
    PsyncRequest {
        /// The replication ID asked for.
        replid: String,
        /// The offset asked for.
        offset: u64,
    },
    /// Replica: "Partial resynchronization not possible (no cached master)".
    PsyncNoCachedMaster,
    /// Replica: "MASTER <-> REPLICA sync: Flushing old data" (`readSyncBulkPayload`).
    Flushing,
    /// Primary: "Disconnecting timedout replica (streaming sync): %s" (`replicationCron`).
    ReplicaTimedOut {
        /// The replica's `ip:port`.
        replica: String,
    },
    /// Replica: "Timeout connecting to the MASTER..." (`replicationCron`).
    HandshakeTimeout,
}

impl ExtraLine {
    /// The line, if it is one of these.
    pub fn parse(m: &str) -> Option<ExtraLine> {
        if let Some(r) = m.strip_prefix("Trying a partial resynchronization (request ") {
            let (replid, offset) = r.strip_suffix(").")?.split_once(':')?;
            return Some(ExtraLine::PsyncRequest {
                replid: replid.to_string(),
                offset: offset.parse().ok()?,
            });
        }
        if let Some(r) = m.strip_prefix("Disconnecting timedout replica (streaming sync): ") {
            return Some(ExtraLine::ReplicaTimedOut {
                replica: r.to_string(),
            });
        }
        match m {
            "Partial resynchronization not possible (no cached master)" => {
                Some(ExtraLine::PsyncNoCachedMaster)
            }
            "MASTER <-> REPLICA sync: Flushing old data" => Some(ExtraLine::Flushing),
            "Timeout connecting to the MASTER..." => Some(ExtraLine::HandshakeTimeout),
            _ => None,
        }
    }
}

/// What a server's facts need besides its log line.
pub struct ServerContext<'a> {
    /// The server whose log it is.
    pub server: &'a str,
    /// Its latest `INFO replication` (fresh from this poll).
    pub info: Option<&'a ReplicationInfo>,
    /// Its key count from the same poll.
    pub keys: u64,
    /// Its current primary's name, if it is a replica.
    pub primary: Option<String>,
    /// Its primary's replication ID, from the primary's latest INFO.
    pub primary_replid: Option<String>,
    /// The offset of its last PSYNC request (`None` for `PSYNC ? -1`).
    pub psync_offset: Option<u64>,
}

/// The fact a typed replication observation stands for, if any.
pub fn replication_fact(dir: &Directory, cx: &ServerContext<'_>, o: &Observation) -> Option<Fact> {
    let server = cx.server.to_string();
    let primary = || cx.primary.clone().unwrap_or_else(|| "?".to_string());
    Some(match o {
        Observation::FullResyncFromMaster { replid, offset } => Fact::FullResyncStarted {
            server,
            replid: replid.clone(),
            offset: (*offset).max(0) as u64,
        },
        Observation::FullResyncRequested { replica } => Fact::FullResyncNeeded {
            server,
            replica: dir.name_of(replica),
            reason: FullResyncReason::NoCachedMaster,
        },
        Observation::PartialResyncAccepted {
            replica,
            bytes,
            offset,
        } => Fact::PartialResyncAccepted {
            server,
            replica: dir.name_of(replica),
            offset: (*offset).max(0) as u64,
            backlog_bytes: (*bytes).max(0) as u64,
        },
        Observation::PartialResyncNotAccepted(PsyncRefusal::LackOfBacklog {
            replica,
            requested,
        }) => Fact::FullResyncNeeded {
            server,
            replica: dir.name_of(replica),
            reason: backlog_reason(cx.info, *requested),
        },
        Observation::PartialResyncSucceeded => Fact::PartialResyncDone {
            server,
            from_offset: cx.psync_offset.unwrap_or(0),
            primary: primary(),
            replid: cx
                .primary_replid
                .clone()
                .or_else(|| cx.info.map(|i| i.master_replid.clone()))
                .unwrap_or_default(),
        },
        Observation::SyncFinished => Fact::FullResyncDone {
            server,
            keys: cx.keys,
            offset: cx.info.map_or(0, |i| i.master_repl_offset),
            primary: primary(),
        },
        Observation::MasterLinkLost => Fact::LinkClosed {
            server,
            primary: primary(),
        },
        Observation::MasterTimeout => Fact::ReplTimeout {
            server,
            phase: ReplTimeout::Streaming,
        },
        Observation::ConnectingToMaster { host, port } => Fact::Connecting {
            server,
            primary: dir.name_at(host, *port),
        },
        _ => return None,
    })
}

/// The fact an [`ExtraLine`] stands for, if any (a PSYNC refusal by ID is handled by the caller:
/// its line does not name the replica).
pub fn extra_fact(dir: &Directory, cx: &ServerContext<'_>, line: &ExtraLine) -> Option<Fact> {
    let server = cx.server.to_string();
    Some(match line {
        ExtraLine::PsyncRequest { replid, offset } => Fact::PsyncSent {
            server,
            replid: Some(replid.clone()),
            offset: Some(*offset),
        },
        ExtraLine::PsyncNoCachedMaster => Fact::PsyncSent {
            server,
            replid: None,
            offset: None,
        },
        ExtraLine::Flushing => Fact::Flushed {
            server,
            keys: cx.keys,
            rdb_bytes: 0,
        },
        ExtraLine::ReplicaTimedOut { replica } => Fact::ReplicaTimedOut {
            server,
            replica: dir.name_of(replica),
        },
        ExtraLine::HandshakeTimeout => Fact::ReplTimeout {
            server,
            phase: ReplTimeout::Handshake,
        },
    })
}

/// "for lack of backlog" covers both a missing backlog and an offset outside it
/// (replication.c: `masterTryPartialResynchronization`); the primary's INFO tells which.
/// What a cluster node's log line needs besides itself.
pub struct ClusterContext<'a> {
    /// The node's primary before the line, if it was a replica (for an election won).
    pub primary: Option<&'a str>,
    /// The epoch of the node's latest election (an election won takes it as its configEpoch:
    /// cluster.c `clusterHandleSlaveFailover`).
    pub election_epoch: u64,
}

/// The cluster fact a log line stands for, nodes named; `None` for lines without one (PFAIL has
/// no line at notice level: the watcher reads it from `CLUSTER NODES`).
pub fn cluster_fact(
    dir: &Directory,
    cx: &ClusterContext<'_>,
    l: &ClusterLine,
) -> Option<ClusterFact> {
    let name = |id: &str| dir.cluster_node_named(id);
    Some(match l {
        ClusterLine::MarkedFailing { node } => ClusterFact::Fail {
            about: name(node),
            by_quorum: true,
        },
        ClusterLine::FailMessage { about } => ClusterFact::Fail {
            about: name(about),
            by_quorum: false,
        },
        ClusterLine::FailCleared { node } => ClusterFact::FailCleared { about: name(node) },
        ClusterLine::StateChanged { ok } => ClusterFact::State { ok: *ok },
        ClusterLine::ElectionDelayed { delay_ms, rank } => ClusterFact::ElectionScheduled {
            delay_ms: *delay_ms,
            rank: *rank,
        },
        ClusterLine::ElectionStarted { epoch } => ClusterFact::ElectionStarted { epoch: *epoch },
        ClusterLine::CantFailover { reason } => ClusterFact::FailoverBlocked {
            reason: reason.clone(),
        },
        ClusterLine::VoteGranted { to, epoch } => ClusterFact::VoteGranted {
            to: name(to),
            epoch: *epoch,
        },
        ClusterLine::VoteDenied { to, reason } => ClusterFact::VoteRefused {
            to: name(to),
            reason: vote_refusal(reason),
        },
        ClusterLine::ElectionWon => ClusterFact::Promoted {
            replaced: cx.primary?.to_string(),
            epoch: cx.election_epoch,
        },
        ClusterLine::ReplicaOf { primary } => ClusterFact::BecameReplica { of: name(primary) },
        ClusterLine::EpochCollision { epoch } => ClusterFact::ConfigEpochBumped { epoch: *epoch },
        ClusterLine::EpochWithoutConsensus { epoch } => {
            ClusterFact::ConfigEpochWithoutConsensus { epoch: *epoch }
        }
    })
}

/// A vote refusal's reason as the model words it (cluster/election.rs: `VoteRefusal::text`),
/// from the warning `clusterSendFailoverAuthIfNeeded` logs.
fn vote_refusal(logged: &str) -> String {
    if logged.starts_with("reqEpoch (") {
        return "reqEpoch is older than my currentEpoch".into();
    }
    if logged.starts_with("already voted for epoch ") {
        return "already voted in this epoch".into();
    }
    if logged.starts_with("can't vote about this master before ") {
        return "can't vote for any slave of this master before node timeout * 2".into();
    }
    if let Some(r) = logged.strip_prefix("slot ")
        && let Some((slot, _)) = r.split_once(" epoch (")
    {
        return format!("slot {slot} epoch is greater than its configEpoch");
    }
    logged.to_string()
}

fn backlog_reason(info: Option<&ReplicationInfo>, requested: i64) -> FullResyncReason {
    match info {
        Some(i) if i.repl_backlog_active => FullResyncReason::OutOfBacklog {
            requested: requested.max(0) as u64,
            first: i.repl_backlog_first_byte_offset,
            end: i.repl_backlog_first_byte_offset + i.repl_backlog_histlen,
        },
        _ => FullResyncReason::NoBacklog,
    }
}

/// The reason of a PSYNC refusal by ID.
pub fn refusal_reason(r: &PsyncRefusal) -> FullResyncReason {
    match r {
        PsyncRefusal::ReplidMismatch { .. } => FullResyncReason::IdMismatch,
        PsyncRefusal::SecondIdOffset { requested, up_to } => {
            FullResyncReason::SecondIdOffsetTooHigh {
                requested: (*requested).max(0) as u64,
                valid_up_to: (*up_to).max(0) as u64,
            }
        }
        PsyncRefusal::LackOfBacklog { requested, .. } => FullResyncReason::OutOfBacklog {
            requested: (*requested).max(0) as u64,
            first: 0,
            end: 0,
        },
    }
}

/// The fact a sentinel event stands for; `epoch` is the sentinel's current epoch, kept up to date
/// from `+new-epoch` (7.0's `+elected-leader` line does not carry it).
pub fn sentinel_fact(
    dir: &Directory,
    sentinel: &str,
    epoch: &mut u64,
    ev: &SentinelEvent,
) -> Option<Fact> {
    let event = SentinelEventKind::parse(&ev.kind)?;
    let subject = sentinel_subject(dir, event, epoch, ev)?;
    Some(Fact::Sentinel {
        sentinel: sentinel.to_string(),
        event,
        subject,
    })
}

fn number_after(text: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let at = words.iter().position(|w| *w == word)?;
    words.get(at + 1)?.parse().ok()
}

fn sentinel_subject(
    dir: &Directory,
    event: SentinelEventKind,
    epoch: &mut u64,
    ev: &SentinelEvent,
) -> Option<EventSubject> {
    match detail_subject(dir, event, epoch, ev) {
        Some(subject) => subject,
        None => instance_subject(dir, event, *epoch, ev),
    }
}

/// The subject of the events written without an instance (`+new-epoch 3`, `+switch-master ...`);
/// `None` for the others.
fn detail_subject(
    dir: &Directory,
    event: SentinelEventKind,
    epoch: &mut u64,
    ev: &SentinelEvent,
) -> Option<Option<EventSubject>> {
    use SentinelEventKind as K;
    let subject = match event {
        K::NewEpoch => ev.detail.trim().parse().ok().map(|e: u64| {
            *epoch = (*epoch).max(e);
            EventSubject::NewEpoch { epoch: e }
        }),
        K::VoteForLeader => ev.detail.trim().split_once(' ').and_then(|(leader, e)| {
            Some(EventSubject::Vote {
                leader: dir.sentinel_named(leader),
                epoch: e.parse().ok()?,
            })
        }),
        K::SwitchMaster => switch_subject(dir, &ev.detail),
        K::Tilt | K::TiltExit => Some(EventSubject::Tilt {
            entered: event == K::Tilt,
        }),
        _ => return None,
    };
    Some(subject)
}

/// `+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`.
fn switch_subject(dir: &Directory, detail: &str) -> Option<EventSubject> {
    let w: Vec<&str> = detail.split_whitespace().collect();
    let [master, old_ip, old_port, new_ip, new_port] = w.as_slice() else {
        return None;
    };
    Some(EventSubject::Switch {
        master: master.to_string(),
        from: dir.name_at(old_ip, old_port.parse().ok()?),
        to: dir.name_at(new_ip, new_port.parse().ok()?),
    })
}

/// The subject of an event about an instance (`%@`), by the event and the instance's type.
fn instance_subject(
    dir: &Directory,
    event: SentinelEventKind,
    epoch: u64,
    ev: &SentinelEvent,
) -> Option<EventSubject> {
    use SentinelEventKind as K;
    let inst = ev.instance.as_ref()?;
    let node = dir.name_at(&inst.ip, inst.port);
    let master_name = || {
        inst.master
            .as_ref()
            .map_or(inst.name.clone(), |m| m.0.clone())
    };
    Some(match (event, inst.kind.as_str()) {
        (K::Monitor, _) => EventSubject::Monitor {
            master: inst.name.clone(),
            server: node,
            quorum: number_after(&ev.detail, "quorum")? as u32,
        },
        (K::Odown, _) => {
            let (votes, quorum) = ev.detail.strip_prefix("#quorum ")?.split_once('/')?;
            EventSubject::Quorum {
                master: inst.name.clone(),
                server: node,
                votes: votes.parse().ok()?,
                quorum: quorum.trim().parse().ok()?,
            }
        }
        (K::ElectedLeader, _) => EventSubject::Epoch {
            master: inst.name.clone(),
            server: node,
            epoch,
        },
        (K::FailoverEndForTimeout, _) => EventSubject::MasterName {
            master: inst.name.clone(),
        },
        (K::Sdown | K::SdownExit, kind) => EventSubject::Instance {
            is_master: kind == "master",
            server: node,
        },
        (_, "sentinel") => EventSubject::Sentinel { name: node },
        (_, "slave") => EventSubject::Slave { server: node },
        _ => EventSubject::Master {
            master: master_name(),
            server: node,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::observe::Observation;

    fn dir() -> Directory {
        let mut d = Directory::new(vec!["p1".into(), "r1".into(), "s1".into()], 2, 1);
        d.add_proxy("p1", "127.5.1.1:7001".parse().unwrap());
        d.add_proxy("r1", "127.5.1.2:7002".parse().unwrap());
        d.add_proxy("s1", "127.5.1.3:7003".parse().unwrap());
        d.add_run_id("s1", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4");
        d
    }

    fn sentinel(line: &str) -> SentinelEvent {
        match Observation::parse(line).unwrap() {
            Observation::Sentinel(e) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extra_lines_parse() {
        assert_eq!(
            ExtraLine::parse(
                "Trying a partial resynchronization (request 3686079364105450bfad3c5f4fa66f4db508f9b1:51)."
            ),
            Some(ExtraLine::PsyncRequest {
                replid: "3686079364105450bfad3c5f4fa66f4db508f9b1".into(),
                offset: 51
            })
        );
        assert_eq!(
            ExtraLine::parse("Partial resynchronization not possible (no cached master)"),
            Some(ExtraLine::PsyncNoCachedMaster)
        );
        assert_eq!(ExtraLine::parse("Ready to accept connections"), None);
    }

    #[test]
    fn epochs_and_quorums() {
        let d = dir();
        let mut epoch = 0;
        let f = sentinel_fact(&d, "s1", &mut epoch, &sentinel("+new-epoch 3")).unwrap();
        assert!(matches!(
            f,
            Fact::Sentinel {
                subject: EventSubject::NewEpoch { epoch: 3 },
                ..
            }
        ));
        let odown = sentinel("+odown master mymaster 127.5.1.1 7001 #quorum 2/2");
        let f = sentinel_fact(&d, "s1", &mut epoch, &odown).unwrap();
        let Fact::Sentinel { subject, .. } = f else {
            unreachable!()
        };
        assert_eq!(
            subject,
            EventSubject::Quorum {
                master: "mymaster".into(),
                server: "p1".into(),
                votes: 2,
                quorum: 2
            }
        );
        let elected = sentinel("+elected-leader master mymaster 127.5.1.1 7001");
        let Some(Fact::Sentinel { subject, .. }) = sentinel_fact(&d, "s1", &mut epoch, &elected)
        else {
            unreachable!()
        };
        assert!(matches!(subject, EventSubject::Epoch { epoch: 3, .. }));
    }

    #[test]
    fn switches_votes_and_replicas_name_nodes() {
        let d = dir();
        let mut epoch = 3;
        let sw = sentinel("+switch-master mymaster 127.5.1.1 7001 127.5.1.2 7002");
        let Some(Fact::Sentinel { subject, .. }) = sentinel_fact(&d, "s1", &mut epoch, &sw) else {
            unreachable!()
        };
        assert_eq!(
            subject,
            EventSubject::Switch {
                master: "mymaster".into(),
                from: "p1".into(),
                to: "r1".into()
            }
        );
        let vote = sentinel("+vote-for-leader e3b0c44298fc1c149afbf4c8996fb92427ae41e4 3");
        let Some(Fact::Sentinel { subject, .. }) = sentinel_fact(&d, "s1", &mut epoch, &vote)
        else {
            unreachable!()
        };
        assert_eq!(
            subject,
            EventSubject::Vote {
                leader: "s1".into(),
                epoch: 3
            }
        );
        let slave = sentinel(
            "+promoted-slave slave 127.5.1.2:7002 127.5.1.2 7002 @ mymaster 127.5.1.1 7001",
        );
        let Some(Fact::Sentinel { subject, .. }) = sentinel_fact(&d, "s1", &mut epoch, &slave)
        else {
            unreachable!()
        };
        assert_eq!(
            subject,
            EventSubject::Slave {
                server: "r1".into()
            }
        );
        assert!(
            sentinel_fact(
                &d,
                "s1",
                &mut epoch,
                &sentinel("+role-change slave 127.5.1.2:7002 127.5.1.2 7002 @ mymaster 127.5.1.1 7001 new reported role is master")
            )
            .is_none(),
            "events simkv does not model yield no fact"
        );
    }
}

//! Typed observations read from the logs of real servers and sentinels, and a tailer that reads
//! a log's new lines incrementally.
//!
//! Every text matched here is copied from Redis 7.0.15's `serverLog` calls (replication.c,
//! networking.c, cluster.c) and from `sentinelEvent` (sentinel.c), whose lines read
//! `<type> <instance-type> <name> <ip> <port>[ @ <master-name> <master-ip> <master-port>][ extra]`.
//! A log line is `pid:R dd Mon yyyy hh:mm:ss.mmm L message` (server.c: `serverLogRaw`), where R is
//! the role (`X` sentinel, `C` child, `S` replica, `M` master) and L the level (`.`, `-`, `*`, `#`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Longest line kept by the tailer (Redis's `LOG_MAX_LEN` is 1024; longer input is cut).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// One parsed log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The process id that wrote it.
    pub pid: u32,
    /// `X` sentinel, `C` child, `S` replica, `M` master.
    pub role: char,
    /// The timestamp as written (`01 Dec 2026 14:40:01.123`).
    pub time: String,
    /// `.` debug, `-` verbose, `*` notice, `#` warning.
    pub level: char,
    /// The message.
    pub message: String,
}

impl LogLine {
    /// Parses one line; `None` for lines of another shape (the startup banner, for example).
    pub fn parse(line: &str) -> Option<LogLine> {
        let (pid, rest) = line.split_once(':')?;
        let pid = pid.parse().ok()?;
        let mut chars = rest.chars();
        let role = chars.next()?;
        let rest = chars.as_str().strip_prefix(' ')?;
        // The timestamp has four space-separated words: day, month, year, time.
        let mut words = rest.splitn(6, ' ');
        let time: Vec<&str> = (0..4).map(|_| words.next()).collect::<Option<_>>()?;
        let level = words.next()?.chars().next()?;
        let message = words.next().unwrap_or("").to_string();
        if !"XCSM".contains(role) || !".-*#".contains(level) {
            return None;
        }
        Some(LogLine {
            pid,
            role,
            time: time.join(" "),
            level,
            message,
        })
    }
}

/// Why a primary refused a partial resynchronization (replication.c:
/// `masterTryPartialResynchronization`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PsyncRefusal {
    /// "Replication ID mismatch (Replica asked for '%s', my replication IDs are '%s' and '%s')".
    ReplidMismatch {
        /// The ID the replica asked for.
        asked: String,
    },
    /// "Requested offset for second ID was %lld, but I can reply up to %lld".
    SecondIdOffset {
        /// The offset asked for.
        requested: i64,
        /// `second_replid_offset`.
        up_to: i64,
    },
    /// "Unable to partial resync with replica %s for lack of backlog (Replica request was: %lld)."
    LackOfBacklog {
        /// The replica's name (`ip:port`).
        replica: String,
        /// The offset it asked for.
        requested: i64,
    },
}

/// Who a sentinel event is about (sentinel.c: `sentinelEvent`'s `%@`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `master`, `slave` or `sentinel`.
    pub kind: String,
    /// Its name (`mymaster` for a master, `ip:port` for the others).
    pub name: String,
    /// Its address.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// For a replica or sentinel: the master's name, ip and port.
    pub master: Option<(String, String, u16)>,
}

/// One sentinel event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelEvent {
    /// The event type, e.g. `+sdown`, `+failover-state-select-slave`, `+new-epoch`.
    pub kind: String,
    /// The instance named, for events formatted with `%@`.
    pub instance: Option<Instance>,
    /// Whatever follows (e.g. `#quorum 2/2`, or the whole text of `+new-epoch 1`).
    pub detail: String,
}

/// What a log line says happened, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Replica: "Full resync from master: %s:%lld".
    FullResyncFromMaster {
        /// The master's replication ID.
        replid: String,
        /// The offset the stream continues from.
        offset: i64,
    },
    /// Primary: "Full resync requested by replica %s" (PSYNC with `?`).
    FullResyncRequested {
        /// The replica's name.
        replica: String,
    },
    /// Primary: "Starting BGSAVE for SYNC with target: %s".
    FullSyncStarted {
        /// `disk` or `replicas sockets`.
        target: String,
    },
    /// Primary: "Partial resynchronization request from %s accepted. Sending %lld bytes of
    /// backlog starting from offset %lld."
    PartialResyncAccepted {
        /// The replica's name.
        replica: String,
        /// Bytes sent from the backlog.
        bytes: i64,
        /// The offset they start at.
        offset: i64,
    },
    /// Replica: "Successful partial resynchronization with master."
    PartialResyncSucceeded,
    /// Primary: "Partial resynchronization not accepted: ..." or "Unable to partial resync ...".
    PartialResyncNotAccepted(PsyncRefusal),
    /// Primary: "Synchronization with replica %s succeeded".
    ReplicaOnline {
        /// The replica's name.
        replica: String,
    },
    /// Replica: "MASTER <-> REPLICA sync: Finished with success".
    SyncFinished,
    /// Replica: "Connection with master lost."
    MasterLinkLost,
    /// Replica: "MASTER timeout: no data nor PING received..."
    MasterTimeout,
    /// Primary: "Connection with replica %s lost."
    ReplicaLinkLost {
        /// The replica's name.
        replica: String,
    },
    /// "MASTER MODE enabled (user request from '%s')".
    MasterModeEnabled,
    /// "Connecting to MASTER %s:%d".
    ConnectingToMaster {
        /// The master's host.
        host: String,
        /// The master's port.
        port: u16,
    },
    /// A sentinel event.
    Sentinel(SentinelEvent),
}

impl Observation {
    /// Reads the observation in a log message, if it is one simkv knows.
    pub fn parse(message: &str) -> Option<Observation> {
        parse_replication(message).or_else(|| parse_sentinel(message).map(Observation::Sentinel))
    }
    /// Reads the observation in a parsed line: sentinel events only from sentinels (role `X`).
    pub fn from_line(line: &LogLine) -> Option<Observation> {
        if line.role == 'X' {
            parse_sentinel(&line.message).map(Observation::Sentinel)
        } else {
            parse_replication(&line.message)
        }
    }
}

/// A Redis Cluster node's log line (cluster.c of 7.0.15, every one logged at `notice` or
/// `warning`), nodes named by their 40-character IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterLine {
    /// "Marking node %.40s as failing (quorum reached)." (`markNodeAsFailingIfNeeded`).
    MarkedFailing {
        /// The node flagged FAIL.
        node: String,
    },
    /// "FAIL message received from %.40s about %.40s" (`clusterProcessPacket`).
    FailMessage {
        /// The node flagged FAIL.
        about: String,
    },
    /// "Clear FAIL state for node %.40s: ..." (`clearNodeFailureIfNeeded`).
    FailCleared {
        /// The node.
        node: String,
    },
    /// "Cluster state changed: ok" / "... fail" (`clusterUpdateState`).
    StateChanged {
        /// `ok` rather than `fail`.
        ok: bool,
    },
    /// "Start of election delayed for %lld milliseconds (rank #%d, offset %lld)."
    /// (`clusterHandleSlaveFailover`).
    ElectionDelayed {
        /// The delay.
        delay_ms: u64,
        /// The replica's rank.
        rank: u32,
    },
    /// "Starting a failover election for epoch %llu."
    ElectionStarted {
        /// The epoch.
        epoch: u64,
    },
    /// "Currently unable to failover: %s" (`clusterLogCantFailover`).
    CantFailover {
        /// The reason's first sentence, without its full stop.
        reason: String,
    },
    /// "Failover auth granted to %.40s for epoch %llu" (`clusterSendFailoverAuthIfNeeded`).
    VoteGranted {
        /// The replica.
        to: String,
        /// The epoch.
        epoch: u64,
    },
    /// "Failover auth denied to %.40s: %s".
    VoteDenied {
        /// The replica.
        to: String,
        /// The reason as logged.
        reason: String,
    },
    /// "Failover election won: I'm the new master."
    ElectionWon,
    /// "Configuration change detected. Reconfiguring myself as a replica of %.40s"
    /// (`clusterUpdateSlotsConfigWith`), or "I'm a sub-replica! Reconfiguring myself as a
    /// replica of grandmaster %.40s".
    ReplicaOf {
        /// The new primary.
        primary: String,
    },
    /// "WARNING: configEpoch collision with node %.40s. configEpoch set to %llu"
    /// (`clusterHandleConfigEpochCollision`).
    EpochCollision {
        /// The new configEpoch.
        epoch: u64,
    },
    /// "New configEpoch set to %llu" (`clusterBumpConfigEpochWithoutConsensus`: a takeover, or
    /// `CLUSTER SETSLOT <slot> NODE` closing an import on the importing node).
    EpochWithoutConsensus {
        /// The new configEpoch.
        epoch: u64,
    },
}

impl ClusterLine {
    /// The line, if it is one of these.
    pub fn parse(m: &str) -> Option<ClusterLine> {
        use ClusterLine::*;
        let id = |s: &str| s.to_string();
        if let Some(n) = between(m, "Marking node ", " as failing (quorum reached).") {
            return Some(MarkedFailing { node: id(n) });
        }
        if let Some(r) = m.strip_prefix("FAIL message received from ") {
            let (_, about) = r.split_once(" about ")?;
            return Some(FailMessage { about: id(about) });
        }
        if let Some(r) = m.strip_prefix("Clear FAIL state for node ") {
            let (node, _) = r.split_once(':')?;
            return Some(FailCleared { node: id(node) });
        }
        match m {
            "Cluster state changed: ok" => return Some(StateChanged { ok: true }),
            "Cluster state changed: fail" => return Some(StateChanged { ok: false }),
            "Failover election won: I'm the new master." => return Some(ElectionWon),
            _ => {}
        }
        if let Some(r) = m.strip_prefix("Start of election delayed for ") {
            let (delay, r) = r.split_once(" milliseconds (rank #")?;
            let (rank, _) = r.split_once(", offset ")?;
            return Some(ElectionDelayed {
                delay_ms: delay.parse::<i64>().ok()?.max(0) as u64,
                rank: rank.parse().ok()?,
            });
        }
        if let Some(e) = between(m, "Starting a failover election for epoch ", ".") {
            return Some(ElectionStarted {
                epoch: e.parse().ok()?,
            });
        }
        if let Some(r) = m.strip_prefix("Currently unable to failover: ") {
            let first = r.split(". ").next().unwrap_or(r);
            return Some(CantFailover {
                reason: first.trim_end_matches('.').to_string(),
            });
        }
        parse_cluster_votes(m)
    }
}

fn parse_cluster_votes(m: &str) -> Option<ClusterLine> {
    use ClusterLine::*;
    if let Some(r) = m.strip_prefix("Failover auth granted to ") {
        let (to, epoch) = r.split_once(" for epoch ")?;
        return Some(VoteGranted {
            to: to.to_string(),
            epoch: epoch.parse().ok()?,
        });
    }
    if let Some(r) = m.strip_prefix("Failover auth denied to ") {
        let (to, reason) = r.split_once(": ")?;
        return Some(VoteDenied {
            to: to.to_string(),
            reason: reason.to_string(),
        });
    }
    let replica_of = m
        .strip_prefix("Configuration change detected. Reconfiguring myself as a replica of ")
        .or_else(|| {
            m.strip_prefix("I'm a sub-replica! Reconfiguring myself as a replica of grandmaster ")
        });
    if let Some(p) = replica_of {
        return Some(ReplicaOf {
            primary: p.to_string(),
        });
    }
    if let Some(e) = m.strip_prefix("New configEpoch set to ") {
        return Some(EpochWithoutConsensus {
            epoch: e.parse().ok()?,
        });
    }
    let r = m.strip_prefix("WARNING: configEpoch collision with node ")?;
    let (_, epoch) = r.split_once(". configEpoch set to ")?;
    Some(EpochCollision {
        epoch: epoch.parse().ok()?,
    })
}

fn between<'a>(s: &'a str, before: &str, after: &str) -> Option<&'a str> {
    s.strip_prefix(before)?.strip_suffix(after)
}

fn host_port(s: &str) -> Option<(String, u16)> {
    let (h, p) = s.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?))
}

fn parse_replication(m: &str) -> Option<Observation> {
    use Observation::*;
    let exact = [
        (
            "Successful partial resynchronization with master.",
            PartialResyncSucceeded,
        ),
        (
            "MASTER <-> REPLICA sync: Finished with success",
            SyncFinished,
        ),
        ("Connection with master lost.", MasterLinkLost),
        (
            "MASTER timeout: no data nor PING received...",
            MasterTimeout,
        ),
    ];
    if let Some((_, o)) = exact.into_iter().find(|(t, _)| *t == m) {
        return Some(o);
    }
    if let Some(rest) = m.strip_prefix("Full resync from master: ") {
        let (replid, offset) = rest.split_once(':')?;
        return Some(FullResyncFromMaster {
            replid: replid.to_string(),
            offset: offset.parse().ok()?,
        });
    }
    if let Some(r) = m.strip_prefix("Full resync requested by replica ") {
        return Some(FullResyncRequested {
            replica: r.to_string(),
        });
    }
    if let Some(t) = m.strip_prefix("Starting BGSAVE for SYNC with target: ") {
        return Some(FullSyncStarted {
            target: t.to_string(),
        });
    }
    if let Some(r) = between(m, "Synchronization with replica ", " succeeded") {
        return Some(ReplicaOnline {
            replica: r.to_string(),
        });
    }
    if let Some(r) = between(m, "Connection with replica ", " lost.") {
        return Some(ReplicaLinkLost {
            replica: r.to_string(),
        });
    }
    if m.starts_with("MASTER MODE enabled (user request from '") {
        return Some(MasterModeEnabled);
    }
    if let Some(hp) = m.strip_prefix("Connecting to MASTER ") {
        let (host, port) = host_port(hp)?;
        return Some(ConnectingToMaster { host, port });
    }
    parse_psync_answer(m)
}

fn parse_psync_answer(m: &str) -> Option<Observation> {
    if let Some(rest) = m.strip_prefix("Partial resynchronization request from ") {
        let (replica, rest) = rest.split_once(" accepted. Sending ")?;
        let (bytes, offset) =
            between(rest, "", ".")?.split_once(" bytes of backlog starting from offset ")?;
        return Some(Observation::PartialResyncAccepted {
            replica: replica.to_string(),
            bytes: bytes.parse().ok()?,
            offset: offset.parse().ok()?,
        });
    }
    let refusal = if let Some(r) = m.strip_prefix("Partial resynchronization not accepted: ") {
        if let Some(asked) = r.strip_prefix("Replication ID mismatch (Replica asked for '") {
            PsyncRefusal::ReplidMismatch {
                asked: asked.split('\'').next()?.to_string(),
            }
        } else {
            let r = r.strip_prefix("Requested offset for second ID was ")?;
            let (req, up_to) = r.split_once(", but I can reply up to ")?;
            PsyncRefusal::SecondIdOffset {
                requested: req.parse().ok()?,
                up_to: up_to.parse().ok()?,
            }
        }
    } else {
        let r = m.strip_prefix("Unable to partial resync with replica ")?;
        let (replica, req) = r.split_once(" for lack of backlog (Replica request was: ")?;
        PsyncRefusal::LackOfBacklog {
            replica: replica.to_string(),
            requested: between(req, "", ").")?.parse().ok()?,
        }
    };
    Some(Observation::PartialResyncNotAccepted(refusal))
}

/// `+sdown master mymaster 127.0.0.1 6379`, `+new-epoch 1`, ...
fn parse_sentinel(m: &str) -> Option<SentinelEvent> {
    let (kind, rest) = m.split_once(' ').unwrap_or((m, ""));
    let sign_ok = kind.starts_with('+') || kind.starts_with('-');
    if !sign_ok
        || kind.len() < 2
        || !kind[1..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return None;
    }
    let words: Vec<&str> = rest.split(' ').collect();
    let is_instance = matches!(words.first(), Some(&("master" | "slave" | "sentinel")))
        && words.len() >= 4
        && words[3].parse::<u16>().is_ok();
    if !is_instance {
        return Some(SentinelEvent {
            kind: kind.to_string(),
            instance: None,
            detail: rest.to_string(),
        });
    }
    let mut used = 4;
    let master = if words.get(4) == Some(&"@") && words.len() >= 8 {
        used = 8;
        Some((
            words[5].to_string(),
            words[6].to_string(),
            words[7].parse().ok()?,
        ))
    } else {
        None
    };
    Some(SentinelEvent {
        kind: kind.to_string(),
        instance: Some(Instance {
            kind: words[0].to_string(),
            name: words[1].to_string(),
            ip: words[2].to_string(),
            port: words[3].parse().ok()?,
            master,
        }),
        detail: words[used..].join(" "),
    })
}

/// Reads the lines a log gained since the last call. A missing file has no lines yet; a file
/// that shrank (rotated or recreated) is read again from its start.
#[derive(Debug)]
pub struct LogTailer {
    path: PathBuf,
    position: u64,
    partial: Vec<u8>,
}

impl LogTailer {
    /// A tailer at the start of `path`.
    pub fn new(path: &Path) -> LogTailer {
        LogTailer {
            path: path.to_path_buf(),
            position: 0,
            partial: Vec::new(),
        }
    }

    /// The complete lines written since the last call (a line still being written waits).
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        if file.metadata()?.len() < self.position {
            self.position = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.position))?;
        let mut bytes = Vec::new();
        self.position += file.read_to_end(&mut bytes)? as u64;
        self.partial.extend_from_slice(&bytes);
        let mut lines = Vec::new();
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).take(nl).collect();
            lines.push(String::from_utf8_lossy(&line).into_owned());
        }
        if self.partial.len() > MAX_LINE_BYTES {
            lines.push(String::from_utf8_lossy(&self.partial).into_owned());
            self.partial.clear();
        }
        Ok(lines)
    }

    /// The observations in the new lines, with the lines they came from.
    pub fn poll_observations(&mut self) -> io::Result<Vec<(LogLine, Observation)>> {
        Ok(self
            .poll()?
            .iter()
            .filter_map(|l| LogLine::parse(l))
            .filter_map(|l| Observation::from_line(&l).map(|o| (l, o)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(line: &str) -> Observation {
        let l = LogLine::parse(line).expect("a log line");
        Observation::from_line(&l).expect("an observation")
    }

    #[test]
    fn log_line_shape() {
        let l = LogLine::parse(
            "20206:S 01 Dec 2026 14:43:15.787 * Full resync from master: 3686079364105450bfad3c5f4fa66f4db508f9b1:50",
        )
        .unwrap();
        assert_eq!((l.pid, l.role, l.level), (20206, 'S', '*'));
        assert_eq!(l.time, "01 Dec 2026 14:43:15.787");
        assert!(LogLine::parse("                _._").is_none());
        assert!(LogLine::parse("").is_none());
    }

    // Every line below was captured from redis-server / redis-sentinel 7.0.15.
    #[test]
    fn replication_lines() {
        let cases = [
            (
                "20206:S 01 Dec 2026 14:43:15.787 * Full resync from master: 3686079364105450bfad3c5f4fa66f4db508f9b1:50",
                Observation::FullResyncFromMaster {
                    replid: "3686079364105450bfad3c5f4fa66f4db508f9b1".into(),
                    offset: 50,
                },
            ),
            (
                "20187:M 01 Dec 2026 14:43:10.782 * Full resync requested by replica 127.0.0.22:7102",
                Observation::FullResyncRequested {
                    replica: "127.0.0.22:7102".into(),
                },
            ),
            (
                "20187:M 01 Dec 2026 14:43:19.960 * Partial resynchronization request from 127.0.0.22:7102 accepted. Sending 0 bytes of backlog starting from offset 51.",
                Observation::PartialResyncAccepted {
                    replica: "127.0.0.22:7102".into(),
                    bytes: 0,
                    offset: 51,
                },
            ),
            (
                "20206:S 01 Dec 2026 14:43:19.960 * Successful partial resynchronization with master.",
                Observation::PartialResyncSucceeded,
            ),
            (
                "20187:M 01 Dec 2026 14:43:15.797 * Synchronization with replica 127.0.0.22:7102 succeeded",
                Observation::ReplicaOnline {
                    replica: "127.0.0.22:7102".into(),
                },
            ),
            (
                "20206:S 01 Dec 2026 14:43:15.797 * MASTER <-> REPLICA sync: Finished with success",
                Observation::SyncFinished,
            ),
            (
                "20206:S 01 Dec 2026 14:43:19.960 # Connection with master lost.",
                Observation::MasterLinkLost,
            ),
            (
                "20187:M 01 Dec 2026 14:43:18.749 # Connection with replica 127.0.0.22:7102 lost.",
                Observation::ReplicaLinkLost {
                    replica: "127.0.0.22:7102".into(),
                },
            ),
            (
                "25975:M 01 Dec 2026 14:43:37.929 * MASTER MODE enabled (user request from 'id=4 addr=127.0.0.33:49529 laddr=127.0.0.32:7202 fd=8 name=sentinel-ba1ab2af-cmd cmd=exec user=default redir=-1 resp=2')",
                Observation::MasterModeEnabled,
            ),
            (
                "20206:S 01 Dec 2026 14:43:06.759 * Connecting to MASTER 127.0.0.21:7101",
                Observation::ConnectingToMaster {
                    host: "127.0.0.21".into(),
                    port: 7101,
                },
            ),
            (
                "20187:M 01 Dec 2026 14:43:15.786 * Starting BGSAVE for SYNC with target: replicas sockets",
                Observation::FullSyncStarted {
                    target: "replicas sockets".into(),
                },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(observe(line), expected, "{line}");
        }
    }

    #[test]
    fn psync_refusals_with_their_reason() {
        // Texts from replication.c: masterTryPartialResynchronization.
        let mismatch = "1:M 01 Dec 2026 10:00:00.000 * Partial resynchronization not accepted: Replication ID mismatch (Replica asked for 'aaaa', my replication IDs are 'bbbb' and 'cccc')";
        assert_eq!(
            observe(mismatch),
            Observation::PartialResyncNotAccepted(PsyncRefusal::ReplidMismatch {
                asked: "aaaa".into()
            })
        );
        let second = "1:M 01 Dec 2026 10:00:00.000 * Partial resynchronization not accepted: Requested offset for second ID was 500, but I can reply up to 158";
        assert_eq!(
            observe(second),
            Observation::PartialResyncNotAccepted(PsyncRefusal::SecondIdOffset {
                requested: 500,
                up_to: 158
            })
        );
        let backlog = "1:M 01 Dec 2026 10:00:00.000 * Unable to partial resync with replica 127.0.0.12:7000 for lack of backlog (Replica request was: 1234).";
        assert_eq!(
            observe(backlog),
            Observation::PartialResyncNotAccepted(PsyncRefusal::LackOfBacklog {
                replica: "127.0.0.12:7000".into(),
                requested: 1234
            })
        );
    }

    fn event(line: &str) -> SentinelEvent {
        match observe(line) {
            Observation::Sentinel(e) => e,
            other => panic!("not a sentinel event: {other:?}"),
        }
    }

    #[test]
    fn sentinel_events_name_their_instance() {
        let odown = event(
            "25985:X 01 Dec 2026 14:43:37.785 # +odown master mymaster 127.0.0.31 7201 #quorum 1/1",
        );
        assert_eq!(odown.kind, "+odown");
        let i = odown.instance.unwrap();
        assert_eq!(
            (i.kind.as_str(), i.name.as_str(), i.ip.as_str(), i.port),
            ("master", "mymaster", "127.0.0.31", 7201)
        );
        assert_eq!(i.master, None);
        assert_eq!(odown.detail, "#quorum 1/1");

        let selected = event(
            "25985:X 01 Dec 2026 14:43:37.870 # +selected-slave slave 127.0.0.32:7202 127.0.0.32 7202 @ mymaster 127.0.0.31 7201",
        );
        let i = selected.instance.unwrap();
        assert_eq!(i.name, "127.0.0.32:7202");
        assert_eq!(
            i.master,
            Some(("mymaster".into(), "127.0.0.31".into(), 7201))
        );

        let epoch = event("25985:X 01 Dec 2026 14:43:37.785 # +new-epoch 1");
        assert_eq!((epoch.instance, epoch.detail.as_str()), (None, "1"));

        let switch = event(
            "25985:X 01 Dec 2026 14:43:38.894 # +switch-master mymaster 127.0.0.31 7201 127.0.0.32 7202",
        );
        assert_eq!(switch.detail, "mymaster 127.0.0.31 7201 127.0.0.32 7202");
        assert_eq!(
            event("25985:X 01 Dec 2026 14:43:37.929 * +failover-state-wait-promotion slave 127.0.0.32:7202 127.0.0.32 7202 @ mymaster 127.0.0.31 7201").kind,
            "+failover-state-wait-promotion"
        );
    }

    #[test]
    fn cluster_lines() {
        let a = "07c37dfeb235213a872192d90877d0cd55635b91";
        let b = "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca";
        let cases = [
            (
                format!("Marking node {a} as failing (quorum reached)."),
                ClusterLine::MarkedFailing { node: a.into() },
            ),
            (
                format!("FAIL message received from {b} about {a}"),
                ClusterLine::FailMessage { about: a.into() },
            ),
            (
                format!("Clear FAIL state for node {a}: replica is reachable again."),
                ClusterLine::FailCleared { node: a.into() },
            ),
            (
                "Cluster state changed: fail".into(),
                ClusterLine::StateChanged { ok: false },
            ),
            (
                "Start of election delayed for 682 milliseconds (rank #0, offset 84256).".into(),
                ClusterLine::ElectionDelayed {
                    delay_ms: 682,
                    rank: 0,
                },
            ),
            (
                "Starting a failover election for epoch 4.".into(),
                ClusterLine::ElectionStarted { epoch: 4 },
            ),
            (
                "Currently unable to failover: Disconnected from master for longer than allowed. \
                 Please check the 'cluster-replica-validity-factor' configuration option."
                    .into(),
                ClusterLine::CantFailover {
                    reason: "Disconnected from master for longer than allowed".into(),
                },
            ),
            (
                format!("Failover auth granted to {a} for epoch 4"),
                ClusterLine::VoteGranted {
                    to: a.into(),
                    epoch: 4,
                },
            ),
            (
                format!("Failover auth denied to {a}: its master is up"),
                ClusterLine::VoteDenied {
                    to: a.into(),
                    reason: "its master is up".into(),
                },
            ),
            (
                "Failover election won: I'm the new master.".into(),
                ClusterLine::ElectionWon,
            ),
            (
                format!("Configuration change detected. Reconfiguring myself as a replica of {b}"),
                ClusterLine::ReplicaOf { primary: b.into() },
            ),
            (
                format!("WARNING: configEpoch collision with node {b}. configEpoch set to 7"),
                ClusterLine::EpochCollision { epoch: 7 },
            ),
            (
                "New configEpoch set to 9".into(),
                ClusterLine::EpochWithoutConsensus { epoch: 9 },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(ClusterLine::parse(&line), Some(expected), "{line}");
        }
        assert_eq!(ClusterLine::parse("Cluster state changed: maybe"), None);
    }

    #[test]
    fn server_lines_are_never_sentinel_events() {
        let l =
            LogLine::parse("1:M 01 Dec 2026 10:00:00.000 * +sdown master m 127.0.0.1 1").unwrap();
        assert_eq!(Observation::from_line(&l), None);
    }

    #[test]
    fn tailer_reads_only_complete_new_lines() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("simkv-tailer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let mut t = LogTailer::new(&path);
        assert!(t.poll().unwrap().is_empty(), "no file yet");
        let mut f = std::fs::File::create(&path).unwrap();
        write!(f, "one\ntw").unwrap();
        assert_eq!(t.poll().unwrap(), vec!["one".to_string()]);
        write!(f, "o\nthree\n").unwrap();
        assert_eq!(
            t.poll().unwrap(),
            vec!["two".to_string(), "three".to_string()]
        );
        assert!(t.poll().unwrap().is_empty());
        drop(f);
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(
            t.poll().unwrap(),
            vec!["new".to_string()],
            "a shorter file is reread"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

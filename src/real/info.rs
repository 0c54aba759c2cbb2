//! `INFO replication` as a typed struct (the fields are those of replication.c:
//! `genRedisInfoString`'s "Replication" section in 7.0), so the real backend reads offsets, backlog
//! bounds and link states the way the simulator reports them.

use std::collections::BTreeMap;
use std::fmt;

/// A server's role as `INFO` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoRole {
    /// `role:master`.
    Master,
    /// `role:slave`.
    Replica,
}

/// One `slaveN:` line of a primary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedReplica {
    /// The announced (or connection) address.
    pub ip: String,
    /// The announced listening port.
    pub port: u16,
    /// `wait_bgsave`, `send_bulk`, `online`, ...
    pub state: String,
    /// The replica's last acknowledged offset.
    pub offset: u64,
    /// Seconds since its last `REPLCONF ACK`.
    pub lag_seconds: u64,
}

/// The replica side of `INFO replication` (present when `role:slave`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSide {
    /// `master_host`.
    pub master_host: String,
    /// `master_port`.
    pub master_port: u16,
    /// `master_link_status` is `up`.
    pub master_link_up: bool,
    /// `master_link_down_since_seconds` (only while the link is down; -1 if it was never up).
    pub master_link_down_since_seconds: Option<i64>,
    /// `slave_repl_offset`: the offset processed so far.
    pub slave_repl_offset: u64,
    /// `master_sync_in_progress` is 1.
    pub sync_in_progress: bool,
}

/// `INFO replication`, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationInfo {
    /// `role`.
    pub role: InfoRole,
    /// `master_replid`.
    pub master_replid: String,
    /// `master_replid2`.
    pub master_replid2: String,
    /// `master_repl_offset`.
    pub master_repl_offset: u64,
    /// `second_repl_offset` (-1 when there is no second ID).
    pub second_repl_offset: i64,
    /// `repl_backlog_active` is 1.
    pub repl_backlog_active: bool,
    /// `repl_backlog_size` in bytes (the configured size).
    pub repl_backlog_size: u64,
    /// `repl_backlog_first_byte_offset`.
    pub repl_backlog_first_byte_offset: u64,
    /// `repl_backlog_histlen`: bytes held.
    pub repl_backlog_histlen: u64,
    /// The `slaveN:` lines in order.
    pub replicas: Vec<ConnectedReplica>,
    /// The replica side, when `role:slave`.
    pub replica: Option<ReplicaSide>,
}

/// Why a text is not a valid `INFO replication`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoError(pub String);

impl fmt::Display for InfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INFO replication: {}", self.0)
    }
}

impl std::error::Error for InfoError {}

struct Fields(BTreeMap<String, String>);

impl Fields {
    fn text(&self, k: &str) -> Result<&str, InfoError> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| InfoError(format!("missing field {k}")))
    }
    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<T, InfoError> {
        let v = self.text(k)?;
        v.parse()
            .map_err(|_| InfoError(format!("field {k} is not a number: {v:?}")))
    }
}

impl ReplicationInfo {
    /// Parses the text of `INFO replication` (or a full `INFO`: other sections are ignored).
    pub fn parse(text: &str) -> Result<ReplicationInfo, InfoError> {
        let mut fields = BTreeMap::new();
        let mut replicas = Vec::new();
        for line in text.lines().map(str::trim) {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if is_replica_line(k) {
                replicas.push(parse_replica(v)?);
            } else {
                fields.insert(k.to_string(), v.to_string());
            }
        }
        let f = Fields(fields);
        let role = match f.text("role")? {
            "master" => InfoRole::Master,
            "slave" => InfoRole::Replica,
            other => return Err(InfoError(format!("unknown role {other:?}"))),
        };
        let replica = match role {
            InfoRole::Replica => Some(parse_replica_side(&f)?),
            InfoRole::Master => None,
        };
        Ok(ReplicationInfo {
            role,
            master_replid: f.text("master_replid")?.to_string(),
            master_replid2: f.text("master_replid2")?.to_string(),
            master_repl_offset: f.num("master_repl_offset")?,
            second_repl_offset: f.num("second_repl_offset")?,
            repl_backlog_active: f.num::<u8>("repl_backlog_active")? == 1,
            repl_backlog_size: f.num("repl_backlog_size")?,
            repl_backlog_first_byte_offset: f.num("repl_backlog_first_byte_offset")?,
            repl_backlog_histlen: f.num("repl_backlog_histlen")?,
            replicas,
            replica,
        })
    }
}

fn is_replica_line(key: &str) -> bool {
    key.strip_prefix("slave")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn parse_replica_side(f: &Fields) -> Result<ReplicaSide, InfoError> {
    let down_since = match f.0.get("master_link_down_since_seconds") {
        None => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| InfoError(format!("master_link_down_since_seconds is {v:?}")))?,
        ),
    };
    Ok(ReplicaSide {
        master_host: f.text("master_host")?.to_string(),
        master_port: f.num("master_port")?,
        master_link_up: f.text("master_link_status")? == "up",
        master_link_down_since_seconds: down_since,
        slave_repl_offset: f.num("slave_repl_offset")?,
        sync_in_progress: f.num::<u8>("master_sync_in_progress")? == 1,
    })
}

/// `ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0`.
fn parse_replica(v: &str) -> Result<ConnectedReplica, InfoError> {
    let kv: BTreeMap<&str, &str> = v.split(',').filter_map(|p| p.split_once('=')).collect();
    let get = |k: &str| {
        kv.get(k)
            .copied()
            .ok_or_else(|| InfoError(format!("replica line {v:?} has no {k}")))
    };
    let num = |k: &str| -> Result<u64, InfoError> {
        get(k)?
            .parse()
            .map_err(|_| InfoError(format!("replica line {v:?}: {k} is not a number")))
    };
    Ok(ConnectedReplica {
        ip: get("ip")?.to_string(),
        port: get("port")?
            .parse()
            .map_err(|_| InfoError(format!("replica line {v:?}: bad port")))?,
        state: get("state")?.to_string(),
        offset: num("offset")?,
        lag_seconds: num("lag")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from redis-server 7.0.15 (INFO replication, CRLF line ends as sent).
    const PRIMARY: &str = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
        slave0:ip=127.0.0.22,port=7102,state=online,offset=50,lag=1\r\n\
        master_failover_state:no-failover\r\n\
        master_replid:3686079364105450bfad3c5f4fa66f4db508f9b1\r\n\
        master_replid2:0000000000000000000000000000000000000000\r\n\
        master_repl_offset:50\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\n\
        repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\n\
        repl_backlog_histlen:50\r\n";

    const REPLICA_DOWN: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.21\r\n\
        master_port:7101\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n\
        master_sync_in_progress:0\r\nslave_read_repl_offset:50\r\nslave_repl_offset:50\r\n\
        master_link_down_since_seconds:2\r\nslave_priority:100\r\nslave_read_only:1\r\n\
        replica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
        master_replid:3686079364105450bfad3c5f4fa66f4db508f9b1\r\n\
        master_replid2:0000000000000000000000000000000000000000\r\n\
        master_repl_offset:50\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:1\r\n\
        repl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\n\
        repl_backlog_histlen:50\r\n";

    #[test]
    fn primary_with_one_replica() {
        let i = ReplicationInfo::parse(PRIMARY).unwrap();
        assert_eq!(i.role, InfoRole::Master);
        assert_eq!(i.master_replid, "3686079364105450bfad3c5f4fa66f4db508f9b1");
        assert_eq!(i.master_repl_offset, 50);
        assert_eq!(i.second_repl_offset, -1);
        assert!(i.repl_backlog_active);
        assert_eq!(i.repl_backlog_size, 1 << 20);
        assert_eq!(i.repl_backlog_first_byte_offset, 1);
        assert_eq!(i.repl_backlog_histlen, 50);
        assert_eq!(
            i.replicas,
            vec![ConnectedReplica {
                ip: "127.0.0.22".into(),
                port: 7102,
                state: "online".into(),
                offset: 50,
                lag_seconds: 1,
            }]
        );
        assert_eq!(i.replica, None);
    }

    #[test]
    fn replica_whose_link_is_down() {
        let i = ReplicationInfo::parse(REPLICA_DOWN).unwrap();
        assert_eq!(i.role, InfoRole::Replica);
        assert!(i.replicas.is_empty());
        let r = i.replica.unwrap();
        assert_eq!(
            (r.master_host.as_str(), r.master_port),
            ("127.0.0.21", 7101)
        );
        assert!(!r.master_link_up);
        assert_eq!(r.master_link_down_since_seconds, Some(2));
        assert_eq!(r.slave_repl_offset, 50);
        assert!(!r.sync_in_progress);
    }

    #[test]
    fn missing_or_garbled_fields_are_errors() {
        let no_offset = PRIMARY.replace("master_repl_offset:50\r\n", "");
        assert_eq!(
            ReplicationInfo::parse(&no_offset).unwrap_err(),
            InfoError("missing field master_repl_offset".into())
        );
        let bad_lag = PRIMARY.replace("lag=1", "lag=x");
        assert!(ReplicationInfo::parse(&bad_lag).is_err());
        assert!(ReplicationInfo::parse(&PRIMARY.replace("role:master", "role:boss")).is_err());
    }
}

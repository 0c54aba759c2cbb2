//! Cluster bus messages (`cluster.h: clusterMsg`): a header every message carries, a typed body
//! per message type, and their byte sizes as Redis 7.0 puts them on the wire.

use super::topology::{NodeId, SlotSet};

/// `offsetof(clusterMsg, data)`: the header every bus message carries, in bytes (cluster.h).
pub const HEADER_BYTES: usize = 2256;
/// `sizeof(clusterMsgDataGossip)`: one gossip entry, in bytes (cluster.h).
pub const GOSSIP_ENTRY_BYTES: usize = 104;
/// `sizeof(clusterMsgDataFail)`: the name of the failing node (cluster.h).
pub const FAIL_BODY_BYTES: usize = 40;
/// `sizeof(clusterMsgDataUpdate)`: configEpoch, node name and slot bitmap (cluster.h).
pub const UPDATE_BODY_BYTES: usize = 8 + 40 + SlotSet::WIRE_BYTES;

/// A node's flags as carried in a header or a gossip entry (the relevant `CLUSTER_NODE_*` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireFlags {
    /// `CLUSTER_NODE_MASTER` (else `CLUSTER_NODE_SLAVE`).
    pub primary: bool,
    /// `CLUSTER_NODE_PFAIL` in the sender's view.
    pub pfail: bool,
    /// `CLUSTER_NODE_FAIL` in the sender's view.
    pub fail: bool,
    /// `CLUSTER_NODE_NOFAILOVER`.
    pub no_failover: bool,
}

/// What every message says about its sender (`cluster.c: clusterBuildMessageHdr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sender.
    pub sender: NodeId,
    /// The sender's currentEpoch.
    pub current_epoch: u64,
    /// The configEpoch of the sender, or of its primary when it is a replica.
    pub config_epoch: u64,
    /// The sender's replication offset (`master_repl_offset`, or the replica's offset).
    pub offset: u64,
    /// The slots of the sender, or of its primary when it is a replica (`myslots`).
    pub slots: SlotSet,
    /// The primary the sender replicates (`slaveof`), `None` for a primary.
    pub replica_of: Option<NodeId>,
    /// The sender's own flags.
    pub flags: WireFlags,
    /// The sender's cluster state is OK (`state`).
    pub state_ok: bool,
    /// Manual failover: vote even though the primary is up (`CLUSTERMSG_FLAG0_FORCEACK`).
    pub force_ack: bool,
    /// A primary whose clients are paused for a manual failover: `offset` is final
    /// (`CLUSTERMSG_FLAG0_PAUSED`).
    pub paused: bool,
}

/// One gossip entry about a third node (`clusterMsgDataGossip`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    /// The node gossiped about.
    pub node: NodeId,
    /// When the sender last pinged it, whole seconds as milliseconds (0: no ping pending).
    pub ping_sent_ms: u64,
    /// When the sender last got its pong, whole seconds as milliseconds.
    pub pong_received_ms: u64,
    /// Its flags in the sender's view.
    pub flags: WireFlags,
}

/// The message types this model uses (`CLUSTERMSG_TYPE_*`) with their bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `PING` (0) with gossip.
    Ping { gossip: Vec<Gossip> },
    /// `PONG` (1) with gossip. `answers_ping` is true when it answers a PING, i.e. it arrives on
    /// the link the receiver opened; only those reset the receiver's pending ping.
    Pong {
        gossip: Vec<Gossip>,
        answers_ping: bool,
    },
    /// `MEET` (2): a PING that makes the receiver add the sender.
    Meet { gossip: Vec<Gossip> },
    /// `FAIL` (3): `about` is failing; receivers flag it FAIL.
    Fail { about: NodeId },
    /// `FAILOVER_AUTH_REQUEST` (5): a replica asks primaries for their vote.
    AuthRequest,
    /// `FAILOVER_AUTH_ACK` (6): a primary grants its vote.
    AuthAck,
    /// `UPDATE` (7): `about` serves `slots` at `config_epoch`; the receiver is stale.
    Update {
        about: NodeId,
        config_epoch: u64,
        slots: SlotSet,
    },
    /// `MFSTART` (8): a replica asks its primary to pause clients for a manual failover.
    MfStart,
}

/// A cluster bus message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusMessage {
    /// The header.
    pub header: Header,
    /// The typed body.
    pub body: Body,
}

impl BusMessage {
    /// The message type number (`CLUSTERMSG_TYPE_*`).
    pub fn type_code(&self) -> u16 {
        match self.body {
            Body::Ping { .. } => 0,
            Body::Pong { .. } => 1,
            Body::Meet { .. } => 2,
            Body::Fail { .. } => 3,
            Body::AuthRequest => 5,
            Body::AuthAck => 6,
            Body::Update { .. } => 7,
            Body::MfStart => 8,
        }
    }

    /// The message's name as Redis logs it.
    pub fn type_name(&self) -> &'static str {
        match self.body {
            Body::Ping { .. } => "ping",
            Body::Pong { .. } => "pong",
            Body::Meet { .. } => "meet",
            Body::Fail { .. } => "fail",
            Body::AuthRequest => "auth-req",
            Body::AuthAck => "auth-ack",
            Body::Update { .. } => "update",
            Body::MfStart => "mfstart",
        }
    }

    /// The gossip entries, for PING, PONG and MEET.
    pub fn gossip(&self) -> &[Gossip] {
        match &self.body {
            Body::Ping { gossip } | Body::Pong { gossip, .. } | Body::Meet { gossip } => gossip,
            _ => &[],
        }
    }

    /// `totlen`: the bytes this message takes on the bus (`cluster.c: clusterSendPing`,
    /// `clusterBuildMessageHdr`). Hostname extensions are not modelled.
    pub fn size_bytes(&self) -> usize {
        HEADER_BYTES
            + match &self.body {
                Body::Ping { gossip } | Body::Pong { gossip, .. } | Body::Meet { gossip } => {
                    gossip.len() * GOSSIP_ENTRY_BYTES
                }
                Body::Fail { .. } => FAIL_BODY_BYTES,
                Body::AuthRequest | Body::AuthAck | Body::MfStart => 0,
                Body::Update { .. } => UPDATE_BODY_BYTES,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            sender: NodeId(1),
            current_epoch: 7,
            config_epoch: 3,
            offset: 0,
            slots: SlotSet::from_range(0..=99),
            replica_of: None,
            flags: WireFlags {
                primary: true,
                ..WireFlags::default()
            },
            state_ok: true,
            force_ack: false,
            paused: false,
        }
    }

    fn entry(node: u32) -> Gossip {
        Gossip {
            node: NodeId(node),
            ping_sent_ms: 0,
            pong_received_ms: 1000,
            flags: WireFlags::default(),
        }
    }

    #[test]
    fn sizes_follow_cluster_msg() {
        let ping = BusMessage {
            header: header(),
            body: Body::Ping {
                gossip: vec![entry(2), entry(3), entry(4)],
            },
        };
        assert_eq!(ping.size_bytes(), 2256 + 3 * 104);
        assert_eq!(ping.type_code(), 0);
        assert_eq!(ping.gossip().len(), 3);
        let fail = BusMessage {
            header: header(),
            body: Body::Fail { about: NodeId(2) },
        };
        assert_eq!(fail.size_bytes(), 2296);
        let ack = BusMessage {
            header: header(),
            body: Body::AuthAck,
        };
        assert_eq!(ack.size_bytes(), 2256);
        assert!(ack.gossip().is_empty());
        let update = BusMessage {
            header: header(),
            body: Body::Update {
                about: NodeId(2),
                config_epoch: 9,
                slots: SlotSet::default(),
            },
        };
        assert_eq!(update.size_bytes(), 2256 + 2096);
        assert_eq!(update.type_name(), "update");
    }
}

//! Redis Cluster as sans-IO state machines: key slots, the slot map, redirections, the cluster
//! bus, failure detection and replica elections, modelled on `cluster.c` of Redis 7.0.15.
//!
//! A [`node::ClusterNode`] is one node's bus logic. The caller owns time, randomness and the
//! network: it calls `tick` every 100 ms (`clusterCron`) and `on_message` for each delivered
//! [`bus::BusMessage`], sends what the returned [`node::Output`] lists, and records its
//! [`node::ClusterEvent`]s.
//!
//! - [`slot`]: CRC16 and `keyHashSlot`.
//! - [`topology`]: one node's view: nodes, slot owners, shards, epochs.
//! - [`state`]: the cluster state OK/FAIL (`clusterUpdateState`).
//! - [`redirect`]: `getNodeByQuery` and the MOVED/ASK/CROSSSLOT/TRYAGAIN/CLUSTERDOWN errors.
//! - [`bus`]: bus messages and their sizes.
//! - [`node`]: the state machine: cron, message dispatch, events.
//! - [`gossip`]: PING/PONG gossip sections, sent and received.
//! - [`failure`]: failure reports, PFAIL → FAIL, clearing FAIL.
//! - [`election`]: replica elections and votes.
//! - [`manual`]: `CLUSTER FAILOVER [FORCE|TAKEOVER]`.
//! - [`migration`]: replica migration to orphaned primaries.
//! - [`reshard`]: `CLUSTER SETSLOT` (resharding).
//! - [`ownership`]: slot claims, UPDATE, demotion, configEpoch collisions.
//! - [`harness`]: a small deterministic driver (fixed latency, kill, partition) for tests.

pub mod bus;
pub mod election;
pub mod failure;
pub mod gossip;
pub mod harness;
pub mod manual;
pub mod migration;
pub mod node;
pub mod ownership;
pub mod redirect;
pub mod reshard;
pub mod slot;
pub mod state;
pub mod topology;

#[cfg(test)]
mod tests;

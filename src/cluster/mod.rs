//! Redis Cluster as sans-IO state machines: key slots, the slot map, redirections, the cluster
//! bus, failure detection and replica elections, modelled on `cluster.c` of Redis 7.0.15.
//!
//! - [`slot`]: CRC16 and `keyHashSlot`.
//! - [`topology`]: one node's view: nodes, slot owners, shards, epochs.
//! - [`state`]: the cluster state OK/FAIL (`clusterUpdateState`).
//! - [`redirect`]: `getNodeByQuery` and the MOVED/ASK/CROSSSLOT/TRYAGAIN/CLUSTERDOWN errors.

pub mod redirect;
pub mod slot;
pub mod state;
pub mod topology;

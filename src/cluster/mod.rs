//! Redis Cluster as sans-IO state machines: key slots, the slot map, redirections, the cluster
//! bus, failure detection and replica elections, modelled on `cluster.c` of Redis 7.0.15.
//!
//! - [`slot`]: CRC16 and `keyHashSlot`.

pub mod slot;

//! simkv: a deterministic simulation testbed for Redis-style replication.
//!
//! The map of the code (see docs/ARCHITECTURE.md for the invariants):
//! - [`sim`]: the kernel: virtual time, event queue, named RNG streams, trace hash.
//! - [`net`]: regions, latency, bandwidth, TCP-like links and their faults.
//! - [`redis`]: the server model: keyspace, replication, backlog, PSYNC, WAIT, persistence.
//! - [`sentinel`]: Redis Sentinel: detection, agreement, election, failover.
//! - [`client`]: workload clients that record the history.
//! - [`fault`]: what can go wrong and when; [`nemesis`]: random fault schedules.
//! - [`scenario`]: the TOML schema, overrides, validation and user-facing errors.
//! - [`world`]: assembles one run and drives it.
//! - [`history`], [`check`], [`expect`]: the verdict.
//! - [`metrics`], [`report`]: what users see.
//! - [`fact`]: the typed facts a run observes (the trace); [`cluster`]: Redis Cluster's slots,
//!   bus, failure detection and replica elections as sans-IO state machines; [`real`]: real
//!   redis-server/redis-sentinel processes: RESP client, supervisor, INFO, log observations,
//!   link proxies; [`fuzz`]: a deterministic mutation fuzzer of every input simkv reads.
//! - [`sweep`]: many seeds in parallel, sharded; [`shrink`]: smaller failing scenarios; [`runner`]: scenario in, summary out; [`bench`]: performance figures; [`bugs`]: planted
//!   bugs that the checkers must catch.

pub mod bench;
pub mod bugs;
pub mod check;
pub mod client;
pub mod cluster;
pub mod compare;
pub mod expect;
pub mod fact;
pub mod fault;
pub mod fuzz;
pub mod history;
pub mod metrics;
pub mod nemesis;
pub mod net;
pub mod proto;
pub mod real;
pub mod redis;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod sentinel;
pub mod server;
pub mod shrink;
pub mod sim;
pub mod stats;
pub mod sweep;
pub mod world;

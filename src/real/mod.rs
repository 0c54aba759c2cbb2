//! The real backend's foundation: driving real `redis-server`/`redis-sentinel` processes on
//! loopback and reading what they do, so runs can be compared with the simulator.
//!
//! - [`resp`]: a RESP2 client with a chosen source address and per-command timeouts.
//! - [`supervisor`]: starts, signals, restarts and cleans up the processes of one run.
//! - [`info`]: `INFO replication` as a typed struct.
//! - [`observe`]: typed events read from server and sentinel logs, and a log tailer.
//! - [`proxy`]: per-link TCP proxies on loopback: cuts that hold bytes, heals, one-way latency.
//! - [`run`]: a whole scenario against real processes (`--backend real`), built from [`plan`]
//!   (addresses, knobs, refusals), [`workload`] (RESP clients), [`faults`] (the wall-clock
//!   schedule), [`watch`] and [`translate`] (INFO and logs into facts), [`directory`] (names).
//! - [`vitals`]: commands, keyspace hits, clients, memory, latency percentiles and the slow
//!   log from `INFO` and `SLOWLOG GET`.
//! - [`cluster`]: a Redis Cluster's nodes joined into the scenario's layout before the run.
//! - [`reshard`]: `redis-cli --cluster reshard` and the console's `CLUSTER SETSLOT`/`MIGRATE`.
//! - [`diff`]: the simulator and the real backend side by side, with tolerances and verdicts.
//!
//! **Architecture Invariant:** nothing here is used by simulated code; this is the only module
//! allowed to read the wall clock, and it only ever talks to 127.0.0.0/8.

pub mod cluster;
pub mod diff;
pub mod directory;
pub mod faults;
pub mod info;
pub mod observe;
pub mod output;
pub mod plan;
pub mod proxy;
pub mod reshard;
pub mod resp;
pub mod run;
pub mod supervisor;
pub mod translate;
pub mod vitals;
pub mod watch;
pub mod workload;

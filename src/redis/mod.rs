//! The Redis model: keyspace and commands, the replication stream and backlog, PSYNC, WAIT,
//! `min-replicas-to-write`, persistence, and the server state machine that ties them together.

mod backlog;
mod command;
mod config;
mod keyspace;
mod persistence;
mod replication;
mod server;

pub use backlog::{BACKLOG_MIN_SIZE, BLOCK_MIN_BYTES, Backlog, StreamEntry, StreamItem};
pub use command::{Command, Reply, errors, ping_len, resp_array_len, select_len};
pub use config::{Fsync, OutputBufferLimit, ServerConfig};
pub use keyspace::{Applied, Keyspace};
pub use persistence::{AofFile, Disk, RdbFile};
pub use replication::{FullResyncReason, PsyncDecision, ReplId, ReplIdentity, decide_psync};
pub use server::{Role, Server, ServerStats};

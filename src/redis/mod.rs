//! The Redis vocabulary: commands and replies, the keyspace, the replication stream and its
//! backlog, replication identities and the PSYNC decision, redis.conf knobs, and what a disk
//! holds. The server state machine that uses them lives in `server`.

mod backlog;
mod command;
mod config;
mod keyspace;
mod latency;
mod persistence;
mod pubsub;
mod replication;
mod slowlog;

pub use backlog::{BACKLOG_MIN_SIZE, BLOCK_MIN_BYTES, Backlog, StreamEntry, StreamItem};
pub use command::{
    Command, Reply, errors, ping_len, resp_array_len, resp_array_len_of, resp_bulk_len, select_len,
};
pub use config::{DebugCommand, Fsync, OutputBufferLimit, RedisVersion, ServerConfig};
pub use keyspace::{Applied, Keyspace, Value, ull2string};
pub use latency::{LatencyHistogram, Percentiles};
pub use persistence::{AofFile, Disk, RdbFile};
pub use pubsub::{HELLO_CHANNEL, Hello};
pub use replication::{FullResyncReason, Mark, PsyncDecision, ReplId, ReplIdentity, decide_psync};
pub use slowlog::{Slowlog, SlowlogEntry, argv as slowlog_argv, words as slowlog_words};

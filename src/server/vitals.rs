//! What a server counts about the commands it runs, as `INFO` reports it: commands by kind
//! (`stat_numcommands` split by the `readonly` and `write` flags), keyspace hits and misses,
//! per-command latency histograms (`INFO latencystats`) and the slow log. The model spends no
//! time executing a data command, so its duration is 0; an operator's SAVE or DEBUG SLEEP
//! blocks the server and lasts that long. A WAIT that blocks is counted but, as in Redis 7.0,
//! never recorded in the histogram or the slow log.

use std::collections::BTreeMap;

use super::Server;
use crate::redis::{Command, LatencyHistogram, ServerConfig, Slowlog, slowlog_words};
use crate::sim::SimTime;

/// A server's command counters, histograms and slow log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandVitals {
    /// Client commands with the `readonly` flag that ran (GET, SMEMBERS).
    pub reads: u64,
    /// Client commands with the `write` flag that ran (SET, INCR, DEL, APPEND, SADD).
    pub writes: u64,
    /// Client commands with neither flag that ran (WAIT, WAITAOF).
    pub other: u64,
    /// Commands of the replication stream applied as a replica (Redis counts them in
    /// `stat_numcommands` too; simkv keeps them apart from client commands).
    pub replicated: u64,
    /// `keyspace_hits`: reads that found their key (db.c: `lookupKeyReadWithFlags`).
    pub keyspace_hits: u64,
    /// `keyspace_misses`: reads of a missing key.
    pub keyspace_misses: u64,
    /// Server-side duration per command name, as `latency_percentiles_usec_<cmd>`, in name
    /// order (a handful of names, found by their address first: see [`CommandVitals::finish`]).
    latency: Vec<(&'static str, LatencyHistogram)>,
    /// `SLOWLOG GET`.
    pub slowlog: Slowlog,
    slower_than_us: i64,
    max_len: u64,
}

impl CommandVitals {
    /// Empty counters, with the slow log's knobs from `cfg`.
    pub(crate) fn new(cfg: &ServerConfig) -> Self {
        CommandVitals {
            slower_than_us: cfg.slowlog_log_slower_than_us,
            max_len: cfg.slowlog_max_len,
            ..CommandVitals::default()
        }
    }

    /// server.c: `call()` counts a command that ran; a read also counts its keys' hits and
    /// misses (`lookups`).
    pub(crate) fn count(&mut self, cmd: &Command, lookups: (u64, u64)) {
        if cmd.is_write() {
            self.writes += 1;
        } else if cmd.key().is_some() {
            self.reads += 1;
        } else {
            self.other += 1;
        }
        self.keyspace_hits += lookups.0;
        self.keyspace_misses += lookups.1;
    }

    /// server.c: `call()` records a command's duration in its latency histogram
    /// (`updateCommandLatencyHistogram`, in ns) and offers it to the slow log
    /// (`slowlogPushCurrentCommand`, in µs); `argv` gives its words when the slow log keeps it.
    pub(crate) fn finish(
        &mut self,
        name: &'static str,
        argv: impl FnOnce() -> Vec<String>,
        started: SimTime,
        now: SimTime,
    ) {
        let ns = now.since(started);
        self.histogram(name).record(ns);
        let (slower, max) = (self.slower_than_us, self.max_len);
        self.slowlog
            .push_if_needed(slower, max, argv, now.as_ms(), ns / 1_000);
    }

    /// The histogram of command `name`, made when first needed. A name is almost always the
    /// same `&'static str` as before, so its address finds it; the text decides otherwise.
    fn histogram(&mut self, name: &'static str) -> &mut LatencyHistogram {
        let i = match self
            .latency
            .iter()
            .position(|(n, _)| std::ptr::eq(*n, name))
        {
            Some(i) => i,
            None => match self.latency.binary_search_by(|(n, _)| (*n).cmp(name)) {
                Ok(i) => i,
                Err(i) => {
                    self.latency.insert(i, (name, LatencyHistogram::default()));
                    i
                }
            },
        };
        &mut self.latency[i].1
    }

    /// An operator's command that blocks the event loop for `ns` from `now` (SAVE, DEBUG
    /// SLEEP): `call()` counts it and measures it when it returns, the block included.
    pub(crate) fn blocking(&mut self, name: &'static str, text: &str, now: SimTime, ns: u64) {
        self.other += 1;
        self.finish(name, || slowlog_words(text), now, now.plus(ns));
    }
}

impl Server {
    /// The command counters, latency histograms and slow log.
    pub fn vitals(&self) -> &CommandVitals {
        &self.vitals
    }

    /// Bytes of writes that are not yet on disk: the AOF commands past the last fsync (or, with
    /// `appendfsync no`, the OS writeback) and those still in `aof_buf` (a flush postponed
    /// behind a slow fsync, or a failed write), by their RESP length as `feedAppendOnlyFile`
    /// writes them. `None` with `appendonly no`.
    pub fn fsync_lag_bytes(&self) -> Option<u64> {
        if !self.cfg.appendonly {
            return None;
        }
        let aof = self.persistence.disk.aof.as_ref();
        let written: u64 = aof.map_or(0, |a| {
            a.commands[a.fsynced.min(a.commands.len())..]
                .iter()
                .map(Command::resp_len)
                .sum()
        });
        Some(written + self.persistence.aof.buffered_bytes())
    }

    /// An estimate of `used_memory` in bytes: the dataset (keys and values, plus
    /// [`KEY_OVERHEAD_BYTES`] per key) and the replication buffer (`mem_total_replication_buffers`:
    /// since Redis 7 the backlog and every replica's output buffer share its blocks, so the
    /// replicas' output buffers are in it once).
    pub fn used_memory_estimate(&self) -> u64 {
        let ks = &self.data.keyspace;
        let data = ks.data_bytes() + KEY_OVERHEAD_BYTES * ks.len() as u64;
        data + self.replication_buffer_memory()
    }
}

/// Memory a small string key costs beyond its bytes in Redis 7 with jemalloc: a `dictEntry`
/// (24 B), the value's `robj` (16 B), two sds headers and the allocator's rounding.
pub const KEY_OVERHEAD_BYTES: u64 = 64;

/// One command's `INFO commandstats` calls and `INFO latencystats` percentiles.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CommandLatency {
    /// Calls recorded.
    pub calls: u64,
    /// p50, p99, p99.9 of the server-side duration, in microseconds.
    #[serde(flatten)]
    pub usec: crate::redis::Percentiles,
}

/// A server's command figures at the end of a run, as `INFO stats`, `INFO commandstats`,
/// `INFO latencystats` and `SLOWLOG GET` give them (the real backend fills what it read).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct VitalsAtEnd {
    /// Client read commands run.
    pub reads: u64,
    /// Client write commands run.
    pub writes: u64,
    /// Other client commands run (WAIT, WAITAOF).
    pub other: u64,
    /// Replication-stream commands applied as a replica.
    pub replicated: u64,
    /// `keyspace_hits`.
    pub keyspace_hits: u64,
    /// `keyspace_misses`.
    pub keyspace_misses: u64,
    /// Per command (lower case): calls and latency percentiles.
    pub latency_percentiles_usec: BTreeMap<String, CommandLatency>,
    /// Slow log entries ever logged (`slowlog_entry_id`), kept or trimmed.
    pub slowlog_logged: u64,
    /// The slow log's entries kept at the end, newest first.
    #[serde(skip)]
    pub slowlog: Vec<crate::redis::SlowlogEntry>,
}

impl CommandVitals {
    /// The figures at the end of the run.
    pub fn at_end(&self) -> VitalsAtEnd {
        VitalsAtEnd {
            reads: self.reads,
            writes: self.writes,
            other: self.other,
            replicated: self.replicated,
            keyspace_hits: self.keyspace_hits,
            keyspace_misses: self.keyspace_misses,
            latency_percentiles_usec: self
                .latency
                .iter()
                .map(|(name, h)| {
                    let l = CommandLatency {
                        calls: h.count(),
                        usec: h.percentiles_usec(),
                    };
                    (name.to_string(), l)
                })
                .collect(),
            slowlog_logged: self.slowlog.logged(),
            slowlog: self.slowlog.entries().cloned().collect(),
        }
    }
}

//! A real server's vitals from what it reports: `INFO stats clients memory commandstats
//! latencystats` (keyspace hits and misses, `connected_clients`, `used_memory`, calls per
//! command split by the commands' `readonly` and `write` flags, latency percentiles) and
//! `SLOWLOG GET`. Figures Redis does not report (fsync lag) stay `None`.

use std::collections::BTreeMap;

use super::resp::Reply;
use crate::metrics::SampledVitals;
use crate::redis::{Percentiles, SlowlogEntry};
use crate::server::{CommandLatency, VitalsAtEnd};

/// The INFO sections this module reads.
pub const SECTIONS: [&str; 5] = ["stats", "clients", "memory", "commandstats", "latencystats"];

/// The commands the workloads send that Redis flags `readonly`, and `write`.
const READS: [&str; 2] = ["get", "smembers"];
const WRITES: [&str; 5] = ["set", "incr", "del", "append", "sadd"];
const OTHERS: [&str; 4] = ["wait", "waitaof", "save", "debug"];

/// What one INFO text says about the server's commands, clients and memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InfoVitals {
    /// `keyspace_hits`.
    pub keyspace_hits: Option<u64>,
    /// `keyspace_misses`.
    pub keyspace_misses: Option<u64>,
    /// `connected_clients`.
    pub connected_clients: Option<u64>,
    /// `used_memory`.
    pub used_memory: Option<u64>,
    /// `cmdstat_<cmd>:calls=N` per command.
    pub calls: BTreeMap<String, u64>,
    /// `latency_percentiles_usec_<cmd>:p50=..,p99=..,p99.9=..` per command.
    pub latency: BTreeMap<String, Percentiles>,
}

/// `p50=1.003,p99=2.007,p99.9=3.001` as percentiles.
fn percentiles(text: &str) -> Option<Percentiles> {
    let mut p = Percentiles {
        p50: 0.0,
        p99: 0.0,
        p999: 0.0,
    };
    for part in text.split(',') {
        let (name, value) = part.split_once('=')?;
        let v: f64 = value.parse().ok()?;
        match name {
            "p50" => p.p50 = v,
            "p99" => p.p99 = v,
            "p99.9" => p.p999 = v,
            _ => {}
        }
    }
    Some(p)
}

impl InfoVitals {
    /// Reads the fields of an INFO text (other lines are ignored).
    pub fn parse(text: &str) -> Self {
        let mut v = InfoVitals::default();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once(':') else {
                continue;
            };
            let number = || value.parse::<u64>().ok();
            match key {
                "keyspace_hits" => v.keyspace_hits = number(),
                "keyspace_misses" => v.keyspace_misses = number(),
                "connected_clients" => v.connected_clients = number(),
                "used_memory" => v.used_memory = number(),
                _ => {}
            }
            if let Some(cmd) = key.strip_prefix("cmdstat_") {
                let calls = value.split(',').find_map(|f| f.strip_prefix("calls="));
                if let Some(n) = calls.and_then(|c| c.parse().ok()) {
                    v.calls.insert(cmd.to_string(), n);
                }
            }
            if let Some(cmd) = key.strip_prefix("latency_percentiles_usec_")
                && let Some(p) = percentiles(value)
            {
                v.latency.insert(cmd.to_string(), p);
            }
        }
        v
    }

    fn calls_of(&self, commands: &[&str]) -> u64 {
        commands.iter().filter_map(|c| self.calls.get(*c)).sum()
    }

    /// (client reads, client writes, replicated): a replica's clients cannot write
    /// (`replica-read-only`), so the write calls it counts are the stream it applied.
    fn split(&self, is_replica: bool) -> (u64, u64, u64) {
        let writes = self.calls_of(&WRITES);
        let reads = self.calls_of(&READS);
        if is_replica {
            (reads, 0, writes)
        } else {
            (reads, writes, 0)
        }
    }

    /// The sampled vitals (fsync lag is not reported by INFO).
    pub fn sampled(&self, primary: Option<usize>, is_replica: bool) -> SampledVitals {
        let (reads, writes, replicated) = self.split(is_replica);
        SampledVitals {
            primary,
            reads: Some(reads),
            writes: Some(writes),
            replicated: Some(replicated),
            keyspace_hits: self.keyspace_hits,
            keyspace_misses: self.keyspace_misses,
            connected_clients: self.connected_clients,
            used_memory_bytes: self.used_memory,
            fsync_lag_bytes: None,
        }
    }

    /// The figures at the end of a run, with the slow log read by `SLOWLOG GET`.
    pub fn at_end(&self, is_replica: bool, slowlog: Vec<SlowlogEntry>) -> VitalsAtEnd {
        let (reads, writes, replicated) = self.split(is_replica);
        let known = READS.iter().chain(&WRITES).chain(&OTHERS);
        let latency_percentiles_usec = known
            .filter_map(|c| {
                let usec = *self.latency.get(*c)?;
                let calls = self.calls.get(*c).copied().unwrap_or(0);
                Some((c.to_string(), CommandLatency { calls, usec }))
            })
            .collect();
        VitalsAtEnd {
            reads,
            writes,
            other: self.calls_of(&OTHERS),
            replicated,
            keyspace_hits: self.keyspace_hits.unwrap_or(0),
            keyspace_misses: self.keyspace_misses.unwrap_or(0),
            latency_percentiles_usec,
            slowlog_logged: slowlog.first().map_or(0, |e| e.id + 1),
            slowlog,
        }
    }
}

/// `SLOWLOG GET`'s reply: each entry `[id, unix time, duration µs, [args], peer, name]`;
/// `time_ms` is made relative to `start_unix_s` (the run's start, in Unix seconds).
pub fn slowlog_entries(reply: &Reply, start_unix_s: u64) -> Vec<SlowlogEntry> {
    let Reply::Array(Some(entries)) = reply else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let Reply::Array(Some(f)) = e else {
                return None;
            };
            let int = |i: usize| match f.get(i) {
                Some(Reply::Integer(n)) => Some(*n as u64),
                _ => None,
            };
            let Some(Reply::Array(Some(args))) = f.get(3) else {
                return None;
            };
            let command = args.iter().filter_map(Reply::as_text).collect();
            Some(SlowlogEntry {
                id: int(0)?,
                time_ms: int(1)?.saturating_sub(start_unix_s) * 1000,
                duration_us: int(2)?,
                command,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Stats\r\nkeyspace_hits:7\r\nkeyspace_misses:3\r\n# Clients\r\n\
        connected_clients:5\r\n# Memory\r\nused_memory:1048576\r\n# Commandstats\r\n\
        cmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_set:calls=4,usec=8,usec_per_call=2.00,rejected_calls=1,failed_calls=0\r\n\
        cmdstat_wait:calls=2,usec=9,usec_per_call=4.50,rejected_calls=0,failed_calls=0\r\n\
        # Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=2.007,p99.9=3.001\r\n";

    #[test]
    fn info_fields_become_vitals() {
        let v = InfoVitals::parse(INFO);
        let s = v.sampled(None, false);
        assert_eq!(
            (s.reads, s.writes, s.replicated),
            (Some(10), Some(4), Some(0))
        );
        assert_eq!((s.keyspace_hits, s.keyspace_misses), (Some(7), Some(3)));
        assert_eq!(s.connected_clients, Some(5));
        assert_eq!(s.used_memory_bytes, Some(1_048_576));
        assert_eq!(v.sampled(Some(0), true).replicated, Some(4));
        let end = v.at_end(false, Vec::new());
        assert_eq!(end.other, 2);
        let get = end.latency_percentiles_usec["get"];
        assert_eq!((get.calls, get.usec.p99, get.usec.p999), (10, 2.007, 3.001));
    }

    #[test]
    fn slowlog_replies_become_entries() {
        let bulk = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
        let entry = Reply::Array(Some(vec![
            Reply::Integer(4),
            Reply::Integer(1_700_000_012),
            Reply::Integer(1_000_123),
            Reply::Array(Some(vec![bulk("WAIT"), bulk("1"), bulk("1000")])),
            bulk("127.0.0.1:5000"),
            bulk(""),
        ]));
        let got = slowlog_entries(&Reply::Array(Some(vec![entry])), 1_700_000_000);
        assert_eq!(
            got,
            vec![SlowlogEntry {
                id: 4,
                time_ms: 12_000,
                duration_us: 1_000_123,
                command: vec!["WAIT".into(), "1".into(), "1000".into()],
            }]
        );
    }
}

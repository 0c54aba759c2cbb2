//! The summary's `vitals` object: per server what `INFO` would have shown over the run (command
//! rates, keyspace hits, clients, memory, replication and fsync lag, latency percentiles, the
//! slow log), the latency clients observed, and the history's key statistics; and its one line
//! per server in the human summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::figures::ProcessTable;
use crate::check::key_stats::{ClientLatency, KeyStats, client_latency, key_stats};
use crate::check::operations::Operations;
use crate::metrics::Metrics;
use crate::server::VitalsAtEnd;
use crate::world::RunOutput;

/// One server's vitals over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerVitals {
    /// The server's name.
    pub server: String,
    /// `master` or `slave` at the end, as INFO spells it.
    pub role: String,
    /// Totals over the run, latency percentiles and the slow log's count.
    #[serde(flatten)]
    pub totals: VitalsAtEnd,
    /// Slow log entries kept at the end (at most `slowlog-max-len`).
    pub slowlog_kept: u64,
    /// Client reads per second, averaged over the run.
    pub reads_per_s_mean: f64,
    /// Client writes per second, averaged over the run.
    pub writes_per_s_mean: f64,
    /// The highest reads per second over one sampled second.
    pub reads_per_s_peak: Option<u64>,
    /// The highest writes per second over one sampled second.
    pub writes_per_s_peak: Option<u64>,
    /// The most `connected_clients` at a sample.
    pub connected_clients_max: Option<u64>,
    /// The highest `used_memory` at a sample (an estimate in the simulator).
    pub used_memory_peak_bytes: Option<u64>,
    /// The largest replication lag at a sample, in bytes behind its own primary.
    pub lag_bytes_max: Option<u64>,
    /// The largest replication lag at a sample, in seconds.
    pub lag_s_max: Option<f64>,
    /// The most AOF bytes not yet on disk at a sample (absent without `appendonly`).
    pub fsync_lag_bytes_max: Option<u64>,
}

/// The summary's `vitals` object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct VitalsSummary {
    /// Per server, in scenario order.
    pub servers: Vec<ServerVitals>,
    /// Per workload and command: latency clients observed for successful operations, in µs.
    pub client_latency_us: BTreeMap<String, BTreeMap<String, ClientLatency>>,
    /// What the history says about keys.
    pub keys: KeyStats,
}

/// The largest of `f` over server `s`'s samples, if any sample has it.
fn peak<T: PartialOrd + Copy>(m: &Metrics, s: usize, f: impl Fn(usize) -> Option<T>) -> Option<T> {
    let _ = s;
    (0..m.times.len())
        .filter_map(f)
        .fold(None, |best, v| match best {
            Some(b) if b >= v => Some(b),
            _ => Some(v),
        })
}

fn server_vitals(out: &RunOutput, s: usize) -> ServerVitals {
    let m = &out.metrics;
    let fin = &out.servers[s];
    let secs = (out.sim_time.as_nanos() as f64 / 1e9).max(1e-9);
    ServerVitals {
        server: fin.name.clone(),
        role: if fin.is_master { "master" } else { "slave" }.to_string(),
        slowlog_kept: fin.vitals.slowlog.len() as u64,
        reads_per_s_mean: round1(fin.vitals.reads as f64 / secs),
        writes_per_s_mean: round1(fin.vitals.writes as f64 / secs),
        reads_per_s_peak: peak(m, s, |t| m.rate_per_sec(t, s, |v| v.reads)),
        writes_per_s_peak: peak(m, s, |t| m.rate_per_sec(t, s, |v| v.writes)),
        connected_clients_max: peak(m, s, |t| m.samples[t][s].vitals.connected_clients),
        used_memory_peak_bytes: peak(m, s, |t| m.samples[t][s].vitals.used_memory_bytes),
        lag_bytes_max: peak(m, s, |t| m.own_lag_bytes(t, s)),
        lag_s_max: peak(m, s, |t| m.lag_seconds(t, s)).map(|l| (l * 1000.0).round() / 1000.0),
        fsync_lag_bytes_max: peak(m, s, |t| m.samples[t][s].vitals.fsync_lag_bytes),
        totals: fin.vitals.clone(),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The vitals of a finished run.
pub fn vitals_summary(
    out: &RunOutput,
    ops: &Operations<'_>,
    processes: &ProcessTable,
) -> VitalsSummary {
    VitalsSummary {
        servers: (0..out.servers.len())
            .map(|s| server_vitals(out, s))
            .collect(),
        client_latency_us: client_latency(ops, processes),
        keys: key_stats(ops),
    }
}

/// Bytes in human units (B, kB, MB, GB; powers of 1024 as `used_memory_human`).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl ServerVitals {
    /// The human summary's line: rates, hit ratio, clients, memory, lag, fsync lag and the p99
    /// of the most called command.
    pub fn human_line(&self) -> String {
        let t = &self.totals;
        let looked_up = t.keyspace_hits + t.keyspace_misses;
        let hits = if looked_up == 0 {
            "hits -".to_string()
        } else {
            format!(
                "hits {:.0}%",
                100.0 * t.keyspace_hits as f64 / looked_up as f64
            )
        };
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let mem = self
            .used_memory_peak_bytes
            .map_or("-".to_string(), |b| format!("~{} (peak)", human_bytes(b)));
        let lag = match (self.lag_bytes_max, self.lag_s_max) {
            (None, None) => "-".to_string(),
            (b, s) => format!(
                "{}/{} (max)",
                b.map_or("-".to_string(), human_bytes),
                s.map_or("-".to_string(), |l| format!("{l:.1} s"))
            ),
        };
        let fsync = self
            .fsync_lag_bytes_max
            .map_or("-".to_string(), |b| format!("{} (max)", human_bytes(b)));
        let p99 = t
            .latency_percentiles_usec
            .iter()
            .max_by(|a, b| a.1.calls.cmp(&b.1.calls).then(b.0.cmp(a.0)))
            .map_or(String::new(), |(name, l)| {
                format!("  p99 {} {}", name.to_uppercase(), human_usec(l.usec.p99))
            });
        let role = if self.role == "master" {
            "primary"
        } else {
            "replica"
        };
        format!(
            "{}  {role}  reads {:.0}/s writes {:.0}/s (mean)  {hits}  clients {} (max)  \
             mem {mem}  lag {lag}  fsync lag {fsync}{p99}",
            self.server,
            self.reads_per_s_mean,
            self.writes_per_s_mean,
            opt(self.connected_clients_max),
        )
    }
}

/// Microseconds in the unit that reads best.
pub fn human_usec(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else if us.fract() == 0.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.3} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_258_291), "1.2 MB");
        assert_eq!(human_usec(0.001), "0.001 µs");
        assert_eq!(human_usec(1_002_438.655), "1.00 s");
        assert_eq!(human_usec(2_500.0), "2.5 ms");
        assert_eq!(human_usec(550.0), "550 µs");
    }
}

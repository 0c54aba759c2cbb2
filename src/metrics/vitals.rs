//! A server's vitals in the sampled series (what `INFO` shows an operator once a second):
//! command counters, clients, memory and fsync lag as sampled, and what is derived from the
//! series afterwards: rates over the last second, replication lag in bytes and in seconds, and
//! `vitals.csv`.

use super::Metrics;

/// The vitals of one server at one sample time; `None` where the backend did not observe the
/// figure. Counters count from the start of the run (a real server's from its last start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SampledVitals {
    /// The server this one replicates from (its index in the series), for a replica.
    pub primary: Option<usize>,
    /// Client read commands run (`readonly` flag: GET, SMEMBERS).
    pub reads: Option<u64>,
    /// Client write commands run (`write` flag).
    pub writes: Option<u64>,
    /// Commands of the replication stream applied as a replica.
    pub replicated: Option<u64>,
    /// `keyspace_hits`.
    pub keyspace_hits: Option<u64>,
    /// `keyspace_misses`.
    pub keyspace_misses: Option<u64>,
    /// `connected_clients`.
    pub connected_clients: Option<u64>,
    /// `used_memory` (the simulator's is an estimate: docs/fidelity.md).
    pub used_memory_bytes: Option<u64>,
    /// Bytes written to the AOF and not yet on disk (`None` without `appendonly`).
    pub fsync_lag_bytes: Option<u64>,
}

/// A CSV cell: empty when the figure was not observed.
fn cell<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

impl Metrics {
    /// The per-second rate of counter `field` of server `s` over the interval that ends at
    /// sample `t` (`None` at the first sample or where unobserved; a counter that went back, as
    /// a restarted real server's does, gives 0).
    pub fn rate_per_sec(
        &self,
        t: usize,
        s: usize,
        field: fn(&SampledVitals) -> Option<u64>,
    ) -> Option<u64> {
        if t == 0 {
            return None;
        }
        let now = field(&self.samples[t][s].vitals)?;
        let before = field(&self.samples[t - 1][s].vitals)?;
        let ns = self.times[t].since(self.times[t - 1]);
        if ns == 0 {
            return None;
        }
        let delta = now.saturating_sub(before) as u128;
        Some(((delta * 1_000_000_000 + u128::from(ns) / 2) / u128::from(ns)) as u64)
    }

    /// Replication lag of server `s` at sample `t` in bytes, against its own primary: the
    /// primary's `master_repl_offset` minus the replica's (0 for a primary; `None` when the
    /// server is down or its primary is unknown).
    pub fn own_lag_bytes(&self, t: usize, s: usize) -> Option<u64> {
        let x = &self.samples[t][s];
        // A server that is down (or a standby machine not added yet) lags nothing: it is out.
        if !x.up {
            return None;
        }
        if x.is_master {
            return Some(0);
        }
        let p = x.vitals.primary?;
        Some(self.samples[t][p].offset.saturating_sub(x.offset))
    }

    /// Replication lag of server `s` at sample `t` in seconds: how long ago its primary's
    /// offset was where the replica's offset is now. The primary's offset is read from the
    /// sampled series and interpolated linearly between two samples; 0 when the replica has
    /// all the primary has, `None` for a server that is down, an unknown primary, a replica
    /// that holds nothing yet (offset 0: new or wiped, before its first full sync completes;
    /// "how long ago the primary was at 0" would only be the primary's age), or when the
    /// primary was already past the replica at the first sample.
    pub fn lag_seconds(&self, t: usize, s: usize) -> Option<f64> {
        let x = &self.samples[t][s];
        if !x.up {
            return None;
        }
        if x.is_master {
            return Some(0.0);
        }
        let p = x.vitals.primary?;
        let at = x.offset;
        if self.samples[t][p].offset <= at {
            return Some(0.0);
        }
        if at == 0 {
            return None;
        }
        let mut k = t;
        while k > 0 {
            k -= 1;
            let before = self.samples[k][p].offset;
            if before <= at {
                let after = self.samples[k + 1][p].offset;
                let span = self.times[k + 1].since(self.times[k]) as f64;
                let part = (at - before) as f64 / (after - before) as f64;
                let passed = self.times[k].as_nanos() as f64 + part * span;
                return Some((self.times[t].as_nanos() as f64 - passed) / 1e9);
            }
        }
        None
    }

    /// The samples' vitals as CSV (`vitals.csv`): one row per server per second, every column
    /// named with its unit; empty cells where the backend does not observe a figure.
    pub fn vitals_csv(&self) -> String {
        let mut s = String::from(
            "time_s,server,role,reads_per_s,writes_per_s,replicated_per_s,\
             keyspace_hits_per_s,keyspace_misses_per_s,connected_clients,used_memory_bytes,\
             lag_bytes,lag_s,fsync_lag_bytes,output_buffer_bytes\n",
        );
        for (t, at) in self.times.iter().enumerate() {
            for (i, x) in self.samples[t].iter().enumerate() {
                let role = if x.is_master { "master" } else { "slave" };
                let v = &x.vitals;
                s.push_str(&format!(
                    "{},{},{role},{},{},{},{},{},{},{},{},{},{},{}\n",
                    at.as_secs(),
                    self.servers[i],
                    cell(self.rate_per_sec(t, i, |v| v.reads)),
                    cell(self.rate_per_sec(t, i, |v| v.writes)),
                    cell(self.rate_per_sec(t, i, |v| v.replicated)),
                    cell(self.rate_per_sec(t, i, |v| v.keyspace_hits)),
                    cell(self.rate_per_sec(t, i, |v| v.keyspace_misses)),
                    cell(v.connected_clients),
                    cell(v.used_memory_bytes),
                    cell(self.own_lag_bytes(t, i)),
                    cell(self.lag_seconds(t, i).map(|l| format!("{l:.3}"))),
                    cell(v.fsync_lag_bytes),
                    cell(x.output_buffer_bytes),
                ));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::super::ServerSample;
    use super::*;
    use crate::sim::SimTime;

    fn sample(is_master: bool, offset: u64, reads: u64) -> ServerSample {
        ServerSample {
            up: true,
            is_master,
            offset,
            link_up: true,
            keys: 0,
            repl_buffer_bytes: None,
            output_buffer_bytes: None,
            vitals: SampledVitals {
                primary: (!is_master).then_some(0),
                reads: Some(reads),
                ..SampledVitals::default()
            },
        }
    }

    /// A primary that writes 100 bytes a second; its replica stops at offset 150 after 1.5 s.
    fn series() -> Metrics {
        let mut m = Metrics::new(vec!["p".into(), "r".into()]);
        let replica = [0, 100, 150, 150, 150];
        for (t, r) in replica.iter().enumerate() {
            let at = SimTime(t as u64 * 1_000_000_000);
            let p = t as u64 * 100;
            m.push(at, vec![sample(true, p, p * 3), sample(false, *r, 0)]);
        }
        m
    }

    #[test]
    fn lag_seconds_interpolates_when_the_primary_passed_the_replicas_offset() {
        let m = series();
        assert_eq!(m.lag_seconds(1, 1), Some(0.0));
        assert_eq!(m.lag_seconds(2, 1), Some(0.5));
        assert_eq!(m.lag_seconds(4, 1), Some(2.5));
        assert_eq!(m.own_lag_bytes(4, 1), Some(250));
        assert_eq!(m.lag_seconds(4, 0), Some(0.0));
    }

    #[test]
    fn a_replica_holding_nothing_yet_has_no_lag_in_seconds() {
        // A replica added at 2 s (offset 0) that loads its first copy at 4 s: "how long ago the
        // primary was at offset 0" would be the run's age, not a lag.
        let mut m = Metrics::new(vec!["p".into(), "r".into()]);
        for (t, r) in [0u64, 0, 0, 0, 350].iter().enumerate() {
            let at = SimTime(t as u64 * 1_000_000_000);
            let p = t as u64 * 100;
            m.push(at, vec![sample(true, p, 0), sample(false, *r, 0)]);
        }
        assert_eq!(m.lag_seconds(3, 1), None);
        assert_eq!(m.own_lag_bytes(3, 1), Some(300));
        assert_eq!(m.lag_seconds(4, 1), Some(0.5));
        assert_eq!(m.lag_seconds(0, 1), Some(0.0));
    }

    #[test]
    fn rates_are_counter_deltas_per_second() {
        let m = series();
        assert_eq!(m.rate_per_sec(0, 0, |v| v.reads), None);
        assert_eq!(m.rate_per_sec(3, 0, |v| v.reads), Some(300));
        assert_eq!(m.rate_per_sec(3, 0, |v| v.writes), None);
        let csv = m.vitals_csv();
        assert!(csv.contains("\n4,r,slave,0,,,,,,,250,2.500,,\n"), "{csv}");
    }
}

//! Time series sampled once per simulated second: per-server role, offset, link state and
//! dataset size, for plots and narratives.

use crate::sim::SimTime;

/// One server at one sample time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerSample {
    /// Running (not crashed or paused).
    pub up: bool,
    /// A primary.
    pub is_master: bool,
    /// `master_repl_offset`.
    pub offset: u64,
    /// Replica link in sync.
    pub link_up: bool,
    /// Number of keys.
    pub keys: u64,
}

/// The sampled series.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Server names, in sample order.
    pub servers: Vec<String>,
    /// Sample times.
    pub times: Vec<SimTime>,
    /// `samples[t][s]`: server `s` at time `times[t]`.
    pub samples: Vec<Vec<ServerSample>>,
}

impl Metrics {
    /// Empty series for these servers.
    pub fn new(servers: Vec<String>) -> Self {
        Metrics {
            servers,
            ..Metrics::default()
        }
    }

    /// Adds one sample row.
    pub fn push(&mut self, at: SimTime, row: Vec<ServerSample>) {
        assert_eq!(row.len(), self.servers.len(), "one sample per server");
        assert!(
            self.times.last().is_none_or(|t| *t <= at),
            "samples in time order"
        );
        self.times.push(at);
        self.samples.push(row);
    }

    /// Replication lag in bytes of server `s` at sample `t`: the highest offset among primaries
    /// minus its own offset (0 for primaries).
    pub fn lag_bytes(&self, t: usize, s: usize) -> u64 {
        let row = &self.samples[t];
        if row[s].is_master {
            return 0;
        }
        let top = row
            .iter()
            .filter(|x| x.is_master && x.up)
            .map(|x| x.offset)
            .max()
            .unwrap_or(0);
        top.saturating_sub(row[s].offset)
    }
}

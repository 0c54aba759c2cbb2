//! Time series sampled once per simulated second: per-server role, offset, link state and
//! dataset size, for plots and narratives, and each server's vitals (`vitals`).

mod vitals;

use crate::sim::SimTime;
pub use vitals::SampledVitals;

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
    /// INFO's `mem_total_replication_buffers`: the replication buffer's blocks (0 without a
    /// backlog); `None` where the backend does not observe it.
    pub repl_buffer_bytes: Option<u64>,
    /// As a replica: the output buffer its primary holds for it (`omem` of its replica client,
    /// the stream it still references); 0 otherwise; `None` where not observed.
    pub output_buffer_bytes: Option<u64>,
    /// Commands, clients, memory and fsync lag.
    pub vitals: SampledVitals,
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

/// A CSV cell: empty when the figure was not observed.
fn cell(v: Option<u64>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

impl Metrics {
    /// The samples as CSV (`replication.csv`): one row per server per second.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "time_s,server,up,role,master_repl_offset,lag_bytes,link_up,keys,\
             repl_buffer_bytes,output_buffer_bytes\n",
        );
        for (t, at) in self.times.iter().enumerate() {
            for (i, x) in self.samples[t].iter().enumerate() {
                let role = if x.is_master { "master" } else { "slave" };
                s.push_str(&format!(
                    "{},{},{},{role},{},{},{},{},{},{}\n",
                    at.as_secs(),
                    self.servers[i],
                    u8::from(x.up),
                    x.offset,
                    self.lag_bytes(t, i),
                    u8::from(x.link_up),
                    x.keys,
                    cell(x.repl_buffer_bytes),
                    cell(x.output_buffer_bytes),
                ));
            }
        }
        s
    }

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

//! The figures of a run that `[expect]` assertions name: operation and replication counts, lost
//! writes per workload, failover timings and check outcomes, over one process table.

use std::collections::BTreeMap;

use serde::Serialize;

use super::failover::Failover;
use super::set_adds::NAME as SET_CHECK;
use super::{CheckResult, Status};
use crate::expect::Figure;
use crate::history::{EventType, History};

/// What a process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A Redis server.
    Server,
    /// A Sentinel.
    Sentinel,
    /// A workload client.
    Client,
}

/// One process of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Its id in the trace and the history.
    pub id: u32,
    /// What it is.
    pub role: Role,
    /// Its name (`<workload>/<i>` for clients).
    pub name: String,
    /// Its region's name.
    pub region: String,
    /// The workload a client belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
}

/// Every process of a run, in id order: the one place the numbering is written down.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProcessTable {
    processes: Vec<Process>,
}

impl ProcessTable {
    /// A table from processes in id order (ids are checked: process `i` has id `i`).
    pub fn new(processes: Vec<Process>) -> Self {
        for (i, p) in processes.iter().enumerate() {
            assert_eq!(p.id as usize, i, "process ids are dense and in order");
        }
        ProcessTable { processes }
    }

    /// All processes.
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// The names of the servers, in id order.
    pub fn server_names(&self) -> Vec<String> {
        self.named(Role::Server)
    }

    /// The names of the workloads, in the order their clients appear.
    pub fn workloads(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for w in self.processes.iter().filter_map(|p| p.workload.as_ref()) {
            if !names.contains(w) {
                names.push(w.clone());
            }
        }
        names
    }

    /// The workload of client `id`.
    pub fn workload_of(&self, id: u32) -> Option<&str> {
        self.processes.get(id as usize)?.workload.as_deref()
    }

    fn named(&self, role: Role) -> Vec<String> {
        self.processes
            .iter()
            .filter(|p| p.role == role)
            .map(|p| p.name.clone())
            .collect()
    }
}

/// Operation counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpsCounts {
    /// Operations invoked.
    pub invoked: u64,
    /// Completed ok.
    pub ok: u64,
    /// Definitely failed.
    pub failed: u64,
    /// Indeterminate.
    pub indeterminate: u64,
}

impl OpsCounts {
    /// Counts the history's events; operations still open at the end are indeterminate.
    pub fn of(history: &History) -> Self {
        let mut ops = OpsCounts::default();
        for e in &history.events {
            match e.kind {
                EventType::Invoke => ops.invoked += 1,
                EventType::Ok => ops.ok += 1,
                EventType::Fail => ops.failed += 1,
                EventType::Info => ops.indeterminate += 1,
            }
        }
        ops.indeterminate += ops.invoked - ops.ok - ops.failed - ops.indeterminate;
        ops
    }
}

/// Replication counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReplicationCounts {
    /// Full resyncs completed by replicas.
    pub full_resyncs: u64,
    /// Partial resyncs completed by replicas.
    pub partial_resyncs: u64,
    /// RDB bytes sent by primaries.
    pub rdb_bytes: u64,
    /// Backlog bytes sent in partial resyncs.
    pub partial_resync_bytes: u64,
    /// Milliseconds replicas spent getting in sync.
    pub sync_time_ms: u64,
    /// Replicas disconnected by client-output-buffer-limit.
    pub output_buffer_disconnects: u64,
    /// Writes refused with NOREPLICAS.
    pub noreplicas_refusals: u64,
    /// Keys discarded by full-resync flushes.
    pub keys_flushed: u64,
}

/// Losses per workload, from the client process of each loss (every workload listed, with 0
/// when none was lost).
pub fn lost_by_workload(
    table: &ProcessTable,
    lost_by: impl IntoIterator<Item = u32>,
) -> BTreeMap<String, u64> {
    let mut per: BTreeMap<String, u64> = table.workloads().into_iter().map(|w| (w, 0)).collect();
    for process in lost_by {
        if let Some(n) = table.workload_of(process).and_then(|w| per.get_mut(w)) {
            *n += 1;
        }
    }
    per
}

/// Everything the figures are computed from.
pub struct Figures<'a> {
    /// Operation counts.
    pub ops: &'a OpsCounts,
    /// Replication counters.
    pub replication: &'a ReplicationCounts,
    /// Failovers.
    pub failovers: &'a [Failover],
    /// Checker results.
    pub checks: &'a [CheckResult],
    /// Lost acknowledged writes per workload.
    pub lost_by_workload: &'a BTreeMap<String, u64>,
    /// Lost acknowledged set members per workload.
    pub lost_adds_by_workload: &'a BTreeMap<String, u64>,
}

impl Figures<'_> {
    fn check(&self, name: &str) -> Result<&CheckResult, Figure> {
        match self.checks.iter().find(|c| c.name == name) {
            Some(c) if c.status == Status::Skipped => Err(Figure::Unavailable(c.detail.clone())),
            Some(c) => Ok(c),
            None => Err(Figure::Unavailable("not checked".into())),
        }
    }

    fn status(&self, name: &str) -> Figure {
        self.check(name)
            .map_or_else(|f| f, |c| Figure::Truth(c.status == Status::Pass))
    }

    fn count(&self, name: &str) -> Figure {
        self.check(name)
            .map_or_else(|f| f, |c| Figure::Number(c.count as i64))
    }

    fn slowest(&self, of: impl Fn(&Failover) -> u64) -> Figure {
        self.failovers
            .iter()
            .map(|f| of(f) as i64)
            .max()
            .map_or(Figure::Unavailable("no failover".into()), Figure::Number)
    }

    fn lost_in(&self, check: &str, per: &BTreeMap<String, u64>, workload: &str) -> Figure {
        if let Err(skipped) = self.check(check) {
            return skipped;
        }
        per.get(workload).map_or_else(
            || Figure::Unavailable(format!("no workload {workload}")),
            |n| Figure::Number(*n as i64),
        )
    }

    /// The figure `name` (see `expect::FIGURES`), or why it is unavailable.
    pub fn get(&self, name: &str) -> Figure {
        if let Some(w) = name.strip_prefix(crate::expect::PER_WORKLOAD_LOST) {
            return self.lost_in("acked-writes-durable", self.lost_by_workload, w);
        }
        if let Some(w) = name.strip_prefix(crate::expect::PER_WORKLOAD_LOST_ADDS) {
            return self.lost_in(SET_CHECK, self.lost_adds_by_workload, w);
        }
        match name {
            "lost_acked_writes" => self.count("acked-writes-durable"),
            "lost_acked_adds" => self.count(SET_CHECK),
            "full_resyncs" => Figure::Number(self.replication.full_resyncs as i64),
            "partial_resyncs" => Figure::Number(self.replication.partial_resyncs as i64),
            "failovers" => Figure::Number(self.failovers.len() as i64),
            "converged" => self.status("converged"),
            "single_primary" => self.status("single-primary"),
            "single_slot_owner" => self.status("single-slot-owner"),
            "slot_owners_at_end" => self.status("slot-owners-at-end"),
            "linearizable" => self.status("linearizable"),
            "split_brain_ms" => self.count("single-primary"),
            "stale_reads" => self.count("stale-reads"),
            "read_your_writes" => self.status("read-your-writes"),
            "failover_to" => self
                .failovers
                .last()
                .map_or(Figure::Unavailable("no failover".into()), |f| {
                    Figure::Text(f.to.clone())
                }),
            "failover_completed_ms" => self.slowest(|f| f.completed_after_ms),
            "failover_detected_ms" => self.slowest(|f| f.detected_after_ms),
            "ops_ok" => Figure::Number(self.ops.ok as i64),
            "ops_failed" => Figure::Number(self.ops.failed as i64),
            "ops_indeterminate" => Figure::Number(self.ops.indeterminate as i64),
            other => Figure::Unavailable(format!("unknown figure {other}")),
        }
    }
}

//! The JSON summary of a run (DESIGN.md's contract) and its human-readable form. The summary is
//! assembled from what `check` decided; this module only renders it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::words::{plural, replay_command};
use crate::check::failover::Failover;
use crate::check::figures::{OpsCounts, ProcessTable, ReplicationCounts};
use crate::check::verdict::{Verdict, Warning};
use crate::check::{CheckResult, LostWrite, Status};
use crate::expect::ExpectationResult;
use crate::fault::FaultRecord;

/// How many lost writes the summary lists (the rest are in lost_writes.jsonl).
pub const LOST_WRITES_SHOWN: usize = 100;

/// The JSON summary of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// simkv's version.
    pub simkv_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// 16 lowercase hex digits.
    pub trace_hash: String,
    /// Simulated time covered.
    pub sim_time_ms: u64,
    /// Events delivered.
    pub events: u64,
    /// Wall-clock milliseconds (the only field that differs between identical runs).
    pub wall_ms: u64,
    /// Operation counts.
    pub ops: OpsCounts,
    /// Replication counters.
    pub replication: ReplicationCounts,
    /// Failovers.
    pub failovers: Vec<Failover>,
    /// Faults as they happened.
    pub faults: Vec<FaultRecord>,
    /// Servers an operator added or took out (scheduled, or by the `[operator]` policy); absent
    /// when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operator_actions: Vec<OperatorAction>,
    /// A Redis Cluster's shards and elections; absent without a `[cluster]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<super::cluster::ClusterSummary>,
    /// Checker results.
    pub checks: Vec<CheckResult>,
    /// The first [`LOST_WRITES_SHOWN`] acknowledged writes that were lost, with why (`--out`
    /// writes all of them to lost_writes.jsonl; the count is the `acked-writes-durable` check's).
    pub lost_writes: Vec<LostWrite>,
    /// Lost acknowledged writes per workload.
    pub lost_by_workload: BTreeMap<String, u64>,
    /// Acknowledged set members missing from the final reads, per workload (set workloads
    /// only; absent when no set was judged).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_adds_by_workload: BTreeMap<String, u64>,
    /// `[expect]` results.
    pub expectations: Vec<ExpectationResult>,
    /// `pass` or `fail`; matches the exit code.
    pub verdict: Verdict,
    /// The scenario file as given on the command line (`-` for stdin).
    pub scenario_file: String,
    /// The `--set` overrides, in order.
    pub overrides: Vec<String>,
    /// A hash of the effective scenario (see docs/ci.md): what `simkv merge` keys on.
    pub scenario_hash: String,
    /// Legal but suspicious properties of the run (always present, maybe empty).
    pub warnings: Vec<Warning>,
    /// `sim` (the simulator) or `real` (real redis-server and redis-sentinel processes).
    pub backend: String,
    /// Every process: id, role, name, region, workload.
    pub processes: ProcessTable,
    /// Per server what `INFO` and `SLOWLOG GET` would have shown over the run, the latency
    /// clients observed, and the history's key statistics.
    pub vitals: super::VitalsSummary,
}

/// An operator's action on a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OperatorAction {
    /// When (simulated ms).
    pub at_ms: u64,
    /// `add-server` or `remove-server`.
    pub action: String,
    /// The server.
    pub server: String,
    /// The primary an added server replicates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// Why the `[operator]` policy acted (absent for scheduled actions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every operator action of a run, in time order.
pub fn operator_actions(notes: &[crate::fact::FactNote]) -> Vec<OperatorAction> {
    use crate::fact::Fact;
    notes
        .iter()
        .filter_map(|n| {
            let (server, primary, reason) = match &n.fact {
                Fact::ServerAdded {
                    server,
                    primary,
                    reason,
                } => (server, Some(primary.clone()), reason),
                Fact::ServerRemoved { server, reason } => (server, None, reason),
                _ => return None,
            };
            Some(OperatorAction {
                at_ms: n.time.as_ms(),
                action: n.fact.kind().trim_start_matches("operator:").to_string(),
                server: server.clone(),
                primary,
                reason: reason.clone(),
            })
        })
        .collect()
}

/// The `--set` that makes a failing check count, for checks that have a figure.
fn expectation_for(check: &str) -> Option<&'static str> {
    Some(match check {
        "acked-writes-durable" => "expect.lost_acked_writes=0",
        "converged" => "expect.converged=true",
        "single-primary" => "expect.single_primary=true",
        "linearizable" => "expect.linearizable=true",
        "stale-reads" => "expect.stale_reads=0",
        "read-your-writes" => "expect.read_your_writes=true",
        _ => return None,
    })
}

impl Summary {
    /// The figure `name` of this run (one of `expect::FIGURES`, or a per-workload loss), as an
    /// `[expect]` block would see it.
    pub fn figure(&self, name: &str) -> crate::expect::Figure {
        crate::check::figures::Figures {
            ops: &self.ops,
            replication: &self.replication,
            failovers: &self.failovers,
            checks: &self.checks,
            lost_by_workload: &self.lost_by_workload,
            lost_adds_by_workload: &self.lost_adds_by_workload,
        }
        .get(name)
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        replay_command(&self.scenario_file, self.seed, &self.overrides)
    }

    /// The short human summary printed without `--json`.
    pub fn human(&self) -> String {
        let mut s = self.header();
        for v in &self.vitals.servers {
            s.push_str(&v.human_line());
            s.push('\n');
        }
        self.faults_and_failovers(&mut s);
        self.checks_and_expectations(&mut s);
        for w in &self.warnings {
            s.push_str(&format!("warning: {}\n", w.message));
        }
        self.demonstrated(&mut s);
        s.push_str(&format!("verdict: {}\n", self.verdict));
        s
    }

    fn header(&self) -> String {
        let mut s = format!(
            "simkv {} · scenario {} · seed {} · trace {}\n",
            self.simkv_version, self.scenario, self.seed, self.trace_hash
        );
        s.push_str(&format!(
            "simulated {:.1}s in {} ms of wall time ({})\n",
            self.sim_time_ms as f64 / 1000.0,
            self.wall_ms,
            plural(self.events, "event")
        ));
        s.push_str(&format!(
            "operations: {} invoked, {} ok, {} failed, {} indeterminate\n",
            self.ops.invoked, self.ops.ok, self.ops.failed, self.ops.indeterminate
        ));
        s.push_str(&format!(
            "replication: {}, {}, {}\n",
            plural(self.replication.full_resyncs, "full resync"),
            plural(self.replication.partial_resyncs, "partial resync"),
            plural(self.replication.rdb_bytes, "RDB byte")
        ));
        s
    }

    fn faults_and_failovers(&self, s: &mut String) {
        for f in &self.faults {
            let healed = f.healed_ms.map_or("never healed".to_string(), |h| {
                format!("healed at {:.1}s", h as f64 / 1000.0)
            });
            s.push_str(&format!(
                "fault: {} of {} at {:.1}s, {}\n",
                f.kind,
                f.targets.join(" "),
                f.at_ms as f64 / 1000.0,
                healed
            ));
        }
        for a in &self.operator_actions {
            let why = a
                .reason
                .as_ref()
                .map_or(String::new(), |r| format!(": {r}"));
            let of = a
                .primary
                .as_ref()
                .map_or(String::new(), |p| format!(" (replica of {p})"));
            s.push_str(&format!(
                "operator: {} {}{of} at {:.1}s{why}\n",
                a.action,
                a.server,
                a.at_ms as f64 / 1000.0,
            ));
        }
        for line in self.cluster.iter().flat_map(|c| c.human_lines()) {
            s.push_str(&line);
            s.push('\n');
        }
        for f in &self.failovers {
            s.push_str(&format!(
                "failover: {} -> {} at {:.1}s (detected after {} ms, done after {} ms)\n",
                f.from,
                f.to,
                f.at_ms as f64 / 1000.0,
                f.detected_after_ms,
                f.completed_after_ms
            ));
        }
        let lines = [
            ("lost acknowledged writes", &self.lost_by_workload),
            (
                "acknowledged set members missing from the final reads,",
                &self.lost_adds_by_workload,
            ),
        ];
        for (what, counts) in lines {
            if counts.values().any(|n| *n > 0) {
                let per = super::per_workload(counts, " ");
                s.push_str(&format!("{what} by workload: {per}\n"));
            }
        }
    }

    fn checks_and_expectations(&self, s: &mut String) {
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skipped => "skip",
            };
            s.push_str(&format!("check {:<22} {mark}  {}\n", c.name, c.detail));
        }
        for e in &self.expectations {
            s.push_str(&format!(
                "expect {} {}: actual {} {}\n",
                e.name,
                e.expected,
                e.actual,
                if e.met { "ok" } else { "NOT MET" }
            ));
        }
    }

    /// When checks failed but the verdict passed: say that the scenario expects these failures,
    /// and how to make one fail the run.
    fn demonstrated(&self, s: &mut String) {
        let failed: Vec<&CheckResult> = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect();
        if failed.is_empty() || self.verdict != Verdict::Pass {
            return;
        }
        let names: Vec<&str> = failed.iter().map(|c| c.name.as_str()).collect();
        s.push_str(&format!(
            "{} failed ({}) but every expectation held: these failures are what this scenario \
             demonstrates; its [expect] block expects them.\n",
            plural(failed.len() as u64, "check"),
            names.join(", ")
        ));
        if let Some(set) = failed.iter().find_map(|c| expectation_for(&c.name)) {
            s.push_str(&format!(
                "To make such a failure fail the run, add an expectation: {} --set {set}\n",
                self.replay_command()
            ));
        }
    }
}

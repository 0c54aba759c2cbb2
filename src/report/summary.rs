//! The JSON summary of a run and its human-readable form.

use crate::fact::{Fact, SentinelEventKind, StartRole};
use serde::Serialize;

use crate::check::{CheckResult, LostWrite, Status};
use crate::expect::{ExpectationResult, Figure, evaluate};
use crate::fault::FaultRecord;
use crate::history::EventType;
use crate::scenario::Scenario;
use crate::world::RunOutput;

/// How many lost writes the summary lists (the rest are in lost_writes.jsonl).
pub const LOST_WRITES_SHOWN: usize = 100;

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

/// A failover, for the summary's `failovers` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failover {
    /// When the promotion happened (ms).
    pub at_ms: u64,
    /// The previous primary.
    pub from: String,
    /// The promoted replica.
    pub to: String,
    /// From the old primary's loss to the first detection (ms).
    pub detected_after_ms: u64,
    /// From the old primary's loss to the promotion (ms).
    pub completed_after_ms: u64,
}

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
    /// Checker results.
    pub checks: Vec<CheckResult>,
    /// The first [`LOST_WRITES_SHOWN`] acknowledged writes that were lost, with why (`--out`
    /// writes all of them to lost_writes.jsonl; the count is the `acked-writes-durable` check's).
    pub lost_writes: Vec<LostWrite>,
    /// Lost acknowledged writes per workload.
    pub lost_by_workload: std::collections::BTreeMap<String, u64>,
    /// `[expect]` results.
    pub expectations: Vec<ExpectationResult>,
    /// `pass` or `fail`; matches the exit code.
    pub verdict: String,
}

fn check_status(checks: &[CheckResult], name: &str) -> Figure {
    match checks.iter().find(|c| c.name == name) {
        Some(c) if c.status == Status::Skipped => Figure::Unavailable(c.detail.clone()),
        Some(c) => Figure::Truth(c.status == Status::Pass),
        None => Figure::Unavailable("not checked".into()),
    }
}

fn check_count(checks: &[CheckResult], name: &str) -> Figure {
    match checks.iter().find(|c| c.name == name) {
        Some(c) if c.status == Status::Skipped => Figure::Unavailable(c.detail.clone()),
        Some(c) => Figure::Number(c.count as i64),
        None => Figure::Unavailable("not checked".into()),
    }
}

/// Builds the summary. The verdict fails when an expectation fails; without expectations on a
/// checker, a failing checker alone does not fail the run (scenarios that teach data loss expect it).
pub fn summarize(
    scenario: &Scenario,
    out: &RunOutput,
    checks: Vec<CheckResult>,
    lost: &[LostWrite],
    failovers: Vec<Failover>,
    wall_ms: u64,
) -> Summary {
    let mut ops = OpsCounts::default();
    for e in &out.history.events {
        match e.kind {
            EventType::Invoke => ops.invoked += 1,
            EventType::Ok => ops.ok += 1,
            EventType::Fail => ops.failed += 1,
            EventType::Info => ops.indeterminate += 1,
        }
    }
    // Operations still open at the end are indeterminate.
    ops.indeterminate += ops.invoked - ops.ok - ops.failed - ops.indeterminate;
    let mut replication = ReplicationCounts::default();
    for s in &out.servers {
        replication.full_resyncs += s.stats.full_resyncs;
        replication.partial_resyncs += s.stats.partial_resyncs;
        replication.rdb_bytes += s.stats.rdb_bytes_sent;
        replication.partial_resync_bytes += s.stats.partial_bytes_sent;
        replication.sync_time_ms += s.stats.sync_time_ns / 1_000_000;
        replication.output_buffer_disconnects += s.stats.output_buffer_disconnects;
        replication.noreplicas_refusals += s.stats.noreplicas_refusals;
        replication.keys_flushed += s.stats.keys_flushed;
    }
    // Clients follow the servers and sentinels in process order, workload by workload.
    let mut per_workload = std::collections::BTreeMap::new();
    let mut first = (out.servers.len() + scenario.sentinels.len()) as u32;
    for w in &scenario.workloads {
        let range = first..first + w.clients;
        let n = lost.iter().filter(|l| range.contains(&l.process)).count() as u64;
        per_workload.insert(w.spec.name.clone(), n);
        first = range.end;
    }
    let lost_by_workload = |workload: &str| -> Figure {
        per_workload.get(workload).map_or_else(
            || Figure::Unavailable(format!("no workload {workload}")),
            |n| Figure::Number(*n as i64),
        )
    };
    let durable_skipped = matches!(
        check_count(&checks, "acked-writes-durable"),
        Figure::Unavailable(_)
    );
    let figure = |name: &str| -> Figure {
        if let Some(w) = name.strip_prefix("lost_acked_writes:") {
            if durable_skipped {
                return check_count(&checks, "acked-writes-durable");
            }
            return lost_by_workload(w);
        }
        match name {
            "lost_acked_writes" => check_count(&checks, "acked-writes-durable"),
            "full_resyncs" => Figure::Number(replication.full_resyncs as i64),
            "partial_resyncs" => Figure::Number(replication.partial_resyncs as i64),
            "failovers" => Figure::Number(failovers.len() as i64),
            "converged" => check_status(&checks, "converged"),
            "single_primary" => check_status(&checks, "single-primary"),
            "linearizable" => check_status(&checks, "linearizable"),
            "split_brain_ms" => check_count(&checks, "single-primary"),
            "stale_reads" => check_count(&checks, "stale-reads"),
            "read_your_writes" => check_status(&checks, "read-your-writes"),
            "failover_to" => failovers
                .last()
                .map_or(Figure::Unavailable("no failover".into()), |f| {
                    Figure::Text(f.to.clone())
                }),
            "failover_completed_ms" => failovers
                .iter()
                .map(|f| f.completed_after_ms as i64)
                .max()
                .map_or(Figure::Unavailable("no failover".into()), Figure::Number),
            "failover_detected_ms" => failovers
                .iter()
                .map(|f| f.detected_after_ms as i64)
                .max()
                .map_or(Figure::Unavailable("no failover".into()), Figure::Number),
            "ops_ok" => Figure::Number(ops.ok as i64),
            "ops_failed" => Figure::Number(ops.failed as i64),
            "ops_indeterminate" => Figure::Number(ops.indeterminate as i64),
            other => Figure::Unavailable(format!("unknown figure {other}")),
        }
    };
    let expectations = evaluate(&scenario.expect, figure);
    let verdict = if expectations.iter().all(|e| e.met) {
        "pass"
    } else {
        "fail"
    };
    Summary {
        simkv_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        seed: out.seed,
        trace_hash: out.trace_hash.clone(),
        sim_time_ms: out.sim_time.as_ms(),
        events: out.events,
        wall_ms,
        ops,
        replication,
        failovers,
        faults: out.faults.clone(),
        checks,
        lost_writes: lost.iter().take(LOST_WRITES_SHOWN).cloned().collect(),
        lost_by_workload: per_workload.clone(),
        expectations,
        verdict: verdict.to_string(),
    }
}

impl Summary {
    /// The short human summary printed without `--json`.
    pub fn human(&self) -> String {
        let mut s = format!(
            "simkv {} · scenario {} · seed {} · trace {}\n",
            self.simkv_version, self.scenario, self.seed, self.trace_hash
        );
        s.push_str(&format!(
            "simulated {:.1}s in {} ms of wall time ({} events)\n",
            self.sim_time_ms as f64 / 1000.0,
            self.wall_ms,
            self.events
        ));
        s.push_str(&format!(
            "operations: {} invoked, {} ok, {} failed, {} indeterminate\n",
            self.ops.invoked, self.ops.ok, self.ops.failed, self.ops.indeterminate
        ));
        s.push_str(&format!(
            "replication: {} full resyncs, {} partial resyncs, {} RDB bytes\n",
            self.replication.full_resyncs,
            self.replication.partial_resyncs,
            self.replication.rdb_bytes
        ));
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
        if self.lost_by_workload.values().any(|n| *n > 0) {
            let parts: Vec<String> = self
                .lost_by_workload
                .iter()
                .map(|(w, n)| format!("{w} {n}"))
                .collect();
            s.push_str(&format!(
                "lost acknowledged writes by workload: {}\n",
                parts.join(", ")
            ));
        }
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
        s.push_str(&format!("verdict: {}\n", self.verdict));
        s
    }
}

/// Failovers as the trace's notes show them: every promotion, with the fault that preceded it
/// and the first detection (`+sdown`) after that fault.
pub fn summary_failovers(out: &RunOutput) -> Vec<Failover> {
    let names: Vec<&str> = out.servers.iter().map(|s| s.name.as_str()).collect();
    let mut primary: Option<usize> = None;
    let mut last_fault_ns: Option<u64> = None;
    let mut failovers = Vec::new();
    let index = |s: &str| names.iter().position(|n| *n == s);
    for n in &out.notes {
        match &n.fact {
            Fact::Started {
                server,
                role: StartRole::Primary,
                ..
            } if primary.is_none() => primary = index(server),
            // An operator's failover is the response, not the failure it responds to.
            Fact::FaultStarted { fault } if !fault.operator => {
                last_fault_ns = Some(n.time.as_nanos())
            }
            Fact::Promoted { server, .. } if index(server).is_some() => {
                let p = index(server).expect("checked");
                let at = n.time.as_nanos();
                let since = last_fault_ns.unwrap_or(at);
                let detected = out
                    .notes
                    .iter()
                    .find(|d| {
                        matches!(
                            d.fact,
                            Fact::Sentinel {
                                event: SentinelEventKind::Sdown,
                                ..
                            }
                        ) && d.time.as_nanos() >= since
                            && d.time.as_nanos() <= at
                    })
                    .map_or(at, |d| d.time.as_nanos());
                failovers.push(Failover {
                    at_ms: at / 1_000_000,
                    from: primary.map_or("-".to_string(), |q| names[q].to_string()),
                    to: names[p].to_string(),
                    detected_after_ms: (detected - since) / 1_000_000,
                    completed_after_ms: (at - since) / 1_000_000,
                });
                primary = Some(p);
            }
            _ => {}
        }
    }
    failovers
}

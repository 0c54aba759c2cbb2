//! `simkv diff`: one scenario through the simulator (over seeds) and through real processes (N
//! runs), reduced to the same observables, side by side, each with a stated tolerance and a
//! verdict. Counts of failovers and resyncs, the kinds and order of full-resync reasons, and the
//! promoted replica must match exactly (every real value must be one the simulator produced);
//! timings agree when the two ranges overlap once widened by the margin; operation counts, which
//! depend on how fast each backend serves requests, agree within a relative band; lost writes and
//! NOREPLICAS refusals must agree on whether there were any.
//!
//! A Redis Cluster scenario adds rows: the shard failover's timing after the fault (FAIL, the
//! election, the first operation the promoted replica answered; the first PFAIL is the failover's
//! detection above), the minority side's write window (when the replaced primary turned its
//! cluster state to fail, and its last acknowledged write while the fault lasted), the number of
//! lost acknowledged writes, and the texts clients got: the redirections they followed
//! (`MOVED <slot> c2r1`) and the errors operations failed with (slots and endpoints replaced by
//! placeholders, since the two backends draw different keys and listen at different addresses).
//! A resharding adds how many slots changed hands (`CLUSTER SETSLOT <slot> NODE` accepted) and
//! when the last did, after the `reshard` fault started.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use crate::check::Status;
use crate::check::failover::Failover;
use crate::cluster::redirect::error_pattern;
use crate::fact::{ClusterFact, Fact, FactNote};
use crate::history::EventType;
use crate::history::HistoryEvent;
use crate::runner::{RunReport, run_scenario};
use crate::scenario::Scenario;

use super::output::report;
use super::run::{RealOptions, RealRun, run_real};
use super::supervisor::RealError;

/// How the two sides of one observable are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Tolerance {
    /// Every real value is one of the simulator's values.
    Exact,
    /// The ranges overlap once each is widened by this many milliseconds.
    TimingMs {
        /// The margin.
        margin_ms: u64,
    },
    /// The real range overlaps the simulator's widened by this percentage of its values.
    Relative {
        /// The band, in percent.
        percent: u64,
    },
    /// Both sides agree on whether the count is zero.
    ZeroOrNot,
    /// Every text the real run shows is one the simulator showed in some seed.
    Texts,
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tolerance::Exact => write!(f, "exact"),
            Tolerance::TimingMs { margin_ms } => write!(f, "overlap ±{margin_ms} ms"),
            Tolerance::Relative { percent } => write!(f, "within {percent}%"),
            Tolerance::ZeroOrNot => write!(f, "zero or not"),
            Tolerance::Texts => write!(f, "real texts among the simulator's"),
        }
    }
}

/// One observed value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A count or a duration in ms.
    Number(u64),
    /// A name or a list of kinds.
    Text(String),
    /// A set of texts (redirections, error texts).
    Texts(Vec<String>),
    /// Nothing to observe (no failover, so no failover time).
    Missing,
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Text(t) => write!(f, "{t}"),
            Value::Texts(t) if t.is_empty() => write!(f, "-"),
            Value::Texts(t) => write!(f, "{}", t.join("; ")),
            Value::Missing => write!(f, "-"),
        }
    }
}

/// Whether the two sides agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Within the tolerance.
    Agree,
    /// Outside it.
    Disagree,
}

/// The observables of one run (simulated or real).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Operations invoked.
    pub ops: u64,
    /// Operations that definitely failed (error replies).
    pub failed: u64,
    /// Operations whose outcome is unknown (timeouts, WAIT short of its replicas).
    pub indeterminate: u64,
    /// Writes acknowledged (`ok` completions of set, incr, append, del).
    pub acked_writes: u64,
    /// Acknowledged writes missing at the end (`acked-writes-durable`).
    pub lost_acked_writes: u64,
    /// Failovers (promotions after the first primary).
    pub failovers: u64,
    /// The last promoted server.
    pub promoted: Option<String>,
    /// From the fault to the first `+sdown` of the first failover (ms).
    pub detected_ms: Option<u64>,
    /// From the fault to the promotion of the first failover (ms).
    pub completed_ms: Option<u64>,
    /// Full resyncs completed by replicas.
    pub full_resyncs: u64,
    /// Partial resyncs completed by replicas.
    pub partial_resyncs: u64,
    /// Why primaries answered PSYNC with a full resync, in order (`no-cached-master`, ...).
    pub full_resync_reasons: Vec<String>,
    /// Writes refused with NOREPLICAS.
    pub noreplicas_refusals: u64,
    /// A Redis Cluster run's own observables (`None` outside a cluster).
    pub cluster: Option<ClusterFigures>,
}

/// The observables of a Redis Cluster run, times in ms after the fault that preceded the first
/// shard failover (`None` when there was none).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterFigures {
    /// The first node's FAIL of the failed primary.
    pub fail_ms: Option<u64>,
    /// The first election started.
    pub election_ms: Option<u64>,
    /// The first operation the promoted replica answered.
    pub clients_reach_new_primary_ms: Option<u64>,
    /// The replaced primary turned its cluster state to fail while the fault lasted (it refuses
    /// every key from then).
    pub minority_refuses_ms: Option<u64>,
    /// The replaced primary's last acknowledged write while the fault lasted.
    pub minority_last_ack_ms: Option<u64>,
    /// Redirections clients followed, by pattern (`MOVED <slot> c2r1`), in order.
    pub redirects: Vec<String>,
    /// The error texts of failed operations, slots and endpoints as placeholders, in order.
    pub error_texts: Vec<String>,
    /// Slots some node accepted `CLUSTER SETSLOT <slot> NODE` for (`cluster:setslot` node).
    pub slots_moved: u64,
    /// From the first `reshard` fault's start to the last such `SETSLOT ... NODE` (ms).
    pub reshard_done_ms: Option<u64>,
}

impl Figures {
    /// The observables of a finished run.
    pub fn of(r: &RunReport) -> Figures {
        let s = &r.summary;
        let writes = ["set", "incr", "append", "del"];
        let acked_writes = r
            .output
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Ok && writes.contains(&e.f()))
            .count() as u64;
        let lost = s
            .checks
            .iter()
            .find(|c| c.name == "acked-writes-durable" && c.status != Status::Skipped)
            .map_or(0, |c| c.count);
        let reasons = r
            .output
            .notes
            .iter()
            .filter_map(|n| match &n.fact {
                Fact::FullResyncNeeded { reason, .. } => Some(reason_kind(reason)),
                _ => None,
            })
            .collect();
        let first = s.failovers.first();
        let cluster = r
            .output
            .notes
            .iter()
            .any(|n| matches!(n.fact, Fact::Cluster { .. }))
            .then(|| cluster_figures(r, first));
        Figures {
            ops: s.ops.invoked,
            failed: s.ops.failed,
            indeterminate: s.ops.indeterminate,
            acked_writes,
            lost_acked_writes: lost,
            failovers: s.failovers.len() as u64,
            promoted: s.failovers.last().map(|f| f.to.clone()),
            detected_ms: first.map(|f| f.detected_after_ms),
            completed_ms: first.map(|f| f.completed_after_ms),
            full_resyncs: s.replication.full_resyncs,
            partial_resyncs: s.replication.partial_resyncs,
            full_resync_reasons: reasons,
            noreplicas_refusals: s.replication.noreplicas_refusals,
            cluster,
        }
    }
}

/// The writes simkv's workloads issue.
const WRITES: [&str; 5] = ["set", "incr", "append", "del", "sadd"];

/// A cluster run's observables around its first failover.
fn cluster_figures(r: &RunReport, failover: Option<&Failover>) -> ClusterFigures {
    let notes = &r.output.notes;
    let events = &r.output.history.events;
    let mut out = ClusterFigures {
        redirects: r.output.redirects.keys().cloned().collect(),
        error_texts: events
            .iter()
            .filter(|e| e.kind == EventType::Fail)
            .filter_map(|e| e.error().map(error_pattern))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        ..ClusterFigures::default()
    };
    let assigned: Vec<(u64, u16)> = notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Cluster {
                event: ClusterFact::SetSlot { slot, action, .. },
                ..
            } if action == "node" => Some((n.time.as_nanos() / 1_000_000, *slot)),
            _ => None,
        })
        .collect();
    out.slots_moved = assigned
        .iter()
        .map(|(_, s)| *s)
        .collect::<BTreeSet<_>>()
        .len() as u64;
    let reshard_start = notes.iter().find_map(|n| match &n.fact {
        Fact::FaultStarted { fault } if fault.kind == "reshard" => {
            Some(n.time.as_nanos() / 1_000_000)
        }
        _ => None,
    });
    out.reshard_done_ms = reshard_start.and_then(|start| {
        let last = assigned.iter().map(|(t, _)| *t).max()?;
        last.checked_sub(start)
    });
    let Some(f) = failover else {
        return out;
    };
    let Some((fault_ms, fault_id)) = fault_before(notes, f.at_ms) else {
        return out;
    };
    let heal_ms = heal_of(notes, fault_id).unwrap_or(u64::MAX);
    let after = |ns: u64| (ns / 1_000_000).checked_sub(fault_ms);
    let first = |pick: &dyn Fn(&ClusterFact, &str) -> bool| {
        notes
            .iter()
            .filter(|n| n.time.as_nanos() / 1_000_000 >= fault_ms)
            .find(|n| matches!(&n.fact, Fact::Cluster { node, event } if pick(event, node)))
            .and_then(|n| after(n.time.as_nanos()))
    };
    out.fail_ms = first(&|e, _| matches!(e, ClusterFact::Fail { about, .. } if *about == f.from));
    out.election_ms = first(&|e, _| matches!(e, ClusterFact::ElectionStarted { .. }));
    out.minority_refuses_ms =
        first(&|e, node| node == f.from && matches!(e, ClusterFact::State { ok: false }))
            .filter(|ms| fault_ms + ms <= heal_ms);
    let served_by =
        |e: &&HistoryEvent, who: &str| e.kind == EventType::Ok && e.server() == Some(who);
    out.clients_reach_new_primary_ms = events
        .iter()
        .filter(|e| e.time_ns / 1_000_000 >= fault_ms)
        .find(|e| served_by(e, &f.to))
        .and_then(|e| after(e.time_ns));
    out.minority_last_ack_ms = events
        .iter()
        .filter(|e| (fault_ms..=heal_ms).contains(&(e.time_ns / 1_000_000)))
        .rfind(|e| served_by(e, &f.from) && WRITES.contains(&e.f()))
        .and_then(|e| after(e.time_ns));
    out
}

/// The start (ms) and id of the last fault, not an operator's, that began by `at_ms` (the one
/// a failover at `at_ms` answers, as `check::failover` counts it).
fn fault_before(notes: &[FactNote], at_ms: u64) -> Option<(u64, u32)> {
    notes
        .iter()
        .take_while(|n| n.time.as_nanos() / 1_000_000 <= at_ms)
        .filter_map(|n| match &n.fact {
            Fact::FaultStarted { fault } if !fault.operator => {
                Some((n.time.as_nanos() / 1_000_000, fault.id))
            }
            _ => None,
        })
        .last()
}

fn reason_kind(r: &crate::fact::FullResyncReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.get("reason").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// When fault `id` healed (ms).
fn heal_of(notes: &[FactNote], id: u32) -> Option<u64> {
    notes.iter().find_map(|n| match &n.fact {
        Fact::FaultHealed { fault } if fault.id == id => Some(n.time.as_nanos() / 1_000_000),
        _ => None,
    })
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The observable.
    pub observable: String,
    /// The simulator's values, one per seed.
    pub sim: Vec<Value>,
    /// The real values, one per run.
    pub real: Vec<Value>,
    /// How they are compared.
    pub tolerance: Tolerance,
    /// The result.
    pub verdict: Verdict,
}

/// A whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The scenario's name.
    pub scenario: String,
    /// The simulator's seeds.
    pub seeds: Vec<u64>,
    /// The redis-server version of the real runs.
    pub redis_version: String,
    /// The time scale of the real runs.
    pub time_scale: f64,
    /// One row per observable.
    pub rows: Vec<Row>,
    /// Each simulated run's figures.
    pub sim: Vec<Figures>,
    /// Each real run's figures.
    pub real: Vec<Figures>,
}

/// Choices for a diff.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// The simulator's seeds.
    pub seeds: Vec<u64>,
    /// How many real runs (seeds taken from `seeds` in turn).
    pub real_runs: u32,
    /// The real runs' options.
    pub real: RealOptions,
    /// The margin of timing rows, in ms.
    pub timing_margin_ms: u64,
    /// The band of operation counts, in percent.
    pub ops_percent: u64,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            seeds: vec![1, 2, 3],
            real_runs: 1,
            real: RealOptions::default(),
            timing_margin_ms: 1000,
            ops_percent: 50,
        }
    }
}

/// The simulated run judged as a real one is: real writes carry no replication position yet
/// (the real clients do not read `master_repl_offset` with each write), so their loss is judged
/// by the final value; the simulated history is stripped of positions so that both sides count
/// lost writes the same way.
fn judged_by_final_value(
    scenario: &Scenario,
    mut r: crate::runner::RunReport,
) -> crate::runner::RunReport {
    for e in &mut r.output.history.events {
        e.set_position(None);
    }
    let finals = crate::runner::final_states(&r.output);
    let ops = crate::check::operations::Operations::of(&r.output.history);
    let evidence = crate::check::Evidence {
        history: &r.output.history,
        notes: &r.output.notes,
        finals: &finals,
    };
    let findings = crate::check::run_all_on(&evidence, &ops);
    r.summary = crate::runner::summarize(
        scenario,
        &crate::runner::Provenance::default(),
        &r.output,
        &ops,
        &findings,
        r.summary.wall_ms,
    );
    drop(ops);
    r.lost = findings.lost;
    r.counterexample = findings.counterexample;
    r
}

/// Runs the simulator over the seeds and the real backend `real_runs` times, and compares.
pub fn diff(scenario: &Scenario, opts: &DiffOptions) -> Result<Diff, RealError> {
    Ok(diff_with_runs(scenario, opts)?.0)
}

/// [`diff`], also returning the real runs themselves (histories, facts, final states).
pub fn diff_with_runs(
    scenario: &Scenario,
    opts: &DiffOptions,
) -> Result<(Diff, Vec<RealRun>), RealError> {
    let mut sim = Vec::new();
    for &seed in &opts.seeds {
        let r = run_scenario(scenario, seed, &mut |_| {}, &mut |_| {}, &mut || 0)
            .map_err(|e| RealError::Unsupported(format!("the simulator failed: {e}")))?;
        sim.push(Figures::of(&judged_by_final_value(scenario, r)));
    }
    let mut real = Vec::new();
    let mut runs = Vec::new();
    let mut version = String::new();
    for k in 0..opts.real_runs as usize {
        let seed = opts
            .seeds
            .get(k % opts.seeds.len().max(1))
            .copied()
            .unwrap_or(1);
        let run = run_real(scenario, seed, &opts.real)?;
        version = run.version.to_string();
        real.push(Figures::of(&report(
            scenario,
            &crate::runner::Provenance::default(),
            &run,
        )));
        runs.push(run);
    }
    let diff = Diff {
        scenario: scenario.name.clone(),
        seeds: opts.seeds.clone(),
        redis_version: version,
        time_scale: opts.real.time_scale,
        rows: compare(&sim, &real, opts.timing_margin_ms, opts.ops_percent),
        sim,
        real,
    };
    Ok((diff, runs))
}

/// How one observable is read from a run's figures.
type Getter = fn(&Figures) -> Value;

/// Every observable: its name, how to read it, and how it is compared.
fn observables(margin_ms: u64, ops_percent: u64) -> [(&'static str, Getter, Tolerance); 13] {
    let relative = Tolerance::Relative {
        percent: ops_percent,
    };
    let timing = Tolerance::TimingMs { margin_ms };
    [
        ("operations", |f| Value::Number(f.ops), relative),
        (
            "acknowledged writes",
            |f| Value::Number(f.acked_writes),
            relative,
        ),
        (
            "failed operations",
            |f| Value::Number(f.failed),
            Tolerance::ZeroOrNot,
        ),
        (
            "indeterminate operations",
            |f| Value::Number(f.indeterminate),
            Tolerance::ZeroOrNot,
        ),
        (
            "lost acknowledged writes",
            |f| Value::Number(f.lost_acked_writes),
            Tolerance::ZeroOrNot,
        ),
        (
            "failovers",
            |f| Value::Number(f.failovers),
            Tolerance::Exact,
        ),
        (
            "promoted replica",
            |f| f.promoted.clone().map_or(Value::Missing, Value::Text),
            Tolerance::Exact,
        ),
        (
            "failover detected (ms)",
            |f| f.detected_ms.map_or(Value::Missing, Value::Number),
            timing,
        ),
        (
            "failover completed (ms)",
            |f| f.completed_ms.map_or(Value::Missing, Value::Number),
            timing,
        ),
        (
            "full resyncs",
            |f| Value::Number(f.full_resyncs),
            Tolerance::Exact,
        ),
        (
            "partial resyncs",
            |f| Value::Number(f.partial_resyncs),
            Tolerance::Exact,
        ),
        (
            "full-resync reasons",
            |f| Value::Text(f.full_resync_reasons.join(",")),
            Tolerance::Exact,
        ),
        (
            "NOREPLICAS refusals",
            |f| Value::Number(f.noreplicas_refusals),
            Tolerance::ZeroOrNot,
        ),
    ]
}

/// The rows a Redis Cluster run adds (see the module's header).
fn cluster_observables(
    margin_ms: u64,
    ops_percent: u64,
) -> [(&'static str, Getter, Tolerance); 10] {
    let timing = Tolerance::TimingMs { margin_ms };
    fn ms(f: &Figures, get: fn(&ClusterFigures) -> Option<u64>) -> Value {
        f.cluster
            .as_ref()
            .and_then(get)
            .map_or(Value::Missing, Value::Number)
    }
    fn texts(f: &Figures, get: fn(&ClusterFigures) -> &Vec<String>) -> Value {
        Value::Texts(f.cluster.as_ref().map(get).cloned().unwrap_or_default())
    }
    [
        ("cluster: FAIL (ms)", |f| ms(f, |c| c.fail_ms), timing),
        (
            "cluster: election started (ms)",
            |f| ms(f, |c| c.election_ms),
            timing,
        ),
        (
            "cluster: clients reach new primary (ms)",
            |f| ms(f, |c| c.clients_reach_new_primary_ms),
            timing,
        ),
        (
            "cluster: replaced primary refuses (ms)",
            |f| ms(f, |c| c.minority_refuses_ms),
            timing,
        ),
        (
            "cluster: replaced primary's last ack (ms)",
            |f| ms(f, |c| c.minority_last_ack_ms),
            timing,
        ),
        (
            "cluster: lost acknowledged writes",
            |f| Value::Number(f.lost_acked_writes),
            Tolerance::Relative {
                percent: ops_percent,
            },
        ),
        (
            "cluster: redirects followed",
            |f| texts(f, |c| &c.redirects),
            Tolerance::Texts,
        ),
        (
            "cluster: error texts",
            |f| texts(f, |c| &c.error_texts),
            Tolerance::Texts,
        ),
        (
            "cluster: slots moved",
            |f| Value::Number(f.cluster.as_ref().map_or(0, |c| c.slots_moved)),
            Tolerance::Exact,
        ),
        (
            "cluster: resharding done (ms)",
            |f| ms(f, |c| c.reshard_done_ms),
            timing,
        ),
    ]
}

/// The rows for these figures; a Redis Cluster's rows follow when either side is one.
pub fn compare(sim: &[Figures], real: &[Figures], margin_ms: u64, ops_percent: u64) -> Vec<Row> {
    let cluster = sim.iter().chain(real).any(|f| f.cluster.is_some());
    let mut all = observables(margin_ms, ops_percent).to_vec();
    if cluster {
        all.extend(cluster_observables(margin_ms, ops_percent));
    }
    all.into_iter()
        .map(|(name, get, tolerance)| {
            let s: Vec<Value> = sim.iter().map(get).collect();
            let r: Vec<Value> = real.iter().map(get).collect();
            let verdict = judge(&s, &r, tolerance);
            Row {
                observable: name.to_string(),
                sim: s,
                real: r,
                tolerance,
                verdict,
            }
        })
        .collect()
}

fn numbers(v: &[Value]) -> Option<(u64, u64)> {
    let n: Vec<u64> = v
        .iter()
        .filter_map(|x| match x {
            Value::Number(n) => Some(*n),
            _ => None,
        })
        .collect();
    Some((*n.iter().min()?, *n.iter().max()?))
}

/// The verdict of one row.
pub fn judge(sim: &[Value], real: &[Value], tol: Tolerance) -> Verdict {
    let ok = match tol {
        Tolerance::Exact => {
            let s: BTreeSet<&Value> = sim.iter().collect();
            real.iter().all(|v| s.contains(v))
        }
        Tolerance::ZeroOrNot => {
            let zero = |v: &Value| matches!(v, Value::Number(0) | Value::Missing);
            let s: BTreeSet<bool> = sim.iter().map(zero).collect();
            real.iter().all(|v| s.contains(&zero(v)))
        }
        Tolerance::TimingMs { margin_ms } => overlap(sim, real, |lo, hi| {
            (lo.saturating_sub(margin_ms), hi + margin_ms)
        }),
        Tolerance::Relative { percent } => overlap(sim, real, |lo, hi| {
            (lo - lo * percent.min(100) / 100, hi + hi * percent / 100)
        }),
        Tolerance::Texts => {
            let texts = |v: &Value| match v {
                Value::Texts(t) => t.clone(),
                Value::Text(t) => vec![t.clone()],
                _ => Vec::new(),
            };
            let s: BTreeSet<String> = sim.iter().flat_map(texts).collect();
            real.iter().flat_map(texts).all(|t| s.contains(&t))
        }
    };
    if ok {
        Verdict::Agree
    } else {
        Verdict::Disagree
    }
}

/// Whether the real range meets the simulator's range widened by `widen`; when one side has no
/// number at all, both must have none (a failover time exists on both sides or on neither).
fn overlap(sim: &[Value], real: &[Value], widen: impl Fn(u64, u64) -> (u64, u64)) -> bool {
    match (numbers(sim), numbers(real)) {
        (Some((slo, shi)), Some((rlo, rhi))) => {
            let (lo, hi) = widen(slo, shi);
            rlo <= hi && rhi >= lo
        }
        (None, None) => true,
        _ => false,
    }
}

impl Diff {
    /// Whether every row agrees.
    pub fn agrees(&self) -> bool {
        self.rows.iter().all(|r| r.verdict == Verdict::Agree)
    }

    /// The row of one observable.
    pub fn row(&self, observable: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.observable == observable)
    }

    /// The comparison as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a diff serialises")
    }

    /// One row of cells per observable: observable, simulator, real, tolerance, verdict.
    fn cells(&self) -> Vec<[String; 5]> {
        let list = |v: &[Value]| v.iter().map(Value::to_string).collect::<Vec<_>>().join(" ");
        self.rows
            .iter()
            .map(|r| {
                let verdict = match r.verdict {
                    Verdict::Agree => "agree",
                    Verdict::Disagree => "DISAGREE",
                };
                [
                    r.observable.clone(),
                    list(&r.sim),
                    list(&r.real),
                    r.tolerance.to_string(),
                    verdict.to_string(),
                ]
            })
            .collect()
    }

    /// How many observables agree, of how many.
    pub fn agreeing(&self) -> (usize, usize) {
        let agree = self.rows.iter().filter(|r| r.verdict == Verdict::Agree);
        (agree.count(), self.rows.len())
    }

    /// The comparison as a Markdown table, for documentation generated from diff runs.
    pub fn render_markdown(&self) -> String {
        let (agree, all) = self.agreeing();
        let mut out = format!(
            "**{}**: simulator seeds {:?} vs redis {} ({} run(s)); {agree} of {all} observables agree.\n\n\
             | observable | simulator | real | tolerance | verdict |\n|---|---|---|---|---|\n",
            self.scenario,
            self.seeds,
            self.redis_version,
            self.real.len(),
        );
        for c in self.cells() {
            let c = c.map(|x| {
                if x.is_empty() {
                    "-".to_string()
                } else {
                    x.replace('|', "/")
                }
            });
            let _ = writeln!(out, "| {} |", c.join(" | "));
        }
        out
    }

    /// The comparison as a text table.
    pub fn render_table(&self) -> String {
        let cells = self.cells();
        let head = ["observable", "simulator", "real", "tolerance", "verdict"];
        let width: Vec<usize> = (0..5)
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].len())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = format!(
            "{}: simulator seeds {:?} vs redis {} ({} run(s), time scale {})\n",
            self.scenario,
            self.seeds,
            self.redis_version,
            self.real.len(),
            self.time_scale
        );
        for row in std::iter::once(head.map(str::to_string)).chain(cells) {
            let line: Vec<String> = row
                .iter()
                .zip(&width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[u64]) -> Vec<Value> {
        v.iter().map(|x| Value::Number(*x)).collect()
    }

    #[test]
    fn exact_needs_every_real_value_among_the_simulators() {
        assert_eq!(
            judge(&n(&[1, 2]), &n(&[2]), Tolerance::Exact),
            Verdict::Agree
        );
        assert_eq!(
            judge(&n(&[1]), &n(&[1, 2]), Tolerance::Exact),
            Verdict::Disagree
        );
    }

    #[test]
    fn timing_ranges_overlap_within_the_margin() {
        let t = Tolerance::TimingMs { margin_ms: 500 };
        assert_eq!(judge(&n(&[2000, 2400]), &n(&[2800]), t), Verdict::Agree);
        assert_eq!(judge(&n(&[2000, 2400]), &n(&[3000]), t), Verdict::Disagree);
        assert_eq!(
            judge(&[Value::Missing], &n(&[3000]), t),
            Verdict::Disagree,
            "a failover on one side only"
        );
        assert_eq!(
            judge(&[Value::Missing], &[Value::Missing], t),
            Verdict::Agree
        );
    }

    #[test]
    fn relative_and_zero_or_not() {
        let r = Tolerance::Relative { percent: 50 };
        assert_eq!(judge(&n(&[1000]), &n(&[1400]), r), Verdict::Agree);
        assert_eq!(judge(&n(&[1000]), &n(&[400]), r), Verdict::Disagree);
        assert_eq!(
            judge(&n(&[0, 3]), &n(&[7]), Tolerance::ZeroOrNot),
            Verdict::Agree
        );
        assert_eq!(
            judge(&n(&[0]), &n(&[7]), Tolerance::ZeroOrNot),
            Verdict::Disagree
        );
    }

    #[test]
    fn texts_agree_when_every_real_one_is_among_the_simulators() {
        let t = |v: &[&str]| Value::Texts(v.iter().map(|s| s.to_string()).collect());
        let sim = [
            t(&["MOVED <slot> c2r1"]),
            t(&["CLUSTERDOWN The cluster is down"]),
        ];
        assert_eq!(
            judge(
                &sim,
                &[t(&["CLUSTERDOWN The cluster is down"])],
                Tolerance::Texts
            ),
            Verdict::Agree
        );
        assert_eq!(
            judge(&sim, &[t(&["MOVED <slot> c2p"])], Tolerance::Texts),
            Verdict::Disagree
        );
        assert_eq!(judge(&sim, &[t(&[])], Tolerance::Texts), Verdict::Agree);
    }

    #[test]
    fn table_has_one_line_per_observable() {
        let f = Figures {
            ops: 10,
            failed: 0,
            indeterminate: 1,
            acked_writes: 8,
            lost_acked_writes: 0,
            failovers: 1,
            promoted: Some("r1".into()),
            detected_ms: Some(2100),
            completed_ms: Some(3000),
            full_resyncs: 2,
            partial_resyncs: 1,
            full_resync_reasons: vec!["no-cached-master".into()],
            noreplicas_refusals: 0,
            cluster: None,
        };
        let mut other = f.clone();
        other.promoted = Some("r2".into());
        let d = Diff {
            scenario: "x".into(),
            seeds: vec![1],
            redis_version: "7.0.15".into(),
            time_scale: 1.0,
            rows: compare(
                std::slice::from_ref(&f),
                std::slice::from_ref(&other),
                1000,
                50,
            ),
            sim: vec![f],
            real: vec![other],
        };
        let table = d.render_table();
        assert_eq!(table.lines().count(), 2 + 13, "{table}");
        assert!(table.contains("promoted replica"), "{table}");
        assert_eq!(
            d.row("promoted replica").unwrap().verdict,
            Verdict::Disagree
        );
        assert!(!d.agrees());
        assert_eq!(d.to_json()["rows"][5]["verdict"], "agree");
    }
}

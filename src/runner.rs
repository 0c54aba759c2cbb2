//! One run from scenario to summary: build the world, run it, check it, decide the verdict and
//! assemble the summary, with the run's provenance (file, overrides, scenario hash).

use crate::check::failover::failovers;
use crate::check::figures::{
    Figures, OpsCounts, Process, ProcessTable, ReplicationCounts, Role, lost_by_workload,
};
use crate::check::operations::Operations;
use crate::check::verdict::{Warning, WarningKind, decide, run_warnings};
use crate::check::{self, Evidence, FinalState, Findings};
use crate::fact::FactNote;
use crate::report::{LOST_WRITES_SHOWN, Summary};
use crate::scenario::Scenario;
use crate::sim::SimTime;
use crate::sim::{fnv1a, splitmix64};
use crate::world::{RunError, RunOutput, World};

/// A finished run: the summary and everything it was computed from.
pub struct RunReport {
    /// The JSON summary.
    pub summary: Summary,
    /// The raw output (history, notes, metrics, final states).
    pub output: RunOutput,
    /// Every lost acknowledged write (the summary lists only the first ones).
    pub lost: Vec<crate::check::LostWrite>,
    /// Every acknowledged set member no final read returned.
    pub lost_adds: Vec<crate::check::LostAdd>,
    /// The linearizability counterexample, as a timeline.
    pub counterexample: Option<String>,
}

/// Where a scenario came from: the file as given (`-` for stdin) and the `--set` overrides.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// The `--set` overrides, in order.
    pub overrides: Vec<String>,
    /// `--deny-warnings`: a run with a warning fails.
    pub deny_warnings: bool,
}

/// The scenario hash: 16 hex digits of SplitMix64(FNV-1a-64) over the validated scenario's
/// canonical rendering (Rust's `{:?}` of every resolved field, defaults included, description
/// left out). Equal for equal effective scenarios under one simkv version, whatever the file's
/// layout, comments or the way a value was set (in the file or with `--set`).
pub fn scenario_hash(scenario: &Scenario) -> String {
    let mut canonical = scenario.clone();
    canonical.description.clear();
    let text = format!("{canonical:?}");
    format!("{:016x}", splitmix64(fnv1a(text.as_bytes())))
}

/// Every process of `scenario` in id order: servers, then sentinels, then each workload's
/// clients (the order the world creates them in).
pub fn process_table(scenario: &Scenario) -> ProcessTable {
    let regions = scenario.topology.regions();
    let region = |i: usize| regions.get(i).cloned().unwrap_or_default();
    let mut all = Vec::new();
    let mut push = |role, name: String, r: usize, workload: Option<String>| {
        let id = all.len() as u32;
        all.push(Process {
            id,
            role,
            name,
            region: region(r),
            workload,
        });
    };
    for s in &scenario.servers {
        push(Role::Server, s.name.clone(), s.region, None);
    }
    for s in &scenario.sentinels {
        push(Role::Sentinel, s.name.clone(), s.region, None);
    }
    for w in &scenario.workloads {
        for i in 0..w.clients {
            let name = format!("{}/{i}", w.spec.name);
            push(Role::Client, name, w.region, Some(w.spec.name.clone()));
        }
    }
    ProcessTable::new(all)
}

/// The checkers' view of the final states.
pub fn final_states(out: &RunOutput) -> Vec<FinalState> {
    out.servers
        .iter()
        .map(|s| FinalState {
            name: s.name.clone(),
            is_master: s.is_master,
            master: s.master.clone(),
            up: s.up,
            link_up: s.link_up,
            position: Some(s.position.clone()),
            data: s
                .keyspace
                .iter()
                .filter_map(|(k, v)| Some((k.to_string(), v.as_str()?.to_string())))
                .collect(),
            sets: s
                .keyspace
                .iter()
                .filter_map(|(k, v)| {
                    let members = v.members()?.iter().map(|m| m.to_string()).collect();
                    Some((k.to_string(), members))
                })
                .collect(),
            slot_owners: s.slot_owners.clone(),
        })
        .collect()
}

fn replication_counts(out: &RunOutput) -> ReplicationCounts {
    let mut r = ReplicationCounts::default();
    for s in &out.servers {
        r.full_resyncs += s.stats.full_resyncs;
        r.partial_resyncs += s.stats.partial_resyncs;
        r.rdb_bytes += s.stats.rdb_bytes_sent;
        r.partial_resync_bytes += s.stats.partial_bytes_sent;
        r.sync_time_ms += s.stats.sync_time_ns / 1_000_000;
        r.output_buffer_disconnects += s.stats.output_buffer_disconnects;
        r.noreplicas_refusals += s.stats.noreplicas_refusals;
        r.keys_flushed += s.stats.keys_flushed;
    }
    r
}

/// Decides and assembles the summary of a finished run.
/// The summary of a checked run (simulated here, or real in `real::output`).
pub fn summarize(
    scenario: &Scenario,
    source: &Provenance,
    out: &RunOutput,
    operations: &Operations<'_>,
    findings: &Findings,
    wall_ms: u64,
) -> Summary {
    let processes = process_table(scenario);
    assert!(
        out.history
            .events
            .iter()
            .all(|e| processes.workload_of(e.process).is_some()),
        "every history event comes from a client of the process table"
    );
    let ops = OpsCounts::of(&out.history);
    let replication = replication_counts(out);
    let failovers = failovers(&processes.server_names(), &out.notes);
    // Only the workloads that added to sets.
    let mut lost_adds_by_workload = if findings.judged_adds() {
        lost_by_workload(&processes, findings.lost_adds.iter().map(|l| l.process))
    } else {
        Default::default()
    };
    let adders: std::collections::BTreeSet<&str> = out
        .history
        .events
        .iter()
        .filter(|e| e.f() == "sadd")
        .filter_map(|e| processes.workload_of(e.process))
        .collect();
    lost_adds_by_workload.retain(|w, _| adders.contains(w.as_str()));
    let lost_by_workload = lost_by_workload(&processes, findings.lost.iter().map(|l| l.process));
    let figures = Figures {
        ops: &ops,
        replication: &replication,
        failovers: &failovers,
        checks: &findings.checks,
        lost_by_workload: &lost_by_workload,
        lost_adds_by_workload: &lost_adds_by_workload,
    };
    let mut warnings: Vec<Warning> = scenario
        .warnings
        .iter()
        .map(|w| Warning {
            kind: WarningKind::Scenario,
            message: w.to_string().trim_start_matches("warning: ").to_string(),
        })
        .collect();
    warnings.extend(run_warnings(&ops, &out.history));
    let vitals = crate::report::vitals_summary(out, operations, &processes);
    let (expectations, verdict) = decide(&scenario.expect, &figures);
    let verdict = verdict.denying(&warnings, source.deny_warnings);
    Summary {
        simkv_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario.name.clone(),
        seed: out.seed,
        trace_hash: out.trace_hash.clone(),
        sim_time_ms: out.sim_time.as_ms(),
        events: out.events,
        wall_ms,
        warnings,
        ops,
        replication,
        failovers,
        faults: out.faults.clone(),
        operator_actions: crate::report::operator_actions(&out.notes),
        cluster: scenario.cluster.as_ref().map(|spec| {
            let names: Vec<String> = scenario.servers.iter().map(|s| s.name.clone()).collect();
            let slot_maps = out
                .servers
                .iter()
                .map(|s| (s.name.clone(), s.slot_owners.clone()))
                .collect();
            crate::report::cluster_summary(spec, &names, &out.notes, &out.history, &slot_maps)
        }),
        checks: findings.checks.clone(),
        lost_writes: findings
            .lost
            .iter()
            .take(LOST_WRITES_SHOWN)
            .cloned()
            .collect(),
        lost_by_workload,
        lost_adds_by_workload,
        expectations,
        verdict,
        scenario_file: source.scenario_file.clone(),
        overrides: source.overrides.clone(),
        scenario_hash: scenario_hash(scenario),
        processes,
        vitals,
        backend: "sim".to_string(),
    }
}

/// Runs `scenario` with `seed`, naming `source` in the summary. `wall_ms` is the injected
/// clock that measures the run (the summary's only non-deterministic field); `progress` sees
/// simulated time advance, `on_note` every fact as it happens.
pub fn run_from(
    scenario: &Scenario,
    source: &Provenance,
    seed: u64,
    progress: &mut dyn FnMut(SimTime),
    on_note: &mut dyn FnMut(&FactNote),
    wall_ms: &mut dyn FnMut() -> u64,
) -> Result<RunReport, RunError> {
    let output = World::new(scenario, seed).run_observed(progress, on_note)?;
    let finals = final_states(&output);
    let evidence = Evidence {
        history: &output.history,
        notes: &output.notes,
        finals: &finals,
    };
    let ops = Operations::of(&output.history);
    let findings = check::run_all_on(&evidence, &ops);
    let summary = summarize(scenario, source, &output, &ops, &findings, wall_ms());
    drop(ops);
    Ok(RunReport {
        summary,
        output,
        lost: findings.lost,
        lost_adds: findings.lost_adds,
        counterexample: findings.counterexample,
    })
}

/// [`run_from`] for a scenario without a file (built in, or a shrink candidate).
pub fn run_scenario(
    scenario: &Scenario,
    seed: u64,
    progress: &mut dyn FnMut(SimTime),
    on_note: &mut dyn FnMut(&FactNote),
    wall_ms: &mut dyn FnMut() -> u64,
) -> Result<RunReport, RunError> {
    let source = Provenance::default();
    run_from(scenario, &source, seed, progress, on_note, wall_ms)
}

/// The determinism self-check of one seed: two runs, compared checkpoint by checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Determinism {
    /// The seed.
    pub seed: u64,
    /// Whether the two runs agree at every checkpoint.
    pub deterministic: bool,
    /// Checkpoints compared.
    pub checkpoints: usize,
    /// The first run's trace hash.
    pub trace_hash: String,
    /// The last simulated ms at which the runs agreed, when they differ.
    pub agree_until_ms: Option<u64>,
    /// The first simulated ms at which they differ.
    pub differ_at_ms: Option<u64>,
}

/// Runs `scenario` twice with `seed` and compares the runs.
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<Determinism, RunError> {
    let a = World::new(scenario, seed).run(&mut |_| {})?;
    let b = World::new(scenario, seed).run(&mut |_| {})?;
    let diverged = crate::world::first_divergence(&a, &b);
    Ok(Determinism {
        seed,
        deterministic: diverged.is_none(),
        checkpoints: a.checkpoints.len(),
        trace_hash: a.trace_hash.clone(),
        agree_until_ms: diverged.map(|(after, _)| after.as_ms()),
        differ_at_ms: diverged.map(|(_, by)| by.as_ms()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"t\"\nduration = \"5s\"\nregions = [\"east\", \"west\"]\n\
                        [servers.p1]\nregion = \"east\"\n[servers.r1]\nregion = \"west\"\n\
                        replicaof = \"p1\"\n[workloads.app]\nregion = \"west\"\nclients = 2\n\
                        target = \"p1\"\n";

    fn parse(text: &str, overrides: &[&str]) -> Scenario {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        Scenario::parse("t.toml", text, &o).unwrap()
    }

    #[test]
    fn scenario_hash_follows_the_effective_scenario() {
        let plain = scenario_hash(&parse(TEXT, &[]));
        let same = format!("# a comment\ndescription = \"other words\"\n{TEXT}");
        assert_eq!(plain, scenario_hash(&parse(&same, &["duration=5s"])));
        assert_ne!(plain, scenario_hash(&parse(TEXT, &["duration=6s"])));
        assert_eq!(plain.len(), 16);
    }

    #[test]
    fn the_process_table_numbers_servers_then_clients() {
        let t = process_table(&parse(TEXT, &[]));
        let rows: Vec<(u32, Role, &str, &str)> = t
            .processes()
            .iter()
            .map(|p| (p.id, p.role, p.name.as_str(), p.region.as_str()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (0, Role::Server, "p1", "east"),
                (1, Role::Server, "r1", "west"),
                (2, Role::Client, "app/0", "west"),
                (3, Role::Client, "app/1", "west"),
            ]
        );
        assert_eq!(t.workload_of(3), Some("app"));
        assert_eq!(t.workload_of(1), None);
        assert_eq!(t.server_names(), vec!["p1".to_string(), "r1".to_string()]);
    }
}

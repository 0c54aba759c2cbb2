//! One run from scenario to summary: build the world, run it, check it, summarise it.

use crate::check::{self, Evidence, FinalState};
use crate::fact::FactNote;
use crate::report::summary_failovers;
use crate::report::{Summary, summarize};
use crate::scenario::Scenario;
use crate::sim::SimTime;
use crate::world::{RunError, RunOutput, World};

/// A finished run: the summary and everything it was computed from.
pub struct RunReport {
    /// The JSON summary.
    pub summary: Summary,
    /// The raw output (history, notes, metrics, final states).
    pub output: RunOutput,
    /// Every lost acknowledged write (the summary lists only the first ones).
    pub lost: Vec<crate::check::LostWrite>,
    /// The linearizability counterexample, as a timeline.
    pub counterexample: Option<String>,
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
            data: s
                .keyspace
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect()
}

/// Runs `scenario` with `seed`. `wall_ms` measures the run (the summary's only
/// non-deterministic field); `progress` sees simulated time advance.
pub fn run_scenario(
    scenario: &Scenario,
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
    let findings = check::run_all(&evidence);
    let failovers = summary_failovers(&output);
    let summary = summarize(
        scenario,
        &output,
        findings.checks,
        &findings.lost,
        failovers,
        wall_ms(),
    );
    Ok(RunReport {
        summary,
        output,
        lost: findings.lost,
        counterexample: findings.counterexample,
    })
}

//! A real run in the simulator's output shape (`world::RunOutput`), so the summary, reports and
//! expectations that judge simulated runs judge real ones the same way
//! ([`report`] is `runner::run_scenario` for the real backend).

use std::rc::Rc;

use crate::check::Evidence;
use crate::fact::Fact;
use crate::history::EventType;
use crate::redis::{Command, Keyspace};
use crate::runner::{Provenance, RunReport, summarize};
use crate::scenario::Scenario;
use crate::server::ServerStats;
use crate::sim::{SimTime, fnv1a, splitmix64};
use crate::world::{RunOutput, ServerFinal};

use super::run::RealRun;

/// The trace hash's starting state (docs/ARCHITECTURE.md).
const HASH_SEED: u64 = 0x5349_4d4b_565f_5631;

impl RealRun {
    /// The run as the simulator reports one. `trace_hash` folds the facts as the kernel does,
    /// but a real run is not reproducible, so equal hashes are not expected between runs;
    /// `events` counts facts plus history events; `sim_time` is the wall time covered.
    pub fn to_run_output(&self) -> RunOutput {
        let servers = self
            .servers
            .iter()
            .map(|s| ServerFinal {
                name: s.name.clone(),
                is_master: s.is_master,
                master: s.master.clone(),
                up: s.up,
                link_up: s.link_up,
                offset: s.offset,
                replid: s.replid.clone(),
                position: crate::history::Position {
                    replid: s.replid.as_str().into(),
                    offset: s.offset,
                    unstreamed: 0,
                },
                keyspace: keyspace(&s.data, &s.sets),
                stats: self.stats(&s.name),
                vitals: s.vitals.clone().unwrap_or_default(),
                slot_owners: s.slot_owners.clone(),
            })
            .collect();
        RunOutput {
            seed: self.seed,
            trace_hash: format!("{:016x}", self.trace_hash()),
            sim_time: SimTime(self.duration_ns),
            events: (self.notes.len() + self.history.events.len()) as u64,
            history: self.history.clone(),
            notes: self.notes.clone(),
            servers,
            faults: self.faults.clone(),
            metrics: self.metrics.clone(),
            quiet_from: SimTime(self.quiet_from_ns),
            network_bytes: 0,
            checkpoints: Vec::new(),
            redirects: self.redirects.clone(),
        }
    }

    /// Every fact folded as the kernel folds notes: `fnv1a(kind) ^ rotl(fnv1a(text), 1)`.
    fn trace_hash(&self) -> u64 {
        self.notes.iter().fold(HASH_SEED, |h, n| {
            let text = n.fact.to_string();
            let word = fnv1a(n.fact.kind().as_bytes()) ^ fnv1a(text.as_bytes()).rotate_left(1);
            [n.time.0, u64::from(n.process), 3, word]
                .into_iter()
                .fold(h, |h, w| splitmix64(h ^ w))
        })
    }

    /// A server's counters, from the facts it produced and the refusals clients saw.
    fn stats(&self, server: &str) -> ServerStats {
        let mut s = ServerStats::default();
        for n in &self.notes {
            if n.fact.server() != Some(server) {
                continue;
            }
            match &n.fact {
                Fact::FullResyncDone { .. } => s.full_resyncs += 1,
                Fact::PartialResyncDone { .. } => s.partial_resyncs += 1,
                Fact::PartialResyncAccepted { backlog_bytes, .. } => {
                    s.partial_bytes_sent += backlog_bytes
                }
                Fact::Flushed { keys, .. } => s.keys_flushed += keys,
                Fact::OutputBufferLimit { .. } => s.output_buffer_disconnects += 1,
                _ => {}
            }
        }
        s.noreplicas_refusals = self
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventType::Fail && e.server() == Some(server))
            .filter(|e| e.error().is_some_and(|t| t.starts_with("NOREPLICAS")))
            .count() as u64;
        s
    }
}

fn keyspace(
    data: &std::collections::BTreeMap<String, String>,
    sets: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Keyspace {
    let mut k = Keyspace::default();
    for (key, value) in data {
        k.apply(&Command::Set(
            Rc::from(key.as_str()),
            Rc::from(value.as_str()),
        ));
    }
    for (key, members) in sets {
        for m in members {
            k.apply(&Command::Sadd(Rc::from(key.as_str()), Rc::from(m.as_str())));
        }
    }
    k
}

/// Checks and summarises a real run exactly as `runner::run_from` does a simulated one.
pub fn report(scenario: &Scenario, source: &Provenance, run: &RealRun) -> RunReport {
    let output = run.to_run_output();
    let finals = run.finals();
    let ops = crate::check::operations::Operations::of(&output.history);
    let evidence = Evidence {
        history: &output.history,
        notes: &output.notes,
        finals: &finals,
    };
    let findings = crate::check::run_all_on(&evidence, &ops);
    let mut summary = summarize(
        scenario,
        source,
        &output,
        &ops,
        &findings,
        run.duration_ns / 1_000_000,
    );
    summary.backend = "real".to_string();
    summary
        .warnings
        .extend(run.warnings.iter().map(|w| crate::check::verdict::Warning {
            kind: crate::check::verdict::WarningKind::Backend,
            message: w.clone(),
        }));
    RunReport {
        summary,
        output,
        lost: findings.lost,
        lost_adds: findings.lost_adds,
        counterexample: findings.counterexample,
    }
}

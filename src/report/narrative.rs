//! The plain-language report of a run (`report.md`): what happened, in order, and why each group
//! of acknowledged writes was lost.

use std::collections::BTreeMap;

use super::summary::Summary;
use crate::check::{LossCause, LostWrite, Status};
use crate::fact::FactNote;

/// Notes worth telling a reader, and how many of each kind to show at most.
const TOLD: &[(&str, usize)] = &[
    ("fault:start", 50),
    ("fault:heal", 50),
    ("phase", 1),
    ("start", 20),
    ("+sdown", 12),
    ("+odown", 6),
    ("+try-failover", 6),
    ("+elected-leader", 6),
    ("+selected-slave", 6),
    ("-failover-abort-not-elected", 6),
    ("-failover-abort-no-good-slave", 6),
    ("role:promoted", 10),
    ("+switch-master", 10),
    ("+convert-to-slave", 10),
    ("+fix-slave-config", 10),
    ("role:demoted", 10),
    ("role:replicaof", 10),
    ("repl:full-resync-needed", 12),
    ("repl:flush", 12),
    ("repl:partial-resync-done", 12),
    ("repl:timeout", 8),
    ("repl:replica-timeout", 8),
    ("repl:obuf-limit", 8),
    ("+tilt", 6),
    ("-tilt", 6),
    ("cluster:fail", 12),
    ("cluster:election-started", 10),
    ("cluster:promoted", 10),
    ("cluster:became-replica", 10),
    ("cluster:manual-failover", 6),
    ("operator:remove-server", 10),
    ("operator:add-server", 10),
    ("+reset-master", 6),
    ("disk:aof-write-error", 6),
    ("disk:aof-write-recovered", 6),
    ("disk:aof-write-fatal", 6),
    ("disk:fsync-too-slow", 6),
    ("disk:bgsave-error", 6),
    ("disk:replica-panic", 6),
    ("disk:sync-write-error", 6),
    ("server:exit", 6),
    ("cluster:replica-migration", 6),
    ("cluster:config-epoch-without-consensus", 6),
];

fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Why a group of writes was lost, from the kind of event that doomed them.
fn explanation(cause: LossCause, server: &str) -> String {
    match cause {
        LossCause::Promotion => format!(
            "They had been acknowledged by {server} but had not reached the replica that was \
             promoted; the new primary's history does not contain them (\"last failover wins\")."
        ),
        LossCause::FullResync => format!(
            "{server} was turned into a replica after its history had diverged from the new \
             primary's, so it took a full resync: its own data, these writes included, was flushed \
             and replaced by the primary's snapshot."
        ),
        LossCause::Restart => format!(
            "{server} restarted and reloaded only what its disk held; these writes had not been \
             persisted (or fsynced, after a power loss) before it went down."
        ),
        LossCause::Unexplained => "No single event in the trace explains them.".to_string(),
    }
}

/// Groups lost writes by (server, dooming event) and explains each group.
pub(super) fn loss_groups(lost: &[LostWrite]) -> Vec<String> {
    let mut groups: BTreeMap<
        (crate::history::Text, crate::history::Text, LossCause),
        Vec<&LostWrite>,
    > = BTreeMap::new();
    for l in lost {
        groups
            .entry((l.server.clone(), l.doomed_by.clone(), l.cause))
            .or_default()
            .push(l);
    }
    let mut out: Vec<(u64, String)> = groups
        .into_iter()
        .map(|((server, doomed_by, cause), ws)| {
            let first = ws.iter().map(|w| w.ack_ms).min().unwrap_or(0);
            let last = ws.iter().map(|w| w.ack_ms).max().unwrap_or(0);
            let when = ws[0]
                .doomed_ms
                .map_or(String::new(), |d| format!(" at {}", seconds(d)));
            let text = format!(
                "- **{} writes** acknowledged by **{server}** between {} and {} were lost{when}: \
                 {doomed_by}. {} Example: `{} {} {}` acknowledged at {}.",
                ws.len(),
                seconds(first),
                seconds(last),
                explanation(cause, &server),
                ws[0].f.to_uppercase(),
                ws[0].key,
                ws[0].value,
                seconds(ws[0].ack_ms)
            );
            (first, text)
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, t)| t).collect()
}

/// A Redis Cluster run's shards and elections (both empty outside a cluster).
pub struct ClusterStory<'a> {
    /// Server names, by row.
    pub servers: &'a [String],
    /// The shards with the slots they serve at the end.
    pub shards: &'a [super::timeline_data::ShardRows],
    /// Every replica election.
    pub elections: &'a [super::timeline_data::ElectionSpan],
}

/// Renders `report.md`.
pub fn markdown(
    summary: &Summary,
    description: &str,
    notes: &[FactNote],
    lost: &[LostWrite],
    counterexample: Option<&str>,
    cluster: &ClusterStory<'_>,
) -> String {
    let mut s = format!("# {} (seed {})\n\n", summary.scenario, summary.seed);
    if !description.is_empty() {
        s.push_str(&format!("{description}\n\n"));
    }
    s.push_str(&format!(
        "Verdict: **{}**. Trace hash `{}`; {} simulated seconds, {} events. Replay with \
         `{}` (scenario hash `{}`).\n\n",
        summary.verdict,
        summary.trace_hash,
        summary.sim_time_ms / 1000,
        summary.events,
        summary.replay_command(),
        summary.scenario_hash
    ));
    s.push_str(&format!(
        "Clients invoked {} operations: {} succeeded, {} failed, {} are indeterminate (timed out or \
         cut off: they may or may not have happened).\n\n",
        summary.ops.invoked, summary.ops.ok, summary.ops.failed, summary.ops.indeterminate
    ));
    for w in &summary.warnings {
        s.push_str(&format!("**Warning:** {}.\n\n", w.message));
    }
    what_happened(&mut s, summary, notes);
    shards_and_elections(&mut s, cluster);
    lost_writes(&mut s, summary, lost);
    checks(&mut s, summary, counterexample);
    s.push_str(
        "\n## Plots\n\n![roles and faults](timeline.svg)\n\n![replication lag](lag.svg)\n\n\
         ![throughput](throughput.svg)\n\n![per server](servers.svg)\n",
    );
    s
}

/// The told facts, in order, and the failovers.
fn what_happened(s: &mut String, summary: &Summary, notes: &[FactNote]) {
    s.push_str("## What happened\n\n");
    let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
    for n in notes {
        let kind = n.fact.kind();
        let Some((told, limit)) = TOLD.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        let c = shown.entry(told).or_default();
        *c += 1;
        if *c > *limit {
            continue;
        }
        s.push_str(&format!("- {}: {}\n", n.time, n.fact));
    }
    for f in &summary.failovers {
        s.push_str(&format!(
            "\nFailover from {} to {}: detected {} ms and completed {} ms after the fault began.\n",
            f.from, f.to, f.detected_after_ms, f.completed_after_ms
        ));
    }
}

/// The shards (servers and the slots they serve at the end) and every replica election.
fn shards_and_elections(s: &mut String, c: &ClusterStory<'_>) {
    if c.shards.is_empty() {
        return;
    }
    s.push_str("\n## Shards and elections\n\n");
    for shard in c.shards {
        let members: Vec<&str> = shard.rows.iter().map(|&r| c.servers[r].as_str()).collect();
        s.push_str(&format!(
            "- {} at the end (its servers at the start: {})\n",
            shard.label,
            members.join(", ")
        ));
    }
    let won = c.elections.iter().filter(|e| e.won).count();
    s.push_str(&format!(
        "\n{} replica election{} ({won} won){}\n",
        c.elections.len(),
        if c.elections.len() == 1 { "" } else { "s" },
        if c.elections.is_empty() { "." } else { ":" }
    ));
    for e in c.elections.iter().take(ELECTIONS_SHOWN) {
        s.push_str(&format!(
            "- {:.3} s: {} asks for votes in epoch {}, gets {}, {}\n",
            e.start,
            c.servers[e.row],
            e.epoch,
            e.votes,
            if e.won {
                format!("wins {:.0} ms later", (e.end - e.start) * 1000.0)
            } else {
                "does not win".to_string()
            }
        ));
    }
    if c.elections.len() > ELECTIONS_SHOWN {
        s.push_str(&format!(
            "- … ({} more in trace.jsonl)\n",
            c.elections.len() - ELECTIONS_SHOWN
        ));
    }
}

/// Elections listed in `report.md` at most.
const ELECTIONS_SHOWN: usize = 20;

/// Lost writes per workload, and each group of them explained.
fn lost_writes(s: &mut String, summary: &Summary, lost: &[LostWrite]) {
    s.push_str("\n## Lost writes\n\n");
    if lost.is_empty() {
        s.push_str("No acknowledged write was lost.\n");
    } else {
        if !summary.lost_by_workload.is_empty() {
            let per = super::per_workload(&summary.lost_by_workload, ": ");
            s.push_str(&format!("By workload: {per}.\n\n"));
        }
        for g in loss_groups(lost) {
            s.push_str(&g);
            s.push('\n');
        }
    }
    // The set workload's own judgement, from the clients' final reads alone.
    if !summary.lost_adds_by_workload.is_empty() {
        let per = super::per_workload(&summary.lost_adds_by_workload, ": ");
        s.push_str(&format!(
            "\nSet members acknowledged but in no client's final read (the set check, from the history alone): {per}.\n"
        ));
    }
}

/// The counterexample, the checks and the expectations.
fn checks(s: &mut String, summary: &Summary, counterexample: Option<&str>) {
    if let Some(c) = counterexample {
        s.push_str(&format!(
            "\n## Why the history is not linearizable\n\nEach line is one operation, a bar from its \
             call to its return (`?`: it never returned).\n\n```\n{c}```\n"
        ));
    }
    s.push_str("\n## Checks\n\n| check | status | detail |\n|---|---|---|\n");
    for c in &summary.checks {
        let status = match c.status {
            Status::Pass => "pass",
            Status::Fail => "**fail**",
            Status::Skipped => "skipped",
        };
        s.push_str(&format!(
            "| {} | {status} | {} |\n",
            c.name,
            c.detail.replace('|', "\\|")
        ));
    }
    if !summary.expectations.is_empty() {
        s.push_str(
            "\n## Expectations\n\n| figure | expected | actual | met |\n|---|---|---|---|\n",
        );
        for e in &summary.expectations {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                e.name,
                e.expected,
                e.actual,
                if e.met { "yes" } else { "**no**" }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost(server: &str, doom: &str, cause: LossCause, ack: u64) -> LostWrite {
        LostWrite {
            process: 1,
            key: "k".into(),
            f: "set".into(),
            value: "v".into(),
            ack_ms: ack,
            server: server.into(),
            doomed_by: doom.into(),
            doomed_ms: Some(ack + 10),
            cause,
        }
    }

    #[test]
    fn groups_and_explains_losses() {
        let g = loss_groups(&[
            lost(
                "p1",
                "p1 becomes a replica of r2",
                LossCause::FullResync,
                100,
            ),
            lost(
                "p1",
                "p1 becomes a replica of r2",
                LossCause::FullResync,
                300,
            ),
            lost("p1", "r2 is now a primary", LossCause::Promotion, 50),
        ]);
        assert_eq!(g.len(), 2);
        assert!(g[0].contains("**1 writes**") && g[0].contains("not reached the replica"));
        assert!(g[1].contains("**2 writes**") && g[1].contains("full resync"));
        assert!(g[1].contains("between 0.1 s and 0.3 s"));
    }
}

//! The data behind `report.html`'s interactive timeline, computed from the run's facts, metrics
//! and history: role spans per server, fault bands, split-brain intervals, failovers, lost-write
//! acknowledgements and throughput per second. Serialised compactly into the page.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::check::LostWrite;
use crate::cluster::slot::SlotRange;
use crate::fact::{ClusterFact, Fact, FactNote, StartRole};
use crate::history::{EventType, History};
use crate::metrics::{Metrics, ServerSample};

/// A server's state in one span: 0 down or paused, 1 primary, 2 replica in sync, 3 replica out
/// of sync.
fn state(s: &ServerSample) -> u8 {
    match (s.up, s.is_master, s.link_up) {
        (false, _, _) => 0,
        (true, true, _) => 1,
        (true, false, true) => 2,
        (true, false, false) => 3,
    }
}

/// One fault band.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultBand {
    /// The fault's id in the schedule.
    pub id: u32,
    /// `label of targets`.
    pub label: String,
    /// Start (s).
    pub start: f64,
    /// Heal (s), or the run's end.
    pub end: f64,
    /// Whether it never healed.
    pub open: bool,
}

/// Everything the timeline draws.
#[derive(Clone, Debug, Serialize)]
pub struct TimelineData {
    /// Simulated seconds covered.
    pub end_s: f64,
    /// When the quiet phase began (s).
    pub quiet_s: f64,
    /// Server names, one row each.
    pub servers: Vec<String>,
    /// Per server, `[start_s, end_s, state]` spans.
    pub roles: Vec<Vec<(f64, f64, u8)>>,
    /// Fault bands.
    pub faults: Vec<FaultBand>,
    /// `[start_s, end_s, primaries]`: two servers of one group primary at once.
    pub split: Vec<(f64, f64, Vec<String>)>,
    /// `[time_s, server]` of every promotion.
    pub failovers: Vec<(f64, String)>,
    /// `[ack_s, server row]` of every lost write (-1: a server without a row).
    pub lost: Vec<(f64, i64)>,
    /// Completions per second: ok, fail, info.
    pub throughput: [Vec<u64>; 3],
    /// Redis Cluster: the shards (rows of the servers that started in each), with the slots
    /// they serve at the end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardRows>,
    /// Redis Cluster: every replica election, on its candidate's row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elections: Vec<ElectionSpan>,
    /// `[time_s, server row, what]` of every operator action on a server (added, removed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operator: Vec<(f64, i64, String)>,
}

/// One shard of a Redis Cluster in the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardRows {
    /// `shard of c1p: slots 0-5460`.
    pub label: String,
    /// The rows of the servers that started in it.
    pub rows: Vec<usize>,
}

/// One replica election: from the vote requests to the promotion, or to the next attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ElectionSpan {
    /// Votes requested (s).
    pub start: f64,
    /// Won, or given up (s).
    pub end: f64,
    /// The candidate's row.
    pub row: usize,
    /// The epoch it ran in.
    pub epoch: u64,
    /// Votes it was granted.
    pub votes: usize,
    /// Whether it won.
    pub won: bool,
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// Role spans from the once-a-second samples, equal neighbours merged.
pub fn role_spans(metrics: &Metrics, end_s: f64) -> Vec<Vec<(f64, f64, u8)>> {
    (0..metrics.servers.len())
        .map(|si| {
            let mut spans: Vec<(f64, f64, u8)> = Vec::new();
            for (ti, t) in metrics.times.iter().enumerate() {
                let x0 = secs(t.as_nanos());
                let x1 = metrics
                    .times
                    .get(ti + 1)
                    .map_or(end_s, |n| secs(n.as_nanos()));
                let st = state(&metrics.samples[ti][si]);
                match spans.last_mut() {
                    Some(last) if last.2 == st => last.1 = x1,
                    _ => spans.push((x0, x1, st)),
                }
            }
            spans
        })
        .collect()
}

/// Fault bands: a start and its heal matched by the fault's id.
pub fn fault_bands(notes: &[FactNote], end_s: f64) -> Vec<FaultBand> {
    let mut bands: Vec<FaultBand> = Vec::new();
    for n in notes {
        let t = secs(n.time.as_nanos());
        match &n.fact {
            Fact::FaultStarted { fault } => bands.push(FaultBand {
                id: fault.id,
                label: fault.to_string(),
                start: t,
                end: end_s,
                open: true,
            }),
            Fact::FaultHealed { fault } => {
                if let Some(b) = bands.iter_mut().find(|b| b.id == fault.id && b.open) {
                    b.end = t;
                    b.open = false;
                }
            }
            _ => {}
        }
    }
    bands
}

/// For each server, the root of the `replicaof` chain it first started in (its group).
fn groups(servers: &[String], notes: &[FactNote]) -> Vec<usize> {
    let index = |name: &str| servers.iter().position(|s| s == name);
    let mut parent: Vec<Option<usize>> = vec![None; servers.len()];
    let mut seen = vec![false; servers.len()];
    for n in notes {
        let Fact::Started { server, role, .. } = &n.fact else {
            continue;
        };
        let Some(i) = index(server) else { continue };
        if !std::mem::replace(&mut seen[i], true)
            && let StartRole::Replica { primary } = role
        {
            parent[i] = index(primary);
        }
    }
    (0..servers.len())
        .map(|mut i| {
            for _ in 0..servers.len() {
                match parent[i] {
                    Some(p) => i = p,
                    None => break,
                }
            }
            i
        })
        .collect()
}

/// How a fact changes the set of primaries: `(server, is_primary)` pairs. A crashed server is
/// no primary (its restart's `Started` fact says what it comes back as); a paused one still is.
fn primary_changes(fact: &Fact) -> Vec<(&str, bool)> {
    match fact {
        Fact::FaultStarted { fault }
            if matches!(fault.kind.as_str(), "crash" | "machine-crash") =>
        {
            fault.targets.iter().map(|t| (t.as_str(), false)).collect()
        }
        f => match (f.primary_role(), f.server()) {
            (Some(p), Some(server)) => vec![(server, p)],
            _ => Vec::new(),
        },
    }
}

/// Intervals in which two running servers of one replication group were primaries at once,
/// from the facts that make a server a primary or stop it being one.
pub fn split_brain(
    servers: &[String],
    notes: &[FactNote],
    end_s: f64,
) -> Vec<(f64, f64, Vec<String>)> {
    let group = groups(servers, notes);
    let mut primaries: BTreeSet<usize> = BTreeSet::new();
    let mut open: Option<(f64, Vec<String>)> = None;
    let mut out = Vec::new();
    for n in notes {
        let changes = primary_changes(&n.fact);
        if changes.is_empty() {
            continue;
        }
        for (server, is_primary) in changes {
            let Some(i) = servers.iter().position(|s| s == server) else {
                continue;
            };
            if is_primary {
                primaries.insert(i);
            } else {
                primaries.remove(&i);
            }
        }
        let twins: Vec<String> = primaries
            .iter()
            .filter(|&&p| primaries.iter().any(|&q| q != p && group[q] == group[p]))
            .map(|&p| servers[p].clone())
            .collect();
        let t = secs(n.time.as_nanos());
        match open.take() {
            None if !twins.is_empty() => open = Some((t, twins)),
            Some((s, who)) if twins.is_empty() => out.push((s, t, who)),
            other => open = other,
        }
    }
    out.extend(open.map(|(s, who)| (s, end_s, who)));
    out
}

/// Slots as `0-5460, 5461` (at most `MAX_RANGES_SHOWN` runs, then `…`).
fn slot_list(slots: &[u16]) -> String {
    const MAX_RANGES_SHOWN: usize = 4;
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &s in slots {
        match runs.last_mut() {
            Some(r) if r.1 + 1 == s => r.1 = s,
            _ => runs.push((s, s)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(MAX_RANGES_SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if runs.len() > MAX_RANGES_SHOWN {
        parts.push("…".into());
    }
    if parts.is_empty() {
        "no slots".into()
    } else {
        format!("slots {}", parts.join(", "))
    }
}

/// The shards of a cluster run: servers grouped by the replication group they started in, each
/// labelled with the slots its running primary serves at the end (its own slot map).
pub fn shard_rows(
    servers: &[String],
    notes: &[FactNote],
    slot_maps: &[Option<Vec<SlotRange>>],
) -> Vec<ShardRows> {
    if slot_maps.iter().all(Option::is_none) {
        return Vec::new();
    }
    let group = groups(servers, notes);
    let mut roots: Vec<usize> = group.clone();
    roots.sort();
    roots.dedup();
    roots
        .into_iter()
        .map(|root| {
            let rows: Vec<usize> = (0..servers.len()).filter(|&i| group[i] == root).collect();
            let mut slots: Vec<u16> = Vec::new();
            for &i in &rows {
                let Some(map) = slot_maps.get(i).and_then(Option::as_ref) else {
                    continue;
                };
                for r in map
                    .iter()
                    .filter(|r| r.owner.as_deref() == Some(&servers[i]))
                {
                    slots.extend(r.first..=r.last);
                }
            }
            slots.sort();
            slots.dedup();
            ShardRows {
                label: format!("shard of {}: {}", servers[root], slot_list(&slots)),
                rows,
            }
        })
        .collect()
}

/// Every replica election from the cluster facts: it starts with the vote requests and ends
/// with the candidate's promotion, its next attempt, or the end of the run.
pub fn elections(servers: &[String], notes: &[FactNote], end_s: f64) -> Vec<ElectionSpan> {
    let mut out: Vec<ElectionSpan> = Vec::new();
    let mut open: std::collections::BTreeMap<&str, usize> = Default::default();
    for n in notes {
        let Fact::Cluster { node, event } = &n.fact else {
            continue;
        };
        let t = secs(n.time.as_nanos());
        match event {
            ClusterFact::ElectionStarted { epoch } => {
                if let Some(i) = open.remove(node.as_str()) {
                    out[i].end = t;
                }
                let Some(row) = servers.iter().position(|s| s == node) else {
                    continue;
                };
                open.insert(node, out.len());
                out.push(ElectionSpan {
                    start: t,
                    end: end_s,
                    row,
                    epoch: *epoch,
                    votes: 0,
                    won: false,
                });
            }
            ClusterFact::VoteGranted { to, epoch } => {
                if let Some(&i) = open.get(to.as_str())
                    && out[i].epoch == *epoch
                {
                    out[i].votes += 1;
                }
            }
            ClusterFact::Promoted { .. } => {
                if let Some(i) = open.remove(node.as_str()) {
                    out[i].end = t;
                    out[i].won = true;
                }
            }
            ClusterFact::BecameReplica { .. } => {
                if let Some(i) = open.remove(node.as_str()) {
                    out[i].end = t;
                }
            }
            _ => {}
        }
    }
    out
}

/// Completions per simulated second, by outcome (ok, fail, info).
pub fn throughput(history: &History, end_s: f64) -> [Vec<u64>; 3] {
    let n = end_s.ceil().max(1.0) as usize;
    let mut out = [vec![0; n], vec![0; n], vec![0; n]];
    for e in &history.events {
        let k = match e.kind {
            EventType::Ok => 0,
            EventType::Fail => 1,
            EventType::Info => 2,
            EventType::Invoke => continue,
        };
        let s = ((e.time_ns / 1_000_000_000) as usize).min(n - 1);
        out[k][s] += 1;
    }
    out
}

/// The timeline's data for one run.
pub fn timeline_data(
    metrics: &Metrics,
    notes: &[FactNote],
    history: &History,
    lost: &[LostWrite],
    slot_maps: &[Option<Vec<SlotRange>>],
    (end_s, quiet_s): (f64, f64),
) -> TimelineData {
    let servers = metrics.servers.clone();
    let row = |name: &str| {
        servers
            .iter()
            .position(|s| s == name)
            .map_or(-1, |i| i as i64)
    };
    TimelineData {
        end_s,
        quiet_s,
        roles: role_spans(metrics, end_s),
        faults: fault_bands(notes, end_s),
        split: split_brain(&servers, notes, end_s),
        failovers: notes
            .iter()
            .filter_map(|n| match &n.fact {
                Fact::Promoted { server, .. } => Some((secs(n.time.as_nanos()), server.clone())),
                _ => None,
            })
            .collect(),
        lost: lost
            .iter()
            .map(|l| (l.ack_ms as f64 / 1e3, row(&l.server)))
            .collect(),
        throughput: throughput(history, end_s),
        shards: shard_rows(&servers, notes, slot_maps),
        elections: elections(&servers, notes, end_s),
        operator: notes
            .iter()
            .filter_map(|n| match &n.fact {
                Fact::ServerAdded { server, .. } | Fact::ServerRemoved { server, .. } => {
                    Some((secs(n.time.as_nanos()), row(server), n.fact.to_string()))
                }
                _ => None,
            })
            .collect(),
        servers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::FaultRef;
    use crate::sim::{Note, SimTime};

    fn at(s: u64, fact: Fact) -> FactNote {
        Note {
            time: SimTime::from_secs(s),
            process: 0,
            fact,
        }
    }

    fn started(server: &str, primary: Option<&str>) -> Fact {
        Fact::Started {
            server: server.into(),
            role: primary.map_or(StartRole::Primary, |p| StartRole::Replica {
                primary: p.into(),
            }),
            keys: 0,
            replid: "r".into(),
            offset: 0,
            data_from: None,
        }
    }

    fn promoted(server: &str) -> Fact {
        Fact::Promoted {
            server: server.into(),
            replid: "n".into(),
            replid2: None,
            offset: 0,
        }
    }

    fn crash(target: &str) -> Fact {
        Fact::FaultStarted {
            fault: FaultRef {
                id: 0,
                label: "crash".into(),
                kind: "crash".into(),
                targets: vec![target.into()],
                operator: false,
            },
        }
    }

    #[test]
    fn split_brain_needs_two_running_primaries_of_one_group() {
        let servers: Vec<String> = ["p1", "r1", "p2"].map(String::from).to_vec();
        let notes = vec![
            at(0, started("p1", None)),
            at(0, started("r1", Some("p1"))),
            // Another group's primary is no split brain.
            at(0, started("p2", None)),
            at(10, promoted("r1")),
            at(20, crash("p1")),
            // p1 restarts as a primary of stale data, then is demoted.
            at(30, started("p1", None)),
            at(
                35,
                Fact::Demoted {
                    server: "p1".into(),
                    primary: "r1".into(),
                    offset: 0,
                },
            ),
        ];
        let split = split_brain(&servers, &notes, 50.0);
        let p1_r1 = vec!["p1".to_string(), "r1".to_string()];
        assert_eq!(
            split,
            vec![(10.0, 20.0, p1_r1.clone()), (30.0, 35.0, p1_r1)]
        );
    }

    #[test]
    fn a_fault_band_ends_at_its_own_heal() {
        let fault = |id: u32| FaultRef {
            id,
            label: "isolate".into(),
            kind: "partition".into(),
            targets: vec!["p1".into()],
            operator: false,
        };
        let notes = vec![
            at(5, Fact::FaultStarted { fault: fault(0) }),
            at(6, Fact::FaultStarted { fault: fault(1) }),
            at(9, Fact::FaultHealed { fault: fault(1) }),
        ];
        let bands = fault_bands(&notes, 20.0);
        assert_eq!((bands[0].id, bands[0].end, bands[0].open), (0, 20.0, true));
        assert_eq!((bands[1].id, bands[1].end, bands[1].open), (1, 9.0, false));
        assert_eq!(bands[1].label, "isolate of p1");
    }
}

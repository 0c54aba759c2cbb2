//! The summary's `cluster` object for a run with a `[cluster]`: each shard (its servers at the
//! start, its slots, its primary at the end) and each election that replaced a shard's primary,
//! with the times of its steps. Computed from the trace's typed cluster facts (never their
//! text), the scenario's shards and the final slot maps; the human summary prints it in short.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cluster::slot::SlotRange;
use crate::fact::{ClusterFact, Fact, FactNote, StartRole};
use crate::history::{EventType, History};
use crate::scenario::ClusterSpec;

/// The cluster of a run: its shards and elections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterSummary {
    /// The shards, in slot order.
    pub shards: Vec<ShardSummary>,
    /// Every failure of a shard's primary that reached FAIL, and every promotion, in order.
    pub elections: Vec<ElectionSummary>,
}

/// One shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ShardSummary {
    /// The shard's number, from 1 in slot order (elections refer to it).
    pub shard: usize,
    /// Its primary at the start.
    pub primary_at_start: String,
    /// Its replicas at the start.
    pub replicas: Vec<String>,
    /// The slots it was given at the start, as `[first, last]` ranges.
    pub slots_at_start: Vec<(u16, u16)>,
    /// Its primary at the end: the primary at the start, followed through every promotion that
    /// replaced it.
    pub primary_at_end: String,
    /// The slots the primary at the end serves in its own slot map at the end (`null` when the
    /// backend does not observe slot maps).
    pub slots_at_end: Option<Vec<(u16, u16)>>,
}

/// One failure of a shard's primary, or one promotion, and its steps (simulated ms since the
/// start; `null` for a step that did not happen).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ElectionSummary {
    /// The shard's number.
    pub shard: usize,
    /// The primary that failed (or that a manual failover replaced).
    pub failed_primary: String,
    /// The first PFAIL of it by any node.
    pub pfail_ms: Option<u64>,
    /// The first FAIL of it by any node.
    pub fail_ms: Option<u64>,
    /// The first vote request of one of its replicas.
    pub election_started_ms: Option<u64>,
    /// How many elections its replicas started.
    pub attempts: u64,
    /// The replica that won.
    pub winner: Option<String>,
    /// When the winner took over the slots.
    pub promoted_ms: Option<u64>,
    /// The winner's configEpoch.
    pub epoch: Option<u64>,
    /// The first write a client had acknowledged by the winner after its promotion.
    pub clients_reached_ms: Option<u64>,
    /// `CLUSTER FAILOVER`'s option when the winner was told to fail over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
}

fn ms(n: &FactNote) -> u64 {
    n.time.as_nanos() / 1_000_000
}

/// `[first, last]` runs of the slots `owner` serves in `map`.
fn owned_ranges(map: &[SlotRange], owner: &str) -> Vec<(u16, u16)> {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for r in map.iter().filter(|r| r.owner.as_deref() == Some(owner)) {
        match runs.last_mut() {
            Some(last) if u32::from(last.1) + 1 == u32::from(r.first) => last.1 = r.last,
            _ => runs.push((r.first, r.last)),
        }
    }
    runs
}

/// The flag one node holds about another.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    Pfail,
    Fail,
}

/// The cluster object: `spec` is the scenario's `[cluster]`, `names` the scenario's server
/// names (the shards' indices), `notes` the trace, `history` the clients' history,
/// `slot_maps` each server's final slot map by name.
pub fn cluster_summary(
    spec: &ClusterSpec,
    names: &[String],
    notes: &[FactNote],
    history: &History,
    slot_maps: &BTreeMap<String, Option<Vec<SlotRange>>>,
) -> ClusterSummary {
    let ranges = crate::cluster::topology::even_split(spec.shards.len());
    // The current primary of each shard.
    let mut current: Vec<String> = spec
        .shards
        .iter()
        .map(|s| names[s.primary].clone())
        .collect();
    // Whom each node replicates.
    let mut primary_of: BTreeMap<String, String> = BTreeMap::new();
    // Per node, who flags it PFAIL or FAIL.
    let mut flags: BTreeMap<String, BTreeMap<String, Flag>> = BTreeMap::new();
    // The open failure of a primary: its entry in `elections`.
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    // Replicas told `CLUSTER FAILOVER`, with its option.
    let mut manual: BTreeMap<String, String> = BTreeMap::new();
    let mut elections: Vec<ElectionSummary> = Vec::new();
    let shard_of = |current: &[String], node: &str| current.iter().position(|p| p == node);
    // Opens the failure of `node` if it is a shard's current primary and none is open.
    let open_for = |node: &str,
                    current: &[String],
                    open: &mut BTreeMap<String, usize>,
                    elections: &mut Vec<ElectionSummary>|
     -> Option<usize> {
        if let Some(&i) = open.get(node) {
            return Some(i);
        }
        let shard = shard_of(current, node)?;
        open.insert(node.to_string(), elections.len());
        elections.push(ElectionSummary {
            shard: shard + 1,
            failed_primary: node.to_string(),
            ..Default::default()
        });
        Some(elections.len() - 1)
    };
    for n in notes {
        let (node, event) = match &n.fact {
            Fact::Started { server, role, .. } => {
                // A restarted node starts without its old opinions of the others.
                for f in flags.values_mut() {
                    f.remove(server);
                }
                match role {
                    StartRole::Replica { primary } => {
                        primary_of.insert(server.clone(), primary.clone());
                    }
                    StartRole::Primary => {
                        primary_of.remove(server);
                    }
                }
                continue;
            }
            Fact::Cluster { node, event } => (node, event),
            _ => continue,
        };
        match event {
            ClusterFact::Pfail { about } => {
                let first = flags.get(about).is_none_or(BTreeMap::is_empty);
                flags
                    .entry(about.clone())
                    .or_default()
                    .insert(node.clone(), Flag::Pfail);
                if first
                    && !open.contains_key(about)
                    && let Some(i) = open_for(about, &current, &mut open, &mut elections)
                {
                    elections[i].pfail_ms = Some(ms(n));
                }
            }
            ClusterFact::Fail { about, .. } => {
                flags
                    .entry(about.clone())
                    .or_default()
                    .insert(node.clone(), Flag::Fail);
                if let Some(i) = open_for(about, &current, &mut open, &mut elections) {
                    elections[i].fail_ms.get_or_insert(ms(n));
                }
            }
            ClusterFact::PfailCleared { about } | ClusterFact::FailCleared { about } => {
                let want = if matches!(event, ClusterFact::PfailCleared { .. }) {
                    Flag::Pfail
                } else {
                    Flag::Fail
                };
                let f = flags.entry(about.clone()).or_default();
                if f.get(node) == Some(&want) {
                    f.remove(node);
                }
                // Nobody suspects it any more: the failure is over (one that never reached FAIL
                // is dropped below).
                if f.is_empty() {
                    open.remove(about);
                }
            }
            ClusterFact::ManualFailover { mode } => {
                manual.insert(node.clone(), mode.clone());
            }
            ClusterFact::ManualFailoverTimedOut => {
                manual.remove(node);
            }
            ClusterFact::ElectionStarted { .. } => {
                let Some(of) = primary_of.get(node).cloned() else {
                    continue;
                };
                if let Some(i) = open_for(&of, &current, &mut open, &mut elections) {
                    let e = &mut elections[i];
                    e.election_started_ms.get_or_insert(ms(n));
                    e.attempts += 1;
                    if let Some(mode) = manual.get(node) {
                        e.manual = Some(mode.clone());
                    }
                }
            }
            ClusterFact::Promoted { replaced, epoch } => {
                if let Some(i) = open_for(replaced, &current, &mut open, &mut elections) {
                    let e = &mut elections[i];
                    e.winner = Some(node.clone());
                    e.promoted_ms = Some(ms(n));
                    e.epoch = Some(*epoch);
                    if let Some(mode) = manual.remove(node) {
                        e.manual = Some(mode);
                    }
                    current[e.shard - 1] = node.clone();
                    open.remove(replaced);
                }
                primary_of.remove(node);
            }
            ClusterFact::BecameReplica { of } => {
                primary_of.insert(node.clone(), of.clone());
            }
            _ => {}
        }
    }
    // A PFAIL that never became FAIL, without an election, is no failure of the shard.
    elections.retain(|e| e.fail_ms.is_some() || e.attempts > 0 || e.winner.is_some());
    // When clients first had a write acknowledged by the winner after its promotion.
    for e in &mut elections {
        let (Some(winner), Some(at)) = (&e.winner, e.promoted_ms) else {
            continue;
        };
        e.clients_reached_ms = history
            .events
            .iter()
            .find(|h| {
                h.kind == EventType::Ok
                    && h.position().is_some()
                    && h.time_ns >= at * 1_000_000
                    && h.server() == Some(winner.as_str())
            })
            .map(|h| h.time_ns / 1_000_000);
    }
    let shards = spec
        .shards
        .iter()
        .zip(ranges)
        .zip(current)
        .enumerate()
        .map(|(i, ((s, range), end))| ShardSummary {
            shard: i + 1,
            primary_at_start: names[s.primary].clone(),
            replicas: s.replicas.iter().map(|&r| names[r].clone()).collect(),
            slots_at_start: vec![(*range.start(), *range.end())],
            slots_at_end: slot_maps
                .get(&end)
                .and_then(Option::as_ref)
                .map(|m| owned_ranges(m, &end)),
            primary_at_end: end,
        })
        .collect();
    ClusterSummary { shards, elections }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn ranges_text(ranges: &[(u16, u16)]) -> String {
    if ranges.is_empty() {
        return "no slots".into();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    format!("slots {}", parts.join(","))
}

impl ClusterSummary {
    /// The human summary's lines: one listing the shards, one per election.
    pub fn human_lines(&self) -> Vec<String> {
        let shards: Vec<String> = self
            .shards
            .iter()
            .map(|s| {
                let mut t = format!("{} {}", s.shard, s.primary_at_start);
                if !s.replicas.is_empty() {
                    t.push_str(&format!("+{}", s.replicas.join("+")));
                }
                t.push_str(&format!(" {}", ranges_text(&s.slots_at_start)));
                let moved = s
                    .slots_at_end
                    .as_ref()
                    .filter(|end| **end != s.slots_at_start);
                match (s.primary_at_end != s.primary_at_start, moved) {
                    (false, None) => {}
                    (true, None) => t.push_str(&format!(" (at the end: {})", s.primary_at_end)),
                    (_, Some(end)) => t.push_str(&format!(
                        " (at the end: {} {})",
                        s.primary_at_end,
                        ranges_text(end)
                    )),
                }
                t
            })
            .collect();
        let mut lines = vec![format!("cluster shards: {}", shards.join("; "))];
        for e in &self.elections {
            let mut t = format!("cluster: shard {}: {}", e.shard, e.failed_primary);
            match (e.fail_ms, &e.manual) {
                (Some(f), _) => t.push_str(&format!(" FAIL at {}", seconds(f))),
                (None, Some(mode)) => {
                    t.push_str(&format!(" replaced by a manual failover ({mode})"))
                }
                (None, None) => t.push_str(" not flagged FAIL"),
            }
            match (&e.winner, e.promoted_ms, e.epoch) {
                (Some(w), Some(at), Some(epoch)) => {
                    t.push_str(&format!(", {w} elected (epoch {epoch}) at {}", seconds(at)));
                    if let Some(c) = e.clients_reached_ms {
                        t.push_str(&format!(", clients reach it at {}", seconds(c)));
                    }
                }
                _ if e.attempts > 0 => t.push_str(&format!(
                    ", {} without a winner",
                    super::plural(e.attempts, "election")
                )),
                _ => t.push_str(", no replica elected"),
            }
            lines.push(t);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{HistoryEvent, Position, Text, Value};
    use crate::scenario::ShardSpec;
    use crate::sim::{Note, SimTime};

    fn at(ms: u64, fact: Fact) -> FactNote {
        Note {
            time: SimTime(ms * 1_000_000),
            process: 0,
            fact,
        }
    }

    fn cl(node: &str, event: ClusterFact) -> Fact {
        Fact::Cluster {
            node: node.into(),
            event,
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

    fn names() -> Vec<String> {
        ["c1p", "c1r1", "c2p", "c2r1"].map(String::from).to_vec()
    }

    fn spec() -> ClusterSpec {
        ClusterSpec {
            config: Default::default(),
            shards: vec![
                ShardSpec {
                    primary: 0,
                    replicas: vec![1],
                },
                ShardSpec {
                    primary: 2,
                    replicas: vec![3],
                },
            ],
        }
    }

    fn write(ms: u64, server: &str) -> HistoryEvent {
        HistoryEvent::new(
            9,
            EventType::Ok,
            "set",
            Text::from("k"),
            Value::default(),
            ms * 1_000_000,
        )
        .with_server(Some(Text::from(server)))
        .with_position(Some(Position {
            replid: Text::from("x"),
            offset: 1,
            unstreamed: 0,
        }))
    }

    #[test]
    fn an_election_is_told_from_pfail_to_the_clients() {
        let pfail = |who: &str, t| {
            at(
                t,
                cl(
                    who,
                    ClusterFact::Pfail {
                        about: "c2p".into(),
                    },
                ),
            )
        };
        let notes = vec![
            at(0, started("c1p", None)),
            at(0, started("c1r1", Some("c1p"))),
            at(0, started("c2p", None)),
            at(0, started("c2r1", Some("c2p"))),
            // A passing PFAIL of c1p that is cleared is no failure.
            at(
                100,
                cl(
                    "c2p",
                    ClusterFact::Pfail {
                        about: "c1p".into(),
                    },
                ),
            ),
            at(
                200,
                cl(
                    "c2p",
                    ClusterFact::PfailCleared {
                        about: "c1p".into(),
                    },
                ),
            ),
            pfail("c2r1", 6100),
            pfail("c1p", 6500),
            at(
                8000,
                cl(
                    "c1p",
                    ClusterFact::Fail {
                        about: "c2p".into(),
                        by_quorum: true,
                    },
                ),
            ),
            at(8600, cl("c2r1", ClusterFact::ElectionStarted { epoch: 3 })),
            at(9000, cl("c2r1", ClusterFact::ElectionStarted { epoch: 4 })),
            at(
                9001,
                cl(
                    "c2r1",
                    ClusterFact::Promoted {
                        replaced: "c2p".into(),
                        epoch: 4,
                    },
                ),
            ),
        ];
        let history = History {
            events: vec![write(8000, "c2p"), write(9500, "c1p"), write(9700, "c2r1")],
        };
        let maps: BTreeMap<String, Option<Vec<SlotRange>>> = [(
            "c2r1".to_string(),
            Some(vec![
                SlotRange {
                    first: 0,
                    last: 8191,
                    owner: Some("c1p".into()),
                },
                SlotRange {
                    first: 8192,
                    last: 16383,
                    owner: Some("c2r1".into()),
                },
            ]),
        )]
        .into();
        let c = cluster_summary(&spec(), &names(), &notes, &history, &maps);
        assert_eq!(c.elections.len(), 1, "{:?}", c.elections);
        let e = &c.elections[0];
        assert_eq!(
            (e.shard, e.failed_primary.as_str(), e.pfail_ms, e.fail_ms),
            (2, "c2p", Some(6100), Some(8000))
        );
        assert_eq!((e.election_started_ms, e.attempts), (Some(8600), 2));
        assert_eq!(
            (e.winner.as_deref(), e.promoted_ms, e.epoch),
            (Some("c2r1"), Some(9001), Some(4))
        );
        assert_eq!(e.clients_reached_ms, Some(9700));
        assert_eq!(c.shards[1].primary_at_end, "c2r1");
        assert_eq!(c.shards[1].slots_at_start, vec![(8192, 16383)]);
        assert_eq!(c.shards[1].slots_at_end, Some(vec![(8192, 16383)]));
        assert_eq!(
            (
                c.shards[0].primary_at_end.as_str(),
                &c.shards[0].slots_at_end
            ),
            ("c1p", &None)
        );
        let lines = c.human_lines();
        assert_eq!(
            lines[0],
            "cluster shards: 1 c1p+c1r1 slots 0-8191; 2 c2p+c2r1 slots 8192-16383 (at the end: c2r1)"
        );
        assert_eq!(
            lines[1],
            "cluster: shard 2: c2p FAIL at 8.0s, c2r1 elected (epoch 4) at 9.0s, clients reach it at 9.7s"
        );
    }
}

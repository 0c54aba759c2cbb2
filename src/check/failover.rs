//! Failovers as the trace's facts show them: every promotion, with the fault that preceded it
//! and the detection of the failed primary (`+sdown` of it by the sentinel that led the
//! failover, or in a Redis Cluster its first PFAIL) after that fault.

use serde::Serialize;

use crate::fact::{ClusterFact, EventSubject, Fact, FactNote, SentinelEventKind, StartRole};

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

/// When the sentinels that failed `from` over detected it: the first `+sdown` of the primary
/// `from` in `[since, at]` (nanoseconds) by a sentinel that was then elected leader of the
/// failover, else by any sentinel, else `at` (a failover without Sentinel, e.g. an operator's).
/// A minority sentinel marking replicas down, or a sentinel marking another sentinel down, is
/// not the detection of the failed primary.
fn first_detection(notes: &[FactNote], from: &str, since: u64, at: u64) -> u64 {
    let window = |n: &&FactNote| (since..=at).contains(&n.time.as_nanos());
    let leaders: Vec<&str> = notes
        .iter()
        .filter(window)
        .filter_map(|n| match &n.fact {
            Fact::Sentinel {
                sentinel,
                event: SentinelEventKind::ElectedLeader,
                ..
            } => Some(sentinel.as_str()),
            _ => None,
        })
        .collect();
    let sdown_of_from = |n: &&FactNote| -> Option<(u64, bool)> {
        match &n.fact {
            Fact::Sentinel {
                sentinel,
                event: SentinelEventKind::Sdown,
                subject:
                    EventSubject::Instance {
                        is_master: true,
                        server,
                    },
            } if server == from => Some((n.time.as_nanos(), leaders.contains(&sentinel.as_str()))),
            // In a Redis Cluster the detection is the first PFAIL of the failed primary.
            Fact::Cluster {
                event: ClusterFact::Pfail { about },
                ..
            } if about == from => Some((n.time.as_nanos(), false)),
            _ => None,
        }
    };
    let marks: Vec<(u64, bool)> = notes
        .iter()
        .filter(window)
        .filter_map(|n| sdown_of_from(&n))
        .collect();
    marks
        .iter()
        .find(|(_, by_leader)| *by_leader)
        .or(marks.first())
        .map_or(at, |(t, _)| *t)
}

/// Every promotion of one of `servers` in `notes`, in order.
pub fn failovers(servers: &[String], notes: &[FactNote]) -> Vec<Failover> {
    let index = |s: &str| servers.iter().position(|n| n == s);
    let mut primary: Option<usize> = None;
    let mut last_fault_ns: Option<u64> = None;
    // In a Redis Cluster each shard has its own primary: the one a replica followed is the one
    // its promotion replaces.
    let mut cluster_primary_of: std::collections::BTreeMap<&str, &str> = Default::default();
    let is_cluster = notes.iter().any(|m| matches!(m.fact, Fact::Cluster { .. }));
    let mut found = Vec::new();
    for n in notes {
        if let Fact::Cluster {
            node,
            event: ClusterFact::BecameReplica { of },
        } = &n.fact
        {
            cluster_primary_of.insert(node, of);
        }
        if let Fact::Started {
            server,
            role: StartRole::Replica { primary: of },
            ..
        } = &n.fact
            && is_cluster
        {
            cluster_primary_of.insert(server, of);
        }
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
            Fact::Promoted { server, .. } => {
                let Some(p) = index(server) else { continue };
                let at = n.time.as_nanos();
                let since = last_fault_ns.unwrap_or(at);
                let from = match cluster_primary_of.get(server.as_str()) {
                    Some(of) => of.to_string(),
                    None => primary.map_or("-".to_string(), |q| servers[q].clone()),
                };
                let detected = first_detection(notes, &from, since, at);
                found.push(Failover {
                    at_ms: at / 1_000_000,
                    from: from.clone(),
                    to: servers[p].clone(),
                    detected_after_ms: (detected - since) / 1_000_000,
                    completed_after_ms: (at - since) / 1_000_000,
                });
                primary = Some(p);
            }
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::{EventSubject, SentinelEventKind as K};
    use crate::sim::SimTime;

    fn at(ms: u64, fact: Fact) -> FactNote {
        FactNote {
            time: SimTime(ms * 1_000_000),
            process: 0,
            fact,
        }
    }

    fn event(sentinel: &str, event: K, subject: EventSubject) -> Fact {
        Fact::Sentinel {
            sentinel: sentinel.into(),
            event,
            subject,
        }
    }

    #[test]
    fn detection_is_the_leaders_sdown_of_the_failed_primary() {
        let instance = |is_master, server: &str| EventSubject::Instance {
            is_master,
            server: server.into(),
        };
        let elected = EventSubject::Epoch {
            master: "m".into(),
            server: "p1".into(),
            epoch: 1,
        };
        let notes = vec![
            at(
                0,
                Fact::FaultStarted {
                    fault: crate::fact::FaultRef {
                        id: 0,
                        label: "isolate".into(),
                        kind: "partition".into(),
                        targets: vec!["p1".into()],
                        operator: false,
                    },
                },
            ),
            // A minority sentinel marks a replica down first: not the detection of p1.
            at(1000, event("s1", K::Sdown, instance(false, "r1"))),
            at(5100, event("s3", K::Sdown, instance(true, "p1"))),
            at(5400, event("s2", K::Sdown, instance(true, "p1"))),
            at(5600, event("s2", K::ElectedLeader, elected)),
            at(
                6000,
                Fact::Promoted {
                    server: "r2".into(),
                    replid: "b".into(),
                    replid2: Some("a".into()),
                    offset: 10,
                },
            ),
        ];
        let servers = vec!["p1".to_string(), "r1".to_string(), "r2".to_string()];
        let mut with_start = vec![at(
            0,
            Fact::Started {
                server: "p1".into(),
                role: StartRole::Primary,
                keys: 0,
                replid: "a".into(),
                offset: 0,
                data_from: None,
            },
        )];
        with_start.extend(notes);
        let f = failovers(&servers, &with_start);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].from, "p1");
        assert_eq!(f[0].detected_after_ms, 5400, "the leader s2's +sdown of p1");
        assert_eq!(f[0].completed_after_ms, 6000);
    }
}

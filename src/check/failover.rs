//! Failovers as the trace's facts show them: every promotion, with the fault that preceded it
//! and the first detection (`+sdown`) after that fault.

use serde::Serialize;

use crate::fact::{ClusterFact, Fact, FactNote, SentinelEventKind, StartRole};

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

/// The first `+sdown` (or, in a Redis Cluster, `cluster:pfail`) in `[since, at]`
/// (nanoseconds), or `at` when there is none.
fn first_detection(notes: &[FactNote], since: u64, at: u64) -> u64 {
    notes
        .iter()
        .find(|d| {
            matches!(
                d.fact,
                Fact::Sentinel {
                    event: SentinelEventKind::Sdown,
                    ..
                } | Fact::Cluster {
                    event: ClusterFact::Pfail { .. },
                    ..
                }
            ) && (since..=at).contains(&d.time.as_nanos())
        })
        .map_or(at, |d| d.time.as_nanos())
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
                let detected = first_detection(notes, since, at);
                found.push(Failover {
                    at_ms: at / 1_000_000,
                    from: match cluster_primary_of.get(server.as_str()) {
                        Some(of) => of.to_string(),
                        None => primary.map_or("-".to_string(), |q| servers[q].clone()),
                    },
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

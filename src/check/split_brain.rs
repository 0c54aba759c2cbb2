//! `single-primary`: finds the time during which two servers both acted as primary and both
//! acknowledged writes (split brain), from the role facts in the trace and the history.

use std::collections::BTreeMap;

use super::{CheckResult, Evidence, Status};
use crate::history::EventType;

/// Per server: the intervals `[from, to)` in which it was a primary, from the trace's notes.
fn primary_intervals(e: &Evidence<'_>, end_ns: u64) -> Vec<Vec<(u64, u64)>> {
    let n = e.finals.len();
    let mut open: Vec<Option<u64>> = vec![None; n];
    let mut out: Vec<Vec<(u64, u64)>> = vec![Vec::new(); n];
    for note in e.notes {
        let Some(p) = note
            .fact
            .server()
            .and_then(|s| e.finals.iter().position(|f| f.name == s))
        else {
            continue;
        };
        let t = note.time.as_nanos();
        let becomes_primary = note.fact.primary_role();
        match becomes_primary {
            Some(true) if open[p].is_none() => open[p] = Some(t),
            Some(false) => {
                if let Some(s) = open[p].take() {
                    out[p].push((s, t));
                }
            }
            Some(true) | None => {}
        }
    }
    for (p, o) in open.into_iter().enumerate() {
        if let Some(s) = o {
            out[p].push((s, end_ns));
        }
    }
    out
}

/// Runs the checker. In a Redis Cluster every shard has its primary and replicas migrate
/// between shards: `single-slot-owner` judges there, slot by slot, and this one is skipped.
pub fn single_primary(e: &Evidence<'_>) -> CheckResult {
    if super::is_cluster(e.finals) {
        return CheckResult {
            name: "single-primary".into(),
            status: Status::Skipped,
            count: 0,
            detail: "a Redis Cluster: see single-slot-owner".into(),
        };
    }
    let end_ns = e
        .history
        .events
        .last()
        .map_or(0, |x| x.time_ns)
        .max(e.notes.last().map_or(0, |n| n.time.as_nanos()));
    let intervals = primary_intervals(e, end_ns);
    let mut writes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for ev in &e.history.events {
        if ev.kind == EventType::Ok
            && !crate::history::is_read(ev.f())
            && let Some(s) = ev.server()
        {
            writes.entry(s).or_default().push(ev.time_ns);
        }
    }
    let mut total_ns = 0u64;
    let mut episodes = Vec::new();
    let groups = super::groups(e.notes, e.finals);
    for a in 0..e.finals.len() {
        for b in a + 1..e.finals.len() {
            if groups[a] != groups[b] {
                continue; // two replication groups may each have a primary
            }
            for &(sa, ea) in &intervals[a] {
                for &(sb, eb) in &intervals[b] {
                    let (from, to) = (sa.max(sb), ea.min(eb));
                    if from >= to {
                        continue;
                    }
                    let in_window = |name: &str| -> Vec<u64> {
                        writes
                            .get(name)
                            .map(|v| {
                                v.iter()
                                    .copied()
                                    .filter(|t| *t >= from && *t < to)
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let wa = in_window(&e.finals[a].name);
                    let wb = in_window(&e.finals[b].name);
                    if wa.is_empty() || wb.is_empty() {
                        continue;
                    }
                    let start = wa[0].max(wb[0]);
                    let stop = wa[wa.len() - 1].min(wb[wb.len() - 1]);
                    let len = stop.saturating_sub(start);
                    total_ns += len;
                    let (na, nb) = (&e.finals[a].name, &e.finals[b].name);
                    let ms = |t: u64| t / 1_000_000;
                    episodes.push(if stop >= start {
                        format!(
                            "{na} and {nb} both acknowledged writes between {} ms and {} ms \
                             ({} and {} writes)",
                            ms(start),
                            ms(stop),
                            wa.len(),
                            wb.len()
                        )
                    } else {
                        // Both were primaries, but their acknowledgements did not interleave:
                        // one stopped before the other began.
                        let (first, fa, second, sb) = if wa[wa.len() - 1] < wb[0] {
                            (na, &wa, nb, &wb)
                        } else {
                            (nb, &wb, na, &wa)
                        };
                        format!(
                            "{first} and {second} were primaries at once: {first} acknowledged \
                             {} writes until {} ms, {second} {} writes from {} ms",
                            fa.len(),
                            ms(fa[fa.len() - 1]),
                            sb.len(),
                            ms(sb[0])
                        )
                    });
                }
            }
        }
    }
    CheckResult {
        name: "single-primary".into(),
        status: if episodes.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        count: total_ns / 1_000_000,
        detail: if episodes.is_empty() {
            "at no time did two primaries both acknowledge writes".into()
        } else {
            format!(
                "split brain for {} ms: {}",
                total_ns / 1_000_000,
                episodes.join("; ")
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::FinalState;
    use super::*;
    use crate::fact::{Fact, FactNote, StartRole};
    use crate::history::{History, HistoryEvent};
    use crate::sim::SimTime;

    fn note(t: u64, p: u32, fact: Fact) -> FactNote {
        FactNote {
            time: SimTime(t),
            process: p,
            fact,
        }
    }

    fn started(server: &str, role: StartRole) -> Fact {
        Fact::Started {
            server: server.into(),
            role,
            keys: 0,
            replid: "0".repeat(40),
            offset: 0,
            data_from: None,
        }
    }

    fn ok_write(server: &str, t: u64) -> HistoryEvent {
        HistoryEvent::new(9, EventType::Ok, "set", "k".into(), "v".into(), t)
            .with_server(Some(server.into()))
    }

    fn finals() -> Vec<FinalState> {
        ["a", "b"]
            .iter()
            .map(|n| FinalState {
                name: n.to_string(),
                is_master: true,
                master: None,
                up: true,
                link_up: true,
                position: None,
                data: Default::default(),
                sets: Default::default(),
                slot_owners: None,
            })
            .collect()
    }

    #[test]
    fn finds_overlapping_primaries_that_both_acked() {
        let notes = vec![
            note(0, 0, started("a", StartRole::Primary)),
            note(
                0,
                1,
                started(
                    "b",
                    StartRole::Replica {
                        primary: "a".into(),
                    },
                ),
            ),
            note(
                100,
                1,
                Fact::Promoted {
                    server: "b".into(),
                    replid: "1".repeat(40),
                    replid2: None,
                    offset: 0,
                },
            ),
            note(
                500,
                0,
                Fact::Demoted {
                    server: "a".into(),
                    primary: "b".into(),
                    offset: 0,
                },
            ),
        ];
        let h = History::merge(vec![
            ok_write("a", 200),
            ok_write("b", 300),
            ok_write("a", 400),
        ]);
        let f = finals();
        let r = single_primary(&Evidence {
            history: &h,
            notes: &notes,
            finals: &f,
        });
        assert_eq!(r.status, Status::Fail, "{}", r.detail);
        let clean = History::merge(vec![ok_write("a", 50), ok_write("b", 600)]);
        let r = single_primary(&Evidence {
            history: &clean,
            notes: &notes,
            finals: &f,
        });
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        // Both primaries at once, but one stopped acknowledging before the other began: the
        // episode says so instead of a window that ends before it starts.
        let apart = History::merge(vec![ok_write("a", 200_000_000), ok_write("b", 300_000_000)]);
        let r = single_primary(&Evidence {
            history: &apart,
            notes: &notes
                .iter()
                .map(|n| FactNote {
                    time: SimTime(n.time.0 * 1_000_000),
                    ..n.clone()
                })
                .collect::<Vec<_>>(),
            finals: &f,
        });
        assert_eq!(r.status, Status::Fail, "{}", r.detail);
        assert!(
            r.detail
                .contains("a acknowledged 1 writes until 200 ms, b 1 writes from 300 ms"),
            "{}",
            r.detail
        );
    }
}

//! `single-slot-owner`: in a Redis Cluster, no hash slot may be served by two primaries that both
//! acknowledged writes for keys of that slot at the same time. A primary's time as primary comes
//! from the role facts in the trace; its acknowledgements from the history (who answered).

use std::collections::BTreeMap;

use super::{CheckResult, Evidence, Status};
use crate::cluster::slot::key_hash_slot;
use crate::fact::Fact;
use crate::history::EventType;

/// Per server name: the intervals `[from, to)` in which it was a primary.
fn primary_intervals<'a>(e: &'a Evidence<'_>, end_ns: u64) -> BTreeMap<&'a str, Vec<(u64, u64)>> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for note in e.notes {
        let (Some(server), Some(primary)) = (note.fact.server(), note.fact.primary_role()) else {
            continue;
        };
        let t = note.time.as_nanos();
        match (primary, open.get(server).copied()) {
            (true, None) => {
                open.insert(server, t);
            }
            (false, Some(from)) => {
                open.remove(server);
                out.entry(server).or_default().push((from, t));
            }
            _ => {}
        }
    }
    for (server, from) in open {
        // Still primary at the end: the interval includes the last moment observed.
        out.entry(server).or_default().push((from, end_ns + 1));
    }
    out
}

/// Per slot, per server: when it acknowledged writes for keys of that slot (ns, ascending).
fn acks_by_slot<'a>(e: &'a Evidence<'_>) -> BTreeMap<u16, BTreeMap<&'a str, Vec<u64>>> {
    let mut out: BTreeMap<u16, BTreeMap<&str, Vec<u64>>> = BTreeMap::new();
    for ev in &e.history.events {
        if ev.kind == EventType::Ok
            && !crate::history::is_read(&ev.f)
            && let Some(server) = &ev.server
        {
            let slot = key_hash_slot(ev.key.as_bytes());
            let times = out
                .entry(slot)
                .or_default()
                .entry(server.as_str())
                .or_default();
            times.push(ev.time_ns);
        }
    }
    out
}

/// Whether `times` has an entry in `[from, to)`.
fn any_in(times: &[u64], (from, to): (u64, u64)) -> bool {
    let i = times.partition_point(|&t| t < from);
    times.get(i).is_some_and(|&t| t < to)
}

/// The overlaps of `a`'s and `b`'s primary intervals in which both acknowledged a write.
fn shared_ns(a: (&[(u64, u64)], &[u64]), b: (&[(u64, u64)], &[u64])) -> u64 {
    let mut total = 0;
    for &(a_from, a_to) in a.0 {
        for &(b_from, b_to) in b.0 {
            let window = (a_from.max(b_from), a_to.min(b_to));
            if window.0 < window.1 && any_in(a.1, window) && any_in(b.1, window) {
                total += window.1 - window.0;
            }
        }
    }
    total
}

/// Runs the checker: `None` outside a Redis Cluster (no cluster facts in the trace), `skipped`
/// when no write was acknowledged.
pub fn single_slot_owner(e: &Evidence<'_>) -> Option<CheckResult> {
    let cluster = e
        .notes
        .iter()
        .any(|n| matches!(n.fact, Fact::Cluster { .. }));
    cluster.then(|| judge_slots(e))
}

fn judge_slots(e: &Evidence<'_>) -> CheckResult {
    let name = "single-slot-owner".to_string();
    let end_ns = e
        .history
        .events
        .last()
        .map_or(0, |x| x.time_ns)
        .max(e.notes.last().map_or(0, |n| n.time.as_nanos()));
    let intervals = primary_intervals(e, end_ns);
    let acks = acks_by_slot(e);
    let none: Vec<(u64, u64)> = Vec::new();
    let mut bad: Vec<(u16, &str, &str, u64)> = Vec::new();
    for (slot, servers) in &acks {
        let list: Vec<(&str, &Vec<u64>)> = servers.iter().map(|(s, t)| (*s, t)).collect();
        for (i, (a, a_times)) in list.iter().enumerate() {
            for (b, b_times) in &list[i + 1..] {
                let ia = intervals.get(a).unwrap_or(&none);
                let ib = intervals.get(b).unwrap_or(&none);
                let ns = shared_ns((ia, a_times), (ib, b_times));
                if ns > 0 {
                    bad.push((*slot, a, b, ns));
                }
            }
        }
    }
    if acks.is_empty() {
        let detail = "no acknowledged writes to judge".into();
        return CheckResult {
            name,
            status: Status::Skipped,
            count: 0,
            detail,
        };
    }
    let detail = match bad.first() {
        None => format!(
            "no slot of {} written had two primaries acknowledging at once",
            acks.len()
        ),
        Some((slot, a, b, ns)) => format!(
            "{} slots had two primaries acknowledging writes at once; first: slot {slot} by {a} and {b} for {} ms",
            bad.len(),
            ns / 1_000_000
        ),
    };
    let status = if bad.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    CheckResult {
        name,
        status,
        count: bad.len() as u64,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fact::{FactNote, StartRole};
    use crate::history::{History, HistoryEvent};
    use crate::sim::SimTime;

    const S: u64 = 1_000_000_000;

    fn started(server: &str, t: u64, primary: bool) -> FactNote {
        let role = if primary {
            StartRole::Primary
        } else {
            StartRole::Replica {
                primary: "a".into(),
            }
        };
        let fact = Fact::Started {
            server: server.into(),
            role,
            keys: 0,
            replid: String::new(),
            offset: 0,
            data_from: None,
        };
        FactNote {
            time: SimTime(t),
            process: 0,
            fact,
        }
    }

    fn promoted(server: &str, t: u64) -> FactNote {
        let fact = Fact::Promoted {
            server: server.into(),
            replid: String::new(),
            replid2: None,
            offset: 0,
        };
        FactNote {
            time: SimTime(t),
            process: 0,
            fact,
        }
    }

    fn ack(server: &str, key: &str, t: u64) -> HistoryEvent {
        HistoryEvent {
            process: 0,
            kind: EventType::Ok,
            f: "set".into(),
            key: key.into(),
            value: crate::history::Value::Null,
            time_ns: t,
            server: Some(server.into()),
            error: None,
            position: None,
        }
    }

    fn judge(notes: &[FactNote], events: Vec<HistoryEvent>) -> CheckResult {
        let history = History::merge(events);
        let mut notes = notes.to_vec();
        let event = crate::fact::ClusterFact::State { ok: true };
        let fact = Fact::Cluster {
            node: "a".into(),
            event,
        };
        notes.push(FactNote {
            time: SimTime(0),
            process: 0,
            fact,
        });
        let notes = &notes[..];
        single_slot_owner(&Evidence {
            history: &history,
            notes,
            finals: &[],
        })
        .expect("a cluster trace")
    }

    #[test]
    fn two_primaries_acknowledging_one_slot_at_once_fail() {
        let notes = [
            started("a", 0, true),
            started("b", 0, false),
            promoted("b", 10 * S),
        ];
        // {x}1 and {x}2 share a slot: a keeps acknowledging after b took over.
        let r = judge(
            &notes,
            vec![ack("a", "{x}1", 11 * S), ack("b", "{x}2", 12 * S)],
        );
        assert_eq!(r.status, Status::Fail, "{}", r.detail);
        assert_eq!(r.count, 1);
    }

    #[test]
    fn a_clean_handover_and_different_slots_pass() {
        let notes = [
            started("a", 0, true),
            started("b", 0, false),
            promoted("b", 10 * S),
        ];
        // a's last ack came before b was promoted: the overlap holds no ack of a.
        let r = judge(
            &notes,
            vec![ack("a", "{x}1", 9 * S), ack("b", "{x}2", 12 * S)],
        );
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        // Two primaries at once, but on keys of different slots: not this checker's concern.
        assert_ne!(key_hash_slot(b"{x}1"), key_hash_slot(b"{y}1"));
        let r = judge(
            &notes,
            vec![ack("a", "{x}1", 11 * S), ack("b", "{y}1", 12 * S)],
        );
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        assert_eq!(judge(&notes, vec![]).status, Status::Skipped);
        let history = History::merge(vec![ack("a", "{x}1", 11 * S)]);
        let plain = single_slot_owner(&Evidence {
            history: &history,
            notes: &notes,
            finals: &[],
        });
        assert_eq!(plain, None, "no cluster facts: not judged");
    }
}

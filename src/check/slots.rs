//! `single-slot-owner`: in a Redis Cluster, no hash slot may be served by two primaries that both
//! acknowledged writes for keys of that slot at the same time. A primary's time as primary comes
//! from the role facts in the trace; its acknowledgements from the history (who answered).
//!
//! `slot-owners-at-end`: once the run is over (after the quiet phase), every slot is served by
//! exactly one running primary, and every running node's view agrees on who that is (the final
//! states' slot maps). The first can fail during faults in a correct Redis Cluster (a paused or
//! restarted primary serves a few writes before it learns it was replaced); the second may not.

use std::collections::BTreeMap;

use super::{CheckResult, Evidence, FinalState, SlotRange, Status};
use crate::cluster::slot::CLUSTER_SLOTS;
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

/// Slots an operator resharded (`CLUSTER SETSLOT` in the trace): while one migrates, its source
/// serves the keys it still holds and its target the others, both as primaries, by design.
fn resharded_slots(e: &Evidence<'_>) -> std::collections::BTreeSet<u16> {
    e.notes
        .iter()
        .filter_map(|n| match &n.fact {
            Fact::Cluster {
                event: crate::fact::ClusterFact::SetSlot { slot, .. },
                ..
            } => Some(*slot),
            _ => None,
        })
        .collect()
}

/// Per slot, per server: when it acknowledged writes for keys of that slot (ns, ascending).
fn acks_by_slot<'a>(e: &'a Evidence<'_>) -> BTreeMap<u16, BTreeMap<&'a str, Vec<u64>>> {
    let resharded = resharded_slots(e);
    let mut out: BTreeMap<u16, BTreeMap<&str, Vec<u64>>> = BTreeMap::new();
    for ev in &e.history.events {
        if ev.kind == EventType::Ok
            && !crate::history::is_read(ev.f())
            && let Some(server) = ev.server()
        {
            let slot = key_hash_slot(ev.key.as_bytes());
            if resharded.contains(&slot) {
                continue;
            }
            let times = out.entry(slot).or_default().entry(server).or_default();
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

/// Consecutive slots as `a-b` (or `a`).
fn slot_span(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// What is wrong with the slot maps at the end: slots two running primaries serve (each in
/// its own view), slots no running primary serves, and running nodes whose views disagree.
/// Empty when no final state carries a slot map.
pub(super) fn judge_end(finals: &[FinalState]) -> Vec<String> {
    let views: Vec<(&str, &Vec<SlotRange>)> = finals
        .iter()
        .filter(|f| f.up)
        .filter_map(|f| Some((f.name.as_str(), f.slot_owners.as_ref()?)))
        .collect();
    if views.is_empty() {
        return Vec::new();
    }
    let mut servers: Vec<Vec<&str>> = vec![Vec::new(); usize::from(CLUSTER_SLOTS)];
    for f in finals.iter().filter(|f| f.up && f.is_master) {
        let Some(ranges) = &f.slot_owners else {
            continue;
        };
        for r in ranges
            .iter()
            .filter(|r| r.owner.as_deref() == Some(&f.name))
        {
            for slot in r.first..=r.last {
                servers[usize::from(slot)].push(f.name.as_str());
            }
        }
    }
    let mut problems = Vec::new();
    let mut slot = 0usize;
    while slot < servers.len() {
        let mut last = slot;
        while last + 1 < servers.len() && servers[last + 1] == servers[slot] {
            last += 1;
        }
        let span = slot_span(slot as u16, last as u16);
        match servers[slot].as_slice() {
            [_] => {}
            [] => problems.push(format!("at the end no running primary serves slots {span}")),
            many => problems.push(format!(
                "at the end slots {span} are served by {} primaries: {}",
                many.len(),
                many.join(", ")
            )),
        }
        slot = last + 1;
    }
    // The map most running nodes hold is the reference; each node holding another is named once.
    let mut maps: Vec<(&Vec<SlotRange>, Vec<&str>)> = Vec::new();
    for (name, view) in &views {
        match maps.iter_mut().find(|(v, _)| v == view) {
            Some((_, names)) => names.push(name),
            None => maps.push((view, vec![name])),
        }
    }
    let reference = maps
        .iter()
        .max_by_key(|(_, names)| names.len())
        .map(|(v, _)| *v)
        .expect("at least one view");
    for (view, names) in &maps {
        if *view == reference {
            continue;
        }
        if let Some((slot, theirs, ours)) = first_difference(view, reference) {
            let who = |o: Option<&str>| o.unwrap_or("nobody").to_string();
            problems.push(format!(
                "at the end {} {} slot {slot} to {} where the other nodes give it to {}",
                names.join(", "),
                if names.len() == 1 { "gives" } else { "give" },
                who(theirs),
                who(ours)
            ));
        }
    }
    problems
}

/// The first slot two views give to different owners, with both owners.
fn first_difference<'a>(
    a: &'a [SlotRange],
    b: &'a [SlotRange],
) -> Option<(u16, Option<&'a str>, Option<&'a str>)> {
    let owner = |v: &'a [SlotRange], slot: u16| {
        v.iter()
            .find(|r| r.first <= slot && slot <= r.last)
            .and_then(|r| r.owner.as_deref())
    };
    (0..CLUSTER_SLOTS)
        .map(|slot| (slot, owner(a, slot), owner(b, slot)))
        .find(|(_, x, y)| x != y)
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
    let moved = resharded_slots(e).len();
    let aside = if moved == 0 {
        String::new()
    } else {
        format!(" ({moved} resharded slots left to the per-key checks)")
    };
    let detail = match bad.first() {
        None => format!(
            "no slot of {} written had two primaries acknowledging at once{aside}",
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

/// Runs `slot-owners-at-end`: `None` when no final state carries a slot map (outside a Redis
/// Cluster, or a backend that does not report them).
pub fn slot_owners_at_end(finals: &[FinalState]) -> Option<CheckResult> {
    if !finals.iter().any(|f| f.up && f.slot_owners.is_some()) {
        return None;
    }
    let problems = judge_end(finals);
    let (status, detail) = if problems.is_empty() {
        (
            Status::Pass,
            "every slot is served by exactly one running primary, and every running node's slot \
             map agrees"
                .to_string(),
        )
    } else {
        (Status::Fail, problems.join("; "))
    };
    Some(CheckResult {
        name: "slot-owners-at-end".into(),
        status,
        count: problems.len() as u64,
        detail,
    })
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
        HistoryEvent::new(
            0,
            EventType::Ok,
            "set",
            key.into(),
            crate::history::Value::Null,
            t,
        )
        .with_server(Some(server.into()))
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

    fn final_state(name: &str, primary: bool, owners: &[(u16, u16, &str)]) -> FinalState {
        FinalState {
            name: name.into(),
            is_master: primary,
            master: (!primary).then(|| "a".into()),
            up: true,
            link_up: true,
            position: None,
            data: Default::default(),
            sets: Default::default(),
            slot_owners: Some(
                owners
                    .iter()
                    .map(|&(first, last, owner)| SlotRange {
                        first,
                        last,
                        owner: Some(owner.into()),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn at_the_end_each_slot_has_one_primary_and_one_map() {
        let map = [(0, 8191, "a"), (8192, 16383, "b")];
        let finals = [
            final_state("a", true, &map),
            final_state("b", true, &map),
            final_state("r", false, &map),
        ];
        let r = slot_owners_at_end(&finals).expect("slot maps");
        assert_eq!(r.status, Status::Pass, "{}", r.detail);
        // The old primary `c` came back still claiming a's slots; `a` and `b` know better.
        let stale = [(0, 8191, "c"), (8192, 16383, "b")];
        let mut two = finals.to_vec();
        two.push(final_state("c", true, &stale));
        let r = slot_owners_at_end(&two).expect("slot maps");
        assert_eq!(r.status, Status::Fail);
        assert!(
            r.detail
                .contains("at the end slots 0-8191 are served by 2 primaries: a, c"),
            "{}",
            r.detail
        );
        assert!(
            r.detail
                .contains("at the end c gives slot 0 to c where the other nodes give it to a"),
            "{}",
            r.detail
        );
        // Nobody serves b's slots: b is down.
        let mut gone = finals.to_vec();
        gone[1].up = false;
        let r = slot_owners_at_end(&gone).expect("slot maps");
        assert!(
            r.detail
                .contains("no running primary serves slots 8192-16383"),
            "{}",
            r.detail
        );
        // Outside a cluster: not judged.
        let mut plain = finals.to_vec();
        for f in &mut plain {
            f.slot_owners = None;
        }
        assert_eq!(slot_owners_at_end(&plain), None);
    }
}

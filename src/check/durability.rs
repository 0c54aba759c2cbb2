//! `acked-writes-durable`: every acknowledged write survives. A write whose history records where
//! it landed (its replication position) is judged by lineage: it is lost exactly when the final
//! primary's history does not descend from that position (see `lineage`), so a write discarded by
//! a failover stays lost however long the run goes on and whatever later overwrites its key. A
//! write without a position (a history recorded elsewhere, a write the planted bug kept out of the
//! stream) is judged by the final value: it is lost when it is not in the final state and no
//! write the client could not have ordered before it superseded it. Each lost write is reported
//! with the server that acknowledged it and the event that doomed it.

use serde::Serialize;

use super::lineage::{Ancestry, Cut, Origin};
use super::operations::Operations;
use super::{CheckResult, Evidence, Status, final_primary, final_primary_in, groups};
use crate::cluster::slot::key_hash_slot;
use crate::fact::{Fact, FactNote};
use crate::history::{EventType, Operation, Text, Value};

/// A write that was acknowledged and is not in the final state. Its texts are shared (`Text`):
/// a cut can lose tens of thousands of writes, which name a few keys, commands, servers and
/// causes between them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LostWrite {
    /// The client process that wrote it.
    pub process: u32,
    /// The key.
    pub key: Text,
    /// The command (`set`, `incr`, `append`, `sadd`).
    pub f: Text,
    /// The value written (or the counter value acknowledged).
    pub value: Text,
    /// When the client saw the acknowledgement (ms).
    pub ack_ms: u64,
    /// The server that acknowledged it.
    pub server: Text,
    /// The event that most likely discarded it, in words.
    pub doomed_by: Text,
    /// What kind of event that was.
    pub cause: LossCause,
    /// When that event happened (ms), if one was found.
    pub doomed_ms: Option<u64>,
}

/// What discarded a lost write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossCause {
    /// Another server was promoted while the acknowledging one was cut off.
    Promotion,
    /// The acknowledging server was demoted or flushed its data for a full resync.
    FullResync,
    /// The acknowledging server restarted with less than it had acknowledged.
    Restart,
    /// No event in the trace explains it.
    Unexplained,
}

/// Runs the checker and returns the lost writes as well.
pub fn acked_writes_durable(e: &Evidence<'_>) -> (CheckResult, Vec<LostWrite>) {
    acked_writes_durable_in(e, &Operations::of(e.history))
}

/// [`acked_writes_durable`] over the history's operations, already paired.
pub fn acked_writes_durable_in(
    e: &Evidence<'_>,
    ops: &Operations<'_>,
) -> (CheckResult, Vec<LostWrite>) {
    match Durability::new(e) {
        Ok(mut d) => {
            ops.each_key(|key, key_ops| d.key(key, key_ops));
            d.verdict()
        }
        Err(skipped) => skipped,
    }
}

/// The check folded over the keys, one key at a time ([`Operations::each_key`]).
pub struct Durability<'e> {
    e: &'e Evidence<'e>,
    groups: Vec<usize>,
    ancestry: Ancestry,
    owners: Option<Vec<Option<usize>>>,
    lost: Vec<LostWrite>,
    acked: u64,
    judged_by: Vec<&'e str>,
    /// The texts the lost writes share.
    names: Names,
}

const NAME: &str = "acked-writes-durable";

impl<'e> Durability<'e> {
    /// The check over `e`, or its verdict at once when there is no final state to judge
    /// against (no primary running at the end).
    pub fn new(e: &'e Evidence<'e>) -> Result<Self, (CheckResult, Vec<LostWrite>)> {
        if final_primary(e.finals).is_none() {
            let r = CheckResult {
                name: NAME.to_string(),
                status: Status::Skipped,
                count: 0,
                detail: "no primary was running at the end, so there is no final state to check"
                    .into(),
            };
            return Err((r, Vec::new()));
        }
        Ok(Durability {
            e,
            groups: groups(e.notes, e.finals),
            ancestry: Ancestry::from_facts(e.notes),
            owners: final_slot_owners(e.finals),
            lost: Vec::new(),
            acked: 0,
            judged_by: Vec::new(),
            names: Names::default(),
        })
    }

    /// Judges one key's acknowledged writes (keys in key order).
    pub fn key(&mut self, key: &str, key_ops: &[Operation<'_>]) {
        let (e, groups) = (self.e, &self.groups);
        // The key lives in the replication group of the servers that answered for it, those
        // that executed it first (in a Redis Cluster, a node that only refused it with -MOVED
        // or -CLUSTERDOWN may belong to another shard).
        // In a Redis Cluster the key's final state is on the running primary serving its slot
        // at the end (resharding and replica migration move keys and servers between shards).
        let owner = self
            .owners
            .as_ref()
            .and_then(|o| o[usize::from(key_hash_slot(key.as_bytes()))]);
        let group = key_ops
            .iter()
            .filter(|o| o.outcome == EventType::Ok)
            .chain(key_ops.iter())
            .filter_map(|o| o.server)
            .find_map(|s| e.finals.iter().position(|f| f.name == s))
            .map_or(0, |i| groups[i]);
        let primary = match owner {
            Some(i) => &e.finals[i],
            None => match final_primary_in(e.finals, groups, group) {
                Some(p) => p,
                None => return,
            },
        };
        let primary_group = owner.map_or(group, |i| groups[i]);
        if !self.judged_by.contains(&primary.name.as_str()) {
            self.judged_by.push(&primary.name);
        }
        let final_value = primary.data.get(key).map(String::as_str);
        let final_written_until = final_writer_completion(key_ops, final_value);
        for op in key_ops.iter().filter(|o| o.outcome == EventType::Ok) {
            if !matches!(op.f, "set" | "incr" | "append" | "sadd") {
                continue;
            }
            self.acked += 1;
            // A write acknowledged in another replication group (before its slot was resharded
            // away) has no place in the final primary's history: judged by the final value.
            let elsewhere = op
                .server
                .and_then(|s| e.finals.iter().position(|f| f.name == s))
                .is_some_and(|i| groups[i] != primary_group);
            if let (Some(at), Some(tip), false) = (&op.position, &primary.position, elsewhere) {
                if let Some(cut) = self.ancestry.cut(tip, at) {
                    self.lost
                        .push(lost_by_lineage(e, op, &cut, &mut self.names));
                }
                continue;
            }
            let verdict = match op.f {
                "set" => register_lost(op, final_written_until, final_value),
                "incr" => counter_lost(op, final_value),
                "sadd" => member_lost(op, primary.sets.get(key)),
                _ => append_lost(op, final_value),
            };
            if let Some(value) = verdict {
                self.lost.push(lost_write(e, op, value, &mut self.names));
            }
        }
    }

    /// The verdict and the lost writes, in acknowledgement order.
    pub fn verdict(self) -> (CheckResult, Vec<LostWrite>) {
        let acked = self.acked;
        // Sorted by acknowledgement then key, ties in the order found (a stable sort of their
        // positions: a lost write is too large to move around while sorting).
        let mut order: Vec<usize> = (0..self.lost.len()).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (&self.lost[a], &self.lost[b]);
            (x.ack_ms, &x.key).cmp(&(y.ack_ms, &y.key))
        });
        let mut found: Vec<Option<LostWrite>> = self.lost.into_iter().map(Some).collect();
        let lost: Vec<LostWrite> = order
            .into_iter()
            .map(|i| found[i].take().expect("each lost write once"))
            .collect();
        let status = if lost.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        let primaries = self.judged_by.join(" and ");
        let detail = if lost.is_empty() {
            format!("all {acked} acknowledged writes are in {primaries}'s final data")
        } else {
            let first = &lost[0];
            format!(
                "{} of {acked} acknowledged writes are missing from {primaries}'s final data; first: {} {}={} acknowledged by {} at {} ms, lost to {}",
                lost.len(),
                first.f,
                first.key,
                first.value,
                first.server,
                first.ack_ms,
                first.doomed_by
            )
        };
        let r = CheckResult {
            name: NAME.to_string(),
            status,
            count: lost.len() as u64,
            detail,
        };
        (r, lost)
    }
}

/// In a Redis Cluster (final states with slot maps), the running primary that serves each slot
/// in its own view at the end, by index into `finals`.
fn final_slot_owners(finals: &[super::FinalState]) -> Option<Vec<Option<usize>>> {
    if !super::is_cluster(finals) {
        return None;
    }
    let mut owners = vec![None; usize::from(crate::cluster::slot::CLUSTER_SLOTS)];
    for (i, f) in finals
        .iter()
        .enumerate()
        .filter(|(_, f)| f.up && f.is_master)
    {
        for r in f.slot_owners.iter().flatten() {
            if r.owner.as_deref() == Some(f.name.as_str()) {
                for slot in r.first..=r.last {
                    owners[usize::from(slot)].get_or_insert(i);
                }
            }
        }
    }
    Some(owners)
}

fn text(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A string value's shared text.
fn shared(v: &Value) -> Option<Text> {
    match v {
        Value::Str(t) => Some(t.clone()),
        _ => None,
    }
}

/// A SET is lost when the final value was written by an operation that completed before the SET
/// was invoked (so the SET should have overwritten it), or the key is gone with no DEL that could
/// come after the SET.
fn register_lost(
    op: &Operation<'_>,
    final_written_until: u64,
    final_value: Option<&str>,
) -> Option<Text> {
    let mine = text(op.input)?;
    if final_value == Some(mine) {
        return None;
    }
    let superseded = final_written_until > op.invoke_ns;
    if superseded { None } else { shared(op.input) }
}

/// The latest completion among the operations that could have written the key's final state
/// (a SET of the final value, or a DEL when the key is gone); 0 when none could.
fn final_writer_completion(key_ops: &[Operation<'_>], final_value: Option<&str>) -> u64 {
    key_ops
        .iter()
        .filter(|o| o.outcome != EventType::Fail)
        .filter(|o| match o.f {
            "set" => final_value.is_some() && text(o.input) == final_value,
            "del" => final_value.is_none(),
            _ => false,
        })
        .map(|o| o.complete_ns)
        .max()
        .unwrap_or(0)
}

/// An INCR acknowledged with result r is lost when the final counter is below r.
fn counter_lost(op: &Operation<'_>, final_value: Option<&str>) -> Option<Text> {
    let r = op.output?.as_i64()?;
    let n: i64 = final_value.and_then(|v| v.parse().ok()).unwrap_or(0);
    (n < r).then(|| Text::from(r.to_string()))
}

/// An APPEND is lost when its unique token is not in the final string.
fn append_lost(op: &Operation<'_>, final_value: Option<&str>) -> Option<Text> {
    let token = text(op.input)?;
    if final_value.unwrap_or("").contains(token) {
        None
    } else {
        shared(op.input)
    }
}

/// An SADD is lost when its unique member is not in the final set.
fn member_lost(
    op: &Operation<'_>,
    final_set: Option<&std::collections::BTreeSet<String>>,
) -> Option<Text> {
    let member = text(op.input)?;
    if final_set.is_some_and(|s| s.contains(member)) {
        None
    } else {
        shared(op.input)
    }
}

/// What a lost write wrote: the value of a SET or APPEND, the counter an INCR acknowledged.
fn written(op: &Operation<'_>) -> Text {
    let v = match op.f {
        "incr" => op.output,
        _ => Some(op.input),
    };
    match v {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Null) | None => Text::default(),
        Some(other) => Text::from(other.to_string()),
    }
}

/// The texts lost writes repeat (their key, command, server and what doomed them), made once
/// and shared.
#[derive(Default)]
struct Names {
    /// The key of the last lost write.
    key: Option<Text>,
    /// Commands, servers and the words for no cause, named so far (a handful).
    seen: Vec<Text>,
    /// The words for the branch that last doomed a write (by the branch's address in the
    /// ancestry): a cut dooms many writes, and its text is made once.
    last_doom: Option<(usize, Text, LossCause)>,
}

impl Names {
    fn key(&mut self, key: &str) -> Text {
        match &self.key {
            Some(k) if k.as_str() == key => k.clone(),
            _ => self.key.insert(Text::from(key)).clone(),
        }
    }

    fn name(&mut self, name: &str) -> Text {
        if let Some(t) = self.seen.iter().find(|t| t.as_str() == name) {
            return t.clone();
        }
        let t = Text::from(name);
        self.seen.push(t.clone());
        t
    }
}

/// A write its history's lineage left behind, and the branch (or abandonment) that did it.
fn lost_by_lineage(
    e: &Evidence<'_>,
    op: &Operation<'_>,
    cut: &Cut<'_>,
    names: &mut Names,
) -> LostWrite {
    let Cut::Branched(b) = cut else {
        return lost_write(e, op, written(op), names);
    };
    let at = std::ptr::from_ref(*b) as usize;
    if let Some((_, doomed_by, cause)) = names.last_doom.as_ref().filter(|d| d.0 == at) {
        let why = (doomed_by.clone(), Some(b.time_ns / 1_000_000), *cause);
        return lost(op, written(op), why, names);
    }
    let replid = b.parent.replid.get(..8).unwrap_or(&b.parent.replid);
    let (doomed_by, cause) = match b.origin {
        Origin::Promotion => (
            format!(
                "{} was promoted holding history {replid} only up to offset {}",
                b.server, b.parent.offset
            ),
            LossCause::Promotion,
        ),
        Origin::Restart | Origin::NewId if b.parent.unstreamed > 0 => (
            format!(
                "{} restarted with files reaching only its write {} after offset {} of history {replid} (a primary without replicas does not advance its offset)",
                b.server, b.parent.unstreamed, b.parent.offset
            ),
            LossCause::Restart,
        ),
        Origin::Restart | Origin::NewId => (
            format!(
                "{} restarted with files reaching only offset {} of history {replid}",
                b.server, b.parent.offset
            ),
            LossCause::Restart,
        ),
    };
    let doomed_by = Text::from(doomed_by);
    names.last_doom = Some((at, doomed_by.clone(), cause));
    lost(
        op,
        written(op),
        (doomed_by, Some(b.time_ns / 1_000_000), cause),
        names,
    )
}

fn lost_write(e: &Evidence<'_>, op: &Operation<'_>, value: Text, names: &mut Names) -> LostWrite {
    let server = op.server.unwrap_or_default();
    let why = match doom(e.notes, server, op.complete_ns) {
        Some((n, cause)) => (Text::from(n.fact.to_string()), Some(n.time.as_ms()), cause),
        None => (
            names.name("no discarding event was found in the trace"),
            None,
            LossCause::Unexplained,
        ),
    };
    lost(op, value, why, names)
}

/// The lost write `op` wrote `value`, doomed by `(what, when in ms, cause)`.
fn lost(
    op: &Operation<'_>,
    value: Text,
    why: (Text, Option<u64>, LossCause),
    names: &mut Names,
) -> LostWrite {
    let (doomed_by, doomed_ms, cause) = why;
    LostWrite {
        process: op.process,
        key: names.key(op.key),
        f: names.name(op.f),
        value,
        ack_ms: op.complete_ns / 1_000_000,
        server: names.name(op.server.unwrap_or_default()),
        doomed_by,
        doomed_ms,
        cause,
    }
}

/// The first event after the acknowledgement that discarded the acknowledging server's data:
/// its own flush before a full resync, a restart that reloaded less than it had, a demotion, or
/// a promotion of another server while it was cut off.
fn doom<'n>(
    notes: &'n [FactNote],
    server: &str,
    after_ns: u64,
) -> Option<(&'n FactNote, LossCause)> {
    notes
        .iter()
        .filter(|n| n.time.as_nanos() >= after_ns)
        .find_map(|n| {
            let mine = n.fact.server() == Some(server);
            let cause = match &n.fact {
                Fact::Flushed { .. } | Fact::Demoted { .. } if mine => LossCause::FullResync,
                Fact::Started { .. } if mine => LossCause::Restart,
                Fact::Promoted { .. } if !mine => LossCause::Promotion,
                _ => return None,
            };
            Some((n, cause))
        })
}

#[cfg(test)]
mod tests {
    use super::super::FinalState;
    use super::*;
    use crate::history::{History, HistoryEvent};
    use crate::sim::SimTime;

    fn ev(p: u32, kind: EventType, f: &str, key: &str, v: Value, t: u64) -> HistoryEvent {
        HistoryEvent::new(p, kind, f, key.into(), v, t)
            .with_server((kind != EventType::Invoke).then(|| "p1".into()))
    }

    fn finals(data: &[(&str, &str)]) -> Vec<FinalState> {
        vec![FinalState {
            name: "p1".into(),
            is_master: true,
            master: None,
            up: true,
            link_up: true,
            position: None,
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sets: Default::default(),
            slot_owners: None,
        }]
    }

    fn check(
        h: Vec<HistoryEvent>,
        data: &[(&str, &str)],
        notes: &[FactNote],
    ) -> (CheckResult, Vec<LostWrite>) {
        let history = History::merge(h);
        let f = finals(data);
        acked_writes_durable(&Evidence {
            history: &history,
            notes,
            finals: &f,
        })
    }

    #[test]
    fn overwritten_by_an_older_value_is_lost() {
        let h = vec![
            ev(1, EventType::Invoke, "set", "k", "a".into(), 1),
            ev(1, EventType::Ok, "set", "k", "a".into(), 2),
            ev(1, EventType::Invoke, "set", "k", "b".into(), 3),
            ev(1, EventType::Ok, "set", "k", "b".into(), 4),
        ];
        let note = FactNote {
            time: SimTime(10),
            process: 0,
            fact: Fact::Flushed {
                server: "p1".into(),
                keys: 1,
                rdb_bytes: 100,
            },
        };
        let (r, lost) = check(h.clone(), &[("k", "a")], std::slice::from_ref(&note));
        assert_eq!(r.status, Status::Fail);
        assert_eq!(lost.len(), 1);
        assert_eq!(lost[0].value, "b");
        assert_eq!(lost[0].cause, LossCause::FullResync);
        assert!(lost[0].doomed_by.starts_with("p1 flushes its old data"));
        assert_eq!(check(h, &[("k", "b")], &[]).0.status, Status::Pass);
    }

    #[test]
    fn concurrent_writes_may_supersede() {
        // b (acked) and a (acked) overlap in time: either final value is fine.
        let h = vec![
            ev(1, EventType::Invoke, "set", "k", "a".into(), 1),
            ev(2, EventType::Invoke, "set", "k", "b".into(), 2),
            ev(2, EventType::Ok, "set", "k", "b".into(), 3),
            ev(1, EventType::Ok, "set", "k", "a".into(), 4),
        ];
        assert_eq!(check(h.clone(), &[("k", "a")], &[]).0.status, Status::Pass);
        assert_eq!(check(h, &[("k", "b")], &[]).0.status, Status::Pass);
    }

    #[test]
    fn counters_and_appends() {
        let h = vec![
            ev(1, EventType::Invoke, "incr", "c", Value::Null, 1),
            ev(1, EventType::Ok, "incr", "c", 1.into(), 2),
            ev(1, EventType::Invoke, "incr", "c", Value::Null, 3),
            ev(1, EventType::Ok, "incr", "c", 2.into(), 4),
            ev(1, EventType::Invoke, "append", "l", "t1|".into(), 5),
            ev(1, EventType::Ok, "append", "l", "t1|".into(), 6),
        ];
        assert_eq!(
            check(h.clone(), &[("c", "2"), ("l", "t1|")], &[]).0.status,
            Status::Pass
        );
        let (r, lost) = check(h, &[("c", "1")], &[]);
        assert_eq!(r.count, 2, "the INCR to 2 and the APPEND are lost");
        assert!(lost.iter().any(|l| l.f == "append"));
    }
}

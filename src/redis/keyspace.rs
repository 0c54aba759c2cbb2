//! The keyspace: keys to strings or sets. Keys are looked up in a hash table (a lookup per
//! command); whatever walks the keys ([`Keyspace::iter`], [`Keyspace::diff`]) sees them in key
//! order, so snapshots and comparisons are deterministic.

use std::collections::BTreeSet;

use crate::sim::FastHash;
use std::rc::Rc;

use super::command::{Command, Reply, errors};

/// Per-key overhead added to key and value bytes when estimating RDB size (type byte, length
/// prefixes, and the expiry-free encoding of a string object).
const RDB_ENTRY_OVERHEAD_BYTES: u64 = 9;
/// Fixed RDB header, aux fields and trailer bytes.
const RDB_FIXED_BYTES: u64 = 200;

/// Per-member overhead of a set in an RDB (a length prefix; the listpack or hashtable encoding
/// of small members).
const RDB_MEMBER_OVERHEAD_BYTES: u64 = 2;

/// Keys to values, looked up and never walked in the table's own order (see
/// [`Keyspace::iter`]).
#[allow(clippy::disallowed_types)]
type KeyTable = std::collections::HashMap<Rc<str>, Value, FastHash>;

/// One database's keys and values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyspace {
    map: KeyTable,
    payload_bytes: u64,
}

/// A key's value: the two Redis types simkv's workloads use. A set's members are ordered, so
/// `SMEMBERS` answers in sorted order (Redis answers in hash-table order; see docs/fidelity.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(Rc<str>),
    /// A set (shared until written: snapshots copy only what changes).
    Set(Rc<BTreeSet<Rc<str>>>),
}

impl Value {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&Rc<str>> {
        match self {
            Value::Str(s) => Some(s),
            Value::Set(_) => None,
        }
    }
    /// The members, if this is a set.
    pub fn members(&self) -> Option<&BTreeSet<Rc<str>>> {
        match self {
            Value::Set(m) => Some(m),
            Value::Str(_) => None,
        }
    }
    /// Bytes of payload as a `DUMP` carries it (about what an RDB entry takes).
    pub fn size_bytes(&self) -> u64 {
        self.payload_bytes() + RDB_ENTRY_OVERHEAD_BYTES
    }
    /// The commands that recreate this value under `key` on a replica (what `RESTORE` amounts
    /// to): a SET for a string, a DEL then one SADD per member for a set.
    pub fn restore_commands(&self, key: &Rc<str>) -> Vec<Command> {
        match self {
            Value::Str(v) => vec![Command::Set(key.clone(), v.clone())],
            Value::Set(m) => std::iter::once(Command::Del(key.clone()))
                .chain(m.iter().map(|x| Command::Sadd(key.clone(), x.clone())))
                .collect(),
        }
    }
    /// Bytes of payload (string bytes, or members' bytes plus their overhead).
    fn payload_bytes(&self) -> u64 {
        match self {
            Value::Str(s) => s.len() as u64,
            Value::Set(m) => m
                .iter()
                .map(|x| x.len() as u64 + RDB_MEMBER_OVERHEAD_BYTES)
                .sum(),
        }
    }
}

/// What applying a command did, for propagation decisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The reply to send.
    pub reply: Reply,
    /// Whether the dataset changed (Redis propagates only commands that dirtied it).
    pub dirty: bool,
}

impl Keyspace {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }
    /// The key equal to `key` as held, with its value.
    pub fn get_key_value(&self, key: &str) -> Option<(&Rc<str>, &Value)> {
        self.map.get_key_value(key)
    }
    /// All keys and values in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Rc<str>, &Value)> {
        let mut all: Vec<(&Rc<str>, &Value)> = self.map.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }
    /// Removes every key (a full resync's flush).
    pub fn flush(&mut self) {
        self.map.clear();
        self.payload_bytes = 0;
    }
    /// The bytes of every key and value (set members included), without overheads.
    pub fn data_bytes(&self) -> u64 {
        self.payload_bytes
    }
    /// The estimated size of an RDB snapshot of this keyspace, in bytes.
    pub fn rdb_size_bytes(&self) -> u64 {
        RDB_FIXED_BYTES + self.payload_bytes + RDB_ENTRY_OVERHEAD_BYTES * self.map.len() as u64
    }

    /// Sets `key` to `value`; the key is copied (a reference count) only when it is new.
    fn put(&mut self, key: &Rc<str>, value: Value) {
        self.payload_bytes += value.payload_bytes();
        match self.map.get_mut(&**key) {
            Some(slot) => {
                let old = std::mem::replace(slot, value);
                self.payload_bytes -= old.payload_bytes();
            }
            None => {
                self.payload_bytes += key.len() as u64;
                self.map.insert(key.clone(), value);
            }
        }
    }

    fn wrong_type() -> Applied {
        Applied {
            reply: Reply::Error(Rc::from(errors::WRONGTYPE)),
            dirty: false,
        }
    }

    /// Executes a data command. `WAIT` is not a data command and must not reach here.
    pub fn apply(&mut self, cmd: &Command) -> Applied {
        match cmd {
            Command::Get(k) => match self.map.get(k) {
                None => Applied {
                    reply: Reply::Nil,
                    dirty: false,
                },
                Some(Value::Str(v)) => Applied {
                    reply: Reply::Bulk(v.clone()),
                    dirty: false,
                },
                Some(Value::Set(_)) => Self::wrong_type(),
            },
            Command::Set(k, v) => {
                self.put(k, Value::Str(v.clone()));
                Applied {
                    reply: Reply::Ok,
                    dirty: true,
                }
            }
            Command::Incr(k) => self.incr(k),
            Command::Del(k) => match self.map.remove(k) {
                Some(old) => {
                    self.payload_bytes -= k.len() as u64 + old.payload_bytes();
                    Applied {
                        reply: Reply::Int(1),
                        dirty: true,
                    }
                }
                None => Applied {
                    reply: Reply::Int(0),
                    dirty: false,
                },
            },
            Command::Append(k, v) => {
                let new: Rc<str> = match self.map.get(k) {
                    Some(Value::Str(old)) => {
                        let mut joined = String::with_capacity(old.len() + v.len());
                        joined.push_str(old);
                        joined.push_str(v);
                        Rc::from(joined)
                    }
                    Some(Value::Set(_)) => return Self::wrong_type(),
                    None => v.clone(),
                };
                let len = new.len() as i64;
                self.put(k, Value::Str(new));
                Applied {
                    reply: Reply::Int(len),
                    dirty: true,
                }
            }
            Command::Sadd(k, m) => self.sadd(k, m),
            Command::Smembers(k) => match self.map.get(k) {
                None => Applied {
                    reply: Reply::Array(Rc::from(Vec::new())),
                    dirty: false,
                },
                Some(Value::Set(members)) => Applied {
                    reply: Reply::Array(members.iter().cloned().collect()),
                    dirty: false,
                },
                Some(Value::Str(_)) => Self::wrong_type(),
            },
            // t_string.c: msetGenericCommand sets every pair, answers +OK, always dirty.
            Command::Mset(pairs) => {
                for (k, v) in pairs.iter() {
                    self.put(k, Value::Str(v.clone()));
                }
                Applied {
                    reply: Reply::Ok,
                    dirty: true,
                }
            }
            // t_string.c: mgetCommand answers a null for a missing key or one of another type.
            Command::Mget(keys) => Applied {
                reply: Reply::Values(
                    keys.iter()
                        .map(|k| match self.map.get(k) {
                            Some(Value::Str(v)) => Some(v.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                dirty: false,
            },
            Command::Wait(..) | Command::WaitAof(..) => {
                unreachable!("WAIT and WAITAOF are handled by the server, not the keyspace")
            }
        }
    }

    /// t_set.c: saddCommand: creates the set if needed, refuses another type with WRONGTYPE,
    /// answers how many members were new, and dirties the dataset (is propagated) only then.
    fn sadd(&mut self, k: &Rc<str>, member: &Rc<str>) -> Applied {
        let mut members = match self.map.get(k) {
            None => Rc::new(BTreeSet::new()),
            Some(Value::Set(m)) if m.contains(member) => {
                return Applied {
                    reply: Reply::Int(0),
                    dirty: false,
                };
            }
            Some(Value::Set(m)) => m.clone(),
            Some(Value::Str(_)) => return Self::wrong_type(),
        };
        Rc::make_mut(&mut members).insert(member.clone());
        self.put(k, Value::Set(members));
        Applied {
            reply: Reply::Int(1),
            dirty: true,
        }
    }

    /// t_string.c: incrDecrCommand (the value parsed by `string2ll`).
    fn incr(&mut self, k: &Rc<str>) -> Applied {
        let refused = |text: &str| Applied {
            reply: Reply::Error(Rc::from(text)),
            dirty: false,
        };
        let current = match self.map.get(k) {
            None => 0,
            Some(Value::Set(_)) => return Self::wrong_type(),
            Some(Value::Str(v)) => match string2ll(v) {
                Some(n) => n,
                None => return refused(errors::NOT_INTEGER),
            },
        };
        let Some(next) = current.checked_add(1) else {
            return refused(errors::INCR_OVERFLOW);
        };
        self.put(k, Value::Str(Rc::from(decimal(next, &mut [0; 20]))));
        Applied {
            reply: Reply::Int(next),
            dirty: true,
        }
    }

    /// Keys whose values differ between two keyspaces (at most `limit`), for convergence reports.
    pub fn diff(&self, other: &Keyspace, limit: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut a = self.iter().peekable();
        let mut b = other.iter().peekable();
        while out.len() < limit {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((ka, _)), None) => {
                    out.push(ka.to_string());
                    a.next();
                }
                (None, Some((kb, _))) => {
                    out.push(kb.to_string());
                    b.next();
                }
                (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                    std::cmp::Ordering::Less => {
                        out.push(ka.to_string());
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        out.push(kb.to_string());
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if va != vb {
                            out.push(ka.to_string());
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
        out
    }
}

/// `n` in decimal, written at the end of `buf` (what `ll2string` writes for INCR's result,
/// without the formatting machinery).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut at = digits_at_end(n.unsigned_abs(), buf);
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// util.c: ull2string: `v` in decimal, written at the end of `buf`, without the formatting
/// machinery.
pub fn ull2string(v: u64, buf: &mut [u8; 20]) -> &str {
    let at = digits_at_end(v, buf);
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// Writes `v`'s decimal digits at the end of `buf` and says where they start (a `u64` has at
/// most 20; an `i64`'s magnitude at most 19, leaving room for its sign).
fn digits_at_end(mut v: u64, buf: &mut [u8; 20]) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return at;
        }
    }
}

/// util.c: string2ll: an optional minus sign, then digits without leading zeros (or just
/// "0"), at most 20 bytes, within `i64`; nothing else (no plus sign, no spaces).
fn string2ll(s: &str) -> Option<i64> {
    const LONG_STR_SIZE: usize = 21;
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == "0" {
        return Some(0);
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let first = digits.bytes().next()?;
    if !(b'1'..=b'9').contains(&first) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude: u64 = digits.parse().ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    #[test]
    fn decimal_writes_what_formatting_does() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            12_345,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
        for v in [0, 7, 10, 99_999, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(ull2string(v, &mut [0; 20]), v.to_string());
        }
    }

    #[test]
    fn mset_sets_every_pair_and_mget_reads_nulls_for_missing_and_other_types() {
        let mut ks = Keyspace::default();
        let pairs: Vec<(Rc<str>, Rc<str>)> = vec![(rc("a"), rc("1")), (rc("b"), rc("2"))];
        let set = ks.apply(&Command::Mset(pairs.into()));
        assert_eq!((set.reply, set.dirty), (Reply::Ok, true));
        ks.apply(&Command::Sadd(rc("s"), rc("m")));
        let keys: Vec<Rc<str>> = vec![rc("b"), rc("missing"), rc("s"), rc("a")];
        let got = ks.apply(&Command::Mget(keys.into()));
        assert!(!got.dirty);
        assert_eq!(
            got.reply,
            Reply::Values(Rc::from(vec![Some(rc("2")), None, None, Some(rc("1"))]))
        );
    }

    #[test]
    fn commands_behave_like_redis() {
        let mut ks = Keyspace::default();
        assert_eq!(ks.apply(&Command::Get(rc("k"))).reply, Reply::Nil);
        assert_eq!(ks.apply(&Command::Incr(rc("c"))).reply, Reply::Int(1));
        assert_eq!(ks.apply(&Command::Incr(rc("c"))).reply, Reply::Int(2));
        assert_eq!(
            ks.apply(&Command::Append(rc("a"), rc("xy"))).reply,
            Reply::Int(2)
        );
        assert_eq!(
            ks.apply(&Command::Append(rc("a"), rc("z"))).reply,
            Reply::Int(3)
        );
        ks.apply(&Command::Set(rc("k"), rc("v")));
        assert!(ks.apply(&Command::Incr(rc("k"))).reply.is_error());
        let del_missing = ks.apply(&Command::Del(rc("nope")));
        assert_eq!(del_missing.reply, Reply::Int(0));
        assert!(!del_missing.dirty, "DEL of a missing key is not propagated");
        assert_eq!(ks.apply(&Command::Del(rc("k"))).reply, Reply::Int(1));
        assert_eq!(ks.len(), 2);
    }

    #[test]
    fn size_accounting_follows_updates() {
        let mut ks = Keyspace::default();
        ks.apply(&Command::Set(rc("ab"), rc("xyz")));
        ks.apply(&Command::Set(rc("ab"), rc("x")));
        assert_eq!(
            ks.rdb_size_bytes(),
            RDB_FIXED_BYTES + 3 + RDB_ENTRY_OVERHEAD_BYTES
        );
        ks.apply(&Command::Del(rc("ab")));
        assert_eq!(ks.rdb_size_bytes(), RDB_FIXED_BYTES);
    }

    #[test]
    fn diff_lists_differing_keys() {
        let mut a = Keyspace::default();
        let mut b = Keyspace::default();
        a.apply(&Command::Set(rc("k1"), rc("1")));
        b.apply(&Command::Set(rc("k1"), rc("2")));
        b.apply(&Command::Set(rc("k2"), rc("2")));
        assert_eq!(a.diff(&b, 10), vec!["k1".to_string(), "k2".to_string()]);
        assert!(a.diff(&a.clone(), 10).is_empty());
    }

    /// incrDecrCommand: `string2ll` rejects what Rust's parser accepts (a plus sign, leading
    /// zeros, "-0"), and an overflow has its own error text.
    #[test]
    fn incr_parses_like_string2ll_and_reports_overflow() {
        for bad in [
            "+5",
            "05",
            "-0",
            " 5",
            "5 ",
            "",
            "-",
            "1e3",
            "99999999999999999999",
        ] {
            let mut ks = Keyspace::default();
            ks.apply(&Command::Set(rc("c"), rc(bad)));
            let reply = ks.apply(&Command::Incr(rc("c"))).reply;
            assert_eq!(reply, Reply::Error(rc(errors::NOT_INTEGER)), "{bad:?}");
        }
        let mut ks = Keyspace::default();
        ks.apply(&Command::Set(rc("c"), rc("-5")));
        assert_eq!(ks.apply(&Command::Incr(rc("c"))).reply, Reply::Int(-4));
        ks.apply(&Command::Set(rc("c"), rc(&i64::MAX.to_string())));
        let reply = ks.apply(&Command::Incr(rc("c"))).reply;
        assert_eq!(reply, Reply::Error(rc(errors::INCR_OVERFLOW)));
        assert_eq!(
            ks.get("c").and_then(Value::as_str).map(|v| v.to_string()),
            Some(i64::MAX.to_string())
        );
    }

    /// saddCommand and smembersCommand: new members count, repeats are not propagated, the
    /// set's bytes follow its members, and strings and sets refuse each other's commands.
    #[test]
    fn sets_behave_like_redis() {
        let mut ks = Keyspace::default();
        let empty = ks.apply(&Command::Smembers(rc("s")));
        assert_eq!(empty.reply, Reply::Array(Rc::from(Vec::new())));
        let first = ks.apply(&Command::Sadd(rc("s"), rc("b")));
        assert_eq!((first.reply, first.dirty), (Reply::Int(1), true));
        ks.apply(&Command::Sadd(rc("s"), rc("a")));
        let again = ks.apply(&Command::Sadd(rc("s"), rc("a")));
        assert_eq!((again.reply, again.dirty), (Reply::Int(0), false));
        assert_eq!(
            ks.apply(&Command::Smembers(rc("s"))).reply,
            Reply::Array(Rc::from(vec![rc("a"), rc("b")]))
        );
        assert_eq!(
            ks.rdb_size_bytes(),
            RDB_FIXED_BYTES + 1 + 2 * (1 + RDB_MEMBER_OVERHEAD_BYTES) + RDB_ENTRY_OVERHEAD_BYTES
        );
        let wrong = Reply::Error(rc(errors::WRONGTYPE));
        for cmd in [
            Command::Get(rc("s")),
            Command::Incr(rc("s")),
            Command::Append(rc("s"), rc("x")),
        ] {
            let a = ks.apply(&cmd);
            assert_eq!((a.reply, a.dirty), (wrong.clone(), false), "{cmd}");
        }
        ks.apply(&Command::Set(rc("k"), rc("v")));
        assert_eq!(ks.apply(&Command::Sadd(rc("k"), rc("x"))).reply, wrong);
        assert_eq!(ks.apply(&Command::Smembers(rc("k"))).reply, wrong);
        // A snapshot taken before an add keeps its members.
        let snapshot = ks.clone();
        ks.apply(&Command::Sadd(rc("s"), rc("c")));
        assert_eq!(
            snapshot.get("s").and_then(Value::members).map(|m| m.len()),
            Some(2)
        );
        assert_eq!(ks.apply(&Command::Del(rc("s"))).reply, Reply::Int(1));
        assert_eq!(
            ks.rdb_size_bytes(),
            RDB_FIXED_BYTES + 2 + RDB_ENTRY_OVERHEAD_BYTES
        );
    }
}

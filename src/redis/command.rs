//! Commands, replies and their RESP encodings. Replication offsets count the bytes of the RESP
//! encoding of every propagated command, so the encoding length is computed exactly.

use std::fmt;
use std::rc::Rc;

/// A command a client sends (the subset of Redis simkv models).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `GET key`.
    Get(Rc<str>),
    /// `SET key value`.
    Set(Rc<str>, Rc<str>),
    /// `INCR key`.
    Incr(Rc<str>),
    /// `DEL key`.
    Del(Rc<str>),
    /// `APPEND key value`.
    Append(Rc<str>, Rc<str>),
    /// `SADD key member` (one member).
    Sadd(Rc<str>, Rc<str>),
    /// `SMEMBERS key`.
    Smembers(Rc<str>),
    /// `MSET key value [key value ...]`: every pair set at once.
    Mset(Rc<[(Rc<str>, Rc<str>)]>),
    /// `MGET key [key ...]`.
    Mget(Rc<[Rc<str>]>),
    /// `WAIT numreplicas timeout_ms`.
    Wait(u32, u64),
    /// `WAITAOF numlocal numreplicas timeout_ms` (Redis 7.2).
    WaitAof(u32, u32, u64),
}

impl Command {
    /// The command's name in lower case, as in the history's `f` field.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Get(_) => "get",
            Command::Set(..) => "set",
            Command::Incr(_) => "incr",
            Command::Del(_) => "del",
            Command::Append(..) => "append",
            Command::Sadd(..) => "sadd",
            Command::Smembers(_) => "smembers",
            Command::Mset(_) => "mset",
            Command::Mget(_) => "mget",
            Command::Wait(..) => "wait",
            Command::WaitAof(..) => "waitaof",
        }
    }
    /// Whether the command may change the dataset (Redis's `write` flag).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Command::Set(..)
                | Command::Incr(_)
                | Command::Del(_)
                | Command::Append(..)
                | Command::Sadd(..)
                | Command::Mset(_)
        )
    }
    /// Every key the command names, in order (`getKeysFromCommand`).
    pub fn keys(&self) -> Vec<&Rc<str>> {
        match self {
            Command::Mset(pairs) => pairs.iter().map(|(k, _)| k).collect(),
            Command::Mget(keys) => keys.iter().collect(),
            other => other.key().into_iter().collect(),
        }
    }
    /// The key, if the command has one (a multi-key command's first).
    pub fn key(&self) -> Option<&Rc<str>> {
        match self {
            Command::Get(k)
            | Command::Set(k, _)
            | Command::Incr(k)
            | Command::Del(k)
            | Command::Append(k, _)
            | Command::Sadd(k, _)
            | Command::Smembers(k) => Some(k),
            Command::Mset(pairs) => pairs.first().map(|(k, _)| k),
            Command::Mget(keys) => keys.first(),
            Command::Wait(..) | Command::WaitAof(..) => None,
        }
    }
    /// The length of the command's RESP encoding (as propagated to replicas).
    pub fn resp_len(&self) -> u64 {
        // `*N\r\n` and `$len\r\nNAME\r\n`, then each argument: the same sum as
        // `resp_array_len` over the words, without gathering them.
        let head = |n: u64, name: &[u8]| array_header_len(n) + bulk_len(name.len() as u64);
        let s = |a: &Rc<str>| bulk_len(a.len() as u64);
        match self {
            Command::Get(k) => head(2, b"GET") + s(k),
            Command::Set(k, v) => head(3, b"SET") + s(k) + s(v),
            Command::Incr(k) => head(2, b"INCR") + s(k),
            Command::Del(k) => head(2, b"DEL") + s(k),
            Command::Append(k, v) => head(3, b"APPEND") + s(k) + s(v),
            Command::Sadd(k, m) => head(3, b"SADD") + s(k) + s(m),
            Command::Smembers(k) => head(2, b"SMEMBERS") + s(k),
            Command::Mset(pairs) => pairs
                .iter()
                .fold(head(1 + 2 * pairs.len() as u64, b"MSET"), |n, (k, v)| {
                    n + s(k) + s(v)
                }),
            Command::Mget(keys) => keys
                .iter()
                .fold(head(1 + keys.len() as u64, b"MGET"), |n, k| n + s(k)),
            Command::Wait(n, t) => head(3, b"WAIT") + number_len(u64::from(*n)) + number_len(*t),
            Command::WaitAof(l, n, t) => {
                head(4, b"WAITAOF")
                    + number_len(u64::from(*l))
                    + number_len(u64::from(*n))
                    + number_len(*t)
            }
        }
    }
}

/// The length of `*n\r\n`.
#[inline]
fn array_header_len(n: u64) -> u64 {
    1 + decimal_len(n) + 2
}

/// The length of `$len\r\n<len bytes>\r\n`.
#[inline]
fn bulk_len(len: u64) -> u64 {
    1 + decimal_len(len) + 2 + len + 2
}

/// The length of a bulk string holding `v` in decimal.
#[inline]
fn number_len(v: u64) -> u64 {
    bulk_len(decimal_len(v))
}

impl Command {
    /// The command typed as words (`SET k v`, `wait 1 0`), as a console reads it; the error says
    /// what is wrong.
    pub fn from_words(words: &[&str]) -> Result<Command, String> {
        let rc = |s: &str| Rc::<str>::from(s);
        let upper = words
            .first()
            .map(|w| w.to_ascii_uppercase())
            .unwrap_or_default();
        let cmd = match (upper.as_str(), &words[1.min(words.len())..]) {
            ("GET", [k]) => Command::Get(rc(k)),
            ("SET", [k, v]) => Command::Set(rc(k), rc(v)),
            ("INCR", [k]) => Command::Incr(rc(k)),
            ("DEL", [k]) => Command::Del(rc(k)),
            ("APPEND", [k, v]) => Command::Append(rc(k), rc(v)),
            ("SADD", [k, m]) => Command::Sadd(rc(k), rc(m)),
            ("SMEMBERS", [k]) => Command::Smembers(rc(k)),
            ("MSET", pairs) if !pairs.is_empty() && pairs.len() % 2 == 0 => Command::Mset(
                pairs
                    .chunks(2)
                    .map(|kv| (rc(kv[0]), rc(kv[1])))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            ("MGET", keys) if !keys.is_empty() => {
                Command::Mget(keys.iter().map(|k| rc(k)).collect::<Vec<_>>().into())
            }
            ("WAIT", [n, t]) => {
                let n = n
                    .parse::<u32>()
                    .map_err(|_| format!("WAIT's numreplicas \"{n}\" is not a count"))?;
                let t = t
                    .parse::<u64>()
                    .map_err(|_| format!("WAIT's timeout \"{t}\" is not in milliseconds"))?;
                Command::Wait(n, t)
            }
            ("WAITAOF", [l, n, t]) => {
                let count = |s: &str| {
                    s.parse::<u32>()
                        .map_err(|_| format!("\"{s}\" is not a count"))
                };
                let t = t
                    .parse::<u64>()
                    .map_err(|_| format!("WAITAOF's timeout \"{t}\" is not in milliseconds"))?;
                Command::WaitAof(count(l)?, count(n)?, t)
            }
            (
                "GET" | "SET" | "INCR" | "DEL" | "APPEND" | "SADD" | "SMEMBERS" | "MSET" | "MGET"
                | "WAIT" | "WAITAOF",
                _,
            ) => {
                return Err(format!(
                    "wrong number of arguments for '{}'",
                    upper.to_lowercase()
                ));
            }
            _ => return Err(format!("unknown command \"{}\"", words.join(" "))),
        };
        Ok(cmd)
    }
}

impl Reply {
    /// The reply as redis-cli prints it, on one line: `OK`, `"v"`, `(nil)`, `(integer) 3`,
    /// `1) "a" 2) "b"`, `(empty array)`, `(error) ERR ...`.
    pub fn cli_text(&self) -> String {
        match self {
            Reply::Ok => "OK".into(),
            Reply::Bulk(v) => format!("\"{v}\""),
            Reply::Nil => "(nil)".into(),
            Reply::Int(n) => format!("(integer) {n}"),
            Reply::Array(items) if items.is_empty() => "(empty array)".into(),
            Reply::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{}) \"{v}\"", i + 1))
                .collect::<Vec<_>>()
                .join(" "),
            Reply::Ints(v) => v
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{}) (integer) {n}", i + 1))
                .collect::<Vec<_>>()
                .join(" "),
            Reply::Values(v) => v
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Some(v) => format!("{}) \"{v}\"", i + 1),
                    None => format!("{}) (nil)", i + 1),
                })
                .collect::<Vec<_>>()
                .join(" "),
            Reply::Error(e) => format!("(error) {e}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Get(k) => write!(f, "GET {k}"),
            Command::Set(k, v) => write!(f, "SET {k} {v}"),
            Command::Incr(k) => write!(f, "INCR {k}"),
            Command::Del(k) => write!(f, "DEL {k}"),
            Command::Append(k, v) => write!(f, "APPEND {k} {v}"),
            Command::Sadd(k, m) => write!(f, "SADD {k} {m}"),
            Command::Smembers(k) => write!(f, "SMEMBERS {k}"),
            Command::Mset(pairs) => {
                write!(f, "MSET")?;
                pairs.iter().try_for_each(|(k, v)| write!(f, " {k} {v}"))
            }
            Command::Mget(keys) => {
                write!(f, "MGET")?;
                keys.iter().try_for_each(|k| write!(f, " {k}"))
            }
            Command::Wait(n, t) => write!(f, "WAIT {n} {t}"),
            Command::WaitAof(l, n, t) => write!(f, "WAITAOF {l} {n} {t}"),
        }
    }
}

/// The length of the RESP encoding `*N\r\n` followed by `$len\r\n<arg>\r\n` for every argument.
pub fn resp_array_len(args: &[&[u8]]) -> u64 {
    args.iter()
        .fold(array_header_len(args.len() as u64), |n, a| {
            n + bulk_len(a.len() as u64)
        })
}

/// [`resp_array_len`] of `count` arguments of these lengths.
pub fn resp_array_len_of(count: usize, lens: impl Iterator<Item = usize>) -> u64 {
    lens.fold(array_header_len(count as u64), |n, len| {
        n + bulk_len(len as u64)
    })
}

/// The length of `$len\r\n<len bytes>\r\n`, a bulk string of `len` bytes.
pub fn resp_bulk_len(len: usize) -> u64 {
    bulk_len(len as u64)
}

/// Digits of `v` in decimal.
#[inline]
pub(crate) fn decimal_len(v: u64) -> u64 {
    // Most lengths in a stream have one or two digits.
    if v < 10 {
        1
    } else if v < 100 {
        2
    } else {
        let mut d = 3;
        let mut v = v / 1000;
        while v > 0 {
            v /= 10;
            d += 1;
        }
        d
    }
}

/// The length of `SELECT <db>` in RESP, which starts every replication stream.
pub fn select_len(db: u32) -> u64 {
    array_header_len(2) + bulk_len(6) + number_len(u64::from(db))
}

/// The length of the `PING` a primary writes into the replication stream every
/// `repl-ping-replica-period`.
pub fn ping_len() -> u64 {
    resp_array_len(&[b"PING"])
}

/// A reply, as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Ok,
    /// A bulk string (`GET` of an existing key).
    Bulk(Rc<str>),
    /// The null bulk string (`GET` of a missing key).
    Nil,
    /// An integer (`INCR`, `DEL`, `APPEND`, `SADD`, `WAIT`).
    Int(i64),
    /// An array of bulk strings (`SMEMBERS`, in simkv in sorted order).
    Array(Rc<[Rc<str>]>),
    /// An array of integers (`WAITAOF`: local and replicas).
    Ints(Rc<[i64]>),
    /// An array of bulk strings or nulls (`MGET`: a missing key is a null).
    Values(Rc<[Option<Rc<str>>]>),
    /// An error reply: the full text after `-`, e.g. `READONLY You can't write against a read only replica.`
    Error(Rc<str>),
}

impl Reply {
    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Redis's exact error texts (see docs/fidelity.md).
pub mod errors {
    /// A write sent to a read-only replica.
    pub const READONLY: &str = "READONLY You can't write against a read only replica.";
    /// A write refused by `min-replicas-to-write`.
    pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
    /// A replica whose link is down with `replica-serve-stale-data no`.
    pub const MASTERDOWN: &str =
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    /// Any command while an RDB is loading.
    pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
    /// INCR on a value that is not an integer.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// INCR past `i64::MAX` (incrDecrCommand).
    pub const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// A command on a key holding another type (server.h: shared.wrongtypeerr).
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// WAITAOF sent to a replica (7.2: waitaofCommand).
    pub const WAITAOF_ON_REPLICA: &str = "ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.";
    /// WAITAOF asking for the local fsync with `appendonly no`.
    pub const WAITAOF_WITHOUT_AOF: &str =
        "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.";
    /// WAIT sent to a replica.
    pub const WAIT_ON_REPLICA: &str = "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.";
    /// A write (or PING) after a failed BGSAVE with `stop-writes-on-bgsave-error yes`
    /// (server.c: `shared.bgsaveerr`).
    pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
    /// A write (or PING) after a failed AOF write, the OS's text appended
    /// (server.c: writeCommandsGetDiskErrorMessage).
    pub const MISCONF_AOF_FULL: &str =
        "MISCONF Errors writing to the AOF file: No space left on device";
    /// The same for an I/O error.
    pub const MISCONF_AOF_IO: &str = "MISCONF Errors writing to the AOF file: Input/output error";

    /// The `-MISCONF` a write gets after an AOF write failed with `error`.
    pub fn misconf_aof(error: crate::fault::DiskError) -> &'static str {
        match error {
            crate::fault::DiskError::Full => MISCONF_AOF_FULL,
            crate::fault::DiskError::Io => MISCONF_AOF_IO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> Rc<str> {
        Rc::from(s)
    }

    #[test]
    fn multi_key_commands_encode_parse_and_name_their_keys() {
        let mset = Command::from_words(&["mset", "a", "1", "bb", "22"]).unwrap();
        assert_eq!(
            mset.resp_len(),
            "*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$1\r\n1\r\n$2\r\nbb\r\n$2\r\n22\r\n".len() as u64
        );
        assert_eq!(mset.to_string(), "MSET a 1 bb 22");
        assert!(mset.is_write());
        assert_eq!(mset.keys(), [&rc("a"), &rc("bb")]);
        let mget = Command::from_words(&["MGET", "a", "bb"]).unwrap();
        assert_eq!(
            mget.resp_len(),
            "*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$2\r\nbb\r\n".len() as u64
        );
        assert!(!mget.is_write());
        assert_eq!(mget.key(), Some(&rc("a")));
        for bad in [&["MSET", "a"][..], &["MSET"], &["MGET"]] {
            let e = Command::from_words(bad).unwrap_err();
            assert!(e.contains("wrong number of arguments"), "{e}");
        }
        let reply = Reply::Values(Rc::from(vec![Some(rc("x")), None]));
        assert_eq!(reply.cli_text(), "1) \"x\" 2) (nil)");
    }

    #[test]
    fn resp_lengths_match_hand_counted_bytes() {
        // "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
        assert_eq!(
            Command::Set(rc("k"), rc("v")).resp_len(),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n".len() as u64
        );
        assert_eq!(Command::Set(rc("k"), rc("v")).resp_len(), 27);
        // "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"
        assert_eq!(select_len(0), 23);
        // "*1\r\n$4\r\nPING\r\n"
        assert_eq!(ping_len(), 14);
        // "*2\r\n$4\r\nINCR\r\n$3\r\nc10\r\n"
        assert_eq!(Command::Incr(rc("c10")).resp_len(), 23);
        // "*3\r\n$6\r\nAPPEND\r\n$2\r\nl1\r\n$10\r\n0123456789\r\n"
        assert_eq!(
            Command::Append(rc("l1"), rc("0123456789")).resp_len(),
            "*3\r\n$6\r\nAPPEND\r\n$2\r\nl1\r\n$10\r\n0123456789\r\n".len() as u64
        );
        let ten_k = "x".repeat(10_000);
        assert_eq!(
            Command::Set(rc("key"), rc(&ten_k)).resp_len(),
            (format!("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10000\r\n{ten_k}\r\n")).len() as u64
        );
    }

    #[test]
    fn decimal_lengths_match_the_formatted_numbers() {
        let mut edges = vec![0, u64::MAX];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            edges.extend([p - 1, p, p + 1, next - 1]);
            p = next;
        }
        for v in edges {
            assert_eq!(decimal_len(v), v.to_string().len() as u64, "{v}");
        }
    }

    #[test]
    fn every_command_length_is_its_words_encoded() {
        let words =
            |c: &Command| -> Vec<String> { c.to_string().split(' ').map(str::to_string).collect() };
        let cmds = [
            Command::Get(rc("k")),
            Command::Del(rc("key:12345")),
            Command::Smembers(rc("s")),
            Command::Sadd(rc("s"), rc("member")),
            Command::Mset(Rc::from(vec![
                (rc("a"), rc("1")),
                (rc("bb"), rc(&"v".repeat(120))),
            ])),
            Command::Mget(Rc::from(
                (0..12).map(|i| rc(&format!("k{i}"))).collect::<Vec<_>>(),
            )),
            Command::Wait(2, 12_345),
            Command::WaitAof(1, 0, 0),
        ];
        for c in cmds {
            let w = words(&c);
            let args: Vec<&[u8]> = w.iter().map(|s| s.as_bytes()).collect();
            assert_eq!(c.resp_len(), resp_array_len(&args), "{c}");
        }
        assert_eq!(
            select_len(12),
            "*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n".len() as u64
        );
    }

    #[test]
    fn write_flags() {
        assert!(Command::Del(rc("k")).is_write());
        assert!(!Command::Get(rc("k")).is_write());
        assert!(!Command::Wait(1, 0).is_write());
    }
}

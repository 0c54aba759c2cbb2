//! The history: every client operation as an invoke event and a completion (ok, fail or info),
//! in the JSON Lines format of DESIGN.md.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod server_name;
pub use server_name::ServerName;

/// A string of the history held once and shared by every event that names it (command names,
/// keys, values, server names, error texts, replication IDs): cloning it copies a pointer. It
/// reads and writes as a plain JSON string. One pointer wide and one allocation (`ArcStr`
/// keeps the count and length with the bytes), so an event spends 8 bytes on each string it
/// names and a value costs one allocation. Compared, ordered and hashed as its string.
#[derive(Clone, Default)]
pub struct Text(arcstr::ArcStr);

impl Text {
    /// The text as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(arcstr::ArcStr::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(arcstr::ArcStr::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::from(s.as_str())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// An event's value: null, an integer and a string are held without JSON's boxing (the
/// string shared with whoever else holds it); anything else (a set's members, a pair of a
/// `cas`) stays JSON. It reads and writes exactly as the JSON it stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Value {
    /// `null`.
    #[default]
    Null,
    /// An integer that fits an `i64`.
    Int(i64),
    /// A string.
    Str(Text),
    /// Any other JSON.
    Json(Box<serde_json::Value>),
}

impl Value {
    /// The string, if the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(t) => Some(t),
            _ => None,
        }
    }
    /// The integer, if the value is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Json(v) => v.as_i64(),
            _ => None,
        }
    }
    /// The array, if the value is one.
    pub fn as_array(&self) -> Option<&Vec<serde_json::Value>> {
        match self {
            Value::Json(v) => v.as_array(),
            _ => None,
        }
    }
    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Int(n) => serde_json::Value::from(*n),
            Value::Str(t) => serde_json::Value::String(t.to_string()),
            Value::Json(v) => (**v).clone(),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::String(s) => Value::Str(Text::from(s)),
            serde_json::Value::Number(n) if n.is_i64() => {
                Value::Int(n.as_i64().expect("an i64 number"))
            }
            other => Value::Json(Box::new(other)),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Text::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Text::from(s))
    }
}

impl From<Text> for Value {
    fn from(t: Text) -> Self {
        Value::Str(t)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Int(n) => s.serialize_i64(*n),
            Value::Str(t) => s.serialize_str(t),
            Value::Json(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(Value::from)
    }
}

/// What kind of history event a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation was sent.
    Invoke,
    /// It completed and took effect (a read carries the value read).
    Ok,
    /// It definitely did not take effect.
    Fail,
    /// Indeterminate: it may or may not have taken effect (timeouts, lost connections).
    Info,
}

/// A position in a replication history: the replication ID a primary writes under and the offset
/// its stream reached (`master_replid` and `master_repl_offset` in `INFO replication`). A write's
/// position names it: only the primary that created an ID extends it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Position {
    /// The replication ID (40 hex digits).
    pub replid: Text,
    /// The offset.
    pub offset: u64,
    /// Writes applied after `offset` that entered no stream: a primary without a backlog does
    /// not advance its offset (as in Redis), so its writes are told apart by their count under
    /// the same (ID, offset), this one included. 0 for streamed writes and for positions of
    /// data, absent from the JSON when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unstreamed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The command names simkv's clients issue, each held in one byte by an event; any other name
/// is held as its text in the event's [`Detail`].
const COMMANDS: [&str; 9] = [
    "set", "get", "incr", "append", "del", "sadd", "smembers", "mset", "mget",
];
/// An event's command byte for a name not in [`COMMANDS`].
const OTHER_COMMAND: u8 = COMMANDS.len() as u8;

/// What only some events carry, boxed so that the others spend 8 bytes on it: a write's
/// position (every completion of a write a primary applied), an error text (fails and infos),
/// and rarely both or a command name outside [`COMMANDS`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    Position(Position),
    Error(Text),
    Full(Box<FullDetail>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct FullDetail {
    f: Option<Text>,
    error: Option<Text>,
    position: Option<Position>,
    /// The answering server's name when the table of [`ServerName`]s is full.
    server: Option<Text>,
}

/// What a [`Detail`] is made of, each part absent or present.
#[derive(Default)]
struct Parts {
    f: Option<Text>,
    error: Option<Text>,
    position: Option<Position>,
    server: Option<Text>,
}

impl Detail {
    /// The smallest detail that holds these parts (`None` for none): one detail per set of
    /// parts, so events compare equal exactly when their parts do.
    fn of(parts: Parts) -> Option<Box<Self>> {
        let d = match (parts.f, parts.error, parts.position, parts.server) {
            (None, None, None, None) => return None,
            (None, None, Some(p), None) => Detail::Position(p),
            (None, Some(e), None, None) => Detail::Error(e),
            (f, error, position, server) => Detail::Full(Box::new(FullDetail {
                f,
                error,
                position,
                server,
            })),
        };
        Some(Box::new(d))
    }

    /// The parts of `detail`, to make it again with one changed.
    fn parts(detail: Option<&Self>) -> Parts {
        match detail {
            None => Parts::default(),
            Some(Detail::Position(p)) => Parts {
                position: Some(p.clone()),
                ..Parts::default()
            },
            Some(Detail::Error(e)) => Parts {
                error: Some(e.clone()),
                ..Parts::default()
            },
            Some(Detail::Full(d)) => Parts {
                f: d.f.clone(),
                error: d.error.clone(),
                position: d.position.clone(),
                server: d.server.clone(),
            },
        }
    }

    fn server(&self) -> Option<&Text> {
        match self {
            Detail::Full(d) => d.server.as_ref(),
            _ => None,
        }
    }

    fn f(&self) -> Option<&Text> {
        match self {
            Detail::Full(d) => d.f.as_ref(),
            _ => None,
        }
    }

    fn error(&self) -> Option<&Text> {
        match self {
            Detail::Error(e) => Some(e),
            Detail::Full(d) => d.error.as_ref(),
            Detail::Position(_) => None,
        }
    }

    fn position(&self) -> Option<&Position> {
        match self {
            Detail::Position(p) => Some(p),
            Detail::Full(d) => d.position.as_ref(),
            Detail::Error(_) => None,
        }
    }
}

/// One line of the history. A run records millions, so an event is kept small (48 bytes,
/// `tests::events_stay_compact`): the command is a byte for the commands simkv issues, the
/// answering server two ([`ServerName`]), and what only some events carry (a write's position,
/// an error) is boxed. Read its command, server, error and position through
/// [`HistoryEvent::f`], [`HistoryEvent::server`], [`HistoryEvent::error`] and
/// [`HistoryEvent::position`]; build one with [`HistoryEvent::new`] and the `with_` methods. It
/// reads and writes as the JSON line of DESIGN.md's history format, and compares equal to
/// another exactly when their lines would be the same.
#[derive(Clone, Debug)]
pub struct HistoryEvent {
    /// Simulated time in nanoseconds.
    pub time_ns: u64,
    /// Written value on invoke of a write; value read (or `null`) on a read's `ok`; the new
    /// counter value on an `incr`'s `ok`.
    pub value: Value,
    /// The key.
    pub key: Text,
    /// The command's name when not in [`COMMANDS`], the error, the position (and the server's
    /// name in the rare process with more server names than [`ServerName`] has ids).
    detail: Option<Box<Detail>>,
    /// The client process (one operation at a time per process).
    pub process: u32,
    /// Invoke or completion.
    pub kind: EventType,
    /// The command: its index in [`COMMANDS`], or [`OTHER_COMMAND`] (the name is in `detail`).
    command: u8,
    /// The server that answered (completions only), when its name has an id.
    server: Option<ServerName>,
}

impl PartialEq for HistoryEvent {
    fn eq(&self, other: &Self) -> bool {
        // By what the line holds: a server's name is the same whether it is held as an id or,
        // past the table of names, as text.
        (
            self.time_ns,
            self.process,
            self.kind,
            &self.key,
            &self.value,
        ) == (
            other.time_ns,
            other.process,
            other.kind,
            &other.key,
            &other.value,
        ) && (self.f(), self.server(), self.error(), self.position())
            == (other.f(), other.server(), other.error(), other.position())
    }
}

impl Eq for HistoryEvent {}

impl HistoryEvent {
    /// An event of `process` running the Redis command `f` (lower case) on `key`, without a
    /// server, error or position.
    pub fn new(
        process: u32,
        kind: EventType,
        f: &str,
        key: Text,
        value: Value,
        time_ns: u64,
    ) -> Self {
        let mut e = HistoryEvent {
            time_ns,
            value,
            key,
            server: None,
            detail: None,
            process,
            kind,
            command: 0,
        };
        e.set_f(f);
        e
    }

    /// The Redis command in lower case (`set`, `get`, `incr`, `append`, `del`, ...).
    pub fn f(&self) -> &str {
        match COMMANDS.get(self.command as usize) {
            Some(name) => name,
            None => self
                .detail
                .as_deref()
                .and_then(Detail::f)
                .expect("an event of another command holds its name"),
        }
    }

    /// The error text of a `fail`, or why an `info` is indeterminate.
    pub fn error(&self) -> Option<&str> {
        self.detail
            .as_deref()
            .and_then(Detail::error)
            .map(Text::as_str)
    }

    /// Where a write landed in the answering primary's replication history (completions of
    /// writes applied by a primary), for the lineage of acknowledged writes.
    pub fn position(&self) -> Option<&Position> {
        self.detail.as_deref().and_then(Detail::position)
    }

    /// The server that answered (completions only).
    pub fn server(&self) -> Option<&str> {
        match self.server {
            Some(name) => Some(name.as_str()),
            None => self
                .detail
                .as_deref()
                .and_then(Detail::server)
                .map(Text::as_str),
        }
    }

    /// Remakes the detail with `change` made to its parts.
    fn change_detail(&mut self, change: impl FnOnce(&mut Parts)) {
        let mut parts = Detail::parts(self.detail.as_deref());
        change(&mut parts);
        self.detail = Detail::of(parts);
    }

    /// The event with command `f`.
    pub fn set_f(&mut self, f: &str) {
        let other = match COMMANDS.iter().position(|c| *c == f) {
            Some(i) => {
                self.command = i as u8;
                None
            }
            None => {
                self.command = OTHER_COMMAND;
                Some(Text::from(f))
            }
        };
        self.change_detail(|p| p.f = other);
    }

    /// The event with the server that answered.
    pub fn with_server(self, server: Option<Text>) -> Self {
        let id = server.as_deref().and_then(ServerName::intern);
        self.with_server_named(server, id)
    }

    /// The event with the server that answered, its name already interned (`id`; `None` when
    /// the table of names had no room for it, or there is no server).
    pub fn with_server_named(mut self, server: Option<Text>, id: Option<ServerName>) -> Self {
        self.server = id;
        let kept = server.filter(|_| id.is_none());
        if kept.is_some() || self.detail.as_deref().and_then(Detail::server).is_some() {
            self.change_detail(|p| p.server = kept);
        }
        self
    }

    /// The event with an error text.
    pub fn with_error(mut self, error: Option<Text>) -> Self {
        self.change_detail(|p| p.error = error);
        self
    }

    /// The event with a position.
    pub fn with_position(mut self, position: Option<Position>) -> Self {
        self.set_position(position);
        self
    }

    /// Sets the event's position.
    pub fn set_position(&mut self, position: Option<Position>) {
        self.change_detail(|p| p.position = position);
    }

    /// The event of a completion with what it carries: the server that answered (its id when
    /// interned, else its name: a name beside an id is not kept), the error, the position; its
    /// detail made once.
    pub fn with_completion(
        mut self,
        server: (Option<Text>, Option<ServerName>),
        error: Option<Text>,
        position: Option<Position>,
    ) -> Self {
        let (name, id) = server;
        self.server = id;
        self.change_detail(|p| {
            p.server = name.filter(|_| id.is_none());
            p.error = error;
            p.position = position;
        });
        self
    }
}

/// A history line as JSON writes it, borrowed from an event.
#[derive(Serialize)]
struct EventOut<'a> {
    process: u32,
    #[serde(rename = "type")]
    kind: EventType,
    f: &'a str,
    key: &'a Text,
    value: &'a Value,
    time_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<&'a Position>,
}

/// A history line as JSON reads it.
#[derive(Deserialize)]
struct EventIn {
    process: u32,
    #[serde(rename = "type")]
    kind: EventType,
    f: Text,
    key: Text,
    #[serde(default)]
    value: Value,
    time_ns: u64,
    #[serde(default)]
    server: Option<Text>,
    #[serde(default)]
    error: Option<Text>,
    #[serde(default)]
    position: Option<Position>,
}

impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventOut {
            process: self.process,
            kind: self.kind,
            f: self.f(),
            key: &self.key,
            value: &self.value,
            time_ns: self.time_ns,
            server: self.server(),
            error: self.detail.as_deref().and_then(Detail::error),
            position: self.position(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for HistoryEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let e = EventIn::deserialize(d)?;
        Ok(
            HistoryEvent::new(e.process, e.kind, &e.f, e.key, e.value, e.time_ns)
                .with_server(e.server)
                .with_error(e.error)
                .with_position(e.position),
        )
    }
}

/// Whether the command named `f` only reads (`get`, `mget`, `smembers`): every other one may
/// write.
pub fn is_read(f: &str) -> bool {
    matches!(f, "get" | "mget" | "smembers")
}

/// The single-key command a multi-key command's operation on one of its keys is judged as:
/// `mset` as `set`, `mget` as `get`; any other name as it is.
pub fn per_key_f(f: &str) -> &str {
    match f {
        "mset" => "set",
        "mget" => "get",
        other => other,
    }
}

/// Pairs invokes with completions: each completion with the open invoke of its process, and
/// when a multi-key command left several open (one per key, invoked together), with the one of
/// its key. An invoke of a key the process has open already replaces it (that one never
/// completes). `key_of` gives an open operation's key.
#[derive(Debug, Default)]
pub struct OpenInvokes {
    /// Each process's latest open operation: processes below [`DENSE_PROCESSES`] by index
    /// (`NONE`: none open), the rest by id.
    latest: Vec<usize>,
    latest_sparse: std::collections::BTreeMap<u32, usize>,
    /// A process's other open operations, on other keys (a multi-key command's).
    others: std::collections::BTreeMap<u32, Vec<usize>>,
}

/// Process ids held in a plain vector by [`OpenInvokes`] (a simulated run numbers its
/// processes from 0; a file may use any id).
const DENSE_PROCESSES: u32 = 1 << 16;
/// No open operation.
const NONE: usize = usize::MAX;

impl OpenInvokes {
    /// Sets `process`'s latest open operation, giving back the one it replaces.
    fn set_latest(&mut self, process: u32, op: usize) -> Option<usize> {
        if process >= DENSE_PROCESSES {
            return self.latest_sparse.insert(process, op);
        }
        let p = process as usize;
        if self.latest.len() <= p {
            self.latest.resize(p + 1, NONE);
        }
        let prev = std::mem::replace(&mut self.latest[p], op);
        (prev != NONE).then_some(prev)
    }

    /// Takes `process`'s latest open operation.
    fn take_latest(&mut self, process: u32) -> Option<usize> {
        if process >= DENSE_PROCESSES {
            return self.latest_sparse.remove(&process);
        }
        let prev = std::mem::replace(self.latest.get_mut(process as usize)?, NONE);
        (prev != NONE).then_some(prev)
    }

    /// Records operation `op`, invoked by `process` on `key`.
    pub fn invoke<'k>(
        &mut self,
        process: u32,
        key: &str,
        op: usize,
        key_of: impl Fn(usize) -> &'k str,
    ) {
        if let Some(prev) = self.set_latest(process, op)
            && key_of(prev) != key
        {
            self.others.entry(process).or_default().push(prev);
        }
    }

    /// The open operation a completion of `process` on `key` completes, if any.
    pub fn complete<'k>(
        &mut self,
        process: u32,
        key: &str,
        key_of: impl Fn(usize) -> &'k str,
    ) -> Option<usize> {
        if self.others.is_empty() {
            return self.take_latest(process);
        }
        let Some(others) = self.others.get_mut(&process) else {
            return self.take_latest(process);
        };
        let op = match others.iter().position(|&i| key_of(i) == key) {
            Some(at) => others.remove(at),
            None => {
                let next = others.pop();
                let latest = self.take_latest(process);
                if let Some(next) = next {
                    self.set_latest(process, next);
                }
                latest?
            }
        };
        if self.others.get(&process).is_some_and(Vec::is_empty) {
            self.others.remove(&process);
        }
        Some(op)
    }
}

/// A whole history, in time order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// The events, sorted by time then process.
    pub events: Vec<HistoryEvent>,
}

/// One operation: an invoke matched with its completion, borrowed from the history's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation<'a> {
    /// The client process.
    pub process: u32,
    /// The command name.
    pub f: &'a str,
    /// The key.
    pub key: &'a str,
    /// The invoke's value (what was written).
    pub input: &'a Value,
    /// The completion's value (what was read), `None` when the operation never completed.
    pub output: Option<&'a Value>,
    /// How it completed (`Info` when it never did).
    pub outcome: EventType,
    /// Invoke time.
    pub invoke_ns: u64,
    /// Completion time (`u64::MAX` when the operation never completed).
    pub complete_ns: u64,
    /// The server that answered.
    pub server: Option<&'a str>,
    /// Where the write landed in the answering primary's replication history.
    pub position: Option<&'a Position>,
}

impl History {
    /// Builds a history from per-process event lists, merged in (time, process) order.
    pub fn merge(mut events: Vec<HistoryEvent>) -> Self {
        events.sort_by_key(|e| (e.time_ns, e.process));
        History { events }
    }

    /// Pairs each invoke with the next completion of the same process (and key, for the
    /// operations of a multi-key command, [`OpenInvokes`]); a multi-key command's operations
    /// are named as the single-key command each is judged as ([`per_key_f`]).
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut open = OpenInvokes::default();
        let mut ops: Vec<Operation<'_>> = Vec::with_capacity(self.events.len() / 2 + 1);
        for e in &self.events {
            match e.kind {
                EventType::Invoke => {
                    open.invoke(e.process, &e.key, ops.len(), |i| ops[i].key);
                    ops.push(Operation {
                        process: e.process,
                        f: per_key_f(e.f()),
                        key: &e.key,
                        input: &e.value,
                        output: None,
                        outcome: EventType::Info,
                        invoke_ns: e.time_ns,
                        complete_ns: u64::MAX,
                        server: None,
                        position: None,
                    });
                }
                kind => {
                    if let Some(i) = open.complete(e.process, &e.key, |i| ops[i].key) {
                        let op = &mut ops[i];
                        op.outcome = kind;
                        op.output = Some(&e.value);
                        op.complete_ns = if kind == EventType::Info {
                            u64::MAX
                        } else {
                            e.time_ns
                        };
                        op.server = e.server();
                        op.position = e.position();
                    }
                }
            }
        }
        ops
    }

    /// Writes the history as JSON Lines.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 96);
        for e in &self.events {
            out.push_str(&serde_json::to_string(e).expect("history events serialise"));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(process: u32, kind: EventType, t: u64, value: Value) -> HistoryEvent {
        HistoryEvent::new(process, kind, "set", "k".into(), value, t)
    }

    fn keyed(process: u32, kind: EventType, f: &str, key: &str, t: u64) -> HistoryEvent {
        HistoryEvent::new(process, kind, f, key.into(), Value::Null, t)
    }

    #[test]
    fn a_multi_key_command_pairs_each_key_with_its_own_completion() {
        // Process 1's MSET of a and b, completed in the other order; process 2's GET between.
        let h = History {
            events: vec![
                keyed(1, EventType::Invoke, "mset", "a", 1),
                keyed(1, EventType::Invoke, "mset", "b", 1),
                keyed(2, EventType::Invoke, "get", "a", 2),
                keyed(1, EventType::Ok, "mset", "b", 5),
                keyed(2, EventType::Ok, "get", "a", 6),
                keyed(1, EventType::Info, "mset", "a", 7),
            ],
        };
        let ops = h.operations();
        let by_key = |p: u32, k: &str| *ops.iter().find(|o| o.process == p && o.key == k).unwrap();
        assert_eq!(ops.len(), 3);
        let (a, b) = (by_key(1, "a"), by_key(1, "b"));
        assert_eq!((a.outcome, a.complete_ns), (EventType::Info, u64::MAX));
        assert_eq!((b.outcome, b.complete_ns), (EventType::Ok, 5));
        // Judged as the single-key commands they are per key.
        assert_eq!((a.f, by_key(2, "a").f), ("set", "get"));
        // A process that invokes a key it has open again replaces it, as before.
        let again = History {
            events: vec![
                keyed(1, EventType::Invoke, "set", "a", 1),
                keyed(1, EventType::Invoke, "set", "a", 2),
                keyed(1, EventType::Ok, "set", "a", 3),
            ],
        };
        let ops = again.operations();
        assert_eq!(ops[0].outcome, EventType::Info);
        assert_eq!((ops[1].invoke_ns, ops[1].complete_ns), (2, 3));
    }

    #[test]
    fn events_stay_compact() {
        // A run records millions of events: each string one pointer, the value two words, the
        // command a byte, the server two, what only some events carry one pointer to a box no
        // larger than a position and its tag.
        assert_eq!(std::mem::size_of::<Text>(), 8);
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert!(std::mem::size_of::<HistoryEvent>() <= 48);
        assert!(std::mem::size_of::<Detail>() <= std::mem::size_of::<Position>() + 8);
    }

    #[test]
    fn an_event_reads_and_writes_every_field_of_its_line() {
        let pos = Position {
            replid: "ab".into(),
            offset: 7,
            unstreamed: 0,
        };
        let cases = [
            HistoryEvent::new(1, EventType::Invoke, "set", "k".into(), "v".into(), 5),
            HistoryEvent::new(1, EventType::Ok, "set", "k".into(), "v".into(), 6)
                .with_server(Some("p1".into()))
                .with_position(Some(pos.clone())),
            HistoryEvent::new(2, EventType::Fail, "get", "k".into(), Value::Null, 6)
                .with_error(Some("READONLY".into())),
            // A command simkv does not issue, with an error and a position: every part kept.
            HistoryEvent::new(3, EventType::Info, "getdel", "k".into(), Value::Int(3), 9)
                .with_server(Some("p2".into()))
                .with_position(Some(pos.clone()))
                .with_error(Some("timeout".into())),
        ];
        for e in &cases {
            let line = serde_json::to_string(e).unwrap();
            let back: HistoryEvent = serde_json::from_str(&line).unwrap();
            assert_eq!(&back, e, "{line}");
        }
        let other = &cases[3];
        assert_eq!(other.f(), "getdel");
        assert_eq!(other.error(), Some("timeout"));
        assert_eq!(other.position(), Some(&pos));
        assert_eq!(cases[1].f(), "set");
        assert_eq!(cases[1].error(), None);
        assert_eq!(cases[2].position(), None);
        // The line is DESIGN.md's, field for field and in that order.
        assert_eq!(
            serde_json::to_string(&cases[1]).unwrap(),
            r#"{"process":1,"type":"ok","f":"set","key":"k","value":"v","time_ns":6,"server":"p1","position":{"replid":"ab","offset":7}}"#
        );
        // Setting the command again replaces it, keeping the other parts.
        let mut e = cases[3].clone();
        e.set_f("get");
        assert_eq!((e.f(), e.error()), ("get", Some("timeout")));
        e.set_f("getdel");
        assert_eq!(e, cases[3]);
        assert_eq!((cases[1].server(), cases[2].server()), (Some("p1"), None));
        // A server name the table had no room for is kept as text: read, written and given up
        // again as a name with an id, its other parts kept.
        let ok = || HistoryEvent::new(1, EventType::Ok, "set", "k".into(), "v".into(), 6);
        let kept = ok()
            .with_server_named(Some("p1".into()), None)
            .with_position(Some(pos.clone()));
        assert_eq!(kept.server(), Some("p1"));
        assert_eq!(kept, cases[1]);
        assert_ne!(kept, cases[1].clone().with_server(Some("p2".into())));
        assert_eq!(
            serde_json::to_string(&kept).unwrap(),
            serde_json::to_string(&cases[1]).unwrap()
        );
        let named = kept.with_server(Some("p1".into()));
        assert_eq!(named, cases[1]);
        let completed = ok().with_completion((Some("p9".into()), None), Some("e".into()), None);
        assert_eq!(
            (completed.server(), completed.error()),
            (Some("p9"), Some("e"))
        );
        let interned = ServerName::intern("p9");
        let completed =
            ok().with_completion((Some("p9".into()), interned), None, Some(pos.clone()));
        assert_eq!(
            (completed.server(), completed.position()),
            (Some("p9"), Some(&pos))
        );
        assert_eq!(
            completed,
            ok().with_server(Some("p9".into()))
                .with_position(Some(pos.clone()))
        );
    }

    #[test]
    fn operations_pair_invokes_with_completions() {
        let h = History::merge(vec![
            ev(2, EventType::Ok, 5, "a".into()),
            ev(1, EventType::Invoke, 1, "b".into()),
            ev(2, EventType::Invoke, 2, "a".into()),
            ev(1, EventType::Info, 9, Value::Null),
        ]);
        let ops = h.operations();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].process, 1);
        assert_eq!(ops[0].outcome, EventType::Info);
        assert_eq!(ops[0].complete_ns, u64::MAX);
        assert_eq!(ops[1].complete_ns, 5);
        let line = serde_json::to_string(&h.events[0]).unwrap();
        assert!(line.contains("\"type\":\"invoke\""), "{line}");
    }
}

//! Jepsen / Knossos histories in EDN: operation maps (`:process`, `:type`, `:f`, `:value`,
//! optional `:time`, `:index`, `:key`, `:error`) checked against Knossos's models. As Knossos
//! does, file order is real-time order, `:fail` operations did not happen, `:info` operations
//! may take effect at any later time, nemesis operations are skipped, and a read whose value
//! is nil is a read of an unknown value (model.clj: "Nil reads are always legal").

use std::collections::BTreeMap;

use super::Tally;
use super::edn::{self, Edn};
use super::events::{self, Clock, InputError, Paired, RawEvent};
use super::model::{Model, RegisterInput, RegisterModel, RegisterOutput};
use super::multi_register::{self, Micro, MultiRegisterModel, TxnOutput};
use super::options::{CheckOptions, ModelKind};
use super::search::Op;
use crate::history::EventType;

/// Interned EDN values, keyed by their printed form (`3` and `"3"` differ, as in Clojure).
#[derive(Debug, Default)]
pub struct Values {
    index: BTreeMap<String, u32>,
    names: Vec<String>,
}

impl Values {
    fn id(&mut self, v: &Edn) -> u32 {
        let name = v.to_string();
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        self.names.push(name.clone());
        self.index.insert(name, self.names.len() as u32 - 1);
        self.names.len() as u32 - 1
    }
}

/// A register whose values print as the history wrote them.
struct NamedRegister<'a> {
    inner: RegisterModel,
    names: &'a [String],
}

impl Model for NamedRegister<'_> {
    type State = Option<u32>;
    type Input = RegisterInput;
    type Output = RegisterOutput;
    fn init(&self) -> Option<u32> {
        self.inner.init()
    }
    fn step(&self, s: &Option<u32>, i: &RegisterInput, o: &RegisterOutput) -> Option<Option<u32>> {
        self.inner.step(s, i, o)
    }
    fn keeps_state(&self, i: &RegisterInput, o: &RegisterOutput) -> bool {
        self.inner.keeps_state(i, o)
    }
    fn describe(&self, i: &RegisterInput, o: &RegisterOutput) -> String {
        let name = |v: &u32| self.names[*v as usize].clone();
        let op = match i {
            RegisterInput::Read => "read".to_string(),
            RegisterInput::Write(v) => format!("write {}", name(v)),
            RegisterInput::Cas(a, b) => format!("cas {} -> {}", name(a), name(b)),
            RegisterInput::Delete => "delete".into(),
        };
        let result = match o {
            RegisterOutput::Value(v) => v.as_ref().map_or("nil".into(), name),
            RegisterOutput::Unknown => "?".into(),
            _ => "ok".into(),
        };
        format!("{op} -> {result}")
    }
}

fn name_of(v: &Edn) -> Option<String> {
    match v {
        Edn::Keyword(s) | Edn::Symbol(s) | Edn::Str(s) => Some(s.clone()),
        Edn::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The model to use when none is given: `multi-register` for `:txn` histories, `kv` when
/// operations carry a `:key`, else `cas-register`.
fn default_model(items: &[(usize, Edn)]) -> ModelKind {
    if items
        .iter()
        .any(|(_, m)| m.get("f") == Some(&Edn::Keyword("txn".into())))
    {
        ModelKind::MultiRegister
    } else if items.iter().any(|(_, m)| m.get("key").is_some()) {
        ModelKind::Kv
    } else {
        ModelKind::CasRegister
    }
}

/// One operation map as an event; `None` for the nemesis's entries.
fn event(line: usize, map: &Edn, model: ModelKind) -> Result<Option<RawEvent<Edn>>, InputError> {
    let bad = |m: String| InputError::new(line, m);
    if !matches!(map, Edn::Map(..)) {
        return Err(bad(format!("expected an operation map, found {map}")));
    }
    let process = match map.get("process") {
        Some(Edn::Keyword(k)) if k == "nemesis" => return Ok(None),
        Some(p) => name_of(p).ok_or_else(|| bad(format!(":process {p} is not a name")))?,
        None => return Err(bad("the operation has no :process".into())),
    };
    let kind = match map.get("type") {
        Some(Edn::Keyword(t)) => match t.as_str() {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            other => return Err(bad(format!("unknown :type :{other}"))),
        },
        other => return Err(bad(format!(":type must be a keyword, found {other:?}"))),
    };
    let f = map
        .get("f")
        .and_then(name_of)
        .ok_or_else(|| bad("the operation has no :f".into()))?;
    let time = match map.get("time") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
        Some(t) => return Err(bad(format!(":time {t} is not a non-negative integer"))),
    };
    let mut value = map.get("value").cloned().unwrap_or(Edn::Nil);
    let mut key = map.get("key").map(|k| k.to_string());
    if model == ModelKind::Kv && key.is_none() {
        // jepsen.independent: the value is a [key value] tuple.
        match value.items() {
            Some([k, v]) => (key, value) = (Some(k.to_string()), v.clone()),
            _ => {
                return Err(bad(format!(
                    "kv needs a :key or a [key value] :value, found {value}"
                )));
            }
        }
    }
    let error = map.get("error").map(|e| e.to_string());
    Ok(Some(RawEvent {
        line,
        process,
        kind,
        f,
        key,
        value,
        time,
        error,
    }))
}

fn known_f(model: ModelKind) -> &'static dyn Fn(&str) -> bool {
    match model {
        ModelKind::Register => &|f| matches!(f, "read" | "write"),
        ModelKind::CasRegister | ModelKind::Kv => &|f| matches!(f, "read" | "write" | "cas"),
        ModelKind::MultiRegister => &|f| f == "txn",
    }
}

/// Reads an EDN history into paired operations and the model to check them against.
pub fn read(text: &str, opts: &CheckOptions) -> Result<(ModelKind, Vec<Paired<Edn>>), InputError> {
    let items = edn::read_history(text).map_err(|e| InputError::new(e.line, e.message))?;
    let model = opts.model.unwrap_or_else(|| default_model(&items));
    let mut events = Vec::with_capacity(items.len());
    for (line, map) in &items {
        if let Some(e) = event(*line, map, model)? {
            events.push(e);
        }
    }
    let ops = events::pair(events, Clock::FilePosition, known_f(model))?;
    Ok((model, ops))
}

/// One operation for the register model; `None` when it constrains nothing.
fn register_op(
    p: &Paired<Edn>,
    values: &mut Values,
) -> Result<Option<Op<RegisterInput, RegisterOutput>>, InputError> {
    let known = p.outcome == EventType::Ok;
    let (input, output) = match p.f.as_str() {
        "read" => match p.output.as_ref().filter(|_| known) {
            None | Some(Edn::Nil) => return Ok(None),
            Some(v) => (
                RegisterInput::Read,
                RegisterOutput::Value(Some(values.id(v))),
            ),
        },
        "write" => (
            RegisterInput::Write(values.id(&p.input)),
            RegisterOutput::Done,
        ),
        _ => match p.input.items() {
            Some([old, new]) => {
                let cas = RegisterInput::Cas(values.id(old), values.id(new));
                (cas, RegisterOutput::CasOk)
            }
            _ => {
                return Err(InputError::new(
                    p.line,
                    format!("cas needs :value [old new], found {}", p.input),
                ));
            }
        },
    };
    Ok(match p.outcome {
        EventType::Fail => None,
        EventType::Ok => Some(Op {
            call: p.call,
            ret: p.ret,
            input,
            output,
        }),
        _ => Some(Op {
            call: p.call,
            ret: p.ret,
            input,
            output: RegisterOutput::Unknown,
        }),
    })
}

/// Checks registers, one per key (a single register has the key "register"), smallest
/// first. Returns the number of keys.
pub fn check_registers(
    ops: &[Paired<Edn>],
    initial: &Edn,
    opts: &CheckOptions,
    tally: &mut Tally,
) -> Result<usize, InputError> {
    let mut values = Values::default();
    let initial = Some(values.id(initial));
    let mut by_key: BTreeMap<&str, Vec<Op<RegisterInput, RegisterOutput>>> = BTreeMap::new();
    for p in ops {
        let key = p.key.as_deref().unwrap_or("register");
        let entry = by_key.entry(key).or_default();
        if let Some(op) = register_op(p, &mut values)? {
            entry.push(op);
        }
    }
    let model = NamedRegister {
        inner: RegisterModel { initial },
        names: &values.names,
    };
    let mut parts: Vec<(&str, Vec<_>)> = by_key.into_iter().collect();
    parts.sort_by_key(|(k, v)| (v.len(), *k));
    for (key, part) in &parts {
        if !tally.add(key, &model, part, opts) {
            break;
        }
    }
    Ok(parts.len())
}

/// One step of a transaction: (is a write, key, value).
type TxnStep = (bool, String, Edn);

fn txn(p: &Paired<Edn>, v: &Edn) -> Result<Vec<TxnStep>, InputError> {
    let bad = || {
        InputError::new(
            p.line,
            format!("a txn is [[:read k v] [:write k v] ...], found {v}"),
        )
    };
    let items = v.items().ok_or_else(bad)?;
    items
        .iter()
        .map(|m| match m.items() {
            Some([Edn::Keyword(f), k, x]) if f == "read" || f == "write" => {
                Ok((f == "write", name_of(k).ok_or_else(bad)?, x.clone()))
            }
            _ => Err(bad()),
        })
        .collect()
}

/// A transaction's steps: the completion's when it completed (its reads carry values), the
/// invoke's otherwise. Both must name the same steps.
fn txn_steps(p: &Paired<Edn>) -> Result<Vec<TxnStep>, InputError> {
    let invoked = txn(p, &p.input)?;
    let Some(done) = p.output.as_ref().filter(|_| p.outcome == EventType::Ok) else {
        return Ok(invoked);
    };
    let completed = txn(p, done)?;
    let same = completed.len() == invoked.len()
        && completed
            .iter()
            .zip(&invoked)
            .all(|(a, b)| a.0 == b.0 && a.1 == b.1);
    if !same {
        return Err(InputError::new(
            p.line,
            "the txn's completion does not list the same reads and writes as its invoke",
        ));
    }
    Ok(completed)
}

/// Transactions split into groups of linked keys, each key with its slot in its group.
struct Groups {
    /// Key names per group, by slot.
    names: Vec<Vec<String>>,
    /// Operations per group.
    parts: Vec<Vec<Op<Vec<Micro>, TxnOutput>>>,
}

fn micro_op(
    p: &Paired<Edn>,
    steps: &[TxnStep],
    slots: &[u32],
    values: &mut Values,
) -> Op<Vec<Micro>, TxnOutput> {
    let input = steps
        .iter()
        .zip(slots)
        .map(|((write, _, v), &slot)| match (write, v) {
            (true, v) => Micro::Write(slot, values.id(v)),
            (false, Edn::Nil) => Micro::Read(slot, None),
            (false, v) => Micro::Read(slot, Some(values.id(v))),
        })
        .collect();
    let output = if p.outcome == EventType::Ok {
        TxnOutput::Ok
    } else {
        TxnOutput::Unknown
    };
    Op {
        call: p.call,
        ret: p.ret,
        input,
        output,
    }
}

fn group_txns(ops: &[Paired<Edn>], values: &mut Values) -> Result<Groups, InputError> {
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    let mut txns = Vec::new();
    for p in ops.iter().filter(|p| p.outcome != EventType::Fail) {
        let steps = txn_steps(p)?;
        let mut touched = Vec::with_capacity(steps.len());
        for (_, k, _) in &steps {
            let n = keys.len();
            touched.push(*keys.entry(k.clone()).or_insert(n));
        }
        txns.push((p, steps, touched));
    }
    let touched: Vec<Vec<usize>> = txns.iter().map(|t| t.2.clone()).collect();
    let group_of = multi_register::group_keys(keys.len(), &touched);
    let count = group_of.iter().max().map_or(0, |g| g + 1);
    let mut names = vec![Vec::new(); count];
    let mut slot = vec![0u32; keys.len()];
    for (name, &k) in &keys {
        slot[k] = names[group_of[k]].len() as u32;
        names[group_of[k]].push(name.clone());
    }
    let mut parts = vec![Vec::new(); count];
    for (p, steps, touched) in &txns {
        let slots: Vec<u32> = touched.iter().map(|&k| slot[k]).collect();
        if let Some(&k) = touched.first() {
            parts[group_of[k]].push(micro_op(p, steps, &slots, values));
        }
    }
    Ok(Groups { names, parts })
}

/// Checks multi-register transactions, group by group of linked keys, smallest first.
/// Returns the number of groups.
pub fn check_multi(
    ops: &[Paired<Edn>],
    initial: &Edn,
    opts: &CheckOptions,
    tally: &mut Tally,
) -> Result<usize, InputError> {
    let mut values = Values::default();
    let initial = values.id(initial);
    let groups = group_txns(ops, &mut values)?;
    let mut order: Vec<usize> = (0..groups.parts.len()).collect();
    order.sort_by_key(|&g| (groups.parts[g].len(), g));
    for g in order {
        let model = MultiRegisterModel {
            initial,
            keys: groups.names[g].clone(),
            values: values.names.clone(),
        };
        if !tally.add(&groups.names[g].join(","), &model, &groups.parts[g], opts) {
            break;
        }
    }
    Ok(groups.parts.len())
}

/// Reads `--initial-value` (default nil) as EDN.
pub fn initial_value(opts: &CheckOptions) -> Result<Edn, String> {
    let Some(text) = &opts.initial_value else {
        return Ok(Edn::Nil);
    };
    match edn::read_all(text) {
        Ok(forms) if forms.len() == 1 => Ok(forms.into_iter().next().expect("one form")),
        _ => Err(format!("--initial-value `{text}` is not one EDN value")),
    }
}

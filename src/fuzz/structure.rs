//! Structure-aware mutations: TOML values are parsed, changed as values (type swaps, every
//! number set to zero, huge or negative, sections removed, unknown keys added, arrays emptied
//! or duplicated) and written back; `--set` overrides are drawn from a scenario's own paths.

use rand::{Rng, RngExt};
use toml::{Table, Value};

use super::mutate::TOKENS;
use super::target::SET_SEPARATOR;

/// One step of a path into a TOML document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every value's path (tables and arrays included), depth first, in key order.
fn paths(table: &Table) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    for (k, v) in table {
        walk(v, vec![Step::Key(k.clone())], &mut out);
    }
    out
}

fn walk(v: &Value, here: Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(here.clone());
    match v {
        Value::Table(t) => {
            for (k, c) in t {
                let mut p = here.clone();
                p.push(Step::Key(k.clone()));
                walk(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                let mut p = here.clone();
                p.push(Step::Index(i));
                walk(c, p, out);
            }
        }
        _ => {}
    }
}

fn get_mut<'a>(table: &'a mut Table, path: &[Step]) -> Option<&'a mut Value> {
    let (Step::Key(first), rest) = path.split_first()? else {
        return None;
    };
    let mut v = table.get_mut(first)?;
    for step in rest {
        v = match (step, v) {
            (Step::Key(k), Value::Table(t)) => t.get_mut(k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Changes a TOML document as values; `None` when the text is not valid TOML.
pub fn mutate_toml(rng: &mut impl Rng, text: &str) -> Option<String> {
    let mut table: Table = text.parse().ok()?;
    let all = paths(&table);
    if all.is_empty() {
        table.insert("name".into(), Value::String(String::new()));
        return toml::to_string(&table).ok();
    }
    let path = all[rng.random_range(0..all.len())].clone();
    match rng.random_range(0..7) {
        0 => {
            let v = get_mut(&mut table, &path)?;
            *v = swap_type(rng, v);
        }
        1 => every_number(rng, &mut table),
        2 => remove(&mut table, &path),
        3 => add_unknown_key(rng, &mut table, &path),
        4 => *get_mut(&mut table, &path)? = interesting_value(rng),
        5 => reshape_array(rng, get_mut(&mut table, &path)?),
        _ => clone_sibling(rng, &mut table, &path),
    }
    toml::to_string(&table).ok()
}

/// The same value as another type: a string as a number, a number as a table, and so on.
fn swap_type(rng: &mut impl Rng, v: &Value) -> Value {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match rng.random_range(0..7) {
        0 => Value::String(text),
        1 => Value::Integer(text.trim_matches('"').parse().unwrap_or(-1)),
        2 => Value::Float(text.trim_matches('"').parse().unwrap_or(f64::MAX)),
        3 => Value::Boolean(text.len() % 2 == 0),
        4 => Value::Array(vec![v.clone()]),
        5 => Value::Array(Vec::new()),
        _ => {
            let mut t = Table::new();
            t.insert(text, v.clone());
            Value::Table(t)
        }
    }
}

/// Sets every number, and every string that starts with a digit (durations, sizes, rates),
/// to zero, a huge value or a negative value (one choice for the whole document); a fourth
/// choice gives strings a long fraction (`"9.999999999s"`).
fn every_number(rng: &mut impl Rng, table: &mut Table) {
    let mode = rng.random_range(0..4);
    for path in paths(table) {
        let Some(v) = get_mut(table, &path) else {
            continue;
        };
        let digit_start =
            matches!(v, Value::String(s) if s.starts_with(|c: char| c.is_ascii_digit()));
        match (mode, &v) {
            (0, Value::Integer(_)) => *v = Value::Integer(0),
            (1, Value::Integer(_)) => *v = Value::Integer(i64::MAX),
            (2 | 3, Value::Integer(_)) => *v = Value::Integer(-1),
            (0, Value::Float(_)) => *v = Value::Float(0.0),
            (1, Value::Float(_)) => *v = Value::Float(1e308),
            (2 | 3, Value::Float(_)) => *v = Value::Float(-1e308),
            _ if digit_start => *v = Value::String(scaled_unit(mode, v)),
            _ => {}
        }
    }
}

/// `"250ms"` as `"0ms"`, `"18446744073709551615ms"` or `"-250ms"`.
fn scaled_unit(mode: u32, v: &Value) -> String {
    let s = v.as_str().unwrap_or("");
    let unit = s.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    match mode {
        0 => format!("0{unit}"),
        1 => format!("18446744073709551615{unit}"),
        2 => format!("-{s}"),
        _ => format!("9.999999999{unit}"),
    }
}

fn remove(table: &mut Table, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let container = if parent.is_empty() {
        None
    } else {
        get_mut(table, parent)
    };
    match (last, container) {
        (Step::Key(k), None) => {
            table.remove(k);
        }
        (Step::Key(k), Some(Value::Table(t))) => {
            t.remove(k);
        }
        (Step::Index(i), Some(Value::Array(a))) => {
            a.remove(*i);
        }
        _ => {}
    }
}

fn add_unknown_key(rng: &mut impl Rng, table: &mut Table, path: &[Step]) {
    let key = ["bogus", "nmae", "", "servers", "Seed", "é", "a.b"][rng.random_range(0..7)];
    let value = interesting_value(rng);
    match get_mut(table, path) {
        Some(Value::Table(t)) => {
            t.insert(key.into(), value);
        }
        _ => {
            table.insert(key.into(), value);
        }
    }
}

/// A value from the interesting tokens, read as TOML when it is TOML, else as a string.
fn interesting_value(rng: &mut impl Rng) -> Value {
    let token = TOKENS[rng.random_range(0..TOKENS.len())];
    let doc = format!("v = {token}");
    match doc.parse::<Table>().ok().and_then(|mut t| t.remove("v")) {
        Some(v) => v,
        None => Value::String(token.trim_matches('"').to_string()),
    }
}

fn reshape_array(rng: &mut impl Rng, v: &mut Value) {
    match v {
        Value::Array(a) if !a.is_empty() && rng.random_range(0..2) == 0 => {
            let copies = rng.random_range(1..=64);
            let first = a[0].clone();
            a.extend(std::iter::repeat_n(first, copies));
        }
        Value::Array(a) => a.clear(),
        other => *other = Value::Array(vec![other.clone(), other.clone()]),
    }
}

/// Copies a table entry under a near-identical name (`p1` as `p1 `, `P1`, `p1é`), so names
/// collide, differ only in case, or carry unicode.
fn clone_sibling(rng: &mut impl Rng, table: &mut Table, path: &[Step]) {
    let Some((Step::Key(k), parent)) = path.split_last() else {
        return;
    };
    let name = match rng.random_range(0..4) {
        0 => format!("{k} "),
        1 => k.to_uppercase(),
        2 => format!("{k}\u{e9}"),
        _ => String::new(),
    };
    let source = get_mut(table, path).cloned();
    let target = if parent.is_empty() {
        Some(table)
    } else {
        match get_mut(table, parent) {
            Some(Value::Table(t)) => Some(t),
            _ => None,
        }
    };
    if let (Some(t), Some(v)) = (target, source) {
        t.insert(name, v);
    }
}

/// A `set` input for this scenario: one to four overrides drawn from its own paths (some
/// mangled) with interesting values, above the `%%` line, and the scenario below it.
pub fn set_input(rng: &mut impl Rng, scenario: &str) -> String {
    let leaves: Vec<String> = scenario
        .parse::<Table>()
        .map(|t| paths(&t).iter().filter_map(|p| dotted(p)).collect())
        .unwrap_or_default();
    let mut lines = Vec::new();
    for _ in 0..rng.random_range(1..=4) {
        let path = if leaves.is_empty() || rng.random_range(0..8) == 0 {
            "servers.defaults.appendfsync".to_string()
        } else {
            leaves[rng.random_range(0..leaves.len())].clone()
        };
        lines.push(format!(
            "{}={}",
            mangle_path(rng, path),
            override_value(rng)
        ));
    }
    format!("{}\n{SET_SEPARATOR}\n{scenario}", lines.join("\n"))
}

fn dotted(path: &[Step]) -> Option<String> {
    let keys: Option<Vec<&str>> = path
        .iter()
        .map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    keys.map(|k| k.join("."))
}

fn mangle_path(rng: &mut impl Rng, path: String) -> String {
    match rng.random_range(0..10) {
        0 => format!("{path}.extra"),
        1 => format!("{path}."),
        2 => format!(".{path}"),
        3 => path.replacen('.', "..", 1),
        4 => path
            .rsplit_once('.')
            .map_or(String::new(), |(h, _)| h.to_string()),
        5 => format!("{path}=x"),
        6 => format!(" {path}\u{e9} "),
        _ => path,
    }
}

fn override_value(rng: &mut impl Rng) -> String {
    match rng.random_range(0..6) {
        0 => "{a = 1}".into(),
        1 => "[1, \"a\", [[]]]".into(),
        2 => String::new(),
        3 => "always".into(),
        _ => TOKENS[rng.random_range(0..TOKENS.len())].replace('\n', ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const DOC: &str = "name = \"x\"\nduration = \"60s\"\n[servers.p1]\nregion = \"a\"\n\
                       [workloads.w]\nclients = 8\nmix = { set = 40, get = 60 }\n";

    #[test]
    fn every_number_becomes_zero_huge_or_negative() {
        let mut table: Table = DOC.parse().unwrap();
        every_number(&mut ChaCha8Rng::seed_from_u64(0), &mut table);
        let text = toml::to_string(&table).unwrap();
        let changed = [
            "clients = 0",
            "clients = 9223372036854775807",
            "clients = -1",
        ];
        assert!(changed.iter().any(|c| text.contains(c)), "{text}");
        assert!(!text.contains("\"60s\""), "{text}");
    }

    #[test]
    fn value_mutations_keep_toml_and_change_it() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut changed = 0;
        for _ in 0..500 {
            let out = mutate_toml(&mut rng, DOC).expect("DOC is TOML");
            assert!(out.parse::<Table>().is_ok(), "{out}");
            changed += usize::from(out.parse::<Table>() != DOC.parse::<Table>());
        }
        assert!(changed > 400, "{changed}");
    }

    #[test]
    fn set_inputs_name_the_scenario_paths() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let text = set_input(&mut rng, DOC);
        let (overrides, scenario) = super::super::target::split_set_input(&text);
        assert_eq!(scenario, DOC);
        assert!(
            !overrides.is_empty() && overrides.len() <= 4,
            "{overrides:?}"
        );
    }
}

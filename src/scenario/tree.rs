//! A TOML document as a tree of values that remember where they came from (a byte range in the
//! file, or a `--set` override), so that every error can point at its line and column.

use toml::de::{DeTable, DeValue};

use super::diag::Origin;

/// A value and its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the value was written.
    pub origin: Origin,
    /// The value.
    pub val: Val,
}

/// A TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Node>),
    /// A table.
    Table(Table),
    /// A date or time (never valid in a scenario).
    Datetime,
}

impl Val {
    /// The TOML type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "a string",
            Val::Int(_) => "an integer",
            Val::Float(_) => "a float",
            Val::Bool(_) => "a boolean",
            Val::Array(_) => "an array",
            Val::Table(_) => "a table",
            Val::Datetime => "a date",
        }
    }
}

/// A table's entries in the order they were written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// One key of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key was written.
    pub key_origin: Origin,
    /// The value.
    pub node: Node,
}

impl Table {
    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Sets `path` to `node`, creating tables on the way (for `--set`). A number in the path
    /// picks an entry of an array (`faults.0.at`). Fails when the path runs through a value that
    /// is neither a table nor an array, or past the end of an array.
    pub fn set_path(&mut self, path: &[&str], node: Node) -> Result<(), String> {
        let (first, rest) = path.split_first().ok_or("an empty key")?;
        let origin = node.origin;
        let idx = match self.entries.iter().position(|e| e.key == *first) {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    key: first.to_string(),
                    key_origin: origin,
                    node: Node {
                        origin,
                        val: Val::Table(Table::default()),
                    },
                });
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[idx];
        if rest.is_empty() {
            entry.node = node;
            entry.key_origin = origin;
            return Ok(());
        }
        set_in(&mut entry.node, first, rest, node)
    }
}

/// Sets `rest` inside `target` (named `name` in errors).
fn set_in(target: &mut Node, name: &str, rest: &[&str], node: Node) -> Result<(), String> {
    match &mut target.val {
        Val::Table(t) => t.set_path(rest, node),
        Val::Array(items) => {
            let len = items.len();
            let Ok(i) = rest[0].parse::<usize>() else {
                return Err(format!(
                    "`{name}` is an array: pick an entry by its number, e.g. `{name}.0`"
                ));
            };
            let Some(item) = items.get_mut(i) else {
                return Err(format!(
                    "`{name}` has {len} entries (numbered from 0), so there is no `{name}.{i}`"
                ));
            };
            if rest.len() == 1 {
                *item = node;
                return Ok(());
            }
            set_in(item, &format!("{name}.{i}"), &rest[1..], node)
        }
        other => Err(format!("`{name}` is {}, not a table", other.type_name())),
    }
}

/// Splits an override's key into path components: dots separate them, and `name[3]` is the
/// same as `name.3` (the form errors use, e.g. `faults[0].at`).
pub fn override_path(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.trim().split('.') {
        let mut rest = part;
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find(']').map(|c| open + c) else {
                break;
            };
            if open > 0 {
                out.push(rest[..open].to_string());
            }
            out.push(rest[open + 1..close].to_string());
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() || out.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

fn origin(span: std::ops::Range<usize>) -> Origin {
    Origin::File {
        start: span.start,
        end: span.end,
    }
}

/// Converts a parsed document.
pub fn from_document(doc: &DeTable<'_>) -> Table {
    let mut entries: Vec<Entry> = doc
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_origin: origin(k.span()),
            node: Node {
                origin: origin(v.span()),
                val: convert(v.get_ref()),
            },
        })
        .collect();
    entries.sort_by_key(|e| match e.key_origin {
        Origin::File { start, .. } => start,
        _ => usize::MAX,
    });
    Table { entries }
}

fn convert(v: &DeValue<'_>) -> Val {
    match v {
        DeValue::String(s) => Val::Str(s.to_string()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            let (neg, digits) = match digits.strip_prefix('-') {
                Some(d) => (true, d.to_string()),
                None => (false, digits.trim_start_matches('+').to_string()),
            };
            let body = digits
                .trim_start_matches("0x")
                .trim_start_matches("0o")
                .trim_start_matches("0b");
            match i64::from_str_radix(body, i.radix()) {
                Ok(n) => Val::Int(if neg { -n } else { n }),
                Err(_) => Val::Float(f64::INFINITY),
            }
        }
        DeValue::Float(f) => Val::Float(f.as_str().replace('_', "").parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Val::Bool(*b),
        DeValue::Datetime(_) => Val::Datetime,
        DeValue::Array(a) => Val::Array(
            a.iter()
                .map(|x| Node {
                    origin: origin(x.span()),
                    val: convert(x.get_ref()),
                })
                .collect(),
        ),
        DeValue::Table(t) => Val::Table(from_document(t)),
    }
}

/// Parses an override's value: as a TOML value when it is one (`3`, `true`, `"x"`, `[1, 2]`),
/// else as a bare string (`always`, `5s`).
pub fn override_value(text: &str, index: usize) -> Node {
    let origin = Origin::Override(index);
    let val = match DeValue::parse(text) {
        Ok(v) => strip_origins(convert(v.get_ref()), origin),
        Err(_) => Val::Str(text.to_string()),
    };
    Node { origin, val }
}

fn strip_origins(v: Val, o: Origin) -> Val {
    match v {
        Val::Array(a) => Val::Array(
            a.into_iter()
                .map(|n| Node {
                    origin: o,
                    val: strip_origins(n.val, o),
                })
                .collect(),
        ),
        Val::Table(t) => Val::Table(Table {
            entries: t
                .entries
                .into_iter()
                .map(|e| Entry {
                    key: e.key,
                    key_origin: o,
                    node: Node {
                        origin: o,
                        val: strip_origins(e.node.val, o),
                    },
                })
                .collect(),
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_file_order_and_spans() {
        let src = "zeta = 1\nalpha = \"x\"\n[t]\nk = 0x10\n";
        let doc = DeTable::parse(src).unwrap();
        let t = from_document(doc.get_ref());
        let keys: Vec<&str> = t.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["zeta", "alpha", "t"]);
        let Val::Table(inner) = &t.get("t").unwrap().node.val else {
            panic!("t is a table")
        };
        assert_eq!(inner.get("k").unwrap().node.val, Val::Int(16));
    }

    #[test]
    fn overrides_create_tables_and_parse_values() {
        let mut t = Table::default();
        t.set_path(
            &["servers", "defaults", "appendfsync"],
            override_value("always", 0),
        )
        .unwrap();
        t.set_path(&["seed"], override_value("42", 1)).unwrap();
        assert_eq!(t.get("seed").unwrap().node.val, Val::Int(42));
        assert!(t.set_path(&["seed", "x"], override_value("1", 2)).is_err());
    }

    #[test]
    fn overrides_reach_array_entries() {
        let src = "[[faults]]\nat = \"1s\"\n[[faults]]\nat = \"2s\"\n";
        let mut t = from_document(DeTable::parse(src).unwrap().get_ref());
        t.set_path(&["faults", "1", "at"], override_value("70s", 0))
            .unwrap();
        let Val::Array(items) = &t.get("faults").unwrap().node.val else {
            panic!("faults is an array")
        };
        let Val::Table(second) = &items[1].val else {
            panic!("a table")
        };
        assert_eq!(second.get("at").unwrap().node.val, Val::Str("70s".into()));
        let err = t
            .set_path(&["faults", "2", "at"], override_value("1s", 1))
            .unwrap_err();
        assert!(err.contains("has 2 entries"), "{err}");
        assert!(
            t.set_path(&["faults", "x"], override_value("1", 2))
                .is_err()
        );
        assert_eq!(override_path("faults[0].at"), ["faults", "0", "at"]);
        assert_eq!(override_path("faults.0.at"), ["faults", "0", "at"]);
    }
}

/// Writes a tree back as TOML text: scalars and inline arrays first, then `[tables]` and
/// `[[arrays of tables]]`, keys in their original order (comments are not kept).
pub fn to_toml(root: &Table) -> String {
    let mut out = String::new();
    write_table(&mut out, root, &[]);
    out
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        k.to_string()
    } else {
        serde_json::to_string(k).expect("strings serialise")
    }
}

fn is_table_array(v: &Val) -> bool {
    matches!(v, Val::Array(items) if !items.is_empty() && items.iter().all(|i| matches!(i.val, Val::Table(_))))
}

fn inline(v: &Val) -> String {
    match v {
        Val::Str(s) => serde_json::to_string(s).expect("strings serialise"),
        Val::Int(n) => n.to_string(),
        Val::Float(f) => format!("{f:?}"),
        Val::Bool(b) => b.to_string(),
        Val::Datetime => "\"\"".into(),
        Val::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| inline(&i.val))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Val::Table(t) => format!(
            "{{ {} }}",
            t.entries
                .iter()
                .map(|e| format!("{} = {}", key(&e.key), inline(&e.node.val)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn write_table(out: &mut String, t: &Table, path: &[String]) {
    for e in &t.entries {
        if !matches!(e.node.val, Val::Table(_)) && !is_table_array(&e.node.val) {
            out.push_str(&format!("{} = {}\n", key(&e.key), inline(&e.node.val)));
        }
    }
    for e in &t.entries {
        let mut sub: Vec<String> = path.to_vec();
        sub.push(key(&e.key));
        match &e.node.val {
            Val::Table(inner) => {
                out.push_str(&format!("\n[{}]\n", sub.join(".")));
                write_table(out, inner, &sub);
            }
            v if is_table_array(v) => {
                let Val::Array(items) = v else { unreachable!() };
                for item in items {
                    let Val::Table(inner) = &item.val else {
                        unreachable!()
                    };
                    out.push_str(&format!("\n[[{}]]\n", sub.join(".")));
                    write_table(out, inner, &sub);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod emit_tests {
    use super::*;

    #[test]
    fn round_trip_keeps_values() {
        let src = "name = \"x\"\nregions = [\"a\", \"b\"]\n[servers.p1]\nregion = \"a\"\n[[faults]]\nkind = \"isolate\"\nat = \"1s\"\n[expect]\n\"lost:w\" = { max = 0 }\n";
        let t = from_document(DeTable::parse(src).unwrap().get_ref());
        let text = to_toml(&t);
        let again = from_document(DeTable::parse(&text).unwrap().get_ref());
        assert_eq!(to_toml(&again), text, "{text}");
        assert!(
            text.contains("[[faults]]") && text.contains("\"lost:w\""),
            "{text}"
        );
    }
}

//! A small reader for EDN, the data notation of Jepsen and Knossos histories, reading what
//! `clojure.edn/read` reads: nil, booleans, integers, floats, strings, characters, keywords,
//! symbols, lists, vectors, maps, sets, tagged values, `#_` discards and `;` comments, with
//! commas as whitespace.
//!
//! Hand-written rather than a crate: the Rust EDN crates either lag behind the format (no
//! `#_`, no tagged values) or drop source positions, and every error here must name its line;
//! a history reader needs about 300 lines of it and no new dependency.

/// An EDN value. Maps keep their entries in file order and the line where they start.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (an `N` suffix is accepted; values beyond 64 bits are errors).
    Int(i64),
    /// A floating-point number, kept as written.
    Float(String),
    /// A string.
    Str(String),
    /// A character such as `\a` or `\newline`.
    Char(char),
    /// A keyword, without its leading colon.
    Keyword(String),
    /// A symbol.
    Symbol(String),
    /// `( ... )`.
    List(Vec<Edn>),
    /// `[ ... ]`.
    Vector(Vec<Edn>),
    /// `{ ... }` and the 1-based line of its `{`.
    Map(Vec<(Edn, Edn)>, usize),
    /// `#{ ... }`.
    Set(Vec<Edn>),
    /// `#tag value`.
    Tagged(String, Box<Edn>),
}

impl Edn {
    /// The value of `:name` in a map.
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries, _) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The elements of a vector or list.
    pub fn items(&self) -> Option<&[Edn]> {
        match self {
            Edn::Vector(v) | Edn::List(v) => Some(v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Edn {
    /// Prints the value as `pr-str` would, so equal values print equally.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = |f: &mut std::fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str| {
            write!(f, "{open}")?;
            for (i, x) in items.iter().enumerate() {
                write!(f, "{}{x}", if i == 0 { "" } else { " " })?;
            }
            write!(f, "{close}")
        };
        match self {
            Edn::Nil => write!(f, "nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(s) | Edn::Symbol(s) => write!(f, "{s}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::List(v) => seq(f, "(", v, ")"),
            Edn::Vector(v) => seq(f, "[", v, "]"),
            Edn::Set(v) => seq(f, "#{", v, "}"),
            Edn::Map(entries, _) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    write!(f, "{}{k} {v}", if i == 0 { "" } else { ", " })?;
                }
                write!(f, "}}")
            }
            Edn::Tagged(tag, v) => write!(f, "#{tag} {v}"),
        }
    }
}

/// A reading error with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Nesting deeper than this is an error rather than a stack overflow.
const MAX_DEPTH: usize = 256;

/// Reads every top-level value of `text`.
pub fn read_all(text: &str) -> Result<Vec<Edn>, EdnError> {
    let mut reader = Reader {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    while let Some(v) = reader.next_value(0)? {
        out.push(v);
    }
    Ok(out)
}

/// Reads a history: one vector or list of values, or values one after another, each with the
/// 1-based line where it starts.
pub fn read_history(text: &str) -> Result<Vec<(usize, Edn)>, EdnError> {
    let mut reader = Reader {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    reader.skip_space();
    let close = match reader.peek() {
        Some('[') => Some(']'),
        Some('(') => Some(')'),
        _ => None,
    };
    if close.is_some() {
        reader.bump();
    }
    let mut out = Vec::new();
    loop {
        reader.skip_space();
        let line = reader.line;
        match (reader.item(1)?, close) {
            (Item::Value(v), _) => out.push((line, v)),
            (Item::End, None) => return Ok(out),
            (Item::End, Some(c)) => return reader.err(format!("the file ends before `{c}`")),
            (Item::Close(c), Some(want)) if c == want => break,
            (Item::Close(c), _) => return reader.err(format!("unmatched `{c}`")),
        }
    }
    match reader.next_value(0)? {
        None => Ok(out),
        Some(v) => reader.err(format!(
            "{v} after the history's closing bracket (one vector, or one map per line)"
        )),
    }
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

/// What the reader found at a position: a value, or the end of a collection or the file.
enum Item {
    Value(Edn),
    Close(char),
    End,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
}

impl Reader {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, EdnError> {
        Err(EdnError {
            line: self.line,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.bump();
            } else if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    /// The next top-level value, or `None` at the end of the text.
    fn next_value(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        match self.item(depth)? {
            Item::Value(v) => Ok(Some(v)),
            Item::End => Ok(None),
            Item::Close(c) => self.err(format!("unmatched `{c}`")),
        }
    }

    fn item(&mut self, depth: usize) -> Result<Item, EdnError> {
        if depth > MAX_DEPTH {
            return self.err(format!("nested more than {MAX_DEPTH} deep"));
        }
        self.skip_space();
        let line = self.line;
        let Some(c) = self.bump() else {
            return Ok(Item::End);
        };
        let value = match c {
            ')' | ']' | '}' => return Ok(Item::Close(c)),
            '(' => Edn::List(self.seq(')', depth)?),
            '[' => Edn::Vector(self.seq(']', depth)?),
            '{' => Edn::Map(self.map(depth)?, line),
            '"' => Edn::Str(self.string()?),
            '\\' => Edn::Char(self.character()?),
            '#' => match self.dispatch(depth)? {
                Some(v) => v,
                None => return self.item(depth),
            },
            _ => self.atom(c)?,
        };
        Ok(Item::Value(value))
    }

    fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Edn>, EdnError> {
        let mut out = Vec::new();
        loop {
            match self.item(depth + 1)? {
                Item::Value(v) => out.push(v),
                Item::Close(c) if c == close => return Ok(out),
                Item::Close(c) => return self.err(format!("expected `{close}`, found `{c}`")),
                Item::End => return self.err(format!("the file ends before `{close}`")),
            }
        }
    }

    fn map(&mut self, depth: usize) -> Result<Vec<(Edn, Edn)>, EdnError> {
        let items = self.seq('}', depth)?;
        if items.len() % 2 != 0 {
            return self.err("a map needs an even number of forms (key value ...)");
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if entries.iter().any(|(x, _)| *x == k) {
                return self.err(format!("duplicate map key {k}"));
            }
            entries.push((k, v));
        }
        Ok(entries)
    }

    /// After `#`: a set, a discard (returns `None`), or a tagged value.
    fn dispatch(&mut self, depth: usize) -> Result<Option<Edn>, EdnError> {
        match self.peek() {
            Some('{') => {
                self.bump();
                Ok(Some(Edn::Set(self.seq('}', depth)?)))
            }
            Some('_') => {
                self.bump();
                if self.next_value(depth + 1)?.is_none() {
                    return self.err("`#_` discards nothing");
                }
                Ok(None)
            }
            Some(c) if c.is_alphabetic() => {
                let tag = self.token(String::new());
                let Some(v) = self.next_value(depth + 1)? else {
                    return self.err(format!("tag #{tag} has no value"));
                };
                Ok(Some(Edn::Tagged(tag, Box::new(v))))
            }
            _ => self.err("`#` must start a set `#{`, a discard `#_` or a tag"),
        }
    }

    fn token(&mut self, mut s: String) -> String {
        while let Some(c) = self.peek().filter(|c| !is_delimiter(*c)) {
            s.push(c);
            self.bump();
        }
        s
    }

    fn string(&mut self) -> Result<String, EdnError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.err("the file ends inside a string"),
                Some('"') => return Ok(s),
                Some('\\') => {
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('u') => self.unicode()?,
                        other => return self.err(format!("unknown string escape {other:?}")),
                    };
                    s.push(escaped);
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn unicode(&mut self) -> Result<char, EdnError> {
        let hex: String = (0..4).filter_map(|_| self.bump()).collect();
        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
            Some(c) => Ok(c),
            None => self.err(format!("bad unicode escape \\u{hex}")),
        }
    }

    fn character(&mut self) -> Result<char, EdnError> {
        let Some(first) = self.bump() else {
            return self.err("the file ends after `\\`");
        };
        let name = self.token(first.to_string());
        match name.as_str() {
            "newline" => Ok('\n'),
            "space" => Ok(' '),
            "tab" => Ok('\t'),
            "return" => Ok('\r'),
            "formfeed" => Ok('\u{c}'),
            "backspace" => Ok('\u{8}'),
            _ if name.chars().count() == 1 => Ok(first),
            _ if name.starts_with('u') && name.len() == 5 => {
                match u32::from_str_radix(&name[1..], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(c) => Ok(c),
                    None => self.err(format!("bad character \\{name}")),
                }
            }
            _ => self.err(format!("unknown character \\{name}")),
        }
    }

    fn atom(&mut self, first: char) -> Result<Edn, EdnError> {
        let token = self.token(first.to_string());
        let starts_number = first.is_ascii_digit()
            || (matches!(first, '-' | '+') && token[1..].starts_with(|c: char| c.is_ascii_digit()));
        if starts_number {
            return self.number(&token);
        }
        Ok(match token.as_str() {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ => match token.strip_prefix(':') {
                Some("") => return self.err("a keyword needs a name after `:`"),
                Some(name) => Edn::Keyword(name.to_string()),
                None => Edn::Symbol(token),
            },
        })
    }

    fn number(&self, token: &str) -> Result<Edn, EdnError> {
        let digits = token.strip_suffix('N').unwrap_or(token);
        let digits = digits.strip_prefix('+').unwrap_or(digits);
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Edn::Int(i));
        }
        if digits.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return self.err(format!("integer {token} does not fit in 64 bits"));
        }
        let float = token.strip_suffix('M').unwrap_or(token);
        if float.parse::<f64>().is_ok() {
            return Ok(Edn::Float(token.to_string()));
        }
        self.err(format!("`{token}` is not a number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_of_a_jepsen_history() {
        let text = "; a comment\n[{:type :invoke, :f :cas, :value [1 2], :process 0}\n #_ {:ignored true}\n {:type :ok :f \"s\\n\" :value #{1} :process :nemesis :time 12N}]\n";
        let forms = read_all(text).unwrap();
        assert_eq!(forms.len(), 1);
        let items = forms[0].items().unwrap();
        assert_eq!(items.len(), 2, "the discarded map is gone");
        assert_eq!(
            items[0].get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
        );
        assert!(matches!(items[1], Edn::Map(_, 4)), "{:?}", items[1]);
        assert_eq!(items[1].get("f"), Some(&Edn::Str("s\n".into())));
        assert_eq!(
            items[1].get("process"),
            Some(&Edn::Keyword("nemesis".into()))
        );
        assert_eq!(items[1].get("time"), Some(&Edn::Int(12)));
        assert_eq!(items[1].get("value").unwrap().to_string(), "#{1}");
    }

    #[test]
    fn history_items_carry_their_lines() {
        let items = read_history("; x\n[{:a 1}\n 2\n {:b\n 3}]\n").unwrap();
        let lines: Vec<usize> = items.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        let items = read_history("{:a 1}\n\n{:a 2}").unwrap();
        assert_eq!(items[1].0, 3);
        assert_eq!(read_history("[{:a 1}] {:b 2}").unwrap_err().line, 1);
    }

    #[test]
    fn errors_name_their_line() {
        assert_eq!(read_all("{:a 1}\n{:b}").unwrap_err().line, 2);
        assert_eq!(read_all("[1 2\n\n").unwrap_err().line, 3);
        assert_eq!(read_all("\n)").unwrap_err().line, 2);
        assert_eq!(read_all("{:a 1 :a 2}").unwrap_err().line, 1);
        assert!(read_all("99999999999999999999").is_err());
    }

    #[test]
    fn scalars_read_as_clojure_reads_them() {
        let forms = read_all("-3 +4 1.5 nil true \\a \\newline sym #inst \"x\" (1)").unwrap();
        assert_eq!(forms[0], Edn::Int(-3));
        assert_eq!(forms[1], Edn::Int(4));
        assert_eq!(forms[2], Edn::Float("1.5".into()));
        assert_eq!(forms[3], Edn::Nil);
        assert_eq!(forms[4], Edn::Bool(true));
        assert_eq!(forms[5], Edn::Char('a'));
        assert_eq!(forms[6], Edn::Char('\n'));
        assert_eq!(forms[7], Edn::Symbol("sym".into()));
        assert_eq!(
            forms[8],
            Edn::Tagged("inst".into(), Box::new(Edn::Str("x".into())))
        );
        assert_eq!(forms[9], Edn::List(vec![Edn::Int(1)]));
    }
}

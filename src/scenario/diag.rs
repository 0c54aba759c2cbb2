//! Diagnostics: errors in scenario files and `--set` overrides, each naming the file, line and
//! column, the field, what is wrong, and a hint.

use std::fmt;

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Byte range in the scenario file.
    File {
        /// First byte.
        start: usize,
        /// One past the last byte.
        end: usize,
    },
    /// The `--set` override with this index.
    Override(usize),
    /// Nowhere in particular (the file as a whole).
    Whole,
}

/// One problem found in a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it is.
    pub origin: Origin,
    /// The dotted field path, e.g. `servers.r1.replicaof` (empty for file-level problems).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// All problems found in one scenario, rendered against its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as the user named it.
    pub file: String,
    /// The source text (empty when it could not be read).
    pub source: String,
    /// The `--set` overrides as given.
    pub overrides: Vec<String>,
    /// The problems, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

impl ScenarioError {
    /// An error about the file as a whole (missing, unreadable, a directory).
    pub fn whole(file: &str, message: String, hint: Option<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            source: String::new(),
            overrides: Vec::new(),
            diagnostics: vec![Diagnostic {
                origin: Origin::Whole,
                field: String::new(),
                message,
                hint,
            }],
        }
    }

    /// A warning found in this scenario, located like an error.
    pub fn warning(&self, d: &Diagnostic) -> super::Warning {
        let (file, line, column) = match d.origin {
            Origin::File { start, .. } => {
                let (line, col) = self.line_col(start);
                (self.file.clone(), line, col)
            }
            Origin::Override(k) => {
                let o = self.overrides.get(k).map_or("?", String::as_str);
                (format!("--set {o}"), 0, 0)
            }
            Origin::Whole => (self.file.clone(), 0, 0),
        };
        super::Warning {
            file,
            line,
            column,
            field: d.field.clone(),
            message: d.message.clone(),
            hint: d.hint.clone(),
        }
    }

    /// 1-based line and column of a byte offset in the source.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let before = &self.source[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
        (line, col)
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match d.origin {
                Origin::File { start, .. } => {
                    let (line, col) = self.line_col(start);
                    write!(f, "error: {}:{line}:{col}", self.file)?;
                }
                Origin::Override(k) => write!(
                    f,
                    "error: --set {}",
                    self.overrides.get(k).map_or("?", String::as_str)
                )?,
                Origin::Whole => write!(f, "error: {}", self.file)?,
            }
            if d.field.is_empty() {
                writeln!(f, ": {}", d.message)?;
            } else {
                writeln!(f, ": field `{}`: {}", d.field, d.message)?;
            }
            if let Origin::File { start, end } = d.origin {
                let (line, col) = self.line_col(start);
                if let Some(text) = self.source.lines().nth(line - 1) {
                    let width = (end.saturating_sub(start))
                        .clamp(1, text.len().saturating_sub(col - 1).max(1));
                    writeln!(f, "  {line:>4} | {text}")?;
                    writeln!(f, "       | {}{}", " ".repeat(col - 1), "^".repeat(width))?;
                }
            }
            if let Some(h) = &d.hint {
                writeln!(f, "  hint: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// Edit distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase().replace('_', "-");
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&lower, &c.to_ascii_lowercase().replace('_', "-")),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.len() / 3).max(1) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("replicaof", ["replicaof", "region"]),
            Some("replicaof")
        );
        assert_eq!(
            did_you_mean("replicof", ["replicaof", "region"]),
            Some("replicaof")
        );
        assert_eq!(
            did_you_mean("repl_backlog_size", ["repl-backlog-size"]),
            Some("repl-backlog-size")
        );
        assert_eq!(
            did_you_mean("frobnicate_the_servers", ["servers", "name"]),
            None
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn renders_line_column_and_caret() {
        let e = ScenarioError {
            file: "x.toml".into(),
            source: "name = \"a\"\nduration = \"-5s\"\n".into(),
            overrides: vec![],
            diagnostics: vec![Diagnostic {
                origin: Origin::File { start: 22, end: 27 },
                field: "duration".into(),
                message: "must be positive".into(),
                hint: Some("write e.g. \"60s\"".into()),
            }],
        };
        let s = e.to_string();
        assert!(s.starts_with("error: x.toml:2:12: field `duration`"), "{s}");
        assert!(s.contains("^^^^^"), "{s}");
        assert!(s.contains("hint: write"), "{s}");
    }
}

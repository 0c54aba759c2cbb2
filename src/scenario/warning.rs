//! Warnings: settings that Redis or simkv accept but that cannot do what they seem to ask for
//! (a quorum no set of sentinels can reach, a fault that starts once faults are over). A loaded
//! scenario carries them; the caller prints them or, asked to, refuses the scenario.

use std::fmt;

use serde::Serialize;

/// A legal but useless setting, located like an error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The file as the user named it, or `--set KEY=VALUE` for an override.
    pub file: String,
    /// 1-based line (0 when the warning is about the file as a whole or an override).
    pub line: usize,
    /// 1-based column (0 when `line` is 0).
    pub column: usize,
    /// The dotted field path, e.g. `sentinels.defaults.quorum`.
    pub field: String,
    /// What is useless and why.
    pub message: String,
    /// What to change.
    pub hint: Option<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": field `{}`: {}", self.field, self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " (hint: {h})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_field_and_hint() {
        let w = Warning {
            file: "x.toml".into(),
            line: 3,
            column: 10,
            field: "nemesis.start".into(),
            message: "draws no fault".into(),
            hint: Some("start earlier".into()),
        };
        assert_eq!(
            w.to_string(),
            "warning: x.toml:3:10: field `nemesis.start`: draws no fault (hint: start earlier)"
        );
    }
}

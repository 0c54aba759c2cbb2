//! What `simkv check` is asked to do: the history's format (or detect it), the model, the
//! initial value, the search budget.

use super::DEFAULT_BUDGET;

/// The history formats `simkv check` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen / Knossos EDN: a vector of operation maps, or one map per line.
    Edn,
    /// simkv's JSON Lines history.
    Jsonl,
    /// Porcupine's kv log (EDN lines with `:key`, `:get`/`:put`/`:append`).
    PorcupineKv,
    /// A Jepsen etcd log (`INFO  jepsen.util - ...`).
    Etcd,
}

impl Format {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Edn => "edn",
            Format::Jsonl => "jsonl",
            Format::PorcupineKv => "porcupine-kv",
            Format::Etcd => "etcd",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "edn" => Ok(Format::Edn),
            "jsonl" => Ok(Format::Jsonl),
            "porcupine-kv" => Ok(Format::PorcupineKv),
            "etcd" => Ok(Format::Etcd),
            _ => Err(format!(
                "unknown format `{s}` (expected edn, jsonl, porcupine-kv or etcd)"
            )),
        }
    }
}

/// The sequential object a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// One register: `read`, `write`.
    Register,
    /// One register with compare-and-set: `read`, `write`, `cas [old new]`.
    CasRegister,
    /// Transactions (`txn`) of reads and writes over several registers.
    MultiRegister,
    /// One register per key (Jepsen: `:key`, or `[key value]` tuples); for simkv histories,
    /// one Redis string per key.
    Kv,
}

impl ModelKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Kv => "kv",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "register" => Ok(ModelKind::Register),
            "cas-register" => Ok(ModelKind::CasRegister),
            "multi-register" => Ok(ModelKind::MultiRegister),
            "kv" => Ok(ModelKind::Kv),
            _ => Err(format!(
                "unknown model `{s}` (expected register, cas-register, multi-register or kv)"
            )),
        }
    }
}

/// Options of one check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The format; detected from the text when `None`.
    pub format: Option<Format>,
    /// The model; each format has a default.
    pub model: Option<ModelKind>,
    /// The registers' initial value as EDN text (default nil).
    pub initial_value: Option<String>,
    /// Search steps per partition before the verdict is "unknown".
    pub budget: u64,
    /// Explain a violation with its shortest failing prefix (a few more searches).
    pub explain: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            format: None,
            model: None,
            initial_value: None,
            budget: DEFAULT_BUDGET,
            explain: true,
        }
    }
}

/// Guesses the format from the first line that is not blank or an EDN comment.
pub fn detect(text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(';'))?;
    let porcupine_kv = first.starts_with("{:process")
        && first.contains(":key")
        && [":f :get", ":f :put", ":f :append"]
            .iter()
            .any(|f| first.contains(f));
    // EDN: a map, or a vector or list of maps (`[package]` in a TOML file is not a history).
    let opened = first.trim_start_matches(['[', '(']).trim_start();
    let edn = opened.starts_with(['{', ']', ')']) || (opened.is_empty() && first.len() == 1);
    if first.starts_with("{\"") || first == "{" {
        Some(Format::Jsonl)
    } else if porcupine_kv {
        Some(Format::PorcupineKv)
    } else if edn {
        Some(Format::Edn)
    } else if first.starts_with("INFO") {
        Some(Format::Etcd)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_from_the_first_line() {
        let jsonl = "{\"process\": 1, \"type\": \"invoke\"}";
        assert_eq!(detect(jsonl), Some(Format::Jsonl));
        let kv = "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}";
        assert_eq!(detect(kv), Some(Format::PorcupineKv));
        let edn = "; comment\n[{:process 0, :type :invoke, :f :read, :value nil}";
        assert_eq!(detect(edn), Some(Format::Edn));
        let edn_lines = "{:process 0, :type :invoke, :f :read, :value nil}";
        assert_eq!(detect(edn_lines), Some(Format::Edn));
        assert_eq!(
            detect("INFO  jepsen.util - 1 :invoke :read nil"),
            Some(Format::Etcd)
        );
        assert_eq!(detect("\n  \n"), None);
        assert_eq!(detect("hello"), None);
        assert_eq!(detect("[package]\nname = \"simkv\""), None);
        assert_eq!(detect("[\n{:process 0}]"), Some(Format::Edn));
    }
}

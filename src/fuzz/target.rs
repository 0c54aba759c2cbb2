//! The fuzz targets (what parses each kind of input) and one execution under `catch_unwind`,
//! with the panic's message and `file:line:column` captured by a quiet panic hook.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::{Once, OnceLock};

use crate::check::linearizable::{CheckOptions, check_text};
use crate::scenario::Scenario;

/// An input reader simkv exposes to untrusted text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `Scenario::parse` of a scenario file, with the error rendered as the CLI prints it.
    Scenario,
    /// `--set KEY=VALUE` overrides applied to a shipped scenario (input: see [`split_set_input`]).
    Set,
    /// `simkv check` of a simkv JSON Lines history.
    Jsonl,
    /// `simkv check` of a Porcupine kv (EDN map per line) log.
    Kv,
    /// `simkv check` of a Jepsen etcd log.
    Etcd,
    /// `simkv check` of a Jepsen/Knossos EDN history.
    Edn,
}

/// The line that separates `--set` overrides (above) from the scenario text (below).
pub const SET_SEPARATOR: &str = "%%";

impl Target {
    /// Every target, in the order `--target all` runs them.
    pub const ALL: [Target; 6] = [
        Target::Scenario,
        Target::Set,
        Target::Jsonl,
        Target::Kv,
        Target::Etcd,
        Target::Edn,
    ];

    /// The name on the command line and of the findings folder.
    pub fn name(self) -> &'static str {
        match self {
            Target::Scenario => "scenario",
            Target::Set => "set",
            Target::Jsonl => "jsonl",
            Target::Kv => "kv",
            Target::Etcd => "etcd",
            Target::Edn => "edn",
        }
    }

    /// The target with this name.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The largest input the loop builds for this target (a bound on time and memory per
    /// execution: the linearizability search is exponential in the concurrency of a history).
    pub fn max_len(self) -> usize {
        match self {
            Target::Scenario | Target::Set => 16 * 1024,
            Target::Jsonl | Target::Kv | Target::Etcd | Target::Edn => 4 * 1024,
        }
    }
}

/// What one execution did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The parser returned a value.
    Accepted,
    /// The parser returned an error (the message is rendered, as the CLI would).
    Rejected,
    /// The parser panicked.
    Panicked {
        /// The panic message.
        message: String,
        /// `file:line:column` of the panic.
        location: String,
    },
}

/// Splits a `set` input into its overrides (one per line, above a `%%` line) and the scenario
/// text (below it). Without a `%%` line the whole input is overrides on an empty scenario.
pub fn split_set_input(text: &str) -> (Vec<String>, &str) {
    let (head, scenario) = match text.split_once(&format!("\n{SET_SEPARATOR}\n")) {
        Some((h, s)) => (h, s),
        None => match text.strip_prefix(&format!("{SET_SEPARATOR}\n")) {
            Some(s) => ("", s),
            None => (text, ""),
        },
    };
    let overrides = head
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    (overrides, scenario)
}

/// Runs the target's parser once; the input bytes are read as UTF-8 with invalid sequences
/// replaced (the file readers reject invalid UTF-8 before any parser sees it).
pub fn execute(target: Target, input: &[u8]) -> Outcome {
    install_hook();
    let text = String::from_utf8_lossy(input);
    CAPTURE.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| run(target, &text)));
    CAPTURE.with(|c| c.set(false));
    match result {
        Ok(true) => Outcome::Accepted,
        Ok(false) => Outcome::Rejected,
        Err(payload) => {
            let (message, location) = LAST
                .with(|l| l.borrow_mut().take())
                .unwrap_or_else(|| (payload_text(payload.as_ref()), "unknown location".into()));
            Outcome::Panicked { message, location }
        }
    }
}

/// `true` when the parser accepted the input; errors are rendered so their formatting runs too.
fn run(target: Target, text: &str) -> bool {
    match target {
        Target::Scenario => scenario_accepts(text, &[]),
        Target::Set => {
            let (overrides, scenario) = split_set_input(text);
            scenario_accepts(scenario, &overrides)
        }
        Target::Jsonl | Target::Kv | Target::Etcd | Target::Edn => {
            check_text(text, &CheckOptions::default()).is_ok()
        }
    }
}

fn scenario_accepts(text: &str, overrides: &[String]) -> bool {
    match Scenario::parse("fuzz.toml", text, overrides) {
        Ok(_) => true,
        Err(e) => {
            // The CLI prints the error against the source: render it so that code runs too.
            std::hint::black_box(e.to_string());
            false
        }
    }
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".into()
    }
}

thread_local! {
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;
static PREVIOUS: OnceLock<Hook> = OnceLock::new();

/// Installs, once per process, a hook that records panics on fuzzing threads instead of
/// printing them, and hands every other panic to the hook that was there before.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = PREVIOUS.set(panic::take_hook());
        panic::set_hook(Box::new(|info| {
            if CAPTURE.with(Cell::get) {
                let location = info
                    .location()
                    .map_or("unknown location".into(), |l| l.to_string());
                let message = payload_text(info.payload());
                LAST.with(|l| *l.borrow_mut() = Some((message, location)));
            } else if let Some(previous) = PREVIOUS.get() {
                previous(info);
            }
        }));
    });
}

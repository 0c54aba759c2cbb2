//! The slow log (`slowlog.c`): commands that ran at least `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them, as `SLOWLOG GET` shows them.

use std::collections::VecDeque;

use super::Command;

/// slowlog.h: `SLOWLOG_ENTRY_MAX_STRING`: longer arguments are cut and say how much was left.
const ENTRY_MAX_STRING: usize = 128;

/// One entry, as `SLOWLOG GET` shows it (without the client's address and name).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SlowlogEntry {
    /// The entry's id (`slowlog_entry_id`, from 0, never reused).
    pub id: u64,
    /// When the command finished, in simulated milliseconds (Redis gives a Unix time in
    /// seconds).
    pub time_ms: u64,
    /// How long it ran, blocked time included, in microseconds.
    pub duration_us: u64,
    /// The command's words.
    pub command: Vec<String>,
}

/// The slow log of one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slowlog {
    /// Newest first.
    entries: VecDeque<SlowlogEntry>,
    /// `server.slowlog_entry_id`: entries ever logged.
    next_id: u64,
}

/// The words of a command as its `argv` holds them, long ones cut as `slowlogCreateEntry` cuts
/// them (`... (N more bytes)`).
pub fn argv(cmd: &Command) -> Vec<String> {
    words(&cmd.to_string())
}

/// The words of a command typed as text (the operator's console), cut as [`argv`] cuts them.
pub fn words(text: &str) -> Vec<String> {
    text.split(' ')
        .map(|w| {
            if w.len() > ENTRY_MAX_STRING {
                let mut cut = ENTRY_MAX_STRING;
                while !w.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}... ({} more bytes)", &w[..cut], w.len() - cut)
            } else {
                w.to_string()
            }
        })
        .collect()
}

impl Slowlog {
    /// slowlog.c: `slowlogPushEntryIfNeeded`: logs the command when `slower_than_us` is not
    /// negative and the duration reaches it (`argv` gives the command's words, asked only for
    /// an entry that is kept), then trims the oldest entries beyond `max_len`.
    pub fn push_if_needed(
        &mut self,
        slower_than_us: i64,
        max_len: u64,
        argv: impl FnOnce() -> Vec<String>,
        time_ms: u64,
        duration_us: u64,
    ) {
        if slower_than_us < 0 {
            return;
        }
        if duration_us >= slower_than_us as u64 {
            self.entries.push_front(SlowlogEntry {
                id: self.next_id,
                time_ms,
                duration_us,
                command: argv(),
            });
            self.next_id += 1;
        }
        while self.entries.len() as u64 > max_len {
            self.entries.pop_back();
        }
    }

    /// The entries kept, newest first (`SLOWLOG GET -1`).
    pub fn entries(&self) -> impl Iterator<Item = &SlowlogEntry> {
        self.entries.iter()
    }

    /// Entries ever logged (the next id), kept or trimmed.
    pub fn logged(&self) -> u64 {
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn get(k: &str) -> impl FnOnce() -> Vec<String> {
        let cmd = Command::Get(Rc::from(k));
        move || argv(&cmd)
    }

    #[test]
    fn logs_at_the_threshold_keeps_the_newest_and_disables_when_negative() {
        let mut log = Slowlog::default();
        log.push_if_needed(10_000, 2, get("a"), 1, 9_999);
        log.push_if_needed(10_000, 2, get("b"), 2, 10_000);
        log.push_if_needed(10_000, 2, get("c"), 3, 20_000);
        log.push_if_needed(10_000, 2, get("d"), 4, 30_000);
        log.push_if_needed(-1, 2, get("e"), 5, 90_000);
        let kept: Vec<(u64, &str)> = log
            .entries()
            .map(|e| (e.id, e.command[1].as_str()))
            .collect();
        assert_eq!(kept, vec![(2, "d"), (1, "c")]);
        assert_eq!(log.logged(), 3);
        let mut all = Slowlog::default();
        all.push_if_needed(0, 128, get("z"), 0, 0);
        assert_eq!(all.entries().next().unwrap().command, vec!["GET", "z"]);
    }

    #[test]
    fn long_arguments_are_cut() {
        let v = "x".repeat(130);
        let w = argv(&Command::Set(Rc::from("k"), Rc::from(v.as_str())));
        assert_eq!(w[2], format!("{}... (2 more bytes)", "x".repeat(128)));
    }
}

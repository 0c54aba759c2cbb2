//! The command line's plumbing: printing that survives a closed pipe, the commands' bodies
//! (`commands`, `compare`), the `check` and `bench` commands (`tools`), and the real-Redis
//! backend's `run --backend real`, `diff`, and `keyslot` (`real`).

/// Writes to stdout; a closed pipe (`simkv run ... | head`) ends the process quietly, as SIGPIPE
/// would, instead of panicking.
pub fn emit_out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .is_err()
    {
        std::process::exit(141);
    }
}

/// Writes to stderr, never panicking.
pub fn emit_err(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

macro_rules! out {
    ($($t:tt)*) => { emit_out(&format!($($t)*)) };
}
macro_rules! outln {
    ($($t:tt)*) => { emit_out(&format!("{}\n", format!($($t)*))) };
}
macro_rules! err {
    ($($t:tt)*) => { emit_err(&format!($($t)*)) };
}
macro_rules! errln {
    ($($t:tt)*) => { emit_err(&format!("{}\n", format!($($t)*))) };
}

/// The wall clock, injected by `main` (the only code that reads it): time since the start.
pub type Clock<'a> = &'a dyn Fn() -> std::time::Duration;

pub mod bench_targets;
pub mod commands;
pub mod compare;
pub mod real;
pub mod tools;

//! Helpers for the tests that drive real `redis-server`/`redis-sentinel` processes: finding the
//! binaries (failing under CI when they are missing, skipping elsewhere), polling, process checks.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use simkv::real::supervisor::Binaries;

/// The binaries from `SIMKV_REDIS_SERVER`/`SIMKV_REDIS_SENTINEL` or `PATH`. `None` (after
/// printing why) when they are missing outside CI; a panic when they are missing under CI.
pub fn binaries(test: &str) -> Option<Binaries> {
    let from_env = std::env::var_os("SIMKV_REDIS_SERVER").map(|server| Binaries {
        redis_server: PathBuf::from(server),
        redis_sentinel: std::env::var_os("SIMKV_REDIS_SENTINEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("redis-sentinel")),
    });
    match from_env.or_else(Binaries::from_path) {
        Some(b) => Some(b),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: redis-server/redis-sentinel not found and CI is set")
        }
        None => {
            eprintln!("skipping {test}: redis-server/redis-sentinel not found on PATH");
            None
        }
    }
}

/// `127.0.0.n`.
pub fn node_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, n)
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` is a live (not zombie) process whose command line mentions redis.
pub fn redis_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.trim().chars().next());
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    state != Some('Z') && String::from_utf8_lossy(&cmdline).contains("redis")
}

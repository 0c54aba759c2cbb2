//! A real run leaves nothing behind however it ends: a panic inside the supervisor's scope, an
//! error returned midway, SIGTERM to the program, or even SIGKILL (then the processes die with
//! it; only the directory stays).

mod real_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use real_support::{binaries, node_ip, redis_alive, wait_for};
use simkv::real::supervisor::{Monitor, RealError, SentinelSpec, ServerSpec, Supervisor};

/// What a run started, recorded from inside it.
#[derive(Default)]
struct Started {
    pids: Vec<u32>,
    dir: Option<PathBuf>,
}

/// Starts a primary, a replica and a sentinel and records their pids and the run directory.
fn start_three(sup: &mut Supervisor, seen: &Mutex<Started>) -> Result<(), RealError> {
    let primary = sup.start_server(&ServerSpec::new("p1", node_ip(11)))?;
    let mut replica = ServerSpec::new("r1", node_ip(12));
    replica.replicaof = Some(primary);
    sup.start_server(&replica)?;
    sup.start_sentinel(&SentinelSpec {
        name: "s1".into(),
        ip: node_ip(13),
        monitors: vec![Monitor {
            primary_name: "mymaster".into(),
            addr: primary,
            quorum: 1,
            down_after_milliseconds: Some(5000),
            failover_timeout: None,
            parallel_syncs: None,
        }],
        announce_ip: None,
        announce_port: None,
        extra: vec![],
    })?;
    let mut s = seen.lock().unwrap();
    s.pids = sup.nodes().filter_map(|n| n.pid()).collect();
    s.dir = Some(sup.dir().to_path_buf());
    Ok(())
}

fn assert_nothing_left(seen: &Mutex<Started>) {
    let s = seen.lock().unwrap();
    assert_eq!(s.pids.len(), 3, "three processes were started");
    for pid in &s.pids {
        assert!(
            !redis_alive(*pid),
            "process {pid} of the run is still alive"
        );
    }
    let dir = s.dir.as_ref().expect("the run recorded its directory");
    assert!(!dir.exists(), "{} still exists", dir.display());
}

#[test]
fn a_panic_inside_the_run_leaves_nothing() {
    let Some(bins) = binaries("a_panic_inside_the_run_leaves_nothing") else {
        return;
    };
    let seen = Mutex::new(Started::default());
    let result = std::panic::catch_unwind(|| {
        let _: Result<(), RealError> = Supervisor::scope(bins, |sup| {
            start_three(sup, &seen)?;
            panic!("a failure in the middle of a run");
        });
    });
    assert!(result.is_err(), "the panic propagates");
    assert_nothing_left(&seen);
}

#[test]
fn an_error_returned_midway_leaves_nothing() {
    let Some(bins) = binaries("an_error_returned_midway_leaves_nothing") else {
        return;
    };
    let seen = Mutex::new(Started::default());
    let result: Result<(), RealError> = Supervisor::scope(bins, |sup| {
        start_three(sup, &seen)?;
        sup.pause("r1")?; // a paused process must be killable too
        sup.kill("no-such-node")?;
        unreachable!("kill of an unknown node is an error");
    });
    assert!(matches!(result, Err(RealError::UnknownNode(_))));
    assert_nothing_left(&seen);
}

/// Not a test by itself: the body of the child process of the signal tests. It starts a run,
/// prints its pids and directory, and waits to be signalled.
#[test]
fn hold_a_run_until_signalled() {
    if std::env::var_os("SIMKV_HOLD_RUN").is_none() {
        return;
    }
    let bins = binaries("hold_a_run_until_signalled").expect("binaries");
    let seen = Mutex::new(Started::default());
    let _: Result<(), RealError> = Supervisor::scope(bins, |sup| {
        start_three(sup, &seen)?;
        let s = seen.lock().unwrap();
        for pid in &s.pids {
            println!("PID {pid}");
        }
        println!("DIR {}", s.dir.as_ref().unwrap().display());
        println!("READY");
        drop(s);
        std::thread::sleep(Duration::from_secs(30));
        Ok(())
    });
}

/// Runs `hold_a_run_until_signalled` in a child, sends it `signal`, and returns what it started.
fn signalled_child(signal: libc::c_int) -> Started {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_a_run_until_signalled", "--nocapture"])
        .env("SIMKV_HOLD_RUN", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary runs");
    let mut started = Started::default();
    let out = BufReader::new(child.stdout.take().unwrap());
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(pid) = line.strip_prefix("PID ") {
            started.pids.push(pid.parse().unwrap());
        } else if let Some(dir) = line.strip_prefix("DIR ") {
            started.dir = Some(PathBuf::from(dir));
        } else if line == "READY" {
            break;
        }
    }
    assert_eq!(started.pids.len(), 3, "the child started its run");
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    child.wait().unwrap();
    started
}

#[test]
fn sigterm_to_the_program_leaves_nothing() {
    if binaries("sigterm_to_the_program_leaves_nothing").is_none() {
        return;
    }
    let started = signalled_child(libc::SIGTERM);
    let seen = Mutex::new(started);
    // The handler kills, removes and exits; the kernel reaps the orphans right after.
    wait_for("the run's processes to go", Duration::from_secs(5), || {
        let s = seen.lock().unwrap();
        s.pids.iter().all(|p| !redis_alive(*p)).then_some(())
    });
    assert_nothing_left(&seen);
}

#[test]
fn sigkill_to_the_program_takes_its_processes_along() {
    if binaries("sigkill_to_the_program_takes_its_processes_along").is_none() {
        return;
    }
    let started = signalled_child(libc::SIGKILL);
    wait_for("the run's processes to die", Duration::from_secs(5), || {
        started.pids.iter().all(|p| !redis_alive(*p)).then_some(())
    });
    // Nobody was left to remove the directory: that is the one thing SIGKILL costs.
    let dir = started.dir.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

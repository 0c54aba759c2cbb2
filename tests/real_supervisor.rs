//! The supervisor's process operations on a real server: version detection, pause and resume,
//! crash and restart from the node's own directory, clean stop.

mod real_support;

use std::time::Duration;

use real_support::{binaries, node_ip, redis_alive};
use simkv::real::resp::Reply;
use simkv::real::supervisor::{RealError, ServerSpec, Supervisor};

#[test]
fn version_pause_crash_restart_and_stop() {
    let Some(bins) = binaries("version_pause_crash_restart_and_stop") else {
        return;
    };
    let version = bins.version().unwrap();
    assert!(version.major >= 7, "found redis {version}");
    let mut sup = Supervisor::new(bins).unwrap();
    let mut spec = ServerSpec::new("p1", node_ip(81));
    spec.save = Some(String::new());
    spec.appendonly = Some(true);
    spec.appendfsync = Some("always".into());
    let addr = sup.start_server(&spec).unwrap();
    let mut c = sup
        .connect("p1", node_ip(80), Duration::from_millis(500))
        .unwrap();
    assert_eq!(
        c.cmd(&["SET", "k", "durable"]).unwrap(),
        Reply::Simple("OK".into())
    );

    // A paused process keeps its socket but answers nothing until resumed.
    sup.pause("p1").unwrap();
    let err = c.cmd(&["PING"]).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    sup.resume("p1").unwrap();
    // The PING sent while paused is answered first.
    assert_eq!(c.read_reply().unwrap(), Reply::Simple("PONG".into()));

    // SIGKILL, then a restart from the same directory, config and port: the AOF (fsynced on
    // every write) brings the key back.
    let pid = sup.node("p1").unwrap().pid().unwrap();
    sup.kill("p1").unwrap();
    assert!(!redis_alive(pid));
    assert!(matches!(sup.pause("p1"), Err(RealError::NotRunning(_))));
    sup.restart("p1").unwrap();
    assert_eq!(sup.addr("p1").unwrap(), addr);
    let mut c = sup
        .connect("p1", node_ip(80), Duration::from_secs(2))
        .unwrap();
    assert_eq!(
        c.cmd(&["GET", "k"]).unwrap(),
        Reply::Bulk(Some(b"durable".to_vec()))
    );

    let pid = sup.node("p1").unwrap().pid().unwrap();
    sup.stop("p1").unwrap();
    assert!(!redis_alive(pid));
    assert!(sup.node("p1").unwrap().pid().is_none());
    assert!(matches!(
        sup.restart("nobody"),
        Err(RealError::UnknownNode(_))
    ));
}

//! An operator's hands: adding a server (a standby machine, or one taken out earlier) as a
//! replica of the current primary, and taking a server out. Sentinel never does either; people
//! (or their scripts and Kubernetes operators) do.

use super::{Control, Node};
use crate::fact::Fact;
use crate::net::Network;
use crate::redis::Disk;
use crate::server::{Role, Server};
use crate::sim::{Kernel, ProcessId, ProcessState};

type K = Kernel<Node, Network, Control>;

/// The primary an operator would find now: what the first running sentinel answers to
/// `SENTINEL get-master-addr-by-name` for its first watched primary, or without sentinels the
/// running server that is a primary (the first, in scenario order).
pub(super) fn current_primary(k: &K, servers: &[ProcessId]) -> Option<ProcessId> {
    let sentinels = servers.len()..k.len();
    for i in sentinels {
        let p = ProcessId(i as u32);
        if let Node::Sentinel(s) = k.process(p)
            && k.state(p) == ProcessState::Running
            && let Some(m) = s.monitors().first()
        {
            return Some(m.master());
        }
    }
    servers.iter().copied().find(|&p| {
        k.state(p) == ProcessState::Running
            && matches!(k.process(p), Node::Server(s) if s.role() == Role::Master)
    })
}

/// Starts server `n`, which is down, with an empty disk as a replica of `primary`; false (and
/// the operator's error in the trace) when it is running.
pub(super) fn add_server(
    k: &mut K,
    n: ProcessId,
    primary: ProcessId,
    reason: Option<String>,
) -> bool {
    let Node::Server(s) = k.process(n) else {
        return false;
    };
    let name = s.name().to_string();
    if k.state(n) != ProcessState::Crashed {
        k.note(Fact::OperatorReply {
            server: name,
            command: "add-server".into(),
            reply: "(error) the server is already running".into(),
        });
        return false;
    }
    let primary_name = match k.process(primary) {
        Node::Server(p) => p.name().to_string(),
        _ => unreachable!("a primary is a server"),
    };
    let disk = Disk {
        replicaof: Some(primary),
        ..Disk::default()
    };
    let fresh =
        Server::new(&name, s.config().clone(), disk, s.peer_names()).with_stats(s.stats().clone());
    k.note(Fact::ServerAdded {
        server: name,
        primary: primary_name,
        reason,
    });
    k.restart(n, Node::Server(Box::new(fresh)));
    true
}

/// Stops server `n` for good (until added again): its process ends and the OS closes its
/// sockets.
pub(super) fn remove_server(k: &mut K, n: ProcessId, reason: Option<String>) {
    let Node::Server(s) = k.process(n) else {
        return;
    };
    let name = s.name().to_string();
    let closes = s.sockets_closed_by_kill();
    k.note(Fact::ServerRemoved {
        server: name,
        reason,
    });
    if k.state(n) != ProcessState::Crashed {
        k.kill(n, closes);
    }
}

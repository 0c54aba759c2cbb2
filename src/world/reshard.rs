//! The operator's resharding (`redis-cli --cluster reshard`, `clusterManagerMoveSlot`): slot by
//! slot, `CLUSTER SETSLOT <slot> IMPORTING <from>` on the target, `MIGRATING <to>` on the source,
//! `MIGRATE` of the source's keys of the slot a batch at a time (`CLUSTER GETKEYSINSLOT`), then
//! `SETSLOT <slot> NODE <to>` on the target, the source and every other primary. Commands go
//! through each server's console, as the `command` fault's do; `MIGRATE` itself crosses the
//! network from the source to the target, so partitions and crashes hit it.
//!
//! A step that only typed `CLUSTER SETSLOT` is followed by the next 1 ms later (the console's
//! round trip); one that typed `MIGRATE` by the next `interval` later (the pace of the batches).
//! Each step looks at the servers as they are (what
//! `CLUSTER NODES` and `GETKEYSINSLOT` would answer): a server that is down or blocked in a
//! `MIGRATE` is waited for, a `MIGRATE` that failed is retried (as an operator re-runs
//! `redis-cli --cluster fix`), a slot the source no longer serves (a failover took it) is
//! skipped.

use super::{Control, Node};
use crate::cluster::slot::key_hash_slot;
use crate::cluster::topology::NodeId;
use crate::fault::{AdminCommand, SlotAction};
use crate::net::Network;
use crate::proto::Msg;
use crate::server::{Role, Server};
use crate::sim::{Kernel, KernelError, ProcessId, ProcessState, SimTime};

type K = Kernel<Node, Network, Control>;

/// Between two console commands of the operator's tool.
const CONSOLE_ROUND_TRIP_NS: u64 = SimTime::NANOS_PER_MS;

/// One resharding in progress.
#[derive(Clone, Debug)]
pub(super) struct Resharder {
    pub(super) from: ProcessId,
    pub(super) to: ProcessId,
    /// The slot being moved.
    pub(super) next: u16,
    pub(super) last: u16,
    pub(super) batch: u32,
    pub(super) interval_ns: u64,
    pub(super) timeout_ms: u64,
}

/// A running server's state, or `None` when it is down, paused or not a server.
fn server(k: &K, p: ProcessId) -> Option<&Server> {
    if k.state(p) != ProcessState::Running {
        return None;
    }
    match k.process(p) {
        Node::Server(s) => Some(s),
        _ => None,
    }
}

/// Types `command` at `p`'s console.
fn console(k: &mut K, p: ProcessId, command: AdminCommand) -> Result<(), KernelError> {
    let now = k.now();
    k.inject(now, p, p, Msg::Admin(command))
}

impl Resharder {
    /// One step; when to take the next (`None`: every slot has moved).
    pub(super) fn step(&mut self, k: &mut K) -> Result<Option<SimTime>, KernelError> {
        let paced = Some(k.now().plus(self.interval_ns));
        let again = Some(k.now().plus(CONSOLE_ROUND_TRIP_NS));
        if self.next > self.last {
            return Ok(None);
        }
        let slot = self.next;
        // A server that is down, paused or blocked in a MIGRATE is waited for.
        let (Some(src), Some(dst)) = (server(k, self.from), server(k, self.to)) else {
            return Ok(paced);
        };
        if src.migrating() {
            return Ok(paced);
        }
        let (Some(src_node), Some(dst_node)) = (src.cluster(), dst.cluster()) else {
            return Ok(None);
        };
        if !dst_node.is_primary() {
            // redis-cli stops: the target is no master any more.
            return Ok(None);
        }
        let (from, to) = (NodeId(self.from.0), NodeId(self.to.0));
        let src_owns = src_node.view().owner(slot) == Some(from) && src_node.is_primary();
        let dst_owns = dst_node.view().owner(slot) == Some(to);
        if !src_owns {
            // Moved already, or a failover took it: on to the next slot.
            self.next += 1;
            return self.step_or_done(again);
        }
        let keys: Vec<String> = {
            let mut keys: Vec<&str> = src
                .keyspace()
                .iter()
                .map(|(key, _)| &**key)
                .filter(|key| key_hash_slot(key.as_bytes()) == slot)
                .collect();
            keys.truncate(self.batch as usize);
            keys.into_iter().map(String::from).collect()
        };
        let importing = dst_node.view().importing_from.get(&slot) == Some(&from);
        let migrating = src_node.view().migrating_to.get(&slot) == Some(&to);
        if !keys.is_empty() {
            if !importing && !dst_owns {
                let action = SlotAction::Importing(self.from);
                console(k, self.to, AdminCommand::SetSlot { slot, action })?;
                return Ok(again);
            }
            if !migrating {
                let action = SlotAction::Migrating(self.to);
                console(k, self.from, AdminCommand::SetSlot { slot, action })?;
                return Ok(again);
            }
            let command = AdminCommand::Migrate {
                to: self.to,
                keys,
                timeout_ms: self.timeout_ms,
            };
            console(k, self.from, command)?;
            return Ok(paced);
        }
        // Every key moved: the target first, then the source, then the other primaries.
        let action = SlotAction::Node(self.to);
        console(k, self.to, AdminCommand::SetSlot { slot, action })?;
        console(k, self.from, AdminCommand::SetSlot { slot, action })?;
        let others: Vec<ProcessId> = (0..k.len() as u32)
            .map(ProcessId)
            .filter(|&p| p != self.from && p != self.to)
            .filter(|&p| server(k, p).is_some_and(|s| s.role() == Role::Master))
            .filter(|&p| server(k, p).is_some_and(|s| s.cluster().is_some()))
            .collect();
        for p in others {
            console(k, p, AdminCommand::SetSlot { slot, action })?;
        }
        self.next += 1;
        self.step_or_done(again)
    }

    fn step_or_done(&self, again: Option<SimTime>) -> Result<Option<SimTime>, KernelError> {
        Ok(if self.next > self.last { None } else { again })
    }
}

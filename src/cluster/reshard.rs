//! Resharding on one node: `CLUSTER SETSLOT <slot> MIGRATING|IMPORTING|STABLE|NODE`
//! (`cluster.c: clusterCommand` "setslot" of Redis 7.0.15). Keys move with `MIGRATE` (the
//! server's part); routing of migrating and importing slots (`-ASK`, `ASKING`, `-TRYAGAIN`) is in
//! [`super::redirect`].

use rand::Rng;

use super::node::{ClusterEvent, ClusterNode, Output};
use super::topology::NodeId;
use crate::sim::SimTime;

/// What `CLUSTER SETSLOT` does to a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetSlot {
    /// `MIGRATING <node>`: this owner sends clients asking for missing keys to `node` (`-ASK`).
    Migrating(NodeId),
    /// `IMPORTING <node>`: this node serves the slot to clients that sent `ASKING`.
    Importing(NodeId),
    /// `STABLE`: clears both.
    Stable,
    /// `NODE <node>`: `node` owns the slot from now on.
    Node(NodeId),
}

impl ClusterNode {
    /// `CLUSTER SETSLOT` typed at this node: Redis's error text when refused. `keys_in_slot` is
    /// `countKeysInSlot(slot)` of this server's keyspace.
    pub fn set_slot<R: Rng + ?Sized>(
        &mut self,
        now: SimTime,
        slot: u16,
        action: SetSlot,
        keys_in_slot: usize,
        rng: &mut R,
    ) -> (Result<(), String>, Output) {
        self.now_ms = now.as_ms();
        let reply = self.set_slot_now(slot, action, keys_in_slot, rng);
        if reply.is_ok() {
            self.todo_update_state = true;
            self.update_state();
        }
        (reply, std::mem::take(&mut self.out))
    }

    fn set_slot_now<R: Rng + ?Sized>(
        &mut self,
        slot: u16,
        action: SetSlot,
        keys_in_slot: usize,
        rng: &mut R,
    ) -> Result<(), String> {
        if !self.is_primary() {
            return Err("ERR Please use SETSLOT only with masters.".into());
        }
        let known_primary = |node: &ClusterNode, n: NodeId, unknown: String| {
            let Some(info) = node.view.nodes.get(&n) else {
                return Err(unknown);
            };
            if !info.is_primary() {
                return Err("ERR Target node is not a master".to_string());
            }
            Ok(())
        };
        let owner = self.view.owner(slot);
        match action {
            SetSlot::Migrating(to) => {
                if owner != Some(self.me) {
                    return Err(format!("ERR I'm not the owner of hash slot {slot}"));
                }
                known_primary(self, to, format!("ERR I don't know about node {to}"))?;
                self.view.migrating_to.insert(slot, to);
            }
            SetSlot::Importing(from) => {
                if owner == Some(self.me) {
                    return Err(format!("ERR I'm already the owner of hash slot {slot}"));
                }
                known_primary(self, from, format!("ERR I don't know about node {from}"))?;
                self.view.importing_from.insert(slot, from);
            }
            SetSlot::Stable => {
                self.view.importing_from.remove(&slot);
                self.view.migrating_to.remove(&slot);
            }
            SetSlot::Node(to) => {
                known_primary(self, to, format!("ERR Unknown node {to}"))?;
                let mine = owner == Some(self.me);
                if mine && to != self.me && keys_in_slot != 0 {
                    return Err(format!(
                        "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                    ));
                }
                if keys_in_slot == 0 {
                    self.view.migrating_to.remove(&slot);
                }
                self.view.assign_slot(slot, to);
                self.out
                    .events
                    .push(ClusterEvent::SlotAssigned { slot, to });
                let lost_all = self.view.num_slots(self.me) == 0;
                if mine && to != self.me && lost_all && self.config.allow_replica_migration {
                    self.follow_primary(to);
                }
                if to == self.me && self.view.importing_from.remove(&slot).is_some() {
                    self.bump_config_epoch_without_consensus();
                    self.broadcast_pong(false, rng);
                }
                return Ok(());
            }
        }
        let event = match action {
            SetSlot::Migrating(to) => ClusterEvent::SlotMigrating { slot, to },
            SetSlot::Importing(from) => ClusterEvent::SlotImporting { slot, from },
            _ => ClusterEvent::SlotStable { slot },
        };
        self.out.events.push(event);
        Ok(())
    }
}

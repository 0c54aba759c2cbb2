//! Who owns which slots after failovers: claims in headers and UPDATE messages, "higher
//! configEpoch wins" (`cluster.c: clusterUpdateSlotsConfigWith`), demotion of a primary whose
//! slots were taken, and configEpoch collisions (`clusterHandleConfigEpochCollision`).

use super::bus::{Body, Header};
use super::node::{ClusterEvent, ClusterNode};
use super::topology::{NodeId, Role, SlotSet};

impl ClusterNode {
    /// The slot part of `clusterProcessPacket` for PING/PONG/MEET: adopt a primary's newer
    /// claim, and send an UPDATE to a sender whose claim is stale.
    pub(super) fn process_slots_claim(&mut self, header: &Header) {
        let sender = header.sender;
        let info = self.view.node(sender);
        let shard_primary = if info.is_primary() {
            Some(sender)
        } else {
            info.primary()
        };
        let Some(shard_primary) = shard_primary.filter(|p| self.view.nodes.contains_key(p)) else {
            return;
        };
        if self.view.node(shard_primary).slots == header.slots {
            return;
        }
        if self.view.node(sender).is_primary() {
            self.update_slots_config_with(sender, header.config_epoch, &header.slots);
        }
        let stale_against = header.slots.iter().find_map(|slot| {
            let owner = self.view.owner(slot)?;
            let newer = owner != sender && self.view.node(owner).config_epoch > header.config_epoch;
            newer.then_some(owner)
        });
        if let Some(owner) = stale_against {
            let info = self.view.node(owner);
            let body = Body::Update {
                about: owner,
                config_epoch: info.config_epoch,
                slots: info.slots.clone(),
            };
            self.send(sender, body);
        }
    }

    /// An UPDATE message: `about` serves `slots` at `config_epoch` (`clusterProcessPacket`).
    pub(super) fn process_update(&mut self, about: NodeId, config_epoch: u64, slots: &SlotSet) {
        if !self.view.nodes.contains_key(&about) {
            return;
        }
        if self.view.node(about).config_epoch >= config_epoch {
            return;
        }
        if !self.view.node(about).is_primary() {
            self.view.set_primary(about);
        }
        self.view.node_mut(about).config_epoch = config_epoch;
        self.update_slots_config_with(about, config_epoch, slots);
    }

    /// `cluster.c: clusterUpdateSlotsConfigWith`: rebinds every claimed slot that is
    /// unassigned or owned at a lower configEpoch (not while importing it); if this node's
    /// shard lost all its slots to `sender`, follow `sender`.
    pub(super) fn update_slots_config_with(&mut self, sender: NodeId, epoch: u64, slots: &SlotSet) {
        if sender == self.me {
            return;
        }
        let me = self.view.node(self.me);
        let shard_primary = me.primary().unwrap_or(self.me);
        let (mut sender_slots, mut migrated_ours) = (0u32, 0u32);
        let mut dirty: Vec<u16> = Vec::new();
        for slot in slots.iter() {
            sender_slots += 1;
            let owner = self.view.owner(slot);
            if owner == Some(sender) || self.view.importing_from.contains_key(&slot) {
                continue;
            }
            if self.config.bug_keeps_stale_slots && owner == Some(self.me) {
                continue;
            }
            if owner.is_none_or(|o| self.view.node(o).config_epoch < epoch) {
                if owner == Some(self.me) {
                    dirty.push(slot);
                }
                if owner == Some(shard_primary) {
                    migrated_ours += 1;
                }
                self.view.assign_slot(slot, sender);
                self.todo_update_state = true;
            }
        }
        let lost_all = self.view.num_slots(shard_primary) == 0;
        let may_follow = self.config.allow_replica_migration || sender_slots == migrated_ours;
        if migrated_ours > 0 && lost_all && may_follow {
            self.follow_primary(sender);
        } else if !dirty.is_empty() {
            // The server deletes what it still holds of the slots it lost (`delKeysInSlot`).
            self.out
                .events
                .push(ClusterEvent::DirtySlots { slots: dirty });
        }
    }

    /// `cluster.c: clusterSetMaster`: this node becomes a replica of `primary`.
    pub(super) fn follow_primary(&mut self, primary: NodeId) {
        if self.view.node(self.me).role == (Role::Replica { of: Some(primary) }) {
            return;
        }
        self.view.set_replica_of(self.me, primary);
        self.view.migrating_to.clear();
        self.view.importing_from.clear();
        self.todo_update_state = true;
        self.out
            .events
            .push(ClusterEvent::BecameReplica { of: primary });
        self.reset_manual_failover();
    }

    /// `cluster.c: clusterHandleConfigEpochCollision`: two primaries with one configEpoch; the
    /// one with the smaller id takes a fresh epoch.
    pub(super) fn handle_config_epoch_collision(&mut self, header: &Header) {
        let sender = header.sender;
        let same = header.config_epoch == self.config_epoch();
        if !same || !self.is_primary() || !self.view.node(sender).is_primary() {
            return;
        }
        if sender <= self.me {
            return;
        }
        self.view.current_epoch += 1;
        let epoch = self.view.current_epoch;
        self.view.node_mut(self.me).config_epoch = epoch;
        self.out
            .events
            .push(ClusterEvent::ConfigEpochBumped { epoch });
    }
}

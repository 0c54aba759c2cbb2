//! Replica migration (`cluster.c: clusterHandleSlaveMigration` and the census of
//! `clusterCron`): a primary left without working replicas ("orphaned") gets one from a shard
//! with the most, as long as that shard keeps more than `cluster-migration-barrier`.
//!
//! Only a replica runs it, from cron, when some primary is orphaned, some primary has at least
//! two working replicas, and its own primary is one of those with the most. Among the replicas
//! of the primaries with the most working replicas, the one with the smallest id moves, once the
//! orphan has been orphaned for `CLUSTER_SLAVE_MIGRATION_DELAY`.

use super::node::{ClusterEvent, ClusterNode};
use super::state::ClusterState;
use super::topology::NodeId;

/// `cluster.h: CLUSTER_SLAVE_MIGRATION_DELAY`: how long a primary must stay orphaned (ms).
pub const MIGRATION_DELAY_MS: u64 = 5000;

/// What `clusterCron` counts for replica migration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Primaries serving slots, flagged MIGRATE_TO, with no replica that is not FAIL.
    pub orphaned: usize,
    /// The most non-FAIL replicas of one (non-FAIL) primary.
    pub max_replicas: usize,
    /// The non-FAIL replicas of this node's primary.
    pub mine: usize,
}

impl ClusterNode {
    /// `cluster.c: clusterCountNonFailingSlaves`.
    fn working_replicas(&self, primary: NodeId) -> usize {
        let replicas = self.view.replicas_of(primary);
        replicas
            .iter()
            .filter(|&&r| !self.view.node(r).failed())
            .count()
    }

    /// The orphaned-primary census of `clusterCron`, over every other node that is a primary
    /// and not FAIL.
    pub fn migration_census(&self) -> Census {
        let mut c = Census::default();
        let my_primary = self.view.node(self.me).primary();
        for (&id, info) in &self.view.nodes {
            if id == self.me || !info.is_primary() || info.failed() {
                continue;
            }
            let ok = self.working_replicas(id);
            if ok == 0 && info.slots.count() > 0 && info.flags.migrate_to {
                c.orphaned += 1;
            }
            c.max_replicas = c.max_replicas.max(ok);
            if my_primary == Some(id) {
                c.mine = ok;
            }
        }
        c
    }

    /// The condition of `clusterCron` for calling `clusterHandleSlaveMigration`.
    pub(super) fn maybe_migrate(&mut self) {
        let c = self.migration_census();
        if c.orphaned > 0
            && c.max_replicas >= 2
            && c.mine == c.max_replicas
            && self.config.allow_replica_migration
        {
            self.handle_replica_migration(c.max_replicas);
        }
    }

    /// `cluster.c: clusterHandleSlaveMigration`.
    fn handle_replica_migration(&mut self, max_replicas: usize) {
        if self.state() != ClusterState::Ok {
            return;
        }
        let Some(my_primary) = self.view.node(self.me).primary() else {
            return;
        };
        let siblings = self.view.replicas_of(my_primary);
        let ok = siblings
            .iter()
            .filter(|&&r| {
                let f = self.view.node(r).flags;
                !f.fail && !f.pfail
            })
            .count();
        if ok as u64 <= self.config.migration_barrier {
            return;
        }
        let mut candidate = self.me;
        let mut target: Option<NodeId> = None;
        let ids: Vec<NodeId> = self.view.nodes.keys().copied().collect();
        for id in ids {
            let info = self.view.node(id);
            let ok = if info.is_primary() {
                self.working_replicas(id)
            } else {
                0
            };
            let orphaned = info.is_primary() && !info.failed() && info.flags.migrate_to && ok == 0;
            if orphaned {
                if target.is_none() && info.slots.count() > 0 {
                    target = Some(id);
                }
                let now = self.now_ms;
                self.orphaned_since_ms.entry(id).or_insert(now);
            } else {
                self.orphaned_since_ms.remove(&id);
            }
            if ok == max_replicas {
                for r in self.view.replicas_of(id) {
                    candidate = candidate.min(r);
                }
            }
        }
        let Some(target) = target else {
            return;
        };
        let since = self
            .orphaned_since_ms
            .get(&target)
            .copied()
            .unwrap_or(self.now_ms);
        if candidate == self.me && self.now_ms - since > MIGRATION_DELAY_MS {
            self.out
                .events
                .push(ClusterEvent::ReplicaMigration { to: target });
            self.follow_primary(target);
        }
    }
}

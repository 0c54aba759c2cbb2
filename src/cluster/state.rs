//! The cluster state (OK or FAIL) as one node judges it (`cluster.c: clusterUpdateState`): full
//! slot coverage, a reachable majority of primaries, and the delays before a primary that
//! booted or sat in a minority may serve again.

use super::slot::CLUSTER_SLOTS;
use super::topology::Topology;

/// Whether this node serves key-based commands (`CLUSTER_OK` / `CLUSTER_FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    /// Serving.
    Ok,
    /// Refusing key-based commands with CLUSTERDOWN.
    Fail,
}

/// `cluster.c: CLUSTER_WRITABLE_DELAY`: a primary that starts in FAIL waits this long (ms).
pub const WRITABLE_DELAY_MS: u64 = 2000;
/// `cluster.c: CLUSTER_MIN_REJOIN_DELAY` (ms).
pub const MIN_REJOIN_DELAY_MS: u64 = 500;
/// `cluster.c: CLUSTER_MAX_REJOIN_DELAY` (ms).
pub const MAX_REJOIN_DELAY_MS: u64 = 5000;

/// The memory `clusterUpdateState` keeps between calls.
#[derive(Clone, Debug)]
pub struct StateTracker {
    state: ClusterState,
    first_call_ms: Option<u64>,
    among_minority_ms: Option<u64>,
}

impl Default for StateTracker {
    fn default() -> Self {
        StateTracker::new()
    }
}

impl StateTracker {
    /// A node starts in FAIL (`clusterInit`).
    pub fn new() -> StateTracker {
        StateTracker {
            state: ClusterState::Fail,
            first_call_ms: None,
            among_minority_ms: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClusterState {
        self.state
    }

    /// Recomputes the state (`cluster.c: clusterUpdateState`); returns the new state when it
    /// changed. `i_am_primary` gates the writable and rejoin delays.
    pub fn update(
        &mut self,
        now_ms: u64,
        view: &Topology,
        i_am_primary: bool,
        require_full_coverage: bool,
        node_timeout_ms: u64,
    ) -> Option<ClusterState> {
        let first_call = *self.first_call_ms.get_or_insert(now_ms);
        if i_am_primary
            && self.state == ClusterState::Fail
            && now_ms - first_call < WRITABLE_DELAY_MS
        {
            return None;
        }
        let mut new_state = ClusterState::Ok;
        if require_full_coverage && !fully_covered(view) {
            new_state = ClusterState::Fail;
        }
        if reachable_primaries(view) < view.quorum() {
            new_state = ClusterState::Fail;
            self.among_minority_ms = Some(now_ms);
        }
        if new_state == self.state {
            return None;
        }
        let rejoin_delay = node_timeout_ms.clamp(MIN_REJOIN_DELAY_MS, MAX_REJOIN_DELAY_MS);
        let recently_in_minority = self
            .among_minority_ms
            .is_some_and(|t| now_ms - t < rejoin_delay);
        if new_state == ClusterState::Ok && i_am_primary && recently_in_minority {
            return None;
        }
        self.state = new_state;
        Some(new_state)
    }
}

/// Every slot has an owner that is not flagged FAIL.
fn fully_covered(view: &Topology) -> bool {
    (0..CLUSTER_SLOTS).all(|slot| view.owner(slot).is_some_and(|n| !view.node(n).failed()))
}

/// Primaries serving slots that are flagged neither PFAIL nor FAIL (this node included).
pub fn reachable_primaries(view: &Topology) -> usize {
    view.nodes
        .values()
        .filter(|n| n.is_primary() && n.slots.count() > 0 && !n.flags.pfail && !n.flags.fail)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::{Endpoint, NodeId, Shard};

    fn view() -> Topology {
        let shards: Vec<Shard> = (0..3)
            .map(|i| Shard {
                primary: (
                    NodeId(i),
                    Endpoint {
                        host: String::new(),
                        port: 7000,
                    },
                ),
                replicas: vec![],
            })
            .collect();
        Topology::from_shards(&shards)
    }

    #[test]
    fn primary_waits_the_writable_delay_after_boot() {
        let mut tracker = StateTracker::new();
        let v = view();
        assert_eq!(tracker.update(0, &v, true, true, 15_000), None);
        assert_eq!(tracker.update(1_900, &v, true, true, 15_000), None);
        assert_eq!(
            tracker.update(2_100, &v, true, true, 15_000),
            Some(ClusterState::Ok)
        );
    }

    #[test]
    fn a_replica_is_ok_at_once() {
        let mut tracker = StateTracker::new();
        assert_eq!(
            tracker.update(0, &view(), false, true, 15_000),
            Some(ClusterState::Ok)
        );
    }

    #[test]
    fn full_coverage_is_required_unless_disabled() {
        let mut v = view();
        v.node_mut(NodeId(2)).flags.fail = true;
        let mut strict = StateTracker::new();
        assert_eq!(
            strict.update(0, &v, false, true, 15_000),
            None,
            "stays FAIL"
        );
        assert_eq!(strict.state(), ClusterState::Fail);
        let mut lenient = StateTracker::new();
        assert_eq!(
            lenient.update(0, &v, false, false, 15_000),
            Some(ClusterState::Ok)
        );
        v.unassign_slot(3);
        v.node_mut(NodeId(2)).flags.fail = false;
        assert_eq!(strict.update(10, &v, false, true, 15_000), None);
        assert_eq!(strict.state(), ClusterState::Fail, "slot 3 is not served");
    }

    #[test]
    fn minority_fails_and_rejoins_after_the_delay() {
        let mut tracker = StateTracker::new();
        let mut v = view();
        tracker.update(0, &v, true, false, 15_000);
        tracker.update(5_000, &v, true, false, 15_000);
        assert_eq!(tracker.state(), ClusterState::Ok);
        v.node_mut(NodeId(1)).flags.pfail = true;
        v.node_mut(NodeId(2)).flags.pfail = true;
        assert_eq!(
            tracker.update(20_000, &v, true, false, 15_000),
            Some(ClusterState::Fail)
        );
        v.node_mut(NodeId(1)).flags.pfail = false;
        v.node_mut(NodeId(2)).flags.pfail = false;
        // The rejoin delay is clamp(15000, 500, 5000) = 5000 ms after the last minority sighting.
        assert_eq!(tracker.update(24_900, &v, true, false, 15_000), None);
        assert_eq!(
            tracker.update(25_100, &v, true, false, 15_000),
            Some(ClusterState::Ok)
        );
    }
}

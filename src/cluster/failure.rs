//! Failure detection beyond one node's own timeouts: failure reports from primaries, PFAIL to
//! FAIL on a majority (`cluster.c: markNodeAsFailingIfNeeded`), and clearing FAIL when a node is
//! back (`cluster.c: clearNodeFailureIfNeeded`).

use super::bus::Body;
use super::node::{ClusterEvent, ClusterNode, FailReport};
use super::topology::NodeId;

/// `cluster.h: CLUSTER_FAIL_REPORT_VALIDITY_MULT`: reports live node_timeout × 2.
pub const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
/// `cluster.h: CLUSTER_FAIL_UNDO_TIME_MULT`: a primary's FAIL may be undone after this ×
/// node_timeout.
pub const FAIL_UNDO_TIME_MULT: u64 = 2;

impl ClusterNode {
    /// `cluster.c: clusterNodeAddFailureReport`: records (or refreshes) `reporter`'s report.
    pub(super) fn add_failure_report(&mut self, failing: NodeId, reporter: NodeId) {
        let now = self.now_ms;
        let reports = &mut self.peers.get_mut(&failing).expect("known").fail_reports;
        match reports.iter_mut().find(|r| r.reporter == reporter) {
            Some(report) => report.time_ms = now,
            None => reports.push(FailReport {
                reporter,
                time_ms: now,
            }),
        }
    }

    /// `cluster.c: clusterNodeDelFailureReport`.
    pub(super) fn remove_failure_report(&mut self, failing: NodeId, reporter: NodeId) {
        let reports = &mut self.peers.get_mut(&failing).expect("known").fail_reports;
        reports.retain(|r| r.reporter != reporter);
    }

    /// `cluster.c: clusterNodeFailureReportsCount` after `clusterNodeCleanupFailureReports`:
    /// reports older than node_timeout × 2 are dropped first.
    pub(super) fn failure_report_count(&mut self, failing: NodeId) -> usize {
        let now = self.now_ms;
        let max_age = self.config.node_timeout_ms * FAIL_REPORT_VALIDITY_MULT;
        let reports = &mut self.peers.get_mut(&failing).expect("known").fail_reports;
        reports.retain(|r| now.saturating_sub(r.time_ms) <= max_age);
        reports.len()
    }

    /// `cluster.c: markNodeAsFailingIfNeeded`: PFAIL here plus reports from a majority of
    /// primaries (this node counts when it is a primary) makes FAIL, broadcast to all.
    pub(super) fn mark_failing_if_needed(&mut self, node: NodeId) {
        let flags = self.view.node(node).flags;
        if !flags.pfail || flags.fail {
            return;
        }
        let needed = self.view.quorum();
        let mut failures = self.failure_report_count(node);
        if self.is_primary() {
            failures += 1;
        }
        if failures < needed {
            return;
        }
        let info = self.view.node_mut(node);
        info.flags.pfail = false;
        info.flags.fail = true;
        self.peers.get_mut(&node).expect("known").fail_time_ms = self.now_ms;
        self.out.events.push(ClusterEvent::Fail {
            node,
            by_quorum: true,
        });
        self.broadcast(Body::Fail { about: node });
        self.todo_update_state = true;
    }

    /// `cluster.c: clearNodeFailureIfNeeded`: a replica or a slot-less primary is cleared at
    /// once; a primary with slots only when its FAIL is older than node_timeout × 2 (nobody
    /// took its slots).
    pub(super) fn clear_failure_if_needed(&mut self, node: NodeId) {
        let info = self.view.node(node);
        assert!(info.flags.fail, "clearing a node that is not FAIL");
        let serves_slots = info.is_primary() && info.slots.count() > 0;
        let fail_age = self.now_ms.saturating_sub(self.peers[&node].fail_time_ms);
        let undo_after = self.config.node_timeout_ms * FAIL_UNDO_TIME_MULT;
        if !serves_slots || fail_age > undo_after {
            self.view.node_mut(node).flags.fail = false;
            self.out.events.push(ClusterEvent::FailCleared { node });
            self.todo_update_state = true;
        }
    }
}

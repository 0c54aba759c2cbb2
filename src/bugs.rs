//! Planted bugs: a `[bugs]` table in a scenario breaks the model in known ways. They are a
//! teaching aid (what would this bug cost?) and a test of the checkers: every planted bug must
//! be caught by at least one checker (tests/planted_bugs.rs). All are off by default.

/// Which bugs are planted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Sentinel promotes the replica with the *smallest* replication offset.
    pub promote_lowest_offset: bool,
    /// A primary answers every `PSYNC` with `+CONTINUE`, whatever the replication ID and even
    /// outside its backlog (streaming from the nearest offset it has), so a replica with a
    /// diverged or too old history continues instead of resyncing.
    pub accept_any_psync: bool,
    /// `appendfsync always` never actually fsyncs (nor does everysec or the OS writeback).
    pub skip_fsync: bool,
    /// A primary demoted with `REPLICAOF` keeps accepting writes from clients.
    pub demoted_primary_accepts_writes: bool,
    /// The primary acknowledges every 50th write without propagating it to its replicas.
    pub drop_propagation: bool,
    /// A Redis Cluster node never gives up a slot it serves to a claim at a higher configEpoch
    /// (`clusterUpdateSlotsConfigWith` skips its own slots), so a primary that was failed over
    /// keeps serving its old slots when it returns.
    pub cluster_keeps_stale_slots: bool,
    /// The target of a `MIGRATE` answers OK without restoring the keys: resharding drops them.
    pub migrate_without_restore: bool,
}

impl Bugs {
    /// The names of the bugs, as keys of the `[bugs]` table.
    pub const NAMES: &'static [&'static str] = &[
        "promote_lowest_offset",
        "accept_any_psync",
        "skip_fsync",
        "demoted_primary_accepts_writes",
        "drop_propagation",
        "cluster_keeps_stale_slots",
        "migrate_without_restore",
    ];

    /// Plants the bug called `name`; false if there is no such bug.
    pub fn set(&mut self, name: &str, on: bool) -> bool {
        let slot = match name {
            "promote_lowest_offset" => &mut self.promote_lowest_offset,
            "accept_any_psync" => &mut self.accept_any_psync,
            "skip_fsync" => &mut self.skip_fsync,
            "demoted_primary_accepts_writes" => &mut self.demoted_primary_accepts_writes,
            "drop_propagation" => &mut self.drop_propagation,
            "cluster_keeps_stale_slots" => &mut self.cluster_keeps_stale_slots,
            "migrate_without_restore" => &mut self.migrate_without_restore,
            _ => return false,
        };
        *slot = on;
        true
    }

    /// Whether any bug is planted.
    pub fn any(&self) -> bool {
        *self != Bugs::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_sets_a_bug() {
        for n in Bugs::NAMES {
            let mut b = Bugs::default();
            assert!(b.set(n, true), "{n}");
            assert!(b.any(), "{n}");
        }
        assert!(!Bugs::default().set("nonsense", true));
    }
}

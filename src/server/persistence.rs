//! The persistence part of a server: the disk, the AOF and its fsync policy, RDB children and
//! the `save` rules.

use std::rc::Rc;

use super::aof_flush::AofFlush;
use crate::fact::Fact;
use crate::fault::DiskError;
use crate::proto::Msg;
use crate::redis::{AofFile, Disk, Keyspace, Mark, RdbFile, ReplId, ServerConfig};
use crate::sim::{Ctx, SimTime};

/// server.h: CONFIG_BGSAVE_RETRY_DELAY: seconds before a failed BGSAVE is tried again.
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// A forked RDB child.
#[derive(Clone, Debug)]
pub(crate) struct Child {
    pub(crate) snapshot: Rc<Keyspace>,
    pub(crate) replid: ReplId,
    pub(crate) offset: u64,
    /// Where the snapshot's data stands, unstreamed writes included.
    pub(crate) holds: Mark,
    pub(crate) for_replication: bool,
    pub(crate) generation: u64,
}

/// What survives a crash and what is on its way to the disk.
#[derive(Clone, Debug)]
pub(crate) struct Persistence {
    pub(crate) disk: Disk,
    pub(crate) disk_stalled: bool,
    pub(crate) child: Option<Child>,
    pub(crate) dirty_since_save: u64,
    pub(crate) last_save: SimTime,
    /// 7.2's `server.fsynced_reploff`: the replication offset the server's own last fsync
    /// covered (the OS writeback of `appendfsync no` does not move it).
    pub(crate) fsynced_reploff: u64,
    /// A `disk-error` fault: writes to the disk fail with this error.
    pub(crate) disk_error: Option<DiskError>,
    /// A `slow-disk` fault: extra time each fsync takes.
    pub(crate) slow_fsync_ns: u64,
    /// The AOF write path (`server.aof_buf`, the background fsync, postponed flushes and
    /// write errors).
    pub(crate) aof: AofFlush,
    /// `server.lastbgsave_status == C_ERR`: the last BGSAVE failed.
    pub(crate) bgsave_failed: Option<DiskError>,
    /// `server.lastbgsave_try`: when the last BGSAVE was forked.
    pub(crate) last_bgsave_try: SimTime,
}

impl Persistence {
    pub(crate) fn new(disk: Disk) -> Self {
        Persistence {
            disk,
            disk_stalled: false,
            child: None,
            dirty_since_save: 0,
            last_save: SimTime::ZERO,
            fsynced_reploff: 0,
            disk_error: None,
            slow_fsync_ns: 0,
            aof: AofFlush::default(),
            bgsave_failed: None,
            last_bgsave_try: SimTime::ZERO,
        }
    }

    /// `fsynced_reploff` as WAITAOF and `FACK` read it: `None` with `appendonly no` (-1).
    pub(crate) fn fsynced_reploff(&self, cfg: &ServerConfig) -> Option<u64> {
        cfg.appendonly.then_some(self.fsynced_reploff)
    }

    pub(crate) fn fsync_works(&self, cfg: &ServerConfig) -> bool {
        !self.disk_stalled && !cfg.bugs.skip_fsync
    }

    /// Whether a `save <seconds> <changes>` rule is due (`serverCron`), with no child running.
    pub(crate) fn save_due(&self, cfg: &ServerConfig, now: SimTime) -> bool {
        if self.child.is_some() {
            return false;
        }
        let elapsed_s = now.since(self.last_save) / SimTime::NANOS_PER_SEC;
        // serverCron: after a failed BGSAVE, retry only CONFIG_BGSAVE_RETRY_DELAY (5 s) later.
        let retry_s = now.since(self.last_bgsave_try) / SimTime::NANOS_PER_SEC;
        if self.bgsave_failed.is_some() && retry_s <= BGSAVE_RETRY_DELAY_SECS {
            return false;
        }
        cfg.save
            .iter()
            .any(|&(secs, changes)| self.dirty_since_save >= changes && elapsed_s >= secs)
    }

    /// A disk-based child finished: `rdbSave` fsyncs the file before renaming it into place.
    pub(crate) fn rdb_written(&mut self, ctx: &mut Ctx<'_, Msg>, server: &str, child: &Child) {
        self.disk.rdb = Some(RdbFile {
            keyspace: child.snapshot.clone(),
            replid: child.replid,
            offset: child.offset,
            holds: child.holds,
        });
        self.dirty_since_save = 0;
        self.last_save = ctx.now();
        ctx.note(Fact::BgsaveDone {
            server: server.to_string(),
            offset: child.offset,
        });
    }

    /// A replica loaded its primary's RDB: it is now dump.rdb, and `restartAOFAfterSYNC`
    /// rewrites the AOF with the new dataset as its base.
    pub(crate) fn synced_from_primary(
        &mut self,
        cfg: &ServerConfig,
        snapshot: Rc<Keyspace>,
        replid: ReplId,
        offset: u64,
    ) {
        let holds = Mark::streamed(replid, offset);
        self.disk.rdb = Some(RdbFile {
            keyspace: snapshot.clone(),
            replid,
            offset,
            holds,
        });
        if cfg.appendonly {
            self.disk.aof = Some(AofFile {
                base: Some(snapshot),
                base_position: Some(holds),
                base_fsynced: true,
                ..AofFile::default()
            });
            // stopAppendOnly flushes `aof_buf` into the old file, which the rewrite replaces:
            // nothing buffered or in flight carries over into the new one.
            self.aof.restart_after_sync();
        }
    }
}

//! The persistence part of a server: the disk, the AOF and its fsync policy, RDB children and
//! the `save` rules.

use std::rc::Rc;

use crate::fact::Fact;
use crate::proto::Msg;
use crate::redis::{AofFile, Command, Disk, Fsync, Keyspace, Mark, RdbFile, ReplId, ServerConfig};
use crate::sim::{Ctx, SimTime};

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
    /// The second (of the server's clock) of the last `everysec` fsync (`server.aof_last_fsync`).
    last_fsync_second: u64,
    /// 7.2's `server.fsynced_reploff`: the replication offset the server's own last fsync
    /// covered (the OS writeback of `appendfsync no` does not move it).
    fsynced_reploff: u64,
}

impl Persistence {
    pub(crate) fn new(disk: Disk) -> Self {
        Persistence {
            disk,
            disk_stalled: false,
            child: None,
            dirty_since_save: 0,
            last_save: SimTime::ZERO,
            last_fsync_second: 0,
            fsynced_reploff: 0,
        }
    }

    /// `fsynced_reploff` as WAITAOF and `FACK` read it: `None` with `appendonly no` (-1).
    pub(crate) fn fsynced_reploff(&self, cfg: &ServerConfig) -> Option<u64> {
        cfg.appendonly.then_some(self.fsynced_reploff)
    }

    fn fsync_works(&self, cfg: &ServerConfig) -> bool {
        !self.disk_stalled && !cfg.bugs.skip_fsync
    }

    /// Counts a write and appends it to the AOF (`feedAppendOnlyFile`).
    /// Records an applied write; `position` is where it landed in the replication history
    /// (replid, offset after it), kept beside the AOF so a restart knows what its files reach.
    pub(crate) fn record_write(
        &mut self,
        cfg: &ServerConfig,
        cmd: &Command,
        position: Mark,
        now: SimTime,
        repl_offset: u64,
    ) {
        self.dirty_since_save += 1;
        if !cfg.appendonly {
            return;
        }
        let fsync_now = cfg.appendfsync == Fsync::Always && self.fsync_works(cfg);
        let aof = self.disk.aof.get_or_insert_with(AofFile::default);
        // Redis writes the AOF buffer in beforeSleep, before replies go out: the command is in the
        // page cache by the time the client sees the reply.
        aof.push(cmd.clone(), position);
        if fsync_now {
            aof.fsynced = aof.commands.len();
            self.fsynced_reploff = repl_offset;
        }
        if cfg.appendfsync == Fsync::Everysec {
            self.everysec_fsync(cfg, now, repl_offset);
        }
    }

    /// aof.c: flushAppendOnlyFile, run in every `beforeSleep`: with `everysec`, the write is
    /// followed by a background fsync only when the clock's second has moved on since the last
    /// one (`server.unixtime > server.aof_last_fsync`), so a power loss takes up to a second of
    /// acknowledged writes. The model fsyncs at the first write (or cron tick) of each second.
    fn everysec_fsync(&mut self, cfg: &ServerConfig, now: SimTime, repl_offset: u64) {
        let second = now.0 / SimTime::NANOS_PER_SEC;
        if second <= self.last_fsync_second || !self.fsync_works(cfg) {
            return;
        }
        if let Some(aof) = self.disk.aof.as_mut() {
            aof.fsynced = aof.commands.len();
        }
        self.fsynced_reploff = repl_offset;
        self.last_fsync_second = second;
    }

    /// The once-a-second fsync of `appendfsync everysec` (and the OS writeback for `no`).
    pub(crate) fn fsync_cron(&mut self, cfg: &ServerConfig, now: SimTime, repl_offset: u64) {
        if !self.fsync_works(cfg) {
            return;
        }
        match cfg.appendfsync {
            Fsync::Everysec => self.everysec_fsync(cfg, now, repl_offset),
            Fsync::No => {
                let Some(aof) = self.disk.aof.as_mut() else {
                    return;
                };
                let last = SimTime(self.disk.last_writeback_ns.unwrap_or(now.0));
                if now.since(last) >= cfg.os_writeback_interval_ms * SimTime::NANOS_PER_MS {
                    aof.fsynced = aof.commands.len();
                    self.disk.last_writeback_ns = Some(now.0);
                }
            }
            // A stall that ended lets the pending fsync of the last write complete.
            Fsync::Always => {
                if let Some(aof) = self.disk.aof.as_mut() {
                    aof.fsynced = aof.commands.len();
                }
                self.fsynced_reploff = repl_offset;
            }
        }
    }

    /// finishShutdown: `flushAppendOnlyFile(1)` and `redis_fsync`: the whole AOF is on disk
    /// (unless the disk stalls).
    pub(crate) fn fsync_all(&mut self, cfg: &ServerConfig, repl_offset: u64) {
        if !self.fsync_works(cfg) {
            return;
        }
        if let Some(aof) = self.disk.aof.as_mut() {
            aof.fsynced = aof.commands.len();
        }
        self.fsynced_reploff = repl_offset;
    }

    /// Whether a `save <seconds> <changes>` rule is due (`serverCron`), with no child running.
    pub(crate) fn save_due(&self, cfg: &ServerConfig, now: SimTime) -> bool {
        if self.child.is_some() {
            return false;
        }
        let elapsed_s = now.since(self.last_save) / SimTime::NANOS_PER_SEC;
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
        }
    }
}

//! What a slow, stalled or failing disk does to a server: the fsync `appendfsync always` runs in
//! the event loop before replies go out, a write that waits for a slow background fsync, the
//! `-MISCONF` refusals after a failed AOF write or BGSAVE, Redis exiting on an AOF write error
//! under `always`, and a replica that panics when it cannot write its primary's commands.

use super::aof_flush::Flushed;
use super::console::AfterBlock;
use super::{Server, TIMER_AOF_FSYNC, TIMER_AOF_STALL};
use crate::fact::{DiskFact, Fact};
use crate::fault::DiskError;
use crate::proto::Msg;
use crate::sim::{Ctx, ProcessId, SimTime};

/// How long a write blocked behind a stalled fsync waits before looking at the disk again.
const STALL_RECHECK_NS: u64 = 100 * SimTime::NANOS_PER_MS;

/// The server's part of the disk's effects.
#[derive(Clone, Debug, Default)]
pub(super) struct DiskEffects {
    /// Replies waiting for the event loop's fsync (`appendfsync always` on a slow disk).
    held: Vec<(ProcessId, Msg)>,
    /// The disk made the process exit or panic: nothing more happens in it.
    pub(super) dead: bool,
    /// A write blocks behind a stalled fsync: the event loop runs nothing until the disk is back.
    pub(super) stalled_write: bool,
}

impl Server {
    /// A `disk-error` fault starts (`Some`) or heals (`None`).
    pub fn set_disk_error(&mut self, error: Option<DiskError>) {
        self.persistence.disk_error = error;
    }

    /// A `slow-disk` fault: each fsync takes `extra_ns` more (0 when it heals).
    pub fn set_slow_fsync(&mut self, extra_ns: u64) {
        self.persistence.slow_fsync_ns = extra_ns;
    }

    /// Acts on what an AOF flush asks; false when the server is gone (it exited).
    pub(super) fn after_flush(&mut self, ctx: &mut Ctx<'_, Msg>, flushed: Flushed) -> bool {
        if self.disk.dead {
            return false;
        }
        if let Some(err) = flushed.fatal {
            // aof.c: flushAppendOnlyFile: "Can't recover from AOF write error when the AOF
            // fsync policy is 'always'. Exiting..." (exit(1), before any reply goes out).
            let error = err.strerror().to_string();
            self.note_disk(ctx, DiskFact::AofWriteFatal { error });
            self.die(ctx);
            return false;
        }
        if let Some(err) = flushed.failed {
            let error = err.strerror().to_string();
            self.note_disk(ctx, DiskFact::AofWriteError { error });
        }
        if flushed.recovered {
            self.note_disk(ctx, DiskFact::AofWriteRecovered);
        }
        if flushed.fsync_started {
            // The fsync runs in beforeSleep, after every command of this event-loop iteration
            // (the zero-delay timer fires after the events already due now).
            ctx.set_timer(0, TIMER_AOF_FSYNC);
        }
        if let Some(wait) = flushed.write_blocks {
            self.note_disk(ctx, DiskFact::FsyncTooSlow);
            self.block_on_fsync(ctx, wait);
        }
        true
    }

    /// The write waits for the background fsync: `Some(ns)` more, or (stalled disk) until the
    /// disk comes back, looked at every 100 ms.
    fn block_on_fsync(&mut self, ctx: &mut Ctx<'_, Msg>, wait: Option<u64>) {
        match wait {
            Some(ns) if ns > 0 => ctx.block_for(ns),
            Some(_) => {}
            None => {
                self.disk.stalled_write = true;
                ctx.set_timer(STALL_RECHECK_NS, TIMER_AOF_STALL);
            }
        }
    }

    /// A write blocked behind a stalled fsync looks at the disk again; once it works, the
    /// fsync completes, the write returns and the event loop catches up.
    pub(super) fn on_stalled_write_timer(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.persistence.disk_stalled {
            ctx.set_timer(STALL_RECHECK_NS, TIMER_AOF_STALL);
            return;
        }
        self.disk.stalled_write = false;
        self.release_blocked(ctx);
    }

    /// A reply to a client: it waits for the event loop's pending fsync, if there is one.
    pub(super) fn reply(&mut self, ctx: &mut Ctx<'_, Msg>, client: ProcessId, msg: Msg) {
        if self.persistence.aof.fsync_pending {
            self.disk.held.push((client, msg));
        } else {
            ctx.send(client, msg);
        }
    }

    /// beforeSleep's fsync under `appendfsync always`: the event loop blocks for it, then the
    /// replies held for it go out.
    pub(super) fn on_aof_fsync_timer(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if !self.persistence.aof.fsync_pending {
            return;
        }
        let (len, offset) = self.persistence.fsync_in_loop();
        let replies = std::mem::take(&mut self.disk.held);
        let ns = self.persistence.fsync_ns(&self.cfg);
        self.block_then(
            ctx,
            ns,
            AfterBlock::AofFsynced {
                len,
                offset,
                replies,
            },
        );
    }

    /// The event loop's fsync completed.
    pub(super) fn aof_fsynced(
        &mut self,
        ctx: &mut Ctx<'_, Msg>,
        len: usize,
        offset: u64,
        replies: Vec<(ProcessId, Msg)>,
    ) {
        self.persistence.fsynced(len, offset);
        for (client, msg) in replies {
            ctx.send(client, msg);
        }
        if !self.primary.blocked.is_empty() {
            let fsynced = self.persistence.fsynced_reploff(&self.cfg);
            self.primary.unblock_waits(ctx, fsynced);
        }
    }

    /// server.c: processCommand on a replica whose disk refuses writes: a write from its primary
    /// is `serverPanic("Replica was unable to write command to disk.")` unless
    /// `replica-ignore-disk-write-errors yes`. True when the server panicked.
    pub(super) fn panics_on_primary_write(&mut self, ctx: &mut Ctx<'_, Msg>) -> bool {
        if self.cfg.replica_ignore_disk_write_errors
            || self.persistence.write_denied(&self.cfg).is_none()
        {
            return false;
        }
        self.note_disk(ctx, DiskFact::ReplicaPanic);
        self.die(ctx);
        true
    }

    /// A BGSAVE child could not write its file (`backgroundSaveDoneHandlerDisk`: "Background
    /// saving error", `server.lastbgsave_status = C_ERR`).
    pub(super) fn bgsave_failed(&mut self, ctx: &mut Ctx<'_, Msg>, err: DiskError) {
        let first = self.persistence.bgsave_failed.replace(err).is_none();
        if first {
            let error = err.strerror().to_string();
            self.note_disk(ctx, DiskFact::BgsaveError { error });
        }
    }

    /// A BGSAVE wrote its file: a failed one before it no longer refuses writes.
    pub(super) fn bgsave_succeeded(&mut self, ctx: &mut Ctx<'_, Msg>) {
        if self.persistence.bgsave_failed.take().is_some() {
            self.note_disk(ctx, DiskFact::BgsaveRecovered);
        }
    }

    /// Records what the disk did to this server.
    pub(super) fn note_disk(&self, ctx: &mut Ctx<'_, Msg>, event: DiskFact) {
        ctx.note(Fact::Disk {
            server: self.name.clone(),
            event,
        });
    }

    /// The process ends (exit(1) or a panic): its sockets close, what is in memory is gone.
    fn die(&mut self, ctx: &mut Ctx<'_, Msg>) {
        self.disk.dead = true;
        self.disk.held.clear();
        ctx.note(Fact::ServerExited {
            server: self.name.clone(),
        });
        ctx.exit(self.sockets_closed_by_kill());
    }
}

//! aof.c: flushAppendOnlyFile: how a write reaches the AOF and its fsync on a disk that may be
//! slow (`disk-fsync-latency`, `slow-disk`), stalled (`disk-stall`) or failing (`disk-error`).
//! On a healthy disk with no fsync latency every write is written and (by policy) fsynced the
//! moment it runs, as before these faults existed.

use super::persistence::Persistence;
use crate::fault::DiskError;
use crate::redis::{AofFile, Command, Fsync, Mark, ServerConfig, errors};
use crate::sim::SimTime;

/// A background fsync in flight (`appendfsync everysec`: bio's `aof_background_fsync`).
#[derive(Clone, Copy, Debug)]
struct BgFsync {
    /// When it completes; `None` while the disk stalls.
    done_at: Option<SimTime>,
    /// The AOF length it covers.
    len: usize,
    /// The replication offset it covers.
    offset: u64,
}

/// The AOF's write path.
#[derive(Clone, Debug, Default)]
pub(crate) struct AofFlush {
    /// `server.aof_buf`: commands not written yet (a postponed flush or a failed write). A
    /// process crash loses them: they were never in the page cache.
    buf: Vec<(Command, Mark)>,
    /// The replication offset after the last buffered command.
    buf_offset: u64,
    /// The background fsync in flight.
    bg: Option<BgFsync>,
    /// The second (of the server's clock) of the last `everysec` fsync (`server.aof_last_fsync`).
    last_fsync_second: u64,
    /// `server.aof_flush_postponed_start`: the second a postponed flush started waiting.
    postponed_since: Option<u64>,
    /// `server.aof_last_write_status == C_ERR`, with the error of the failed write.
    pub(crate) write_error: Option<DiskError>,
    /// `server.aof_delayed_fsync`: writes that waited 2 s for a background fsync.
    pub(crate) delayed_fsyncs: u64,
    /// `appendfsync always` on a slow disk: written commands wait for the fsync the event loop
    /// runs before replies go out (`beforeSleep`).
    pub(crate) fsync_pending: bool,
}

/// What a flush asks of the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flushed {
    /// The write failed, the first failure since writes last worked.
    pub(crate) failed: Option<DiskError>,
    /// The write failed under `appendfsync always`: Redis exits.
    pub(crate) fatal: Option<DiskError>,
    /// A write worked after errors.
    pub(crate) recovered: bool,
    /// `appendfsync always` on a slow disk: an fsync is now pending; replies wait for it.
    pub(crate) fsync_started: bool,
    /// `everysec`: the write waited 2 s for the fsync in flight and now blocks the event loop
    /// until it completes (`Some(ns)`), or until the disk stops stalling (`None`).
    pub(crate) write_blocks: Option<Option<u64>>,
}

impl AofFlush {
    /// aof.c: restartAOFAfterSYNC: the old file's buffer, postponed flush and background fsync
    /// are gone with it (a write error stays until a write works).
    pub(crate) fn restart_after_sync(&mut self) {
        self.buf.clear();
        self.bg = None;
        self.postponed_since = None;
    }

    /// Bytes in `aof_buf`: commands not written to the AOF yet (postponed or failed).
    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.buf.iter().map(|(c, _)| c.resp_len()).sum()
    }
}

impl Persistence {
    /// How long one fsync takes now.
    pub(crate) fn fsync_ns(&self, cfg: &ServerConfig) -> u64 {
        cfg.disk_fsync_latency_ns.saturating_add(self.slow_fsync_ns)
    }

    /// Counts a write and appends it to the AOF (`feedAppendOnlyFile`, then the flush of
    /// `beforeSleep`). `position` is where it landed in the replication history (replid,
    /// offset after it), kept beside the AOF so a restart knows what its files reach.
    pub(crate) fn record_write(
        &mut self,
        cfg: &ServerConfig,
        cmd: &Command,
        position: Mark,
        now: SimTime,
        repl_offset: u64,
    ) -> Flushed {
        self.dirty_since_save += 1;
        if !cfg.appendonly {
            return Flushed::default();
        }
        self.aof.buf.push((cmd.clone(), position));
        self.aof.buf_offset = repl_offset;
        self.flush(cfg, now, false)
    }

    /// aof.c: flushAppendOnlyFile. With `everysec` and a background fsync still running, the
    /// write is postponed (the reply still goes out: the command is only in memory) for up to
    /// 2 s of the server's clock, then written anyway, which blocks until the fsync completes.
    /// A failed write keeps the buffer and sets the error that refuses writes; with `always`
    /// Redis exits instead. After the write comes the policy's fsync.
    pub(crate) fn flush(&mut self, cfg: &ServerConfig, now: SimTime, force: bool) -> Flushed {
        let mut out = Flushed::default();
        if self.aof.buf.is_empty() {
            return out;
        }
        let second = now.0 / SimTime::NANOS_PER_SEC;
        if cfg.appendfsync == Fsync::Everysec && !force {
            self.settle_fsync(now);
            if let Some(bg) = self.aof.bg {
                match self.aof.postponed_since {
                    None => {
                        self.aof.postponed_since = Some(second);
                        return out;
                    }
                    Some(s) if second.saturating_sub(s) < 2 => return out,
                    Some(_) => {
                        self.aof.delayed_fsyncs += 1;
                        out.write_blocks = Some(bg.done_at.map(|t| t.since(now)));
                    }
                }
            }
        }
        self.aof.postponed_since = None;
        if let Some(err) = self.disk_error {
            if cfg.appendfsync == Fsync::Always {
                out.fatal = Some(err);
            } else if self.aof.write_error.replace(err).is_none() {
                out.failed = Some(err);
            }
            return out;
        }
        out.recovered = self.aof.write_error.take().is_some();
        let offset = self.aof.buf_offset;
        let (works, fsync_ns) = (self.fsync_works(cfg), self.fsync_ns(cfg));
        let aof = self.disk.aof.get_or_insert_with(AofFile::default);
        // Written in beforeSleep, before replies go out: in the page cache by the time the
        // client sees the reply.
        for (cmd, position) in self.aof.buf.drain(..) {
            aof.push(cmd, position);
        }
        match cfg.appendfsync {
            Fsync::Always if works => {
                if fsync_ns == 0 {
                    aof.fsynced = aof.commands.len();
                    self.fsynced_reploff = offset;
                } else {
                    out.fsync_started = !self.aof.fsync_pending;
                    self.aof.fsync_pending = true;
                }
            }
            Fsync::Everysec => self.everysec_fsync(cfg, now, offset),
            Fsync::Always | Fsync::No => {}
        }
        out
    }

    /// The fsync `appendfsync always` runs in the event loop is starting: what it covers.
    pub(crate) fn fsync_in_loop(&mut self) -> (usize, u64) {
        self.aof.fsync_pending = false;
        let len = self.disk.aof.as_ref().map_or(0, |a| a.commands.len());
        (len, self.aof.buf_offset)
    }

    /// An fsync covering the first `len` commands (at replication offset `offset`) completed.
    pub(crate) fn fsynced(&mut self, len: usize, offset: u64) {
        if let Some(aof) = self.disk.aof.as_mut() {
            aof.fsynced = aof.fsynced.max(len.min(aof.commands.len()));
        }
        self.fsynced_reploff = offset;
    }

    /// A background fsync that has completed by `now` moves the fsynced marks.
    fn settle_fsync(&mut self, now: SimTime) {
        let Some(bg) = self.aof.bg else {
            return;
        };
        if bg.done_at.is_some_and(|t| t <= now) {
            self.aof.bg = None;
            self.fsynced(bg.len, bg.offset);
        }
    }

    /// aof.c: flushAppendOnlyFile's `try_fsync` under `everysec`: a background fsync only when
    /// the clock's second has moved on since the last one (`server.unixtime >
    /// server.aof_last_fsync`) and none is in flight, so a power loss takes up to a second of
    /// acknowledged writes. It completes `fsync_ns` later (never while the disk stalls).
    fn everysec_fsync(&mut self, cfg: &ServerConfig, now: SimTime, repl_offset: u64) {
        let second = now.0 / SimTime::NANOS_PER_SEC;
        self.settle_fsync(now);
        if second <= self.aof.last_fsync_second || cfg.bugs.skip_fsync {
            return;
        }
        if self.aof.bg.is_none() {
            let len = self.disk.aof.as_ref().map_or(0, |a| a.commands.len());
            let done_at = (!self.disk_stalled).then(|| now.plus(self.fsync_ns(cfg)));
            self.aof.bg = Some(BgFsync {
                done_at,
                len,
                offset: repl_offset,
            });
            self.settle_fsync(now);
        }
        self.aof.last_fsync_second = second;
    }

    /// The once-a-second part of `serverCron`: a postponed or failed flush is tried again, then
    /// the policy's fsync (`everysec`) or the OS writeback (`no`).
    pub(crate) fn fsync_cron(
        &mut self,
        cfg: &ServerConfig,
        now: SimTime,
        repl_offset: u64,
    ) -> Flushed {
        self.settle_fsync(now);
        let out = self.flush(cfg, now, false);
        if !self.aof.buf.is_empty() {
            return out;
        }
        match cfg.appendfsync {
            Fsync::Everysec => self.everysec_fsync(cfg, now, repl_offset),
            Fsync::No if self.fsync_works(cfg) => {
                let Some(aof) = self.disk.aof.as_mut() else {
                    return out;
                };
                let last = SimTime(self.disk.last_writeback_ns.unwrap_or(now.0));
                if now.since(last) >= cfg.os_writeback_interval_ms * SimTime::NANOS_PER_MS {
                    aof.fsynced = aof.commands.len();
                    self.disk.last_writeback_ns = Some(now.0);
                }
            }
            // A stall that ended lets the pending fsync of the last write complete.
            Fsync::Always if self.fsync_works(cfg) && !self.aof.fsync_pending => {
                if let Some(aof) = self.disk.aof.as_mut() {
                    aof.fsynced = aof.commands.len();
                }
                self.fsynced_reploff = repl_offset;
            }
            Fsync::No | Fsync::Always => {}
        }
        out
    }

    /// The disk stalls or comes back: a background fsync that hung completes when it does.
    pub(crate) fn set_stalled(&mut self, stalled: bool) {
        self.disk_stalled = stalled;
        if !stalled && let Some(bg) = self.aof.bg.as_mut() {
            // Done by the next time anything looks.
            bg.done_at.get_or_insert(SimTime::ZERO);
        }
    }

    /// finishShutdown: `flushAppendOnlyFile(1)` and `redis_fsync`: the whole AOF is on disk
    /// (unless the disk stalls or fails).
    pub(crate) fn fsync_all(&mut self, cfg: &ServerConfig, now: SimTime, repl_offset: u64) {
        self.flush(cfg, now, true);
        if !self.fsync_works(cfg) || !self.aof.buf.is_empty() {
            return;
        }
        if let Some(aof) = self.disk.aof.as_mut() {
            aof.fsynced = aof.commands.len();
        }
        self.fsynced_reploff = repl_offset;
    }

    /// server.c: writeCommandsDeniedByDiskError: the `-MISCONF` a write (or PING) gets.
    pub(crate) fn write_denied(&self, cfg: &ServerConfig) -> Option<&'static str> {
        if cfg.stop_writes_on_bgsave_error && !cfg.save.is_empty() && self.bgsave_failed.is_some() {
            return Some(crate::redis::errors::MISCONF_RDB);
        }
        if cfg.appendonly {
            return self.aof.write_error.map(errors::misconf_aof);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::redis::{Disk, Keyspace, ReplId};

    fn everysec(latency_ms: u64) -> ServerConfig {
        ServerConfig {
            appendonly: true,
            appendfsync: Fsync::Everysec,
            disk_fsync_latency_ns: latency_ms * SimTime::NANOS_PER_MS,
            ..ServerConfig::default()
        }
    }

    fn set(i: u64) -> Command {
        Command::Set(Rc::from(format!("k{i}")), Rc::from("v"))
    }

    fn at(ms: u64) -> SimTime {
        SimTime(ms * SimTime::NANOS_PER_MS)
    }

    /// Writes behind a 5 s background fsync are postponed (only in `aof_buf`) until 2 s have
    /// passed, then written with `write_blocks` saying how long the fsync still runs; the
    /// fsynced marks move only when it completes.
    #[test]
    fn everysec_postpones_behind_a_slow_fsync_then_blocks() {
        let cfg = everysec(5_000);
        let mut p = Persistence::new(Disk::default());
        let mark = |o| Mark::streamed(ReplId([1; 20]), o);
        // The first write of second 1 is written and starts a background fsync (done at 6 s).
        assert_eq!(
            p.record_write(&cfg, &set(1), mark(10), at(1_000), 10),
            Flushed::default()
        );
        assert_eq!(p.disk.aof.as_ref().unwrap().commands.len(), 1);
        assert_eq!(p.fsynced_reploff, 0, "not until the fsync completes");
        // Postponed while it runs, for up to 2 s of the clock.
        for (i, ms) in [(2, 1_500), (3, 2_500), (4, 2_999)] {
            let f = p.record_write(&cfg, &set(i), mark(10 * i), at(ms), 10 * i);
            assert_eq!(f, Flushed::default(), "write {i}");
        }
        assert_eq!(p.disk.aof.as_ref().unwrap().commands.len(), 1);
        assert_eq!(p.aof.buffered_bytes(), 3 * set(2).resp_len());
        // Two seconds after the postponement began the write goes ahead and blocks until 6 s.
        let f = p.record_write(&cfg, &set(5), mark(50), at(3_000), 50);
        assert_eq!(f.write_blocks, Some(Some(3_000 * SimTime::NANOS_PER_MS)));
        assert_eq!(p.aof.delayed_fsyncs, 1);
        assert_eq!(p.disk.aof.as_ref().unwrap().commands.len(), 5);
        assert_eq!(p.aof.buffered_bytes(), 0);
        // The fsync that started at 1 s covered the first write only.
        p.fsync_cron(&cfg, at(6_000), 50);
        assert_eq!(p.disk.aof.as_ref().unwrap().fsynced, 1);
        assert_eq!(p.fsynced_reploff, 10);
    }

    /// A full sync replaces the AOF: what was buffered or being fsynced for the old file does
    /// not reach the new one (restartAOFAfterSYNC).
    #[test]
    fn a_full_sync_drops_the_old_files_buffer() {
        let cfg = everysec(5_000);
        let mut p = Persistence::new(Disk::default());
        let mark = |o| Mark::streamed(ReplId([1; 20]), o);
        p.record_write(&cfg, &set(1), mark(10), at(1_000), 10);
        p.record_write(&cfg, &set(2), mark(20), at(1_500), 20);
        assert!(p.aof.buffered_bytes() > 0);
        p.synced_from_primary(&cfg, Rc::new(Keyspace::default()), ReplId([2; 20]), 500);
        assert_eq!(p.aof.buffered_bytes(), 0);
        let f = p.flush(&cfg, at(4_000), false);
        assert_eq!(f, Flushed::default());
        assert!(p.disk.aof.as_ref().unwrap().commands.is_empty());
    }
}

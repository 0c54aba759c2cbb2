//! Server configuration: the `redis.conf` knobs simkv models, with Redis's defaults, plus a few
//! model knobs (marked as such) for things Redis leaves to the hardware.

/// `appendfsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// fsync after every event-loop iteration, before replies are sent.
    Always,
    /// fsync once per second in the background.
    Everysec,
    /// Never fsync; the OS writes back dirty pages (model knob `os-writeback-interval`).
    No,
}

impl Fsync {
    /// The name as in redis.conf.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::Everysec => "everysec",
            Fsync::No => "no",
        }
    }
}

/// `client-output-buffer-limit replica <hard> <soft> <soft-seconds>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputBufferLimit {
    /// Disconnect as soon as the buffer exceeds this many bytes (0 = no limit).
    pub hard_bytes: u64,
    /// Disconnect when the buffer stays above this many bytes ...
    pub soft_bytes: u64,
    /// ... for this many seconds.
    pub soft_secs: u64,
}

/// One server's configuration. Defaults are Redis 7's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// `repl-backlog-size` in bytes (default 1mb, minimum 16kb).
    pub repl_backlog_size: u64,
    /// `repl-backlog-ttl` in seconds (default 3600; 0 = never free).
    pub repl_backlog_ttl_secs: u64,
    /// `repl-timeout` in seconds (default 60).
    pub repl_timeout_secs: u64,
    /// `repl-ping-replica-period` in seconds (default 10).
    pub repl_ping_replica_period_secs: u64,
    /// `repl-diskless-sync` (default yes since 7.0).
    pub repl_diskless_sync: bool,
    /// `repl-diskless-sync-delay` in seconds (default 5).
    pub repl_diskless_sync_delay_secs: u64,
    /// `replica-serve-stale-data` (default yes).
    pub replica_serve_stale_data: bool,
    /// `replica-read-only` (default yes).
    pub replica_read_only: bool,
    /// `replica-priority` (default 100; 0 = never promote).
    pub replica_priority: u32,
    /// `min-replicas-to-write` (default 0 = off).
    pub min_replicas_to_write: u32,
    /// `min-replicas-max-lag` in seconds (default 10).
    pub min_replicas_max_lag_secs: u64,
    /// `appendonly` (default no).
    pub appendonly: bool,
    /// `appendfsync` (default everysec).
    pub appendfsync: Fsync,
    /// `save` rules as (seconds, changes) (default 3600 1, 300 100, 60 10000).
    pub save: Vec<(u64, u64)>,
    /// `client-output-buffer-limit replica` (default 256mb 64mb 60).
    pub replica_output_buffer: OutputBufferLimit,
    /// Model knob `rdb-save-rate`: bytes per second a BGSAVE child writes (default 200mb/s).
    pub rdb_save_bytes_per_sec: u64,
    /// Model knob `rdb-load-rate`: bytes per second a replica loads an RDB (default 400mb/s).
    pub rdb_load_bytes_per_sec: u64,
    /// Model knob `os-writeback-interval` in milliseconds: how often the OS writes back dirty
    /// pages when `appendfsync no` (default 30000, Linux's `dirty_expire_centisecs`).
    pub os_writeback_interval_ms: u64,
    /// Model knob `tcp-send-buffer`: bytes the kernel socket buffer absorbs before Redis's
    /// output buffer for a replica starts to grow (default 512kb).
    pub tcp_send_buffer_bytes: u64,
    /// `enable-debug-command` (default no): whether `DEBUG` runs (`local`: from the server's
    /// own machine, as the operator's console is).
    pub enable_debug_command: DebugCommand,
    /// `shutdown-timeout` in seconds (default 10): how long SHUTDOWN waits for lagging replicas.
    pub shutdown_timeout_secs: u64,
    /// `stop-writes-on-bgsave-error` (default yes): a failed BGSAVE makes a server with `save`
    /// rules refuse writes (and PING) with `-MISCONF` until a BGSAVE succeeds.
    pub stop_writes_on_bgsave_error: bool,
    /// `replica-ignore-disk-write-errors` (default no): a replica that cannot write its disk
    /// applies its primary's writes anyway instead of panicking.
    pub replica_ignore_disk_write_errors: bool,
    /// Model knob `disk-fsync-latency` in nanoseconds: how long one fsync takes (default 0:
    /// instantaneous). With `appendfsync always` the event loop waits for it before replying;
    /// with `everysec` the background fsync takes this long.
    pub disk_fsync_latency_ns: u64,
    /// `slowlog-log-slower-than` in microseconds (default 10000; negative disables the slow log,
    /// 0 logs every command).
    pub slowlog_log_slower_than_us: i64,
    /// `slowlog-max-len` (default 128): the slow log keeps this many newest entries.
    pub slowlog_max_len: u64,
    /// The Redis version modelled (`[redis] version`, default 7.0): 7.2 adds WAITAOF and the
    /// replicas' `REPLCONF ACK ... FACK`.
    pub version: RedisVersion,
    /// Planted bugs (a testing and teaching aid; none by default).
    pub bugs: crate::bugs::Bugs,
}

/// The Redis version a scenario models: where versions differ, the model follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RedisVersion {
    /// 7.0 (7.0.15, the default and the real backend's version).
    V7_0,
    /// 7.2: WAITAOF, and replicas report their fsynced offset (`FACK`).
    V7_2,
}

impl RedisVersion {
    /// As the scenario spells it.
    pub fn name(self) -> &'static str {
        match self {
            RedisVersion::V7_0 => "7.0",
            RedisVersion::V7_2 => "7.2",
        }
    }
}

/// `enable-debug-command` (server.c: `allowProtectedAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugCommand {
    /// `no` (the default since 7.0).
    No,
    /// `local`: only from a loopback or Unix-socket connection.
    Local,
    /// `yes`.
    Yes,
}

impl DebugCommand {
    /// The value as redis.conf spells it.
    pub fn name(self) -> &'static str {
        match self {
            DebugCommand::No => "no",
            DebugCommand::Local => "local",
            DebugCommand::Yes => "yes",
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            repl_backlog_size: 1024 * 1024,
            repl_backlog_ttl_secs: 3600,
            repl_timeout_secs: 60,
            repl_ping_replica_period_secs: 10,
            repl_diskless_sync: true,
            repl_diskless_sync_delay_secs: 5,
            replica_serve_stale_data: true,
            replica_read_only: true,
            replica_priority: 100,
            min_replicas_to_write: 0,
            min_replicas_max_lag_secs: 10,
            appendonly: false,
            appendfsync: Fsync::Everysec,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            replica_output_buffer: OutputBufferLimit {
                hard_bytes: 256 * 1024 * 1024,
                soft_bytes: 64 * 1024 * 1024,
                soft_secs: 60,
            },
            rdb_save_bytes_per_sec: 200 * 1024 * 1024,
            rdb_load_bytes_per_sec: 400 * 1024 * 1024,
            os_writeback_interval_ms: 30_000,
            tcp_send_buffer_bytes: 512 * 1024,
            enable_debug_command: DebugCommand::No,
            shutdown_timeout_secs: 10,
            stop_writes_on_bgsave_error: true,
            replica_ignore_disk_write_errors: false,
            disk_fsync_latency_ns: 0,
            slowlog_log_slower_than_us: 10_000,
            slowlog_max_len: 128,
            version: RedisVersion::V7_0,
            bugs: crate::bugs::Bugs::default(),
        }
    }
}

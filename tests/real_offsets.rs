//! Differential tests against a real redis-server 7.0: the replication offset a primary reports
//! after exact commands equals the bytes simkv's model propagates for them, and the rule that
//! decides `+CONTINUE` or `+FULLRESYNC` after a replica falls behind a 16 KiB backlog.

mod real_support;

use std::rc::Rc;
use std::time::Duration;

use real_support::{binaries, node_ip, wait_for};
use simkv::real::info::ReplicationInfo;
use simkv::real::observe::{LogTailer, Observation, PsyncRefusal};
use simkv::real::resp::{Connection, Reply};
use simkv::real::supervisor::{Binaries, ServerSpec, Supervisor};
use simkv::redis::{Backlog, Command, Keyspace, StreamEntry, StreamItem, resp_array_len};

const TIMEOUT: Duration = Duration::from_secs(5);

/// The model's side: what a simkv primary appends to its stream for each client command
/// (redis/server/primary.rs `propagate`: SELECT before the first command of a stream, then the
/// command if it dirtied the keyspace), and its backlog.
struct ModelStream {
    keyspace: Keyspace,
    select_emitted: bool,
    next_offset: u64,
    backlog: Backlog,
}

impl ModelStream {
    fn new(backlog_size: u64) -> Self {
        ModelStream {
            keyspace: Keyspace::default(),
            select_emitted: false,
            next_offset: 1,
            backlog: Backlog::new(backlog_size, 1),
        }
    }

    fn feed(&mut self, item: StreamItem) -> u64 {
        let len = item.resp_len();
        let entry = StreamEntry {
            offset: self.next_offset,
            len,
            item,
        };
        self.backlog.feed(Rc::new(entry), None);
        self.next_offset += len;
        len
    }

    /// Applies a command; returns the stream bytes it adds.
    fn execute(&mut self, cmd: Command) -> u64 {
        if !self.keyspace.apply(&cmd).dirty {
            return 0;
        }
        let mut bytes = 0;
        if !self.select_emitted {
            self.select_emitted = true;
            bytes += self.feed(StreamItem::Select(0));
        }
        bytes + self.feed(StreamItem::Command(cmd))
    }
}

fn rc(s: &str) -> Rc<str> {
    Rc::from(s)
}

fn server(name: &str, n: u8, backlog: Option<&str>) -> ServerSpec {
    let mut s = ServerSpec::new(name, node_ip(n));
    s.save = Some(String::new());
    s.repl_backlog_size = backlog.map(str::to_string);
    s.extra = vec![
        // No periodic PING in the stream during the test (it would add 14 bytes every 10 s).
        ("repl-ping-replica-period".into(), "3600".into()),
        ("repl-diskless-sync-delay".into(), "0".into()),
    ];
    s
}

fn info(c: &mut Connection) -> ReplicationInfo {
    let reply = c.cmd(&["INFO", "replication"]).expect("INFO answers");
    ReplicationInfo::parse(&reply.as_text().expect("a bulk string")).expect("parses")
}

/// Starts a primary and a replica and waits until the replica is online and caught up.
fn start_pair(sup: &mut Supervisor, backlog: Option<&str>) -> (Connection, Connection) {
    let p = sup.start_server(&server("p1", 41, backlog)).unwrap();
    let mut r = server("r1", 42, backlog);
    r.replicaof = Some(p);
    sup.start_server(&r).unwrap();
    let mut pc = sup.connect("p1", node_ip(40), TIMEOUT).unwrap();
    let rc = sup.connect("r1", node_ip(40), TIMEOUT).unwrap();
    wait_for("the replica to come online", TIMEOUT, || {
        let i = info(&mut pc);
        (i.replicas.len() == 1 && i.replicas[0].state == "online").then_some(())
    });
    (pc, rc)
}

fn ok(c: &mut Connection, words: &[&str]) -> Reply {
    let r = c.cmd(words).unwrap();
    assert!(r.error().is_none(), "{words:?} failed: {r:?}");
    r
}

fn offset(c: &mut Connection) -> u64 {
    info(c).master_repl_offset
}

#[test]
fn master_repl_offset_counts_the_bytes_the_model_propagates() {
    let Some(bins) = binaries("master_repl_offset_counts_the_bytes_the_model_propagates") else {
        return;
    };
    let mut sup = Supervisor::new(bins).unwrap();
    let (mut p, mut r) = start_pair(&mut sup, None);
    let mut model = ModelStream::new(1 << 20);
    let mut before = offset(&mut p);
    assert_eq!(
        before, 0,
        "a fresh primary's stream is empty after the full sync"
    );
    let big = "x".repeat(10_000);
    let huge = "y".repeat(70_000);
    let steps: Vec<(Vec<&str>, Command)> = vec![
        (vec!["SET", "k1", "v"], Command::Set(rc("k1"), rc("v"))),
        (vec!["SET", "k2", &big], Command::Set(rc("k2"), rc(&big))),
        (vec!["SET", "k3", &huge], Command::Set(rc("k3"), rc(&huge))),
        (vec!["SET", "k1", "v"], Command::Set(rc("k1"), rc("v"))),
        (vec!["INCR", "c"], Command::Incr(rc("c"))),
        (vec!["INCR", "c"], Command::Incr(rc("c"))),
        (
            vec!["APPEND", "k1", "abc"],
            Command::Append(rc("k1"), rc("abc")),
        ),
        (vec!["DEL", "k2"], Command::Del(rc("k2"))),
        (vec!["DEL", "missing"], Command::Del(rc("missing"))),
        (vec!["GET", "k1"], Command::Get(rc("k1"))),
    ];
    for (words, cmd) in steps {
        let expected = model.execute(cmd);
        ok(&mut p, &words);
        let now = offset(&mut p);
        assert_eq!(now - before, expected, "bytes propagated by {:?}", words[0]);
        before = now;
    }
    // INCR on a string is an error and propagates nothing, in Redis and in the model.
    assert!(p.cmd(&["INCR", "k1"]).unwrap().error().is_some());
    assert_eq!(model.execute(Command::Incr(rc("k1"))), 0);
    assert_eq!(offset(&mut p), before);

    let wrappers = check_transactions(&mut p, &mut model, &mut before);
    assert_eq!(
        model.next_offset - 1 + wrappers,
        before,
        "the whole stream agrees"
    );
    wait_for("the replica to catch up", TIMEOUT, || {
        let i = info(&mut r);
        (i.replica.unwrap().slave_repl_offset == before).then_some(())
    });
}

/// Runs two transactions and checks their bytes; returns the MULTI/EXEC bytes Redis added.
fn check_transactions(p: &mut Connection, model: &mut ModelStream, before: &mut u64) -> u64 {
    // A transaction of two writes is wrapped in MULTI ... EXEC (server.c: propagatePendingCommands
    // wraps only when more than one command is pending). simkv models no transactions, so the
    // expected bytes use the model's encoding of each part.
    let multi = resp_array_len(&[b"MULTI"]);
    let exec = resp_array_len(&[b"EXEC"]);
    let mut wrappers = 0;
    for (words, commands, wrapped) in [
        (vec![vec!["SET", "m1", "1"], vec!["INCR", "c"]], 2, true),
        (vec![vec!["SET", "m2", "22"]], 1, false),
    ] {
        ok(p, &["MULTI"]);
        for w in &words {
            assert_eq!(p.cmd(w).unwrap(), Reply::Simple("QUEUED".into()));
        }
        ok(p, &["EXEC"]);
        let parts: u64 = words
            .iter()
            .map(|w| {
                let cmd = match w[0] {
                    "SET" => Command::Set(rc(w[1]), rc(w[2])),
                    _ => Command::Incr(rc(w[1])),
                };
                model.execute(cmd)
            })
            .sum();
        let wrapper = if wrapped { multi + exec } else { 0 };
        wrappers += wrapper;
        let expected = parts + wrapper;
        let now = offset(p);
        assert_eq!(
            now - *before,
            expected,
            "a transaction of {commands} writes"
        );
        *before = now;
    }
    wrappers
}

/// What happened to one replica that fell behind.
#[derive(Debug)]
struct Trial {
    /// The replica's last offset when it was cut.
    replica_offset: u64,
    /// The primary's offset when the replica came back.
    master_offset: u64,
    /// The primary's backlog then.
    first_byte_offset: u64,
    histlen: u64,
    /// Whether the primary answered +CONTINUE.
    continued: bool,
    /// Whether the model's backlog covers the replica's next byte.
    model_continues: bool,
    model_first_byte_offset: u64,
}

/// Pauses the replica, cuts it with CLIENT KILL TYPE replica, writes `bytes` bytes of stream
/// (whole SETs of 1000-byte values, so slightly more), resumes it and reads the primary's answer.
fn trial(bins: &Binaries, backlog: &BacklogSize, bytes: u64) -> Trial {
    let mut sup = Supervisor::new(bins.clone()).unwrap();
    let (mut p, _r) = start_pair(&mut sup, Some(backlog.text));
    let mut model = ModelStream::new(backlog.bytes);
    ok(&mut p, &["SET", "warm", "up"]);
    model.execute(Command::Set(rc("warm"), rc("up")));
    let replica_offset = offset(&mut p);
    wait_for("the replica to ack the warm-up", TIMEOUT, || {
        let i = info(&mut p);
        (i.replicas.first()?.offset == replica_offset).then_some(())
    });
    sup.pause("r1").unwrap();
    assert_eq!(
        ok(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]),
        Reply::Integer(1)
    );
    wait_for("the primary to drop the replica", TIMEOUT, || {
        info(&mut p).replicas.is_empty().then_some(())
    });
    let value = "z".repeat(1000);
    let mut i = 0;
    while offset(&mut p) - replica_offset < bytes {
        let key = format!("key{i}");
        ok(&mut p, &["SET", &key, &value]);
        model.execute(Command::Set(rc(&key), rc(&value)));
        i += 1;
    }
    let before = info(&mut p);
    let mut log = LogTailer::new(&sup.node("p1").unwrap().log_path());
    log.poll().unwrap();
    sup.resume("r1").unwrap();
    let continued = wait_for("the primary's PSYNC answer", TIMEOUT, || {
        log.poll_observations()
            .unwrap()
            .into_iter()
            .find_map(|(_, o)| psync_answer(&o, replica_offset + 1))
    });
    Trial {
        replica_offset,
        master_offset: before.master_repl_offset,
        first_byte_offset: before.repl_backlog_first_byte_offset,
        histlen: before.repl_backlog_histlen,
        continued,
        model_continues: model.backlog.covers(replica_offset + 1),
        model_first_byte_offset: model.backlog.first_offset(),
    }
}

fn psync_answer(o: &Observation, asked: u64) -> Option<bool> {
    match o {
        Observation::PartialResyncAccepted { offset, .. } => {
            assert_eq!(*offset as u64, asked);
            Some(true)
        }
        Observation::PartialResyncNotAccepted(PsyncRefusal::LackOfBacklog {
            requested, ..
        }) => {
            assert_eq!(*requested as u64, asked);
            Some(false)
        }
        _ => None,
    }
}

/// jemalloc's usable size for a block of 16 KiB plus the 40-byte `replBufBlock` header is 20480
/// bytes, so a 7.0 block holds 20440 bytes (replication.c: `feedReplicationBuffer` takes over
/// "the allocation's internal fragmentation").
const REDIS_BLOCK_BYTES: u64 = 20480 - 40;

/// Where Redis 7.0.15's backlog starts once nothing else references its blocks: whole blocks
/// are dropped from the front while more than `repl-backlog-size` bytes would remain
/// (replication.c: `incrementalTrimReplicationBacklog`), and that runs before every event-loop
/// sleep (server.c: `beforeSleep`), not only when a block is added.
fn redis_first_byte(master_offset: u64, backlog_size: u64) -> u64 {
    let mut first = 1;
    while master_offset - first + 1 > REDIS_BLOCK_BYTES
        && master_offset - first + 1 - REDIS_BLOCK_BYTES > backlog_size
    {
        first += REDIS_BLOCK_BYTES;
    }
    first
}

/// A `repl-backlog-size` as written in the config and in bytes.
struct BacklogSize {
    text: &'static str,
    bytes: u64,
}

/// Runs one trial per replica lag, checks Redis against the block rule and the model against
/// Redis, and prints the measurements.
fn check_backlog_boundary(bins: &Binaries, backlog: BacklogSize, lags: &[u64]) {
    let limit = backlog.bytes;
    // Redis's blocks hold 20440 bytes (16 KiB asked, jemalloc's 20 KiB class less the header)
    // and beforeSleep trims them, so it continues while the stream is at most one block plus
    // the limit long; the model follows the same rule.
    let redis_threshold = REDIS_BLOCK_BYTES + limit;
    let mut report = Vec::new();
    for &bytes in lags {
        let t = trial(bins, &backlog, bytes);
        // Redis's rule (masterTryPartialResynchronization): continue iff the next byte the
        // replica wants is still in the backlog.
        assert_eq!(
            t.continued,
            t.replica_offset + 1 >= t.first_byte_offset,
            "{t:?}"
        );
        assert_eq!(
            t.master_offset,
            t.first_byte_offset + t.histlen - 1,
            "{t:?}"
        );
        assert_eq!(
            t.first_byte_offset,
            redis_first_byte(t.master_offset, limit),
            "{t:?}"
        );
        assert_eq!(t.continued, t.master_offset <= redis_threshold, "{t:?}");
        assert_eq!(
            t.model_continues, t.continued,
            "the model decides as Redis: {t:?}"
        );
        assert_eq!(
            t.model_first_byte_offset, t.first_byte_offset,
            "the model's backlog starts where Redis's does: {t:?}"
        );
        report.push(format!(
            "{}: lag {:>7} B, stream end {:>7}: redis {} (backlog from {:>7}, histlen {:>7}); model {} (backlog from {:>7})",
            backlog.text,
            t.master_offset - t.replica_offset,
            t.master_offset,
            if t.continued { "CONTINUE  " } else { "FULLRESYNC" },
            t.first_byte_offset,
            t.histlen,
            if t.model_continues { "CONTINUE  " } else { "FULLRESYNC" },
            t.model_first_byte_offset,
        ));
    }
    println!("{}", report.join("\n"));
}

#[test]
fn a_replica_continues_while_the_backlog_still_holds_its_next_byte() {
    let Some(bins) = binaries("a_replica_continues_while_the_backlog_still_holds_its_next_byte")
    else {
        return;
    };
    let backlog = BacklogSize {
        text: "16kb",
        bytes: 16 * 1024,
    };
    check_backlog_boundary(&bins, backlog, &[20_000, 33_000, 35_000, 38_000, 60_000]);
}

/// With a 1 MiB backlog the blocks are still 20440 bytes when every piece fed (an argument, a
/// header) is below 16 KiB: `feedReplicationBuffer` sizes a block by the piece that overflows.
#[test]
fn a_one_megabyte_backlog_follows_the_same_rule() {
    let Some(bins) = binaries("a_one_megabyte_backlog_follows_the_same_rule") else {
        return;
    };
    let backlog = BacklogSize {
        text: "1mb",
        bytes: 1 << 20,
    };
    check_backlog_boundary(&bins, backlog, &[1_050_000, 1_065_000, 1_080_000]);
}

#[test]
fn repl_backlog_size_below_16kb() {
    let Some(bins) = binaries("repl_backlog_size_below_16kb") else {
        return;
    };
    let mut sup = Supervisor::new(bins).unwrap();
    sup.start_server(&server("p1", 43, Some("1kb"))).unwrap();
    let mut p = sup.connect("p1", node_ip(40), TIMEOUT).unwrap();
    // replication.c: resizeReplicationBacklog clamps to CONFIG_REPL_BACKLOG_MIN_SIZE, but it runs
    // only as CONFIG SET's apply function (config.c: updateReplBacklogSize), and CONFIG SET skips
    // that when the value does not change: a small size read from the config file stays.
    assert_eq!(
        info(&mut p).repl_backlog_size,
        1024,
        "not clamped at startup"
    );
    ok(&mut p, &["CONFIG", "SET", "repl-backlog-size", "1kb"]);
    assert_eq!(
        info(&mut p).repl_backlog_size,
        1024,
        "an unchanged value is not applied"
    );
    ok(&mut p, &["CONFIG", "SET", "repl-backlog-size", "2kb"]);
    assert_eq!(
        info(&mut p).repl_backlog_size,
        16 * 1024,
        "clamped by CONFIG SET"
    );
}

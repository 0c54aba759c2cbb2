//! The figures sampled every simulated second (`replication.csv`): role and
//! `master_repl_offset` over time, the replication buffer's memory, and the output buffer a
//! primary holds for each replica.

use simkv::scenario::Scenario;
use simkv::world::{RunOutput, World};

const CUT: &str = r#"
name = "figures"
duration = "30s"
quiet = "5s"
[servers.defaults]
save = ""
repl-diskless-sync-delay = "0s"
[servers.p1]
[servers.r1]
replicaof = "p1"
[workloads.w]
target = "p1"
clients = 2
think = "5ms"
keys = 200
value_size = "500b"
mix = { set = 100 }
[[faults]]
kind = "partition"
between = [["p1"], ["r1"]]
at = "10s"
heal = "15s"
"#;

fn run() -> RunOutput {
    let s = Scenario::parse("figures.toml", CUT, &[]).unwrap_or_else(|e| panic!("{e}"));
    World::new(&s, 1).run(&mut |_| {}).expect("runs")
}

/// (second, server) → the CSV row's fields.
fn rows(out: &RunOutput) -> Vec<Vec<String>> {
    out.metrics
        .to_csv()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn at(rows: &[Vec<String>], second: u64, server: &str) -> Vec<String> {
    rows.iter()
        .find(|r| r[0] == second.to_string() && r[1] == server)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {server} at {second} s"))
}

#[test]
fn csv_has_a_row_per_server_per_second() {
    let out = run();
    let csv = out.metrics.to_csv();
    assert!(csv.starts_with(
        "time_s,server,up,role,master_repl_offset,lag_bytes,link_up,keys,repl_buffer_bytes,output_buffer_bytes\n"
    ));
    let rows = rows(&out);
    assert_eq!(rows.len(), 2 * out.metrics.times.len());
    assert_eq!(at(&rows, 5, "p1")[3], "master");
    assert_eq!(at(&rows, 5, "r1")[3], "slave");
    let offsets: Vec<u64> = (1..25)
        .map(|t| at(&rows, t, "p1")[4].parse().unwrap())
        .collect();
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]),
        "the offset only grows"
    );
}

#[test]
fn a_cut_replicas_output_buffer_grows_then_drains() {
    let rows = rows(&run());
    let obuf = |t| at(&rows, t, "r1")[9].parse::<u64>().unwrap();
    let lag = |t| at(&rows, t, "r1")[5].parse::<u64>().unwrap();
    assert_eq!(obuf(8), 0, "a connected replica keeps up");
    // The cut holds everything sent to r1: past the socket buffer the stream waits in p1's
    // output buffer for it, growing with the writes.
    // Until the stream held back passes the 512kb socket buffer (`tcp-send-buffer`), p1's
    // buffer for r1 stays empty; after, it holds exactly the rest.
    assert_eq!(obuf(12), 0, "lag {} is within the socket buffer", lag(12));
    assert!(lag(12) > 0 && lag(12) < 512 * 1024);
    for t in [13, 14, 15] {
        assert_eq!(obuf(t), lag(t) - 512 * 1024, "at {t} s");
    }
    assert!(obuf(15) > obuf(13));
    assert_eq!(obuf(20), 0, "drained after the heal");
    assert_eq!(
        at(&rows, 12, "p1")[9],
        "0",
        "a primary has no primary's buffer"
    );
}

#[test]
fn the_replication_buffer_is_whole_blocks() {
    let rows = rows(&run());
    for t in [5, 12, 20] {
        let mem: u64 = at(&rows, t, "p1")[8].parse().unwrap();
        assert!(mem > 0);
        assert_eq!(
            mem % 20_504,
            0,
            "blocks of 20,440 bytes, header and list node: {mem}"
        );
    }
}

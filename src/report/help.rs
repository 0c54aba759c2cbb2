//! The examples and exit codes that `simkv <command> --help` prints after the options.

/// The exit codes, shared by every command.
pub const EXIT_CODES: &str = "Exit codes:
  0  pass: the run completed and every expectation held
  1  fail: an expectation (or, for check, linearizability) failed
  2  bad input or usage: the message names the file, line, field and a hint
  3  undecided: the checker ran out of its search budget";

/// `simkv run --help`.
pub const RUN: &str = "Examples:
  simkv run scenarios/basic.toml
  simkv run scenarios/basic.toml --seed 7 --json
  simkv run scenarios/basic.toml --set servers.defaults.appendfsync=always --out runs/always
  simkv run scenarios/basic.toml --check-determinism --json
  cat scenarios/basic.toml | simkv run -
  simkv run scenarios/min-replicas.toml --backend real

Exit codes:
  0  pass: the run completed and every expectation held
  1  fail: an expectation failed (or the determinism self-check found a divergence)
  2  bad input or usage: the message names the file, line, field and a hint
  3  undecided (not used by run)";

/// `simkv check --help`.
pub const CHECK: &str = "\
Formats (detected from the first line unless --format is given):
  edn           Jepsen/Knossos: a vector of maps, or one map per line:
                  {:type :invoke, :f :write, :value 3, :process 0}
                :type :invoke/:ok/:fail/:info; :f :read/:write/:cas [old new]/:txn;
                optional :time, :index, :key; :process :nemesis entries are skipped.
                File order is real-time order; a nil read value means unknown.
  jsonl         simkv: {\"process\":1,\"type\":\"invoke\",\"f\":\"set\",\"key\":\"k\",\"value\":5,\"time_ns\":10}
                f: get set del incr append cas (value [expected, new]).
  porcupine-kv  Porcupine's kv logs (get/put/append on string keys).
  etcd          Jepsen etcd logs (INFO  jepsen.util - 3 :invoke :cas [1 2]).
Models (--model): register (read/write), cas-register (+ cas; EDN default),
  multi-register (:txn [[:read :x 1] [:write :y 2]], atomic over keys; default for :txn),
  kv (a register per :key or [key value] tuple for EDN; for jsonl a Redis string per key,
  where INCR parses the string as Redis does).
An :info operation may take effect at any later time or never; :fail ones never did.

Examples:
  simkv check history.edn --model cas-register --initial-value 0
  simkv check txns.edn --model multi-register --json
  simkv check out/history.jsonl

Exit codes:
  0  linearizable
  1  not linearizable
  2  bad input or usage (a malformed history names its line)
  3  undecided: the search budget ran out (status unknown)";

/// `simkv sweep --help`.
pub const SWEEP: &str = "Examples:
  simkv sweep scenarios/nemesis.toml --seeds 1..101 > nemesis.jsonl
  simkv sweep scenarios/nemesis.toml --seeds 1..10001 --shard 0/4 --jobs 2 > part-0.jsonl
  simkv sweep scenarios/basic.toml --seeds 1..=50 --set bugs.skip_fsync=true --deny-warnings

Exit codes:
  0  every seed passed
  1  a seed failed (its replay command is printed)
  2  bad input or usage
  3  undecided (not used by sweep)";

/// `simkv shrink --help`.
pub const SHRINK: &str = "Examples:
  simkv shrink scenarios/nemesis.toml --seed 2 --set bugs.skip_fsync=true
  simkv shrink scenarios/nemesis.toml --seed 2 --out small.toml --force

Exit codes:
  0  a smaller failing scenario was written
  1  (not used by shrink)
  2  bad input or usage, the seed passes, or the output exists (use --force)
  3  undecided (not used by shrink)";

/// `simkv merge --help`.
pub const MERGE: &str = "Examples:
  simkv merge part-*.jsonl
  simkv merge part-*.jsonl --seeds 1..10001
  simkv merge part-*.jsonl --shards 4

Exit codes:
  0  every seed passed (and every expected seed is present)
  1  a seed failed, or seeds are missing (they are named)
  2  bad input: no files, an unreadable or truncated line, a line without seed or scenario_hash,
     or two different results for one (scenario_hash, seed)
  3  undecided (not used by merge)";

/// `simkv bench --help`.
pub const BENCH: &str = "Examples:
  simkv bench
  simkv bench --scenario scenarios/nemesis.toml --events 1000000

Exit codes:
  0  the figures were printed
  2  bad input or usage";

/// `simkv diff --help`.
pub const DIFF: &str = "Examples:
  simkv diff scenarios/min-replicas.toml
  simkv diff scenarios/pause-primary.toml --seeds 1..=5 --repeat 2 --json
  simkv diff scenarios/region-outage.toml --time-scale 0.5

Exit codes:
  0  every observable agrees within its tolerance
  1  an observable differs beyond its tolerance
  2  bad input or usage, or the real backend cannot run the scenario (the reasons are named)
  3  undecided (not used by diff)";

/// `simkv keyslot --help`.
pub const KEYSLOT: &str = "Examples:
  simkv keyslot user:1000 {user1000}.following {user1000}.followers

Exit codes:
  0  the slots were printed
  2  bad input or usage";

/// `simkv compare --help`.
pub const COMPARE: &str = "Examples:
  simkv compare scenarios/region-outage.toml \\
      --vary sentinels.defaults.down-after-milliseconds=1000,5000 --seeds 1..=10
  simkv compare scenarios/fsync-policies.toml --vary servers.defaults.appendfsync=always,everysec \\
      --vary sentinels.defaults.quorum=1,2 --seeds 1..21 --json
  simkv compare scenarios/region-outage.toml --vary sentinels.defaults.quorum=1,2 --out runs/quorum

Figures per variant (over the seeds): lost acknowledged writes (p50/p95/max); the data-loss
window, from the first to the last lost write's acknowledgement (RPO); per client region the
longest span without a successful write (RTO); failover detection and completion after the fault
(p50 over all failovers); successful write latency p50/p99 over all writes; full resyncs.

Exit codes:
  0  every run completed
  1  a run did not complete (the table says which)
  2  bad input or usage";

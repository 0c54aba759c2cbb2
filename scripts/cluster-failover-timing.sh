#!/usr/bin/env bash
# Failover timing of a Redis Cluster scenario over seeds, from the summary's `cluster` object:
# for the first election of each run, its steps in ms after the first fault (min / median /
# max). docs/tradeoffs.md ("What sharding costs") quotes its output for
#   scripts/cluster-failover-timing.sh scenarios/cluster-shard-failover.toml 1 20
# Usage: scripts/cluster-failover-timing.sh SCENARIO FIRST_SEED LAST_SEED  (SIMKV: the binary,
# default target/release/simkv).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?scenario}; first=${2:?first seed}; last=${3:?last seed}
bin=${SIMKV:-target/release/simkv}
for seed in $(seq "$first" "$last"); do
  "$bin" run "$scenario" --seed "$seed" --json || [ $? -eq 1 ]
done | python3 -c '
import json, statistics, sys
steps = [("PFAIL (first node)", "pfail_ms"), ("FAIL (first node)", "fail_ms"),
         ("election started", "election_started_ms"), ("new primary promoted", "promoted_ms"),
         ("clients reach the new primary", "clients_reached_ms")]
after = {k: [] for _, k in steps}
runs = 0
dec = json.JSONDecoder()
text = sys.stdin.read().strip()
while text:
    s, end = dec.raw_decode(text)
    text = text[end:].strip()
    runs += 1
    fault = s["faults"][0]["at_ms"]
    e = s["cluster"]["elections"][0]
    for _, k in steps:
        if e[k] is not None:
            after[k].append(e[k] - fault)
print(f"| step (ms after the fault) | runs | min | median | max |")
print("|---|---|---|---|---|")
for name, k in steps:
    v = after[k]
    print(f"| {name} | {len(v)}/{runs} | {min(v)} | {statistics.median(v):g} | {max(v)} |")
'

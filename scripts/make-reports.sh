#!/usr/bin/env bash
# Regenerates reports/<scenario>/ for the scenarios shown in the example reports.
# tests/golden_reports.rs fails when a committed report differs from what the code writes now.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
for s in region-outage sentinel-split-brain backlog-overflow wait-vs-async; do
  rm -rf "reports/$s"
  ./target/release/simkv run "scenarios/$s.toml" --out "reports/$s" >/dev/null || true
  rm -f "reports/$s/history.jsonl" "reports/$s/run.json"
  head -n 200 "reports/$s/lost_writes.jsonl" > "reports/$s/lost.tmp" && mv "reports/$s/lost.tmp" "reports/$s/lost_writes.jsonl"
done
echo "reports regenerated"

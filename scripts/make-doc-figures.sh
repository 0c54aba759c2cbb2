#!/usr/bin/env bash
# Rewrites the figures quoted in docs/beliefs.md and docs/tradeoffs.md (the value column of their
# `| command | figure | value |` tables) from the runs the commands make.
# tests/doc_figures.rs fails when a quoted figure differs from what the code computes now.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMKV_UPDATE_DOCS=1 cargo test --release -q --test doc_figures -- --test-threads 1
git --no-pager diff --stat -- docs/beliefs.md docs/tradeoffs.md

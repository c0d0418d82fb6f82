#!/usr/bin/env bash
# The benchmark suite: builds the release broker, `streambus bench` and the librdkafka load
# generator, then runs the standard workloads (W1-W5) against a fresh broker per flush policy
# and run, and prints medians and spreads (scripts/bench_suite.py does the running).
#
#   scripts/bench.sh                      # everything: flush policies always and os, 3 runs
#   scripts/bench.sh --runs 1 --workloads W1,W3 --policies always
#
# Needs a Rust toolchain and python3; listens on loopback only. The full suite ran in about
# 12 minutes on a 2-core machine (2026-12-07), after the release builds. Results also go to
# target/bench/results-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p streambus
cargo build --release -p streambus-tests --example loadgen
exec python3 scripts/bench_suite.py \
    --streambus target/release/streambus \
    --loadgen target/release/examples/loadgen \
    "$@"

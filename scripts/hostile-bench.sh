#!/usr/bin/env bash
# Hostile-load table for BENCHMARKS.md ("Hostile load", issue 9): runs the
# ignored harness in tests/hostile/measure.rs against each `natter` binary
# in turn, ROUNDS times (A, B, A, B, … so every build sees the same load),
# keeps each run's output and prints every summary table at the end.
#
# Usage: scripts/hostile-bench.sh [-r ROUNDS] [BIN…]
#   BIN: path to a `natter` binary, or "this" (the default): this tree's
#   release build. Before/after, three rounds:
#     scripts/hostile-bench.sh -r 3 /tmp/natter-before-target/release/natter this
# Environment: HOSTILE_ATTACKS=register,log,… runs only those attacks;
# HOSTILE_RSS_CEILING_MIB (default 4096) stops a flood whose server grows
# past it; HOSTILE_OUT is where the outputs go (default target/hostile-bench/…).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=1
if [[ "${1:-}" == "-r" ]]; then
    rounds="$2"
    shift 2
fi
bins=("$@")
if [[ ${#bins[@]} -eq 0 ]]; then bins=(this); fi
out="${HOSTILE_OUT:-target/hostile-bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
cargo test --release --test hostile --no-run
for round in $(seq 1 "$rounds"); do
    for i in "${!bins[@]}"; do
        bin="${bins[$i]}"
        if [[ "$bin" == this ]]; then
            unset NATTER_BIN_UNDER_TEST
        else
            export NATTER_BIN_UNDER_TEST="$(realpath "$bin")"
        fi
        file="$out/round${round}-bin$((i + 1)).txt"
        echo "== round $round, $bin → $file"
        cargo test --release --test hostile measure:: -- --ignored --nocapture \
            --test-threads 1 2>&1 | tee "$file"
    done
done
for file in "$out"/*.txt; do
    echo
    echo "== $file: $(grep -m1 -o 'hostile load: server.*' "$file" || true)"
    grep '^|' "$file" || echo "(no table: see the file)"
done

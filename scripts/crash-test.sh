#!/usr/bin/env bash
# Crash test by hand: kill -9 the server K times (default 20) while clients
# stream acknowledged messages, then check nothing was lost or duplicated.
# Usage: scripts/crash-test.sh [K] [SEED]   (the seed is printed on every run)
set -euo pipefail
cd "$(dirname "$0")/.."
export NATTER_CRASH_K="${1:-20}"
if [[ -n "${2:-}" ]]; then export NATTER_CRASH_SEED="$2"; fi
exec cargo test --release --test crash -- --nocapture

#!/usr/bin/env bash
# Natter and the QUIC reference (quinn) side by side on the lossy link.
#
#   scripts/quic-lossy.sh P [RUNS]     (root; iproute2 + nftables)
#
# Brings up scripts/lossy-link.sh with P % loss each way, runs `natter serve`
# and the QUIC relay (`natter bench --relay-quic`) in nat-a and
# `natter bench --reference quic` in nat-b (16 clients, 4 groups × 4,
# 400 msg/s, 5 s) RUNS times (default 3), prints one line per run with
# p50/p99 send→delivery of both and the lost counts, and takes the link down.
# NATTER=path picks the binary (default target/release/natter).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NATTER=$(realpath "${NATTER:-target/release/natter}")

if [[ "${1:-}" != "--inside" ]]; then
    if ip netns list | grep -qw nat-a; then
        echo "quic-lossy.sh: nat-a exists (another lossy-link run?); not touching it" >&2
        exit 1
    fi
    exec "$HERE/lossy-link.sh" run "${1:?loss percent}" -- \
        env NATTER="$NATTER" "$0" --inside "$1" "${2:-3}"
fi
P="$2" RUNS="$3"
DIR=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

# The same settings `natter bench --spawn` gives its server: no rate limits,
# cheap password hashing, room for every bench client.
"$NATTER" bench --print-server-config >"$DIR/bench.toml"

# Waits (at most 30 s) until file $1 contains $2.
wait_for() {
    for _ in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "quic-lossy.sh: no '$2' in $1" >&2
    exit 1
}

ip netns exec nat-a "$NATTER" serve --udp 10.77.0.1:7700 --http off --log-level warn \
    --config "$DIR/bench.toml" --data "$DIR/data" >"$DIR/serve.out" &
PIDS+=($!)
ip netns exec nat-a "$NATTER" bench --relay-quic 10.77.0.1:7900 \
    --quic-cert "$DIR/relay.der" 2>"$DIR/relay.err" &
PIDS+=($!)
wait_for "$DIR/serve.out" 'natter: server key '
wait_for "$DIR/relay.err" 'quic relay on'
KEY=$(sed -n 's/^natter: server key //p' "$DIR/serve.out")

for run in $(seq "$RUNS"); do
    ip netns exec nat-b "$NATTER" bench --server 10.77.0.1:7700 --server-key "$KEY" \
        --clients 16 --groups 4 --members 4 --rate 400 --duration 5s \
        --reference quic --quic-relay 10.77.0.1:7900 --quic-cert "$DIR/relay.der" \
        --json >"$DIR/run.json"
    python3 - "$P" "$run" "$DIR/run.json" <<'PY'
import json, sys
p, run, path = sys.argv[1:]
r = json.load(open(path))
q = r["reference"]
print(f"loss {p} % run {run}: natter p50 {r['latency_ms']['p50']:.1f} p99 {r['latency_ms']['p99']:.1f} ms "
      f"(lost {r['lost']}, dup {r['duplicates']}) | quic p50 {q['latency_ms']['p50']:.1f} "
      f"p99 {q['latency_ms']['p99']:.1f} ms (lost {q['lost']}) | p99 ratio {q['ratio']:.2f}")
PY
done

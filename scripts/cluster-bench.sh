#!/usr/bin/env bash
# Cluster figures for BENCHMARKS.md (issue 11): one throwaway PostgreSQL
# (fsync on), one nats-server and three `natter serve --store postgres://…
# --bus nats://…` nodes on loopback, all started here and stopped at the
# end; then, ROUNDS times, the same `natter bench` load against
#   sqlite1  a fresh single-node SQLite server (`--spawn`, the reference),
#   pg1      node 0 only,
#   pg2      nodes 0 and 1 (clients round robin),
#   pg3      nodes 0, 1 and 2 (clients round robin: most deliveries cross nodes),
#   pg3-local  nodes 0, 1 and 2 with each group on one node (no crossing),
# and the same two placements at a fixed low rate (latency of a cross-node
# delivery against a same-node one). Every run's JSON is kept; a table of
# deliveries/s, ✓/s and p50/p99 is printed at the end.
#
# Usage: scripts/cluster-bench.sh [ROUNDS] [DURATION]   (defaults 3, 5s)
# Env: NATTER (binary, default target/release/natter), BENCH_ARGS (the
# load, default "--clients 64 --groups 16 --members 4"; the PostgreSQL store
# retries serialization failures with a growing random pause since c14ddee,
# so setup no longer needs `--connect-parallel 1`), RATE (fixed-rate runs,
# default 400), OUT (default target/cluster-bench/<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
dur="${2:-5s}"
natter="$(realpath "${NATTER:-target/release/natter}")"
load="${BENCH_ARGS:---clients 64 --groups 16 --members 4}"
rate="${RATE:-400}"
out="${OUT:-target/cluster-bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$out"
out="$(realpath "$out")"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    [[ -n "${pg_pid:-}" ]] && kill -QUIT "$pg_pid" 2>/dev/null || true
    sleep 0.5
    cp "$work"/*.log "$out"/ 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # FILE PATTERN: wait (≤ 30 s) until FILE has a line matching PATTERN
    for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

# PostgreSQL as the postgres user (it refuses root), fsync on.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$work"
    as_pg=(setpriv --reuid postgres --regid postgres --clear-groups --)
fi
pg_port="$(free_port)"
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/db" -A trust -U postgres -E UTF8 --locale C >/dev/null
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/db" -h 127.0.0.1 -p "$pg_port" -k "$work" \
    -c max_connections=200 >"$work/pg.log" 2>&1 &
pg_pid=$!
wait_for "$work/pg.log" "ready to accept connections"
store="postgres://postgres@127.0.0.1:$pg_port/postgres"

nats_port="$(free_port)"
/usr/sbin/nats-server -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for "$work/nats.log" "Server is ready"
bus="nats://127.0.0.1:$nats_port"

"$natter" bench --print-server-config >"$work/bench.toml"
nodes=()
node_pids=()
for i in 0 1 2; do
    mkdir -p -m 0700 "$work/n$i"
    if [[ $i -gt 0 ]]; then # the shared server key and token secret
        cp -p "$work/n0/server.key" "$work/n0/token.secret" "$work/n$i/"
    fi
    "$natter" serve --data "$work/n$i" --udp 127.0.0.1:0 --http off --log-level warn \
        --config "$work/bench.toml" --store "$store" --bus "$bus" \
        >"$work/n$i.out" 2>"$work/n$i.log" &
    pids+=($!)
    node_pids+=($!)
    wait_for "$work/n$i.out" "server key"
    nodes+=("$(sed -n 's/^natter: listening on udp //p' "$work/n$i.out")")
done
key="$(sed -n 's/^natter: server key //p' "$work/n0.out")"
echo "nodes ${nodes[*]}, key $key, store $store, bus $bus; output in $out"

node_cpu() { # CPU seconds of the three nodes and of every postgres process
    local ticks total=0
    ticks="$(getconf CLK_TCK)"
    for pid in "${node_pids[@]}"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "scale=2; $total / $ticks" | bc
    ps -u postgres -o times= | awk '{s += $1} END {print s}'
}
bench() { # NAME ARGS…: one run, its JSON in $out/NAME-rROUND.json
    local name="$1" before after
    shift
    echo "== round $round: $name"
    before=($(node_cpu))
    # shellcheck disable=SC2086
    "$natter" bench --json $load --duration "$dur" "$@" >"$out/$name-r$round.json"
    after=($(node_cpu))
    echo "nodes_cpu_s $(echo "${after[0]} - ${before[0]}" | bc) pg_cpu_s $((after[1] - before[1]))" \
        >"$out/$name-r$round.cpu"
}
n01="${nodes[0]},${nodes[1]}"
n012="${nodes[0]},${nodes[1]},${nodes[2]}"
for round in $(seq 1 "$rounds"); do
    bench sqlite1 --spawn
    bench pg1 --server "${nodes[0]}" --server-key "$key"
    bench pg2 --server "$n01" --server-key "$key"
    bench pg3 --server "$n012" --server-key "$key"
    bench pg3-local --server "$n012" --server-key "$key" --placement by-group
    bench rate-sqlite1 --spawn --rate "$rate"
    bench rate-pg3-cross --server "$n012" --server-key "$key" --rate "$rate"
    bench rate-pg3-local --server "$n012" --server-key "$key" --rate "$rate" --placement by-group
done

printf '\n%-16s %5s %12s %9s %8s %8s %8s %8s %5s %5s %8s %6s\n' run round deliveries/s ✓/s p50_ms p99_ms ✓p50 ✓p99 lost dup node_cpu pg_cpu
for file in "$out"/*.json; do
    base="$(basename "$file" .json)"
    read -r _ ncpu _ pcpu <"$out/$base.cpu"
    jq -r --arg run "${base%-r*}" --arg round "${base##*-r}" --arg ncpu "$ncpu" --arg pcpu "$pcpu" \
        '[$run, $round, (.deliveries_per_s|floor), (.stored_per_s|floor),
          .latency_ms.p50, .latency_ms.p99, .stored_latency_ms.p50, .stored_latency_ms.p99,
          .lost, .duplicates, (.server_cpu_s // ($ncpu|tonumber)), $pcpu] | @tsv' "$file"
done | sort | awk -F'\t' '{printf "%-16s %5s %12s %9s %8.1f %8.1f %8.1f %8.1f %5s %5s %8.2f %6s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12}'
for i in 0 1 2; do
    echo "node $i log (warnings and errors): $(wc -l <"$work/n$i.log") lines, in $out/n$i.log"
done

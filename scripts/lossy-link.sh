#!/usr/bin/env bash
# A lossy link between two network namespaces (netem is not in this kernel,
# so loss is nftables dropping a random P % on each side's input).
#
#   scripts/lossy-link.sh up P     create nat-a (10.77.0.1) and nat-b (10.77.0.2), P % loss each way
#   scripts/lossy-link.sh down     remove them
#   scripts/lossy-link.sh run P -- CMD...   up, run CMD, always down (trap)
#
# Run the server in one namespace and the bench in the other, e.g.
#   ip netns exec nat-a natter serve --udp 10.77.0.1:7700 --http off
#   ip netns exec nat-b natter bench --server 10.77.0.1:7700 ...
# Needs root (ip, nft).
set -euo pipefail
A=nat-a B=nat-b

for tool in ip nft; do
    command -v "$tool" >/dev/null || {
        echo "lossy-link.sh: '$tool' is missing (Debian: apt-get install iproute2 nftables)" >&2
        exit 1
    }
done

up() {
    local p="$1"
    down 2>/dev/null || true
    ip netns add "$A"
    ip netns add "$B"
    ip link add nat-va netns "$A" type veth peer name nat-vb netns "$B"
    ip -n "$A" addr add 10.77.0.1/24 dev nat-va
    ip -n "$B" addr add 10.77.0.2/24 dev nat-vb
    for ns in "$A" "$B"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$A" link set nat-va up
    ip -n "$B" link set nat-vb up
    loss "$A" nat-va "$p"
    loss "$B" nat-vb "$p"
}

# Drops P % of the packets arriving on interface $2 in namespace $1.
loss() {
    local ns="$1" dev="$2" p="$3"
    ip netns exec "$ns" nft add table inet lossy
    ip netns exec "$ns" nft add chain inet lossy in '{ type filter hook input priority 0; }'
    if [[ "$p" != 0 ]]; then
        ip netns exec "$ns" nft add rule inet lossy in iifname "$dev" numgen random mod 100 '<' "$p" counter drop
    fi
}

down() {
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}

case "${1:-}" in
    up) trap 'down' ERR; up "${2:?loss percent}" ;;
    down) down ;;
    run)
        p="${2:?loss percent}"; shift 2
        [[ "${1:-}" == "--" ]] && shift
        trap down EXIT INT TERM
        up "$p"
        "$@"
        ;;
    *) echo "usage: $0 up P | down | run P -- CMD..." >&2; exit 2 ;;
esac

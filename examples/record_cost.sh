#!/usr/bin/env bash
# boltgate's CPU per forwarded RECORD, in instructions: the release binary runs under
# `valgrind --tool=callgrind` (perf's hardware counters are not available in this VM) while the
# load tool streams N, then 2N, 12-byte RECORDs through it from the synthetic server; start-up,
# the connection and shutdown cost the same in both, so
#
#     instructions per RECORD = (instr(2N) - instr(N)) / N
#
# Usage: examples/record_cost.sh [N] [REPEATS]      (default 100000 rows, 1 repeat; BOLTGATE_BIN=another binary)
# Needs valgrind (apt-get install valgrind). Everything listens on free loopback ports, and every
# process started here is stopped by pid on exit.
set -euo pipefail

n=${1:-100000}
repeats=${2:-1}
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "record_cost: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
# Two builds, the binary last: an example built with it turns on the dev-dependencies' features
# for the whole build (tokio's test-util: a locked clock on every timer read), which the binary
# users build (`cargo build --release`) does not have.
nice -n 2 cargo build --release --quiet --example loadtool
nice -n 2 cargo build --release --quiet --bin boltgate
bin=${BOLTGATE_BIN:-target/release/boltgate}
loadtool=target/release/examples/loadtool

dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (bounded) until something listens on 127.0.0.1:$1.
wait_listen() {
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "record_cost: nothing listens on 127.0.0.1:$1 after 60 s" >&2
    return 1
}

"$loadtool" --serve-synthetic >"$dir/synthetic.addr" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$dir/synthetic.addr" ] && break; sleep 0.1; done
upstream=$(head -n1 "$dir/synthetic.addr")
[ -n "$upstream" ] || { echo "record_cost: the synthetic server did not start" >&2; exit 1; }

# Sets $total: the instructions of one boltgate process that forwarded one stream of $1 rows.
# (Not called in $(...): a subshell would keep the pid from the cleanup trap.)
instructions() {
    local rows=$1 port out
    port=$(free_port)
    out="$dir/callgrind.$rows.$RANDOM"
    cat >"$dir/boltgate.conf" <<EOF
boltgate.upstream.uri=bolt://$upstream
server.bolt.listen_address=127.0.0.1:$port
boltgate.log.level=warn
EOF
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --config "$dir/boltgate.conf" \
        >"$dir/valgrind.log" 2>&1 &
    local vg=$!
    pids+=("$vg")
    wait_listen "$port"
    "$loadtool" --proxy "127.0.0.1:$port" --proxy-rows "$rows" >/dev/null
    kill -TERM "$vg"
    wait "$vg" || true
    total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
    [ -n "$total" ] || { echo "record_cost: no totals in $out" >&2; cat "$dir/valgrind.log" >&2; exit 1; }
}

echo "boltgate $(git rev-parse --short HEAD), N=$n, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$repeats"); do
    instructions "$n"
    one=$total
    instructions $((2 * n))
    two=$total
    per=$(( (two - one) / n ))
    echo "run $r: instr(N)=$one instr(2N)=$two -> $per instructions per RECORD"
done

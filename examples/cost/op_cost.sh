#!/usr/bin/env bash
# Instructions a proxy spends per connection and per `RETURN 1` query, counted by callgrind
# (perf's hardware counters are not available in this VM), for boltgate beside HAProxy and nginx
# relaying to the same synthetic server. Unlike rates, counts do not depend on what else runs
# on the machine. Each proxy runs under `valgrind --tool=callgrind` twice per measure; start-up
# and shutdown cancel out:
#
#     per connection = (instr(2N sessions) - instr(N sessions)) / N   (handshake, HELLO, LOGON, GOODBYE)
#     per query      = (instr(one session of 2Q) - instr(one of Q)) / Q
#
# Usage: examples/cost/op_cost.sh [N] [Q] [proxies]   (default 100 2000 "boltgate haproxy nginx")
# Needs valgrind; haproxy and nginx (with libnginx-mod-stream) are skipped when missing. Every
# process listens on a free loopback port and is stopped by pid on exit.
set -euo pipefail

n=${1:-100}
q=${2:-2000}
proxies=${3:-boltgate haproxy nginx}
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "op_cost: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
# Two builds, the binary last: an example built with it turns on the dev-dependencies' features
# for the whole build (tokio's test-util: a locked clock on every timer read), which the binary
# users build (`cargo build --release`) does not have.
nice -n 2 cargo build --release --quiet --example loadtool
nice -n 2 cargo build --release --quiet --bin boltgate
bin=${BOLTGATE_BIN:-target/release/boltgate}
loadtool=target/release/examples/loadtool
client=examples/cost/client.py
nginx_stream=/usr/lib/nginx/modules/ngx_stream_module.so

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

wait_listen() {
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "op_cost: nothing listens on 127.0.0.1:$1 after 60 s" >&2
    return 1
}

"$loadtool" --serve-synthetic >"$dir/synthetic.addr" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$dir/synthetic.addr" ] && break; sleep 0.1; done
upstream=$(head -n1 "$dir/synthetic.addr")
[ -n "$upstream" ] || { echo "op_cost: the synthetic server did not start" >&2; exit 1; }

# Sets $total: the instructions of one proxy process ($1) that served $2 sessions of $3 queries.
instructions() {
    local proxy=$1 sessions=$2 queries=$3 port out
    port=$(free_port)
    out="$dir/callgrind.$proxy.$RANDOM"
    case $proxy in
    boltgate)
        printf 'boltgate.upstream.uri=bolt://%s\nserver.bolt.listen_address=127.0.0.1:%s\nboltgate.log.level=warn\n' \
            "$upstream" "$port" >"$dir/boltgate.conf"
        set -- "$bin" --config "$dir/boltgate.conf" ;;
    haproxy)
        printf 'global\n  nbthread 2\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\nlisten bolt\n  bind 127.0.0.1:%s\n  server s %s\n' \
            "$port" "$upstream" >"$dir/haproxy.cfg"
        set -- haproxy -db -f "$dir/haproxy.cfg" ;;
    nginx)
        printf 'load_module %s;\ndaemon off;\nmaster_process off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log stderr warn;\nevents { worker_connections 1024; }\nstream { server { listen 127.0.0.1:%s; proxy_pass %s; } }\n' \
            "$nginx_stream" "$dir" "$port" "$upstream" >"$dir/nginx.conf"
        set -- nginx -p "$dir" -c "$dir/nginx.conf" ;;
    esac
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >"$dir/valgrind.log" 2>&1 &
    local vg=$!
    pids+=("$vg")
    wait_listen "$port"
    python3 "$client" "127.0.0.1:$port" "$sessions" "$queries"
    kill -TERM "$vg"
    wait "$vg" || true
    total=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
    [ -n "$total" ] || { echo "op_cost: no totals in $out" >&2; cat "$dir/valgrind.log" >&2; exit 1; }
}

echo "boltgate $(git rev-parse --short HEAD), N=$n sessions, Q=$q queries, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for proxy in $proxies; do
    case $proxy in
    haproxy) command -v haproxy >/dev/null || { echo "$proxy: not installed, skipped"; continue; } ;;
    nginx) { command -v nginx >/dev/null && [ -f "$nginx_stream" ]; } || { echo "$proxy: nginx or its stream module not installed, skipped"; continue; } ;;
    esac
    instructions "$proxy" "$n" 0; one=$total
    instructions "$proxy" $((2 * n)) 0; two=$total
    per_conn=$(( (two - one) / n ))
    instructions "$proxy" 1 "$q"; one=$total
    instructions "$proxy" 1 $((2 * q)); two=$total
    per_query=$(( (two - one) / q ))
    printf '%-9s %8d instructions per connection %8d per RETURN 1\n' "$proxy" "$per_conn" "$per_query"
done

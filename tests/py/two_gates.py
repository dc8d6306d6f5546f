"""Managed transactions through a neo4j:// URI while a boltgate instance drains.

usage: two_gates.py URI --count N [--pause S]
Runs N managed transactions (session.execute_write / execute_read alternately, one session
each, so every one acquires a connection from the driver's pool) with the driver's default
retry policy, as an application would. Any error that reaches this code fails the script.
Prints {"done": N, "servers": {address: count}} where address is the boltgate that served
each transaction (summary.server.address).
"""

import sys
import time

from bg_common import driver, expect, ok, parser


def main():
    p = parser(__doc__)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--pause", type=float, default=0.02)
    args = p.parse_args()
    servers = {}
    done = 0
    # The default retry policy (30 s), not the harness's 0: that is what applications use.
    with driver(args, max_transaction_retry_time=30.0) as d:
        for i in range(args.count):
            with d.session(database=args.database) as s:
                work = lambda tx: tx.run("RETURN 1").consume()
                summary = s.execute_write(work) if i % 2 == 0 else s.execute_read(work)
            addr = str(summary.server.address)
            servers[addr] = servers.get(addr, 0) + 1
            done += 1
            print(f"tx {done} via {addr}", file=sys.stderr, flush=True)
            time.sleep(args.pause)
    expect(done == args.count, "not every transaction ran")
    ok({"done": done, "servers": servers})


if __name__ == "__main__":
    main()

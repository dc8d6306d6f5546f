"""Many clients at once, each with its own driver (so its own connection to boltgate), running
read and write transactions: the load of a transaction-pooling boltgate (tests/pool_drivers.rs).

usage: pool_clients.py URI --clients N --rounds M [--synthetic] [--retry-time S] [--tolerate CLASS]...
Each client c runs M rounds of one write transaction and one read transaction (both through
execute_write / execute_read). Against FalkorDB the write creates (:PoolW {client: c, i: round})
and the read counts the client's nodes (it must see every write of its own); against the
synthetic server (--synthetic) the write runs `RETURN <c*1000+round>` in a write transaction
and the read `RETURN <c*1000+500+round>` in a read one, each checked for its own value, so the
server's record shows which writes it committed. Prints {"clients": N, "writes": N*M,
"reads": N*M}; any error exits 1. --retry-time lets the driver retry a transaction whose
connection was lost (a cluster member killed mid-run), as applications' managed transactions do;
with --synthetic, a transaction failing with an exception of a --tolerate class (IncompleteCommit:
the connection was lost during COMMIT, so the outcome is unknown and the driver does not retry)
is counted in "tolerated" (and its class in "tolerated_classes") and the client goes on.
"""

import threading

from bg_common import driver, fail, ok, parser


def main():
    p = parser(__doc__)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--retry-time", type=float, default=0.0)
    p.add_argument("--tolerate", action="append", default=[])
    args = p.parse_args()
    errors = []
    writes = [0] * args.clients
    reads = [0] * args.clients
    tolerated = []

    def attempt(fn):
        """fn's result, or None when it failed with a tolerated exception (recorded)."""
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - only the named classes are tolerated
            if type(e).__name__ in args.tolerate:
                tolerated.append(type(e).__name__)
                return None
            raise
    start = threading.Barrier(args.clients)

    def work(c):
        try:
            with driver(args, max_connection_pool_size=1,
                        max_transaction_retry_time=args.retry_time) as d:
                d.verify_connectivity()
                start.wait(timeout=60)
                with d.session(database=args.database) as s:
                    for i in range(args.rounds):
                        if args.synthetic:
                            w = c * 1000 + i
                            got = attempt(lambda: s.execute_write(
                                lambda tx: tx.run("RETURN %d" % w).single()[0]))
                            if got is not None:
                                if got != w:
                                    raise AssertionError("write %d returned %r" % (w, got))
                                writes[c] += 1
                            r = c * 1000 + 500 + i
                            got = attempt(lambda: s.execute_read(
                                lambda tx: tx.run("RETURN %d" % r).single()[0]))
                            if got is not None:
                                if got != r:
                                    raise AssertionError("read %d returned %r" % (r, got))
                                reads[c] += 1
                        else:
                            s.execute_write(lambda tx: tx.run(
                                "CREATE (:PoolW {client: $c, i: $i})", c=c, i=i).consume())
                            writes[c] += 1
                            n = s.execute_read(lambda tx: tx.run(
                                "MATCH (n:PoolW {client: $c}) RETURN count(n)", c=c).single()[0])
                            if n != i + 1:
                                raise AssertionError("client %d round %d sees %r of its writes" % (c, i, n))
                            reads[c] += 1
        except Exception as e:  # noqa: BLE001 - any failure is reported with its type
            errors.append("client %d: %s: %s" % (c, type(e).__name__, e))
            try:
                start.abort()
            except Exception:  # noqa: BLE001
                pass

    threads = [threading.Thread(target=work, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail("; ".join(errors[:5]) + (" (and %d more)" % (len(errors) - 5) if len(errors) > 5 else ""))
    ok({"clients": args.clients, "writes": sum(writes), "reads": sum(reads),
        "tolerated": len(tolerated), "tolerated_classes": sorted(set(tolerated))})


if __name__ == "__main__":
    main()

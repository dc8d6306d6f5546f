"""Routed work through a neo4j:// URI: write and read transactions as managed transactions.

usage: routing.py URI [--writes N] [--reads N] [--write-query Q] [--read-query Q]
                      [--retry-time S] [--database DB]
Runs N write transactions (session.execute_write) in one session, then N read transactions
(session.execute_read) in a session started with the first session's bookmarks, and an
auto-commit read. Prints {"writes": N, "reads": N, "write_results": [...], "read_results": [...],
"bookmarks": [...], "routing_table": {...}} where routing_table is what the driver learnt (the
addresses it would connect to for each role).
"""

from bg_common import driver, expect, ok, parser, to_json


def main():
    p = parser(__doc__)
    p.add_argument("--writes", type=int, default=3)
    p.add_argument("--reads", type=int, default=6)
    p.add_argument("--write-query", default="RETURN 1")
    p.add_argument("--read-query", default="RETURN 2")
    p.add_argument("--retry-time", type=float, default=0.0)
    args = p.parse_args()
    out = {"write_results": [], "read_results": []}
    with driver(args, max_transaction_retry_time=args.retry_time) as d:
        with d.session(database=args.database) as s:
            for _ in range(args.writes):
                v = s.execute_write(lambda tx: [to_json(r.values()) for r in tx.run(args.write_query)])
                out["write_results"].append(v)
            bookmarks = s.last_bookmarks()
        out["bookmarks"] = sorted(getattr(bookmarks, "raw_values", []))
        with d.session(database=args.database, bookmarks=bookmarks,
                       default_access_mode="READ") as s:
            for _ in range(args.reads):
                v = s.execute_read(lambda tx: [to_json(r.values()) for r in tx.run(args.read_query)])
                out["read_results"].append(v)
            if args.reads:
                v = s.run(args.read_query).values()
                out["read_results"].append(to_json(v))
        table = {}
        try:
            for db, rt in d._pool.routing_tables.items():
                table[str(db)] = {
                    "routers": sorted(str(a) for a in rt.routers),
                    "readers": sorted(str(a) for a in rt.readers),
                    "writers": sorted(str(a) for a in rt.writers),
                    "ttl": rt.ttl,
                }
        except AttributeError:
            pass
        out["routing_table"] = table
    out["writes"] = len(out["write_results"])
    out["reads"] = len(out["read_results"])
    expect(out["writes"] == args.writes, "not every write ran")
    ok(out)


if __name__ == "__main__":
    main()

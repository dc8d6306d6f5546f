"""A member crashes in the middle of an explicit read transaction; then more reads.

usage: routing_crash.py URI [--database DB] [--reads N]
In a READ session: BEGIN, RUN "RETURN 41" (consumed), RUN "CRASH" (the scripted member that runs
it dies). The second RUN's error is caught and reported; then N read transactions
(session.execute_read, "RETURN 2") run in a new session.
Prints {"first": [[41]], "error": {"class": ..., "classes": [...], "code": ..., "message": ...},
"later_reads": N}.
"""

import neo4j

from bg_common import driver, expect, ok, parser, to_json


def main():
    p = parser(__doc__)
    p.add_argument("--reads", type=int, default=4)
    args = p.parse_args()
    out = {"error": None}
    with driver(args) as d:
        with d.session(database=args.database, default_access_mode=neo4j.READ_ACCESS) as s:
            tx = s.begin_transaction()
            out["first"] = [to_json(r.values()) for r in tx.run("RETURN 41")]
            try:
                tx.run("CRASH").consume()
            except Exception as e:  # what the driver surfaces is the point of the test
                out["error"] = {
                    "class": type(e).__name__,
                    "classes": [c.__name__ for c in type(e).__mro__],
                    "code": getattr(e, "code", None),
                    "message": str(e),
                }
            try:
                tx.close()
            except Exception:
                pass
        later = 0
        with d.session(database=args.database, default_access_mode=neo4j.READ_ACCESS) as s:
            for _ in range(args.reads):
                v = s.execute_read(lambda tx: [to_json(r.values()) for r in tx.run("RETURN 2")])
                expect(v == [[2]], "a later read returned %r" % (v,))
                later += 1
        out["later_reads"] = later
    ok(out)


if __name__ == "__main__":
    main()

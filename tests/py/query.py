"""Runs a list of queries given as JSON and prints their results as JSON.

usage: query.py URI '[{"query": "RETURN $x AS x", "params": {"x": 1}}, "RETURN 2 AS y"]'
Output: {"results": [{"keys": [...], "records": [[...], ...], "summary": {...}}, ...],
         "server": {"agent": ..., "protocol_version": [major, minor]} (from the first result)}
A query that fails ends the script with exit 1 and the driver's error code on stderr, unless
--allow-errors is given: then its entry is {"error": {"class": ..., "code": ..., "message": ...}}.
With --in-tx the queries run in one explicit transaction, committed after the last one.
"""

import json

import neo4j

from bg_common import driver, fail, ok, parser, to_json


def main():
    p = parser(__doc__)
    p.add_argument("queries", help="JSON list of strings or {query, params} objects")
    p.add_argument("--allow-errors", action="store_true")
    p.add_argument("--in-tx", action="store_true")
    args = p.parse_args()
    queries = json.loads(args.queries)
    results = []
    server = None
    with driver(args) as d:
        with d.session(database=args.database) as session:
            s = session.begin_transaction() if args.in_tx else session
            for q in queries:
                text, params = (q, {}) if isinstance(q, str) else (q["query"], q.get("params", {}))
                try:
                    r = s.run(text, params)
                    keys = list(r.keys())
                    records = [to_json(list(rec.values())) for rec in r]
                    summary = r.consume()
                    if server is None:
                        server = {"agent": summary.server.agent,
                                  "protocol_version": list(summary.server.protocol_version)}
                    results.append({
                        "keys": keys,
                        "records": records,
                        "summary": {"counters": {k: v for k, v in vars(summary.counters).items()
                                                 if isinstance(v, int) and not k.startswith("_")}},
                    })
                except neo4j.exceptions.Neo4jError as e:
                    if not args.allow_errors:
                        fail("query %r failed: %s %s: %s" % (text, type(e).__name__, e.code, e.message))
                    results.append({"error": {"class": type(e).__name__, "code": e.code,
                                              "message": e.message}})
            if args.in_tx:
                s.commit()
    ok({"results": results, "server": server})


if __name__ == "__main__":
    main()

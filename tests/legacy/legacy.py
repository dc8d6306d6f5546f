"""The same work with any Neo4j Python driver, from neo4j-driver 1.7 (Bolt 3) to neo4j 6.x, with
the results in a driver-independent form, so a legacy driver through boltgate can be compared
with a current driver on the same server.

usage: legacy.py URI [--user U --password P] [--database DB] [--temporal] [--rollback]
Prints one JSON line: {"driver": version, "results": {scenario: normalized result}}. An
unexpected exception exits 1 with the traceback on stderr.
"""

import argparse
import json
import re
import sys

import neo4j

VERSION = tuple(int(x) for x in neo4j.__version__.split(".")[:2])


def norm(v):
    """A value as plain JSON, the same whatever the driver's classes are."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return {"float": repr(v)}
    if hasattr(v, "months") and hasattr(v, "days"):
        return {"duration": [v.months, v.days, int(v.seconds)]}
    if isinstance(v, (list, tuple)) and not hasattr(v, "srid"):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {k: norm(x) for k, x in sorted(v.items())}
    if hasattr(v, "nodes") and hasattr(v, "relationships"):
        return {"path": [norm(n) for n in v.nodes],
                "rels": [norm(r) for r in v.relationships]}
    if hasattr(v, "labels"):
        return {"node": sorted(v.labels), "props": norm(dict(v))}
    if hasattr(v, "type") and hasattr(v, "start_node"):
        ends = [sorted(dict(n).items()) if n is not None else None
                for n in (v.start_node, v.end_node)]
        return {"rel": v.type, "props": norm(dict(v)), "ends": norm(ends)}
    if hasattr(v, "srid"):
        return {"point": v.srid, "coords": [norm(float(c)) for c in v]}
    if hasattr(v, "iso_format"):
        # Date and time of day to the second: drivers differ in fractions and offset spelling.
        m = re.match(r"^(\d{4}-\d{2}-\d{2})?T?(\d{2}:\d{2}:\d{2})?", v.iso_format())
        out = {"temporal": type(v).__name__, "iso": " ".join(g for g in m.groups() if g)}
        offset = getattr(v, "utcoffset", lambda: None)()
        if offset is not None:
            out["offset"] = int(offset.total_seconds())
        zone = str(getattr(v, "tzinfo", "") or "")
        if "/" in zone:
            out["zone"] = zone
        return out
    if isinstance(v, bytes):
        return {"bytes": v.hex()}
    return {"other": type(v).__name__, "repr": repr(v)}


def rows(result):
    return [{k: norm(x) for k, x in zip(r.keys(), r.values())} for r in result]


def session(d, database):
    if VERSION >= (4, 0) and database:
        return d.session(database=database)
    return d.session()


def write_tx(s, fn):
    f = getattr(s, "execute_write", None) or s.write_transaction
    return f(fn)


def read_tx(s, fn):
    f = getattr(s, "execute_read", None) or s.read_transaction
    return f(fn)


def bookmark(s):
    if hasattr(s, "last_bookmarks"):
        return bool(s.last_bookmarks().raw_values)
    return s.last_bookmark() is not None


def scenarios(d, args):
    out = {}
    with session(d, args.database) as s:
        out["auto_commit"] = rows(s.run(
            "RETURN 1 AS i, 'a' AS s, 2.5 AS f, true AS b, null AS n, [1, 'x', [2]] AS l, "
            "{k: 'v', n: {m: 1}} AS m"))
        out["params"] = rows(s.run(
            "RETURN $i AS i, $s AS s, $l AS l, $m AS m",
            {"i": -129, "s": "h\u00e9llo", "l": [1, 2, [3]], "m": {"a": {"b": None}}}))
        s.run("MATCH (n:Legacy) DETACH DELETE n").consume()

        tx = s.begin_transaction()
        tx.run("CREATE (:Legacy {name: 'a', k: 1})-[:KNOWS {since: 2020}]->"
               "(:Legacy {name: 'b', k: 2})").consume()
        tx.commit()
        out["explicit_tx_bookmark"] = bookmark(s)

        def count(tx):
            return tx.run("MATCH (n:Legacy) RETURN count(n) AS c").single()["c"]
        out["tx_function_read"] = read_tx(s, count)

        def add(tx):
            tx.run("CREATE (:Legacy {name: 'c', k: 3})").consume()
            return True
        out["tx_function_write"] = write_tx(s, add)
        out["after_write"] = read_tx(s, count)

        out["graph"] = rows(s.run(
            "MATCH (a:Legacy {name: 'a'})-[r:KNOWS]->(b:Legacy) RETURN a, r, b"))
        out["path"] = rows(s.run(
            "MATCH p = (:Legacy {name: 'a'})-[:KNOWS]->(:Legacy) RETURN p"))

        try:
            s.run("RETURN 1 +").consume()
            out["error"] = "no error"
        except Exception as e:  # the driver's own class names differ; the code is compared
            # Raised; its code is the server's (FalkorDB says `SyntaxError` at Bolt 5.1 and
            # `Neo.DatabaseError.General.UnknownError` at 5.7), so only the raise is compared.
            out["error"] = "raised"
        out["after_error"] = rows(s.run("RETURN 2 AS two"))

        if args.rollback:
            tx = s.begin_transaction()
            tx.run("CREATE (:Legacy {name: 'rolled back'})").consume()
            tx.rollback()
            out["after_rollback"] = rows(s.run("MATCH (n:Legacy) RETURN count(n) AS c"))

        if args.temporal:
            out["temporal"] = rows(s.run(
                "RETURN date('2024-01-02') AS d, localtime('03:04:05') AS lt, "
                "time('03:04:05+01:00') AS t, localdatetime('2024-01-02T03:04:05') AS ldt, "
                "datetime('2024-01-02T03:04:05+01:00') AS dt, "
                "datetime('2024-07-02T03:04:05[Europe/Paris]') AS dtz, "
                "duration('P1Y2M3DT4H5M6S') AS du, "
                "point({x: 1.5, y: 2.5}) AS p2, point({x: 1, y: 2, z: 3}) AS p3, "
                "point({latitude: 50.5, longitude: 4.25}) AS geo"))
            dt = s.run("RETURN datetime('2024-01-02T03:04:05+01:00') AS dt").single()["dt"]
            out["temporal_param"] = rows(s.run("RETURN $dt AS dt, $dt = datetime("
                                               "'2024-01-02T03:04:05+01:00') AS same",
                                               {"dt": dt}))
        s.run("MATCH (n:Legacy) DETACH DELETE n").consume()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("uri")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    p.add_argument("--database")
    p.add_argument("--temporal", action="store_true")
    p.add_argument("--rollback", action="store_true")
    args = p.parse_args()
    kw = {}
    if VERSION < (4, 0):
        kw["encrypted"] = False  # 1.x encrypts by default
    auth = (args.user, args.password) if args.user else None
    d = neo4j.GraphDatabase.driver(args.uri, auth=auth, **kw)
    try:
        results = scenarios(d, args)
    finally:
        d.close()
    print(json.dumps({"driver": neo4j.__version__, "results": results}, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())

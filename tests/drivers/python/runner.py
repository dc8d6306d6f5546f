"""Scenario runner for the official Python driver (neo4j 6.x). See tests/drivers/README.md.

usage: runner.py URI USER PASSWORD CA SCENARIOS
"""

import hashlib
import json
import os
import struct
import sys
import uuid

import neo4j
import pytz
from neo4j import graph as ngraph
from neo4j import spatial as nspatial
from neo4j import time as ntime

SETUP = """
OPTIONAL MATCH (x:BgProbe) WITH count(x) AS existing WHERE existing = 0
CREATE (a:BgProbe {name: 'a', list: [1, 2, 3], score: 1.5, day: date('2024-02-29')}),
       (b:BgProbe:BgTarget {name: 'b'}),
       (c:BgProbe {name: 'c'}),
       (a)-[:BG_LINK {since: 2020, weight: 0.5}]->(b),
       (c)-[:BG_LINK {since: 2021}]->(b)
"""

TYPES = """
MATCH p = (a:BgProbe {name: 'a'})-[r:BG_LINK]->(:BgProbe {name: 'b'})<-[:BG_LINK]-(:BgProbe {name: 'c'})
RETURN a AS node, r AS relationship, p AS path,
  null AS null_value, true AS boolean,
  -9223372036854775807 - 1 AS int_min, 9223372036854775807 AS int_max,
  1.5 AS float, 1.7976931348623157e308 AS float_max, -0.0 AS float_negative_zero,
  'grüß 🙂' AS string, [1, 'two', [3.0], {four: 4}] AS list,
  date('2024-02-29') AS date,
  localtime('12:34:56.123456789') AS local_time,
  time('12:34:56.123456789+01:30') AS time,
  localdatetime('2024-02-29T12:34:56.123456789') AS local_datetime,
  datetime('2024-02-29T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id,
  datetime('2024-07-01T12:34:56.123456789[Europe/Stockholm]') AS datetime_zone_id_summer,
  datetime('2024-02-29T12:34:56.123456789-05:30') AS datetime_offset,
  datetime('2024-02-29T12:34:56.123456789Z') AS datetime_utc,
  duration({months: 14, days: 3, seconds: 45296, nanoseconds: 789}) AS duration,
  point({x: 1.5, y: -2.25}) AS point_2d,
  point({x: 1.5, y: -2.25, z: 3.0}) AS point_3d,
  point({longitude: 18.07, latitude: 59.33}) AS point_wgs84_2d,
  point({longitude: 18.07, latitude: 59.33, height: 28.0}) AS point_wgs84_3d,
  $bytes AS bytes, $large_map AS large_map
"""


def types_params():
    """The same parameters in every runner: 70,000 bytes (more than one 64 KiB chunk) and a
    map of 2,000 entries of mixed kinds."""
    data = bytes((i * 7 + 3) % 256 for i in range(70000))
    large = {}
    for i in range(2000):
        k = "k%04d" % i
        kind = i % 5
        if kind == 0:
            large[k] = i
        elif kind == 1:
            large[k] = "v%d" % i
        elif kind == 2:
            large[k] = i + 0.5
        elif kind == 3:
            large[k] = [i, "x"]
        else:
            large[k] = {"i": i}
    return {"bytes": data, "large_map": large}


def fl(f):
    return {"float": struct.pack(">d", f).hex()}


def hms(h, m, s, ns):
    return "%02d:%02d:%02d.%09d" % (h, m, s, ns)


def ymd(y, mo, d):
    return "%04d-%02d-%02d" % (y, mo, d)


def canon(v):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return fl(v)
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": {"len": len(v), "sha256": hashlib.sha256(bytes(v)).hexdigest()}}
    # Durations and points are tuples too: they come before lists.
    if isinstance(v, ntime.DateTime):
        text = ymd(v.year, v.month, v.day) + "T" + hms(v.hour, v.minute, v.second, v.nanosecond)
        if v.tzinfo is None:
            return {"local_datetime": text}
        off = int(v.utcoffset().total_seconds())
        # The driver turns offset 0 into pytz.utc, which has zone "UTC" like the zone id: as
        # the other drivers see it, a zero offset has no zone.
        zone = None if v.tzinfo is pytz.utc else getattr(v.tzinfo, "zone", None)
        return {"datetime": text, "offset_seconds": off, "zone": zone}
    if isinstance(v, ntime.Date):
        return {"date": ymd(v.year, v.month, v.day)}
    if isinstance(v, ntime.Time):
        text = hms(v.hour, v.minute, v.second, v.nanosecond)
        if v.tzinfo is None:
            return {"local_time": text}
        return {"time": text, "offset_seconds": int(v.utcoffset().total_seconds())}
    if isinstance(v, ntime.Duration):
        return {"duration": {"months": v.months, "days": v.days, "seconds": v.seconds,
                             "nanoseconds": v.nanoseconds}}
    if isinstance(v, nspatial.Point):
        p = {"srid": v.srid, "x": fl(v[0]), "y": fl(v[1])}
        if len(v) == 3:
            p["z"] = fl(v[2])
        return {"point": p}
    if isinstance(v, ngraph.Node):
        return {"node": {"element_id": v.element_id, "labels": sorted(v.labels),
                         "props": canon(dict(v.items()))}}
    if isinstance(v, ngraph.Relationship):
        return {"relationship": {"element_id": v.element_id, "type": v.type,
                                 "start": v.start_node.element_id, "end": v.end_node.element_id,
                                 "props": canon(dict(v.items()))}}
    if isinstance(v, ngraph.Path):
        return {"path": {"nodes": [canon(n) for n in v.nodes],
                         "relationships": [canon(r) for r in v.relationships]}}
    if isinstance(v, (list, tuple)) and not isinstance(v, nspatial.Point):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {k: canon(x) for k, x in sorted(v.items())}
    raise ValueError("no canonical form for %r" % (v,))


class Runner:
    def __init__(self, drv):
        self.d = drv
        self.token = str(uuid.uuid4())

    def info(self):
        with self.d.session() as s:
            summary = s.run("RETURN 1").consume()
        major, minor = summary.server.protocol_version
        return {"agent": summary.server.agent, "protocol": "%d.%d" % (major, minor)}

    def write_tx(self):
        def work(tx):
            r = tx.run("CREATE (n:BgWrite {token: $t}) RETURN n.token AS t", t=self.token)
            t = r.single()["t"]
            return t, r.consume().counters.nodes_created

        with self.d.session() as s:
            t, created = s.execute_write(work)
        return {"returned_token": t == self.token, "nodes_created": created}

    def read_tx(self):
        def work(tx):
            return tx.run("MATCH (n:BgWrite {token: $t}) RETURN count(n) AS c", t=self.token).single()["c"]

        with self.d.session() as s:
            return {"count": s.execute_read(work)}

    def auto_commit(self):
        with self.d.session() as s:
            return {"y": s.run("RETURN $x * 2 AS y", x=21).single()["y"]}

    def bookmarks(self):
        token = str(uuid.uuid4())
        with self.d.session() as s:
            s.execute_write(lambda tx: tx.run("CREATE (:BgBookmark {token: $t})", t=token).consume())
            bms = s.last_bookmarks()
        with self.d.session(bookmarks=bms) as s:
            c = s.execute_read(
                lambda tx: tx.run("MATCH (n:BgBookmark {token: $t}) RETURN count(n) AS c", t=token).single()["c"])
        return {"bookmarks": len(bms.raw_values), "count": c}

    def cypher_error(self):
        with self.d.session() as s:
            code = None
            try:
                s.run("RETURN 1 +").consume()
            except neo4j.exceptions.Neo4jError as e:
                code = e.code
            after = s.run("RETURN 7 AS x").single()["x"]
        return {"code": code, "after": after}

    def rows_100k(self):
        rows = 0
        total = 0
        with self.d.session() as s:
            for rec in s.run("UNWIND range(1, 100000) AS i RETURN i, 'row-' + toString(i) AS s"):
                rows += 1
                total += rec[0]
        return {"rows": rows, "sum": str(total)}

    def types(self):
        with self.d.session() as s:
            r = s.run(TYPES, types_params())
            rec = r.single(strict=True)
            return {k: canon(rec[k]) for k in rec.keys()}

    def setup(self):
        with self.d.session() as s:
            c = s.run(SETUP).consume().counters
        return {"nodes_created": c.nodes_created}


def main():
    if len(sys.argv) != 6:
        sys.stderr.write(__doc__)
        sys.exit(2)
    uri, user, password, ca, scenarios = sys.argv[1:]
    kw = {"auth": (user, password), "connection_timeout": 15, "max_transaction_retry_time": 5}
    if ca != "-":
        # The driver refuses trusted_certificates with a +s scheme: there it checks the server
        # against the system roots, which OpenSSL reads from SSL_CERT_FILE.
        os.environ["SSL_CERT_FILE"] = ca
    try:
        drv = neo4j.GraphDatabase.driver(uri, **kw)
    except Exception as e:  # noqa: BLE001 - any failure here is the answer
        sys.stderr.write("cannot create the driver: %s: %s\n" % (type(e).__name__, e))
        sys.exit(1)
    runner = Runner(drv)
    results = {}
    for name in scenarios.split(","):
        try:
            results[name] = getattr(runner, name)()
        except Exception as e:  # noqa: BLE001 - reported to the Rust test, which asserts
            results[name] = {"error": "%s: %s" % (type(e).__name__, e)}
    drv.close()
    out = {"driver": "python", "driver_version": neo4j.__version__, "results": results}
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()

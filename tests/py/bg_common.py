"""Shared helpers for the driver scripts: argument parsing, driver creation, JSON output.

Every script prints exactly one JSON line on stdout when it succeeds and exits 0. On a wrong
result it prints a clear message on stderr and exits 1 (see `fail`). The Rust side
(tests/common/driver.rs) runs the scripts and parses that one line.
"""

import argparse
import base64
import json
import math
import sys

import neo4j
from neo4j import graph as ngraph
from neo4j import time as ntime
from neo4j import spatial as nspatial


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("uri", help="bolt://host:port, bolt+s://, bolt+ssc://, neo4j://...")
    p.add_argument("--database", default="g", help="database (FalkorDB graph) name")
    p.add_argument("--ca", help="PEM file of a CA to trust; turns encryption on for a bolt:// URI")
    p.add_argument("--client-cert", help="PEM client certificate (mutual TLS)")
    p.add_argument("--client-key", help="PEM client key (mutual TLS)")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--principal", help="log in as this user (scheme none: servers without auth "
                   "accept it, and boltgate matches it in reload_tls_allowed_users)")
    p.add_argument("--basic", metavar="USER:PASSWORD", help="log in with basic auth (Neo4j)")
    return p


def driver(args, **extra):
    """A driver for args.uri: custom-CA trust via --ca, otherwise what the scheme says."""
    kw = dict(
        auth=None,
        connection_timeout=args.connect_timeout,
        connection_acquisition_timeout=args.connect_timeout * 2,
        max_transaction_retry_time=0,
    )
    if getattr(args, "principal", None):
        kw["auth"] = neo4j.Auth("none", args.principal, None)
    if getattr(args, "basic", None):
        user, _, password = args.basic.partition(":")
        kw["auth"] = neo4j.basic_auth(user, password)
    if args.ca:
        kw["encrypted"] = True
        kw["trusted_certificates"] = neo4j.TrustCustomCAs(args.ca)
    if args.client_cert:
        from neo4j.auth_management import ClientCertificate

        kw["client_certificate"] = ClientCertificate(args.client_cert, args.client_key)
    kw.update(extra)
    return neo4j.GraphDatabase.driver(args.uri, **kw)


def to_json(v):
    """Turns any value the driver returns into something json.dumps accepts, keeping its kind."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return {"$float": repr(v)}
        return v
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, list) or isinstance(v, tuple):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    if isinstance(v, ngraph.Node):
        return {"$node": {"id": v.element_id, "labels": sorted(v.labels),
                          "properties": to_json(dict(v.items()))}}
    if isinstance(v, ngraph.Relationship):
        return {"$relationship": {"id": v.element_id, "type": v.type,
                                  "start": v.start_node.element_id if v.start_node else None,
                                  "end": v.end_node.element_id if v.end_node else None,
                                  "properties": to_json(dict(v.items()))}}
    if isinstance(v, ngraph.Path):
        return {"$path": {"nodes": [to_json(n) for n in v.nodes],
                          "relationships": [to_json(r) for r in v.relationships]}}
    if isinstance(v, (ntime.Date, ntime.Time, ntime.DateTime, ntime.Duration)):
        return {"$" + type(v).__name__.lower(): v.iso_format()}
    if isinstance(v, nspatial.Point):
        return {"$point": {"srid": v.srid, "coords": list(v)}}
    return {"$repr": repr(v)}


def ok(obj):
    """The one JSON line a successful script prints."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.exit(0)


def fail(message):
    """A wrong result: say what was expected and what arrived, exit 1."""
    sys.stderr.write("FAIL: " + message + "\n")
    sys.stderr.flush()
    sys.exit(1)


def expect(cond, message):
    if not cond:
        fail(message)

"""A value with no faithful translation, through a legacy driver: against a 5.x-only server
(boltgate's synthetic one), a DateTime with a time-zone id cannot reach a Bolt 4.x client. The
driver must get a clear error (not a wrong value), and its session must work afterwards.

usage: zoned.py URI      (query text understood by testkit's synthetic server)
Prints {"error": <message>, "after": <int>}; anything else exits 1.
"""

import json
import sys

import neo4j


def main():
    d = neo4j.GraphDatabase.driver(sys.argv[1], auth=None)
    try:
        with d.session() as s:
            try:
                got = s.run("DATETIME_ZONED").single()
                print("FAIL: got a value: %r" % (got,), file=sys.stderr)
                return 1
            except neo4j.exceptions.Neo4jError as e:
                error = "%s: %s" % (e.code, e.message)
            after = s.run("RETURN 7").single()[0]
    finally:
        d.close()
    print(json.dumps({"error": error, "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

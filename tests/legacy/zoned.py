"""A DateTime with a time-zone id through a legacy driver: a 5.x-only server (boltgate's
synthetic one) sends it as UTC seconds (Bolt 5.0+); a Bolt 4.x client reads local wall-clock
seconds. boltgate converts with the zone's offset at that instant; the driver must see the same
wall-clock time and zone, and its session must work afterwards.

usage: zoned.py URI      (query text understood by testkit's synthetic server)
Prints {"value": <ISO text>, "zone": <zone id>, "after": <int>}; anything else exits 1.
"""

import json
import sys

import neo4j


def main():
    d = neo4j.GraphDatabase.driver(sys.argv[1], auth=None)
    try:
        with d.session() as s:
            value = s.run("DATETIME_ZONED").single()[0]
            after = s.run("RETURN 7").single()[0]
    finally:
        d.close()
    print(json.dumps({"value": value.iso_format(), "zone": str(value.tzinfo), "after": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

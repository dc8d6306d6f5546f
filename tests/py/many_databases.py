"""Runs `RETURN 1` once in each of many databases, as a client probing database names would.

usage: many_databases.py URI --count N --length L --prefix P
Database i is named P + i, padded with 'x' to L characters.
Output: {"ok": <queries that succeeded>, "errors": {<code>: <count>, ...}}
"""

import neo4j

from bg_common import driver, ok, parser


def main():
    p = parser(__doc__)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--prefix", default="db")
    args = p.parse_args()
    done, errors = 0, {}
    with driver(args) as d:
        for i in range(args.count):
            name = (args.prefix + str(i)).ljust(args.length, "x")
            try:
                with d.session(database=name) as s:
                    s.run("RETURN 1").consume()
                done += 1
            except neo4j.exceptions.Neo4jError as e:
                errors[e.code] = errors.get(e.code, 0) + 1
    ok({"ok": done, "errors": errors})


if __name__ == "__main__":
    main()

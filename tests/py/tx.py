"""Explicit transactions: commit, rollback, and a Cypher error as the driver reports it.

usage: tx.py URI
Prints {"committed": N, "rollback_ok": true, "rollback_undid_write": bool,
        "syntax_error": {"class": ..., "code": ...}, "tx_error": {...}, "usable_after_error": true}.
FalkorDB's ROLLBACK does not undo writes, so rollback_undid_write is reported, not checked; the
test asserts what it knows of the server behind. FalkorDB also ignores the database named in
BEGIN (queries in an explicit transaction go to its default graph), so every count here is read
inside an explicit transaction, where both sides agree on the graph.
"""

import uuid

import neo4j

from bg_common import driver, expect, fail, ok, parser


def error_of(e):
    return {"class": type(e).__name__, "code": e.code, "message": e.message,
            "is_neo4j_error": isinstance(e, neo4j.exceptions.Neo4jError)}


def count_in_tx(session, tag):
    with session.begin_transaction() as tx:
        c = tx.run("MATCH (n:%s) RETURN count(n) AS c" % tag).single()["c"]
        tx.commit()
    return c


def main():
    args = parser(__doc__).parse_args()
    tag = "T" + uuid.uuid4().hex[:12]
    out = {"tag": tag}
    with driver(args) as d:
        with d.session(database=args.database) as s:
            # Commit: three writes and a read inside one transaction, visible afterwards.
            with s.begin_transaction() as tx:
                for i in range(3):
                    tx.run("CREATE (:%s {i: $i})" % tag, {"i": i}).consume()
                inside = tx.run("MATCH (n:%s) RETURN count(n) AS c" % tag).single()["c"]
                expect(inside == 3, "count inside the transaction: expected 3, got %r" % inside)
                tx.commit()
            committed = count_in_tx(s, tag)
            expect(committed == 3, "after COMMIT: expected 3 nodes, got %r" % committed)
            out["committed"] = committed

            # Rollback: the driver must see ROLLBACK succeed and the session stay usable.
            tx = s.begin_transaction()
            tx.run("CREATE (:%s {i: 99})" % tag).consume()
            tx.rollback()
            after = count_in_tx(s, tag)
            out["rollback_ok"] = True
            out["rollback_undid_write"] = after == 3

            # A syntax error in an auto-commit query, as the driver's error class and code.
            try:
                s.run("RETURN 1 +").consume()
                fail("a syntax error was accepted")
            except neo4j.exceptions.Neo4jError as e:
                out["syntax_error"] = error_of(e)

            # The same inside an explicit transaction: the transaction fails, the session lives.
            try:
                with s.begin_transaction() as tx:
                    tx.run("RETURN 1 +").consume()
                    fail("a syntax error in a transaction was accepted")
            except neo4j.exceptions.Neo4jError as e:
                out["tx_error"] = error_of(e)

            v = s.run("RETURN 42 AS v").single()["v"]
            expect(v == 42, "the session after errors: expected 42, got %r" % v)
            out["usable_after_error"] = True
            with s.begin_transaction() as tx:
                tx.run("MATCH (n:%s) DELETE n" % tag).consume()
                tx.commit()
    ok(out)


if __name__ == "__main__":
    main()

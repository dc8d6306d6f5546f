"""One fault case against a scripted server (testkit/src/synthetic.rs), reporting what the driver
raised, so the Rust side can compare the same case direct and through boltgate.

usage: transparency.py URI CASE
CASE is one of
  mid_stream     RUN "DIE_AFTER 3": three records, then the server closes mid-stream;
  token_expired  RUN "FAIL_CLOSE Neo.ClientError.Security.TokenExpired": FAILURE, then a close;
  commit_dies    session.execute_write (retries on) whose COMMIT's connection dies;
  goodbye        one query, then driver.close() (the server counts the GOODBYEs).
Prints {"case", "records", "calls", "error": {"class", "classes", "code", "message"} | null}.
"""

import neo4j

from bg_common import driver, ok, parser


def error_of(e):
    return {
        "class": type(e).__name__,
        "classes": [c.__name__ for c in type(e).__mro__],
        "code": getattr(e, "code", None),
        "message": str(e),
    }


def main():
    p = parser(__doc__)
    p.add_argument("case")
    args = p.parse_args()
    out = {"case": args.case, "records": 0, "calls": 0, "error": None}
    # Retries on for the transaction function: a retryable error would run it again.
    with driver(args, max_transaction_retry_time=3.0) as d:
        with d.session(database="neo4j") as s:
            try:
                if args.case == "mid_stream":
                    for _ in s.run("DIE_AFTER 3"):
                        out["records"] += 1
                elif args.case == "token_expired":
                    s.run("FAIL_CLOSE Neo.ClientError.Security.TokenExpired").consume()
                elif args.case == "commit_dies":

                    def work(tx):
                        out["calls"] += 1
                        return tx.run("COMMIT_DIES").single()[0]

                    s.execute_write(work)
                elif args.case == "goodbye":
                    out["records"] = len(list(s.run("RETURN 1")))
                else:
                    raise SystemExit("unknown case " + args.case)
            except neo4j.exceptions.Neo4jError as e:
                out["error"] = error_of(e)
            except neo4j.exceptions.DriverError as e:
                out["error"] = error_of(e)
    ok(out)


if __name__ == "__main__":
    main()

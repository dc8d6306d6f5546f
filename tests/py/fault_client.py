"""A driver client for network-fault tests, steered over stdin/stdout (one JSON line per event).

usage: fault_client.py URI MODE [--rows N]
  stream: RUN a large result and read it slowly; prints {"event": "streaming"} once rows flow,
          then {"event": "done", "rows": n} or {"event": "error", ...}.
  commit: BEGIN, one CREATE (:Fault {id}) consumed, prints {"event": "ready", "id": ...}, waits for
          a line on stdin, then COMMIT; prints {"event": "committed"} or {"event": "error", ...}.
  query:  RETURN 1 in a fresh driver; {"event": "ok"} or {"event": "error", ...}.

An error event names what the driver raised: {"event": "error", "class": "ServiceUnavailable",
"classes": [the exception's class and its bases], "code": ..., "message": ..., "after_s": seconds
from the last progress to the error}. The test decides what is acceptable.
"""

import json
import sys
import time
import uuid

import neo4j

from bg_common import driver, parser


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def error_event(e, since):
    emit(event="error", **{"class": type(e).__name__,
                           "classes": [c.__name__ for c in type(e).__mro__],
                           "code": getattr(e, "code", None), "message": str(e)[:500],
                           "after_s": round(time.monotonic() - since, 2)})


def main():
    p = parser(__doc__)
    p.add_argument("mode", choices=["stream", "commit", "query"])
    p.add_argument("--rows", type=int, default=200000)
    args = p.parse_args()
    since = time.monotonic()
    try:
        with driver(args) as d:
            with d.session() as s:
                if args.mode == "query":
                    v = s.run("RETURN 1 AS x").single()["x"]
                    emit(event="ok" if v == 1 else "wrong", value=v)
                elif args.mode == "stream":
                    rows = 0
                    result = s.run("UNWIND range(1, $n) AS i RETURN i, $pad AS p",
                                   {"n": args.rows, "pad": "x" * 100})
                    for rec in result:
                        rows += 1
                        if rec["i"] != rows:
                            emit(event="wrong", row=rows, got=rec["i"])
                            return
                        if rows == 2000:
                            emit(event="streaming", rows=rows)
                        if rows % 500 == 0:
                            # A slow reader: the rest stays in flight in the socket buffers.
                            time.sleep(0.02)
                        since = time.monotonic()
                    emit(event="done", rows=rows)
                else:
                    wid = str(uuid.uuid4())
                    tx = s.begin_transaction()
                    tx.run("CREATE (:Fault {id: $id})", {"id": wid}).consume()
                    emit(event="ready", id=wid)
                    sys.stdin.readline()
                    since = time.monotonic()
                    tx.commit()
                    emit(event="committed", id=wid)
    except Exception as e:  # noqa: BLE001 - the test judges what the driver raised
        error_event(e, since)


if __name__ == "__main__":
    main()

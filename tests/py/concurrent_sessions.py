"""N threads x M queries over one driver, each thread checking its own results.

usage: concurrent.py URI [--threads N] [--queries M]
Each query returns a value only that thread and iteration can produce, so crossed or mixed-up
responses are caught. Prints {"threads": N, "queries": N*M, "ok": N*M}; any error exits 1.
"""

import threading

from bg_common import driver, fail, ok, parser


def main():
    p = parser(__doc__)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--queries", type=int, default=50)
    args = p.parse_args()
    errors = []
    done = [0] * args.threads
    with driver(args, max_connection_pool_size=args.threads) as d:
        def work(t):
            try:
                with d.session(database=args.database) as s:
                    for j in range(args.queries):
                        k = t * 100_000 + j
                        rec = s.run("UNWIND range(1, $n) AS i RETURN $k AS k, sum(i) AS s, count(i) AS c",
                                    {"n": 10 + j % 50, "k": k}).single()
                        n = 10 + j % 50
                        want = (k, n * (n + 1) // 2, n)
                        got = (rec["k"], rec["s"], rec["c"])
                        if got != want:
                            errors.append("thread %d query %d: expected %r, got %r" % (t, j, want, got))
                            return
                        done[t] += 1
            except Exception as e:  # noqa: BLE001 - any failure is reported with its type
                errors.append("thread %d: %s: %s" % (t, type(e).__name__, e))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        fail("; ".join(errors[:5]) + (" (and %d more)" % (len(errors) - 5) if len(errors) > 5 else ""))
    total = args.threads * args.queries
    if sum(done) != total:
        fail("completed %d of %d queries" % (sum(done), total))
    ok({"threads": args.threads, "queries": total, "ok": sum(done)})


if __name__ == "__main__":
    main()

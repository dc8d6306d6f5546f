"""Soak workload: threads of mixed reads, writes, explicit transactions and reconnects.

usage: soak.py URI --seconds S --threads N --run RUN --acked FILE [--seed K]

Each thread has its own driver and, until the deadline, picks at random: an auto-commit write,
a transaction of 1-3 writes that is committed, one that is rolled back, a read of one of its own
committed writes (checked against its payload), a computed read (checked), a read transaction,
or (at most one every 3 s across all threads) a reconnect: the driver is closed and a new one made.

A write is "acknowledged" when the auto-commit result was consumed without error or COMMIT
returned. Every acknowledged write is appended to FILE as a JSON line {id, thread, payload, n}
(rolled-back writes are not: FalkorDB's ROLLBACK does not undo them, so they prove nothing).
Payloads are letters, digits and '-', at most 300 characters: FalkorDB inlines parameters into
the query text and breaks on quotes, NUL, bytes or > 4 KiB.

Everything runs on the server's default graph (no database named): FalkorDB runs queries inside
an explicit transaction on its default graph whatever BEGIN names, so that is the one graph
where auto-commit writes and transactions agree.

Prints {"ops": {...}, "acked": n, "errors": [...], "reconnects": n}; exits 1 if any operation
failed or any read returned the wrong value.
"""

import json
import random
import os
import string
import sys
import threading
import time
import traceback

import neo4j

from bg_common import driver, fail, ok, parser

SAFE = string.ascii_letters + string.digits + "-"
RECONNECT_GAP = 3.0  # seconds between any two reconnects: FalkorDB hangs or crashes under several
                     # new connections back to back (4 threads reconnecting within 2 s hung it)
STUCK_AFTER = 120.0  # seconds past the deadline: a thread still busy then is reported as stuck


def payload(rng):
    return "".join(rng.choice(SAFE) for _ in range(rng.randint(1, 300)))


def lost_connection(e):
    """What a driver reports when its server connection is lost: its own connection errors, or
    the FAILURE boltgate sends for a lost upstream (DatabaseUnavailable)."""
    if isinstance(e, (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired)):
        return True
    return getattr(e, "code", None) == "Neo.TransientError.General.DatabaseUnavailable"


def absorb_goodbye_slot(uri):
    """Straight against FalkorDB, the index driver's GOODBYE leaves the next accepted connection
    unserved (tests/common/falkordb.rs); throwaway handshakes take that slot, so that direct and
    proxied runs start their threads alike. Through boltgate they are answered at once."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(uri)
    answered = 0
    for _ in range(20):
        try:
            with socket.create_connection((u.hostname, u.port or 7687), timeout=0.5) as c:
                c.sendall(b"\x60\x60\xb0\x17" + b"\x00\x07\x07\x05" + b"\x00" * 12)
                answered = answered + 1 if len(c.recv(4)) == 4 else 0
        except OSError:
            answered = 0
        if answered == 2:
            return


def main():
    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--run", required=True)
    p.add_argument("--acked", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--faults", action="store_true",
                   help="the network is being broken on purpose: an operation that fails as a lost "
                        "server connection is counted as unavailable, not as an error, and its "
                        "writes are recorded as of unknown outcome (\"maybe\")")
    p.add_argument("--no-reconnect", action="store_true",
                   help="never reconnect (for runs straight against FalkorDB, where each driver "
                        "close leaves a GOODBYE-poisoned connection slot)")
    args = p.parse_args()

    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()
    errors = []
    ops = {}
    acked_total = [0]
    unavailable = [0]
    reconnects = [0]
    current = {}  # thread -> (op, started): what a stuck thread was doing
    last_reconnect = [time.monotonic()]  # any thread's, under lock
    out = open(args.acked, "w")

    def make():
        return driver(args, max_connection_pool_size=2)

    # The index keeps reads of one id cheap as the graph grows. A second run finds it there
    # (FalkorDB answers "unknown error", Neo4j EquivalentSchemaRuleAlreadyExists), which is fine.
    with make() as d:
        with d.session() as s:
            try:
                s.run("CREATE INDEX FOR (n:Soak) ON (n.id)").consume()
            except neo4j.exceptions.DatabaseError:  # FalkorDB
                pass
            except neo4j.exceptions.ClientError as e:  # Neo4j; any other client error is real
                if "AlreadyExists" not in (e.code or ""):
                    raise
    if args.no_reconnect:
        absorb_goodbye_slot(args.uri)

    def work(t):
        rng = random.Random(args.seed * 1000 + t)
        mine = []  # (id, payload, n) this thread has seen acknowledged
        maybe = []  # (id, payload, n) whose write failed as a lost connection (--faults)
        counter = 0
        count = {}
        d = make()

        def new_id():
            nonlocal counter
            counter += 1
            return "%s-%d-%d" % (args.run, t, counter)

        def create(tx_or_session, kind, wid, text, n):
            tx_or_session.run(
                "CREATE (:Soak {id: $id, run: $run, thread: $t, kind: $kind, payload: $p, n: $n})",
                {"id": wid, "run": args.run, "t": t, "kind": kind, "p": text, "n": n},
            ).consume()

        try:
            while time.monotonic() < deadline:
                r = rng.random()
                reconnect = False
                if r < 0.05 and not args.no_reconnect:
                    with lock:
                        if time.monotonic() - last_reconnect[0] >= RECONNECT_GAP:
                            last_reconnect[0] = time.monotonic()
                            reconnect = True
                if reconnect:
                    op = "reconnect"
                elif r < 0.25:
                    op = "write"
                elif r < 0.45:
                    op = "tx_commit"
                elif r < 0.55:
                    op = "tx_rollback"
                elif r < 0.80:
                    op = "read_own"
                elif r < 0.95:
                    op = "read_computed"
                else:
                    op = "read_tx"
                current[t] = (op, time.monotonic())
                attempted = []
                try:
                    if op == "reconnect":
                        d.close()
                        d = make()
                        with lock:
                            reconnects[0] += 1
                    elif op == "write":
                        wid, text, n = new_id(), payload(rng), rng.randint(-1000000, 1000000)
                        attempted = [(wid, text, n)]
                        with d.session() as s:
                            create(s, "auto", wid, text, n)
                        mine.append((wid, text, n))
                    elif op in ("tx_commit", "tx_rollback"):
                        batch = [(new_id(), payload(rng), rng.randint(0, 1000)) for _ in range(rng.randint(1, 3))]
                        kind = "tx" if op == "tx_commit" else "rollback"
                        attempted = batch if op == "tx_commit" else []
                        with d.session() as s:
                            tx = s.begin_transaction()
                            for wid, text, n in batch:
                                create(tx, kind, wid, text, n)
                            if op == "tx_commit":
                                tx.commit()
                                mine.extend(batch)
                            else:
                                tx.rollback()
                    elif op == "read_own":
                        if not mine:
                            continue
                        wid, text, n = rng.choice(mine)
                        with d.session() as s:
                            rows = list(s.run("MATCH (x:Soak {id: $id}) RETURN x.payload AS p, x.n AS n", {"id": wid}))
                        got = [(row["p"], row["n"]) for row in rows]
                        if got != [(text, n)]:
                            raise AssertionError("read of %s: expected %r, got %r" % (wid, [(text, n)], got))
                    elif op == "read_computed":
                        k = rng.randint(1, 200)
                        with d.session() as s:
                            rec = s.run("UNWIND range(1, $k) AS i RETURN sum(i) AS s, $tag AS tag",
                                        {"k": k, "tag": "t%d" % t}).single()
                        if (rec["s"], rec["tag"]) != (k * (k + 1) // 2, "t%d" % t):
                            raise AssertionError("computed read: k=%d got %r" % (k, (rec["s"], rec["tag"])))
                    else:
                        with d.session() as s:
                            tx = s.begin_transaction()
                            c = tx.run("MATCH (x:Soak) WHERE x.thread = $t AND x.kind <> 'rollback' "
                                       "RETURN count(x) AS c", {"t": t}).single()["c"]
                            tx.commit()
                        # Rolled-back writes of other runs are excluded; ours are counted exactly.
                        if c < len(mine):
                            raise AssertionError("thread %d sees %d of its %d writes" % (t, c, len(mine)))
                    count[op] = count.get(op, 0) + 1
                except Exception as e:  # noqa: BLE001 - every failure is reported
                    if args.faults and lost_connection(e):
                        with lock:
                            unavailable[0] += 1
                        maybe.extend(attempted)
                        continue
                    with lock:
                        errors.append("thread %d %s: %s: %s" % (t, op, type(e).__name__, e))
                    if len(errors) > 20:
                        return
        finally:
            d.close()
            with lock:
                for wid, text, n in mine:
                    out.write(json.dumps({"id": wid, "thread": t, "payload": text, "n": n}) + "\n")
                for wid, text, n in maybe:
                    out.write(json.dumps({"id": wid, "thread": t, "payload": text, "n": n,
                                          "maybe": True}) + "\n")
                acked_total[0] += len(mine)
                for k, v in count.items():
                    ops[k] = ops.get(k, 0) + v

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, deadline + STUCK_AFTER - time.monotonic()))
    stuck = [t for t, th in enumerate(threads) if th.is_alive()]
    if stuck:
        frames = sys._current_frames()
        lines = []
        for t in stuck:
            op, started = current.get(t, ("?", time.monotonic()))
            lines.append("thread %d stuck in %s for %.0f s" % (t, op, time.monotonic() - started))
            ident = threads[t].ident
            if ident in frames:
                lines.append("".join(traceback.format_stack(frames[ident])[-6:]))
        sys.stderr.write("FAIL: %s\n" % "\n".join(lines))
        sys.stderr.flush()
        os._exit(1)
    out.close()
    if errors:
        fail("%d errors: %s" % (len(errors), "; ".join(errors[:5])))
    ok({"ops": ops, "acked": acked_total[0], "reconnects": reconnects[0], "errors": [],
        "unavailable": unavailable[0]})


if __name__ == "__main__":
    main()

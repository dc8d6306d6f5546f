"""Checks a soak run's acknowledged writes against what the server holds.

usage: soak_verify.py URI --run RUN --acked FILE --threads N

Run against the database itself, not through boltgate. Reads every :Soak node of RUN that was
not written by a rolled-back transaction, one thread's writes at a time, and compares with FILE
(soak.py's JSON lines): each acknowledged id must be present exactly once with its payload and
number, and nothing else may be there. Writes of unknown outcome (soak.py --faults: the
connection was lost before the answer) may be present or not, but if present, intact.
Reads the default graph, as soak.py writes it.

Prints {"acked": n, "present": n, "missing": n, "duplicated": n, "wrong": n, "unexpected": n,
"rolled_back_present": n, "unknown_outcome": n, "unknown_outcome_present": n}; exits 1 if any of missing, duplicated, wrong or unexpected is not 0.
"""

import json

from bg_common import driver, fail, ok, parser


def main():
    p = parser(__doc__)
    p.add_argument("--run", required=True)
    p.add_argument("--acked", required=True)
    p.add_argument("--threads", type=int, required=True)
    args = p.parse_args()
    want = {}
    maybe = {}  # writes whose outcome the client could not know (soak.py --faults)
    with open(args.acked) as f:
        for line in f:
            r = json.loads(line)
            if r.get("maybe"):
                maybe[r["id"]] = (r["payload"], r["n"])
            else:
                want[r["id"]] = (r["payload"], r["n"])
    seen = {}
    maybe_seen = set()
    duplicated = wrong = unexpected = 0
    examples = []
    with driver(args) as d:
        with d.session() as s:
            for t in range(args.threads):
                rows = s.run("MATCH (x:Soak) WHERE x.run = $run AND x.thread = $t AND x.kind <> 'rollback' "
                             "RETURN x.id AS id, x.payload AS p, x.n AS n", {"run": args.run, "t": t})
                for row in rows:
                    wid = row["id"]
                    if wid in seen or wid in maybe_seen:
                        duplicated += 1
                        continue
                    seen[wid] = (row["p"], row["n"])
                    if wid in maybe:
                        if maybe[wid] != seen[wid]:
                            wrong += 1
                            examples.append("%s: wrote %r, read %r" % (wid, maybe[wid], seen[wid]))
                        del seen[wid]
                        maybe_seen.add(wid)
                    elif wid not in want:
                        unexpected += 1
                        examples.append("unexpected %s" % wid)
                    elif want[wid] != seen[wid]:
                        wrong += 1
                        examples.append("%s: wrote %r, read %r" % (wid, want[wid], seen[wid]))
            rolled_back = s.run("MATCH (x:Soak) WHERE x.run = $run AND x.kind = 'rollback' RETURN count(x) AS c",
                                {"run": args.run}).single()["c"]
    missing = [wid for wid in want if wid not in seen]
    examples.extend("missing %s" % wid for wid in missing[:5])
    result = {"acked": len(want), "present": len(seen), "missing": len(missing), "duplicated": duplicated,
              "wrong": wrong, "unexpected": unexpected, "rolled_back_present": rolled_back,
              "unknown_outcome": len(maybe), "unknown_outcome_present": len(maybe_seen)}
    if missing or duplicated or wrong or unexpected:
        fail("%r; e.g. %s" % (result, "; ".join(examples[:8])))
    ok(result)


if __name__ == "__main__":
    main()

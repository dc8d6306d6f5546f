"""A large result streamed through PULL batches: row count and an order-sensitive checksum.

usage: many_rows.py URI [--rows N] [--fetch-size F]
Runs UNWIND range(1, N) and checks every row arrives once, in order, with the right value.
Prints {"rows": N, "checksum": C}, where C = sum(i * (i mod 1000)) mod 2^61-1.
"""

from bg_common import driver, expect, ok, parser

MOD = (1 << 61) - 1


def expected_checksum(n):
    return sum(i * (i % 1000) for i in range(1, n + 1)) % MOD


def main():
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--fetch-size", type=int, default=1000)
    args = p.parse_args()
    n = args.rows
    count = 0
    checksum = 0
    with driver(args, fetch_size=args.fetch_size) as d:
        with d.session(database=args.database) as s:
            result = s.run("UNWIND range(1, $n) AS i RETURN i, i % 1000 AS m", {"n": n})
            for rec in result:
                count += 1
                i, m = rec["i"], rec["m"]
                expect(i == count, "row %d carried i=%r (lost, repeated or reordered rows)" % (count, i))
                expect(m == i % 1000, "row %d: m=%r, expected %d" % (count, m, i % 1000))
                checksum = (checksum + i * m) % MOD
    expect(count == n, "expected %d rows, got %d" % (n, count))
    want = expected_checksum(n)
    expect(checksum == want, "checksum %d, expected %d" % (checksum, want))
    ok({"rows": count, "checksum": checksum})


if __name__ == "__main__":
    main()

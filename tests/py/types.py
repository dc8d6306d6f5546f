"""Every PackStream type as a query parameter and as a result, compared exactly.

usage: types.py URI
Each value is sent as $v in `RETURN $v AS v` and must come back equal (type and value); a few
values are also computed by Cypher to check the result side alone. Prints
{"checked": N, "names": [...]}; a mismatch exits 1 naming the value.
FalkorDB limits respected (see tests/common/falkordb.rs): no bytes parameters, no quotes or NUL
in string parameters, every parameter block under 4 KiB, float parameters exact at 6 decimals.
"""

from bg_common import driver, expect, fail, ok, parser

INT_BOUNDARIES = [
    0, 1, -1, 15, -16, 127, -17, -128, 128, -129, 32767, -32768, 32768, -32769,
    2147483647, -2147483648, 2147483648, -2147483649,
    9223372036854775807, -9223372036854775808,
]
# FalkorDB prints float parameters into the query text with 6 decimals: 3.141592653589793 comes
# back as 3.141593 and 1e-300 as -0.0, so parameters use values exact at that precision. Full
# precision is checked on the result side (RESULT_CASES).
FLOATS = [0.0, -0.0, 1.5, -2.25, 123456.125, -1e15, 1e300, 1.7976931348623157e308]
STRINGS = [
    "", "a", "fifteen chars!!", "sixteen chars!!!", "x" * 255, "y" * 256, "z" * 3000,
    "h\u00e9llo w\u00f6rld", "\u65e5\u672c\u8a9e", "emoji \U0001F600\U0001F680", "tab\tnew\nline",
    "back\\slash",
]
PARAM_CASES = (
    [("null", None), ("true", True), ("false", False)]
    + [("int %d" % i, i) for i in INT_BOUNDARIES]
    + [("float %r" % f, f) for f in FLOATS]
    + [("string len %d" % len(s), s) for s in STRINGS]
    + [
        ("empty list", []),
        ("list 15", list(range(15))),
        ("list 16", list(range(16))),
        ("list 300", list(range(300))),
        ("mixed list", [1, "two", 3.0, None, True, [4, [5]], {"six": 6}]),
        ("empty map", {}),
        ("map 15", {"k%d" % i: i for i in range(15)}),
        ("map 16", {"k%d" % i: i for i in range(16)}),
        ("map 40", {"key%02d" % i: "v%d" % i for i in range(40)}),
        ("nested", {"a": {"b": {"c": [1, {"d": [None, False, -1.5, "\u00e9"]}]}}}),
        ("deep list", [[[[[[[[["deep"]]]]]]]]]),
    ]
)
RESULT_CASES = [
    ("RETURN null AS v", None),
    ("RETURN true AS v", True),
    ("RETURN -129 AS v", -129),
    ("RETURN 2147483648 AS v", 2147483648),
    ("RETURN 9223372036854775807 AS v", 9223372036854775807),
    ("RETURN 0.5 AS v", 0.5),
    ("RETURN 3.141592653589793 AS v", 3.141592653589793),
    ("RETURN 'caf\u00e9' AS v", "caf\u00e9"),
    ("RETURN range(1, 1000) AS v", list(range(1, 1001))),
    ("RETURN {a: 1, b: [true, null], c: {d: 'e'}} AS v", {"a": 1, "b": [True, None], "c": {"d": "e"}}),
    ("UNWIND range(1, 3) AS i RETURN collect(i * 1.5) AS v", [1.5, 3.0, 4.5]),
]


def same(a, b):
    """Equal in value and in kind: True is not 1, 1.0 is not 1, -0.0 keeps its sign."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and (str(a) == str(b))
    return a == b


def main():
    args = parser(__doc__).parse_args()
    names = []
    with driver(args) as d:
        with d.session(database=args.database) as s:
            for name, value in PARAM_CASES:
                got = s.run("RETURN $v AS v", {"v": value}).single()["v"]
                expect(same(got, value), "parameter %s: sent %r, got back %r" % (name, value, got))
                names.append("param " + name)
            for query, want in RESULT_CASES:
                got = s.run(query).single()["v"]
                expect(same(got, want), "result of %r: expected %r, got %r" % (query, want, got))
                names.append("result " + query)
            # Several values in one record, in column order.
            rec = s.run("RETURN $a AS a, $b AS b, $c AS c", {"a": 1, "b": "two", "c": [3]}).single()
            expect(list(rec.keys()) == ["a", "b", "c"], "column order: %r" % (rec.keys(),))
            expect(same(list(rec.values()), [1, "two", [3]]), "multi-column values: %r" % (rec.values(),))
            names.append("multi-column")
    if len(names) != len(PARAM_CASES) + len(RESULT_CASES) + 1:
        fail("checked %d cases" % len(names))
    ok({"checked": len(names), "names": names})


if __name__ == "__main__":
    main()

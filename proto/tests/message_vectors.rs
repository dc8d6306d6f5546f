//! Byte-exact vectors for every request and response boltgate knows, in each version shape, and the
//! cheap views (tx_view, summary, hello_view, route_view, routing_table) read from the same bytes.

use boltgate_proto::message::{
    AccessMode, MessageError, RawMessage, Request, RequestKind, Response, RouteTarget, Summary,
    TxView,
};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use bytes::Bytes;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn raw(s: &str) -> RawMessage {
    RawMessage::new(Bytes::from(hex(s))).expect("valid message header")
}

/// Decode a request under `v`, check it re-encodes to the same bytes, and return it.
fn req(v: Version, s: &str) -> Request {
    let r = Request::decode(v, &raw(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        r.to_raw().unwrap().as_bytes().as_ref(),
        hex(s).as_slice(),
        "{r:?}"
    );
    r
}

fn resp(s: &str) -> Response {
    let r = Response::decode(Version::V5_8, &raw(s)).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(
        r.to_raw().unwrap().as_bytes().as_ref(),
        hex(s).as_slice(),
        "{r:?}"
    );
    r
}

const ALL: &[Version] = Version::SUPPORTED;

#[test]
fn reference_examples() {
    for &v in ALL {
        let Request::Run(run) = req(v, "B3 10 88 52 45 54 55 52 4E 20 31 A0 A0") else {
            panic!("RUN")
        };
        assert_eq!(run.query, "RETURN 1");
        assert_eq!(req(v, "B0 0F"), Request::Reset);
    }
    let Request::Pull(p) = req(Version::V4_4, "B1 3F A1 81 6E FF") else {
        panic!("PULL")
    };
    assert_eq!((p.n(), p.qid()), (-1, -1));
    assert!(matches!(resp("B1 70 A0"), Response::Success(s) if s.metadata.is_empty()));
}

#[test]
fn no_field_requests() {
    for &v in ALL {
        assert_eq!(req(v, "B0 02"), Request::Goodbye);
        assert_eq!(req(v, "B0 12"), Request::Commit);
        assert_eq!(req(v, "B0 13"), Request::Rollback);
    }
    assert_eq!(req(Version::V5_1, "B0 6B"), Request::Logoff);
    // Bolt 3: PULL_ALL and DISCARD_ALL have no fields.
    assert_eq!(req(Version::V3, "B0 3F"), Request::PullAll);
    assert_eq!(req(Version::V3, "B0 2F"), Request::DiscardAll);
    // ...and in 4.0+ PULL must carry its extra map.
    let err = Request::decode(Version::V4_0, &raw("B0 3F")).unwrap_err();
    assert!(
        matches!(
            err,
            MessageError::FieldCount {
                message: "PULL",
                got: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn hello_and_logon_redact_credentials() {
    // HELLO {user_agent:"x/1", scheme:"basic", principal:"neo4j", credentials:"pw"} (≤5.0 shape).
    let s = "B1 01 A4 8A 75 73 65 72 5F 61 67 65 6E 74 83 78 2F 31 86 73 63 68 65 6D 65 85 62 61 73 69 63 \
             89 70 72 69 6E 63 69 70 61 6C 85 6E 65 6F 34 6A 8B 63 72 65 64 65 6E 74 69 61 6C 73 82 70 77";
    let Request::Hello(h) = req(Version::V5_0, s) else {
        panic!("HELLO")
    };
    assert_eq!(h.user_agent(), Some("x/1"));
    assert_eq!(h.scheme(), Some("basic"));
    let dbg = format!("{h:?}");
    assert!(
        dbg.contains("<redacted>") && !dbg.contains("\"pw\""),
        "{dbg}"
    );
    assert!(!format!("{:?}", raw(s)).contains("pw"));
    assert_eq!(
        raw(s).hello_view().unwrap().user_agent.as_deref(),
        Some("x/1")
    );

    // LOGON {scheme:"basic", principal:"neo4j", credentials:"pw"} (5.1+).
    let s = "B1 6A A3 86 73 63 68 65 6D 65 85 62 61 73 69 63 89 70 72 69 6E 63 69 70 61 6C 85 6E 65 6F 34 6A \
             8B 63 72 65 64 65 6E 74 69 61 6C 73 82 70 77";
    let Request::Logon(l) = req(Version::V5_1, s) else {
        panic!("LOGON")
    };
    assert_eq!(l.principal(), Some("neo4j"));
    let dbg = format!("{l:?}");
    assert!(
        dbg.contains("<redacted>") && !dbg.contains("\"pw\""),
        "{dbg}"
    );
    // LOGON does not exist in 5.0: kept as Unknown, still byte-exact.
    assert!(matches!(req(Version::V5_0, s), Request::Unknown(st) if st.tag == 0x6A));
}

#[test]
fn hello_routing_view() {
    // HELLO {routing: {address: "h:1"}}
    let s = "B1 01 A1 87 72 6F 75 74 69 6E 67 A1 87 61 64 64 72 65 73 73 83 68 3A 31";
    let view = raw(s).hello_view().unwrap();
    assert_eq!(view.routing.unwrap().get_str("address"), Some("h:1"));
    // routing: null → no routing.
    let view = raw("B1 01 A1 87 72 6F 75 74 69 6E 67 C0")
        .hello_view()
        .unwrap();
    assert_eq!(view.routing, None);
}

#[test]
fn run_begin_and_tx_view() {
    // RUN "RETURN $x" {x: 1} {db:"neo4j", mode:"r", bookmarks:["b1"], imp_user:"bob"}
    let s = "B3 10 89 52 45 54 55 52 4E 20 24 78 A1 81 78 01 \
             A4 82 64 62 85 6E 65 6F 34 6A 84 6D 6F 64 65 81 72 89 62 6F 6F 6B 6D 61 72 6B 73 91 82 62 31 \
             88 69 6D 70 5F 75 73 65 72 83 62 6F 62";
    let Request::Run(run) = req(Version::V4_4, s) else {
        panic!("RUN")
    };
    assert!(
        !format!("{run:?}").contains("Integer(1)"),
        "parameter values stay out of Debug"
    );
    let view = raw(s).tx_view().unwrap();
    assert_eq!(
        view,
        TxView {
            db: Some("neo4j".into()),
            mode: AccessMode::Read,
            bookmarks: vec!["b1".into()],
            imp_user: Some("bob".into()),
        }
    );
    // BEGIN {} → defaults; BEGIN {db: ""} → home database.
    let Request::Begin(_) = req(Version::V5_0, "B1 11 A0") else {
        panic!("BEGIN")
    };
    assert_eq!(raw("B1 11 A0").tx_view().unwrap(), TxView::default());
    assert_eq!(raw("B1 11 A1 82 64 62 80").tx_view().unwrap().db, None);
    let err = raw("B1 3F A0").tx_view().unwrap_err();
    assert!(matches!(err, MessageError::WrongMessage { got: 0x3F, .. }));
}

#[test]
fn pull_discard() {
    // PULL {n: 1000, qid: 2}; DISCARD {n: -1}
    let Request::Pull(p) = req(Version::V5_8, "B1 3F A2 81 6E C9 03 E8 83 71 69 64 02") else {
        panic!("PULL")
    };
    assert_eq!((p.n(), p.qid()), (1000, 2));
    let Request::Discard(d) = req(Version::V4_0, "B1 2F A1 81 6E FF") else {
        panic!("DISCARD")
    };
    assert_eq!(d.n(), -1);
}

#[test]
fn route_in_both_shapes() {
    // 4.3: ROUTE {address:"h:1"} [] "neo4j"
    let s43 = "B3 66 A1 87 61 64 64 72 65 73 73 83 68 3A 31 90 85 6E 65 6F 34 6A";
    let Request::Route(r) = req(Version::V4_3, s43) else {
        panic!("ROUTE")
    };
    assert_eq!(r.target, RouteTarget::Db(Some("neo4j".into())));
    assert_eq!(raw(s43).route_view().unwrap().db.as_deref(), Some("neo4j"));
    // 4.3 with null db.
    let Request::Route(r) = req(Version::V4_3, "B3 66 A0 90 C0") else {
        panic!("ROUTE")
    };
    assert_eq!(r.db(), None);
    // 4.4+: ROUTE {} ["b"] {db:"x", imp_user:"u"}
    let s44 = "B3 66 A0 91 81 62 A2 82 64 62 81 78 88 69 6D 70 5F 75 73 65 72 81 75";
    for v in [Version::V4_4, Version::V5_0, Version::V5_8, Version::V6_0] {
        let Request::Route(r) = req(v, s44) else {
            panic!("ROUTE")
        };
        assert_eq!((r.db(), r.imp_user()), (Some("x"), Some("u")));
        assert_eq!(r.bookmarks, vec!["b".to_string()]);
    }
    let view = raw(s44).route_view().unwrap();
    assert_eq!(
        (view.db.as_deref(), view.imp_user.as_deref()),
        (Some("x"), Some("u"))
    );
    // A 4.4 ROUTE with a string third field is a type error, named.
    let err = Request::decode(Version::V4_4, &raw(s43)).unwrap_err();
    assert!(matches!(
        err,
        MessageError::FieldType {
            message: "ROUTE",
            field: "extra",
            ..
        }
    ));
    // ROUTE is unknown before 4.3.
    assert!(matches!(req(Version::V4_2, s43), Request::Unknown(_)));
}

#[test]
fn telemetry() {
    let Request::Telemetry(t) = req(Version::V5_4, "B1 54 02") else {
        panic!("TELEMETRY")
    };
    assert_eq!(t.api, 2);
    assert!(matches!(
        req(Version::V5_3, "B1 54 02"),
        Request::Unknown(_)
    ));
}

#[test]
fn unknown_signatures_survive_byte_for_byte() {
    for s in ["B0 77", "B2 55 C0 A1 81 61 01", "B1 0E 93 01 02 03"] {
        assert!(matches!(req(Version::V5_8, s), Request::Unknown(_)));
        assert!(matches!(resp(s), Response::Unknown(_)));
    }
}

#[test]
fn responses() {
    // SUCCESS {fields: ["n"], t_first: 3}
    let Response::Success(s) =
        resp("B1 70 A2 86 66 69 65 6C 64 73 91 81 6E 87 74 5F 66 69 72 73 74 03")
    else {
        panic!("SUCCESS")
    };
    assert_eq!(s.fields().unwrap(), &[Value::from("n")]);
    // RECORD [1, "a", null]
    assert!(matches!(resp("B1 71 93 01 81 61 C0"), Response::Record(r) if r.data.len() == 3));
    assert_eq!(resp("B0 7E"), Response::Ignored);
    assert_eq!(
        Response::ignored().as_bytes().as_ref(),
        hex("B0 7E").as_slice()
    );
    assert_eq!(
        Response::success(Map::new()).as_bytes().as_ref(),
        hex("B1 70 A0").as_slice()
    );
}

#[test]
fn failures_in_both_shapes() {
    // ≤5.6: {code: "Neo.X", message: "m"}
    let old = "B1 7F A2 84 63 6F 64 65 85 4E 65 6F 2E 58 87 6D 65 73 73 61 67 65 81 6D";
    let Response::Failure(f) = resp(old) else {
        panic!("FAILURE")
    };
    assert_eq!((f.code(), f.message()), (Some("Neo.X"), Some("m")));
    assert_eq!(
        raw(old).summary().unwrap(),
        Summary::Failure {
            code: "Neo.X".into(),
            message: "m".into()
        }
    );
    assert_eq!(
        Response::failure(Version::V5_6, "Neo.X", "m")
            .as_bytes()
            .as_ref(),
        hex(old).as_slice()
    );

    // 5.7+: built by the proxy, then read back.
    let built = Response::failure(Version::V5_7, "Neo.Y", "boom");
    let Response::Failure(f) = Response::decode(Version::V5_7, &built).unwrap() else {
        panic!("FAILURE")
    };
    assert_eq!(f.code(), Some("Neo.Y"));
    assert_eq!(f.gql_status(), Some("50N42"));
    assert!(f.description().unwrap().contains("boom"));
    assert_eq!(f.metadata.get("code"), None);
    assert_eq!(
        built.summary().unwrap(),
        Summary::Failure {
            code: "Neo.Y".into(),
            message: "boom".into()
        }
    );

    // 5.7+ from a server: gql_status, diagnostic_record and a nested cause.
    let mut cause = Map::new();
    cause.push("message", "inner");
    cause.push("gql_status", "22N01");
    let mut diag = Map::new();
    diag.push("_classification", "CLIENT_ERROR");
    let mut m = Map::new();
    m.push("neo4j_code", "Neo.ClientError.Statement.SyntaxError");
    m.push("message", "outer");
    m.push("gql_status", "42001");
    m.push("description", "d");
    m.push("diagnostic_record", diag);
    m.push("cause", cause);
    let built = Response::Failure(boltgate_proto::message::Failure { metadata: m })
        .to_raw()
        .unwrap();
    let Response::Failure(f) = resp(&to_hex(built.as_bytes())) else {
        panic!("FAILURE")
    };
    assert_eq!(
        f.diagnostic_record().unwrap().get_str("_classification"),
        Some("CLIENT_ERROR")
    );
    assert_eq!(f.cause().unwrap().gql_status(), Some("22N01"));
    assert_eq!(f.code(), Some("Neo.ClientError.Statement.SyntaxError"));
}

fn to_hex(b: &[u8]) -> String {
    b.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn summaries() {
    // SUCCESS {has_more: true}
    assert_eq!(
        raw("B1 70 A1 88 68 61 73 5F 6D 6F 72 65 C3")
            .summary()
            .unwrap(),
        Summary::Success {
            has_more: true,
            bookmark: None,
            db: None
        }
    );
    // SUCCESS {bookmark: "bm", db: "neo4j", stats: {...skipped...}}
    assert_eq!(
        raw("B1 70 A3 88 62 6F 6F 6B 6D 61 72 6B 82 62 6D 82 64 62 85 6E 65 6F 34 6A 85 73 74 61 74 73 A1 81 61 01")
            .summary()
            .unwrap(),
        Summary::Success { has_more: false, bookmark: Some("bm".into()), db: Some("neo4j".into()) }
    );
    // A RECORD whose body is garbage still summarises: the body is never read.
    assert_eq!(raw("B1 71 C7 C7").summary().unwrap(), Summary::Record);
    assert_eq!(raw("B0 7E").summary().unwrap(), Summary::Ignored);
    assert!(raw("B0 0F").summary().is_err());
}

#[test]
fn routing_table_view() {
    // SUCCESS {rt: {ttl: 300, db: "neo4j", servers: [{addresses: ["a:1"], role: "ROUTE"}, {addresses: ["b:1","c:1"], role: "READ"}]}}
    let mut servers = Vec::new();
    for (role, addrs) in [("ROUTE", vec!["a:1"]), ("READ", vec!["b:1", "c:1"])] {
        let mut s = Map::new();
        s.push(
            "addresses",
            Value::List(addrs.into_iter().map(Value::from).collect()),
        );
        s.push("role", role);
        servers.push(Value::Map(s));
    }
    let mut rt = Map::new();
    rt.push("ttl", 300);
    rt.push("db", "neo4j");
    rt.push("servers", servers);
    let mut meta = Map::new();
    meta.push("rt", rt);
    let msg = Response::success(meta);
    let table = msg.routing_table().unwrap().unwrap();
    assert_eq!(table.ttl, 300);
    assert_eq!(table.db.as_deref(), Some("neo4j"));
    assert_eq!(table.servers[1].role, "READ");
    assert_eq!(table.servers[1].addresses, vec!["b:1", "c:1"]);
    assert_eq!(Response::success(Map::new()).routing_table().unwrap(), None);
}

#[test]
fn raw_message_header_checks() {
    assert_eq!(
        RawMessage::new(Bytes::new()).unwrap_err(),
        MessageError::Empty
    );
    assert_eq!(
        RawMessage::new(Bytes::from_static(&[0xA0])).unwrap_err(),
        MessageError::NotAStructure { marker: 0xA0 }
    );
    assert!(matches!(
        RawMessage::new(Bytes::from_static(&[0xB1])).unwrap_err(),
        MessageError::PackStream(_)
    ));
    // Legacy struct marker accepted.
    let r = RawMessage::new(Bytes::from(hex("DC 01 70 A0"))).unwrap();
    assert_eq!((r.signature(), r.field_count()), (0x70, 1));
    assert!(matches!(
        Response::decode(Version::V5_0, &r).unwrap(),
        Response::Success(_)
    ));
    assert_eq!(
        format!("{:?}", raw("B1 70 A0")),
        "SUCCESS(0x70, 1 field(s), 3 bytes)"
    );
    assert_eq!(r.kind(Version::V3), RequestKind::Unknown(0x70));
    // Trailing bytes after the declared fields are an error when decoding.
    assert!(Response::decode(Version::V5_0, &raw("B0 7E 00")).is_err());
}

#[test]
fn outcomes_read_off_the_wire_match_the_summaries() {
    use boltgate_proto::state::Outcome;
    let cases = [
        // SUCCESS {has_more: true}
        "B1 70 A1 88 68 61 73 5F 6D 6F 72 65 C3",
        // SUCCESS {bookmark: "bm", db: "neo4j", stats: {a: 1}}: has_more absent, false
        "B1 70 A3 88 62 6F 6F 6B 6D 61 72 6B 82 62 6D 82 64 62 85 6E 65 6F 34 6A 85 73 74 61 74 73 A1 81 61 01",
        // SUCCESS {has_more: "yes"}: a wrongly typed value is skipped, as summary() does
        "B1 70 A1 88 68 61 73 5F 6D 6F 72 65 83 79 65 73",
        "B1 71 C7 C7",
        "B0 7E",
        // FAILURE {code: "X"}
        "B1 7F A1 84 63 6F 64 65 81 58",
        // SUCCESS {has_more: true}, the key as a STRING_8 (not the shortest encoding)
        "B1 70 A1 D0 08 68 61 73 5F 6D 6F 72 65 C3",
        // SUCCESS {bookmark: "has_more"}: the key's bytes in a value, has_more absent
        "B1 70 A1 88 62 6F 6F 6B 6D 61 72 6B 88 68 61 73 5F 6D 6F 72 65",
    ];
    for hex in cases {
        let m = raw(hex);
        assert_eq!(
            Outcome::of_message(&m).unwrap(),
            Outcome::of(&m.summary().unwrap()),
            "{hex}"
        );
    }
    assert_eq!(
        Outcome::of_message(&raw(cases[0])).unwrap(),
        Some(Outcome::Success { has_more: true })
    );
    assert_eq!(
        Outcome::of_message(&raw(cases[6])).unwrap(),
        Some(Outcome::Success { has_more: true })
    );
    // Malformed metadata that may hold `has_more` is an error on both paths.
    let truncated = "B1 70 A2 88 68 61 73 5F 6D 6F 72 65 C3 88";
    assert!(Outcome::of_message(&raw(truncated)).is_err());
    assert!(raw(truncated).summary().is_err());
    // Where the key's bytes occur nowhere, the metadata is not walked: a SUCCESS without
    // `has_more`, forwarded as it came (summary(), which decodes it, refuses it).
    assert_eq!(
        Outcome::of_message(&raw("B1 70 A1 88 68 61 73")).unwrap(),
        Some(Outcome::Success { has_more: false })
    );
    assert!(raw("B1 70 A1 88 68 61 73").summary().is_err());
}

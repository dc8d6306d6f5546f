//! One test per request rule, on PackStream values.

use super::*;
use boltgate_proto::message::{Begin, Run};
use boltgate_proto::packstream::Structure;

fn raw(r: Request) -> RawMessage {
    r.to_raw().unwrap()
}

fn decoded(version: Version, bytes: &Bytes) -> Request {
    Request::decode(version, &RawMessage::new(bytes.clone()).unwrap()).unwrap()
}

fn hello(extra: &[(&str, Value)]) -> RawMessage {
    raw(Request::Hello(Hello {
        extra: extra.iter().cloned().collect(),
    }))
}

#[test]
fn hello_with_credentials_becomes_hello_and_logon_for_5_1() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    let out = t
        .request(&hello(&[
            ("user_agent", "neo4j-python/4.2.1".into()),
            ("scheme", "basic".into()),
            ("principal", "neo4j".into()),
            ("credentials", "secret".into()),
            ("routing", Value::Map(Map::new())),
        ]))
        .unwrap();
    assert_eq!(out.len(), 2);
    let Request::Hello(h) = decoded(Version::V5_1, &out[0]) else {
        panic!()
    };
    assert_eq!(h.extra.get_str("user_agent"), Some("neo4j-python/4.2.1"));
    assert!(h.extra.contains_key("routing"));
    for key in AUTH_KEYS {
        assert!(!h.extra.contains_key(key), "{key} left in HELLO");
    }
    let Request::Logon(l) = decoded(Version::V5_1, &out[1]) else {
        panic!()
    };
    assert_eq!(l.auth.get_str("scheme"), Some("basic"));
    assert_eq!(l.auth.get_str("principal"), Some("neo4j"));
    assert_eq!(l.auth.get_str("credentials"), Some("secret"));
    assert_eq!(t.plans, [Plan::HelloHeld, Plan::LogonMerged]);
}

#[test]
fn hello_without_a_scheme_logs_on_with_scheme_none_and_the_utc_patch_is_kept_by_boltgate() {
    let mut t = Translator::new(Version::V4_4, Version::V5_1, 1 << 20);
    let out = t
        .request(&hello(&[
            ("user_agent", "x/1".into()),
            ("patch_bolt", Value::List(vec!["utc".into()])),
        ]))
        .unwrap();
    let Request::Hello(h) = decoded(Version::V5_1, &out[0]) else {
        panic!()
    };
    assert!(!h.extra.contains_key("patch_bolt"), "5.x knows no patches");
    let Request::Logon(l) = decoded(Version::V5_1, &out[1]) else {
        panic!()
    };
    assert_eq!(l.auth.get_str("scheme"), Some("none"));
    assert!(t.utc_patch);
    assert!(t.client_shapes().utc);
}

#[test]
fn hello_to_a_4_4_server_goes_as_it_came() {
    let mut t = Translator::new(Version::V3, Version::V4_4, 1 << 20);
    let h = hello(&[("scheme", "basic".into()), ("principal", "neo4j".into())]);
    assert_eq!(t.request(&h).unwrap(), vec![h.as_bytes().clone()]);
}

#[test]
fn pull_all_and_discard_all_become_pull_and_discard_of_everything() {
    let mut t = Translator::new(Version::V3, Version::V4_4, 1 << 20);
    let pull_all = RawMessage::new(Bytes::from_static(&[0xB0, sig::PULL])).unwrap();
    let discard_all = RawMessage::new(Bytes::from_static(&[0xB0, sig::DISCARD])).unwrap();
    let out = t.request(&pull_all).unwrap();
    // PULL {n: -1}, bolt-reference §2.
    assert_eq!(&out[0][..], &[0xB1, 0x3F, 0xA1, 0x81, b'n', 0xFF]);
    let out = t.request(&discard_all).unwrap();
    let Request::Discard(d) = decoded(Version::V4_4, &out[0]) else {
        panic!()
    };
    assert_eq!(d.n(), -1);
    assert_eq!(d.qid(), -1);
}

#[test]
fn pull_from_a_4_x_client_goes_as_it_came() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("n", 1000i64);
    let pull = raw(Request::Pull(PullDiscard { extra }));
    assert_eq!(t.request(&pull).unwrap(), vec![pull.as_bytes().clone()]);
}

#[test]
fn run_and_begin_metadata_keep_their_spelling() {
    // db, mode, bookmarks, imp_user, tx_timeout, tx_metadata are spelled alike in 4.x and 5.x;
    // Bolt 3 sends no db, which every later server reads as the home database.
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("db", "movies");
    extra.push("mode", "r");
    extra.push("bookmarks", Value::List(vec!["bm:1".into()]));
    extra.push("tx_timeout", 5000i64);
    extra.push("tx_metadata", Value::Map(Map::new()));
    let begin = raw(Request::Begin(Begin {
        extra: extra.clone(),
    }));
    assert_eq!(t.request(&begin).unwrap(), vec![begin.as_bytes().clone()]);
}

#[test]
fn run_parameters_with_an_offset_date_time_are_sent_as_utc_to_5_x() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    let mut parameters = Map::new();
    parameters.push(
        "t",
        Structure::new(0x46, vec![8100.into(), 42.into(), 3600.into()]),
    );
    let run = raw(Request::Run(Run {
        query: "RETURN $t".into(),
        parameters,
        extra: Map::new(),
    }));
    let out = t.request(&run).unwrap();
    let Request::Run(r) = decoded(Version::V5_1, &out[0]) else {
        panic!()
    };
    assert_eq!(
        r.parameters.get("t"),
        Some(&Value::Structure(Structure::new(
            0x49,
            vec![4500.into(), 42.into(), 3600.into()]
        )))
    );
}

#[test]
fn run_parameters_with_an_unknown_zone_id_are_refused_for_5_x() {
    let mut t = Translator::new(Version::V3, Version::V5_1, 1 << 20);
    let mut parameters = Map::new();
    parameters.push(
        "t",
        Structure::new(0x66, vec![0.into(), 0.into(), "Mars/Olympus".into()]),
    );
    let run = raw(Request::Run(Run {
        query: "RETURN $t".into(),
        parameters,
        extra: Map::new(),
    }));
    let e = t.request(&run).unwrap_err();
    assert_eq!(
        e,
        Untranslatable::UnknownZone {
            zone: "Mars/Olympus".into()
        }
    );
    let why = t.refusal(&e);
    assert!(
        why.contains("Bolt 3.0") && why.contains("Bolt 5.1"),
        "{why}"
    );
    assert!(why.contains("time-zone id 'Mars/Olympus'"), "{why}");
    assert!(t.plans.is_empty(), "a refused request owes no answer");
}

#[test]
fn route_4_3_names_its_database_in_the_4_4_extra_map() {
    let mut t = Translator::new(Version::V4_3, Version::V4_4, 1 << 20);
    let route = raw(Request::Route(Route {
        routing: Map::new(),
        bookmarks: vec![],
        target: RouteTarget::Db(Some("movies".into())),
    }));
    let out = t.request(&route).unwrap();
    let Request::Route(r) = decoded(Version::V4_4, &out[0]) else {
        panic!()
    };
    let RouteTarget::Extra(extra) = r.target else {
        panic!()
    };
    assert_eq!(extra.get_str("db"), Some("movies"));
}

#[test]
fn unreadable_hello_is_an_error_not_a_panic() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    // HELLO with a string where its map should be.
    let bad = RawMessage::new(Bytes::from_static(&[0xB1, 0x01, 0x81, b'x'])).unwrap();
    assert!(matches!(
        t.request(&bad),
        Err(Untranslatable::Unreadable { .. })
    ));
}

#[test]
fn goodbye_owes_no_answer_and_answers_of_4_4_to_4_2_need_no_plan() {
    let mut t = Translator::new(Version::V4_2, Version::V5_1, 1 << 20);
    let goodbye = RawMessage::new(Bytes::from_static(&[0xB0, sig::GOODBYE])).unwrap();
    t.request(&goodbye).unwrap();
    assert!(t.plans.is_empty());
    let mut t = Translator::new(Version::V4_2, Version::V4_4, 1 << 20);
    let reset = RawMessage::new(Bytes::from_static(&[0xB0, sig::RESET])).unwrap();
    assert_eq!(t.request(&reset).unwrap(), vec![reset.as_bytes().clone()]);
    assert!(t.plans.is_empty(), "the fast path keeps no plans");
}

#[test]
fn null_bookmarks_of_a_bolt_3_driver_are_dropped() {
    let mut t = Translator::new(Version::V3, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("bookmarks", Value::List(vec![Value::Null, "bm:1".into()]));
    extra.push("mode", "r");
    let run = raw(Request::Run(Run {
        query: "RETURN 1".into(),
        parameters: Map::new(),
        extra: extra.clone(),
    }));
    let out = t.request(&run).unwrap();
    let Request::Run(r) = decoded(Version::V5_1, &out[0]) else {
        panic!()
    };
    assert_eq!(
        r.extra.get("bookmarks"),
        Some(&Value::List(vec!["bm:1".into()]))
    );
    assert_eq!(r.extra.get_str("mode"), Some("r"));
    let begin = raw(Request::Begin(Begin { extra }));
    let out = t.request(&begin).unwrap();
    let Request::Begin(b) = decoded(Version::V5_1, &out[0]) else {
        panic!()
    };
    assert_eq!(
        b.extra.get("bookmarks"),
        Some(&Value::List(vec!["bm:1".into()]))
    );
}

#[test]
fn bookmarks_left_empty_are_not_sent() {
    let mut t = Translator::new(Version::V3, Version::V5_1, 1 << 20);
    for bookmarks in [vec![Value::Null], vec![]] {
        let mut extra = Map::new();
        extra.push("bookmarks", Value::List(bookmarks));
        let begin = raw(Request::Begin(Begin { extra }));
        let out = t.request(&begin).unwrap();
        let Request::Begin(b) = decoded(Version::V5_1, &out[0]) else {
            panic!()
        };
        assert!(b.extra.is_empty(), "{:?}", b.extra);
    }
}

#[test]
fn bolt_3_runs_inside_a_transaction_carry_no_metadata() {
    let mut t = Translator::new(Version::V3, Version::V5_1, 1 << 20);
    let mut extra = Map::new();
    extra.push("mode", "r");
    let run = raw(Request::Run(Run {
        query: "RETURN 1".into(),
        parameters: Map::new(),
        extra: extra.clone(),
    }));
    let sent_extra = |t: &mut Translator| {
        let out = t.request(&run).unwrap();
        let Request::Run(r) = decoded(Version::V5_1, &out[0]) else {
            panic!()
        };
        r.extra
    };
    assert_eq!(sent_extra(&mut t), extra, "auto-commit keeps its mode");
    t.request(&raw(Request::Begin(Begin {
        extra: extra.clone(),
    })))
    .unwrap();
    assert!(sent_extra(&mut t).is_empty(), "inside the transaction");
    t.request(&raw(Request::Commit)).unwrap();
    assert_eq!(sent_extra(&mut t), extra, "after COMMIT");
}

//! Property tests: decode(encode(v)) == v for arbitrary values (floats compared by bits), and every
//! typed message survives encode → RawMessage → decode under each version it exists in.

use boltgate_proto::message::{
    Begin, Hello, Logon, PullDiscard, RawMessage, Request, Response, Route, RouteTarget, Run,
    Telemetry,
};
use boltgate_proto::packstream::{decode, encode_to_vec, Limits, Map, Structure, Value};
use boltgate_proto::Version;
use bytes::Bytes;
use proptest::prelude::*;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(Value::Integer),
        prop_oneof![-200i64..200, -40000i64..40000].prop_map(Value::Integer),
        any::<f64>().prop_map(Value::Float),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Bytes(Bytes::from(b))),
        ".{0,20}".prop_map(Value::String),
    ]
}

fn map_of(inner: impl Strategy<Value = Value>) -> impl Strategy<Value = Map> {
    proptest::collection::vec(("[a-z_]{0,8}", inner), 0..20).prop_map(|e| e.into_iter().collect())
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 256, 20, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..20).prop_map(Value::List),
            map_of(inner.clone()).prop_map(Value::Map),
            (any::<u8>(), proptest::collection::vec(inner, 0..16))
                .prop_map(|(tag, fields)| Value::Structure(Structure::new(tag, fields))),
        ]
    })
}

fn simple_map() -> impl Strategy<Value = Map> {
    map_of(leaf())
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(".{0,10}", 0..4)
}

fn request() -> impl Strategy<Value = (Version, Request)> {
    prop_oneof![
        simple_map().prop_map(|extra| (Version::V5_0, Request::Hello(Hello { extra }))),
        simple_map().prop_map(|auth| (Version::V5_1, Request::Logon(Logon { auth }))),
        Just((Version::V5_1, Request::Logoff)),
        Just((Version::V3, Request::Goodbye)),
        Just((Version::V4_4, Request::Reset)),
        (".{0,30}", simple_map(), simple_map()).prop_map(|(query, parameters, extra)| (
            Version::V5_8,
            Request::Run(Run {
                query,
                parameters,
                extra
            })
        )),
        simple_map().prop_map(|extra| (Version::V4_0, Request::Begin(Begin { extra }))),
        Just((Version::V6_0, Request::Commit)),
        Just((Version::V6_0, Request::Rollback)),
        simple_map().prop_map(|extra| (Version::V4_1, Request::Pull(PullDiscard { extra }))),
        simple_map().prop_map(|extra| (Version::V5_2, Request::Discard(PullDiscard { extra }))),
        Just((Version::V3, Request::PullAll)),
        Just((Version::V3, Request::DiscardAll)),
        (simple_map(), strings(), proptest::option::of(".{0,10}")).prop_map(
            |(routing, bookmarks, db)| (
                Version::V4_3,
                Request::Route(Route {
                    routing,
                    bookmarks,
                    target: RouteTarget::Db(db)
                })
            )
        ),
        (simple_map(), strings(), simple_map()).prop_map(|(routing, bookmarks, m)| (
            Version::V5_4,
            Request::Route(Route {
                routing,
                bookmarks,
                target: RouteTarget::Extra(m)
            })
        )),
        any::<i64>().prop_map(|api| (Version::V5_4, Request::Telemetry(Telemetry { api }))),
    ]
}

proptest! {
    #[test]
    fn value_roundtrip(v in value()) {
        let bytes = encode_to_vec(&v).unwrap();
        let back = decode(&bytes, &Limits::default()).unwrap();
        prop_assert!(back.bits_eq(&v), "{v:?} -> {back:?}");
        prop_assert_eq!(encode_to_vec(&back).unwrap(), bytes);
    }

    #[test]
    fn request_roundtrip((version, r) in request()) {
        let raw = r.to_raw().unwrap();
        let back = Request::decode(version, &raw).unwrap();
        prop_assert_eq!(back.to_raw().unwrap(), raw);
        prop_assert_eq!(back.signature(), r.signature());
    }

    #[test]
    fn response_roundtrip(m in simple_map(), data in proptest::collection::vec(value(), 0..8)) {
        for r in [
            Response::Success(boltgate_proto::message::Success { metadata: m.clone() }),
            Response::Failure(boltgate_proto::message::Failure { metadata: m.clone() }),
            Response::Record(boltgate_proto::message::Record { data: data.clone() }),
            Response::Ignored,
        ] {
            let raw = r.to_raw().unwrap();
            let back = Response::decode(Version::V5_8, &raw).unwrap();
            prop_assert_eq!(back.to_raw().unwrap(), raw.clone());
            prop_assert!(raw.summary().is_ok());
        }
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode(&bytes, &Limits::default());
        if let Ok(raw) = RawMessage::new(Bytes::from(bytes)) {
            for &v in Version::SUPPORTED {
                let _ = Request::decode(v, &raw);
                let _ = Response::decode(v, &raw);
            }
            let _ = raw.summary();
            let _ = raw.tx_view();
            let _ = raw.hello_view();
            let _ = raw.route_view();
            let _ = raw.routing_table();
        }
    }
}

//! `neo4j://` and `neo4j+ssc://` on the default (single-upstream) relay: boltgate answers ROUTE
//! itself with the address the client dialled, so the driver keeps talking to boltgate.

use std::time::Duration;

use boltgate_proto::message::{Request, Response, Route, RouteTarget};
use boltgate_proto::packstream::Map;
use boltgate_testkit::synthetic::Options;
use serde_json::json;

use super::common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
use super::common::{self, Boltgate, FalkorDb, TestPki};
use super::{Scripted, WAIT};

const PY_TIMEOUT: Duration = Duration::from_secs(90);

fn routed(uri: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        uri,
        "--database",
        "g",
        "--writes",
        "2",
        "--reads",
        "2",
        "--write-query",
        "CREATE (:ViaRoute) RETURN 1",
        "--read-query",
        "MATCH (n:ViaRoute) RETURN count(n)",
        "--connect-timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    common::run_py("routing.py", &args, PY_TIMEOUT)
}

#[test]
fn neo4j_and_neo4j_ssc_through_the_plain_relay_keep_the_driver_on_boltgate() {
    let mut db = FalkorDb::start();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let base = base.to_str().expect("utf-8 path");
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("server.bolt.tls_level", "OPTIONAL"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        ("dbms.ssl.policy.bolt.base_directory", base),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ("boltgate.log.level", "boltgate=debug,info"),
        // Relayed (the default; the test harness turns it off in front of FalkorDB).
        ("boltgate.upstream.forward_goodbye", "true"),
    ]);
    let port = gate.addr.port();
    for (scheme, round) in [("neo4j", 1), ("neo4j+ssc", 2)] {
        let uri = format!("{scheme}://127.0.0.1:{port}");
        let out = routed(&uri, &[]);
        assert_eq!(out["writes"], 2, "{scheme}: {out}");
        let expected = json!([format!("127.0.0.1:{port}")]);
        let table = out["routing_table"]
            .as_object()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| panic!("{scheme}: the driver learnt no table: {out}"));
        for (db_name, t) in table {
            for role in ["routers", "readers", "writers"] {
                assert_eq!(t[role], expected, "{scheme}: {db_name} {role}: {out}");
            }
        }
        // The reads see every write so far: they ran on the same server, through boltgate.
        let reads = &out["read_results"];
        assert_eq!(reads[0], json!([[2 * round]]), "{scheme}: {out}");
        // The driver's GOODBYEs reached FalkorDB (relayed); its next connection needs the
        // poisoned slots absorbed (tests/common/falkordb.rs).
        assert!(db.absorb_goodbye_slots() >= 1, "{scheme}: GOODBYE relayed");
    }
    assert!(
        gate.log_contains("ROUTE answered by boltgate"),
        "{}",
        gate.log()
    );
}

#[test]
fn route_names_the_address_the_client_dialled_else_the_advertised_one() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[(
        "boltgate.routing.advertised_addresses",
        "proxy.example:7000",
    )]);
    let route = |address: Option<&str>| {
        let mut c = RawBolt::connect(gate.addr);
        c.login(&HELLO_5_AND_4_4);
        let mut routing = Map::new();
        if let Some(a) = address {
            routing.push("address", a);
        }
        let mut extra = Map::new();
        extra.push("db", "movies");
        c.send(&Request::Route(Route {
            routing,
            bookmarks: vec![],
            target: RouteTarget::Extra(extra),
        }));
        match c.recv(WAIT) {
            Got::Message(m @ Response::Success(_)) => m
                .to_raw()
                .unwrap()
                .routing_table()
                .unwrap()
                .expect("a routing table"),
            other => panic!("{other:?}\n{}", gate.log()),
        }
    };
    let rt = route(Some("boltgate.example:7687"));
    assert_eq!(rt.db.as_deref(), Some("movies"));
    assert_eq!(rt.ttl, 300);
    assert_eq!(rt.servers.len(), 3, "{rt:?}");
    for s in &rt.servers {
        assert_eq!(s.addresses, ["boltgate.example:7687"], "{rt:?}");
    }
    let rt = route(None);
    for s in &rt.servers {
        assert_eq!(s.addresses, ["proxy.example:7000"], "{rt:?}");
    }
    let routes = s
        .server
        .received()
        .iter()
        .filter(|r| r.name() == "ROUTE")
        .count();
    assert_eq!(routes, 0, "no ROUTE reached the server");
}

#[test]
fn the_routing_procedure_of_bolt_4_2_is_answered_by_boltgate_too() {
    // Bolt 4.0-4.2 drivers ask with CALL dbms.routing.getRoutingTable($context, $database).
    let s = Scripted::start(Options {
        versions: vec![boltgate_proto::Version::new(4, 2)],
        manifest: false,
        ..Options::default()
    });
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    let offer = [
        0x60, 0x60, 0xB0, 0x17, 0, 0, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    c.login(&offer);
    let mut context = Map::new();
    context.push("address", "dialled.example:7687");
    let mut parameters = Map::new();
    parameters.push("context", context);
    parameters.push("database", boltgate_proto::packstream::Value::Null);
    let mut extra = Map::new();
    extra.push("db", "system");
    c.send(&Request::Run(boltgate_proto::message::Run {
        query: "CALL dbms.routing.getRoutingTable($context, $database)".into(),
        parameters,
        extra,
    }));
    c.pull_all();
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    let [Got::Message(Response::Success(_)), Got::Message(Response::Record(row)), Got::Message(Response::Success(_))] =
        &got[..]
    else {
        panic!("{got:?}\n{}", gate.log());
    };
    let servers = format!("{:?}", row.data[1]);
    assert_eq!(
        servers.matches("dialled.example:7687").count(),
        3,
        "{servers}"
    );
    assert!(!servers.contains(&s.server.addr().to_string()), "{servers}");
    assert_eq!(
        s.server.queries(),
        Vec::<String>::new(),
        "nothing reached the server"
    );
}

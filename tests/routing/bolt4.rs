//! Members that speak only Bolt 4.2, which has no ROUTE message: boltgate fetches their routing
//! table with `CALL dbms.routing.getRoutingTable($context, $database)`, as 4.x drivers do, and
//! a 4.2 client (raw Bolt: the installed Python driver speaks 4.4+ only) gets its reads and
//! writes split across them.

use std::time::Duration;

use boltgate_proto::message::{sig, Begin, Request, Response};
use boltgate_proto::packstream::Map;
use boltgate_proto::Version;

use super::cluster::FakeCluster;
use super::common;
use super::common::bolt::{failure_of, Got, RawBolt};
use super::fake_cluster::start_gate;

/// Proposals for Bolt 4.2 only.
const HELLO_4_2: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0, 0, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
const WAIT: Duration = Duration::from_secs(15);

/// BEGIN in `mode`, RUN `query` + PULL, COMMIT; every answer must be a success.
fn tx(c: &mut RawBolt, mode: &str, query: &str) -> Vec<Response> {
    let mut extra = Map::new();
    extra.push("mode", mode);
    extra.push("db", "neo4j");
    c.send(&Request::Begin(Begin { extra }));
    c.run_and_pull(query);
    c.send(&Request::Commit);
    let mut got = Vec::new();
    for step in ["BEGIN", "RUN", "RECORD", "PULL", "COMMIT"] {
        match c.recv(WAIT) {
            Got::Message(r) => {
                assert!(failure_of(&r).is_none(), "{step}: {r:?}");
                got.push(r);
            }
            other => panic!("{step}: {other:?}"),
        }
    }
    got
}

#[test]
fn bolt_4_2_members_are_asked_with_the_routing_procedure() {
    let cluster = FakeCluster::start_with(vec![None, None, None], Some(&[Version::V4_2]));
    let gate = start_gate(&cluster, &[]);
    let mut c = RawBolt::connect(gate.addr);
    let version = c
        .try_login(&HELLO_4_2)
        .unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&gate.log(), 4000)));
    assert_eq!(version, Version::V4_2);

    // The client's own routing procedure is answered by boltgate with its own address.
    c.run_and_pull("CALL dbms.routing.getRoutingTable($context, $database)");
    let me = gate.addr.to_string();
    match (c.recv(WAIT), c.recv(WAIT), c.recv(WAIT)) {
        (
            Got::Message(Response::Success(_)),
            Got::Message(Response::Record(r)),
            Got::Message(Response::Success(_)),
        ) => {
            assert!(format!("{r:?}").contains(&me), "{r:?}");
            for m in &cluster.addrs {
                assert!(!format!("{r:?}").contains(m.as_str()), "{r:?}");
            }
        }
        other => panic!("{other:?}"),
    }

    for _ in 0..2 {
        tx(&mut c, "w", "RETURN 1");
    }
    for _ in 0..4 {
        tx(&mut c, "r", "RETURN 2");
    }
    assert_eq!(cluster.count(0, "RETURN 1"), 2, "writes on the writer");
    assert_eq!(
        cluster.count(1, "RETURN 2") + cluster.count(2, "RETURN 2"),
        4,
        "reads on the readers"
    );
    assert_eq!(cluster.count(0, "RETURN 2"), 0);

    // boltgate asked a member with the procedure (no ROUTE), on the system database, with the
    // URI's routing context naming the router.
    let calls: Vec<_> = (0..3)
        .flat_map(|m| cluster.received(m))
        .filter(|r| r.message.signature() == sig::RUN)
        .filter_map(|r| match Request::decode(r.version, &r.message) {
            Ok(Request::Run(run)) if run.query.contains("getRoutingTable") => Some(run),
            _ => None,
        })
        .collect();
    assert!(!calls.is_empty(), "boltgate called the routing procedure");
    for run in &calls {
        assert_eq!(run.extra.get_str("db"), Some("system"), "{run:?}");
        assert_eq!(run.extra.get_str("mode"), Some("r"), "{run:?}");
        assert_eq!(run.parameters.get_str("database"), Some("neo4j"), "{run:?}");
        let ctx = run.parameters.get_map("context").expect("a context");
        assert_eq!(ctx.get_str("region"), Some("test"));
        assert_eq!(ctx.get_str("address"), Some(cluster.addrs[0].as_str()));
    }
    let routes: usize = (0..3).map(|m| cluster.routes(m).len()).sum();
    assert_eq!(routes, 0, "no ROUTE message on Bolt 4.2");
}

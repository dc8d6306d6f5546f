//! The client-side limits an operator sets: the idle timeout, the connection limit, and the TLS
//! handshake debug log. Each as the client sees it, plus the log line the operator reads.

mod common;

use std::time::{Duration, Instant};

use boltgate_proto::message::{Begin, Request, Response};
use boltgate_proto::packstream::Map;
use common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
use common::{Boltgate, FalkorDb, TestPki};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn an_idle_client_is_closed_after_the_idle_timeout_but_not_inside_a_transaction() {
    let db = FalkorDb::start();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.client.idle_timeout", "1s"),
    ]);
    let mut idle = RawBolt::connect(gate.addr);
    idle.login(&HELLO_5_AND_4_4);
    let mut in_tx = RawBolt::connect(gate.addr);
    in_tx.login(&HELLO_5_AND_4_4);
    in_tx.send(&Request::Begin(Begin { extra: Map::new() }));
    assert!(matches!(
        in_tx.recv(WAIT),
        Got::Message(Response::Success(_))
    ));

    let start = Instant::now();
    assert_eq!(idle.recv(WAIT), Got::Closed, "{}", gate.log());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "closed too early: {waited:?}"
    );
    // Two idle periods later, the client with an open transaction is still served.
    std::thread::sleep(Duration::from_millis(2500));
    in_tx.run_and_pull("RETURN 3 AS x");
    let got: Vec<Got> = (0..3).map(|_| in_tx.recv(WAIT)).collect();
    assert!(
        matches!(got[2], Got::Message(Response::Success(_))),
        "{got:?}"
    );
    in_tx.send(&Request::Commit);
    assert!(matches!(
        in_tx.recv(WAIT),
        Got::Message(Response::Success(_))
    ));
    assert!(
        gate.log_contains("(boltgate.client.idle_timeout)"),
        "{}",
        gate.log()
    );
}

#[test]
fn connections_past_the_limit_are_closed_with_a_log_line_and_others_are_unaffected() {
    let db = FalkorDb::start();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.client.max_connections", "2"),
    ]);
    let mut a = RawBolt::connect(gate.addr);
    a.login(&HELLO_5_AND_4_4);
    let mut b = RawBolt::connect(gate.addr);
    b.login(&HELLO_5_AND_4_4);
    let mut third = RawBolt::connect(gate.addr);
    assert!(
        third.closes_silently(WAIT),
        "the third connection is closed at once"
    );
    assert!(
        gate.wait_for_log("boltgate.client.max_connections reached", WAIT),
        "{}",
        gate.log()
    );
    // The two admitted clients work; once one leaves, a new client is admitted.
    for c in [&mut a, &mut b] {
        c.run_and_pull("RETURN 1 AS x");
        let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
        assert!(
            matches!(got[2], Got::Message(Response::Success(_))),
            "{got:?}"
        );
    }
    drop(a);
    assert!(
        common::wait_until(WAIT, || {
            let mut c = RawBolt::connect(gate.addr);
            c.try_login(&HELLO_5_AND_4_4).is_ok()
        }),
        "a slot frees up when a client leaves\n{}",
        gate.log()
    );
}

#[test]
fn tls_handshake_debug_logs_the_handshake_steps() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("server.bolt.tls_level", "REQUIRED"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        (
            "dbms.ssl.policy.bolt.base_directory",
            base.to_str().unwrap(),
        ),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ("boltgate.log.tls_handshake_debug", "true"),
    ]);
    let q = json!(["RETURN 1 AS x"]).to_string();
    let ca = pki.ca_path.to_str().unwrap();
    let uri = format!("bolt://localhost:{}", gate.addr.port());
    let out = common::run_py("query.py", &[&uri, &q, "--ca", ca], Duration::from_secs(60));
    assert_eq!(out["results"][0]["records"], json!([[1]]));
    let log = gate.log();
    assert!(
        log.contains("rustls"),
        "rustls's own handshake log appears:\n{log}"
    );
    assert!(log.contains("TLS established"), "{log}");
}

/// FalkorDB crashes on deeply nested parameters: a 10,000-deep RUN is refused by boltgate with
/// a FAILURE and never forwarded; after RESET the session works, and so do the others.
#[test]
fn a_message_nested_beyond_the_limit_is_refused_and_the_session_recovers_after_reset() {
    let db = FalkorDb::start();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())]);
    let mut other = RawBolt::connect(gate.addr);
    other.login(&HELLO_5_AND_4_4);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);

    // Within the limit: forwarded and answered by FalkorDB.
    c.send_raw(&common::bolt::nested_run(5));
    c.pull_all();
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    assert!(
        matches!(&got[1], Got::Message(Response::Record(_))),
        "{got:?}\n{}",
        gate.log()
    );

    // Beyond it, with a PULL pipelined behind: FAILURE, then IGNORED, as from a server.
    c.send_raw(&common::bolt::nested_run(10_000));
    c.pull_all();
    let failure = c.recv(WAIT);
    let Got::Message(r @ Response::Failure(_)) = &failure else {
        panic!("expected a FAILURE, got {failure:?}\n{}", gate.log());
    };
    let (code, message) = common::bolt::failure_of(r).unwrap();
    assert_eq!(code, "Neo.ClientError.Request.Invalid", "{message}");
    assert!(message.contains("max_nesting_depth"), "{message}");
    assert_eq!(c.recv(WAIT), Got::Message(Response::Ignored));

    c.send(&Request::Reset);
    assert!(
        matches!(c.recv(WAIT), Got::Message(Response::Success(_))),
        "{}",
        gate.log()
    );
    for (client, n) in [(&mut c, 3), (&mut other, 4)] {
        client.run_and_pull(&format!("RETURN {n} AS x"));
        let got: Vec<Got> = (0..3).map(|_| client.recv(WAIT)).collect();
        let Got::Message(Response::Record(record)) = &got[1] else {
            panic!("{got:?}\n{}\n{}", gate.log(), db.log());
        };
        assert_eq!(
            record.data[0],
            boltgate_proto::packstream::Value::Integer(n)
        );
    }
}

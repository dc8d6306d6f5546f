//! Graceful shutdown as clients and operators see it: on SIGTERM boltgate stops accepting at
//! once, lets an open transaction finish, closes idle sessions, exits 0; after the grace period
//! it closes whatever is still open.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use boltgate_proto::message::{Begin, Record, Request, Response};
use boltgate_proto::packstream::{Map, Value};
use common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
use common::{Boltgate, FalkorDb};

const WAIT: Duration = Duration::from_secs(10);

fn begin(c: &mut RawBolt) {
    c.send(&Request::Begin(Begin { extra: Map::new() }));
    assert!(matches!(c.recv(WAIT), Got::Message(Response::Success(_))));
}

/// RUN + PULL; the single value of the single row.
fn query(c: &mut RawBolt, q: &str) -> Value {
    c.run_and_pull(q);
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    match &got[1] {
        Got::Message(Response::Record(Record { data })) => data[0].clone(),
        _ => panic!("no record for {q}: {got:?}"),
    }
}

fn login(gate: &Boltgate, c: &mut RawBolt) {
    if let Err(e) = c.try_login(&HELLO_5_AND_4_4) {
        panic!("{e}\n{}", gate.log());
    }
}

fn refused(addr: std::net::SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
}

#[test]
fn sigterm_lets_an_open_transaction_finish_and_refuses_new_clients() {
    let db = FalkorDb::start();
    let mut gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.shutdown.grace_period", "30s"),
    ]);
    let mut busy = RawBolt::connect(gate.addr);
    login(&gate, &mut busy);
    begin(&mut busy);
    assert_eq!(query(&mut busy, "RETURN 1 AS x"), Value::Integer(1));
    let mut idle = RawBolt::connect(gate.addr);
    login(&gate, &mut idle);

    let start = Instant::now();
    gate.signal("TERM");
    assert!(
        common::wait_until(WAIT, || refused(gate.addr)),
        "new connections must be refused while draining"
    );
    // The idle session is closed at once; the busy one is not.
    assert_eq!(
        idle.recv(WAIT),
        Got::Closed,
        "idle session closed on drain\n{}",
        gate.log()
    );
    assert_eq!(query(&mut busy, "RETURN 2 AS x"), Value::Integer(2));
    busy.send(&Request::Commit);
    assert!(matches!(
        busy.recv(WAIT),
        Got::Message(Response::Success(_))
    ));
    // Back to idle: now it is closed too, and the process exits well within the grace period.
    assert_eq!(
        busy.recv(WAIT),
        Got::Closed,
        "busy closed after commit\n{}",
        gate.log()
    );
    let status = gate.stop_gracefully(WAIT);
    assert!(status.success(), "exit {status}\n{}", gate.log());
    assert!(start.elapsed() < Duration::from_secs(20));
    let log = gate.log();
    for phase in ["Draining", "Stopped"] {
        assert!(log.contains(phase), "phase {phase} logged:\n{log}");
    }
}

#[test]
fn the_grace_period_ends_a_transaction_that_does_not_finish() {
    let db = FalkorDb::start();
    let mut gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.shutdown.grace_period", "1s"),
    ]);
    let mut stuck = RawBolt::connect(gate.addr);
    login(&gate, &mut stuck);
    begin(&mut stuck);
    let start = Instant::now();
    gate.signal("TERM");
    assert_eq!(
        stuck.recv(WAIT),
        Got::Closed,
        "closed when the grace period ends"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "not before the grace period"
    );
    let status = gate.stop_gracefully(WAIT);
    assert!(status.success(), "exit {status}\n{}", gate.log());
    assert!(gate.log_contains("grace period over"), "{}", gate.log());
}

#[test]
fn a_second_signal_closes_everything_at_once() {
    let db = FalkorDb::start();
    let mut gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.shutdown.grace_period", "60s"),
    ]);
    let mut stuck = RawBolt::connect(gate.addr);
    login(&gate, &mut stuck);
    begin(&mut stuck);
    gate.signal("TERM");
    assert!(common::wait_until(WAIT, || gate.log_contains("Draining")));
    gate.signal("INT");
    assert_eq!(stuck.recv(WAIT), Got::Closed);
    let status = gate.stop_gracefully(WAIT);
    assert!(status.success(), "exit {status}\n{}", gate.log());
}

#[test]
fn a_commit_still_in_flight_when_the_grace_period_ends_is_closed_without_a_failure() {
    // A scripted server that never answers this transaction's COMMIT: its outcome stays
    // unknown, so the client must see a connection loss (as if the server had gone), never a
    // FAILURE of boltgate's that drivers would read as "safe to retry" (a duplicate write).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(boltgate_testkit::synthetic::SyntheticServer::start())
        .expect("synthetic server");
    let mut gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &server.uri()),
        ("boltgate.shutdown.grace_period", "1s"),
    ]);
    let mut c = RawBolt::connect(gate.addr);
    login(&gate, &mut c);
    begin(&mut c);
    assert_eq!(query(&mut c, "COMMIT_HANGS"), Value::Integer(1));
    c.send(&Request::Commit);
    gate.signal("TERM");
    assert_eq!(c.until_closed(WAIT), vec![], "closed with no answer");
    let status = gate.stop_gracefully(WAIT);
    assert!(status.success(), "exit {status}\n{}", gate.log());
    assert!(
        gate.log_contains("closing the client without an answer"),
        "{}",
        gate.log()
    );
}

/// On one CPU boltgate runs a current-thread runtime (src/lib.rs, `runtime_builder`): the same
/// sessions, drain and exit as on the multi-thread one every other test here uses.
#[test]
fn on_one_cpu_the_current_thread_runtime_serves_drains_and_exits() {
    let db = FalkorDb::start();
    let mut gate = Boltgate::start_with_env(
        &format!(
            "boltgate.upstream.uri={}\nboltgate.shutdown.grace_period=30s\n",
            db.bolt_uri()
        ),
        &[("TOKIO_WORKER_THREADS", "1")],
    );
    assert!(
        gate.log_contains("current-thread (one CPU)"),
        "the runtime is named in the start-up line\n{}",
        gate.log()
    );
    let mut busy = RawBolt::connect(gate.addr);
    login(&gate, &mut busy);
    let mut idle = RawBolt::connect(gate.addr);
    login(&gate, &mut idle);
    begin(&mut busy);
    assert_eq!(query(&mut busy, "RETURN 7 AS x"), Value::Integer(7));
    gate.signal("TERM");
    assert_eq!(
        idle.recv(WAIT),
        Got::Closed,
        "idle closed on drain\n{}",
        gate.log()
    );
    assert_eq!(query(&mut busy, "RETURN 8 AS x"), Value::Integer(8));
    busy.send(&Request::Commit);
    assert!(matches!(
        busy.recv(WAIT),
        Got::Message(Response::Success(_))
    ));
    assert_eq!(busy.recv(WAIT), Got::Closed, "{}", gate.log());
    let status = gate.stop_gracefully(WAIT);
    assert!(status.success(), "exit {status}\n{}", gate.log());
}

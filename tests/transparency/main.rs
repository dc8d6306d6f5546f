//! Issue 13: every outcome a client sees through boltgate is the one it would see direct.
//!
//! - this file: the five regression classes the drivers' conformance kit found, each against a
//!   scripted server (testkit/src/synthetic/) with a raw client that sees the exact messages
//!   and the close: a server error then a close (TokenExpired), a drop mid-stream, a drop during
//!   COMMIT, GOODBYE, and the handshake bytes (in [`handshake`]);
//! - [`drivers`]: the official Python and JavaScript drivers, each case direct and through
//!   boltgate side by side;
//! - [`handshake`]: version negotiation as direct (the client's own offer upstream, the retry
//!   without the manifest, FalkorDB with 5.6-only and 4.4-only clients, `/ready` unchanged);
//! - [`routing`]: `neo4j://` and `neo4j+ssc://` on the single-upstream relay (FalkorDB).

#[path = "../common/mod.rs"]
mod common;

mod drivers;
mod handshake;
mod routing;

use std::time::Duration;

use boltgate_proto::message::{Begin, Request, Response};
use boltgate_proto::packstream::Map;
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use common::bolt::{failure_of, Got, RawBolt, HELLO_5_AND_4_4};
use common::Boltgate;

pub const WAIT: Duration = Duration::from_secs(15);

/// A synthetic server on a runtime of its own, so the blocking test code can drive it.
pub struct Scripted {
    pub server: SyntheticServer,
    _rt: tokio::runtime::Runtime,
}

impl Scripted {
    pub fn start(opts: Options) -> Scripted {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(SyntheticServer::start_with(Options {
                record: true,
                ..opts
            }))
            .expect("synthetic server");
        Scripted { server, _rt: rt }
    }

    pub fn gate(&self, extra: &[(&str, &str)]) -> Boltgate {
        let uri = self.server.uri();
        let mut settings = vec![
            ("boltgate.upstream.uri", uri.as_str()),
            ("boltgate.log.level", "boltgate=debug,info"),
        ];
        settings.extend_from_slice(extra);
        Boltgate::start(&settings)
    }
}

/// Logs in through `gate` and runs `query` with a PULL; everything until the close.
fn run_until_closed(gate: &Boltgate, query: &str) -> Vec<Response> {
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull(query);
    c.until_closed(WAIT)
}

fn failures(got: &[Response]) -> Vec<String> {
    got.iter()
        .filter_map(failure_of)
        .map(|(code, _)| code)
        .collect()
}

#[test]
fn a_server_error_then_close_reaches_the_client_alone() {
    // Neo4j answers an expired token with TokenExpired and closes; the client must see that
    // FAILURE and the close, nothing of boltgate's after it (its driver renews the token).
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);
    let got = run_until_closed(&gate, "FAIL_CLOSE Neo.ClientError.Security.TokenExpired");
    assert_eq!(
        failures(&got),
        ["Neo.ClientError.Security.TokenExpired"],
        "{got:?}\n{}",
        gate.log()
    );
    assert_eq!(got.len(), 1, "nothing after the server's FAILURE: {got:?}");
}

#[test]
fn a_drop_mid_stream_is_a_close_after_every_record_not_a_failure() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);
    let got = run_until_closed(&gate, "DIE_AFTER 3");
    let records = got
        .iter()
        .filter(|r| matches!(r, Response::Record(_)))
        .count();
    assert_eq!(records, 3, "{got:?}");
    assert!(matches!(got[0], Response::Success(_)), "{got:?}");
    assert_eq!(failures(&got), Vec::<String>::new(), "{got:?}");
    assert!(
        gate.wait_for_log("upstream lost with requests in flight", WAIT),
        "{}",
        gate.log()
    );
}

#[test]
fn a_drop_during_commit_is_a_close_not_a_retryable_failure() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.send(&Request::Begin(Begin { extra: Map::new() }));
    c.run_and_pull("COMMIT_DIES");
    let answered: Vec<Got> = (0..4).map(|_| c.recv(WAIT)).collect();
    assert!(
        answered
            .iter()
            .all(|g| matches!(g, Got::Message(Response::Success(_) | Response::Record(_)))),
        "{answered:?}"
    );
    c.send(&Request::Commit);
    let got = c.until_closed(WAIT);
    assert_eq!(
        got,
        vec![],
        "the COMMIT's outcome is unknown: no answer at all"
    );
    assert_eq!(s.server.queries(), ["COMMIT_DIES"]);
}

#[test]
fn goodbye_reaches_the_server_and_both_sides_close() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.send(&Request::Goodbye);
    assert_eq!(c.until_closed(WAIT), vec![]);
    assert!(
        common::wait_until(WAIT, || s.server.goodbyes() == 1),
        "the server received {} GOODBYE(s)\n{}",
        s.server.goodbyes(),
        gate.log()
    );
    assert!(gate.wait_for_log("end=Goodbye", WAIT), "{}", gate.log());

    // forward_goodbye=false (for FalkorDB): the upstream connection is closed without it.
    let quiet = s.gate(&[("boltgate.upstream.forward_goodbye", "false")]);
    let mut c = RawBolt::connect(quiet.addr);
    c.login(&HELLO_5_AND_4_4);
    c.send(&Request::Goodbye);
    assert_eq!(c.until_closed(WAIT), vec![]);
    assert!(quiet.wait_for_log("end=Goodbye", WAIT), "{}", quiet.log());
    assert_eq!(s.server.goodbyes(), 1, "no second GOODBYE");
}

#[test]
fn a_client_vanishing_mid_request_ends_its_session_and_others_are_served() {
    let s = Scripted::start(Options::default());
    let gate = s.gate(&[]);
    // Half a message, then gone; and a whole request whose answer nobody reads.
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.send_raw(&[0x00, 0x40, 0xB3, 0x10]);
    drop(c);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull("ROWS 5000");
    drop(c);
    assert!(
        common::wait_until(WAIT, || sessions_ended(&gate) >= 2),
        "both sessions end\n{}",
        gate.log()
    );
    let got = run_until_closed_after(&gate, "RETURN 7");
    assert!(
        got.iter().any(|r| matches!(r, Response::Record(_))),
        "{got:?}"
    );
}

/// Like [`run_until_closed`], but closes its side after the answers (the relay stays up).
fn run_until_closed_after(gate: &Boltgate, query: &str) -> Vec<Response> {
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull(query);
    let got: Vec<Response> = (0..3)
        .filter_map(|_| match c.recv(WAIT) {
            Got::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    c.shutdown_write();
    got
}

/// Sessions that ended, by the listener's one line per session.
pub fn sessions_ended(gate: &Boltgate) -> usize {
    let log = gate.log();
    ["session closed", "client disconnected", "session ended"]
        .iter()
        .map(|l| log.matches(l).count())
        .sum()
}

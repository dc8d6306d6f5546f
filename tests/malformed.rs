//! Bad input from either side. Each case: what the client sees (a Bolt FAILURE or a clean close,
//! never a hang), what the operator reads in the log, and that boltgate keeps serving everyone
//! else.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{sig, RawMessage, Record, Response};
use boltgate_proto::packstream::{Map, Value};
use bytes::BytesMut;
use common::bolt::{failure_of, Got, RawBolt, HELLO_5_AND_4_4};
use common::{Boltgate, FalkorDb};
use tokio_util::codec::{Decoder, Encoder};

const WAIT: Duration = Duration::from_secs(10);

/// A good client still gets its answer.
fn still_serving(gate: &Boltgate) {
    let mut c = RawBolt::connect(gate.addr);
    if let Err(e) = c.try_login(&HELLO_5_AND_4_4) {
        panic!("a well-behaved client cannot log in: {e}\n{}", gate.log());
    }
    c.run_and_pull("RETURN 42 AS x");
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    assert!(
        matches!(&got[1], Got::Message(Response::Record(Record { data })) if data == &[Value::Integer(42)]),
        "a well-behaved client is still served: {got:?}\n{}",
        gate.log()
    );
}

fn gate_with(db: &FalkorDb, extra: &[(&str, &str)]) -> Boltgate {
    let uri = db.bolt_uri();
    let mut settings = vec![("boltgate.upstream.uri", uri.as_str())];
    settings.extend_from_slice(extra);
    Boltgate::start(&settings)
}

#[test]
fn garbage_instead_of_a_preamble_is_closed_without_a_reply() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[]);
    let mut c = RawBolt::connect(gate.addr);
    c.send_raw(b"hello, are you a database?\r\n");
    assert!(
        c.closes_silently(WAIT),
        "garbage must get a close and no bytes"
    );
    assert!(
        gate.wait_for_log("expected the Bolt preamble 60 60 B0 17", WAIT),
        "{}",
        gate.log()
    );
    still_serving(&gate);
}

#[test]
fn a_plain_http_request_on_the_bolt_port_gets_a_400_that_names_the_port() {
    // GET is how a browser's WebSocket upgrade starts, so it is answered in HTTP.
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[]);
    let mut c = RawBolt::connect(gate.addr);
    c.send_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut answer = String::new();
    c.stream.set_read_timeout(Some(WAIT)).unwrap();
    let _ = c.stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(
        gate.wait_for_log("not a WebSocket upgrade", WAIT),
        "{}",
        gate.log()
    );
    still_serving(&gate);
}

#[test]
fn an_http_post_on_the_bolt_port_is_named_as_such() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[]);
    let mut c = RawBolt::connect(gate.addr);
    c.send_raw(b"POST /db/neo4j/tx HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(c.closes_silently(WAIT));
    assert!(
        gate.wait_for_log("this looks like HTTP", WAIT),
        "{}",
        gate.log()
    );
    still_serving(&gate);
}

#[test]
fn a_bolt_1_client_is_refused_with_the_reason() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[]);
    let mut c = RawBolt::connect(gate.addr);
    let hello = [
        0x60, 0x60, 0xB0, 0x17, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    assert_eq!(c.handshake(&hello), Some([0, 0, 0, 0]), "the Bolt refusal");
    assert!(c.closes_silently(WAIT));
    assert!(
        gate.wait_for_log("Bolt 1 and 2 are not supported", WAIT),
        "{}",
        gate.log()
    );
    still_serving(&gate);
}

#[test]
fn a_client_that_sends_nothing_is_closed_after_the_handshake_timeout() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[("boltgate.client.handshake_timeout", "1s")]);
    let mut c = RawBolt::connect(gate.addr);
    let start = Instant::now();
    assert!(c.closes_silently(WAIT), "closed, no bytes");
    assert!(
        start.elapsed() < WAIT,
        "closed by the timeout, not the test's wait"
    );
    assert!(
        gate.wait_for_log("boltgate.client.handshake_timeout", WAIT),
        "{}",
        gate.log()
    );
    // A slow but complete client is unaffected: half a preamble, then the rest in time.
    let mut slow = RawBolt::connect(gate.addr);
    slow.send_raw(&HELLO_5_AND_4_4[..2]);
    thread::sleep(Duration::from_millis(300));
    let rest: [u8; 18] = HELLO_5_AND_4_4[2..].try_into().unwrap();
    slow.send_raw(&rest);
    let mut reply = [0u8; 4];
    slow.stream.set_read_timeout(Some(WAIT)).unwrap();
    slow.stream.read_exact(&mut reply).expect("version reply");
    assert_eq!(reply[3], 5);
    still_serving(&gate);
}

#[test]
fn a_chunk_header_promising_more_than_arrives_ends_only_that_session() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    // A header announcing 64 bytes, two of them sent, then the client stops writing.
    c.send_raw(&[0x00, 0x40, 0xB1, 0x10]);
    c.shutdown_write();
    let got = c.until_closed(WAIT);
    assert!(got.is_empty(), "nothing to answer: {got:?}");
    assert!(
        gate.wait_for_log("connection closed mid-message", WAIT),
        "{}",
        gate.log()
    );
    still_serving(&gate);
}

#[test]
fn a_message_over_the_size_limit_gets_a_failure_then_a_close() {
    let db = FalkorDb::start();
    let gate = gate_with(&db, &[("boltgate.limits.max_message_size", "2KiB")]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    let long = format!("RETURN '{}' AS s", "x".repeat(4096));
    c.run(&long);
    let got = c.until_closed(WAIT);
    let (code, message) = got
        .first()
        .and_then(failure_of)
        .unwrap_or_else(|| panic!("expected a FAILURE first, got {got:?}"));
    assert_eq!(code, "Neo.ClientError.Request.Invalid");
    assert!(
        message.contains("boltgate.limits.max_message_size"),
        "{message}"
    );
    still_serving(&gate);
}

#[test]
fn an_unreachable_upstream_answers_the_first_message_with_database_unavailable() {
    let port = common::free_port(); // nothing listens here
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &format!("bolt://127.0.0.1:{port}")),
        ("boltgate.upstream.connect_timeout", "2s"),
    ]);
    let mut c = RawBolt::connect(gate.addr);
    assert!(c.handshake(&HELLO_5_AND_4_4).is_some());
    let mut extra = Map::new();
    extra.push("user_agent", "t/1");
    c.send(&boltgate_proto::message::Request::Hello(
        boltgate_proto::message::Hello { extra },
    ));
    let got = c.until_closed(WAIT);
    let (code, message) = got.first().and_then(failure_of).expect("a FAILURE");
    assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
    assert!(
        message.contains("cannot reach the database server"),
        "{message}"
    );
    // Before login the client learns nothing about the upstream; the operator's log does.
    assert!(!message.contains(&port.to_string()), "{message}");
    assert!(
        gate.wait_for_log("upstream problem", WAIT),
        "{}",
        gate.log()
    );
    // The official driver reports it as the database being unavailable, without hanging.
    let failure = common::try_run_py(
        "query.py",
        &[
            &gate.bolt_uri(),
            r#"["RETURN 1"]"#,
            "--connect-timeout",
            "5",
        ],
        Duration::from_secs(60),
    )
    .expect_err("no upstream, no result");
    assert!(
        failure.to_string().contains("DatabaseUnavailable"),
        "{failure}"
    );
}

#[test]
fn an_upstream_that_never_answers_the_handshake_times_out_into_a_failure() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let holder = thread::spawn(move || {
        // Accept and hold connections without a word, until the test ends.
        let conns: Vec<TcpStream> = silent.incoming().take(1).filter_map(Result::ok).collect();
        thread::sleep(Duration::from_secs(8));
        drop(conns);
    });
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &format!("bolt://{addr}")),
        ("boltgate.upstream.connect_timeout", "1s"),
    ]);
    let mut c = RawBolt::connect(gate.addr);
    let start = Instant::now();
    assert!(c.handshake(&HELLO_5_AND_4_4).is_some());
    let mut extra = Map::new();
    extra.push("user_agent", "t/1");
    c.send(&boltgate_proto::message::Request::Hello(
        boltgate_proto::message::Hello { extra },
    ));
    let got = c.until_closed(WAIT);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "bounded by the connect timeout"
    );
    let (code, message) = got.first().and_then(failure_of).expect("a FAILURE");
    assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
    assert!(
        message.contains("cannot reach the database server"),
        "{message}"
    );
    // The reason ("no answer" within the connect timeout) is the operator's, in the log.
    assert!(gate.wait_for_log("no answer", WAIT), "{}", gate.log());
    holder.join().unwrap();
}

/// An upstream that handshakes on 4.4, answers HELLO and RUN, sends three RECORDs for the PULL,
/// then drops the connection mid-stream.
fn upstream_dying_mid_stream() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut hello = [0u8; 20];
        s.read_exact(&mut hello).unwrap();
        s.write_all(&[0, 0, 4, 4]).unwrap();
        let mut codec = ChunkCodec::default();
        let mut buf = BytesMut::new();
        let send = |s: &mut TcpStream, raw: RawMessage| {
            let mut out = BytesMut::new();
            ChunkCodec::default()
                .encode(Frame::Message(raw.into_bytes()), &mut out)
                .unwrap();
            s.write_all(&out).unwrap();
        };
        loop {
            let frame = loop {
                if let Some(f) = codec.decode(&mut buf).unwrap() {
                    break f;
                }
                let mut b = [0u8; 4096];
                let n = s.read(&mut b).unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&b[..n]);
            };
            let Frame::Message(m) = frame else { continue };
            match m[1] {
                sig::HELLO => send(&mut s, Response::success(Map::new())),
                sig::RUN => {
                    let mut meta = Map::new();
                    meta.push("fields", Value::List(vec!["n".into()]));
                    send(&mut s, Response::success(meta));
                }
                sig::PULL => {
                    for i in 0..3 {
                        let r = Response::Record(Record {
                            data: vec![Value::Integer(i)],
                        });
                        send(&mut s, r.to_raw().unwrap());
                    }
                    return; // dies: the socket closes mid-stream
                }
                _ => send(&mut s, Response::success(Map::new())),
            }
        }
    });
    addr
}

#[test]
fn an_upstream_dying_mid_stream_gives_the_records_then_a_close_without_a_failure() {
    let upstream = upstream_dying_mid_stream();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &format!("bolt://{upstream}"))]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run("RETURN n");
    c.pull_all();
    let got = c.until_closed(WAIT);
    assert!(matches!(got[0], Response::Success(_)), "{got:?}");
    let records = got
        .iter()
        .filter(|r| matches!(r, Response::Record(_)))
        .count();
    assert_eq!(records, 3, "{got:?}");
    // As direct: the records, then the close (no FAILURE the server never sent).
    assert_eq!(
        got.len(),
        4,
        "SUCCESS, three RECORDs, nothing else: {got:?}"
    );
    assert!(got.iter().all(|r| failure_of(r).is_none()), "{got:?}");
    assert!(
        gate.wait_for_log("upstream closed the connection", WAIT),
        "{}",
        gate.log()
    );
}

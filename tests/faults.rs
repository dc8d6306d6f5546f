//! Faults on either side, each with what the client sees, that boltgate stays up, and that
//! the other clients are served. tests/malformed.rs has the bad-input cases this file does not
//! repeat (garbage preamble, silent client, an upstream silent in its handshake or dying
//! mid-stream, oversized messages) and tests/limits.rs the basic connection limit.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use boltgate_proto::message::{Record, Request, Response};
use boltgate_proto::packstream::{Map, Value};
use boltgate_testkit::synthetic::SyntheticServer;
use common::bolt::{failure_of, Got, RawBolt, HELLO_5_AND_4_4};
use common::{wait_until, Boltgate, FalkorDb, TestPki};

const WAIT: Duration = Duration::from_secs(15);
const UNAVAILABLE: &str = "Neo.TransientError.General.DatabaseUnavailable";

/// `RETURN <n>` on a fresh connection answers `n`.
fn answers(addr: SocketAddr, n: i64) -> Result<(), String> {
    let mut c = RawBolt::connect(addr);
    c.try_login(&HELLO_5_AND_4_4)?;
    c.run_and_pull(&format!("RETURN {n}"));
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    match &got[1] {
        Got::Message(Response::Record(Record { data })) if data == &[Value::Integer(n)] => Ok(()),
        _ => Err(format!("RETURN {n}: {got:?}")),
    }
}

/// RETURN on a connection that is already logged in.
fn still_answers(c: &mut RawBolt, n: i64) -> bool {
    c.run_and_pull(&format!("RETURN {n}"));
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    matches!(&got[1], Got::Message(Response::Record(Record { data })) if data == &[Value::Integer(n)])
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The synthetic server on a runtime of its own, so the blocking test code can drive it.
fn synthetic() -> (tokio::runtime::Runtime, SyntheticServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(SyntheticServer::start()).expect("synthetic");
    (rt, server)
}

#[test]
fn an_upstream_killed_and_restarted_fails_its_sessions_cleanly_and_new_ones_work() {
    let mut db = FalkorDb::start();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())]);
    answers(gate.addr, 1).unwrap();
    let mut busy = RawBolt::connect(gate.addr);
    busy.login(&HELLO_5_AND_4_4);
    let mut idle = RawBolt::connect(gate.addr);
    idle.login(&HELLO_5_AND_4_4);

    // A long query is in flight when the server dies.
    busy.run_and_pull("UNWIND range(1, 20000000) AS x RETURN count(x) AS n");
    thread::sleep(Duration::from_millis(100));
    db.kill9();
    let got = busy.until_closed(WAIT);
    // Either the answer made it out before the kill, or the connection closes as it would
    // have direct: never a FAILURE of boltgate's (the request reached the server; its outcome
    // is unknown, so nothing may tell the driver it is safe to retry).
    let boltgate_failure = got
        .iter()
        .filter_map(failure_of)
        .any(|(c, _)| c == UNAVAILABLE);
    assert!(!boltgate_failure, "in-flight request: {got:?}");
    // The idle session's upstream connection is gone: it is closed, not left hanging.
    assert_eq!(idle.until_closed(WAIT), vec![], "idle session: closed");
    // While the server is down, a new client is told the database is unavailable.
    let mut down = RawBolt::connect(gate.addr);
    let login = down.try_login(&HELLO_5_AND_4_4);
    assert!(
        login.as_ref().is_err_and(|e| e.contains(UNAVAILABLE)),
        "{login:?}"
    );

    db.restart();
    assert!(
        wait_until(WAIT, || answers(gate.addr, 7).is_ok()),
        "new sessions work after the restart\n{}",
        gate.log()
    );
}

/// An upstream that handshakes (or not) and then answers with bytes that are not Bolt.
fn garbage_upstream(garbage_in_handshake: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for s in listener.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(WAIT)).unwrap();
            let mut hello = [0u8; 20];
            if s.read_exact(&mut hello).is_err() {
                continue;
            }
            if garbage_in_handshake {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
                continue;
            }
            let _ = s.write_all(&[0, 0, 4, 4]);
            let mut request = [0u8; 256];
            let _ = s.read(&mut request);
            // A chunk header promising 65535 bytes, 70,000 bytes of noise, then the close.
            let _ = s.write_all(&vec![0xFF; 70_000]);
        }
    });
    addr
}

#[test]
fn an_upstream_that_sends_garbage_gives_the_client_a_failure_or_a_close_and_boltgate_stays_up() {
    for in_handshake in [true, false] {
        let upstream = garbage_upstream(in_handshake);
        let gate = Boltgate::start(&[("boltgate.upstream.uri", &format!("bolt://{upstream}"))]);
        let mut c = RawBolt::connect(gate.addr);
        let login = c.try_login(&HELLO_5_AND_4_4);
        // In the handshake nothing of the client's was forwarded: boltgate's retryable
        // FAILURE. After it, the HELLO reached the server, whose answer is unreadable: the
        // connection closes, as a driver would close on garbage direct.
        let expected = if in_handshake { UNAVAILABLE } else { "Closed" };
        assert!(
            login.as_ref().is_err_and(|e| e.contains(expected)),
            "garbage {}: {login:?}\n{}",
            if in_handshake {
                "in the handshake"
            } else {
                "after it"
            },
            gate.log()
        );
        // boltgate is still up and answers the next client the same way.
        let mut next = RawBolt::connect(gate.addr);
        assert!(next.try_login(&HELLO_5_AND_4_4).is_err());
    }
}

#[test]
fn a_client_vanishing_mid_stream_closes_its_upstream_connection() {
    let (_rt, server) = synthetic();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &server.uri())]);
    let base = fds(gate.pid);
    answers(gate.addr, 1).unwrap();
    let mut other = RawBolt::connect(gate.addr);
    other.login(&HELLO_5_AND_4_4);

    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull("ROWS 200000"); // 200 MB
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    c.stream.set_read_timeout(Some(WAIT)).unwrap();
    while got < 1_000_000 {
        got += c.stream.read(&mut buf).expect("rows arrive");
    }
    drop(c);
    assert!(
        wait_until(WAIT, || fds(gate.pid) <= base + 2),
        "the vanished client's session and its upstream connection are closed: {} fds, \
         {base} before (plus one session still open)",
        fds(gate.pid)
    );
    assert!(still_answers(&mut other, 2), "the other session is served");
    answers(gate.addr, 3).unwrap();
}

#[test]
fn a_slow_reader_gets_every_row_while_boltgate_memory_stays_bounded() {
    let (_rt, server) = synthetic();
    let gate = Boltgate::start(&[("boltgate.upstream.uri", &server.uri())]);
    answers(gate.addr, 1).unwrap();
    let base = rss_kib(gate.pid);
    const ROWS: usize = 50_000; // ~50 MB, more than the kernel's socket buffers hold
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.run_and_pull(&format!("ROWS {ROWS}"));
    // Read slowly (about 4 MB/s) for three seconds, watching boltgate's RSS.
    let mut peak = base;
    let mut slow = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    c.stream.set_read_timeout(Some(WAIT)).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let n = c.stream.read(&mut buf).expect("read");
        slow.extend_from_slice(&buf[..n]);
        peak = peak.max(rss_kib(gate.pid));
        thread::sleep(Duration::from_millis(4));
    }
    // Another client is served meanwhile.
    answers(gate.addr, 5).unwrap();
    eprintln!("slow reader: boltgate RSS {base} KiB, peak {peak} KiB");
    // Without backpressure boltgate would hold what the slow client has not read yet (tens
    // of MB); with it, a read and a write buffer per direction.
    assert!(
        peak < base + 16 * 1024,
        "boltgate RSS rose from {base} to {peak} KiB while a slow client read {} bytes",
        slow.len()
    );
    // The rest, at full speed: every row arrives, then the summary.
    let mut records = 0usize;
    c.unread(&slow);
    loop {
        match c.recv(WAIT) {
            Got::Message(Response::Record(_)) => records += 1,
            Got::Message(Response::Success(_)) if records > 0 => break,
            Got::Message(Response::Success(_)) => {}
            other => panic!("after {records} rows: {other:?}"),
        }
    }
    assert_eq!(records, ROWS);
}

#[test]
fn slowloris_clients_are_closed_at_the_handshake_timeout_and_others_are_served() {
    let (_rt, server) = synthetic();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &server.uri()),
        ("boltgate.client.handshake_timeout", "1s"),
    ]);
    // Fifty clients sending the preamble one byte every 200 ms: never complete in time.
    let start = Instant::now();
    let trickle: Vec<_> = (0..50)
        .map(|_| {
            let addr = gate.addr;
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                for b in HELLO_5_AND_4_4 {
                    if s.write_all(&[b]).is_err() {
                        return true; // closed by boltgate
                    }
                    thread::sleep(Duration::from_millis(200));
                }
                s.set_read_timeout(Some(WAIT)).unwrap();
                let mut reply = [0u8; 4];
                !matches!(s.read(&mut reply), Ok(n) if n > 0)
            })
        })
        .collect();
    // A good client is served while they trickle.
    answers(gate.addr, 9).unwrap();
    for t in trickle {
        assert!(
            t.join().unwrap(),
            "a slowloris client was closed, not answered"
        );
    }
    assert!(
        start.elapsed() < Duration::from_secs(4) + WAIT,
        "closed by the deadline"
    );
    assert!(
        gate.wait_for_log("boltgate.client.handshake_timeout", WAIT),
        "{}",
        gate.log()
    );
    answers(gate.addr, 10).unwrap();
}

/// Past the version handshake, a client that never logs in is closed too: before HELLO, and
/// between HELLO and LOGON; a logged-in client with no idle timeout is not.
#[test]
fn clients_that_stop_before_logging_in_are_closed_at_the_handshake_timeout() {
    let (_rt, server) = synthetic();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &server.uri()),
        ("boltgate.client.handshake_timeout", "1s"),
    ]);
    let mut logged_in = RawBolt::connect(gate.addr);
    logged_in.try_login(&HELLO_5_AND_4_4).unwrap();

    let mut silent = RawBolt::connect(gate.addr);
    assert!(silent.handshake(&HELLO_5_AND_4_4).is_some());
    let mut half = RawBolt::connect(gate.addr);
    assert!(half.handshake(&HELLO_5_AND_4_4).is_some());
    let mut extra = Map::new();
    extra.push("user_agent", "boltgate-tests/1.0");
    half.send(&Request::Hello(boltgate_proto::message::Hello { extra }));
    assert!(
        matches!(half.recv(WAIT), Got::Message(Response::Success(_))),
        "HELLO answered"
    );
    // No LOGON follows.
    let start = Instant::now();
    assert!(silent.closes_silently(WAIT), "closed without a word");
    assert!(matches!(half.recv(WAIT), Got::Closed), "closed after HELLO");
    assert!(start.elapsed() < WAIT, "closed by the deadline");
    assert!(
        gate.wait_for_log("did not send HELLO/LOGON", WAIT),
        "{}",
        gate.log()
    );
    // Twice the handshake timeout later, the logged-in client is still served.
    thread::sleep(Duration::from_secs(2));
    assert!(still_answers(&mut logged_in, 11), "{}", gate.log());
}

#[test]
fn tls_handshake_garbage_is_closed_and_plain_and_tls_clients_are_served() {
    let (_rt, server) = synthetic();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &server.uri()),
        ("server.bolt.tls_level", "OPTIONAL"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        (
            "dbms.ssl.policy.bolt.base_directory",
            base.to_str().unwrap(),
        ),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
    ]);
    // A TLS record header (handshake, TLS 1.2) followed by noise instead of a ClientHello.
    let mut noise = vec![0x16, 0x03, 0x03, 0x01, 0x00];
    noise.extend(std::iter::repeat_n(0xA5, 256));
    for _ in 0..20 {
        let mut c = RawBolt::connect(gate.addr);
        c.send_raw(&noise);
        c.stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut sink = Vec::new();
        // A TLS alert at most, then the close; never a hang.
        let _ = c.stream.read_to_end(&mut sink);
        assert!(sink.len() < 64, "{} bytes back", sink.len());
    }
    assert!(
        gate.wait_for_log("closed:", WAIT),
        "the failed TLS handshake is logged\n{}",
        gate.log()
    );
    answers(gate.addr, 11).unwrap();
    let uri = format!("bolt://localhost:{}", gate.addr.port());
    let q = serde_json::json!(["RETURN 12"]).to_string();
    let ca = pki.ca_path.to_str().unwrap();
    let out = common::run_py("query.py", &[&uri, &q, "--ca", ca], Duration::from_secs(60));
    assert_eq!(out["results"][0]["records"], serde_json::json!([[12]]));
}

#[test]
fn a_flood_past_max_connections_is_refused_and_admitted_clients_are_unaffected() {
    let (_rt, server) = synthetic();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &server.uri()),
        ("boltgate.client.max_connections", "20"),
    ]);
    let base = fds(gate.pid);
    let mut admitted: Vec<RawBolt> = (0..20)
        .map(|_| {
            let mut c = RawBolt::connect(gate.addr);
            c.login(&HELLO_5_AND_4_4);
            c
        })
        .collect();
    // 300 connections at once, from six threads: each is closed without a byte.
    let flood: Vec<_> = (0..6)
        .map(|_| {
            let addr = gate.addr;
            thread::spawn(move || {
                let conns: Vec<TcpStream> = (0..50)
                    .filter_map(|_| TcpStream::connect(addr).ok())
                    .collect();
                let made = conns.len();
                let refused = conns
                    .into_iter()
                    .filter(|s| {
                        let mut s = s;
                        let _ = s.write_all(&HELLO_5_AND_4_4);
                        s.set_read_timeout(Some(WAIT)).unwrap();
                        let mut b = [0u8; 4];
                        matches!(s.read(&mut b), Ok(0) | Err(_))
                    })
                    .count();
                (made, refused)
            })
        })
        .collect();
    let (made, refused) = flood
        .into_iter()
        .map(|t| t.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(made > 0);
    assert_eq!(refused, made, "every connection past the limit is closed");
    assert!(
        gate.wait_for_log("boltgate.client.max_connections reached", WAIT),
        "{}",
        gate.log()
    );
    for (i, c) in admitted.iter_mut().enumerate() {
        assert!(still_answers(c, i as i64), "admitted client {i} is served");
    }
    // It recovers: once clients leave, new ones are admitted, and nothing leaks.
    admitted.truncate(10);
    assert!(wait_until(WAIT, || answers(gate.addr, 99).is_ok()));
    drop(admitted);
    assert!(
        wait_until(WAIT, || fds(gate.pid) <= base),
        "fds back to {base}: {}",
        fds(gate.pid)
    );
}

//! Issue 15's hardening findings that need no database: a closed log sink, repeated log lines,
//! secrets in messages. Each test asserts what an operator sees (exit codes, log lines).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_addr, wait_for_port, ChildGuard};

const WAIT: Duration = Duration::from_secs(20);

/// `boltgate | head` after `head` has gone: stdout and stderr are pipes nobody reads.
#[test]
fn a_closed_log_sink_neither_stops_start_up_nor_signal_handling() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let config = dir.path().join("boltgate.conf");
    std::fs::write(
        &config,
        format!(
            "server.bolt.listen_address={addr}\nboltgate.upstream.uri=bolt://127.0.0.1:1\n\
             server.directories.neo4j_home={}\nboltgate.log.level=debug\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(common::boltgate::boltgate_bin());
    cmd.arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard::spawn("boltgate", &mut cmd).expect("spawn boltgate");
    drop(child.take_stdout());
    drop(child.take_stderr());
    let listening = common::wait_until(WAIT, || {
        wait_for_port(addr, Duration::from_millis(100)) || child.try_status().is_some()
    });
    assert!(
        listening && child.try_status().is_none(),
        "boltgate must start with a closed stderr; it exited with {:?}",
        child.try_status()
    );
    // Connections that each make boltgate log (garbage instead of a Bolt handshake).
    for _ in 0..20 {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = s.write_all(b"\x60\x60\xb0\x17junkjunkjunkjunk");
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.is_running(),
        "logging to a closed stderr stopped boltgate"
    );
    child.signal("TERM");
    let status = child.wait_timeout(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM must still stop boltgate cleanly (exit 0): {status:?}"
    );
}

/// A client hammering a full proxy: 300 connections refused at max_connections make a handful
/// of lines and a summary with the count, not 300 lines.
#[test]
fn refused_connections_are_summarised_not_logged_one_line_each() {
    let gate = common::Boltgate::start(&[
        ("boltgate.upstream.uri", "bolt://127.0.0.1:1"),
        ("boltgate.client.max_connections", "1"),
        ("boltgate.log.repeat_interval", "2s"),
        ("boltgate.log.repeat_burst", "5"),
    ]);
    let summarised = |log: &str| -> u64 {
        log.lines()
            .filter(|l| l.contains("suppressed in the last") && l.contains("max_connections"))
            .filter_map(|l| {
                l.split("suppressed=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let logged = |log: &str| log.matches("max_connections reached").count() as u64;
    // Holds the one permit (the handshake timeout is 10 s). The start-up probe's connection may
    // still hold it for a moment: then the holder is refused, and tries again.
    let mut holder = None;
    for _ in 0..10 {
        let before = logged(&gate.log());
        let s = TcpStream::connect(gate.addr).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        if logged(&gate.log()) == before {
            holder = Some(s);
            break;
        }
    }
    assert!(holder.is_some(), "{}", gate.log());
    let baseline = {
        let log = gate.log();
        summarised(&log) + logged(&log)
    };
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect_timeout(&gate.addr, Duration::from_secs(2)) {
            drop(s);
        }
    }
    let complete = common::wait_until(Duration::from_secs(10), || {
        let log = gate.log();
        summarised(&log) + logged(&log) >= baseline + 300
    });
    let log = gate.log();
    assert!(
        complete,
        "every refusal is logged or counted in a summary:\n{log}"
    );
    assert_eq!(summarised(&log) + logged(&log), baseline + 300, "{log}");
    let lines = log
        .lines()
        .filter(|l| l.contains("max_connections"))
        .count();
    assert!(lines <= 20, "{lines} lines for 300 refusals:\n{log}");
    assert!(summarised(&log) > 0, "{log}");
}

/// Configuration errors about URL-valued settings never print the password, whatever it holds.
#[test]
fn config_errors_never_print_credentials() {
    let cases = [
        (
            "boltgate.upstream.uri",
            "bolt://neo4j:Pa/ss1@db.example.com:7687",
        ),
        (
            "boltgate.upstream.uri",
            "bolt://neo4j:Pa?ss1@db.example.com:7687",
        ),
        (
            "boltgate.upstream.uri",
            "neo4j://neo4j:Pa#ss1@db.example.com:7687",
        ),
        (
            "boltgate.routing.members",
            "writer=neo4j:Pa/ss1@a:7687,reader=b:7687",
        ),
        ("boltgate.routing.members", "neo4j:Pa/ss1@a:7687"),
        (
            "boltgate.ocsp.responder_url",
            "http://ocsp:Pa#ss1@ocsp.example.com",
        ),
        (
            "boltgate.ocsp.responder_url",
            "http://ocsp:Pa/ss1@ocsp.example.com",
        ),
    ];
    for (key, value) in cases {
        let set = format!("{key}={value}");
        let (status, out) = common::boltgate::run_boltgate(&["check-config", "--set", &set], WAIT);
        assert_eq!(status.code(), Some(64), "{set} must be refused:\n{out}");
        assert!(out.contains(key), "the error names the setting:\n{out}");
        assert!(
            !out.contains("Pa") && !out.contains("ss1"),
            "{set}: the password is printed:\n{out}"
        );
    }
}

/// Before login a client learns nothing about the upstream: not its address, not its TLS error.
#[test]
fn a_client_that_has_not_logged_in_gets_no_upstream_details() {
    use boltgate_proto::message::{Hello, Request, Response};
    use boltgate_proto::packstream::Map;
    use common::bolt::{failure_of, Got, RawBolt, HELLO_5_AND_4_4};

    // Not a TLS server: the upstream TLS handshake fails with rustls's error text.
    let garbage = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage_port = garbage.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in garbage.incoming().take(4).flatten() {
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nnot tls at all\r\n");
        }
    });
    let closed_port = common::free_port();
    for (uri, port) in [
        (format!("bolt+s://127.0.0.1:{garbage_port}"), garbage_port),
        (format!("bolt://127.0.0.1:{closed_port}"), closed_port),
    ] {
        let gate = common::Boltgate::start(&[("boltgate.upstream.uri", &uri)]);
        let mut c = RawBolt::connect(gate.addr);
        assert!(c.handshake(&HELLO_5_AND_4_4).is_some());
        let mut extra = Map::new();
        extra.push("user_agent", "probe/1.0");
        c.send(&Request::Hello(Hello { extra }));
        let got = c.recv(WAIT);
        let Got::Message(r @ Response::Failure(_)) = &got else {
            panic!("{uri}: expected a FAILURE, got {got:?}\n{}", gate.log());
        };
        let (code, message) = failure_of(r).unwrap();
        assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
        assert!(
            !message.contains(&port.to_string())
                && !message.contains("127.0.0.1")
                && !message.to_lowercase().contains("tls"),
            "{uri}: the FAILURE tells an anonymous client about the upstream: {message}"
        );
        assert!(message.contains("boltgate's log"), "{message}");
        assert!(
            gate.wait_for_log("session ended: upstream problem", WAIT),
            "the details are in the log:\n{}",
            gate.log()
        );
    }
}

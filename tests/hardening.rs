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

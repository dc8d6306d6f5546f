//! Shared harness for the integration tests in `tests/*.rs` (each does `mod common;`).
//!
//! Why it exists: every behaviour test needs the same plumbing — free loopback ports, bounded
//! waits, and real peers (FalkorDB, Neo4j, stunnel, the boltgate binary, the official Python driver)
//! that are stopped by pid when the test ends, even when it panics. Nothing here waits without
//! a timeout, and nothing binds anything but loopback (FalkorDB's Bolt port is the exception
//! its own module documents).
//!
//! Processes are started in the test's own process group, so a Ctrl-C at the terminal reaches
//! them too, and each one gets a reaper (see [`ChildGuard`]) that kills it if the test process
//! itself dies without unwinding (SIGKILL, abort).
#![allow(dead_code, unused_imports)] // each test file uses only part of the harness

pub mod admin;
pub mod bolt;
pub mod boltgate;
pub mod driver;
pub mod falkordb;
pub mod java;
pub mod neo4j;
pub mod netns;
pub mod pool;
pub use boltgate_testkit::pki;
pub mod runners;
pub mod stunnel;
pub mod tap;

pub use boltgate::Boltgate;
pub use driver::{run_py, try_run_py, PyFailure};
pub use falkordb::FalkorDb;
pub use neo4j::{Neo4j, Neo4jConfig};
pub use pki::TestPki;
pub use stunnel::Stunnel;

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Ports this test process has handed out, so two tests running in parallel threads never get
/// the same one between "checked free" and "bound by the server".
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

fn claim(port: u16) -> bool {
    let mut guard = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    guard.get_or_insert_with(HashSet::new).insert(port)
}

/// A free TCP port on 127.0.0.1, chosen by the kernel (bind to port 0, then release it).
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local_addr").port();
        if claim(port) {
            return port;
        }
    }
}

/// A free loopback address (`127.0.0.1:<free port>`).
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// True when `port` can be bound on every address given (checked by binding and releasing).
fn bindable(port: u16, hosts: &[&str]) -> bool {
    hosts
        .iter()
        .all(|h| TcpListener::bind(format!("{h}:{port}")).is_ok())
}

/// A random free port in `lo..=hi`, bindable on each of `hosts`.
///
/// Used where the kernel's choice won't do: FalkorDB ignores a BOLT_PORT above 32767, and the
/// range 20000–32767 lies below Linux's ephemeral range (32768–60999), so no outgoing
/// connection can take the port between the check and the server's bind.
pub fn free_port_in(lo: u16, hi: u16, hosts: &[&str]) -> u16 {
    let span = u64::from(hi - lo) + 1;
    for _ in 0..1000 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
        let port = lo + (h.finish() % span) as u16;
        if bindable(port, hosts) && claim(port) {
            return port;
        }
    }
    panic!("no free port in {lo}..={hi} after 1000 tries");
}

/// Waits until `addr` accepts a TCP connection, up to `timeout`. Returns false on timeout.
///
/// The probe connection is closed at once without sending anything.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until `cond` holds, polling every 25 ms, up to `timeout`. Returns false on timeout.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// The Bolt handshake a 5.x client sends: magic, then 5.7 down to 5.1, then three empty slots.
pub const BOLT_HANDSHAKE_5: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0x00, 0x06, 0x07, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// Connects to `addr`, sends [`BOLT_HANDSHAKE_5`] and returns the server's 4-byte choice, or
/// None when nothing arrives within `timeout`. The connection is then closed without GOODBYE.
pub fn bolt_handshake(addr: SocketAddr, timeout: Duration) -> Option<[u8; 4]> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(&BOLT_HANDSHAKE_5).ok()?;
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// A child process stopped on Drop: SIGKILL, then wait (so no zombie and no orphan).
///
/// A reaper shell is started beside it: it polls every half second and, if this test process
/// has died without running Drop, kills the child. It exits by itself once the child is gone,
/// and it is detached (double fork), so it never becomes our zombie.
pub struct ChildGuard {
    child: Child,
    name: String,
}

impl ChildGuard {
    /// Spawns `cmd` (stdin closed) and attaches a reaper to it.
    pub fn spawn(name: &str, cmd: &mut Command) -> std::io::Result<ChildGuard> {
        let child = cmd.stdin(Stdio::null()).spawn()?;
        let guard = ChildGuard {
            child,
            name: name.to_string(),
        };
        guard.spawn_reaper();
        Ok(guard)
    }

    fn spawn_reaper(&self) {
        let script = format!(
            "( while kill -0 {t} 2>/dev/null && kill -0 {c} 2>/dev/null; do sleep 0.5; done; \
               kill -0 {t} 2>/dev/null || kill -9 {c} 2>/dev/null ) >/dev/null 2>&1 &",
            t = std::process::id(),
            c = self.child.id()
        );
        // The outer shell exits at once (wait for it); the subshell is adopted by init.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout pipe, when it was spawned with `Stdio::piped()`.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr pipe, when it was spawned with `Stdio::piped()`.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The exit status if the process has ended (without blocking).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Sends `signal` (a name such as "TERM") with the `kill` command: the workspace forbids
    /// unsafe code, and libc's kill is unsafe.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = status {
            panic!("could not run kill -{signal} {}: {e}", self.child.id());
        }
    }

    /// Waits up to `timeout` for the process to end; None if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap now (idempotent).
    pub fn kill(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(pid {})", self.name, self.child.id())
    }
}

/// What a short-lived helper process (a driver runner, a Python script) printed, and how it
/// ended: `status` is None when it was killed at the timeout.
pub struct Captured {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to its end, or kills it after `timeout`. Both pipes are drained in threads, so a
/// chatty child never blocks on a full pipe.
pub fn run_captured(name: &str, cmd: &mut Command, timeout: Duration) -> std::io::Result<Captured> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = ChildGuard::spawn(name, cmd)?;
    let out = child.take_stdout().map(drain);
    let err = child.take_stderr().map(drain);
    let status = child.wait_timeout(timeout);
    if status.is_none() {
        child.kill();
    }
    let join = |h: Option<thread::JoinHandle<String>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    Ok(Captured {
        status,
        stdout: join(out),
        stderr: join(err),
    })
}

/// Runs `cmd` like [`run_captured`] and returns the last line of its stdout that parses as a
/// JSON object (the scripts and runners of tests/ print one). Err, naming `what` (the command line as
/// a reader would recognise it): it could not start, was killed at the timeout, or printed no
/// JSON; with the tails of its stdout and stderr.
pub fn run_json(
    what: &str,
    cmd: &mut Command,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let out = run_captured(what, cmd, timeout).map_err(|e| format!("{what}: cannot start: {e}"))?;
    let json = out
        .stdout
        .lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    match (out.status, json) {
        (Some(_), Some(json)) => Ok(json),
        (status, _) => Err(format!(
            "{what}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            status.map_or_else(|| format!("killed after {timeout:?}"), |s| s.to_string()),
            tail(&out.stdout, 2000),
            tail(&out.stderr, 6000)
        )),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The contents of a log file, or a note saying why it could not be read.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

/// The last `max` bytes of `text` (for panic messages that quote a log).
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Ports that lead to a FalkorDB: its Bolt port, and a stunnel or boltgate in front of one.
static FALKORDB_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// `port` leads to a FalkorDB (see [`leads_to_falkordb`]).
pub fn mark_falkordb_port(port: u16) {
    FALKORDB_PORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(port);
}

/// Whether `port` is a FalkorDB's Bolt port or a proxy in front of one. A boltgate started in
/// front of one gets `boltgate.upstream.forward_goodbye=false` unless the test sets it
/// ([`boltgate::Boltgate::start_with_env`]): FalkorDB 4.16 never serves the connection after one
/// that ended with GOODBYE, so relaying the drivers' GOODBYEs (boltgate's default) would stall
/// every test that runs a second driver; the tests of GOODBYE itself set it explicitly.
pub fn leads_to_falkordb(port: u16) -> bool {
    FALKORDB_PORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&port)
}

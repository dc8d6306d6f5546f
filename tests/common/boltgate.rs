//! The boltgate binary under test, started with a temp config file and stopped by pid.
//!
//! Why a real process and not an in-process server: the tests must see what an operator sees
//! — the CLI, the config file, exit codes, the log, and SIGTERM handling — and a crash must
//! not take the test runner down with it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{free_addr, read_log, tail, wait_for_port, ChildGuard};

/// How long boltgate may take to bind its listener.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running boltgate, killed on Drop.
#[derive(Debug)]
pub struct Boltgate {
    /// The Bolt listener (server.bolt.listen_address).
    pub addr: SocketAddr,
    pub pid: u32,
    child: ChildGuard,
    config_path: PathBuf,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

/// The boltgate binary: `BOLTGATE_BIN` when set (e.g. a release build), else the one Cargo
/// built for this test run.
pub fn boltgate_bin() -> String {
    std::env::var("BOLTGATE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_boltgate").to_string())
}

/// Runs `boltgate <args>` to completion (for `check-config` and start-up failures) and returns
/// its exit status and combined stdout + stderr. Panics if it runs longer than `timeout`.
pub fn run_boltgate(args: &[&str], timeout: Duration) -> (ExitStatus, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log_path = dir.path().join("boltgate.log");
    let log = std::fs::File::create(&log_path).expect("create log");
    let mut cmd = Command::new(boltgate_bin());
    cmd.args(args)
        .stdout(Stdio::from(log.try_clone().expect("clone log")))
        .stderr(Stdio::from(log));
    let mut child = ChildGuard::spawn("boltgate", &mut cmd).expect("spawn boltgate");
    match child.wait_timeout(timeout) {
        Some(status) => (status, read_log(&log_path)),
        None => {
            child.kill();
            panic!(
                "boltgate {args:?} still running after {timeout:?}; output:\n{}",
                tail(&read_log(&log_path), 4000)
            )
        }
    }
}

impl Boltgate {
    /// Starts boltgate with `settings` as `key=value` lines. Unless given, the listen address is
    /// a free loopback port and `server.directories.neo4j_home` is the temp dir (so relative
    /// policy paths never resolve into the checkout).
    pub fn start(settings: &[(&str, &str)]) -> Boltgate {
        let text: String = settings.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        Boltgate::start_with_config_text(&text)
    }

    /// Starts boltgate with `text` as its config file, adding the listen address and
    /// neo4j_home as [`Boltgate::start`] does when the text does not set them. Panics with
    /// the log if the listener does not accept within 20 s or the process exits.
    pub fn start_with_config_text(text: &str) -> Boltgate {
        Boltgate::start_with_env(text, &[])
    }

    /// As [`Boltgate::start_with_config_text`], with extra environment variables for the
    /// process (e.g. `SSL_CERT_FILE` for the roots a `bolt+s` upstream is checked against).
    pub fn start_with_env(text: &str, env: &[(&str, &str)]) -> Boltgate {
        let dir = tempfile::Builder::new()
            .prefix("boltgate-")
            .tempdir()
            .expect("temp dir");
        let mut text = text.to_string();
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        let addr = match setting_in(&text, "server.bolt.listen_address") {
            Some(v) => v
                .parse::<SocketAddr>()
                .unwrap_or_else(|e| panic!("listen address {v:?} is not ip:port: {e}")),
            None => {
                let a = free_addr();
                text.push_str(&format!("server.bolt.listen_address={a}\n"));
                a
            }
        };
        let goodbye = "boltgate.upstream.forward_goodbye";
        if setting_in(&text, goodbye).is_none() && fronts_falkordb(&text) {
            // See `leads_to_falkordb`: the FalkorDB deployment setting.
            text.push_str(&format!("{goodbye}=false\n"));
            super::mark_falkordb_port(addr.port());
        }
        if setting_in(&text, "server.directories.neo4j_home").is_none() {
            text.push_str(&format!(
                "server.directories.neo4j_home={}\n",
                dir.path().display()
            ));
        }
        let config_path = dir.path().join("boltgate.conf");
        std::fs::write(&config_path, &text).expect("write config");
        let log_path = dir.path().join("boltgate.log");
        let log = std::fs::File::create(&log_path).expect("create log");
        let mut cmd = Command::new(boltgate_bin());
        cmd.envs(env.iter().copied())
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log));
        let mut child = ChildGuard::spawn("boltgate", &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", boltgate_bin()));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_status() {
                panic!(
                    "boltgate exited with {status} before listening on {addr}\n--- config ---\n\
                     {text}--- log ---\n{}",
                    tail(&read_log(&log_path), 6000)
                );
            }
            if wait_for_port(addr, Duration::from_millis(100)) {
                break;
            }
            if Instant::now() >= deadline {
                child.kill();
                panic!(
                    "boltgate did not listen on {addr} within {START_TIMEOUT:?}\n--- config ---\n\
                     {text}--- log ---\n{}",
                    tail(&read_log(&log_path), 6000)
                );
            }
        }
        Boltgate {
            addr,
            pid: child.pid(),
            child,
            config_path,
            log_path,
            dir,
        }
    }

    /// `bolt://127.0.0.1:<port>`.
    pub fn bolt_uri(&self) -> String {
        self.uri_with_scheme("bolt")
    }

    /// `<scheme>://<listen address>`, e.g. `bolt+s`, `bolt+ssc`, `neo4j`.
    pub fn uri_with_scheme(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// Everything boltgate wrote to stdout and stderr so far, ANSI colour codes removed (so
    /// `log_contains("end=Goodbye")` matches a coloured `end=Goodbye` too).
    pub fn log(&self) -> String {
        strip_ansi(&read_log(&self.log_path))
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log().contains(needle)
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        super::wait_until(timeout, || self.log_contains(needle))
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temp dir holding the config and log (also neo4j_home unless the test set one).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// Sends a signal by name ("HUP", "INT", ...).
    pub fn signal(&self, signal: &str) {
        self.child.signal(signal);
    }

    /// SIGTERM, then waits up to `timeout` for the exit and returns its status. Panics with the
    /// log if it does not exit in time (the process is killed first).
    pub fn stop_gracefully(&mut self, timeout: Duration) -> ExitStatus {
        if let Some(status) = self.child.try_status() {
            return status;
        }
        self.child.signal("TERM");
        match self.child.wait_timeout(timeout) {
            Some(status) => status,
            None => {
                self.child.kill();
                panic!(
                    "boltgate ignored SIGTERM for {timeout:?}; log:\n{}",
                    tail(&self.log(), 6000)
                )
            }
        }
    }
}

/// The value of `key` in config text (last one wins, as in Neo4j), if set.
/// Whether the upstream URI or a static member is a FalkorDB (or a proxy in front of one).
fn fronts_falkordb(text: &str) -> bool {
    let port = |address: &str| -> Option<u16> {
        let rest = address.split_once("://").map_or(address, |(_, r)| r);
        let authority = rest.split(['/', '?']).next()?;
        authority.rsplit_once(':')?.1.parse().ok()
    };
    let mut addresses: Vec<&str> = setting_in(text, "boltgate.upstream.uri")
        .into_iter()
        .collect();
    if let Some(members) = setting_in(text, "boltgate.routing.members") {
        addresses.extend(
            members
                .split(',')
                .filter_map(|m| m.split_once('=').map(|(_, a)| a)),
        );
    }
    addresses
        .into_iter()
        .filter_map(port)
        .any(super::leads_to_falkordb)
}

fn setting_in<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .next_back()
}

/// `text` without ANSI escape sequences (ESC `[` parameters, then one final byte @..~).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

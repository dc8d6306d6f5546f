//! The SSL policy tests' view of the shared harness (tests/common): boltgate as a process with
//! a port and a log, `openssl s_client`, and the Python driver running `RETURN 1`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::common::free_port;
use crate::common::{self, Boltgate};

/// boltgate started by the shared harness from a config that names its listen port.
pub struct Proc {
    gate: Boltgate,
    pub port: u16,
}

impl Proc {
    pub fn log(&self) -> String {
        self.gate.log()
    }

    /// Waits (up to `timeout`) for `needle` in the log.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        self.gate.wait_for_log(needle, timeout)
    }
}

/// Starts boltgate on `conf` (which sets `server.bolt.listen_address` to port `port`); waits
/// until it listens.
pub fn boltgate(conf: &str, port: u16) -> Proc {
    let gate = Boltgate::start_with_config_text(conf);
    assert_eq!(gate.addr.port(), port, "the config names the listen port");
    Proc { gate, port }
}

/// Runs boltgate with `args`, bounded; (exit code, stdout and stderr together).
pub fn run(args: &[&str]) -> (Option<i32>, String) {
    let (status, out) = common::boltgate::run_boltgate(args, Duration::from_secs(30));
    (status.code(), out)
}

/// What `openssl s_client` saw.
#[derive(Debug)]
pub struct SClient {
    pub connected: bool,
    pub out: String,
}

/// `openssl s_client -connect 127.0.0.1:PORT -brief ARGS`, stdin held open briefly so that a
/// TLS 1.3 alert sent after the handshake (a refused client certificate) is read.
pub fn s_client(port: u16, args: &[&str]) -> SClient {
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-brief",
        ])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    let start = Instant::now();
    let stdin = child.stdin.take();
    while start.elapsed() < Duration::from_millis(800) && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(stdin);
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let connected =
        out.status.success() && text.contains("CONNECTION ESTABLISHED") && !text.contains("alert");
    SClient {
        connected,
        out: text,
    }
}

/// Runs `RETURN 1` through the official Python driver: Ok(()) or the driver's error.
pub fn py_query(uri: &str, ca: Option<&Path>, cert: Option<(&Path, &Path)>) -> Result<(), String> {
    let mut args: Vec<String> = vec![
        uri.into(),
        r#"["RETURN 1 AS n"]"#.into(),
        "--connect-timeout".into(),
        "5".into(),
    ];
    if let Some(ca) = ca {
        args.extend(["--ca".into(), ca.display().to_string()]);
    }
    if let Some((c, k)) = cert {
        args.extend(["--client-cert".into(), c.display().to_string()]);
        args.extend(["--client-key".into(), k.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::try_run_py("query.py", &args, Duration::from_secs(60))
        .map(|_| ())
        .map_err(|f| f.to_string())
}

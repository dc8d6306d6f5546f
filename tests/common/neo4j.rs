//! A real Neo4j Community server (tests/neo4j/launcher, embedded DBMS with the product's Bolt
//! server) on a free loopback port, stopped by pid.
//!
//! Why a real Neo4j: boltgate exists for Neo4j users, and FalkorDB (Bolt 5.1-5.7, many quirks) or
//! a scripted server cannot tell what Neo4j itself does. A JVM start takes seconds (tens of
//! seconds on a loaded 2-core machine), so a test file starts at most one server and shares it.
//!
//! The launcher is built once by `bash tests/neo4j/build.sh` (`.ci/run` runs it). Settings are
//! Neo4j's own (`server.bolt.tls_level`, `dbms.ssl.policy.bolt.*`, ...), given as `key=value`
//! pairs and/or neo4j.conf text, and validated by Neo4j itself.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{free_port_in, read_log, tail, ChildGuard};

/// How long a start may take until READY: 37-96 s were measured on the 2-core machine while
/// other test suites loaded it.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The password of user `neo4j` when auth is on (Neo4j wants at least 8 characters).
pub const PASSWORD: &str = "boltgate-test";

/// The JDK that runs Neo4j (2026.x needs 21+): `BOLTGATE_JAVA_HOME`, else the one
/// tests/neo4j/build.sh built with (it writes `launcher/target/java-home`), else Temurin 25.
pub fn java_home() -> PathBuf {
    if let Some(home) = std::env::var_os("BOLTGATE_JAVA_HOME") {
        return PathBuf::from(home);
    }
    std::fs::read_to_string(neo4j_tests_dir().join("launcher/target/java-home"))
        .ok()
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.join("bin/java").exists())
        .unwrap_or_else(|| PathBuf::from("/usr/lib/jvm/temurin-25-jdk-amd64"))
}

/// `<java_home>/bin/java`.
pub fn java() -> PathBuf {
    java_home().join("bin").join("java")
}

/// tests/neo4j in this checkout.
pub fn neo4j_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("neo4j")
}

/// The built launcher jar; panics saying how to build it when it is missing.
pub fn launcher_jar() -> PathBuf {
    let jar = neo4j_tests_dir().join("launcher/target/neo4j-launcher.jar");
    assert!(
        jar.exists(),
        "{} is missing: build it with `bash tests/neo4j/build.sh` (.ci/run does)",
        jar.display()
    );
    jar
}

/// What to start: Neo4j settings, optional neo4j.conf text, and auth.
#[derive(Debug, Clone)]
pub struct Neo4jConfig {
    /// `key=value` settings applied last (after `conf_text`).
    pub settings: Vec<(String, String)>,
    /// neo4j.conf lines, written to `<home>/conf/neo4j.conf` and read by Neo4j's own parser.
    pub conf_text: Option<String>,
    /// `Some(pw)`: auth on, user `neo4j` with `pw`. `None`: auth off.
    pub password: Option<String>,
    /// `Some((namespace, address))`: run inside that network namespace (`ip netns exec`),
    /// listening on `address` (tests/common/netns.rs). `None`: a free loopback port here.
    pub netns: Option<(String, SocketAddr)>,
}

impl Default for Neo4jConfig {
    fn default() -> Self {
        Neo4jConfig {
            settings: Vec::new(),
            conf_text: None,
            password: Some(PASSWORD.to_string()),
            netns: None,
        }
    }
}

impl Neo4jConfig {
    /// Auth on with [`PASSWORD`], plus `settings`.
    pub fn with(settings: &[(&str, &str)]) -> Neo4jConfig {
        Neo4jConfig {
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Neo4jConfig::default()
        }
    }
}

/// A running Neo4j, killed on Drop (its home, a temp dir, is removed with it).
#[derive(Debug)]
pub struct Neo4j {
    pub port: u16,
    /// Where its Bolt connector listens.
    addr: SocketAddr,
    pub pid: u32,
    /// From `dbms.components()`, e.g. "2026.08.1".
    pub version: String,
    /// "community".
    pub edition: String,
    child: ChildGuard,
    stderr_path: PathBuf,
    home: tempfile::TempDir,
}

impl Neo4j {
    /// Auth on ([`PASSWORD`]), no TLS. Panics with the logs if it does not start.
    pub fn start() -> Neo4j {
        Neo4j::start_with(&Neo4jConfig::default())
    }

    /// Starts with `config`; panics with the logs if it does not start.
    pub fn start_with(config: &Neo4jConfig) -> Neo4j {
        Neo4j::try_start(config).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts with `config`. Err: why not (Neo4j's stderr and the tail of its debug.log), e.g.
    /// for a setting Neo4j refuses. A port taken between the check and Neo4j's bind is retried.
    pub fn try_start(config: &Neo4jConfig) -> Result<Neo4j, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Neo4j::spawn(config) {
                Ok(n) => return Ok(n),
                Err((msg, port_in_use)) => {
                    last = msg;
                    if !port_in_use {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    fn spawn(config: &Neo4jConfig) -> Result<Neo4j, (String, bool)> {
        let (addr, mut cmd) = match &config.netns {
            Some((ns, addr)) => {
                // `ip netns exec` execs java, so the guard's pid is the server's.
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(java());
                (*addr, cmd)
            }
            // Below Linux's ephemeral range, so no outgoing connection takes it before Neo4j
            // binds.
            None => (
                SocketAddr::from(([127, 0, 0, 1], free_port_in(20000, 32767, &["127.0.0.1"]))),
                Command::new(java()),
            ),
        };
        let port = addr.port();
        let home = tempfile::Builder::new()
            .prefix("neo4j-")
            .tempdir()
            .expect("temp dir");
        let stderr_path = home.path().join("launcher.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("create stderr file");
        let jar = launcher_jar();
        cmd.args(jvm_options())
            .arg("-jar")
            .arg(&jar)
            .arg("--home")
            .arg(home.path())
            .arg("--port")
            .arg(port.to_string());
        if let Some(pw) = &config.password {
            cmd.arg("--password").arg(pw);
        }
        if let Some(text) = &config.conf_text {
            let conf_dir = home.path().join("conf");
            std::fs::create_dir_all(&conf_dir).expect("mkdir conf");
            let conf = conf_dir.join("neo4j.conf");
            std::fs::write(&conf, text).expect("write neo4j.conf");
            cmd.arg("--conf").arg(conf);
        }
        for (k, v) in &config.settings {
            cmd.arg(format!("{k}={v}"));
        }
        if config.netns.is_some() {
            for key in [
                "server.bolt.listen_address",
                "server.bolt.advertised_address",
            ] {
                cmd.arg(format!("{key}={addr}"));
            }
        }
        cmd.current_dir(home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = ChildGuard::spawn("neo4j", &mut cmd)
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", java().display()));
        let stdout = child.take_stdout().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so the pipe never fills; only the READY line is passed on.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("READY ") {
                    let _ = tx.send(line);
                }
            }
        });
        let started = Instant::now();
        let deadline = started + START_TIMEOUT;
        let ready = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                break line;
            }
            let why = if let Some(status) = child.try_status() {
                format!("exited with {status}")
            } else if Instant::now() >= deadline {
                child.kill();
                format!("printed no READY line within {START_TIMEOUT:?}")
            } else {
                continue;
            };
            let logs = startup_logs(home.path(), &stderr_path);
            let port_in_use = logs.contains("Address already in use");
            return Err((
                format!("Neo4j (port {port}) {why}; settings {config:?}\n{logs}"),
                port_in_use,
            ));
        };
        let field = |name: &str| {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
                .unwrap_or("")
                .to_string()
        };
        assert_eq!(field("port"), port.to_string(), "READY line: {ready}");
        eprintln!("neo4j ready in {:.1?}: {ready}", started.elapsed());
        Ok(Neo4j {
            port,
            addr,
            pid: child.pid(),
            version: field("version"),
            edition: field("edition"),
            child,
            stderr_path,
            home,
        })
    }

    /// `127.0.0.1:<port>` (or the namespace's address).
    pub fn bolt_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `bolt://127.0.0.1:<port>`.
    pub fn bolt_uri(&self) -> String {
        self.uri_with_scheme("bolt")
    }

    /// `<scheme>://127.0.0.1:<port>` (or the namespace's address).
    pub fn uri_with_scheme(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    /// The server's home (data, `logs/debug.log`, `conf/neo4j.conf` when conf text was given).
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The launcher's stderr and the tail of Neo4j's debug.log, for panic messages.
    pub fn logs(&self) -> String {
        startup_logs(self.home.path(), &self.stderr_path)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }

    /// SIGTERM (Neo4j's own shutdown), then waits up to `timeout`; None if it is still running
    /// (it is then killed).
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.child.try_status() {
            return Some(status);
        }
        self.child.signal("TERM");
        let status = self.child.wait_timeout(timeout);
        if status.is_none() {
            self.child.kill();
        }
        status
    }
}

/// A small heap and a serial collector: a test server beside other test servers on 2 cores.
fn jvm_options() -> Vec<String> {
    vec![
        "-Xms256m".into(),
        "-Xmx768m".into(),
        "-XX:+UseSerialGC".into(),
        "--enable-native-access=ALL-UNNAMED".into(),
    ]
}

fn startup_logs(home: &Path, stderr_path: &Path) -> String {
    let stderr = read_log(stderr_path);
    let debug = read_log(&home.join("logs").join("debug.log"));
    format!(
        "--- launcher stderr ---\n{}\n--- debug.log (tail) ---\n{}",
        tail(&stderr, 4000),
        tail(&debug, 4000)
    )
}

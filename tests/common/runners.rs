//! The driver scenario runners of tests/drivers/ (Python, JavaScript, Java, Go): one process
//! per call, one JSON line back. See tests/drivers/README.md for the command line and output.
//!
//! Why four drivers: each official driver has its own Bolt code (handshake, routing, TLS,
//! PackStream), and boltgate must be right for all of them, not just the one it was built with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{run_captured, Captured};

/// An official Neo4j driver with a scenario runner under tests/drivers/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Python,
    Js,
    Java,
    Go,
}

impl Driver {
    pub const ALL: [Driver; 4] = [Driver::Python, Driver::Js, Driver::Java, Driver::Go];

    pub fn name(self) -> &'static str {
        match self {
            Driver::Python => "python",
            Driver::Js => "js",
            Driver::Java => "java",
            Driver::Go => "go",
        }
    }

    /// The command that starts this driver's runner; panics saying how to build it when the
    /// built artifact is missing.
    fn command(self) -> Command {
        let dir = drivers_dir();
        let built = |p: PathBuf| {
            assert!(
                p.exists(),
                "{} is missing: build the runners with `bash tests/neo4j/build.sh` (.ci/run does)",
                p.display()
            );
            p
        };
        match self {
            Driver::Python => {
                let mut c = Command::new(super::driver::python());
                c.arg(dir.join("python/runner.py"))
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
            Driver::Js => {
                built(dir.join("js/node_modules/neo4j-driver"));
                let mut c = Command::new("node");
                c.arg(dir.join("js/runner.mjs"));
                c
            }
            Driver::Java => {
                let jar = built(dir.join("java/target/runner.jar"));
                let mut c = Command::new(super::neo4j::java());
                c.args(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar"])
                    .arg(jar);
                c
            }
            Driver::Go => Command::new(built(dir.join("go/runner"))),
        }
    }
}

/// tests/drivers in this checkout.
pub fn drivers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("drivers")
}

/// Runs `driver`'s runner: `uri`, basic auth, `ca` (the CA a +s scheme must trust) and the
/// scenarios, in one process and one driver instance. Ok: the runner's JSON line (its
/// `results` hold each scenario's answer or error). Err: the exit status, stdout and stderr
/// when it crashed, timed out or printed no JSON.
pub fn run_scenarios(
    driver: Driver,
    uri: &str,
    auth: (&str, &str),
    ca: Option<&Path>,
    scenarios: &[&str],
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let ca_arg = ca.map_or_else(|| "-".to_string(), |p| p.display().to_string());
    let mut cmd = driver.command();
    cmd.args([uri, auth.0, auth.1, &ca_arg, &scenarios.join(",")])
        .current_dir(drivers_dir());
    if let Some(ca) = ca {
        // Node reads extra CAs only at start-up (the JS runner checks it was given this one).
        cmd.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let name = format!("{} runner", driver.name());
    let Captured {
        status,
        stdout,
        stderr,
    } = run_captured(&name, &mut cmd, timeout)
        .unwrap_or_else(|e| panic!("cannot start the {name}: {e}"));
    let what = || {
        format!(
            "{} runner {uri} {scenarios:?}: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            driver.name(),
            status.map_or_else(|| format!("killed after {timeout:?}"), |s| s.to_string()),
            super::tail(&stdout, 3000),
            super::tail(&stderr, 3000)
        )
    };
    match status {
        Some(s) if s.success() => stdout
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(what),
        _ => Err(what()),
    }
}

/// Runs the `pool` mode of the Java or Go runner (tests/drivers/README.md): `clients` clients
/// at once, each with its own driver holding one connection, `rounds` write and read
/// transactions each; `synthetic`: `RETURN n` queries for the synthetic server (see
/// [`super::pool::committed_writes`]), else FalkorDB's `(:PoolW {client, i})` nodes, each read
/// counting its client's writes. Ok: the JSON line (`writes`, `reads`, `errors`).
pub fn run_pool_clients(
    driver: Driver,
    uri: &str,
    clients: u32,
    rounds: u32,
    synthetic: bool,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    assert!(
        matches!(driver, Driver::Java | Driver::Go),
        "only the Java and Go runners have a pool mode"
    );
    let server = if synthetic { "synthetic" } else { "falkordb" };
    let (clients, rounds) = (clients.to_string(), rounds.to_string());
    let mut cmd = driver.command();
    cmd.args(["pool", uri, &clients, &rounds, server])
        .current_dir(drivers_dir());
    let what = format!(
        "{} runner pool {uri} {clients} {rounds} {server}",
        driver.name()
    );
    super::run_json(&what, &mut cmd, timeout)
}

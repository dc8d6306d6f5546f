//! A server host the test makes itself: a network namespace joined to the test's namespace by a
//! veth pair, in a private /30 that exists only between the two ends, with FalkorDB inside and
//! network faults on cue (silent drops, random loss, a slow link, the host vanishing).
//!
//! Faults are applied inside the namespace (an nftables table of its own, `tc` on the veth), so
//! nothing outside the pair is touched. Everything is deleted on Drop, also after a panic.
//! [`Host::create`] returns Err (a reason to skip) when not root or namespaces are not
//! permitted; under `CI=true` the caller must fail instead (see [`skip_or_fail`]).
//!
//! The kernel of the project's machines has no `netem` qdisc (CONFIG_NET_SCH_NETEM unset):
//! added latency is then a rate-limited link (`tbf`: queueing delay, not a fixed delay) and loss
//! comes from nftables (`numgen random`), which also does the silent drops.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::falkordb::falkordb_bin_dir;
use super::neo4j::{Neo4j, Neo4jConfig};
use super::{bolt_handshake, read_log, tail, ChildGuard};

/// FalkorDB's Bolt port inside the namespace (the namespace has its own port space).
pub const BOLT_PORT: u16 = 24687;
const REDIS_PORT: u16 = 24379;

/// Fails the test under CI (where it must run), else prints why it is skipped.
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("network-namespace test cannot run under CI: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn run_stdin(args: &[&str], input: &str) -> Result<(), String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", args[0]))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}\n{input}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespace and its veth pair; FalkorDB inside via [`Host::start_falkordb`], or Neo4j via
/// [`Host::start_neo4j`].
pub struct Host {
    pub ns: String,
    /// The veth end in the test's namespace (boltgate's side).
    pub outer_if: String,
    /// The veth end inside the namespace (the server's side).
    pub inner_if: String,
    pub outer_ip: Ipv4Addr,
    pub inner_ip: Ipv4Addr,
    /// The /30 of the pair, held by an `unreachable` route in the test's namespace.
    subnet: String,
    falkordb: Option<ChildGuard>,
    neo4j: Option<Neo4j>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Host {
    /// A fresh namespace `bgf<pid>-<n>` and a veth pair in a /30 of 10.213.0.0/16 unique to
    /// this process and call. Err: why it cannot be made (not root, no netns permission).
    pub fn create() -> Result<Host, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let ns = format!("bgf{pid}-{n}");
        // Interface names are at most 15 bytes.
        let tag = format!("{:x}{n}", pid % 0xfffff);
        let (outer_if, inner_if) = (format!("bgo{tag}"), format!("bgi{tag}"));
        // 64 /30s per third octet; the pid spreads concurrent test processes apart.
        let slot = (pid % 250) * 64 + (n % 64);
        let base = [10, 213, (slot / 64) as u8, ((slot % 64) * 4) as u8];
        let outer_ip = Ipv4Addr::new(base[0], base[1], base[2], base[3] + 1);
        let inner_ip = Ipv4Addr::new(base[0], base[1], base[2], base[3] + 2);
        run(&["ip", "netns", "add", &ns])?;
        // Whatever happens to the link, traffic to the test's subnet must never take the default
        // route off this machine: while the veth's own (metric 0) route is gone, this one
        // answers "unreachable" at once.
        let subnet = format!("{}/30", Ipv4Addr::from(base));
        if let Err(e) = run(&[
            "ip",
            "route",
            "add",
            "unreachable",
            &subnet,
            "metric",
            "4242",
        ]) {
            let _ = run(&["ip", "netns", "del", &ns]);
            return Err(e);
        }
        let dir = tempfile::Builder::new()
            .prefix("netns-")
            .tempdir()
            .expect("temp dir");
        let host = Host {
            subnet,
            log: dir.path().join("falkordb.log"),
            ns,
            outer_if,
            inner_if,
            outer_ip,
            inner_ip,
            falkordb: None,
            neo4j: None,
            _dir: dir,
        };
        host.make_link()?;
        Ok(host)
    }

    /// The veth pair, addressed and up (again, after [`Host::vanish_link`]).
    pub fn make_link(&self) -> Result<(), String> {
        let (o, i) = (self.outer_if.as_str(), self.inner_if.as_str());
        run(&["ip", "link", "add", o, "type", "veth", "peer", "name", i])?;
        run(&["ip", "link", "set", i, "netns", &self.ns])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", self.outer_ip),
            "dev",
            o,
        ])?;
        run(&["ip", "link", "set", o, "up"])?;
        let ns = self.ns.as_str();
        let inner = format!("{}/30", self.inner_ip);
        run(&["ip", "-n", ns, "addr", "add", &inner, "dev", i])?;
        run(&["ip", "-n", ns, "link", "set", i, "up"])?;
        run(&["ip", "-n", ns, "link", "set", "lo", "up"])
    }

    /// Starts FalkorDB inside the namespace (Bolt on every interface there, Redis on its
    /// loopback) and waits for its Bolt handshake at [`Host::bolt_addr`].
    pub fn start_falkordb(&mut self) {
        let bin = falkordb_bin_dir();
        let log = std::fs::File::create(&self.log).expect("create log");
        let data = self.log.parent().expect("dir").to_path_buf();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(bin.join("redis-server"))
            .args(["--port", &REDIS_PORT.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&data)
            .arg("--loadmodule")
            .arg(bin.join("falkordb.so"))
            .args(["BOLT_PORT", &BOLT_PORT.to_string()])
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log));
        // `ip netns exec` execs the server, so the guard's pid is the server's.
        let mut child = ChildGuard::spawn("falkordb", &mut cmd).expect("spawn falkordb");
        let ok = super::wait_until(Duration::from_secs(30), || {
            child.is_running()
                && bolt_handshake(self.bolt_addr(), Duration::from_millis(500)).is_some()
        });
        assert!(
            ok,
            "FalkorDB in {} did not answer on {}:\n{}",
            self.ns,
            self.bolt_addr(),
            tail(&read_log(&self.log), 3000)
        );
        self.falkordb = Some(child);
    }

    /// A Neo4j Community server (auth off) inside the namespace, on [`Host::bolt_addr`]: for
    /// what FalkorDB does not survive (it crashes under a driver soak on a faulty link).
    pub fn start_neo4j(&mut self) {
        let config = Neo4jConfig {
            password: None,
            netns: Some((self.ns.clone(), self.bolt_addr())),
            ..Neo4jConfig::default()
        };
        self.neo4j = Some(Neo4j::start_with(&config));
    }

    /// The namespaced Neo4j's launcher stderr and debug.log tail ("" without one).
    pub fn neo4j_logs(&self) -> String {
        self.neo4j.as_ref().map(Neo4j::logs).unwrap_or_default()
    }

    pub fn bolt_addr(&self) -> SocketAddr {
        SocketAddr::from((self.inner_ip, BOLT_PORT))
    }

    pub fn bolt_uri(&self) -> String {
        format!("bolt://{}", self.bolt_addr())
    }

    pub fn falkordb_log(&self) -> String {
        read_log(&self.log)
    }

    /// Replaces the namespace's fault rules with `rules` (nftables statements applied to every
    /// packet in and out of the server's veth end); "" removes them.
    fn nft(&self, input: &str, output: &str) -> Result<(), String> {
        let _ = run(&[
            "ip", "netns", "exec", &self.ns, "nft", "delete", "table", "inet", "bgfault",
        ]);
        if input.is_empty() && output.is_empty() {
            return Ok(());
        }
        let i = &self.inner_if;
        let script = format!(
            "table inet bgfault {{\n\
               chain rx {{\n type filter hook input priority 0; policy accept;\n iifname \"{i}\" {input}\n }}\n\
               chain tx {{\n type filter hook output priority 0; policy accept;\n oifname \"{i}\" {output}\n }}\n\
             }}\n"
        );
        run_stdin(
            &["ip", "netns", "exec", &self.ns, "nft", "-f", "-"],
            &script,
        )
    }

    /// Every packet between boltgate and the server silently dropped, both ways (no RST).
    pub fn blackhole(&self) -> Result<(), String> {
        self.nft("drop", "drop")
    }

    /// The server receives, but everything it sends is dropped (a reply lost on the way).
    pub fn drop_replies(&self) -> Result<(), String> {
        self.nft("accept", "drop")
    }

    /// `percent` % of packets dropped at random, each way.
    pub fn lossy(&self, percent: u32) -> Result<(), String> {
        let rule = format!("numgen random mod 100 < {percent} drop");
        self.nft(&rule, &rule)
    }

    /// A slow link both ways (`tbf` at `rate`, e.g. "4mbit"): queueing latency under load.
    /// Uses `netem delay` instead when the kernel has it.
    pub fn slow(&self, rate: &str, delay: &str) -> Result<&'static str, String> {
        let netem = |dev: &str, ns: Option<&str>| {
            let mut a = vec!["tc"];
            if let Some(ns) = ns {
                a = vec!["ip", "netns", "exec", ns, "tc"];
            }
            a.extend([
                "qdisc", "replace", "dev", dev, "root", "netem", "delay", delay,
            ]);
            run(&a)
        };
        if netem(&self.outer_if, None).is_ok() {
            netem(&self.inner_if, Some(&self.ns))?;
            return Ok("netem");
        }
        let tbf = |dev: &str, ns: Option<&str>| {
            let mut a = vec!["tc"];
            if let Some(ns) = ns {
                a = vec!["ip", "netns", "exec", ns, "tc"];
            }
            a.extend(["qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate]);
            a.extend(["burst", "16kb", "latency", "200ms"]);
            run(&a)
        };
        tbf(&self.outer_if, None)?;
        tbf(&self.inner_if, Some(&self.ns))?;
        Ok("tbf")
    }

    /// Faults off: no drops, no slow link.
    pub fn heal(&self) -> Result<(), String> {
        let _ = run(&["tc", "qdisc", "del", "dev", &self.outer_if, "root"]);
        let _ = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "tc",
            "qdisc",
            "del",
            "dev",
            &self.inner_if,
            "root",
        ]);
        self.nft("", "")
    }

    /// The host vanishes: the veth pair is deleted (no packet either way, no RST, the route is
    /// gone), then the server is killed and its namespace deleted.
    pub fn vanish(&mut self) {
        let _ = run(&["ip", "link", "del", &self.outer_if]);
        if let Some(mut f) = self.falkordb.take() {
            f.kill();
        }
        let _ = run(&["ip", "netns", "del", &self.ns]);
    }

    /// After [`Host::vanish`]: the same host back (namespace, link, addresses, a fresh server).
    pub fn come_back(&mut self) {
        run(&["ip", "netns", "add", &self.ns]).expect("namespace again");
        self.make_link().expect("link again");
        self.start_falkordb();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut f) = self.falkordb.take() {
            f.kill();
        }
        drop(self.neo4j.take());
        let _ = run(&["ip", "link", "del", &self.outer_if]);
        let _ = run(&["ip", "netns", "del", &self.ns]);
        let _ = run(&[
            "ip",
            "route",
            "del",
            "unreachable",
            &self.subnet,
            "metric",
            "4242",
        ]);
    }
}

/// Whether this process may make namespaces: root and `ip netns add` works.
pub fn netns_available() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid != "0" {
        return Err(format!("needs root to make network namespaces (uid {uid})"));
    }
    let probe = format!("bgfprobe{}", std::process::id());
    run(&["ip", "netns", "add", &probe])
        .map_err(|e| format!("network namespaces not permitted here: {e}"))?;
    let _ = run(&["ip", "netns", "del", &probe]);
    if Command::new("nft").arg("--version").output().is_err() {
        return Err("nft (Debian package nftables) is not installed".into());
    }
    Ok(())
}

/// tests/py/fault_client.py, running, with its JSON events read on a thread.
pub struct FaultClient {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<serde_json::Value>,
    pub label: String,
}

impl FaultClient {
    pub fn start(label: &str, uri: &str, mode: &str, extra: &[&str]) -> FaultClient {
        let mut child = Command::new(super::driver::python())
            .arg(super::driver::py_dir().join("fault_client.py"))
            .args([uri, mode])
            .args(extra)
            .args(["--connect-timeout", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn fault_client.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        FaultClient {
            stdin: child.stdin.take(),
            child,
            events,
            label: label.to_string(),
        }
    }

    /// The next event within `timeout`; None if none came.
    pub fn next(&self, timeout: Duration) -> Option<serde_json::Value> {
        self.events.recv_timeout(timeout).ok()
    }

    /// The next event, which must be `event` and come within `timeout`.
    pub fn expect(&self, event: &str, timeout: Duration) -> serde_json::Value {
        let start = Instant::now();
        match self.next(timeout) {
            Some(v) if v["event"] == event => v,
            other => panic!(
                "{}: expected {event} within {timeout:?}, got {other:?} after {:?}",
                self.label,
                start.elapsed()
            ),
        }
    }

    /// Tells a commit-mode client to COMMIT.
    pub fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"commit\n").expect("write to client");
        stdin.flush().expect("flush");
    }
}

impl Drop for FaultClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a fault client's event is boltgate's own FAILURE for a session whose upstream could not
/// be reached at its start (nothing forwarded: transient, a retry is safe).
pub fn is_unreachable(event: &serde_json::Value) -> bool {
    event["event"] == "error" && event["code"] == "Neo.TransientError.General.DatabaseUnavailable"
}

/// Whether a fault client's event is what a driver reports for a lost connection: ServiceUnavailable,
/// SessionExpired or IncompleteCommit, as direct. A FAILURE boltgate made up (e.g.
/// `DatabaseUnavailable` for a request it had forwarded) is not: the upstream's loss must reach the
/// client as a loss (README, "Transparency").
pub fn is_connection_loss(event: &serde_json::Value) -> bool {
    let classes = event["classes"].as_array().cloned().unwrap_or_default();
    let has = |c: &str| classes.iter().any(|x| x == c);
    event["event"] == "error"
        && (has("ServiceUnavailable") || has("SessionExpired") || has("IncompleteCommit"))
}

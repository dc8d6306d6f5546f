//! stunnel as a reference TLS terminator: TLS in on a loopback port, plaintext out to another.
//!
//! Why: before boltgate terminates TLS itself, this proves that the test PKI and the Python
//! driver's custom-CA setup work, so a failing TLS test later points at boltgate, not at the
//! harness. Debian's `stunnel4` package provides the `stunnel` binary (`BOLTGATE_STUNNEL`
//! overrides the path).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{read_log, tail, wait_for_port, ChildGuard};

/// A running stunnel in the foreground, killed on Drop.
#[derive(Debug)]
pub struct Stunnel {
    pub accept_port: u16,
    pub connect_port: u16,
    pub pid: u32,
    child: ChildGuard,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

/// The stunnel binary, if one is installed.
pub fn stunnel_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BOLTGATE_STUNNEL") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/stunnel",
        "/usr/bin/stunnel4",
        "/usr/local/bin/stunnel",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

impl Stunnel {
    /// Terminates TLS with `cert` (leaf then CA, PEM) and `key` on 127.0.0.1:`accept_port`
    /// and forwards plaintext to 127.0.0.1:`connect_port`. Panics with the log if it does not
    /// listen within 10 s, or if stunnel is not installed.
    pub fn start(cert: &Path, key: &Path, accept_port: u16, connect_port: u16) -> Stunnel {
        Stunnel::start_with(cert, key, None, accept_port, connect_port)
    }

    /// Like [`Stunnel::start`], but a client must present a certificate issued by the CA in
    /// `client_ca` (mutual TLS).
    pub fn start_mtls(
        cert: &Path,
        key: &Path,
        client_ca: &Path,
        accept_port: u16,
        connect_port: u16,
    ) -> Stunnel {
        Stunnel::start_with(cert, key, Some(client_ca), accept_port, connect_port)
    }

    fn start_with(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        accept_port: u16,
        connect_port: u16,
    ) -> Stunnel {
        let bin = stunnel_bin().expect("stunnel is not installed (apt-get install stunnel4)");
        let dir = tempfile::Builder::new()
            .prefix("stunnel-")
            .tempdir()
            .expect("temp dir");
        let log_path = dir.path().join("stunnel.log");
        let mut conf = format!(
            "foreground = yes\n\
             pid =\n\
             output = {log}\n\
             debug = info\n\
             [bolt]\n\
             accept = 127.0.0.1:{accept_port}\n\
             connect = 127.0.0.1:{connect_port}\n\
             cert = {cert}\n\
             key = {key}\n",
            log = log_path.display(),
            cert = cert.display(),
            key = key.display(),
        );
        if let Some(ca) = client_ca {
            // verifyChain: the client must send a certificate that chains to `ca`.
            conf.push_str(&format!("verifyChain = yes\nCAfile = {}\n", ca.display()));
        }
        let conf_path = dir.path().join("stunnel.conf");
        std::fs::write(&conf_path, conf).expect("write stunnel.conf");
        let console = std::fs::File::create(dir.path().join("console.log")).expect("console log");
        let mut cmd = Command::new(&bin);
        cmd.arg(&conf_path)
            .stdout(Stdio::from(console.try_clone().expect("clone")))
            .stderr(Stdio::from(console));
        let mut child = ChildGuard::spawn("stunnel", &mut cmd)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], accept_port));
        let up = super::wait_until(Duration::from_secs(10), || {
            !child.is_running() || wait_for_port(addr, Duration::from_millis(100))
        });
        if !up || !child.is_running() {
            let logs = format!(
                "{}\n{}",
                read_log(&log_path),
                read_log(&dir.path().join("console.log"))
            );
            panic!("stunnel did not listen on {addr}:\n{}", tail(&logs, 4000));
        }
        if super::leads_to_falkordb(connect_port) {
            super::mark_falkordb_port(accept_port);
        }
        Stunnel {
            accept_port,
            connect_port,
            pid: child.pid(),
            child,
            log_path,
            dir,
        }
    }

    /// The TLS side's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.accept_port))
    }

    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }
}

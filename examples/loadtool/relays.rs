//! The proxies as separate processes: boltgate (the release binary), and Debian's HAProxy and
//! nginx (`stream` module) as blind TCP relays, plaintext or terminating TLS with the run's test
//! certificate. Each listens on a free loopback port, writes its config and log into the run's
//! temporary directory, and is stopped by pid when its guard drops (also on an error path).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boltgate_testkit::proxy::free_loopback_port;

use crate::BoxError;

pub const HAPROXY: &str = "/usr/sbin/haproxy";
pub const NGINX: &str = "/usr/sbin/nginx";
/// Debian builds nginx's `stream` as a module (package libnginx-mod-stream).
pub const NGINX_STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// `--pin`: the CPUs every proxy runs on (all but the first), once set.
static PROXY_CPUS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `--pin`: this process (client, synthetic server) on the first CPU it may use, every proxy
/// started after this on the rest ([`Relay::spawn`] runs it under `taskset`).
pub fn pin_load_tool() -> Result<(), BoxError> {
    let cpus = std::thread::available_parallelism()?.get();
    if cpus < 2 {
        return Err("--pin needs 2 CPUs or more".into());
    }
    let me = std::process::id().to_string();
    let pinned = Command::new("taskset")
        .args(["-a", "-c", "-p", "0", &me])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("--pin needs taskset (util-linux): {e}"))?;
    if !pinned.success() {
        return Err(format!("taskset -a -c -p 0 {me} failed: {pinned}").into());
    }
    let _ = PROXY_CPUS.set(format!("1-{}", cpus - 1));
    Ok(())
}

/// `--busy-polling`: boltgate with `boltgate.runtime.busy_polling=true`, HAProxy with its
/// `busy-polling` (nginx has no such setting), once set.
static BUSY_POLLING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_busy_polling() {
    BUSY_POLLING.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn busy_polling() -> bool {
    BUSY_POLLING.load(std::sync::atomic::Ordering::Relaxed)
}

/// `--boltgate-setting` lines, appended to every boltgate scenario's configuration.
static BOLTGATE_SETTINGS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the lines [`boltgate_to`] appends (once; later calls are ignored).
pub fn set_boltgate_settings(settings: &[String]) {
    let _ = BOLTGATE_SETTINGS.set(settings.iter().map(|s| format!("{s}\n")).collect());
}

/// How long a process may take to start listening.
const START_WAIT: Duration = Duration::from_secs(20);
/// How long a process may take to exit after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// A proxy process, stopped (SIGTERM, then SIGKILL) by pid on drop.
pub struct Relay {
    pub addr: SocketAddr,
    name: String,
    child: Child,
    log: PathBuf,
}

/// Why a relay is not in the run: a missing binary or module is a skip, not a failure.
pub enum Started {
    Running(Relay),
    Skipped(String),
}

impl Relay {
    fn spawn(
        name: &str,
        mut cmd: Command,
        addr: SocketAddr,
        log: PathBuf,
    ) -> Result<Relay, BoxError> {
        let out = std::fs::File::create(&log)?;
        let program = cmd.get_program().to_string_lossy().into_owned();
        if let Some(cpus) = PROXY_CPUS.get() {
            let mut pinned = Command::new("taskset");
            pinned
                .args(["-c", cpus])
                .arg(cmd.get_program())
                .args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => pinned.env(k, v),
                    None => pinned.env_remove(k),
                };
            }
            if let Some(dir) = cmd.get_current_dir() {
                pinned.current_dir(dir);
            }
            cmd = pinned;
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
        let mut relay = Relay {
            addr,
            name: name.to_owned(),
            child,
            log,
        };
        let deadline = Instant::now() + START_WAIT;
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = relay.child.try_wait()? {
                return Err(format!(
                    "{name} exited ({status}) before listening on {addr}:\n{}",
                    relay.log()
                )
                .into());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not listen on {addr}:\n{}", relay.log()).into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(relay)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or(&text).to_owned()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers (SIGKILL would orphan them).
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} (pid {pid}) ignored SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loopback_addr() -> Result<SocketAddr, BoxError> {
    Ok(SocketAddr::from(([127, 0, 0, 1], free_loopback_port()?)))
}

/// The release `boltgate` beside this example (`target/release/examples/../boltgate`).
pub fn default_boltgate_bin() -> Option<PathBuf> {
    let bin = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .join("boltgate");
    bin.exists().then_some(bin)
}

/// boltgate relaying to `upstream`, with `extra` settings (e.g. routing members). Its listener
/// takes TLS and plaintext alike (`tls_level=OPTIONAL`), so one process serves both rows.
pub fn boltgate(
    bin: &Path,
    dir: &Path,
    name: &str,
    upstream: SocketAddr,
    extra: &str,
) -> Result<Relay, BoxError> {
    boltgate_to(bin, dir, name, &format!("bolt://{upstream}"), extra)
}

/// [`boltgate`] to any upstream URI (`bolt+ssc://…` for a TLS upstream).
pub fn boltgate_to(
    bin: &Path,
    dir: &Path,
    name: &str,
    uri: &str,
    extra: &str,
) -> Result<Relay, BoxError> {
    let addr = loopback_addr()?;
    let config = dir.join(format!("{name}.conf"));
    std::fs::write(
        &config,
        format!(
            "boltgate.upstream.uri={uri}\n\
             server.bolt.listen_address={addr}\n\
             server.bolt.tls_level=OPTIONAL\n\
             dbms.ssl.policy.bolt.enabled=true\n\
             dbms.ssl.policy.bolt.base_directory={}\n\
             dbms.ssl.policy.bolt.client_auth=NONE\n\
             boltgate.log.level=warn\n\
             boltgate.runtime.busy_polling={}\n{extra}{}",
            dir.display(),
            busy_polling(),
            BOLTGATE_SETTINGS.get().map_or("", String::as_str)
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(&config).env("NO_COLOR", "1");
    Relay::spawn(name, cmd, addr, dir.join(format!("{name}.log")))
}

/// HAProxy in TCP mode, TLS terminated when `tls`. `splice`: with `option splice-request` and
/// `option splice-response`, so the kernel moves the bytes between the two sockets through a
/// pipe and HAProxy never copies them (plaintext only): the best a relay that does not look at
/// what it relays can do.
pub fn haproxy(
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
    tls: bool,
    splice: bool,
) -> Result<Started, BoxError> {
    if !bin.exists() {
        return Ok(Started::Skipped(format!(
            "{} not found (apt-get install haproxy)",
            bin.display()
        )));
    }
    let name = match (tls, splice) {
        (true, _) => "haproxy-tls",
        (false, true) => "haproxy-splice",
        (false, false) => "haproxy",
    };
    let addr = loopback_addr()?;
    let ssl = if tls {
        // HAProxy wants the chain and the key in one file.
        let pem = dir.join("haproxy.pem");
        let chain = std::fs::read_to_string(dir.join("public.crt"))?;
        let key = std::fs::read_to_string(dir.join("private.key"))?;
        std::fs::write(&pem, format!("{chain}{key}"))?;
        format!(" ssl crt {}", pem.display())
    } else {
        String::new()
    };
    let config = dir.join(format!("{name}.cfg"));
    std::fs::write(
        &config,
        format!(
            "global\n    maxconn 4000\n{}\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 300s\n    timeout server 300s\n{}\
             listen bolt\n    bind {addr}{ssl}\n    server synthetic {upstream}\n",
            if busy_polling() { "    busy-polling\n" } else { "" },
            if splice { "    option splice-request\n    option splice-response\n" } else { "" }
        ),
    )?;
    let mut cmd = Command::new(bin);
    // -db: stay in the foreground, so the pid we hold is the proxy's.
    cmd.arg("-db").arg("-f").arg(&config);
    Relay::spawn(name, cmd, addr, dir.join(format!("{name}.log"))).map(Started::Running)
}

/// nginx's `stream` proxy, TLS terminated when `tls`.
pub fn nginx(bin: &Path, dir: &Path, upstream: SocketAddr, tls: bool) -> Result<Started, BoxError> {
    if !bin.exists() {
        return Ok(Started::Skipped(format!(
            "{} not found (apt-get install nginx)",
            bin.display()
        )));
    }
    if !Path::new(NGINX_STREAM_MODULE).exists() {
        return Ok(Started::Skipped(format!(
            "{NGINX_STREAM_MODULE} not found (apt-get install libnginx-mod-stream)"
        )));
    }
    let name = if tls { "nginx-tls" } else { "nginx" };
    let addr = loopback_addr()?;
    let prefix = dir.join(name);
    std::fs::create_dir_all(prefix.join("logs"))?;
    let ssl = if tls {
        format!(
            " ssl;\n        ssl_certificate {};\n        ssl_certificate_key {}",
            dir.join("public.crt").display(),
            dir.join("private.key").display()
        )
    } else {
        String::new()
    };
    let config = prefix.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "load_module {NGINX_STREAM_MODULE};\n\
             worker_processes auto;\n\
             pid {pid};\n\
             error_log {log} warn;\n\
             events {{ worker_connections 8000; }}\n\
             stream {{\n    server {{\n        listen {addr}{ssl};\n        proxy_pass {upstream};\n    }}\n}}\n",
            pid = prefix.join("nginx.pid").display(),
            log = prefix.join("logs/error.log").display(),
        ),
    )?;
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(&config)
        .args(["-e", "stderr", "-g", "daemon off;"]);
    Relay::spawn(name, cmd, addr, dir.join(format!("{name}.log"))).map(Started::Running)
}

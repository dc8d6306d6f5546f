//! Idle connections: boltgate's memory and file descriptors per idle client connection.
//!
//! ```text
//! cargo build --release --bin boltgate --example idle_conns
//! ./target/release/examples/idle_conns --conns 10000             # plain, then TLS
//! ./target/release/examples/idle_conns --conns 1000 --modes tls --json
//! ```
//!
//! The synthetic Bolt server runs in this process; boltgate is the real binary
//! (`target/release/boltgate` beside this example, or `--boltgate PATH`), a fresh process per
//! mode, started with a soft file-descriptor limit of 1024 so that its own raising of the limit
//! is what lets it hold the connections. Per mode (`plain`, `tls`):
//!
//! 1. one warm-up connection (HELLO, `RETURN 1`, close), then boltgate's `VmRSS` and open file
//!    descriptors: the baseline;
//! 2. `--conns` connections, each through the handshake and HELLO/LOGON, so boltgate also holds
//!    an upstream connection for each; after they have been idle a while, RSS and fds again.
//!    RSS per connection = (RSS now − baseline) / connections: client and upstream side together;
//! 3. a `--rows`-row result (~1 KiB rows) streamed on `--stream-conns` of them, one after another
//!    in rounds of ten with a pause between rounds; once they are idle again, RSS again (buffers
//!    released: close to step 2);
//! 4. `RETURN 1` on a sample of the connections (all must answer), then all are closed; fds once
//!    they are back at the baseline.
//!
//! This process holds two descriptors per connection (client, synthetic server) and so does
//! boltgate: the hard limit is raised here first (as root; otherwise `ulimit -Hn` must allow
//! `2 × conns + 1000`).

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use boltgate_testkit::client::{Auth, Client, Outcome};
use boltgate_testkit::proxy::free_loopback_port;
use boltgate_testkit::synthetic::SyntheticServer;
use clap::Parser;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

#[path = "support/pki.rs"]
mod pki;
use pki::Pki;

type BoxError = Box<dyn Error + Send + Sync>;
type Io = Either<TcpStream, TlsStream<TcpStream>>;

/// Bound on one connect + handshake + HELLO, and on one `RETURN 1`.
const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connections sit idle before RSS is read: past boltgate's buffer release.
const SETTLE: Duration = Duration::from_secs(2);
/// Connections that stream one after another before a pause.
const STREAM_ROUND: usize = 10;

#[derive(Debug, Parser)]
#[command(about = "boltgate's RSS and file descriptors per idle connection")]
struct Args {
    /// Idle connections per mode.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Comma-separated modes: plain, tls.
    #[arg(long, default_value = "plain,tls")]
    modes: String,
    /// The boltgate binary (default: `boltgate` in the directory above this example's).
    #[arg(long)]
    boltgate: Option<PathBuf>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    parallel: usize,
    /// Connections that stream a large result after the idle measurement.
    #[arg(long, default_value_t = 100)]
    stream_conns: usize,
    /// Rows (~1 KiB each) of that result.
    #[arg(long, default_value_t = 2_000)]
    rows: u64,
    /// One JSON object per mode on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// (internal) Serve the synthetic server, print its address, run until stdin closes.
    #[arg(long, hide = true)]
    serve_synthetic: bool,
}

#[derive(Debug, Default)]
struct Measured {
    mode: String,
    conns: usize,
    fd_limit_line: String,
    base_rss_kib: u64,
    idle_rss_kib: u64,
    after_stream_rss_kib: u64,
    base_fds: usize,
    idle_fds: usize,
    closed_fds: usize,
    open_secs: f64,
}

impl Measured {
    fn per_conn_kib(&self) -> f64 {
        (self.idle_rss_kib.saturating_sub(self.base_rss_kib)) as f64 / self.conns.max(1) as f64
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    raise_own_fd_limit(args.conns as u64 + RESERVED_FDS)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.serve_synthetic {
        return runtime.block_on(serve_synthetic());
    }
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    if args.conns as u64 * 2 + RESERVED_FDS > hard {
        return Err(format!(
            "boltgate needs two file descriptors per connection, and the hard limit {hard} \
             allows at most {} connections (raise `ulimit -Hn` or pass --conns)",
            hard.saturating_sub(RESERVED_FDS) / 2
        )
        .into());
    }
    runtime.block_on(run(args))
}

/// Descriptors a process holds besides the connections (listeners, epoll, log, stdio).
const RESERVED_FDS: u64 = 40;

/// The synthetic server in its own process: this one holds the client side of every
/// connection, that one the server side, so neither needs more than one descriptor each.
async fn serve_synthetic() -> Result<(), BoxError> {
    use tokio::io::AsyncReadExt;
    let server = SyntheticServer::start().await?;
    println!("{}", server.addr());
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    Ok(())
}

/// Starts this program with `--serve-synthetic` and reads the address it serves on.
fn start_synthetic() -> Result<(Child, SocketAddr), BoxError> {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("--serve-synthetic")
        .arg("--conns")
        .arg("0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .parse()
        .map_err(|e| format!("synthetic server said {line:?}: {e}"))?;
    Ok((child, addr))
}

async fn run(args: Args) -> Result<(), BoxError> {
    let bin = match &args.boltgate {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .map(|d| d.join("boltgate"))
            .ok_or("cannot find the boltgate binary; pass --boltgate")?,
    };
    let dir = tempfile::tempdir()?;
    let pki = Pki::create(dir.path())?;
    let (mut synthetic, upstream) = start_synthetic()?;
    let results = measure_modes(&args, &bin, dir.path(), upstream, &pki).await;
    let _ = synthetic.kill();
    let _ = synthetic.wait();
    let results = results?;
    if args.json {
        for m in &results {
            print_json(m);
        }
    }
    Ok(())
}

async fn measure_modes(
    args: &Args,
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
    pki: &Pki,
) -> Result<Vec<Measured>, BoxError> {
    let mut results = Vec::new();
    for mode in args.modes.split(',').map(str::trim) {
        let tls = match mode {
            "plain" => None,
            "tls" => Some(pki.connector()),
            other => return Err(format!("unknown mode {other:?} (plain, tls)").into()),
        };
        let gate = Gate::start(bin, dir, upstream, args.conns)?;
        let m = measure(args, mode, &gate, tls).await;
        let log = gate.log();
        drop(gate);
        let mut m =
            m.map_err(|e| format!("{mode}: {e}\n--- boltgate log (tail) ---\n{}", tail(&log)))?;
        m.fd_limit_line = log
            .lines()
            .find(|l| l.contains("file descriptor limit"))
            .unwrap_or("(no file descriptor limit line in the log)")
            .trim()
            .to_string();
        if !args.json {
            print_one(&m);
        }
        results.push(m);
    }
    Ok(results)
}

fn print_json(m: &Measured) {
    println!(
        "{{\"mode\":\"{}\",\"conns\":{},\"base_rss_kib\":{},\"idle_rss_kib\":{},\
         \"rss_per_conn_kib\":{:.2},\"after_stream_rss_kib\":{},\"base_fds\":{},\
         \"idle_fds\":{},\"closed_fds\":{},\"open_secs\":{:.1}}}",
        m.mode,
        m.conns,
        m.base_rss_kib,
        m.idle_rss_kib,
        m.per_conn_kib(),
        m.after_stream_rss_kib,
        m.base_fds,
        m.idle_fds,
        m.closed_fds,
        m.open_secs
    );
}

async fn measure(
    args: &Args,
    mode: &str,
    gate: &Gate,
    tls: Option<TlsConnector>,
) -> Result<Measured, BoxError> {
    let addr = gate.addr;
    let warm = connect(addr, &tls).await?;
    ping(warm).await.map_err(|e| format!("warm-up: {e}"))?;
    tokio::time::sleep(SETTLE).await;
    let base_fds = wait_fds(gate.pid, usize::MAX, Duration::ZERO)?;
    let base_rss_kib = rss_kib(gate.pid)?;

    let started = Instant::now();
    let conns = open_many(addr, &tls, args.conns, args.parallel).await?;
    let open_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let idle_rss_kib = rss_kib(gate.pid)?;
    let idle_fds = wait_fds(gate.pid, usize::MAX, Duration::ZERO)?;

    let mut conns = conns;
    let streamers = args.stream_conns.min(conns.len());
    for (i, c) in conns.iter_mut().take(streamers).enumerate() {
        // In rounds, each once the previous round's buffers were released: RSS then shows
        // what a streamed session keeps, not how many streamed within one release period.
        if i > 0 && i % STREAM_ROUND == 0 {
            tokio::time::sleep(SETTLE).await;
        }
        let rows = timeout(OP_TIMEOUT, c.run(&format!("ROWS {}", args.rows)))
            .await
            .map_err(|_| format!("ROWS {} on connection {i}: timed out", args.rows))?;
        match rows? {
            Outcome::Rows { records, .. } if records == args.rows => {}
            other => return Err(format!("ROWS {}: {other:?}", args.rows).into()),
        }
    }
    tokio::time::sleep(SETTLE).await;
    let after_stream_rss_kib = rss_kib(gate.pid)?;

    // Every connection is still served (a sample spread over all of them).
    let step = (conns.len() / 100).max(1);
    for (i, c) in conns.iter_mut().enumerate().step_by(step) {
        let one = timeout(OP_TIMEOUT, c.run("RETURN 1"))
            .await
            .map_err(|_| format!("RETURN 1 on idle connection {i}: timed out"))?;
        match one? {
            Outcome::Rows { records: 1, .. } => {}
            other => return Err(format!("RETURN 1 on an idle connection: {other:?}").into()),
        }
    }
    drop(conns);
    let closed_fds = wait_fds(gate.pid, base_fds, Duration::from_secs(30))?;
    Ok(Measured {
        mode: mode.to_string(),
        conns: args.conns,
        fd_limit_line: String::new(),
        base_rss_kib,
        idle_rss_kib,
        after_stream_rss_kib,
        base_fds,
        idle_fds,
        closed_fds,
        open_secs,
    })
}

fn print_one(m: &Measured) {
    println!(
        "== {} ({} connections, opened in {:.1} s)",
        m.mode, m.conns, m.open_secs
    );
    println!("   boltgate: {}", m.fd_limit_line);
    println!(
        "   RSS: baseline {} KiB, idle {} KiB → {:.2} KiB per connection (client + upstream side)",
        m.base_rss_kib,
        m.idle_rss_kib,
        m.per_conn_kib()
    );
    println!(
        "   RSS after streaming and going idle again: {} KiB ({:+} KiB against idle)",
        m.after_stream_rss_kib,
        m.after_stream_rss_kib as i64 - m.idle_rss_kib as i64
    );
    println!(
        "   fds: baseline {}, with the connections {}, after they closed {}",
        m.base_fds, m.idle_fds, m.closed_fds
    );
}

async fn connect(addr: SocketAddr, tls: &Option<TlsConnector>) -> Result<Client<Io>, BoxError> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let io = match tls {
            None => Either::Left(tcp),
            Some(connector) => {
                let name = ServerName::try_from("localhost")?;
                Either::Right(connector.connect(name, tcp).await?)
            }
        };
        Ok::<_, BoxError>(Client::handshake(io, &Auth::None).await?)
    };
    timeout(OP_TIMEOUT, fut)
        .await
        .map_err(|_| "connect timed out")?
}

async fn ping(mut c: Client<Io>) -> Result<(), BoxError> {
    match timeout(OP_TIMEOUT, c.run("RETURN 1")).await?? {
        Outcome::Rows { records: 1, .. } => Ok(()),
        other => Err(format!("RETURN 1: {other:?}").into()),
    }
}

/// `n` connections, `parallel` being opened at a time.
async fn open_many(
    addr: SocketAddr,
    tls: &Option<TlsConnector>,
    n: usize,
    parallel: usize,
) -> Result<Vec<Client<Io>>, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let mut workers = Vec::new();
    for _ in 0..parallel.max(1) {
        let (next, opened, tls) = (next.clone(), opened.clone(), tls.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let c = connect(addr, &tls).await?;
                opened.lock().expect("opened lock").push(c);
            }
            Ok::<(), BoxError>(())
        }));
    }
    for w in workers {
        w.await??;
    }
    let conns = std::mem::take(&mut *opened.lock().expect("opened lock"));
    Ok(conns)
}

fn rss_kib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
}

/// Open fds of `pid`, once at most `target` (polling up to `wait`).
fn wait_fds(pid: u32, target: usize, wait: Duration) -> Result<usize, BoxError> {
    let deadline = Instant::now() + wait;
    loop {
        let n = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count();
        if n <= target || Instant::now() >= deadline {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn raise_own_fd_limit(want: u64) -> Result<(), BoxError> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= want {
        return Ok(());
    }
    rlimit::Resource::NOFILE
        .set(want, hard.max(want))
        .map_err(|e| {
            format!(
                "need {want} file descriptors (soft {soft}, hard {hard}) and cannot raise the \
                 limit: {e}; run as root or raise `ulimit -Hn`"
            )
        })?;
    Ok(())
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(4000);
    s.get(start..).unwrap_or(s)
}

/// The boltgate binary, in its own process, killed on drop.
struct Gate {
    addr: SocketAddr,
    pid: u32,
    child: Child,
    log: PathBuf,
}

impl Gate {
    fn start(bin: &Path, dir: &Path, upstream: SocketAddr, conns: usize) -> Result<Gate, BoxError> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_loopback_port()?).parse()?;
        let config = dir.join("boltgate.conf");
        std::fs::write(
            &config,
            format!(
                "boltgate.upstream.uri=bolt://{upstream}\n\
                 server.bolt.listen_address={addr}\n\
                 server.bolt.tls_level=OPTIONAL\n\
                 dbms.ssl.policy.bolt.enabled=true\n\
                 dbms.ssl.policy.bolt.base_directory={}\n\
                 dbms.ssl.policy.bolt.client_auth=NONE\n\
                 boltgate.client.max_connections={}\n\
                 boltgate.log.level=warn,boltgate::fdlimit=info\n",
                dir.display(),
                conns + 100
            ),
        )?;
        let log = dir.join("boltgate.log");
        let out = std::fs::File::create(&log)?;
        // A soft limit of 1024, as most systems start a process with: boltgate raises it itself.
        let child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -S -n 1024 && exec \"$0\" --config \"$1\"")
            .arg(bin)
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()?;
        let gate = Gate {
            addr,
            pid: child.id(),
            child,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!("boltgate did not listen on {addr}: {}", gate.log()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(gate)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

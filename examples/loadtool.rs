//! Load tool: what boltgate adds to latency and takes from streaming throughput.
//!
//! ```text
//! cargo run --release --example loadtool                      # all four scenarios, 5 s each
//! cargo run --release --example loadtool -- --duration 2 --concurrency 4 --rows 50000 --json
//! cargo run --release --example loadtool -- --upstream bolt://127.0.0.1:7688   # e.g. FalkorDB
//! ```
//!
//! Scenarios, all on loopback and in this one process (client, proxy and server share the cores,
//! so compare ratios, not absolute numbers across machines):
//!
//! | scenario     | client → …                                                            |
//! |--------------|-----------------------------------------------------------------------|
//! | `direct`     | the synthetic server (plaintext)                                      |
//! | `direct-tls` | the synthetic server wrapped in TLS (the baseline for `proxy-tls`)     |
//! | `proxy`      | boltgate (plaintext listener) → the synthetic server                  |
//! | `proxy-tls`  | boltgate (TLS listener, test certificate made now) → the synthetic server |
//!
//! Each measures `RETURN 1` latency at `--concurrency` connections, each running queries one after
//! another (RUN + PULL pipelined) for `--duration` seconds (and at most `--max-queries`), then
//! streaming: `--stream-repeats` runs of a `--rows`-row result of ~1 KiB rows on one connection,
//! reported as MB/s (10^6 bytes of Bolt received by the client per second).
//!
//! With `--upstream`, the synthetic server is not started: `direct` goes to that server and the
//! proxies relay to it; `direct-tls` is skipped. FalkorDB crashes under many fast connections, so
//! the default concurrency there is 4. The streaming query is then Cypher (`UNWIND range(…)`).
//!
//! Test keys are written only into a temporary directory, removed at exit.

use std::error::Error;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use boltgate_testkit::client::{Auth, Client, Outcome};
use boltgate_testkit::proxy::RunningProxy;
use boltgate_testkit::synthetic::{Options, SyntheticServer, DEFAULT_PAYLOAD_LEN};
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

/// Bound on any one connect, handshake or `RETURN 1`.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one streaming query.
const STREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// Queries each connection runs before measuring (connection set-up, caches, TLS session).
const WARMUP_QUERIES: usize = 100;

#[derive(Debug, Parser)]
#[command(about = "Latency and throughput of boltgate against a synthetic Bolt server")]
struct Args {
    /// Seconds of `RETURN 1` per scenario.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Connections running `RETURN 1` at once (default 8; 4 with --upstream).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Upper bound on measured `RETURN 1` queries per scenario.
    #[arg(long, default_value_t = 2_000_000)]
    max_queries: u64,
    /// Rows of ~1 KiB in the streaming result.
    #[arg(long, default_value_t = 200_000)]
    rows: u64,
    /// Streaming runs per scenario (their bytes and times are summed).
    #[arg(long, default_value_t = 3)]
    stream_repeats: u32,
    /// An external server (bolt://host:port) instead of the synthetic one.
    #[arg(long)]
    upstream: Option<String>,
    /// Streaming query to use instead of the default.
    #[arg(long)]
    stream_query: Option<String>,
    /// Basic auth user for --upstream (default: scheme none).
    #[arg(long)]
    user: Option<String>,
    #[arg(long, default_value = "")]
    password: String,
    /// Comma-separated scenarios to run (direct, direct-tls, proxy, proxy-tls, routed).
    #[arg(long, default_value = "direct,direct-tls,proxy,proxy-tls,routed")]
    scenarios: String,
    /// One JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// Where a scenario connects.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    /// The scenario its ratios are against.
    baseline: Option<&'static str>,
    /// RUN with `mode: "r"` (the routed scenario's read-heavy workload).
    read_mode: bool,
}

#[derive(Debug, Default, Clone)]
struct Measured {
    name: &'static str,
    baseline: Option<&'static str>,
    connections: usize,
    queries: u64,
    qps: f64,
    p50_us: f64,
    p99_us: f64,
    stream_bytes: u64,
    stream_rows: u64,
    mb_per_s: f64,
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<(), BoxError> {
    let wanted: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let concurrency = args
        .concurrency
        .unwrap_or(if args.upstream.is_some() { 4 } else { 8 })
        .max(1);
    let auth = match &args.user {
        Some(user) => Auth::Basic {
            user: user.clone(),
            password: args.password.clone(),
        },
        None => Auth::None,
    };
    let dir = tempfile::tempdir()?;
    let pki = Pki::create(dir.path())?;

    // The server(s) at the end of the chain.
    let mut servers = Vec::new();
    let (upstream_uri, direct_addr, stream_query) = match &args.upstream {
        Some(uri) => {
            let hostport = uri
                .strip_prefix("bolt://")
                .ok_or("--upstream must be bolt://host:port")?;
            let addr = tokio::net::lookup_host(hostport)
                .await?
                .next()
                .ok_or("--upstream: no address")?;
            let query = format!(
                "UNWIND range(1, {}) AS i RETURN i AS id, '{}' AS payload, \
                 {{kind: 'synthetic', n: i}} AS props",
                args.rows,
                "x".repeat(DEFAULT_PAYLOAD_LEN)
            );
            (uri.clone(), addr, query)
        }
        None => {
            let plain = SyntheticServer::start().await?;
            let out = (plain.uri(), plain.addr(), format!("ROWS {}", args.rows));
            servers.push(plain);
            out
        }
    };
    let stream_query = args.stream_query.clone().unwrap_or(stream_query);

    let mut targets = Vec::new();
    let mut proxies = Vec::new();
    if wanted.contains(&"direct") {
        targets.push(Target {
            name: "direct",
            addr: direct_addr,
            tls: None,
            baseline: None,
            read_mode: false,
        });
    }
    if wanted.contains(&"direct-tls") && args.upstream.is_none() {
        let tls = SyntheticServer::start_with(Options {
            tls: Some(pki.server.clone()),
            ..Options::default()
        })
        .await?;
        targets.push(Target {
            name: "direct-tls",
            addr: tls.addr(),
            tls: Some(pki.connector()),
            baseline: None,
            read_mode: false,
        });
        servers.push(tls);
    }
    let has = |targets: &[Target], name: &str| targets.iter().any(|t| t.name == name);
    if wanted.contains(&"proxy") {
        let proxy = RunningProxy::start(&format!("boltgate.upstream.uri={upstream_uri}\n")).await?;
        targets.push(Target {
            name: "proxy",
            addr: proxy.addr(),
            tls: None,
            baseline: has(&targets, "direct").then_some("direct"),
            read_mode: false,
        });
        proxies.push(proxy);
    }
    if wanted.contains(&"proxy-tls") {
        let settings = format!(
            "boltgate.upstream.uri={upstream_uri}\n\
             server.bolt.tls_level=REQUIRED\n\
             dbms.ssl.policy.bolt.enabled=true\n\
             dbms.ssl.policy.bolt.base_directory={}\n\
             dbms.ssl.policy.bolt.client_auth=NONE\n",
            dir.path().display()
        );
        let proxy = RunningProxy::start(&settings).await?;
        let baseline = if has(&targets, "direct-tls") {
            Some("direct-tls")
        } else {
            has(&targets, "direct").then_some("direct")
        };
        targets.push(Target {
            name: "proxy-tls",
            addr: proxy.addr(),
            tls: Some(pki.connector()),
            baseline,
            read_mode: false,
        });
        proxies.push(proxy);
    }
    // Routed: boltgate with a static topology (the direct server as writer, two more synthetic
    // servers as readers); every query is a read, so the readers share the work.
    let mut readers = Vec::new();
    if wanted.contains(&"routed") && args.upstream.is_none() {
        for _ in 0..2 {
            readers.push(SyntheticServer::start().await?);
        }
        let settings = format!(
            "boltgate.upstream.uri={upstream_uri}\n\
             boltgate.routing.members=writer={direct_addr},reader={},reader={}\n",
            readers[0].addr(),
            readers[1].addr()
        );
        let proxy = RunningProxy::start(&settings).await?;
        targets.push(Target {
            name: "routed",
            addr: proxy.addr(),
            tls: None,
            baseline: has(&targets, "direct").then_some("direct"),
            read_mode: true,
        });
        proxies.push(proxy);
    }

    let duration = Duration::from_secs_f64(args.duration.clamp(0.1, 600.0));
    let mut results: Vec<Measured> = Vec::new();
    for target in &targets {
        if !args.json {
            eprintln!("measuring {} ...", target.name);
        }
        let mut m = latency(target, &auth, concurrency, duration, args.max_queries).await?;
        let (bytes, rows, mbps) = stream(target, &auth, &stream_query, args.stream_repeats).await?;
        m.stream_bytes = bytes;
        m.stream_rows = rows;
        m.mb_per_s = mbps;
        results.push(m);
    }

    if !readers.is_empty() {
        let (a, b) = (readers[0].runs(), readers[1].runs());
        let spread = format!(
            "routed reader spread: reader 1 ran {a} queries, reader 2 ran {b} ({:.1}% / {:.1}%)",
            100.0 * a as f64 / (a + b).max(1) as f64,
            100.0 * b as f64 / (a + b).max(1) as f64
        );
        eprintln!("{spread}");
    }
    for proxy in proxies {
        proxy.stop().await;
    }
    drop(servers);

    if args.json {
        print_json(&args, concurrency, &results);
    } else {
        print_table(&results);
    }
    Ok(())
}

async fn connect(target: &Target, auth: &Auth) -> Result<Client<Io>, BoxError> {
    let fut = async {
        let tcp = TcpStream::connect(target.addr).await?;
        tcp.set_nodelay(true)?;
        let io = match &target.tls {
            None => Either::Left(tcp),
            Some(connector) => {
                let name = ServerName::try_from("localhost")?;
                Either::Right(connector.connect(name, tcp).await?)
            }
        };
        let mut client = Client::handshake(io, auth).await?;
        client.set_read_mode(target.read_mode);
        Ok::<_, BoxError>(client)
    };
    timeout(OP_TIMEOUT, fut)
        .await
        .map_err(|_| format!("{}: connect timed out", target.name))?
}

async fn return_one(client: &mut Client<Io>) -> Result<(), BoxError> {
    match timeout(OP_TIMEOUT, client.run("RETURN 1")).await?? {
        Outcome::Rows { records: 1, .. } => Ok(()),
        other => Err(format!("RETURN 1: unexpected {other:?}").into()),
    }
}

/// `RETURN 1` on `conns` connections for `duration` (at most `max_queries` in all).
async fn latency(
    target: &Target,
    auth: &Auth,
    conns: usize,
    duration: Duration,
    max_queries: u64,
) -> Result<Measured, BoxError> {
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut client = connect(target, auth).await?;
        for _ in 0..WARMUP_QUERIES {
            return_one(&mut client).await?;
        }
        clients.push(client);
    }
    let per_conn = (max_queries / conns as u64).max(1);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut samples: Vec<u64> = Vec::with_capacity(64 * 1024);
                while (samples.len() as u64) < per_conn && Instant::now() < deadline {
                    let t0 = Instant::now();
                    return_one(&mut client).await?;
                    samples.push(t0.elapsed().as_nanos() as u64);
                }
                let _ = timeout(OP_TIMEOUT, client.goodbye()).await;
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1000.0
    };
    Ok(Measured {
        name: target.name,
        baseline: target.baseline,
        connections: conns,
        queries: all.len() as u64,
        qps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        ..Measured::default()
    })
}

/// `repeats` runs of the streaming query on one connection: (bytes, rows, MB/s).
async fn stream(
    target: &Target,
    auth: &Auth,
    query: &str,
    repeats: u32,
) -> Result<(u64, u64, f64), BoxError> {
    let mut client = connect(target, auth).await?;
    return_one(&mut client).await?;
    let (mut bytes, mut rows, mut secs) = (0u64, 0u64, 0f64);
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        match timeout(STREAM_TIMEOUT, client.run(query)).await?? {
            Outcome::Rows { records, bytes: b } => {
                secs += t0.elapsed().as_secs_f64();
                bytes += b;
                rows += records;
            }
            other => return Err(format!("{}: streaming query: {other:?}", target.name).into()),
        }
    }
    let _ = timeout(OP_TIMEOUT, client.goodbye()).await;
    Ok((bytes, rows, bytes as f64 / secs / 1e6))
}

fn ratios<'a>(m: &Measured, all: &'a [Measured]) -> Option<(&'a Measured, f64, f64)> {
    let base = all.iter().find(|b| Some(b.name) == m.baseline)?;
    Some((base, m.p50_us / base.p50_us, m.mb_per_s / base.mb_per_s))
}

fn print_table(results: &[Measured]) {
    println!(
        "{:<11} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8}   {:<10} {:>9} {:>10}",
        "scenario",
        "conns",
        "queries",
        "qps",
        "p50 µs",
        "p99 µs",
        "MB/s",
        "vs",
        "p50 ratio",
        "MB/s ratio"
    );
    for m in results {
        let (vs, p50r, mbr) = match ratios(m, results) {
            Some((b, p, t)) => (b.name, format!("{p:.3}"), format!("{t:.3}")),
            None => ("-", "-".into(), "-".into()),
        };
        println!(
            "{:<11} {:>5} {:>9} {:>9.0} {:>8.1} {:>8.1} {:>8.1}   {:<10} {:>9} {:>10}",
            m.name, m.connections, m.queries, m.qps, m.p50_us, m.p99_us, m.mb_per_s, vs, p50r, mbr
        );
    }
    for m in results {
        if let Some((b, p50r, mbr)) = ratios(m, results) {
            println!(
                "{} vs {}: p50 {:+.1}% (goal < +10%), streaming {:.1}% of baseline (goal > 90%)",
                m.name,
                b.name,
                (p50r - 1.0) * 100.0,
                mbr * 100.0
            );
        }
    }
    if cfg!(debug_assertions) {
        println!("note: debug build; use --release for meaningful numbers");
    }
}

fn print_json(args: &Args, concurrency: usize, results: &[Measured]) {
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "null".into()
        }
    };
    let items: Vec<String> = results
        .iter()
        .map(|m| {
            let (base, p50r, mbr) = match ratios(m, results) {
                Some((b, p, t)) => (format!("\"{}\"", b.name), num(p), num(t)),
                None => ("null".into(), "null".into(), "null".into()),
            };
            format!(
                "{{\"scenario\":\"{}\",\"connections\":{},\"queries\":{},\"qps\":{},\"p50_us\":{},\
                 \"p99_us\":{},\"stream_rows\":{},\"stream_bytes\":{},\"mb_per_s\":{},\
                 \"baseline\":{},\"p50_ratio\":{},\"mb_per_s_ratio\":{}}}",
                m.name,
                m.connections,
                m.queries,
                num(m.qps),
                num(m.p50_us),
                num(m.p99_us),
                m.stream_rows,
                m.stream_bytes,
                num(m.mb_per_s),
                base,
                p50r,
                mbr
            )
        })
        .collect();
    println!(
        "{{\"duration_s\":{},\"concurrency\":{},\"rows\":{},\"stream_repeats\":{},\
         \"release\":{},\"results\":[{}]}}",
        num(args.duration),
        concurrency,
        args.rows,
        args.stream_repeats,
        !cfg!(debug_assertions),
        items.join(",")
    );
}

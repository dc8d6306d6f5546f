//! Load tool: boltgate next to a direct connection and two blind relays, on the workloads of
//! issue 17, as ratios to direct.
//!
//! ```text
//! cargo build --release --bin boltgate --example loadtool
//! ./target/release/examples/loadtool                     # everything, median of 3 runs
//! ./target/release/examples/loadtool --runs 1 --workloads small,return1 --no-tls --json
//! ./target/release/examples/loadtool --pin              # the proxies on CPU 1, the load on CPU 0
//! ./target/release/examples/loadtool --pin --busy-polling   # boltgate and HAProxy never sleep
//! ./target/release/examples/loadtool --serve-synthetic   # prints its address, serves until killed
//! ./target/release/examples/loadtool --proxy 127.0.0.1:7687 --proxy-rows 100000   # one stream
//! ```
//!
//! The synthetic Bolt server and the client run in this process; every proxy is a process of
//! its own on a free loopback port, relaying to the same synthetic server:
//!
//! | scenario     | client → …                                                                  |
//! |--------------|-----------------------------------------------------------------------------|
//! | `direct`     | the synthetic server                                                        |
//! | `boltgate`   | the release `boltgate` binary (beside this example, or `--boltgate PATH`)  |
//! | `haproxy`    | Debian's `haproxy`, `mode tcp`                                              |
//! | `nginx`      | Debian's `nginx`, `stream` module (package libnginx-mod-stream)             |
//! | `routed`     | boltgate with a static topology (`boltgate.routing.members`, one writer)    |
//! | `pooled`     | boltgate with transaction pooling (`boltgate.pool.mode=transaction`, `--pool-size`) |
//! | `pooled-tls` | unlike the other `*-tls`: plaintext clients, the pool dialling a TLS upstream (the synthetic server speaking TLS); its baseline is `direct-tls`, clients doing TLS to that upstream themselves |
//! | `*-tls`      | the same, the proxy terminating TLS (test certificate made now); `direct-tls` is the synthetic server speaking TLS itself |
//!
//! A missing haproxy or nginx (or its stream module) skips its scenarios with a line saying so.
//! Workloads (`--workloads`): `small` (one stream of 12-byte RECORDs), `wide` (~1 KiB rows),
//! `first` (median time from writing RUN + PULL to reading the first RECORD), `return1`
//! (`RETURN 1` throughput on `--concurrency` connections), `connect` (TCP [+ TLS] + Bolt
//! handshake + HELLO + LOGON per second, `--connect-parallel` at once). Each workload runs
//! `--runs` times, the scenarios interleaved within each run; each run's value is divided by
//! its baseline's in the same run and the median of those ratios is reported. The machine's
//! load average goes with the results: compare ratios, never absolute numbers.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boltgate_testkit::cpu;
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use clap::Parser;

mod bolt;
#[path = "../support/pki.rs"]
mod pki;
mod relays;
mod report;
mod workloads;

use bolt::Endpoint;
use relays::{Relay, Started};
use report::{Report, Series};
use workloads::{Params, Workload};

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(about = "boltgate, HAProxy and nginx against a direct connection, as ratios")]
struct Args {
    /// Runs of every workload (scenarios interleaved within a run); the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Comma-separated scenarios: direct, boltgate, haproxy, haproxy-splice (plaintext, with
    /// `option splice-request` and `splice-response`), nginx, routed, pooled.
    #[arg(long, default_value = "direct,boltgate,haproxy,nginx,routed")]
    scenarios: String,
    /// Comma-separated workloads: small, wide, first, return1, connect.
    #[arg(long, default_value = "small,wide,first,return1,connect")]
    workloads: String,
    /// Leave out the TLS scenarios.
    #[arg(long)]
    no_tls: bool,
    /// Rows in the `small` stream (12-byte RECORDs, 16 bytes on the wire).
    #[arg(long, default_value_t = 10_000_000)]
    small_rows: u64,
    /// Rows in the `wide` stream (~1 KiB each).
    #[arg(long, default_value_t = 500_000)]
    wide_rows: u64,
    /// Rows (~1 KiB) of each stream whose first RECORD is timed.
    #[arg(long, default_value_t = 1000)]
    first_rows: u64,
    /// Streams timed per run of `first`.
    #[arg(long, default_value_t = 200)]
    first_samples: usize,
    /// Connections running `RETURN 1` at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// `boltgate.pool.max_size` of the `pooled` scenarios.
    #[arg(long, default_value_t = 16)]
    pool_size: usize,
    /// Connections being opened at once in `connect`.
    #[arg(long, default_value_t = 8)]
    connect_parallel: usize,
    /// Seconds of `return1` and of `connect` per scenario and run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// The boltgate binary (default: `boltgate` in the directory above this example's).
    #[arg(long)]
    boltgate: Option<PathBuf>,
    /// HAProxy (a missing binary skips its scenarios).
    #[arg(long, default_value = relays::HAPROXY)]
    haproxy: PathBuf,
    /// nginx with the `stream` module (a missing binary or module skips its scenarios).
    #[arg(long, default_value = relays::NGINX)]
    nginx: PathBuf,
    /// An external Bolt server (host:port, no auth, e.g. FalkorDB) instead of the synthetic one;
    /// the queries become Cypher and the TLS scenarios are left out. FalkorDB 4.16 crashed under
    /// `return1` with `--concurrency 2` here: give it `--workloads small,wide,first`.
    #[arg(long)]
    upstream: Option<String>,
    /// Give the proxy a CPU of its own: this process (client and synthetic server) on the first
    /// CPU, every proxy on the others (`taskset`), so a ratio says whether the proxy keeps up
    /// rather than how it shares two cores with the load. Needs 2 CPUs or more.
    #[arg(long)]
    pin: bool,
    /// Busy polling where a proxy has it: `boltgate.runtime.busy_polling=true` for every
    /// boltgate scenario, `busy-polling` for HAProxy (nginx has no such setting). Those proxies
    /// then keep their CPUs busy, and their CPU per operation says little.
    #[arg(long)]
    busy_polling: bool,
    /// A `key=value` line added to every boltgate scenario's configuration, e.g.
    /// `dbms.ssl.policy.bolt.ciphers=TLS_AES_128_GCM_SHA256`; not one the load tool writes itself
    /// (boltgate refuses a setting given twice). Repeatable.
    #[arg(long = "boltgate-setting", value_name = "KEY=VALUE")]
    boltgate_settings: Vec<String>,
    /// Print one JSON document on stdout (the markdown table then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Only serve the synthetic server: print its address, serve until killed.
    #[arg(long)]
    serve_synthetic: bool,
    /// Only stream `--proxy-rows` small rows once through this address (e.g. a boltgate under
    /// valgrind), print `records bytes`, and exit.
    #[arg(long)]
    proxy: Option<SocketAddr>,
    #[arg(long, default_value_t = 100_000)]
    proxy_rows: u64,
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if args.busy_polling {
        relays::set_busy_polling();
    }
    if let Some(bad) = args.boltgate_settings.iter().find(|s| !s.contains('=')) {
        return Err(format!("--boltgate-setting {bad:?}: expected KEY=VALUE").into());
    }
    relays::set_boltgate_settings(&args.boltgate_settings);
    if args.pin {
        // Before the runtime starts: its threads inherit this thread's CPU set.
        relays::pin_load_tool()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        if args.serve_synthetic {
            let server = SyntheticServer::start().await?;
            println!("{}", server.addr());
            std::future::pending::<()>().await;
        }
        if let Some(addr) = args.proxy {
            return proxy_only(addr, args.proxy_rows).await;
        }
        run(args).await
    })
}

/// One stream of small rows through an external proxy (for examples/record_cost.sh).
async fn proxy_only(addr: SocketAddr, rows: u64) -> Result<(), BoxError> {
    let endpoint = Endpoint { addr, tls: None };
    let mut conn = bolt::Conn::open(&endpoint).await?;
    let got = conn.run(&format!("SMALL_ROWS {rows}")).await?;
    if got.records != rows {
        return Err(format!("{} records, expected {rows}", got.records).into());
    }
    println!("{} {}", got.records, got.bytes);
    Ok(())
}

/// A scenario of the run.
struct Scenario {
    name: String,
    endpoint: Endpoint,
    baseline: &'static str,
    tls: bool,
}

async fn run(args: Args) -> Result<(), BoxError> {
    let wanted = wanted_scenarios(&args.scenarios)?;
    let chosen = chosen_workloads(&args.workloads)?;
    let tls = !args.no_tls && args.upstream.is_none();
    if args.busy_polling {
        one_busy_proxy(&wanted, tls)?;
    }
    let dir = tempfile::tempdir()?;
    let pki = pki::Pki::create(dir.path())?;
    let lineup = Lineup::start(&args, &wanted, tls, dir.path(), &pki).await?;
    for line in &lineup.skipped {
        eprintln!("skipped {line}");
    }
    let params = Params {
        small_rows: args.small_rows,
        wide_rows: args.wide_rows,
        first_rows: args.first_rows,
        first_samples: args.first_samples,
        concurrency: args.concurrency,
        connect_parallel: args.connect_parallel,
        duration: Duration::from_secs_f64(args.duration.clamp(0.1, 600.0)),
        cypher: args.upstream.is_some(),
    };
    let load_before = report::loadavg();
    let runs = args.runs.max(1);
    let results = measure_all(&chosen, &lineup, &params, runs).await?;
    // Every proxy and server stopped before the load average after is read.
    let Lineup {
        relays,
        servers,
        skipped,
        ..
    } = lineup;
    drop((relays, servers));
    let report = Report {
        params,
        runs,
        skipped,
        load_before,
        load_after: report::loadavg(),
        results,
    };
    print_report(&report, args.json)
}

/// `--scenarios`, every name checked.
/// Every proxy of a run is up for the whole run, and a spinning one takes the proxies' CPU from
/// the others: `--busy-polling` measures one proxy beside direct. boltgate's plaintext and TLS
/// scenarios are one process; any other proxy's TLS scenario is a second one.
fn one_busy_proxy(wanted: &[&str], tls: bool) -> Result<(), BoxError> {
    let proxies: Vec<&str> = wanted.iter().copied().filter(|s| *s != "direct").collect();
    match proxies.as_slice() {
        ["boltgate"] => Ok(()),
        ["haproxy" | "routed" | "pooled" | "nginx"] if tls => Err(format!(
            "--busy-polling with {} needs --no-tls (its TLS scenario is a second process)",
            proxies[0]
        )
        .into()),
        [_] => Ok(()),
        _ => Err(format!(
            "--busy-polling measures one proxy beside direct (a spinning proxy takes the CPU \
             from the others): --scenarios direct,<one of boltgate, haproxy, routed, pooled>, not {}",
            proxies.join(",")
        )
        .into()),
    }
}

fn wanted_scenarios(list: &str) -> Result<Vec<&str>, BoxError> {
    const KNOWN: [&str; 7] = [
        "direct",
        "boltgate",
        "haproxy",
        "haproxy-splice",
        "nginx",
        "routed",
        "pooled",
    ];
    let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
    if let Some(bad) = wanted.iter().find(|w| !KNOWN.contains(w)) {
        return Err(format!("--scenarios: unknown {bad:?} ({})", KNOWN.join(", ")).into());
    }
    Ok(wanted)
}

/// `--workloads`, in the order given.
fn chosen_workloads(list: &str) -> Result<Vec<Workload>, BoxError> {
    list.split(',')
        .map(str::trim)
        .map(|key| {
            Workload::ALL
                .into_iter()
                .find(|w| w.key() == key)
                .ok_or_else(|| {
                    format!("--workloads: unknown {key:?} (small, wide, first, return1, connect)")
                        .into()
                })
        })
        .collect()
}

/// The scenarios of the run, with what they need running. Every process is held by its guard:
/// stopped by pid when the lineup drops, error or not.
struct Lineup {
    /// In the order of the report's table: plaintext first, then TLS.
    scenarios: Vec<Scenario>,
    relays: Vec<Relay>,
    /// The servers at the end of every chain (kept alive until the end of the run).
    servers: Vec<SyntheticServer>,
    skipped: Vec<String>,
}

impl Lineup {
    async fn start(
        args: &Args,
        wanted: &[&str],
        tls: bool,
        dir: &Path,
        pki: &pki::Pki,
    ) -> Result<Lineup, BoxError> {
        let mut lineup = Lineup {
            scenarios: Vec::new(),
            relays: Vec::new(),
            servers: Vec::new(),
            skipped: Vec::new(),
        };
        let upstream = lineup.upstream(args).await?;
        if wanted.contains(&"direct") {
            lineup.add("direct", plain(upstream), false);
        }
        let bin = args.boltgate.clone().or_else(relays::default_boltgate_bin);
        let boltgate_addr = match (&bin, wanted.contains(&"boltgate")) {
            (Some(bin), true) => {
                let relay = relays::boltgate(bin, dir, "boltgate", upstream, "")?;
                let addr = relay.addr;
                lineup.relays.push(relay);
                lineup.add("boltgate", plain(addr), false);
                Some(addr)
            }
            (None, true) => {
                lineup.skipped.push("boltgate: binary not found (cargo build --release --bin boltgate, or --boltgate PATH)".to_string());
                None
            }
            _ => None,
        };
        let blind = lineup.start_blind(args, wanted, tls, dir, upstream)?;
        for (label, addr, tls_too) in &blind {
            if !tls_too {
                lineup.add(label, plain(*addr), false);
            }
        }
        let pool = format!(
            "boltgate.pool.mode=transaction\nboltgate.pool.max_size={}\nboltgate.client.max_connections=10000\n",
            args.pool_size
        );
        if let (Some(bin), true) = (&bin, wanted.contains(&"pooled")) {
            let relay = relays::boltgate(bin, dir, "pooled", upstream, &pool)?;
            lineup.add("pooled", plain(relay.addr), false);
            lineup.relays.push(relay);
        }
        if let (Some(bin), true) = (&bin, wanted.contains(&"routed")) {
            let members = format!("boltgate.routing.members=writer={upstream}\n");
            let relay = relays::boltgate(bin, dir, "routed", upstream, &members)?;
            lineup.add("routed", plain(relay.addr), false);
            lineup.relays.push(relay);
        } else if bin.is_none() && wanted.contains(&"routed") {
            lineup
                .skipped
                .push("routed: the boltgate binary was not found (see boltgate)".to_string());
        }
        if tls {
            if wanted.contains(&"direct") {
                let server = SyntheticServer::start_with(Options {
                    tls: Some(pki.server.clone()),
                    ..Options::default()
                })
                .await?;
                lineup.add("direct-tls", secure(server.addr(), pki), true);
                if let (Some(bin), true) = (&bin, wanted.contains(&"pooled")) {
                    let uri = format!("bolt+ssc://{}", server.addr());
                    let relay = relays::boltgate_to(bin, dir, "pooled-tls", &uri, &pool)?;
                    // Plaintext clients, measured against clients doing TLS themselves.
                    lineup.scenarios.push(Scenario {
                        name: "pooled-tls".to_string(),
                        endpoint: plain(relay.addr),
                        baseline: "direct-tls",
                        tls: true,
                    });
                    lineup.relays.push(relay);
                }
                lineup.servers.push(server);
            }
            if let Some(addr) = boltgate_addr {
                lineup.add("boltgate-tls", secure(addr, pki), true);
            }
            for (label, addr, tls_too) in &blind {
                if *tls_too {
                    lineup.add(label, secure(*addr, pki), true);
                }
            }
        }
        Ok(lineup)
    }

    /// `--upstream`, or a synthetic server started now.
    async fn upstream(&mut self, args: &Args) -> Result<SocketAddr, BoxError> {
        Ok(match &args.upstream {
            Some(hostport) => tokio::net::lookup_host(hostport.as_str())
                .await?
                .next()
                .ok_or("--upstream: no address")?,
            None => {
                let server = SyntheticServer::start().await?;
                let addr = server.addr();
                self.servers.push(server);
                addr
            }
        })
    }

    /// HAProxy and nginx, plaintext and (with `tls`) terminating TLS: (label, address, tls) of
    /// each one running; a missing one is noted in `skipped`.
    fn start_blind(
        &mut self,
        args: &Args,
        wanted: &[&str],
        tls: bool,
        dir: &Path,
        upstream: SocketAddr,
    ) -> Result<Vec<(String, SocketAddr, bool)>, BoxError> {
        let mut blind = Vec::new();
        for (name, tls_too) in [
            ("haproxy", false),
            ("haproxy-splice", false),
            ("nginx", false),
            ("haproxy", true),
            ("nginx", true),
        ] {
            if !wanted.contains(&name) || (tls_too && !tls) {
                continue;
            }
            let started = match name {
                "haproxy" => relays::haproxy(&args.haproxy, dir, upstream, tls_too, false)?,
                "haproxy-splice" => relays::haproxy(&args.haproxy, dir, upstream, false, true)?,
                _ => relays::nginx(&args.nginx, dir, upstream, tls_too)?,
            };
            let label = if tls_too {
                format!("{name}-tls")
            } else {
                name.to_string()
            };
            match started {
                Started::Running(relay) => {
                    blind.push((label, relay.addr, tls_too));
                    self.relays.push(relay);
                }
                Started::Skipped(why) => self.skipped.push(format!("{label}: {why}")),
            }
        }
        Ok(blind)
    }

    fn add(&mut self, name: &str, endpoint: Endpoint, tls: bool) {
        self.scenarios.push(Scenario {
            name: name.to_string(),
            endpoint,
            baseline: if tls { "direct-tls" } else { "direct" },
            tls,
        })
    }
}

fn plain(addr: SocketAddr) -> Endpoint {
    Endpoint { addr, tls: None }
}

fn secure(addr: SocketAddr, pki: &pki::Pki) -> Endpoint {
    Endpoint {
        addr,
        tls: Some(pki.connector()),
    }
}

/// Every workload `runs` times, the scenarios interleaved within each run so that a change in
/// the machine's load hits them all alike.
async fn measure_all(
    chosen: &[Workload],
    lineup: &Lineup,
    params: &Params,
    runs: usize,
) -> Result<Vec<(Workload, Vec<Series>)>, BoxError> {
    let mut results = Vec::new();
    for &workload in chosen {
        let mut series: Vec<Series> = lineup
            .scenarios
            .iter()
            .map(|s| Series {
                scenario: s.name.clone(),
                baseline: s.baseline.to_string(),
                tls: s.tls,
                values: Vec::new(),
                cpu_per_op: Vec::new(),
            })
            .collect();
        for round in 1..=runs {
            for (s, out) in lineup.scenarios.iter().zip(series.iter_mut()) {
                eprintln!("{} run {round}/{runs}: {}", workload.key(), s.name);
                // The proxy in front of this endpoint (none for direct).
                let pid = lineup
                    .relays
                    .iter()
                    .find(|r| r.addr == s.endpoint.addr)
                    .map(Relay::pid);
                let cpu_before = pid.and_then(cpu::on_cpu_ns);
                let measured = workloads::measure(workload, &s.endpoint, params)
                    .await
                    .map_err(|e| {
                        format!(
                            "{} on {}: {e}{}",
                            workload.key(),
                            s.name,
                            logs(&lineup.relays)
                        )
                    })?;
                let cpu = match (cpu_before, pid.and_then(cpu::on_cpu_ns)) {
                    (Some(a), Some(b)) if measured.ops > 0 && b >= a => {
                        let per = workload.op().1;
                        Some((b - a) as f64 / 1e3 / (measured.ops as f64 / per))
                    }
                    _ => None,
                };
                out.values.push(measured.value);
                out.cpu_per_op.push(cpu);
            }
        }
        results.push((workload, series));
    }
    Ok(results)
}

/// The markdown table on stdout, or the JSON there and the table on stderr.
fn print_report(report: &Report, json: bool) -> Result<(), BoxError> {
    let mut table = report.markdown();
    table.push_str(&format!(
        "load average before {}, after {}\n",
        report.load_before, report.load_after
    ));
    for line in &report.skipped {
        table.push_str(&format!("skipped {line}\n"));
    }
    if json {
        // The table still goes to stderr, so one run gives both.
        println!("{}", serde_json::to_string_pretty(&report.json())?);
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    if cfg!(debug_assertions) {
        eprintln!("note: debug build; build with --release for meaningful numbers");
    }
    Ok(())
}

/// The proxies' log tails, for an error message.
fn logs(relays: &[Relay]) -> String {
    relays
        .iter()
        .map(|r| format!("\n--- pid {} log ---\n{}", r.pid(), r.log()))
        .collect()
}

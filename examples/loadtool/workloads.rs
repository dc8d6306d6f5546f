//! The workloads issue 17 names, each one number per scenario and run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::timeout;

use crate::bolt::{Conn, Endpoint, RunResult};
use crate::BoxError;

/// Bound on one query (a whole stream included).
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// `RETURN 1` per connection before the measured part (buffers grown, caches warm).
const WARMUP_QUERIES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    SmallRows,
    WideRows,
    FirstRecord,
    ReturnOne,
    Connect,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::SmallRows,
        Workload::WideRows,
        Workload::FirstRecord,
        Workload::ReturnOne,
        Workload::Connect,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Workload::SmallRows => "small",
            Workload::WideRows => "wide",
            Workload::FirstRecord => "first",
            Workload::ReturnOne => "return1",
            Workload::Connect => "connect",
        }
    }

    /// The measured quantity, for the table (ratios of it are reported).
    pub fn label(self, p: &Params) -> String {
        match self {
            Workload::SmallRows => format!("streaming {} 12-byte rows (MB/s)", p.small_rows),
            Workload::WideRows => format!("streaming {} ~1 KiB rows (MB/s)", p.wide_rows),
            Workload::FirstRecord => format!(
                "first RECORD of a {}-row stream (median latency; lower is better)",
                p.first_rows
            ),
            Workload::ReturnOne => format!("C={} `RETURN 1` (queries/s)", p.concurrency),
            Workload::Connect => format!(
                "connect + handshake + HELLO + LOGON, {} in parallel (per s)",
                p.connect_parallel
            ),
        }
    }

    /// Whether a higher number is better (throughput) or worse (latency).
    pub fn higher_is_better(self) -> bool {
        self != Workload::FirstRecord
    }

    /// What the proxy's CPU is counted per, with how many of them (per 1,000 rows: a row
    /// costs a fraction of a microsecond).
    pub fn op(self) -> (&'static str, f64) {
        match self {
            Workload::SmallRows | Workload::WideRows => ("1,000 rows", 1000.0),
            Workload::FirstRecord => ("stream", 1.0),
            Workload::ReturnOne => ("query", 1.0),
            Workload::Connect => ("connection", 1.0),
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Workload::SmallRows | Workload::WideRows => "MB/s",
            Workload::FirstRecord => "us",
            Workload::ReturnOne => "queries/s",
            Workload::Connect => "connections/s",
        }
    }
}

/// Sizes and durations of the workloads.
#[derive(Debug, Clone)]
pub struct Params {
    pub small_rows: u64,
    pub wide_rows: u64,
    pub first_rows: u64,
    pub first_samples: usize,
    pub concurrency: usize,
    pub connect_parallel: usize,
    pub duration: Duration,
    /// Queries for a real server (`--upstream`): Cypher instead of the synthetic keywords.
    pub cypher: bool,
}

impl Params {
    pub fn small_query(&self, rows: u64) -> String {
        if self.cypher {
            format!("UNWIND range(1, {rows}) AS i RETURN i")
        } else {
            format!("SMALL_ROWS {rows}")
        }
    }

    pub fn wide_query(&self, rows: u64) -> String {
        if self.cypher {
            format!(
                "UNWIND range(1, {rows}) AS i RETURN i AS id, '{}' AS payload, \
                 {{kind: 'synthetic', n: i}} AS props",
                "x".repeat(980)
            )
        } else {
            format!("ROWS {rows}")
        }
    }
}

/// One measurement: the workload's value, and how many of its operations (see
/// [`Workload::op`]) the proxy handled for it.
pub struct Measured {
    pub value: f64,
    pub ops: u64,
}

/// One measurement of `workload` against `endpoint`.
pub async fn measure(
    workload: Workload,
    endpoint: &Endpoint,
    p: &Params,
) -> Result<Measured, BoxError> {
    let (value, ops) = match workload {
        Workload::SmallRows => (
            stream(endpoint, &p.small_query(p.small_rows), p.small_rows).await?,
            p.small_rows,
        ),
        Workload::WideRows => (
            stream(endpoint, &p.wide_query(p.wide_rows), p.wide_rows).await?,
            p.wide_rows,
        ),
        Workload::FirstRecord => (
            first_record(endpoint, p).await?,
            p.first_samples.max(1) as u64,
        ),
        Workload::ReturnOne => return_one(endpoint, p.concurrency, p.duration).await?,
        Workload::Connect => connect_rate(endpoint, p.connect_parallel, p.duration).await?,
    };
    Ok(Measured { value, ops })
}

async fn query(conn: &mut Conn, text: &str) -> Result<RunResult, BoxError> {
    timeout(QUERY_TIMEOUT, conn.run(text))
        .await
        .map_err(|_| format!("{text}: no answer in {QUERY_TIMEOUT:?}"))?
}

async fn warm(endpoint: &Endpoint) -> Result<Conn, BoxError> {
    let mut conn = Conn::open(endpoint).await?;
    for _ in 0..WARMUP_QUERIES {
        query(&mut conn, "RETURN 1").await?;
    }
    Ok(conn)
}

/// One stream of `rows` rows on a warm connection: MB/s (10^6 Bolt bytes received per second).
pub async fn stream(endpoint: &Endpoint, text: &str, rows: u64) -> Result<f64, BoxError> {
    let mut conn = warm(endpoint).await?;
    let t0 = Instant::now();
    let got = query(&mut conn, text).await?;
    let secs = t0.elapsed().as_secs_f64();
    if got.records != rows {
        return Err(format!("{text}: {} records, expected {rows}", got.records).into());
    }
    Ok(got.bytes as f64 / secs / 1e6)
}

/// Median time to the first RECORD over `first_samples` streams, in µs.
async fn first_record(endpoint: &Endpoint, p: &Params) -> Result<f64, BoxError> {
    let mut conn = warm(endpoint).await?;
    let text = p.wide_query(p.first_rows);
    let mut samples = Vec::with_capacity(p.first_samples);
    for _ in 0..p.first_samples.max(1) {
        let got = query(&mut conn, &text).await?;
        let first = got
            .first_record
            .ok_or_else(|| format!("{text}: no RECORD"))?;
        samples.push(first.as_secs_f64() * 1e6);
    }
    Ok(crate::report::median(&mut samples))
}

/// `RETURN 1` on `conns` connections, each one query after another, for `duration`: queries/s
/// and the number of queries.
async fn return_one(
    endpoint: &Endpoint,
    conns: usize,
    duration: Duration,
) -> Result<(f64, u64), BoxError> {
    let mut warmed = Vec::with_capacity(conns);
    for _ in 0..conns.max(1) {
        warmed.push(warm(endpoint).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = warmed
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let got = query(&mut conn, "RETURN 1").await?;
                    if got.records != 1 {
                        return Err::<u64, BoxError>("RETURN 1: no record".into());
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((total as f64 / start.elapsed().as_secs_f64(), total))
}

/// New connections (TCP, TLS if any, Bolt handshake, HELLO, LOGON), `parallel` at a time, for
/// `duration`: connections/s and the number of connections. Each is closed (with a reset) once
/// LOGON succeeded.
async fn connect_rate(
    endpoint: &Endpoint,
    parallel: usize,
    duration: Duration,
) -> Result<(f64, u64), BoxError> {
    // One first, so a broken scenario fails here rather than inside the tasks.
    drop(Conn::open(endpoint).await?);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let endpoint = endpoint.clone();
            let done = done.clone();
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    drop(Conn::open(&endpoint).await?);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let done = done.load(Ordering::Relaxed);
    Ok((done as f64 / start.elapsed().as_secs_f64(), done + 1))
}

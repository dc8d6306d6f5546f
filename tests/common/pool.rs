//! Transaction pooling's test set-up (issue 18), shared by tests/pool*.rs: a pooling boltgate
//! in-process in front of the synthetic server, which writes that server saw committed, how
//! many connections a server's port has (`ss`), and the pool's metrics.
//!
//! Why here: every pooling test starts the same pair and asks the same questions of it, with
//! each driver; written once, a change to the settings or to the check reaches every driver.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use boltgate_proto::message::sig;
use boltgate_testkit::proxy::RunningProxy;
use boltgate_testkit::synthetic::{Options, SyntheticServer};

/// A pooling boltgate's settings: `upstream`, transaction mode, `max_size`, room for 1000
/// clients, then `extra` (neo4j.conf lines).
pub fn settings(upstream: &str, max_size: usize, extra: &str) -> String {
    format!(
        "boltgate.upstream.uri={upstream}\n\
         boltgate.pool.mode=transaction\nboltgate.pool.max_size={max_size}\n\
         boltgate.client.max_connections=1000\n{extra}"
    )
}

/// A pooling boltgate in-process (see [`settings`]).
pub async fn proxy(upstream: &str, max_size: usize, extra: &str) -> RunningProxy {
    RunningProxy::start(&settings(upstream, max_size, extra))
        .await
        .unwrap_or_else(|e| panic!("boltgate: {e}"))
}

/// The synthetic server recording every message, behind a pooling boltgate of `max_size` whose
/// units wait up to 60 s for a connection (so 200 clients through 16 never time out).
pub async fn recording_server_behind_pool(max_size: usize) -> (SyntheticServer, RunningProxy) {
    let server = SyntheticServer::start_with(Options {
        record: true,
        ..Options::default()
    })
    .await
    .expect("synthetic server");
    let proxy = proxy(
        &server.uri(),
        max_size,
        "boltgate.pool.acquire_timeout=60s\n",
    )
    .await;
    (server, proxy)
}

/// Write transactions (`RETURN n`, n % 1000 < 500: the drivers' pool clients' numbering) the
/// synthetic server saw committed on the connection that ran them: the RUN, then (after its
/// PULL) a COMMIT on the same connection. Panics on a write followed by anything else.
pub fn committed_writes(server: &SyntheticServer) -> u32 {
    let mut by_conn: HashMap<u64, Vec<(u8, Option<String>)>> = HashMap::new();
    for r in server.received() {
        by_conn
            .entry(r.connection)
            .or_default()
            .push((r.message.signature(), r.query()));
    }
    let mut committed = 0;
    for messages in by_conn.values() {
        for (i, (_, query)) in messages.iter().enumerate() {
            let Some(n) = query.as_deref().and_then(|q| q.strip_prefix("RETURN ")) else {
                continue;
            };
            let n: u32 = n.parse().expect("a number");
            if n % 1000 >= 500 {
                continue; // a read
            }
            let next = messages[i + 1..]
                .iter()
                .map(|(s, _)| *s)
                .find(|s| *s != sig::PULL && *s != sig::DISCARD);
            assert_eq!(next, Some(sig::COMMIT), "write {n} was not committed");
            committed += 1;
        }
    }
    committed
}

/// Established TCP connections whose local port is `port` (the server's side), from `ss`.
pub fn server_connections(port: u16) -> Option<usize> {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "established",
            &format!("( sport = :{port} )"),
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).lines().count())
}

/// Samples a server port's connections every 10 ms in a thread until [`PeakSampler::stop`]:
/// a lower bound of the peak, so an assertion on it can miss a peak but never invent one.
pub struct PeakSampler {
    done: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl PeakSampler {
    /// Panics when `ss` cannot count (it is needed to see the server's side).
    pub fn start(port: u16) -> PeakSampler {
        assert!(
            server_connections(port).is_some(),
            "`ss` is needed to count the server's connections"
        );
        let done = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (done, peak) = (done.clone(), peak.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Some(n) = server_connections(port) {
                        peak.fetch_max(n, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        PeakSampler {
            done,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the most connections seen at once.
    pub fn stop(mut self) -> usize {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakSampler {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// The value of the pool metric `name` (e.g. `boltgate_pool_connections`) on the admin
/// endpoint at `admin`.
pub fn metric(admin: SocketAddr, name: &str) -> f64 {
    let m = super::admin::scrape(admin);
    super::admin::value(&m, name, &[])
}

/// The admin endpoint's settings (plain HTTP on `admin`), for a pooling boltgate's metrics.
pub fn admin_settings(admin: SocketAddr) -> String {
    format!("server.http.enabled=true\nserver.http.listen_address={admin}\n")
}

/// The boltgate binary pooling in front of `db`'s Bolt port (`max_size` connections, units
/// waiting up to 60 s, debug log), with its admin endpoint on `admin` and the upstream TCP probe
/// off: that probe is a connection outside the pool, one more for an instant, and these tests
/// count the server's connections. `extra` settings come last.
pub fn falkordb_pool_gate(
    db: &super::FalkorDb,
    max_size: usize,
    admin: SocketAddr,
    extra: &[(&str, &str)],
) -> super::Boltgate {
    let (uri, size, admin) = (db.bolt_uri(), max_size.to_string(), admin.to_string());
    let mut settings = vec![
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", size.as_str()),
        ("boltgate.pool.acquire_timeout", "60s"),
        ("boltgate.log.level", "boltgate=debug,info"),
        ("boltgate.upstream.probe_interval", "0"),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", admin.as_str()),
    ];
    settings.extend_from_slice(extra);
    super::Boltgate::start(&settings)
}

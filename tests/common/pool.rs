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

/// The boltgate binary pooling in front of `uri` (FalkorDB's Bolt port, or a counting
/// [`super::tap::Tap`] in front of it; `max_size` connections, units waiting up to 60 s, debug
/// log), with its admin endpoint on `admin` and the upstream TCP probe off: that probe is a
/// connection outside the pool, one more for an instant, and these tests count the server's
/// connections. `extra` settings come last.
pub fn falkordb_pool_gate(
    uri: &str,
    max_size: usize,
    admin: SocketAddr,
    extra: &[(&str, &str)],
) -> super::Boltgate {
    let (size, admin) = (max_size.to_string(), admin.to_string());
    let mut settings = vec![
        ("boltgate.upstream.uri", uri),
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

//! Transaction pooling (issue 18) as the official Python driver sees it: many clients, each with
//! its own driver, run read and write transactions through a pooling boltgate; every write is
//! found on the server and the server never has more connections than the pool allows.
//!
//! Two servers, two scales. The synthetic server takes 200 clients through a pool of 16.
//! FalkorDB 4.16 crashes with 4 or more busy connections at once, so it gets a pool of 2 and 12
//! clients: the pool is what keeps it alive (direct, 12 busy drivers would crash it).

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use boltgate_proto::message::sig;
use boltgate_testkit::proxy::RunningProxy;
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use common::{Boltgate, FalkorDb};

const PY_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    let server = SyntheticServer::start_with(Options {
        record: true,
        ..Options::default()
    })
    .await
    .expect("synthetic server");
    let settings = format!(
        "boltgate.upstream.uri={}\nboltgate.pool.mode=transaction\nboltgate.pool.max_size=16\n\
         boltgate.pool.acquire_timeout=60s\nboltgate.client.max_connections=1000\n",
        server.uri()
    );
    let proxy = RunningProxy::start(&settings).await.expect("boltgate");
    let uri = format!("bolt://{}", proxy.addr());
    let (clients, rounds) = (200u32, 2u32);
    let out = tokio::task::spawn_blocking(move || {
        common::run_py(
            "pool_clients.py",
            &[
                &uri,
                "--synthetic",
                "--clients",
                &clients.to_string(),
                "--rounds",
                &rounds.to_string(),
            ],
            PY_TIMEOUT,
        )
    })
    .await
    .expect("python");
    assert_eq!(out["writes"], clients * rounds, "{out}");
    assert_eq!(out["reads"], clients * rounds, "{out}");

    assert_eq!(
        committed_writes(&server),
        clients * rounds,
        "every write reached the server and was committed"
    );
    let max = server.max_open_connections();
    assert!(max <= 16, "the server saw {max} connections at once");
}

/// Write transactions (`RETURN n`, n % 1000 < 500) the synthetic server saw committed on the
/// connection that ran them: the RUN, then (after its PULL) a COMMIT on the same connection.
fn committed_writes(server: &SyntheticServer) -> u32 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    let server = SyntheticServer::start_with(Options {
        record: true,
        ..Options::default()
    })
    .await
    .expect("synthetic server");
    let settings = format!(
        "boltgate.upstream.uri={}\nboltgate.pool.mode=transaction\nboltgate.pool.max_size=16\n\
         boltgate.pool.acquire_timeout=60s\nboltgate.client.max_connections=1000\n",
        server.uri()
    );
    let proxy = RunningProxy::start(&settings).await.expect("boltgate");
    let uri = format!("bolt://{}", proxy.addr());
    let (clients, rounds) = (200u32, 2u32);
    let captured = tokio::task::spawn_blocking(move || {
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let mut cmd = Command::new("node");
        cmd.arg(js.join("pool_clients.mjs"))
            .args([uri, clients.to_string(), rounds.to_string()])
            .current_dir(&js);
        common::run_captured("node pool_clients.mjs", &mut cmd, PY_TIMEOUT)
            .expect("node runs (tests/js: npm ci)")
    })
    .await
    .expect("node");
    let line = captured.stdout.lines().rev().find(|l| l.starts_with('{'));
    let out: serde_json::Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON line: {}\n{}", captured.stdout, captured.stderr));
    assert_eq!(out["errors"], serde_json::json!([]), "{out}");
    assert_eq!(out["writes"], clients * rounds, "{out}");
    assert_eq!(out["reads"], clients * rounds, "{out}");
    assert_eq!(committed_writes(&server), clients * rounds);
    let max = server.max_open_connections();
    assert!(max <= 16, "the server saw {max} connections at once");
}

/// Established TCP connections whose local port is `port` (the server's side), from `ss`.
fn server_connections(port: u16) -> Option<usize> {
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

#[test]
fn python_driver_12_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    let mut db = FalkorDb::start();
    let port = db.bolt_addr().port();
    if server_connections(port).is_none() {
        panic!("`ss` is needed to count FalkorDB's connections");
    }
    let admin = common::free_addr();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", "2"),
        ("boltgate.pool.acquire_timeout", "60s"),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", &admin.to_string()),
    ]);
    // Sample the server's connections while the clients run: a lower bound of the peak, so
    // the assertion below can miss a peak but never invent one.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
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
    let out = common::run_py(
        "pool_clients.py",
        &[&gate.bolt_uri(), "--clients", "12", "--rounds", "3"],
        PY_TIMEOUT,
    );
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    assert_eq!(out["writes"], 36, "{out}");
    assert_eq!(out["reads"], 36, "{out}");
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak >= 1, "the sampler saw the server's connections");
    assert!(peak <= 2, "FalkorDB had {peak} connections at once");
    // The pool's metrics: its size within max_size, nobody waiting now, logins counted (one
    // identity, so no re-authentication).
    let m = common::admin::scrape(admin);
    let value = |name: &str| common::admin::value(&m, name, &[]);
    assert!(value("boltgate_pool_connections") <= 2.0);
    assert_eq!(value("boltgate_pool_waiting_clients"), 0.0);
    let logins = value("boltgate_pool_logins_total");
    assert!((1.0..=2.0).contains(&logins), "{logins} logins");
    assert_eq!(value("boltgate_pool_reauthentications_total"), 0.0);
    assert_eq!(value("boltgate_pool_acquire_timeouts_total"), 0.0);
    drop(gate);
    // Verified at the server, directly: every client's three writes.
    let check = db.run_py(
        "query.py",
        &[
            r#"["MATCH (n:PoolW) RETURN n.client AS c, count(n) AS k ORDER BY c"]"#,
            // In a transaction, as the clients wrote: FalkorDB runs a transaction's queries
            // on its default graph whatever BEGIN names (tests/common/falkordb.rs).
            "--in-tx",
        ],
        PY_TIMEOUT,
    );
    let rows = check["results"][0]["records"]
        .as_array()
        .expect("rows")
        .clone();
    assert_eq!(rows.len(), 12, "{check}");
    for (c, row) in rows.iter().enumerate() {
        assert_eq!(row[0], c as u64, "{check}");
        assert_eq!(row[1], 3, "client {c}: {check}");
    }
}

/// FalkorDB restarts while boltgate's pool holds an idle connection to it: the next query finds
/// that connection closed, replaces it (a second login), and runs; the client never sees the
/// restart (an auto-commit query sent on the dead connection would have failed: the script
/// does not retry).
#[test]
fn a_server_restart_replaces_the_pooled_connections() {
    let mut db = FalkorDb::start();
    let admin = common::free_addr();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", "2"),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", &admin.to_string()),
    ]);
    let logins = || {
        let m = common::admin::scrape(admin);
        common::admin::value(&m, "boltgate_pool_logins_total", &[])
    };
    let out = common::run_py(
        "query.py",
        &[&gate.bolt_uri(), r#"["RETURN 1 AS x"]"#],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"], serde_json::json!([[1]]));
    assert_eq!(logins(), 1.0);
    db.restart();
    db.absorb_goodbye_slots();
    let out = common::run_py(
        "query.py",
        &[&gate.bolt_uri(), r#"["RETURN 2 AS x"]"#],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"], serde_json::json!([[2]]));
    assert_eq!(
        logins(),
        2.0,
        "the dead connection was replaced by a new one"
    );
}

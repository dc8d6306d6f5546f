//! Transaction pooling's timers end to end (issue 18): `boltgate.pool.idle_timeout` closes idle
//! server connections down to `min_idle`, which stay open and are used again;
//! `max_lifetime` replaces a connection only once the unit of work on it has ended, never in
//! the middle of one; the admin endpoint's `boltgate_pool_*` metrics follow. The server's side
//! is the synthetic server's own count of open connections, so a connection the pool forgot
//! to close (or closed too early) shows there.
//!
//! The timers are short (1-2 s); every wait is a bounded poll, and no assertion depends on how
//! fast the machine is: a timer that never fires fails the poll, one that fires early is seen
//! by the connection counts, not by a clock.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, Outcome};
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use common::pool::{admin_settings, proxy};
use tokio::time::{sleep, timeout, Instant};

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

/// The pool metric `name`, read without blocking the runtime.
async fn metric(admin: SocketAddr, name: &'static str) -> f64 {
    tokio::task::spawn_blocking(move || common::pool::metric(admin, name))
        .await
        .expect("scrape")
}

/// Polls until `cond` holds, up to [`WAIT`]; false if it never did.
async fn eventually<F, Fut>(mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond().await {
            return true;
        }
        sleep(Duration::from_millis(50)).await;
    }
    false
}

fn rows(out: &Outcome) -> bool {
    matches!(out, Outcome::Rows { records: 1, .. })
}

async fn recording_server() -> SyntheticServer {
    SyntheticServer::start_with(Options {
        record: true,
        ..Options::default()
    })
    .await
    .expect("synthetic server")
}

/// Four transactions at once open four server connections; once committed they sit idle, and
/// `idle_timeout` (1 s) closes them down to `min_idle`: none with `min_idle=0`, two with
/// `min_idle=2`, which then stay open well past the timeout and serve the next query without a
/// new dial. The server's count and the metrics agree at each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_idle_connections_down_to_min_idle() {
    for min_idle in [0usize, 2] {
        let server = recording_server().await;
        let admin = common::free_addr();
        let extra = format!(
            "boltgate.pool.min_idle={min_idle}\nboltgate.pool.idle_timeout=1s\n\
             boltgate.pool.max_lifetime=0\n{}",
            admin_settings(admin)
        );
        let proxy = proxy(&server.uri(), 4, &extra).await;
        let mut clients = Vec::new();
        for _ in 0..4 {
            let c = timeout(WAIT, Client::connect(proxy.addr(), &Auth::None)).await;
            clients.push(c.expect("connect in time").expect("connect"));
        }
        for (i, c) in clients.iter_mut().enumerate() {
            c.begin().await.unwrap();
            assert!(rows(&c.run(&format!("RETURN {i}")).await.unwrap()));
        }
        // Four transactions open: four connections lent out.
        assert_eq!(metric(admin, "boltgate_pool_connections_in_use").await, 4.0);
        assert_eq!(server.open_connections(), 4, "min_idle={min_idle}");
        for c in clients.iter_mut() {
            c.commit().await.unwrap();
        }
        let want = min_idle as u64;
        let srv = &server;
        assert!(
            eventually(|| async move { srv.open_connections() == want }).await,
            "min_idle={min_idle}: the server still has {} connections open",
            server.open_connections()
        );
        let metrics_follow = eventually(|| async move {
            metric(admin, "boltgate_pool_connections").await == want as f64
                && metric(admin, "boltgate_pool_connections_idle").await == want as f64
        })
        .await;
        assert!(metrics_follow, "min_idle={min_idle}: the pool's gauges");
        // Well past idle_timeout (and several reaper ticks), the min_idle ones are still there.
        sleep(Duration::from_secs(4)).await;
        assert_eq!(server.open_connections(), want, "min_idle={min_idle}");
        assert_eq!(
            metric(admin, "boltgate_pool_connections").await,
            want as f64
        );
        // The next query: on a kept connection (no dial), or on a new one when none was kept.
        let dialled = server.connections();
        assert!(rows(&clients[0].run("RETURN 9").await.unwrap()));
        let new = server.connections() - dialled;
        assert_eq!(
            new,
            u64::from(min_idle == 0),
            "min_idle={min_idle}: new dials"
        );
        for c in clients {
            c.goodbye().await.unwrap();
        }
        proxy.stop().await;
    }
}

/// `max_lifetime=2s` and a transaction that lasts longer: its queries and its COMMIT all run on
/// the one connection it started on (the unit is never cut); once it ended, that connection is
/// closed, not pooled, and the next query gets a new one. An idle connection is replaced too
/// once past the lifetime, with `idle_timeout` off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_lifetime_replaces_a_connection_only_after_its_unit_ends() {
    let server = recording_server().await;
    let admin = common::free_addr();
    let extra = format!(
        "boltgate.pool.max_lifetime=2s\nboltgate.pool.idle_timeout=0\n{}",
        admin_settings(admin)
    );
    let proxy = proxy(&server.uri(), 1, &extra).await;
    let mut client = timeout(WAIT, Client::connect(proxy.addr(), &Auth::None))
        .await
        .expect("connect in time")
        .expect("connect");
    client.begin().await.unwrap();
    assert!(rows(&client.run("RETURN 1").await.unwrap()));
    // Past the lifetime, inside the transaction.
    sleep(Duration::from_secs(3)).await;
    assert!(rows(&client.run("RETURN 2").await.unwrap()));
    client.commit().await.expect("COMMIT past max_lifetime");

    let on = |query: &str| {
        server
            .received()
            .iter()
            .find(|r| r.query().as_deref() == Some(query))
            .map(|r| r.connection)
            .unwrap_or_else(|| panic!("{query} never reached the server"))
    };
    let first = on("RETURN 1");
    assert_eq!(
        on("RETURN 2"),
        first,
        "the transaction stayed on its connection"
    );
    let commits: Vec<u64> = server
        .received()
        .iter()
        .filter(|r| r.name() == "COMMIT")
        .map(|r| r.connection)
        .collect();
    assert_eq!(
        commits,
        vec![first],
        "its COMMIT went to the same connection"
    );

    // Too old to be pooled: closed once the unit ended.
    let srv = &server;
    assert!(
        eventually(|| async move { srv.open_connections() == 0 }).await,
        "the expired connection was closed after its transaction"
    );
    let logins = metric(admin, "boltgate_pool_logins_total").await;
    assert!(rows(&client.run("RETURN 3").await.unwrap()));
    assert_ne!(on("RETURN 3"), first, "the next unit got a new connection");
    let logged_in = metric(admin, "boltgate_pool_logins_total").await - logins;
    assert_eq!(logged_in, 1.0, "the new connection logged in");

    // Idle and past the lifetime (idle_timeout is off): reaped all the same.
    assert!(
        eventually(|| async move { srv.open_connections() == 0 }).await,
        "the idle connection past max_lifetime was closed"
    );
    let gone =
        eventually(|| async move { metric(admin, "boltgate_pool_connections").await == 0.0 });
    assert!(gone.await, "the pool's size gauge");
    client.goodbye().await.unwrap();
}

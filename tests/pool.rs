//! Transaction pooling (`boltgate.pool.mode=transaction`, issue 18) against the synthetic server,
//! with the testkit client: many clients share a few server connections, the server never sees
//! more than `max_size` of them, identities never mix, and an exhausted pool says so.

use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, ClientError, Outcome};
use boltgate_testkit::proxy::RunningProxy;
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use tokio::time::timeout;

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

async fn pooling_proxy(upstream: &str, max_size: usize, extra: &str) -> RunningProxy {
    let settings = format!(
        "boltgate.upstream.uri={upstream}\nboltgate.shutdown.grace_period=1s\n\
         boltgate.pool.mode=transaction\nboltgate.pool.max_size={max_size}\n\
         boltgate.client.max_connections=1000\n{extra}"
    );
    RunningProxy::start(&settings)
        .await
        .unwrap_or_else(|e| panic!("boltgate: {e}"))
}

fn basic(user: &str, password: &str) -> Auth {
    Auth::Basic {
        user: user.into(),
        password: password.into(),
    }
}

/// 200 clients at once, each running 5 queries, through a pool of 16: every query answered,
/// the server never has more than 16 connections open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_share_sixteen_server_connections() {
    let server = SyntheticServer::start().await.expect("synthetic server");
    let proxy = pooling_proxy(&server.uri(), 16, "").await;
    let addr = proxy.addr();
    let mut tasks = Vec::new();
    for c in 0..200 {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, &Auth::None).await?;
            for q in 0..5 {
                let n = c * 10 + q;
                match client.run(&format!("RETURN {n}")).await? {
                    Outcome::Rows { records: 1, .. } => {}
                    other => panic!("client {c} query {q}: {other:?}"),
                }
            }
            client.goodbye().await?;
            Ok::<(), ClientError>(())
        }));
    }
    for t in tasks {
        timeout(WAIT, t)
            .await
            .expect("every client done in time")
            .expect("client task")
            .expect("client");
    }
    assert_eq!(server.runs(), 1000, "every query reached the server once");
    let max = server.max_open_connections();
    assert!(max <= 16, "the server saw {max} connections at once");
    assert!(
        server.connections() < 200,
        "connections were reused, not one per client ({})",
        server.connections()
    );
}

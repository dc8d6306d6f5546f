//! Transaction pooling (`boltgate.pool.mode=transaction`, issue 18) against the synthetic server,
//! with the testkit client: many clients share a few server connections, the server never sees
//! more than `max_size` of them, identities never mix, and an exhausted pool says so.

mod common;

use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, ClientError, Outcome};
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use common::pool::proxy as pooling_proxy;
use tokio::time::timeout;

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

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

fn users() -> Options {
    Options {
        record: true,
        users: Some(vec![
            ("alice".into(), "alice-pw".into()),
            ("bob".into(), "bob-pw".into()),
        ]),
        ..Options::default()
    }
}

/// Two users interleave transactions and auto-commit queries on one pool (of 1, so every
/// switch between them needs the connection the other had, and of 2): the server, which checks
/// the credentials of every message's connection, records each query under its own user only.
/// A client with a wrong password fails alone: the others carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_interleaving_on_one_pool_never_run_as_each_other() {
    for max_size in [1, 2] {
        let server = SyntheticServer::start_with(users())
            .await
            .expect("synthetic server");
        let proxy = pooling_proxy(&server.uri(), max_size, "").await;
        let addr = proxy.addr();
        let connect = |auth: Auth| async move {
            timeout(WAIT, Client::connect(addr, &auth))
                .await
                .expect("connect in time")
        };
        let mut alice = connect(basic("alice", "alice-pw")).await.expect("alice");
        let mut bob = connect(basic("bob", "bob-pw")).await.expect("bob");
        for i in 0..10 {
            let a = format!("RETURN {}", 1000 + i);
            let b = format!("RETURN {}", 2000 + i);
            if i % 2 == 0 {
                // Auto-commit, one after the other.
                assert!(matches!(alice.run(&a).await.unwrap(), Outcome::Rows { .. }));
                assert!(matches!(bob.run(&b).await.unwrap(), Outcome::Rows { .. }));
            } else if max_size >= 2 {
                // Two transactions open at once, their queries interleaved.
                alice.begin().await.unwrap();
                bob.begin().await.unwrap();
                assert!(matches!(bob.run(&b).await.unwrap(), Outcome::Rows { .. }));
                assert!(matches!(alice.run(&a).await.unwrap(), Outcome::Rows { .. }));
                alice.commit().await.unwrap();
                bob.commit().await.unwrap();
            } else {
                alice.begin().await.unwrap();
                assert!(matches!(alice.run(&a).await.unwrap(), Outcome::Rows { .. }));
                alice.commit().await.unwrap();
                bob.begin().await.unwrap();
                assert!(matches!(bob.run(&b).await.unwrap(), Outcome::Rows { .. }));
                bob.commit().await.unwrap();
            }
            if i == 4 {
                // A wrong password: refused, for this client only.
                let wrong = connect(basic("alice", "not-her-password")).await;
                match wrong {
                    Err(ClientError::Failed { code, .. }) => {
                        assert_eq!(code, "Neo.ClientError.Security.Unauthorized")
                    }
                    Err(e) => panic!("expected Unauthorized, got {e}"),
                    Ok(_) => panic!("a wrong password was accepted"),
                }
            }
        }
        let mut checked = 0;
        for r in server.received() {
            let Some(query) = r.query() else { continue };
            let n: u32 = query.trim_start_matches("RETURN ").parse().unwrap();
            let expected = if n < 2000 { "alice" } else { "bob" };
            assert_eq!(
                r.user.as_deref(),
                Some(expected),
                "pool of {max_size}: {query} ran as {:?}",
                r.user
            );
            checked += 1;
        }
        assert_eq!(
            checked, 20,
            "pool of {max_size}: every query reached the server"
        );
        let max = server.max_open_connections() as usize;
        assert!(
            max <= max_size,
            "pool of {max_size}: {max} connections at once"
        );
        alice.goodbye().await.unwrap();
        bob.goodbye().await.unwrap();
    }
}

/// A pool of one held by an open transaction: another client's query waits
/// `acquire_timeout`, then gets a FAILURE saying why; once the transaction commits, the next
/// query goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_fails_the_waiting_query_with_the_reason() {
    let server = SyntheticServer::start().await.expect("synthetic server");
    let proxy = pooling_proxy(&server.uri(), 1, "boltgate.pool.acquire_timeout=300ms\n").await;
    let mut holder = Client::connect(proxy.addr(), &Auth::None).await.unwrap();
    let mut waiter = Client::connect(proxy.addr(), &Auth::None).await.unwrap();
    holder.begin().await.unwrap();
    let out = timeout(WAIT, waiter.run("RETURN 7"))
        .await
        .unwrap()
        .unwrap();
    match out {
        Outcome::Failure { code, message } => {
            assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
            assert!(
                message.contains("is exhausted") && message.contains("acquire_timeout"),
                "{message}"
            );
        }
        other => panic!("expected the pool's FAILURE, got {other:?}"),
    }
    holder.commit().await.unwrap();
    waiter.reset().await.unwrap();
    let out = timeout(WAIT, waiter.run("RETURN 7"))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(out, Outcome::Rows { records: 1, .. }), "{out:?}");
    assert_eq!(server.max_open_connections(), 1);
}

/// The pool dials its upstream over TLS (`bolt+ssc://`): plaintext clients share a few TLS
/// connections to the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_clients_share_pooled_tls_connections_to_the_upstream() {
    let pki = boltgate_testkit::pki::TestPki::new();
    let server = SyntheticServer::start_with(Options {
        tls: Some(pki.server_config(&pki.server)),
        ..Options::default()
    })
    .await
    .expect("synthetic TLS server");
    let uri = format!("bolt+ssc://localhost:{}", server.addr().port());
    let proxy = pooling_proxy(&uri, 4, "").await;
    let addr = proxy.addr();
    let mut tasks = Vec::new();
    for c in 0..20 {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, &Auth::None).await?;
            let out = client.run(&format!("RETURN {c}")).await?;
            assert!(matches!(out, Outcome::Rows { records: 1, .. }), "{out:?}");
            client.goodbye().await
        }));
    }
    for t in tasks {
        timeout(WAIT, t).await.expect("in time").unwrap().unwrap();
    }
    assert_eq!(server.runs(), 20);
    assert!(server.max_open_connections() <= 4);
}

/// A draining boltgate lets a transaction in flight finish: its queries and its COMMIT go
/// through after the drain began; then the session ends, and the pool's connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_finishes_the_transaction_in_flight_then_closes_the_pool() {
    let server = SyntheticServer::start().await.expect("synthetic server");
    let proxy = pooling_proxy(&server.uri(), 2, "boltgate.shutdown.grace_period=60s\n").await;
    let mut client = Client::connect(proxy.addr(), &Auth::None).await.unwrap();
    client.begin().await.unwrap();
    assert!(matches!(
        client.run("RETURN 1").await.unwrap(),
        Outcome::Rows { .. }
    ));
    proxy.begin_drain();
    let out = timeout(WAIT, client.run("RETURN 2"))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(out, Outcome::Rows { records: 1, .. }), "{out:?}");
    timeout(WAIT, client.commit())
        .await
        .unwrap()
        .expect("COMMIT during the drain");
    assert!(
        proxy.wait_stopped().await,
        "the drain ended once the transaction had"
    );
    // The pool's idle connection was closed as the server stopped (bounded wait for the
    // server's side to notice).
    for _ in 0..100 {
        if server.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.open_connections(), 0);
}

/// Bolt 4.4, whose HELLO carries the credentials (no LOGON): boltgate answers HELLO only once
/// the server accepted them, a wrong password fails alone, and each user's queries run as them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolt_4_4_logins_in_hello_are_checked_and_kept_apart() {
    let server = SyntheticServer::start_with(Options {
        versions: vec![boltgate_proto::Version::V4_4],
        manifest: false,
        ..users()
    })
    .await
    .expect("synthetic server");
    let proxy = pooling_proxy(&server.uri(), 1, "").await;
    let mut alice = Client::connect(proxy.addr(), &basic("alice", "alice-pw"))
        .await
        .unwrap();
    assert_eq!(alice.version(), boltgate_proto::Version::V4_4);
    let wrong = Client::connect(proxy.addr(), &basic("bob", "wrong")).await;
    assert!(
        matches!(&wrong, Err(ClientError::Failed { code, .. }) if code == "Neo.ClientError.Security.Unauthorized"),
        "a wrong password is refused"
    );
    let mut bob = Client::connect(proxy.addr(), &basic("bob", "bob-pw"))
        .await
        .unwrap();
    for i in 0..3 {
        assert!(matches!(
            alice.run(&format!("RETURN {}", 1000 + i)).await.unwrap(),
            Outcome::Rows { .. }
        ));
        assert!(matches!(
            bob.run(&format!("RETURN {}", 2000 + i)).await.unwrap(),
            Outcome::Rows { .. }
        ));
    }
    for r in server.received() {
        let Some(q) = r.query() else { continue };
        let expected = if q.starts_with("RETURN 1") {
            "alice"
        } else {
            "bob"
        };
        assert_eq!(r.user.as_deref(), Some(expected), "{q}");
    }
    assert_eq!(server.max_open_connections(), 1);
}

/// A client whose login finds no server (the version and the server's HELLO metadata already
/// known from an earlier client, so only the login itself dials) learns nothing about the
/// server before it has authenticated: a generic FAILURE, no address; the reason is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_that_finds_no_server_gets_a_failure_without_the_servers_address() {
    let server = SyntheticServer::start().await.expect("synthetic server");
    let port = server.addr().port();
    let proxy = pooling_proxy(&server.uri(), 4, "").await;
    let first = Client::connect(proxy.addr(), &Auth::None).await.unwrap();
    first.goodbye().await.unwrap();
    server.stop_and_wait().await;
    // Other credentials than the pooled connection's: this login must reach a server.
    let auth = Auth::Basic {
        user: "eve".into(),
        password: "secret".into(),
    };
    let refused = timeout(WAIT, Client::connect(proxy.addr(), &auth))
        .await
        .expect("answered, not hung");
    match refused {
        Err(ClientError::Failed { code, message, .. }) => {
            assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
            assert!(
                message.contains("cannot reach the database server"),
                "{message}"
            );
            assert!(!message.contains(&port.to_string()), "{message}");
            assert!(!message.contains("127.0.0.1"), "{message}");
        }
        Err(other) => panic!("expected the login's FAILURE, got {other}"),
        Ok(_) => panic!("the server is gone: the login cannot succeed"),
    }
}

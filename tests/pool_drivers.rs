//! Transaction pooling (issue 18) as the official drivers see it: many clients, each with its
//! own driver (so its own connection to boltgate), run read and write transactions through a
//! pooling boltgate; every write is found on the server and the server never has more
//! connections than the pool allows. Python (tests/py/pool_clients.py), JavaScript
//! (tests/js/pool_clients.mjs), Java and Go (the runners' `pool` mode, tests/drivers/).
//!
//! Two servers. The synthetic server takes 200 clients through a pool of 16. FalkorDB 4.16
//! crashes with 4 or more busy connections at once, so it gets a pool of 2: 200 Python and 200
//! JavaScript clients at once, and 12 clients of three rounds with Python, Java and Go. The pool is what keeps it alive
//! (direct, 12 busy drivers would crash it).

mod common;

use std::process::Command;
use std::time::Duration;

use common::pool::{committed_writes, falkordb_pool_gate, recording_server_behind_pool};
use common::runners::{run_pool_clients, Driver};
use common::tap::Tap;
use common::FalkorDb;

const PY_TIMEOUT: Duration = Duration::from_secs(300);

/// Clients and rounds against the synthetic server: 200 at once, through a pool of 16.
const CLIENTS: u32 = 200;
const ROUNDS: u32 = 2;

/// `clients` run by `run` (given boltgate's bolt:// URI, it returns the clients' JSON line)
/// through a pool of 16 to the recording synthetic server: each client's writes and reads all
/// done, every write committed on the server, never more than 16 server connections.
async fn through_a_pool_of_16<F>(run: F)
where
    F: FnOnce(String) -> serde_json::Value + Send + 'static,
{
    let (server, proxy) = recording_server_behind_pool(16).await;
    let uri = format!("bolt://{}", proxy.addr());
    let out = tokio::task::spawn_blocking(move || run(uri))
        .await
        .expect("the clients");
    if let Some(errors) = out.get("errors") {
        assert_eq!(errors, &serde_json::json!([]), "{out}");
    }
    assert_eq!(out["writes"], CLIENTS * ROUNDS, "{out}");
    assert_eq!(out["reads"], CLIENTS * ROUNDS, "{out}");
    assert_eq!(
        committed_writes(&server),
        CLIENTS * ROUNDS,
        "every write reached the server and was committed"
    );
    let max = server.max_open_connections();
    assert!(max <= 16, "the server saw {max} connections at once");
    assert!(
        server.connections() < u64::from(CLIENTS),
        "server connections were shared ({} for {CLIENTS} clients)",
        server.connections()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    through_a_pool_of_16(|uri| {
        let (clients, rounds) = (CLIENTS.to_string(), ROUNDS.to_string());
        let args: [&str; 6] = [
            &uri,
            "--synthetic",
            "--clients",
            &clients,
            "--rounds",
            &rounds,
        ];
        common::run_py("pool_clients.py", &args, PY_TIMEOUT)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    through_a_pool_of_16(|uri| {
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let mut cmd = Command::new("node");
        cmd.arg(js.join("pool_clients.mjs"))
            .args([uri, CLIENTS.to_string(), ROUNDS.to_string()])
            .current_dir(&js);
        common::run_json(
            "node pool_clients.mjs (tests/js: npm ci)",
            &mut cmd,
            PY_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .await;
}

/// The Java or Go runner's `pool` mode (tests/drivers/README.md) against the synthetic server.
fn runner_clients(driver: Driver) -> impl FnOnce(String) -> serde_json::Value + Send + 'static {
    move |uri| {
        run_pool_clients(driver, &uri, CLIENTS, ROUNDS, true, PY_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Java: a thread per client, each with its own Driver whose pool holds one connection, so
/// each is one client connection to boltgate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    through_a_pool_of_16(runner_clients(Driver::Java)).await;
}

/// Go: a goroutine per client, each with its own driver whose pool holds one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_driver_200_clients_through_a_pool_of_16_to_the_synthetic_server() {
    through_a_pool_of_16(runner_clients(Driver::Go)).await;
}

/// The tap the FalkorDB tests count with (`tests/common/tap.rs`): it relays both ways, counts
/// a connection until the server has ended it, and passes that end on only after uncounting.
#[test]
fn the_counting_tap_counts_a_connection_until_the_server_ends_it() {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let conns: Vec<_> = (0..2)
            .map(|_| {
                let (mut s, _) = server.accept().unwrap();
                std::thread::spawn(move || {
                    let mut b = [0u8; 4];
                    s.read_exact(&mut b).unwrap();
                    s.write_all(&b).unwrap();
                    // Closes after the client's FIN, as a server does.
                    let _ = s.read(&mut b);
                })
            })
            .collect();
        conns.into_iter().for_each(|t| t.join().unwrap());
    });
    let tap = Tap::start(server_addr);
    let mut conns: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(tap.addr()).unwrap())
        .collect();
    let mut b = [0u8; 4];
    for (s, word) in conns.iter_mut().zip([b"ping", b"pong"]) {
        s.write_all(word).unwrap();
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, word);
    }
    assert_eq!((tap.open(), tap.peak()), (2, 2));
    for s in conns.iter_mut() {
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(s.read(&mut b).unwrap(), 0, "the server's end, passed on");
    }
    // Uncounted before the end reached the client.
    assert_eq!((tap.open(), tap.peak(), tap.total()), (0, 2, 2));
    echo.join().unwrap();
}

/// Clients against FalkorDB: 12, three rounds each, through a pool of 2.
const FALKOR_CLIENTS: u32 = 12;
const FALKOR_ROUNDS: u32 = 3;

/// [`FALKOR_CLIENTS`] clients run by `run` (given boltgate's bolt:// URI) through a pool of 2
/// to FalkorDB: never more than 2 server connections (counted by a tap in front of FalkorDB,
/// `tests/common/tap.rs`), the pool's metrics agree, and every client's writes are read back
/// from FalkorDB directly.
fn through_a_pool_of_2_to_falkordb(run: impl FnOnce(&str) -> serde_json::Value) {
    many_through_a_pool_of_2_to_falkordb(FALKOR_CLIENTS, FALKOR_ROUNDS, run)
}

/// As [`through_a_pool_of_2_to_falkordb`], with `clients` clients of `rounds` rounds each.
fn many_through_a_pool_of_2_to_falkordb(
    clients: u32,
    rounds: u32,
    run: impl FnOnce(&str) -> serde_json::Value,
) {
    let mut db = FalkorDb::start();
    let admin = common::free_addr();
    let tap = Tap::start(db.bolt_addr());
    let gate = falkordb_pool_gate(&tap.bolt_uri(), 2, admin, &[]);
    let out = run(&gate.bolt_uri());
    let peak = tap.peak();
    if let Some(errors) = out.get("errors") {
        assert_eq!(errors, &serde_json::json!([]), "{out}\n{}", gate.log());
    }
    assert_eq!(out["writes"], clients * rounds, "{out}");
    assert_eq!(out["reads"], clients * rounds, "{out}");
    assert!(tap.total() >= 1, "boltgate dialled through the tap");
    assert!(
        peak <= 2,
        "FalkorDB had {peak} connections at once\n{}",
        common::tail(&gate.log(), 6000)
    );
    // The pool's metrics: its size within max_size, nobody waiting now, logins counted (one
    // identity, so no re-authentication).
    let value = |name: &str| common::pool::metric(admin, name);
    assert!(value("boltgate_pool_connections") <= 2.0);
    assert_eq!(value("boltgate_pool_waiting_clients"), 0.0);
    let logins = value("boltgate_pool_logins_total");
    assert!((1.0..=2.0).contains(&logins), "{logins} logins");
    assert_eq!(value("boltgate_pool_reauthentications_total"), 0.0);
    assert_eq!(value("boltgate_pool_acquire_timeouts_total"), 0.0);
    drop(gate);
    // Verified at the server, directly: every client's writes.
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
    assert_eq!(rows.len(), clients as usize, "{check}");
    for (c, row) in rows.iter().enumerate() {
        assert_eq!(row[0], c as u64, "{check}");
        assert_eq!(row[1], rounds, "client {c}: {check}");
    }
}

#[test]
fn python_driver_12_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    through_a_pool_of_2_to_falkordb(|uri| {
        let (clients, rounds) = (FALKOR_CLIENTS.to_string(), FALKOR_ROUNDS.to_string());
        let args: [&str; 5] = [uri, "--clients", &clients, "--rounds", &rounds];
        common::run_py("pool_clients.py", &args, PY_TIMEOUT)
    });
}

/// Issue 18's scale against the real server: 200 Python clients at once, each with its own
/// driver, through a pool of 2 (FalkorDB's limit, not the pool's: it crashes with 4 busy
/// connections): 200 writes and 200 reads, two server connections.
#[test]
fn python_driver_200_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    many_through_a_pool_of_2_to_falkordb(200, 1, |uri| {
        let args: [&str; 5] = [uri, "--clients", "200", "--rounds", "1"];
        common::run_py("pool_clients.py", &args, PY_TIMEOUT)
    });
}

/// The same with the JavaScript driver.
#[test]
fn javascript_driver_200_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    many_through_a_pool_of_2_to_falkordb(200, 1, |uri| {
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
        let mut cmd = Command::new("node");
        cmd.arg(js.join("pool_clients.mjs"))
            .args([uri, "200", "1", "falkordb"])
            .current_dir(&js);
        common::run_json(
            "node pool_clients.mjs (tests/js: npm ci)",
            &mut cmd,
            PY_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    });
}

/// The Java or Go runner's `pool` mode against FalkorDB.
fn runner_falkordb_clients(driver: Driver) -> impl FnOnce(&str) -> serde_json::Value {
    move |uri: &str| {
        run_pool_clients(
            driver,
            uri,
            FALKOR_CLIENTS,
            FALKOR_ROUNDS,
            false,
            PY_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The Java driver against FalkorDB only works through the pool: FalkorDB's HELLO answer has
/// no `connection_id`, which the Java driver 6 requires (tests/java_go_drivers.rs); a pooling
/// boltgate answers HELLO itself, with an id of its own.
#[test]
fn java_driver_12_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    through_a_pool_of_2_to_falkordb(runner_falkordb_clients(Driver::Java));
}

#[test]
fn go_driver_12_clients_through_a_pool_of_2_to_falkordb_all_writes_land() {
    through_a_pool_of_2_to_falkordb(runner_falkordb_clients(Driver::Go));
}

/// FalkorDB restarts while boltgate's pool holds an idle connection to it: the next query finds
/// that connection closed, replaces it (a second login), and runs; the client never sees the
/// restart (an auto-commit query sent on the dead connection would have failed: the script
/// does not retry).
#[test]
fn a_server_restart_replaces_the_pooled_connections() {
    let mut db = FalkorDb::start();
    let admin = common::free_addr();
    let gate = falkordb_pool_gate(&db.bolt_uri(), 2, admin, &[]);
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

//! The synthetic Bolt server (`boltgate_testkit::synthetic`) behind boltgate, driven by the
//! testkit client and by the official Python driver: rows arrive counted, an injected FAILURE
//! arrives as a FAILURE, and the connection recovers with RESET.

use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, Outcome};
use boltgate_testkit::proxy::RunningProxy;
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use tokio::time::timeout;

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

async fn start_proxy(upstream: &str) -> RunningProxy {
    let settings = format!("boltgate.upstream.uri={upstream}\nboltgate.shutdown.grace_period=1s\n");
    RunningProxy::start(&settings)
        .await
        .unwrap_or_else(|e| panic!("boltgate: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn testkit_client_through_boltgate_counts_rows_and_gets_injected_failure() {
    let server = SyntheticServer::start_with(Options {
        record: true,
        ..Options::default()
    })
    .await
    .expect("synthetic server");
    let proxy = start_proxy(&server.uri()).await;

    let mut client = timeout(WAIT, Client::connect(proxy.addr(), &Auth::None))
        .await
        .expect("connect in time")
        .expect("connect");
    assert_eq!(
        client.server_agent(),
        boltgate_testkit::synthetic::SERVER_AGENT
    );

    let one = timeout(WAIT, client.run("RETURN 1"))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(one, Outcome::Rows { records: 1, .. }), "{one:?}");

    let wide = timeout(WAIT, client.run("ROWS 5000"))
        .await
        .unwrap()
        .unwrap();
    let Outcome::Rows { records, bytes } = wide else {
        panic!("expected rows, got {wide:?}");
    };
    assert_eq!(records, 5000);
    assert!(bytes > 5000 * 1000, "about 1 KiB a row, got {bytes} bytes");

    let failed = timeout(WAIT, client.run("FAIL Neo.ClientError.Test.Injected"))
        .await
        .unwrap()
        .unwrap();
    match failed {
        Outcome::Failure { code, message } => {
            assert_eq!(code, "Neo.ClientError.Test.Injected");
            assert!(message.contains("synthetic failure"), "{message}");
        }
        other => panic!("expected a FAILURE, got {other:?}"),
    }
    // Until RESET, everything is IGNORED; after it the connection works again.
    timeout(WAIT, client.reset()).await.unwrap().unwrap();
    let again = timeout(WAIT, client.run("RETURN 1"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(again, Outcome::Rows { records: 1, .. }),
        "{again:?}"
    );
    timeout(WAIT, client.goodbye()).await.unwrap().unwrap();

    // The server saw what the client sent, through the proxy, in order.
    assert_eq!(
        server.queries(),
        [
            "RETURN 1",
            "ROWS 5000",
            "FAIL Neo.ClientError.Test.Injected",
            "RETURN 1"
        ]
    );
    let names: Vec<&str> = server.received().iter().map(|r| r.name()).collect();
    assert_eq!(names.first(), Some(&"HELLO"));
    assert!(names.contains(&"RESET"), "{names:?}");
    proxy.stop().await;
}

/// The official driver, run as `python3 -c`; its one line of output is checked.
const PY_SCRIPT: &str = r#"
import sys
from neo4j import GraphDatabase
from neo4j.exceptions import Neo4jError
uri = sys.argv[1]
with GraphDatabase.driver(uri, auth=None) as driver:
    with driver.session() as session:
        one = session.run("RETURN 1").single()[0]
        # More rows than the driver's fetch size (1000): PULL {n}, has_more, PULL again.
        rows = sum(1 for _ in session.run("ROWS 2500"))
        try:
            session.run("FAIL Neo.ClientError.Test.Injected").consume()
            code = "no error"
        except Neo4jError as e:
            code = e.code
        after = session.run("RETURN 1").single()[0]
print(f"one={one} rows={rows} code={code} after={after}")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_through_boltgate_runs_queries_against_synthetic_server() {
    let has_driver = std::process::Command::new("python3")
        .args(["-c", "import neo4j"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_driver {
        eprintln!("skipped: the Python neo4j driver is not installed (pip install neo4j)");
        return;
    }
    let server = SyntheticServer::start().await.expect("synthetic server");
    let proxy = start_proxy(&server.uri()).await;

    let mut child = tokio::process::Command::new("python3");
    child
        .args(["-c", PY_SCRIPT, &format!("bolt://{}", proxy.addr())])
        .kill_on_drop(true);
    let output = timeout(Duration::from_secs(60), child.output())
        .await
        .expect("the Python driver finishes in time")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python failed: {stderr}");
    assert_eq!(
        stdout.trim(),
        "one=1 rows=2500 code=Neo.ClientError.Test.Injected after=1",
        "stderr: {stderr}"
    );
    assert!(server.connections() >= 1);
    proxy.stop().await;
}

/// `SMALL_ROWS n` (the load tool's 12-byte-row stream): n RECORDs `[id]`, 16 bytes each on the
/// wire (12-byte message, chunk header, end marker), plus the two summaries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_rows_are_twelve_byte_records() {
    let server = SyntheticServer::start().await.expect("synthetic server");
    let mut client = timeout(WAIT, Client::connect(server.addr(), &Auth::None))
        .await
        .expect("connect in time")
        .expect("connect");
    let got = timeout(WAIT, client.run("SMALL_ROWS 3000"))
        .await
        .unwrap()
        .unwrap();
    let Outcome::Rows { records, bytes } = got else {
        panic!("expected rows, got {got:?}");
    };
    assert_eq!(records, 3000);
    assert!(
        (3000 * 16..3000 * 16 + 512).contains(&bytes),
        "16 bytes a row and two small summaries, got {bytes} bytes"
    );
}

//! The Java and Go drivers (tests/drivers/java, tests/drivers/go: the runners built by
//! tests/neo4j/build.sh) in the scripted scenarios the Python driver already runs, so every
//! behaviour is seen by more than one driver: `server.bolt.tls_level` (tests/tls_level.rs),
//! routing against the fake cluster (tests/routing/), an upstream lost mid-session
//! (tests/faults.rs).

#[allow(dead_code)] // the routing tests use the rest of it
#[path = "routing/cluster.rs"]
mod cluster;
mod common;

use std::path::Path;
use std::time::Duration;

use cluster::FakeCluster;
use common::runners::{run_scenarios, Driver};
use common::{tail, Boltgate, TestPki};
use serde_json::{json, Value};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

const DRIVERS: [Driver; 2] = [Driver::Java, Driver::Go];

/// Runs the driver's runner (tests/common/runners.rs) and returns its results object. Panics
/// when the runner does not print its JSON line (the runner reports a scenario that failed
/// inside the results, as {"error": ...}).
fn run(driver: Driver, uri: &str, ca: Option<&str>, scenarios: &str) -> Value {
    run_scenarios(
        driver,
        uri,
        ("neo4j", "password"),
        ca.map(Path::new),
        &[scenarios],
        RUN_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}"))["results"]
        .clone()
}

/// `RETURN 1` through the runner's `info` scenario: Ok(Bolt version) or Err(the driver's error).
fn info(driver: Driver, uri: &str, ca: Option<&str>) -> Result<String, String> {
    let r = run(driver, uri, ca, "info");
    match r["info"]["error"].as_str() {
        Some(e) => Err(e.to_string()),
        None => Ok(r["info"]["protocol"].to_string()),
    }
}

/// `bolt://` to member `i` of the fake cluster (single-upstream mode, no routing).
fn member_uri(cluster: &FakeCluster, i: usize) -> String {
    format!("bolt://{}", cluster.addrs[i])
}

fn tls_gate(level: &str, upstream: &str, pki: &TestPki) -> Boltgate {
    let base = pki.server_policy_dir(&format!("bolt-{level}"));
    let base = base.to_str().unwrap();
    let mut s = vec![
        ("boltgate.upstream.uri", upstream),
        ("server.bolt.tls_level", level),
    ];
    if level != "DISABLED" {
        s.extend([
            ("dbms.ssl.policy.bolt.enabled", "true"),
            ("dbms.ssl.policy.bolt.base_directory", base),
            ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ]);
    }
    Boltgate::start(&s)
}

/// tests/tls_level.rs with the Java and Go drivers: each level with `bolt://` (plaintext),
/// `bolt+s://` (verified against the test CA) and `bolt+ssc://` (any certificate).
#[test]
fn tls_levels_as_the_java_and_go_drivers_see_them() {
    // A scripted server behind: FalkorDB's HELLO answer has no connection_id, which the Java
    // driver 6 requires (it fails with a NullPointerException, with or without boltgate).
    let cluster = FakeCluster::start(None);
    let upstream = member_uri(&cluster, 0);
    let pki = TestPki::new();
    let ca = pki.ca_path.to_str().unwrap();
    // (level, plaintext served, TLS served)
    for (level, plain_ok, tls_ok) in [
        ("DISABLED", true, false),
        ("OPTIONAL", true, true),
        ("REQUIRED", false, true),
    ] {
        let gate = tls_gate(level, &upstream, &pki);
        let port = gate.addr.port();
        for driver in DRIVERS {
            for (scheme, ok) in [("bolt", plain_ok), ("bolt+s", tls_ok), ("bolt+ssc", tls_ok)] {
                let uri = format!("{scheme}://localhost:{port}");
                let got = info(driver, &uri, (scheme == "bolt+s").then_some(ca));
                assert_eq!(
                    got.is_ok(),
                    ok,
                    "{level}: {driver:?} on {scheme}: {got:?}\n{}",
                    tail(&gate.log(), 4000)
                );
            }
        }
    }
}

/// tests/routing/fake_cluster.rs's read/write split with the Java and Go drivers on `neo4j://`:
/// writes on the writer, reads spread over both readers and none on the writer, the writer's
/// bookmark carried to the readers.
#[test]
fn routing_against_the_fake_cluster_with_the_java_and_go_drivers() {
    for driver in DRIVERS {
        let cluster = FakeCluster::start(None);
        let gate = Boltgate::start(&[
            (
                "boltgate.upstream.uri",
                &format!("{}?region=test", cluster.uri(0)),
            ),
            ("boltgate.routing.ban_time", "60s"),
        ]);
        let r = run(driver, &gate.uri_with_scheme("neo4j"), None, "routing");
        assert_eq!(
            r["routing"],
            json!({"writes": 3, "reads": 8, "bookmarks": ["bm:m0"]}),
            "{driver:?}\n{}",
            tail(&gate.log(), 4000)
        );
        assert_eq!(
            cluster.count(0, "RETURN 1"),
            3,
            "{driver:?}: writes on the writer"
        );
        assert_eq!(
            cluster.count(1, "RETURN 1") + cluster.count(2, "RETURN 1"),
            0
        );
        let (r1, r2) = (cluster.count(1, "RETURN 2"), cluster.count(2, "RETURN 2"));
        assert_eq!(
            r1 + r2,
            8,
            "{driver:?}: reads on the readers: m1 {r1}, m2 {r2}"
        );
        assert!(
            r1 >= 2 && r2 >= 2,
            "{driver:?}: reads spread across both readers: m1 {r1}, m2 {r2}"
        );
        assert_eq!(
            cluster.count(0, "RETURN 2"),
            0,
            "{driver:?}: no read on the writer"
        );
        let begins: Vec<Vec<String>> = [1, 2]
            .iter()
            .flat_map(|m| cluster.begin_bookmarks(*m))
            .collect();
        assert!(
            begins.iter().any(|b| b == &["bm:m0"]),
            "{driver:?}: a reader's BEGIN carried the writer's bookmark: {begins:?}"
        );
    }
}

/// tests/faults.rs's lost upstream with the Java and Go drivers: the server stops in the middle
/// of a session (the scripted server stops on `CRASH`).
///
/// Expected per the rule of issue 13 (branch `transparency`): boltgate closes the client's
/// connection as the server did, without a FAILURE of its own, so each driver reports a lost
/// connection (Java: ServiceUnavailableException or SessionExpiredException; Go: a
/// connectivity error), exactly as it would talking to the server directly. Before that change
/// boltgate answered with `Neo.TransientError.General.DatabaseUnavailable`, which the drivers
/// report as a server error: this test fails on such a build.
#[test]
fn a_lost_upstream_is_a_lost_connection_to_the_java_and_go_drivers() {
    for driver in DRIVERS {
        let cluster = FakeCluster::start(None);
        let gate = Boltgate::start(&[("boltgate.upstream.uri", &member_uri(&cluster, 0))]);
        let r = run(driver, &gate.bolt_uri(), None, "crash");
        let c = &r["crash"];
        assert_eq!(c["first"], 1, "{driver:?}: {r}");
        assert!(
            cluster.queries(0).iter().any(|q| q == "CRASH"),
            "{driver:?}: the server got CRASH"
        );
        let class = c["error_class"].as_str().unwrap_or("");
        match driver {
            Driver::Java => assert!(
                class == "ServiceUnavailableException" || class == "SessionExpiredException",
                "Java: a lost connection, not a server error: {c}\n{}",
                tail(&gate.log(), 3000)
            ),
            Driver::Go => assert!(
                c["connectivity"] == true && c["code"].is_null(),
                "Go: a connectivity error, not a server error: {c}\n{}",
                tail(&gate.log(), 3000)
            ),
            Driver::Python | Driver::Js => unreachable!("only Java and Go run here"),
        }
    }
}

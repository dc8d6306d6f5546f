//! The scripted cluster behind a `neo4j://` upstream URI, driven by the official Python driver
//! through boltgate with `neo4j://`.

use std::time::Duration;

use serde_json::Value as Json;

use super::cluster::FakeCluster;
use super::common::{self, Boltgate};

pub const PY_TIMEOUT: Duration = Duration::from_secs(90);
const WRITE_Q: &str = "RETURN 1";
const READ_Q: &str = "RETURN 2";

pub fn routing_py(gate: &Boltgate, extra: &[&str]) -> Json {
    let uri = gate.uri_with_scheme("neo4j");
    let mut args = vec![
        uri.as_str(),
        "--database",
        "neo4j",
        "--connect-timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    common::try_run_py("routing.py", &args, PY_TIMEOUT).unwrap_or_else(|e| {
        panic!(
            "{e}\n--- boltgate log ---\n{}",
            common::tail(&gate.log(), 8000)
        )
    })
}

pub fn start_gate(cluster: &FakeCluster, extra: &[(&str, &str)]) -> Boltgate {
    let uri = format!("{}?region=test", cluster.uri(0));
    let mut settings = vec![
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.log.level", "boltgate=debug,info"),
        ("boltgate.routing.ban_time", "60s"),
    ];
    settings.extend_from_slice(extra);
    Boltgate::start(&settings)
}

/// Reads spread over both readers, writes on the writer, bookmarks carried from the writer's
/// COMMIT to the readers' BEGIN, the driver's table names only boltgate, and boltgate fetched
/// the cluster's table itself with the URI's routing context.
pub fn check_read_write_split(cluster: &FakeCluster, gate: &Boltgate) {
    let out = routing_py(gate, &["--writes", "3", "--reads", "8"]);
    assert_eq!(out["writes"], 3, "{out}");
    assert_eq!(out["reads"], 9, "{out}");

    assert_eq!(cluster.count(0, WRITE_Q), 3, "writes ran on the writer");
    assert_eq!(cluster.count(1, WRITE_Q) + cluster.count(2, WRITE_Q), 0);
    let (r1, r2) = (cluster.count(1, READ_Q), cluster.count(2, READ_Q));
    assert_eq!(r1 + r2, 9, "reads ran on the readers: m1 {r1}, m2 {r2}");
    assert!(
        r1 >= 3 && r2 >= 3,
        "reads spread across both readers: m1 {r1}, m2 {r2}"
    );
    assert_eq!(cluster.count(0, READ_Q), 0, "no read on the writer");

    // Bookmarks: the writer's COMMIT bookmark reached the client and came back with the first
    // read transaction; each later one carried its predecessor's (causal chaining).
    assert_eq!(out["bookmarks"], serde_json::json!(["bm:m0"]), "{out}");
    let begins: Vec<Vec<String>> = [1, 2]
        .iter()
        .flat_map(|r| cluster.begin_bookmarks(*r))
        .collect();
    assert_eq!(begins.len(), 8, "{begins:?}");
    assert!(
        begins.iter().any(|b| b == &["bm:m0"]),
        "a reader's BEGIN carried the writer's bookmark: {begins:?}"
    );
    for b in &begins {
        assert_eq!(
            b.len(),
            1,
            "every read BEGIN carried a bookmark: {begins:?}"
        );
    }

    // The driver learnt only boltgate's address, for every role.
    let me = gate.addr.to_string();
    let table = &out["routing_table"]["neo4j"];
    for role in ["routers", "readers", "writers"] {
        assert_eq!(table[role], serde_json::json!([me]), "{role} in {out}");
    }

    // boltgate asked a router itself, with the URI's routing context; the driver's own ROUTE
    // (with boltgate's address) never reached a member.
    let routes: Vec<_> = (0..3).flat_map(|m| cluster.routes(m)).collect();
    assert!(!routes.is_empty(), "boltgate fetched a routing table");
    for ctx in &routes {
        assert_eq!(ctx.get_str("region"), Some("test"), "{ctx:?}");
        assert_eq!(ctx.get_str("address"), Some(cluster.addrs[0].as_str()));
    }
}

#[test]
fn python_driver_reads_and_writes_are_split_across_the_cluster() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    check_read_write_split(&cluster, &gate);
}

#[test]
fn a_member_killed_mid_test_is_routed_around() {
    let mut cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    let out = routing_py(&gate, &["--writes", "1", "--reads", "4"]);
    assert_eq!(out["reads"], 5);
    assert!(cluster.count(2, READ_Q) > 0);

    cluster.kill(2);
    let before = cluster.count(1, READ_Q);
    let out = routing_py(&gate, &["--writes", "2", "--reads", "6"]);
    assert_eq!(out["reads"], 7, "{out}");
    assert_eq!(
        cluster.count(1, READ_Q) - before,
        7,
        "every read went to the surviving reader"
    );
    assert!(
        gate.wait_for_log("cluster member banned", Duration::from_secs(5)),
        "the dead member was banned; log:\n{}",
        common::tail(&gate.log(), 4000)
    );
}

#[test]
fn not_a_leader_reaches_the_driver_and_triggers_a_refresh() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    let out = routing_py(&gate, &["--writes", "1", "--reads", "0"]);
    assert_eq!(out["writes"], 1);
    let routes_before: usize = (0..3).map(|m| cluster.routes(m).len()).sum();

    // A leader switch: m0 now refuses writes, the table names m1 as the writer.
    cluster.set_not_leader(0, true);
    cluster.set_table(&[1], &[0, 2], &[0, 1, 2]);
    let out = routing_py(
        &gate,
        &["--writes", "2", "--reads", "0", "--retry-time", "15"],
    );
    assert_eq!(out["writes"], 2, "{out}");
    assert_eq!(
        cluster.count(1, WRITE_Q),
        2,
        "the retried writes ran on the new writer"
    );
    let routes_after: usize = (0..3).map(|m| cluster.routes(m).len()).sum();
    assert!(
        routes_after > routes_before,
        "NotALeader made boltgate fetch a new routing table"
    );
    assert!(gate.log_contains("write refused; the routing table will be refreshed"));
}

#[test]
fn no_writer_gives_a_failure_not_a_hang() {
    let mut cluster = FakeCluster::start(None);
    cluster.set_table(&[], &[1, 2], &[0, 1, 2]);
    let gate = start_gate(&cluster, &[]);
    let uri = gate.uri_with_scheme("neo4j");
    let r = common::try_run_py(
        "routing.py",
        &[
            &uri,
            "--database",
            "neo4j",
            "--writes",
            "1",
            "--reads",
            "0",
            "--connect-timeout",
            "5",
        ],
        PY_TIMEOUT,
    );
    let failure = r.expect_err("a write with no writer must fail");
    assert!(
        failure.status.is_some(),
        "the script did not hang: {failure}"
    );
    assert!(
        failure.stderr.contains("NotALeader") || failure.stderr.contains("no writer"),
        "{failure}"
    );
    // Reads still work.
    let out = routing_py(&gate, &["--writes", "0", "--reads", "2"]);
    assert_eq!(out["reads"], 3);
    cluster.kill(0);
}

//! Per-database state a client can make boltgate keep is bounded: database names longer than
//! Neo4j's limit are refused without a lookup, tables beyond `boltgate.routing.max_databases`
//! are dropped least recently used first, and `/metrics` has a `db` series only for databases
//! that had a table, at most that many, the rest counted as `db="other"`.

use std::collections::HashSet;

use super::cluster::FakeCluster;
use super::common::admin::{http, scrape};
use super::common::{self, free_addr, Boltgate};
use super::fake_cluster::PY_TIMEOUT;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn probe(gate: &Boltgate, count: usize, length: usize, prefix: &str) -> serde_json::Value {
    let uri = gate.uri_with_scheme("neo4j");
    let (count, length) = (count.to_string(), length.to_string());
    common::try_run_py(
        "many_databases.py",
        &[
            &uri, "--count", &count, "--length", &length, "--prefix", prefix,
        ],
        PY_TIMEOUT,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", common::tail(&gate.log(), 6000)))
}

fn db_labels(admin: std::net::SocketAddr) -> HashSet<String> {
    scrape(admin)
        .samples
        .iter()
        .filter(|s| s.metric.starts_with("boltgate_routing_table"))
        .filter_map(|s| s.labels.get("db").map(str::to_string))
        .collect()
}

#[test]
fn per_database_state_stays_bounded_whatever_names_clients_send() {
    let cluster = FakeCluster::start(None);
    let admin = free_addr();
    let admin_text = admin.to_string();
    let uri = format!("{}?region=test", cluster.uri(0));
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", uri.as_str()),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", &admin_text),
        ("boltgate.routing.max_databases", "20"),
    ]);
    let rss_before = rss_kib(gate.pid);

    // 150 databases with valid names, each with a table: 20 labelled, the rest "other".
    let out = probe(&gate, 150, 60, "db");
    assert_eq!(out["ok"], 150, "{out}");
    let labels = db_labels(admin);
    assert!(labels.contains("other"), "{labels:?}");
    assert!(labels.len() <= 21, "{} db labels: {labels:?}", labels.len());
    let ages = scrape(admin)
        .samples
        .iter()
        .filter(|s| s.metric == "boltgate_routing_table_age_seconds")
        .count();
    assert!(ages <= 20, "{ages} table ages for at most 20 kept tables");

    // 300 names of 60 KB: refused as Neo4j refuses a database that does not exist, no lookup,
    // no series, no growth.
    let metrics_before = http(admin, "GET", "/metrics").1.len();
    let out = probe(&gate, 300, 60_000, "long");
    assert_eq!(out["ok"], 0, "{out}");
    assert_eq!(
        out["errors"]["Neo.ClientError.Database.DatabaseNotFound"], 300,
        "{out}"
    );
    let metrics = http(admin, "GET", "/metrics").1;
    assert!(
        !metrics.contains("long0xxxx"),
        "a refused name became a series"
    );
    assert!(
        metrics.len() < metrics_before + 4096,
        "/metrics grew from {metrics_before} to {} bytes",
        metrics.len()
    );
    for i in 0..3 {
        assert!(
            !cluster.received(i).iter().any(|r| r
                .message
                .as_bytes()
                .windows(6)
                .any(|w| w == b"long0x")),
            "a name beyond the limit reached m{i}"
        );
    }
    let rss_after = rss_kib(gate.pid);
    eprintln!(
        "boltgate RSS: {rss_before} KiB before, {rss_after} KiB after 150 databases and 300 \
         60 KB names; /metrics {} bytes",
        metrics.len()
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );
}

/// The nesting limit in routed mode: refused before any member sees it, and the session goes
/// on after RESET.
#[test]
fn a_message_nested_beyond_the_limit_never_reaches_a_member() {
    use super::common::bolt::{failure_of, nested_run, Got, RawBolt, HELLO_5_AND_4_4};
    use boltgate_proto::message::{Request, Response};
    use boltgate_proto::packstream::Value;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    let cluster = FakeCluster::start(None);
    let gate = super::fake_cluster::start_gate(&cluster, &[]);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    c.send_raw(&nested_run(10_000));
    c.pull_all();
    let got = c.recv(WAIT);
    let Got::Message(r @ Response::Failure(_)) = &got else {
        panic!("expected a FAILURE, got {got:?}\n{}", gate.log());
    };
    assert_eq!(failure_of(r).unwrap().0, "Neo.ClientError.Request.Invalid");
    assert_eq!(c.recv(WAIT), Got::Message(Response::Ignored));
    c.send(&Request::Reset);
    assert!(matches!(c.recv(WAIT), Got::Message(Response::Success(_))));
    c.run_and_pull("RETURN 7");
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    let Got::Message(Response::Record(record)) = &got[1] else {
        panic!("{got:?}\n{}", gate.log());
    };
    assert_eq!(record.data[0], Value::Integer(7));
    for i in 0..3 {
        assert!(
            !cluster.received(i).iter().any(|r| r
                .message
                .as_bytes()
                .windows(64)
                .any(|w| w.iter().all(|&b| b == 0x91))),
            "the deep message reached m{i}"
        );
    }
}

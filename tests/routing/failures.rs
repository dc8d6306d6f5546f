//! Failure behaviour against the scripted cluster: a member dying mid-transaction, routing
//! tables refreshed before they expire, and the stale-table fallback when no router answers.
//! (No writer known and NotALeader: `fake_cluster.rs`; TLS refusals: `mtls.rs`.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use boltgate_proto::message::{Begin, Request, Response};
use boltgate_proto::packstream::Map;

use super::cluster::{FakeCluster, CRASH};
use super::common::admin::{scrape, value};
use super::common::bolt::{failure_of, Got, RawBolt, HELLO_5_AND_4_4};
use super::common::{self, free_addr, Boltgate};
use super::fake_cluster::{start_gate, PY_TIMEOUT};

const READ_Q: &str = "RETURN 2";
const WAIT: Duration = Duration::from_secs(15);

#[test]
fn a_member_dying_mid_transaction_fails_it_without_a_rerun_elsewhere() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    check_crash_mid_transaction(&cluster, &gate);
}

/// A reader crashes inside the driver's read transaction (routing_crash.py): the driver sees a
/// connection loss, nothing is re-run elsewhere, later reads go to the surviving reader. The
/// same outcome with transaction pooling (`pooled.rs`). Returns the dead member.
pub fn check_crash_mid_transaction(cluster: &FakeCluster, gate: &Boltgate) -> usize {
    let uri = gate.uri_with_scheme("neo4j");
    let out = common::run_py(
        "routing_crash.py",
        &[
            &uri,
            "--database",
            "neo4j",
            "--reads",
            "5",
            "--connect-timeout",
            "5",
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["first"], serde_json::json!([[41]]), "{out}");
    // The driver sees the member's loss as a connection loss, as it would direct (a routing
    // driver: SessionExpired), not a FAILURE of boltgate's claiming the work may be retried.
    let err = &out["error"];
    assert!(err["code"].is_null(), "no FAILURE: {out}");
    assert!(
        ["SessionExpired", "ServiceUnavailable"].contains(&err["class"].as_str().unwrap_or("")),
        "{out}"
    );

    // Exactly one reader ran the transaction; nothing of it reached another member.
    let dead = (1..3)
        .find(|i| cluster.count(*i, CRASH) == 1)
        .expect("a reader ran the crashing query");
    let alive = 3 - dead;
    for q in ["RETURN 41", CRASH] {
        assert_eq!(cluster.count(dead, q), 1, "{q} ran once on m{dead}");
        assert_eq!(cluster.count(alive, q), 0, "{q} was re-run on m{alive}");
        assert_eq!(cluster.count(0, q), 0, "{q} was re-run on the writer");
    }
    // Later transactions went to the surviving reader.
    assert_eq!(out["later_reads"], 5, "{out}");
    assert_eq!(cluster.count(alive, READ_Q), 5);
    assert_eq!(cluster.count(dead, READ_Q), 0);
    assert!(gate.log_contains("cluster member lost with work in flight"));
    dead
}

/// One read transaction on `c` (BEGIN r, RUN, PULL, COMMIT); the first FAILURE if any.
fn read_tx(c: &mut RawBolt) -> Result<(), String> {
    let mut extra = Map::new();
    extra.push("mode", "r");
    extra.push("db", "neo4j");
    c.send(&Request::Begin(Begin { extra }));
    c.run_and_pull(READ_Q);
    c.send(&Request::Commit);
    for step in ["BEGIN", "RUN", "RECORD", "PULL", "COMMIT"] {
        match c.recv(WAIT) {
            Got::Message(r @ Response::Failure(_)) => {
                return Err(format!("{step}: {:?}", failure_of(&r)));
            }
            Got::Message(_) => {}
            other => return Err(format!("{step}: {other:?}")),
        }
    }
    Ok(())
}

/// Runs read transactions every 100 ms until `done` or 40 s; panics on the first failure.
fn reads_until(gate: &Boltgate, c: &mut RawBolt, mut done: impl FnMut() -> bool) -> usize {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut n = 0;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{}",
            common::tail(&gate.log(), 4000)
        );
        read_tx(c).unwrap_or_else(|e| {
            panic!("read {n} failed: {e}\n{}", common::tail(&gate.log(), 4000))
        });
        n += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    n
}

fn gate_with_admin(cluster: &FakeCluster) -> (Boltgate, SocketAddr) {
    let admin = free_addr();
    let text = admin.to_string();
    let gate = start_gate(
        cluster,
        &[
            ("server.http.enabled", "true"),
            ("server.http.listen_address", &text),
        ],
    );
    (gate, admin)
}

#[test]
fn tables_are_refreshed_in_the_background_before_they_expire() {
    let cluster = FakeCluster::start(None);
    cluster.set_ttl(4);
    cluster.set_table(&[0], &[1, 2], &[0, 1, 2]);
    let (gate, admin) = gate_with_admin(&cluster);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    reads_until(&gate, &mut c, || {
        gate.log_contains("routing table refreshed in the background")
    });
    let s = scrape(admin);
    let ok = value(
        &s,
        "boltgate_routing_table_refreshes_total",
        &[("db", "neo4j"), ("result", "ok")],
    );
    assert!(ok >= 2.0, "the first fetch and a background refresh: {ok}");
    assert_eq!(
        value(
            &s,
            "boltgate_routing_table_refreshes_total",
            &[("result", "failed")]
        ),
        0.0
    );
}

#[test]
fn when_no_router_answers_the_stale_table_keeps_traffic_flowing() {
    let cluster = FakeCluster::start(None);
    cluster.set_ttl(2);
    cluster.set_table(&[0], &[1, 2], &[0, 1, 2]);
    let (gate, admin) = gate_with_admin(&cluster);
    let mut c = RawBolt::connect(gate.addr);
    c.login(&HELLO_5_AND_4_4);
    read_tx(&mut c).expect("a first read fetches the table");

    cluster.set_refuse_route(true);
    let before: usize = (1..3).map(|i| cluster.count(i, READ_Q)).sum();
    reads_until(&gate, &mut c, || {
        gate.log_contains("routing table refresh failed; using the stale table")
    });
    for _ in 0..5 {
        read_tx(&mut c).expect("reads go on with the stale table");
    }
    let after: usize = (1..3).map(|i| cluster.count(i, READ_Q)).sum();
    assert!(
        after >= before + 5,
        "reads ran on the readers: {before} -> {after}"
    );
    let s = scrape(admin);
    assert!(
        value(
            &s,
            "boltgate_routing_stale_table_uses_total",
            &[("db", "neo4j")]
        ) >= 1.0
    );
    assert!(
        value(
            &s,
            "boltgate_routing_table_refreshes_total",
            &[("db", "neo4j"), ("result", "failed")]
        ) >= 1.0
    );

    // A driver starting now still gets its work done.
    let out = super::fake_cluster::routing_py(&gate, &["--writes", "1", "--reads", "2"]);
    assert_eq!(out["reads"], 3, "{out}");
}

/// The routed relay bounds the login as the plain one does: a client that stops after the version
/// handshake, or after HELLO, is closed at `boltgate.client.handshake_timeout`; a logged-in one
/// stays (no idle timeout set).
#[test]
fn routed_clients_that_stop_before_logging_in_are_closed_at_the_handshake_timeout() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[("boltgate.client.handshake_timeout", "1s")]);
    let mut logged_in = RawBolt::connect(gate.addr);
    logged_in.try_login(&HELLO_5_AND_4_4).unwrap();

    let mut silent = RawBolt::connect(gate.addr);
    assert!(silent.handshake(&HELLO_5_AND_4_4).is_some());
    let mut half = RawBolt::connect(gate.addr);
    assert!(half.handshake(&HELLO_5_AND_4_4).is_some());
    let mut extra = Map::new();
    extra.push("user_agent", "boltgate-tests/1.0");
    half.send(&Request::Hello(boltgate_proto::message::Hello { extra }));
    assert!(
        matches!(half.recv(WAIT), Got::Message(Response::Success(_))),
        "HELLO answered: {}",
        gate.log()
    );
    let start = Instant::now();
    assert!(silent.closes_silently(WAIT), "closed without a word");
    assert!(matches!(half.recv(WAIT), Got::Closed), "closed after HELLO");
    assert!(start.elapsed() < WAIT, "closed by the deadline");
    assert!(
        gate.wait_for_log("did not send HELLO/LOGON", WAIT),
        "{}",
        gate.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    logged_in.run_and_pull(READ_Q);
    let got: Vec<Got> = (0..3).map(|_| logged_in.recv(WAIT)).collect();
    assert!(
        matches!(got[2], Got::Message(Response::Success(_))),
        "the logged-in client is still served: {got:?}\n{}",
        gate.log()
    );
}

#[test]
fn a_routed_clients_goodbye_reaches_every_member_it_used() {
    let cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    let mut c = RawBolt::connect(gate.addr);
    if let Err(e) = c.try_login(&HELLO_5_AND_4_4) {
        panic!("{e}\n{}", gate.log());
    }
    c.run_and_pull("RETURN 1");
    let got: Vec<Got> = (0..3).map(|_| c.recv(WAIT)).collect();
    assert!(
        matches!(got[2], Got::Message(Response::Success(_))),
        "{got:?}\n{}",
        gate.log()
    );
    c.send(&Request::Goodbye);
    assert_eq!(c.until_closed(WAIT), vec![]);
    let goodbyes = || {
        (0..3)
            .map(|m| cluster.names(m).iter().filter(|n| **n == "GOODBYE").count())
            .sum::<usize>()
    };
    // The writer ran the query (write mode by default): at least its connection says GOODBYE,
    // as the client's own connection to it would have.
    assert!(
        common::wait_until(WAIT, || goodbyes() >= 1
            && cluster.names(0).contains(&"GOODBYE")),
        "GOODBYEs {:?}\n{}",
        (0..3).map(|m| cluster.names(m)).collect::<Vec<_>>(),
        gate.log()
    );
}

#[test]
fn a_member_lost_between_the_requests_of_a_transaction_closes_the_client_without_a_failure() {
    let mut cluster = FakeCluster::start(None);
    let gate = start_gate(&cluster, &[]);
    let mut c = RawBolt::connect(gate.addr);
    if let Err(e) = c.try_login(&HELLO_5_AND_4_4) {
        panic!("{e}\n{}", gate.log());
    }
    // A write transaction on the writer (member 0), one query answered.
    c.send(&Request::Begin(boltgate_proto::message::Begin {
        extra: Map::new(),
    }));
    c.run_and_pull("RETURN 1");
    let got: Vec<Got> = (0..4).map(|_| c.recv(WAIT)).collect();
    assert!(
        got.iter()
            .all(|g| matches!(g, Got::Message(r) if failure_of(r).is_none())),
        "{got:?}\n{}",
        gate.log()
    );
    cluster.kill(0);
    // Direct, the transaction's connection would be gone: so is the client's, at once and
    // without a FAILURE of boltgate's.
    assert_eq!(c.recv(WAIT), Got::Closed, "{}", gate.log());
    assert!(
        gate.wait_for_log("cluster member lost inside the client's transaction", WAIT),
        "{}",
        gate.log()
    );
}

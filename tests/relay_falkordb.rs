//! The relay with real peers: the official Python driver through boltgate to FalkorDB, over
//! plaintext Bolt. What a user sees must be what they would see talking to FalkorDB directly
//! (tests/harness.rs checks the same scripts without boltgate).

mod common;

use std::time::Duration;

use common::{Boltgate, FalkorDb};
use serde_json::json;

const PY_TIMEOUT: Duration = Duration::from_secs(120);

fn proxy_to(db: &FalkorDb) -> Boltgate {
    Boltgate::start(&[("boltgate.upstream.uri", &db.bolt_uri())])
}

#[test]
fn values_nodes_relationships_paths_and_errors_arrive_as_from_the_server() {
    let db = FalkorDb::start();
    let gate = proxy_to(&db);
    let queries = json!([
        "RETURN 1 AS x, 'a' AS y",
        {"query": "RETURN $p AS p", "params": {"p": [1, 2.5, {"a": null}]}},
        "CREATE (a:P {n: 1})-[r:K {w: 2}]->(b:Q) RETURN a, r, b",
        "MATCH p=(:P)-[:K]->(:Q) RETURN p",
        "RETURN 1 +",
        "RETURN 5 AS after_error"
    ])
    .to_string();
    let out = common::run_py(
        "query.py",
        &[&gate.bolt_uri(), &queries, "--allow-errors"],
        PY_TIMEOUT,
    );
    let r = &out["results"];
    assert_eq!(r[0]["keys"], json!(["x", "y"]));
    assert_eq!(r[0]["records"], json!([[1, "a"]]));
    assert_eq!(r[1]["records"], json!([[[1, 2.5, {"a": null}]]]));
    let created = &r[2]["records"][0];
    assert_eq!(created[0]["$node"]["labels"], json!(["P"]));
    assert_eq!(created[1]["$relationship"]["type"], "K");
    assert_eq!(created[1]["$relationship"]["properties"], json!({"w": 2}));
    assert_eq!(r[2]["summary"]["counters"]["nodes_created"], 2);
    let path = &r[3]["records"][0][0]["$path"];
    assert_eq!(path["nodes"].as_array().map(Vec::len), Some(2));
    assert_eq!(path["relationships"].as_array().map(Vec::len), Some(1));
    // The syntax error is FalkorDB's own FAILURE, forwarded unchanged.
    assert_eq!(
        r[4]["error"]["code"], "Neo.DatabaseError.General.UnknownError",
        "{}",
        r[4]
    );
    assert_eq!(
        r[5]["records"],
        json!([[5]]),
        "the session is usable after the error"
    );
}

#[test]
fn every_packstream_type_round_trips_through_boltgate() {
    let db = FalkorDb::start();
    let gate = proxy_to(&db);
    let out = common::run_py("types.py", &[&gate.bolt_uri()], PY_TIMEOUT);
    let checked = out["checked"].as_u64().expect("checked count");
    assert!(checked >= 60, "only {checked} cases checked: {out}");
}

#[test]
fn explicit_transactions_commit_and_roll_back_through_boltgate() {
    let db = FalkorDb::start();
    let gate = proxy_to(&db);
    let out = common::run_py("tx.py", &[&gate.bolt_uri()], PY_TIMEOUT);
    assert_eq!(out["committed"], 3);
    assert_eq!(out["rollback_ok"], true);
    assert_eq!(out["usable_after_error"], true);
    for key in ["syntax_error", "tx_error"] {
        assert_eq!(out[key]["class"], "DatabaseError", "{key}: {}", out[key]);
        assert_eq!(out[key]["is_neo4j_error"], true);
    }
}

#[test]
fn a_hundred_thousand_rows_stream_through_complete_and_in_order() {
    let db = FalkorDb::start();
    let gate = proxy_to(&db);
    let out = common::run_py(
        "many_rows.py",
        &[&gate.bolt_uri(), "--rows", "100000"],
        PY_TIMEOUT,
    );
    assert_eq!(out["rows"], 100_000);
    assert_eq!(out["checksum"], 2_505_808_350_000u64);
}

/// Three sessions, under the four busy connections FalkorDB 4.16 is known to crash at (README,
/// "Transaction pooling"); eight at once go through boltgate to Neo4j in tests/neo4j_drivers.rs.
#[test]
fn three_concurrent_sessions_each_get_their_own_results() {
    let mut db = FalkorDb::start();
    let mut gate = proxy_to(&db);
    let out = common::try_run_py(
        "concurrent_sessions.py",
        &[&gate.bolt_uri(), "--threads", "3", "--queries", "100"],
        PY_TIMEOUT,
    )
    .unwrap_or_else(|e| {
        // Say which side went, so a server crash is not read as boltgate's.
        panic!(
            "{e}\nFalkorDB running: {}, boltgate running: {}\n--- FalkorDB log ---\n{}\n--- boltgate log ---\n{}",
            db.is_running(),
            gate.is_running(),
            common::tail(&db.log(), 3000),
            common::tail(&gate.log(), 6000)
        )
    });
    assert_eq!(out["ok"], 300, "{out}");
    assert!(!gate.log_contains(" ERROR "), "{}", gate.log());
}

#[test]
fn goodbye_is_relayed_and_forward_goodbye_false_keeps_falkordb_serving() {
    // Direct to FalkorDB, a connection after a GOODBYE is never served (tests/harness.rs).
    // By default boltgate relays the driver's GOODBYEs, as the driver would direct: FalkorDB
    // then has slots to absorb, as direct.
    let mut db = FalkorDb::start();
    let relaying = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.upstream.forward_goodbye", "true"),
    ]);
    let q = json!(["RETURN 1 AS i"]).to_string();
    common::run_py("query.py", &[&relaying.bolt_uri(), &q], PY_TIMEOUT);
    assert!(
        db.absorb_goodbye_slots() >= 1,
        "the GOODBYE reached FalkorDB"
    );
    drop(relaying);

    // With boltgate.upstream.forward_goodbye=false (FalkorDB's deployment setting), driver
    // after driver works with no slot absorbing in between.
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.upstream.forward_goodbye", "false"),
    ]);
    for i in 0..4 {
        let q = json!([format!("RETURN {i} AS i")]).to_string();
        let out = common::run_py(
            "query.py",
            &[&gate.bolt_uri(), &q, "--connect-timeout", "5"],
            PY_TIMEOUT,
        );
        assert_eq!(out["results"][0]["records"], json!([[i]]), "client {i}");
    }
    assert_eq!(db.absorb_goodbye_slots(), 0, "a GOODBYE reached FalkorDB");
}

/// The time (ms) `pid`'s threads spend on CPU over `window`.
fn cpu_ms_over(pid: u32, window: Duration) -> u64 {
    let on_cpu = || boltgate_testkit::cpu::on_cpu_ns(pid).expect("the process's schedstat");
    let before = on_cpu();
    std::thread::sleep(window);
    (on_cpu() - before) / 1_000_000
}

/// `boltgate.runtime.busy_polling=true`: a driver's queries work as before, and the proxy keeps
/// its workers on CPU while nobody talks to it, where one without the setting sleeps.
#[test]
fn busy_polling_serves_a_driver_and_keeps_the_idle_proxy_on_cpu() {
    let db = FalkorDb::start();
    let busy = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.runtime.busy_polling", "true"),
    ]);
    let queries = json!(["RETURN 1 AS x", "UNWIND range(1, 3) AS i RETURN i"]).to_string();
    let out = common::run_py("query.py", &[&busy.bolt_uri(), &queries], PY_TIMEOUT);
    assert_eq!(out["results"][0]["records"], json!([[1]]), "{out}");
    assert_eq!(
        out["results"][1]["records"],
        json!([[1], [2], [3]]),
        "{out}"
    );
    assert!(
        busy.log_contains("busy polling"),
        "no start-up line about busy polling:\n{}",
        busy.log()
    );
    let sleeping = proxy_to(&db);
    let window = Duration::from_secs(1);
    let (busy_ms, sleeping_ms) = (
        cpu_ms_over(busy.pid, window),
        cpu_ms_over(sleeping.pid, window),
    );
    // A spinning worker gets its share of a CPU however loaded the machine is; a sleeping
    // proxy spends next to nothing.
    assert!(
        busy_ms >= 100 && busy_ms > sleeping_ms + 50,
        "idle for {window:?}: {busy_ms} ms on CPU with busy polling, {sleeping_ms} ms without"
    );
}

/// `boltgate.runtime.busy_polling_window`: a driver's queries work as before; the idle proxy
/// sleeps until a session writes, then stays on CPU for the window after the last write, and
/// sleeps again once it has passed.
#[test]
fn a_busy_polling_window_keeps_the_proxy_on_cpu_after_a_query_and_no_longer() {
    let db = FalkorDb::start();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("boltgate.runtime.busy_polling_window", "2s"),
    ]);
    assert!(
        gate.log_contains("busy_polling_window"),
        "no start-up line about the window:\n{}",
        gate.log()
    );
    let measure = Duration::from_secs(1);
    let before_any = cpu_ms_over(gate.pid, measure);
    let queries = json!(["RETURN 1 AS x", "UNWIND range(1, 3) AS i RETURN i"]).to_string();
    let out = common::run_py("query.py", &[&gate.bolt_uri(), &queries], PY_TIMEOUT);
    assert_eq!(out["results"][0]["records"], json!([[1]]), "{out}");
    assert_eq!(
        out["results"][1]["records"],
        json!([[1], [2], [3]]),
        "{out}"
    );
    // The driver's last write went through boltgate just before it exited: inside the window.
    let inside = cpu_ms_over(gate.pid, measure);
    // Past the window: 2 s after the last write, and more.
    std::thread::sleep(Duration::from_millis(1500));
    let after = cpu_ms_over(gate.pid, measure);
    // A spinning worker gets its share of a CPU however loaded the machine is; a sleeping
    // proxy spends next to nothing.
    assert!(
        inside >= 100 && inside > before_any + 50 && inside > after + 50,
        "on CPU over {measure:?}: {before_any} ms before any session, {inside} ms within the \
         window after a query, {after} ms once it had passed"
    );
}

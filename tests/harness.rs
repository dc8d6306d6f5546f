//! Proves the test harness against the real peers, with no proxy in between: FalkorDB as the
//! Bolt server, the official Python driver as the client, stunnel as a reference TLS
//! terminator. If these fail, a failing proxy test says nothing about boltgate.

mod common;

use std::time::Duration;

use common::{bolt_handshake, FalkorDb, Stunnel, TestPki};
use serde_json::{json, Value};

/// Generous: a 2-core machine shared with builds.
const PY_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn falkordb_answers_a_bolt_5_handshake() {
    let db = FalkorDb::start();
    let reply = bolt_handshake(db.bolt_addr(), Duration::from_secs(5)).expect("handshake reply");
    // 00 00 minor 05: some 5.x between 5.1 and 5.7.
    assert_eq!(reply[0..2], [0, 0], "reply {reply:02x?}");
    assert_eq!(reply[3], 5, "major version in {reply:02x?}");
    assert!((1..=7).contains(&reply[2]), "minor version in {reply:02x?}");
}

#[test]
fn query_script_returns_values_nodes_relationships_paths_and_errors() {
    let mut db = FalkorDb::start();
    let queries = json!([
        "RETURN 1 AS x, 'a' AS y",
        {"query": "RETURN $p AS p", "params": {"p": [1, 2.5, {"a": null}]}},
        "CREATE (a:P {n: 1})-[r:K {w: 2}]->(b:Q) RETURN a, r, b",
        "MATCH p=(:P)-[:K]->(:Q) RETURN p",
        "RETURN 1 +",
        "RETURN 5 AS after_error"
    ])
    .to_string();
    let out = db.run_py("query.py", &[&queries, "--allow-errors"], PY_TIMEOUT);
    let r = &out["results"];
    assert_eq!(r[0]["keys"], json!(["x", "y"]));
    assert_eq!(r[0]["records"], json!([[1, "a"]]));
    assert_eq!(r[1]["records"], json!([[[1, 2.5, {"a": null}]]]));
    let created = &r[2]["records"][0];
    assert_eq!(created[0]["$node"]["labels"], json!(["P"]));
    assert_eq!(created[0]["$node"]["properties"], json!({"n": 1}));
    assert_eq!(created[1]["$relationship"]["type"], "K");
    assert_eq!(created[1]["$relationship"]["properties"], json!({"w": 2}));
    assert_eq!(r[2]["summary"]["counters"]["nodes_created"], 2);
    assert_eq!(r[2]["summary"]["counters"]["relationships_created"], 1);
    let path = &r[3]["records"][0][0]["$path"];
    assert_eq!(path["nodes"].as_array().map(Vec::len), Some(2));
    assert_eq!(path["relationships"].as_array().map(Vec::len), Some(1));
    assert!(
        r[4]["error"]["code"]
            .as_str()
            .unwrap_or("")
            .starts_with("Neo."),
        "error entry: {}",
        r[4]
    );
    assert_eq!(r[5]["records"], json!([[5]]));
}

#[test]
fn every_packstream_type_round_trips_through_the_driver() {
    let mut db = FalkorDb::start();
    let out = db.run_py("types.py", &[], PY_TIMEOUT);
    let checked = out["checked"].as_u64().expect("checked count");
    assert!(checked >= 60, "only {checked} cases checked: {out}");
}

#[test]
fn explicit_transactions_commit_roll_back_and_report_syntax_errors() {
    let mut db = FalkorDb::start();
    let out = db.run_py("tx.py", &[], PY_TIMEOUT);
    assert_eq!(out["committed"], 3);
    assert_eq!(out["rollback_ok"], true);
    assert_eq!(out["usable_after_error"], true);
    // What FalkorDB sends for a syntax error (see tests/common/falkordb.rs).
    for key in ["syntax_error", "tx_error"] {
        assert_eq!(out[key]["class"], "DatabaseError", "{key}: {}", out[key]);
        assert_eq!(
            out[key]["code"], "Neo.DatabaseError.General.UnknownError",
            "{key}"
        );
        assert_eq!(out[key]["is_neo4j_error"], true);
    }
}

#[test]
fn a_hundred_thousand_rows_arrive_complete_and_in_order() {
    let mut db = FalkorDb::start();
    let out = db.run_py("many_rows.py", &["--rows", "100000"], PY_TIMEOUT);
    assert_eq!(out["rows"], 100_000);
    assert_eq!(out["checksum"], 2_505_808_350_000u64);
}

/// Three sessions: FalkorDB 4.16 crashes with four or more busy connections at once (it did
/// here with eight, in CI). Eight at once run against Neo4j, in tests/neo4j_drivers.rs.
#[test]
fn three_concurrent_sessions_each_get_their_own_results() {
    let mut db = FalkorDb::start();
    let out = db.run_py(
        "concurrent_sessions.py",
        &["--threads", "3", "--queries", "100"],
        PY_TIMEOUT,
    );
    assert_eq!(out["ok"], 300, "{out}");
}

#[test]
fn goodbye_poisons_exactly_one_later_connection_per_connection_and_absorbing_fixes_it() {
    let mut db = FalkorDb::start();
    // One driver session: its close sends one GOODBYE.
    common::run_py(
        "query.py",
        &[&db.bolt_uri(), r#"["RETURN 1 AS x"]"#],
        PY_TIMEOUT,
    );
    assert_eq!(
        db.absorb_goodbye_slots(),
        1,
        "one GOODBYE, one poisoned slot"
    );
    // Eight pooled connections: eight GOODBYEs on driver close.
    common::run_py(
        "concurrent_sessions.py",
        &[&db.bolt_uri(), "--threads", "8", "--queries", "5"],
        PY_TIMEOUT,
    );
    let absorbed = db.absorb_goodbye_slots();
    assert!(
        (1..=8).contains(&absorbed),
        "expected up to 8 poisoned slots after 8 GOODBYEs, absorbed {absorbed}"
    );
    // Nothing pending: the next driver connects at once.
    assert_eq!(db.absorb_goodbye_slots(), 0);
    let out = db.run_py("query.py", &[r#"["RETURN 2 AS x"]"#], PY_TIMEOUT);
    assert_eq!(out["results"][0]["records"], json!([[2]]));
}

#[test]
fn scripts_report_wrong_results_and_timeouts_as_failures() {
    // A query that fails without --allow-errors exits 1 with the driver's code on stderr.
    let mut db = FalkorDb::start();
    let failure = common::try_run_py(
        "query.py",
        &[&db.bolt_uri(), r#"["RETURN 1 +"]"#],
        PY_TIMEOUT,
    )
    .expect_err("a failing query must fail the script");
    db.absorb_goodbye_slots();
    assert_eq!(failure.status.and_then(|s| s.code()), Some(1), "{failure}");
    assert!(
        failure.fail_message().unwrap_or("").contains("Neo."),
        "{failure}"
    );
    // Nothing listening: the driver gives up and the script fails (no hang, no JSON).
    let port = common::free_port();
    let failure = common::try_run_py(
        "query.py",
        &[
            &format!("bolt://127.0.0.1:{port}"),
            r#"["RETURN 1"]"#,
            "--connect-timeout",
            "2",
        ],
        PY_TIMEOUT,
    )
    .expect_err("no server must fail the script");
    assert!(failure.status.is_some(), "{failure}");
}

#[test]
fn driver_with_a_custom_ca_reaches_falkordb_through_stunnel() {
    if common::stunnel::stunnel_bin().is_none() {
        // .ci/run installs stunnel4; a developer machine may not have it.
        eprintln!("SKIPPED: stunnel is not installed (apt-get install stunnel4)");
        return;
    }
    let mut db = FalkorDb::start();
    let pki = TestPki::new();
    let tls = Stunnel::start(
        &pki.server.chain_path,
        &pki.server.key_path,
        common::free_port(),
        db.bolt_port,
    );
    let ca = pki.ca_path.to_str().expect("utf-8 path");
    for host in ["localhost", "127.0.0.1"] {
        let uri = format!("bolt://{host}:{}", tls.accept_port);
        let out = common::run_py(
            "query.py",
            &[&uri, r#"["RETURN 7 AS x"]"#, "--ca", ca],
            PY_TIMEOUT,
        );
        db.absorb_goodbye_slots();
        assert_eq!(out["results"][0]["records"], json!([[7]]), "via {uri}");
    }
    // bolt+ssc (encrypted, any certificate) works too.
    let uri = format!("bolt+ssc://localhost:{}", tls.accept_port);
    let out = common::run_py("query.py", &[&uri, r#"["RETURN 8 AS x"]"#], PY_TIMEOUT);
    db.absorb_goodbye_slots();
    assert_eq!(out["results"][0]["records"], json!([[8]]));
}

#[test]
fn driver_rejects_wrong_host_expired_and_untrusted_certificates() {
    if common::stunnel::stunnel_bin().is_none() {
        eprintln!("SKIPPED: stunnel is not installed (apt-get install stunnel4)");
        return;
    }
    let mut db = FalkorDb::start();
    let pki = TestPki::new();
    let other = TestPki::new(); // a CA the client does not trust
    let ca = pki.ca_path.to_str().expect("utf-8 path");
    let cases = [
        (
            "wrong host",
            &pki.wrong_host.chain_path,
            &pki.wrong_host.key_path,
        ),
        ("expired", &pki.expired.chain_path, &pki.expired.key_path),
        (
            "untrusted CA",
            &other.server.chain_path,
            &other.server.key_path,
        ),
    ];
    for (what, cert, key) in cases {
        let tls = Stunnel::start(cert, key, common::free_port(), db.bolt_port);
        let uri = format!("bolt://localhost:{}", tls.accept_port);
        let failure = common::try_run_py(
            "query.py",
            &[
                &uri,
                r#"["RETURN 1"]"#,
                "--ca",
                ca,
                "--connect-timeout",
                "5",
            ],
            PY_TIMEOUT,
        )
        .expect_err(what);
        db.absorb_goodbye_slots();
        let err: &str = &failure.stderr;
        assert!(
            err.contains("SSL") || err.contains("certificate"),
            "{what}: expected a certificate error, got:\n{failure}"
        );
    }
    // The control: the right certificate on the same path works.
    let tls = Stunnel::start(
        &pki.server.chain_path,
        &pki.server.key_path,
        common::free_port(),
        db.bolt_port,
    );
    let uri = format!("bolt://localhost:{}", tls.accept_port);
    let out: Value = common::run_py(
        "query.py",
        &[&uri, r#"["RETURN 1 AS x"]"#, "--ca", ca],
        PY_TIMEOUT,
    );
    db.absorb_goodbye_slots();
    assert_eq!(out["results"][0]["records"], json!([[1]]));
}

#[test]
fn test_pki_writes_the_neo4j_policy_layout_and_crls() {
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let key = std::fs::read_to_string(base.join("private.key")).expect("private.key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    let chain = std::fs::read_to_string(base.join("public.crt")).expect("public.crt");
    assert_eq!(chain.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    assert!(chain.starts_with(&pki.server.cert_pem), "leaf first");
    assert!(chain.ends_with(&pki.ca_pem), "CA last");
    let trusted = std::fs::read_to_string(base.join("trusted/ca.crt")).expect("trusted/ca.crt");
    assert_eq!(trusted, pki.ca_pem);
    assert!(base.join("revoked").is_dir());
    assert_eq!(
        std::fs::read_dir(base.join("revoked"))
            .expect("revoked")
            .count(),
        0
    );
    let crl = pki.crl_pem(&[&pki.client]);
    assert!(crl.starts_with("-----BEGIN X509 CRL-----"), "{crl}");
    assert_ne!(pki.client.serial, pki.server.serial);
}

#[test]
fn driver_presents_the_test_client_certificate_for_mutual_tls() {
    if common::stunnel::stunnel_bin().is_none() {
        eprintln!("SKIPPED: stunnel is not installed (apt-get install stunnel4)");
        return;
    }
    let mut db = FalkorDb::start();
    let pki = TestPki::new();
    let tls = Stunnel::start_mtls(
        &pki.server.chain_path,
        &pki.server.key_path,
        &pki.ca_path,
        common::free_port(),
        db.bolt_port,
    );
    let uri = format!("bolt://localhost:{}", tls.accept_port);
    let ca = pki.ca_path.to_str().expect("utf-8 path");
    let cert = pki.client.cert_path.to_str().expect("utf-8 path");
    let key = pki.client.key_path.to_str().expect("utf-8 path");
    let out = common::run_py(
        "query.py",
        &[
            &uri,
            r#"["RETURN 9 AS x"]"#,
            "--ca",
            ca,
            "--client-cert",
            cert,
            "--client-key",
            key,
        ],
        PY_TIMEOUT,
    );
    db.absorb_goodbye_slots();
    assert_eq!(out["results"][0]["records"], json!([[9]]));
    // Without a client certificate the handshake is refused.
    let failure = common::try_run_py(
        "query.py",
        &[
            &uri,
            r#"["RETURN 1"]"#,
            "--ca",
            ca,
            "--connect-timeout",
            "5",
        ],
        PY_TIMEOUT,
    )
    .expect_err("no client certificate must be refused");
    db.absorb_goodbye_slots();
    // TLS 1.3 refuses the client after its side of the handshake is done: the driver sees the
    // certificate-required alert, or, when stunnel's close wins the race with the driver's first
    // write, an EOF in the middle of the TLS session. Both are the refusal; anything else is not.
    assert!(
        failure.stderr.contains("CERTIFICATE_REQUIRED") || failure.stderr.contains("SSLEOFError"),
        "expected a certificate-required alert or the TLS session cut:\n{failure}"
    );
}

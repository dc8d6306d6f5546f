//! Certificate rotation without a restart.

use std::time::Duration;

use boltgate::testkit::client::{Auth, Client, Outcome};
use serde_json::json;

use crate::common::{self, Boltgate, FalkorDb};
use crate::settings;
use crate::support::{install, presented, tls_connect, Ca};

const WAIT: Duration = Duration::from_secs(15);
const PY_TIMEOUT: Duration = Duration::from_secs(60);

fn rows(outcome: Outcome) -> u64 {
    match outcome {
        Outcome::Rows { records, .. } => records,
        other => panic!("query failed: {other:?}"),
    }
}

#[test]
fn sighup_rotates_the_certificate_for_new_clients_and_open_connections_keep_working() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let base = ca.dir.path().join("bolt");
    let old = ca.leaf("old", None);
    let new = ca.leaf("new", None);
    ca.policy_dir(&base, &old);
    let uri = db.bolt_uri();
    let bg = Boltgate::start(&settings(
        &base,
        &uri,
        &[("dbms.security.tls_reload_enabled", "true")],
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A client connected (over TLS) before the rotation.
    let (mut before, shown) = rt.block_on(async {
        let (tls, shown) = tls_connect(bg.addr).await;
        let client = tokio::time::timeout(WAIT, Client::handshake(tls, &Auth::None))
            .await
            .unwrap()
            .unwrap();
        (client, shown)
    });
    assert_eq!(shown.leaf, old.der);
    assert_eq!(rt.block_on(before.run("RETURN 1")).map(rows).unwrap(), 1);

    install(&base, &new, &ca.pem);
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reloaded", WAIT), "{}", bg.log());
    assert!(bg.log_contains("trigger=\"SIGHUP\"") || bg.log_contains("trigger=SIGHUP"));

    // New clients see the new certificate (compared byte for byte, and by fingerprint).
    let now = presented(bg.addr);
    assert_eq!(
        now.leaf, new.der,
        "a new client must see the new certificate"
    );
    let fp = boltgate::tls::reload::fingerprint(&now.leaf.clone().into());
    assert!(
        bg.log_contains(&fp),
        "the reload logs the new fingerprint {fp}: {}",
        bg.log()
    );
    // The connection opened before keeps working.
    assert_eq!(rt.block_on(before.run("RETURN 2")).map(rows).unwrap(), 1);
}

#[test]
fn a_broken_new_key_leaves_the_old_certificate_in_service() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let base = ca.dir.path().join("bolt");
    let old = ca.leaf("old", None);
    let other = ca.leaf("other", None);
    ca.policy_dir(&base, &old);
    let uri = db.bolt_uri();
    let bg = Boltgate::start(&settings(
        &base,
        &uri,
        &[("dbms.security.tls_reload_enabled", "true")],
    ));
    // A key that does not parse.
    std::fs::write(
        base.join("private.key"),
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reload failed", WAIT), "{}", bg.log());
    assert!(
        bg.log_contains("dbms.ssl.policy.bolt.private_key"),
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, old.der);

    // A valid key of another certificate: refused too, the old one still served.
    std::fs::write(base.join("private.key"), &other.key_pem).unwrap();
    bg.signal("HUP");
    assert!(
        common::wait_until(WAIT, || bg.log().matches("TLS reload failed").count() >= 2),
        "{}",
        bg.log()
    );
    assert!(
        bg.log_contains("does not match the certificate"),
        "{}",
        bg.log()
    );
    assert_eq!(presented(bg.addr).leaf, old.der);
    // And TLS clients still get through to the upstream.
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["RETURN 7 AS n"]).to_string(),
            "--ca",
            ca.cert_path.to_str().unwrap(),
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 7);
}

#[test]
fn reload_tls_procedure_through_the_python_driver() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let base = ca.dir.path().join("bolt");
    let old = ca.leaf("old", None);
    let new = ca.leaf("new", None);
    ca.policy_dir(&base, &old);
    let uri = db.bolt_uri();
    let bg = Boltgate::start(&settings(
        &base,
        &uri,
        &[("dbms.security.tls_reload_enabled", "true")],
    ));
    install(&base, &new, &ca.pem);
    let ca_path = ca.cert_path.to_str().unwrap();
    // Over TLS, then a query on the same session: the local answer and the upstream's stay in order.
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!([
                "RETURN 1 AS n",
                "CALL dbms.security.reloadTLS()",
                "RETURN 2 AS n"
            ])
            .to_string(),
            "--ca",
            ca_path,
        ],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 1, "{out}");
    assert_eq!(out["results"][1]["records"], json!([]), "{out}");
    assert_eq!(out["results"][2]["records"][0][0], 2, "{out}");
    assert!(bg.log_contains("TLS reloaded"), "{}", bg.log());
    assert_eq!(presented(bg.addr).leaf, new.der);

    // A broken reload answers with the reason, and the session goes on after it.
    std::fs::write(base.join("public.crt"), "garbage").unwrap();
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["CALL dbms.security.reloadTLS()", "RETURN 3 AS n"]).to_string(),
            "--allow-errors",
        ],
        PY_TIMEOUT,
    );
    let err = &out["results"][0]["error"];
    assert_eq!(
        err["code"], "Neo.ClientError.Procedure.ProcedureCallFailed",
        "{out}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("dbms.ssl.policy.bolt.public_certificate"),
        "{out}"
    );
    assert_eq!(out["results"][1]["records"][0][0], 3, "{out}");
    assert_eq!(presented(bg.addr).leaf, new.der);
}

#[test]
fn reload_tls_procedure_fails_clearly_when_reload_is_disabled() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let base = ca.dir.path().join("bolt");
    let old = ca.leaf("old", None);
    ca.policy_dir(&base, &old);
    let uri = db.bolt_uri();
    let mut bg = Boltgate::start(&settings(&base, &uri, &[]));
    let out = common::run_py(
        "query.py",
        &[
            &bg.bolt_uri(),
            &json!(["call dbms.security.reloadtls()", "RETURN 4 AS n"]).to_string(),
            "--allow-errors",
        ],
        PY_TIMEOUT,
    );
    let err = &out["results"][0]["error"];
    assert_eq!(
        err["code"], "Neo.ClientError.Procedure.ProcedureCallFailed",
        "{out}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("dbms.security.tls_reload_enabled=false"),
        "{out}"
    );
    assert_eq!(out["results"][1]["records"][0][0], 4, "{out}");
    bg.signal("HUP");
    assert!(bg.wait_for_log("TLS reload refused", WAIT), "{}", bg.log());
    assert!(bg.is_running(), "SIGHUP must not stop boltgate");
}

//! OCSP stapling as the official Java driver checks it (the Neo4j manual: "OCSP stapling is
//! also available for Java Bolt driver"): `Config.TrustStrategy.trustCustomCertificateSignedBy
//! (ca).withStrictRevocationChecks()` / `.withVerifyIfPresentRevocationChecks()`, through
//! tests/drivers/java-ocsp, against boltgate with `server.bolt.ocsp_stapling_enabled=true`
//! in front of FalkorDB, and `openssl ocsp` as the responder.
//!
//! Each case stops the responder before the driver connects where that matters, so a verdict
//! can only come from the staple (or from its absence), never from the driver asking the
//! responder itself.

use std::time::Duration;

use crate::common::{self, java, Boltgate, FalkorDb};
use crate::support::{stapling, Ca, Responder};

const WAIT: Duration = Duration::from_secs(20);
const JAVA_TIMEOUT: Duration = Duration::from_secs(90);

/// The Java driver's verdict: Ok(value of `RETURN 1`) or Err(its exception chain).
fn java_query(gate: &Boltgate, ca: &Ca, mode: &str) -> Result<i64, String> {
    let uri = format!("bolt://localhost:{}", gate.addr.port());
    let run = java::run(
        "java-ocsp",
        &[&uri, ca.cert_path.to_str().unwrap(), mode],
        JAVA_TIMEOUT,
    );
    let json = run.json.unwrap_or_else(|| {
        panic!(
            "no JSON line from java-ocsp:\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    if json["ok"] == true {
        Ok(json["value"].as_i64().expect("value"))
    } else {
        Err(json["chain"].as_str().unwrap_or_default().to_string())
    }
}

#[test]
fn java_driver_accepts_boltgates_good_staple_and_refuses_without_one_when_strict() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    let responder = Responder::start(&ca, port, &[&leaf], &[], &["-ndays", "1"]);
    let bg = stapling(&ca, &leaf, &db.bolt_uri(), &[]);
    assert!(
        bg.wait_for_log("OCSP staple obtained", WAIT),
        "{}",
        bg.log()
    );
    // From here on only the staple can vouch for the certificate.
    drop(responder);

    assert_eq!(java_query(&bg, &ca, "strict"), Ok(1), "{}", bg.log());
    assert_eq!(java_query(&bg, &ca, "if-present"), Ok(1), "{}", bg.log());

    // The same certificate from a boltgate that staples nothing: strict checking refuses it
    // (no status can be determined), the other two modes accept it.
    let base = ca.dir.path().join("no-stapling");
    ca.policy_dir(&base, &leaf);
    let plain = Boltgate::start(&crate::settings(&base, &db.bolt_uri(), &[]));
    let err = java_query(&plain, &ca, "strict").expect_err("strict without a staple");
    assert!(
        err.contains("SSLHandshakeException") && err.contains("revocation status"),
        "{err}"
    );
    assert_eq!(java_query(&plain, &ca, "none"), Ok(1));
}

#[test]
fn java_driver_refuses_a_revoked_certificate_boltgate_will_not_staple() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    let responder = Responder::start(&ca, port, &[], &[&leaf], &["-ndays", "1"]);
    // No upstream needed: every verdict here is reached in the TLS handshake.
    let bg = stapling(&ca, &leaf, "bolt://127.0.0.1:1", &[]);
    assert!(bg.wait_for_log("REVOKED", WAIT), "{}", bg.log());

    // With the responder still up, the driver's lenient mode asks it itself (the JDK follows
    // the certificate's OCSP URL when nothing is stapled) and learns the truth.
    let err = java_query(&bg, &ca, "if-present").expect_err("revoked, asked directly");
    assert!(
        err.contains("SSLHandshakeException") && err.contains("revoked"),
        "{err}"
    );
    drop(responder);
    let err = java_query(&bg, &ca, "strict").expect_err("revoked, nothing stapled");
    assert!(err.contains("SSLHandshakeException"), "{err}");
    // Without revocation checks the driver gets past the handshake (and then meets the
    // missing upstream), which shows the refusals above are the revocation check's.
    let err = java_query(&bg, &ca, "none").expect_err("no upstream");
    assert!(!err.contains("SSLHandshakeException"), "{err}");
}

#[test]
fn java_driver_refuses_a_staple_that_says_revoked() {
    // boltgate never staples a revoked response (a_revoked_bolt_certificate_is_not_stapled),
    // so the driver's reading of such a staple is shown against `openssl s_server`.
    let ca = Ca::new();
    let (leaf, port, url) = ca.leaf_with_responder("member");
    let responder = Responder::start(&ca, port, &[], &[&leaf], &["-ndays", "1"]);
    let staple = ca.dir.path().join("member.ocsp");
    crate::ocsp::fetch_response(&ca, &leaf, &url, &staple);
    drop(responder);
    let key = ca.dir.path().join("member.key");
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let server_port = common::free_port();
    let _server = crate::ocsp::s_server_with_staple(&leaf, &ca, &key, &staple, server_port);
    let run = java::run(
        "java-ocsp",
        &[
            &format!("bolt://localhost:{server_port}"),
            ca.cert_path.to_str().unwrap(),
            "strict",
        ],
        JAVA_TIMEOUT,
    );
    let chain = run.json.expect("a JSON line")["chain"].to_string();
    assert!(
        chain.contains("SSLHandshakeException") && chain.contains("revoked"),
        "{chain}"
    );
}

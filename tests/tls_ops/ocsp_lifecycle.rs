//! The staple over its life: signed by a delegated responder (accepted on both sides, and refused
//! when the responder's certificate lacks the OCSPSigning purpose), and dropped when it expires
//! while the responder is down, as the warning and the staple-age gauge show.

use std::time::Duration;

use serde_json::json;

use crate::common::admin::{samples, scrape};
use crate::common::{self, Boltgate, FalkorDb};
use crate::ocsp::status_of;
use crate::support::{presented, stapling, Ca, Responder};

const WAIT: Duration = Duration::from_secs(20);
const PY_TIMEOUT: Duration = Duration::from_secs(60);
const STAPLE_AGE: &str = "boltgate_ocsp_staple_age_seconds";

#[test]
fn a_delegated_responder_signature_is_accepted_on_both_sides() {
    let db = FalkorDb::start();
    let ca = Ca::new();
    let (member, port, _) = ca.leaf_with_responder("member");
    let delegate = ca.ocsp_signer("delegate", true);
    let _responder = Responder::start_signed_by(
        &ca,
        Some(&delegate),
        port,
        &[&member],
        &[],
        &["-ndays", "1"],
    );

    // B staples the delegate-signed response for its bolt certificate...
    let b = stapling(&ca, &member, &db.bolt_uri(), &[]);
    assert!(b.wait_for_log("OCSP staple obtained", WAIT), "{}", b.log());
    let staple = presented(b.addr).staple;
    assert!(!staple.is_empty(), "no staple in the handshake");
    assert_eq!(
        status_of(&staple, &member, &ca),
        boltgate::tls::ocsp::Status::Good
    );

    // ...and A, which requires a staple from its upstream, accepts B's.
    let a = Boltgate::start_with_env(
        &format!(
            "boltgate.upstream.uri=bolt+s://localhost:{}\nboltgate.upstream.ocsp_required=true\nboltgate.log.level=debug\n",
            b.addr.port()
        ),
        &[("SSL_CERT_FILE", ca.cert_path.to_str().unwrap())],
    );
    let out = common::run_py(
        "query.py",
        &[&a.bolt_uri(), &json!(["RETURN 5 AS n"]).to_string()],
        PY_TIMEOUT,
    );
    assert_eq!(out["results"][0]["records"][0][0], 5, "{}", a.log());
    assert!(a.log_contains("stapled OCSP response: good"), "{}", a.log());
}

#[test]
fn a_responder_certificate_without_the_ocsp_signing_purpose_is_not_trusted() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    // Issued by the right CA, but not for OCSP signing: RFC 6960 4.2.2.2 says not a delegate.
    let impostor = ca.ocsp_signer("impostor", false);
    let _responder =
        Responder::start_signed_by(&ca, Some(&impostor), port, &[&leaf], &[], &["-ndays", "1"]);
    let bg = stapling(&ca, &leaf, "bolt://127.0.0.1:1", &[]);
    assert!(bg.wait_for_log("OCSP fetch failed", WAIT), "{}", bg.log());
    assert!(
        bg.log_contains("nor with a delegated responder certificate"),
        "the log says why the response was refused: {}",
        bg.log()
    );
    assert!(!bg.log_contains("OCSP staple obtained"), "{}", bg.log());
    assert!(presented(bg.addr).staple.is_empty(), "nothing is stapled");
}

#[test]
fn an_expired_staple_is_dropped_with_a_warning_and_its_age_gauge_goes() {
    let ca = Ca::new();
    let (leaf, port, _) = ca.leaf_with_responder("bolt");
    // nextUpdate one minute after thisUpdate: the shortest validity `openssl ocsp` gives.
    let responder = Responder::start(&ca, port, &[&leaf], &[], &["-nmin", "1"]);
    let admin = common::free_addr();
    let admin_text = admin.to_string();
    let bg = stapling(
        &ca,
        &leaf,
        "bolt://127.0.0.1:1",
        &[
            ("server.http.enabled", "true"),
            ("server.http.listen_address", &admin_text),
        ],
    );
    assert!(
        bg.wait_for_log("OCSP staple obtained", WAIT),
        "{}",
        bg.log()
    );
    assert!(!presented(bg.addr).staple.is_empty(), "no staple at first");
    let ages: Vec<f64> = samples(&scrape(admin), STAPLE_AGE, &[("scope", "bolt")])
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{STAPLE_AGE} is not a gauge: {other:?}"),
        })
        .collect();
    assert_eq!(ages.len(), 1, "one staple-age series while stapling");
    assert!(
        (0.0..60.0).contains(&ages[0]),
        "age of a fresh staple: {}",
        ages[0]
    );

    drop(responder);
    assert!(
        bg.wait_for_log("OCSP staple expired", Duration::from_secs(150)),
        "{}",
        bg.log()
    );
    let line = bg
        .log()
        .lines()
        .find(|l| l.contains("OCSP staple expired"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("WARN"), "a warning: {line}");
    assert!(
        presented(bg.addr).staple.is_empty(),
        "an expired response is not stapled"
    );
    assert_eq!(
        samples(&scrape(admin), STAPLE_AGE, &[]).count(),
        0,
        "no staple, so no staple age"
    );
}

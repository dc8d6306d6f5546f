//! boltgate as a TLS client of its upstream: `bolt+s` (verified against the system roots, here
//! the test CA through `SSL_CERT_FILE`, and the host name) and `bolt+ssc` (any certificate).
//! The TLS servers are boltgate itself (A → B → FalkorDB) and stunnel, an independent
//! OpenSSL-based terminator, so our client is proven against OpenSSL too.

mod common;

use std::time::Duration;

use common::{Boltgate, FalkorDb, Stunnel, TestPki};
use serde_json::json;

const PY_TIMEOUT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(15);

fn run(gate: &Boltgate, n: u32) -> Result<u64, String> {
    let q = json!([format!("RETURN {n} AS n")]).to_string();
    common::try_run_py(
        "query.py",
        &[&gate.bolt_uri(), &q, "--connect-timeout", "5"],
        PY_TIMEOUT,
    )
    .map(|out| {
        out["results"][0]["records"][0][0]
            .as_u64()
            .unwrap_or(u64::MAX)
    })
    .map_err(|f| f.to_string())
}

fn stunnel_or_skip() -> bool {
    if common::stunnel::stunnel_bin().is_none() {
        eprintln!("SKIPPED: stunnel is not installed (.ci/run installs stunnel4)");
        return false;
    }
    true
}

#[test]
fn plaintext_client_reaches_falkordb_through_two_boltgates_over_verified_tls() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let b = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("server.bolt.tls_level", "REQUIRED"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        (
            "dbms.ssl.policy.bolt.base_directory",
            base.to_str().unwrap(),
        ),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ("boltgate.log.level", "debug"),
    ]);
    let a = Boltgate::start_with_env(
        &format!(
            "boltgate.upstream.uri=bolt+s://localhost:{}\n",
            b.addr.port()
        ),
        &[("SSL_CERT_FILE", pki.ca_path.to_str().unwrap())],
    );
    assert_eq!(run(&a, 11), Ok(11), "A:\n{}\nB:\n{}", a.log(), b.log());
    assert!(
        b.wait_for_log("TLS established", Duration::from_secs(5)),
        "{}",
        b.log()
    );
}

#[test]
fn verified_tls_to_stunnel_in_front_of_falkordb() {
    if !stunnel_or_skip() {
        return;
    }
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let tls = Stunnel::start(
        &pki.server.chain_path,
        &pki.server.key_path,
        common::free_port(),
        db.bolt_port,
    );
    let gate = Boltgate::start_with_env(
        &format!(
            "boltgate.upstream.uri=bolt+s://localhost:{}\n",
            tls.accept_port
        ),
        &[("SSL_CERT_FILE", pki.ca_path.to_str().unwrap())],
    );
    for n in 1..=3 {
        assert_eq!(run(&gate, n), Ok(u64::from(n)), "{}", gate.log());
    }
}

#[test]
fn bolt_s_refuses_a_wrong_host_or_untrusted_certificate_and_bolt_ssc_accepts_it() {
    if !stunnel_or_skip() {
        return;
    }
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let wrong = Stunnel::start(
        &pki.wrong_host.chain_path,
        &pki.wrong_host.key_path,
        common::free_port(),
        db.bolt_port,
    );
    let ca = [("SSL_CERT_FILE", pki.ca_path.to_str().unwrap())];
    let verified = Boltgate::start_with_env(
        &format!(
            "boltgate.upstream.uri=bolt+s://localhost:{}\n",
            wrong.accept_port
        ),
        &ca,
    );
    let err = run(&verified, 1).expect_err("a wrong-host certificate must be refused");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    // The client has not logged in: the reason is the operator's, in the log (issue 15).
    assert!(
        !err.contains("certificate") && !err.contains(&wrong.accept_port.to_string()),
        "upstream details reach an anonymous client: {err}"
    );
    assert!(
        verified.wait_for_log("certificate", WAIT),
        "{}",
        verified.log()
    );

    // Trusted name, but a CA the system roots do not hold.
    let good = Stunnel::start(
        &pki.server.chain_path,
        &pki.server.key_path,
        common::free_port(),
        db.bolt_port,
    );
    let untrusted = Boltgate::start(&[(
        "boltgate.upstream.uri",
        &format!("bolt+s://localhost:{}", good.accept_port),
    )]);
    let err = run(&untrusted, 1).expect_err("an unknown CA must be refused");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    // The log says which setting fixes it, not only rustls' UnknownIssuer.
    assert!(
        untrusted.wait_for_log("UnknownIssuer", WAIT)
            && untrusted
                .log_contains("not signed by a CA in the system roots: point SSL_CERT_FILE")
            && untrusted.log_contains("bolt+ssc:// in boltgate.upstream.uri"),
        "{}",
        untrusted.log()
    );

    let any = Boltgate::start(&[(
        "boltgate.upstream.uri",
        &format!("bolt+ssc://localhost:{}", wrong.accept_port),
    )]);
    assert!(
        any.log_contains("bolt+ssc"),
        "a warning at start says certificates are not verified:\n{}",
        any.log()
    );
    assert_eq!(run(&any, 5), Ok(5), "{}", any.log());
}

#[test]
fn tls_to_a_plaintext_server_is_logged_with_the_setting_that_fixes_it() {
    let db = FalkorDb::start();
    // FalkorDB speaks plaintext Bolt only: it closes the connection on the ClientHello.
    let gate = Boltgate::start(&[(
        "boltgate.upstream.uri",
        &format!("bolt+s://localhost:{}", db.bolt_port),
    )]);
    let err = run(&gate, 1).expect_err("TLS to a plaintext server fails");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    assert!(
        gate.wait_for_log(
            "the server closed the connection during the TLS handshake: if it does not speak TLS \
             on this port, use bolt:// in boltgate.upstream.uri",
            Duration::from_secs(5)
        ),
        "{}",
        gate.log()
    );
}

//! The admin endpoint as Prometheus, an orchestrator and an operator use it: `/metrics` moves as
//! a Python driver session runs and parses as Prometheus text; `/ready` flips during a drain and
//! when the upstream dies; the HTTPS endpoint refuses a client without a certificate under
//! `client_auth=REQUIRE`; `boltgate status` prints the summary.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use boltgate_proto::message::{Begin, Request};
use boltgate_proto::packstream::Map;
use common::admin::{exchange, exchange_with, http, http_with, scrape, value};
use common::bolt::{Got, RawBolt, HELLO_5_AND_4_4};
use common::boltgate::run_boltgate;
use common::{free_addr, Boltgate, FalkorDb, TestPki};
use rustls_pki_types::pem::PemObject;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const TOKEN: &str = "5f0c8e2a9b7d4c1e8f6a3b2c1d0e9f8a";
const BEARER: (&str, &str) = ("Authorization", "Bearer 5f0c8e2a9b7d4c1e8f6a3b2c1d0e9f8a");
const PY_TIMEOUT: Duration = Duration::from_secs(120);

fn wait_ready(addr: SocketAddr, want: u16) -> String {
    let mut last = String::new();
    let ok = common::wait_until(WAIT, || {
        let (status, body) = http(addr, "GET", "/ready");
        last = body;
        status == want
    });
    assert!(
        ok,
        "/ready did not answer {want} within {WAIT:?}; last: {last}"
    );
    last
}

fn gate_with_admin(db: &FalkorDb, extra: &[(&str, &str)]) -> (Boltgate, SocketAddr) {
    let admin = free_addr();
    let uri = db.bolt_uri();
    let admin_text = admin.to_string();
    let mut settings = vec![
        ("boltgate.upstream.uri", uri.as_str()),
        ("server.http.enabled", "true"),
        ("server.http.listen_address", admin_text.as_str()),
        ("boltgate.upstream.probe_interval", "200ms"),
    ];
    settings.extend_from_slice(extra);
    (Boltgate::start(&settings), admin)
}

#[test]
fn metrics_move_as_a_driver_session_runs_and_parse_as_prometheus_text() {
    let db = FalkorDb::start();
    let (gate, admin) = gate_with_admin(
        &db,
        &[("dbms.ssl.policy.bolt.private_key_password", "hunter2")],
    );
    assert_eq!(http(admin, "GET", "/health"), (200, "ok\n".to_string()));
    wait_ready(admin, 200);
    let before = scrape(admin);
    let member = db.bolt_addr().to_string();
    let m = [("member", member.as_str())];

    let queries = json!(["RETURN 1 AS x", "UNWIND range(1, 50) AS i RETURN i"]).to_string();
    let out = common::run_py("query.py", &[&gate.bolt_uri(), &queries], PY_TIMEOUT);
    assert_eq!(
        out["results"][1]["records"].as_array().map(Vec::len),
        Some(50)
    );
    let py_tx = common::run_py("tx.py", &[&gate.bolt_uri()], PY_TIMEOUT);
    assert_eq!(py_tx["rollback_ok"], true, "{py_tx}");

    let after = scrape(admin);
    let grew = |metric: &str, labels: &[(&str, &str)], by: f64| {
        let (b, a) = (
            value(&before, metric, labels),
            value(&after, metric, labels),
        );
        assert!(
            a - b >= by,
            "{metric}{labels:?}: {b} → {a}, expected +{by} or more"
        );
    };
    grew("boltgate_client_connections_accepted_total", &[], 2.0);
    grew("boltgate_bolt_sessions_total", &[], 2.0);
    grew("boltgate_upstream_connect_seconds_count", &m, 2.0);
    let to_up = [
        ("direction", "client_to_upstream"),
        ("member", member.as_str()),
    ];
    let to_client = [
        ("direction", "upstream_to_client"),
        ("member", member.as_str()),
    ];
    // HELLO, 2 × (RUN, PULL) at least; the answers include 51 RECORDs.
    grew("boltgate_bolt_messages_total", &to_up, 5.0);
    grew("boltgate_bolt_messages_total", &to_client, 51.0);
    grew("boltgate_bolt_message_bytes_total", &to_up, 50.0);
    grew("boltgate_bolt_message_bytes_total", &to_client, 200.0);
    grew(
        "boltgate_queries_total",
        &[("member", member.as_str()), ("mode", "write")],
        2.0,
    );
    grew("boltgate_transactions_total", &m, 2.0);
    assert_eq!(value(&after, "boltgate_upstream_up", &m), 1.0);
    assert_eq!(value(&after, "boltgate_ready", &[]), 1.0);
    assert!(
        after.docs.contains_key("boltgate_bolt_sessions"),
        "HELP lines parse too"
    );

    // /config: effective settings with their source, the secret redacted.
    let (status, config) = http(admin, "GET", "/config");
    assert_eq!(status, 200);
    assert!(config.contains("server.http.enabled=true"), "{config}");
    assert!(
        config.contains("dbms.ssl.policy.bolt.private_key_password=<redacted>"),
        "{config}"
    );
    assert!(!config.contains("hunter2"), "{config}");

    // Routes that are not there, or not with that method.
    // POST /reload changes state: without a token file or a client certificate, nobody.
    let (status, body) = http(admin, "POST", "/reload");
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("boltgate.admin.token_file"), "{body}");
    assert_eq!(http(admin, "GET", "/nope").0, 404);
    assert_eq!(
        http(admin, "POST", "/metrics").0,
        403,
        "every POST needs credentials"
    );

    // The operator's view.
    let config_path = gate.config_path().display().to_string();
    let (status, out) = run_boltgate(&["status", "--config", &config_path], WAIT);
    assert!(status.success(), "{out}");
    assert!(out.contains("ready:        yes"), "{out}");
    assert!(out.contains(&format!("{member} up")), "{out}");
    assert!(out.lines().count() <= 24, "one screen:\n{out}");
}

#[test]
fn ready_answers_503_while_draining() {
    let db = FalkorDb::start();
    let (mut gate, admin) = gate_with_admin(&db, &[("boltgate.shutdown.grace_period", "30s")]);
    wait_ready(admin, 200);
    // A session inside a transaction keeps the drain going.
    let mut busy = RawBolt::connect(gate.addr);
    busy.try_login(&HELLO_5_AND_4_4)
        .unwrap_or_else(|e| panic!("{e}\n{}", gate.log()));
    busy.send(&Request::Begin(Begin { extra: Map::new() }));
    assert!(matches!(busy.recv(WAIT), Got::Message(_)));

    gate.signal("TERM");
    let body = wait_ready(admin, 503);
    assert!(body.contains("draining"), "{body}");
    assert_eq!(http(admin, "GET", "/health").0, 200, "alive while draining");
    assert_eq!(value(&scrape(admin), "boltgate_ready", &[]), 0.0);
    drop(busy);
    assert!(gate.stop_gracefully(WAIT).success());
}

#[test]
fn ready_answers_503_when_the_upstream_dies() {
    let db = FalkorDb::start();
    let member = db.bolt_addr().to_string();
    let (_gate, admin) = gate_with_admin(&db, &[]);
    wait_ready(admin, 200);
    drop(db);
    let body = wait_ready(admin, 503);
    assert!(body.contains("no usable upstream"), "{body}");
    assert!(body.contains(&member), "{body}");
    assert_eq!(
        value(
            &scrape(admin),
            "boltgate_upstream_up",
            &[("member", member.as_str())]
        ),
        0.0
    );
}

/// An HTTPS client trusting the test CA, with the test client certificate or without one.
fn tls_client(pki: &TestPki, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        rustls_pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).expect("CA PEM");
    roots.add(ca).expect("add CA");
    let builder = rustls::ClientConfig::builder_with_provider(boltgate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = if with_cert {
        let cert = rustls_pki_types::CertificateDer::from_pem_slice(pki.client.cert_pem.as_bytes())
            .expect("client cert");
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(pki.client.key_pem.as_bytes())
            .expect("client key");
        builder
            .with_client_auth_cert(vec![cert], key)
            .expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

fn https(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(config, name).expect("client connection");
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut tls, "GET", path)
}

#[test]
fn https_endpoint_with_client_auth_require_refuses_a_client_without_a_certificate() {
    let pki = TestPki::new();
    let base = pki.server_policy_dir("https");
    let admin = free_addr();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", "bolt://127.0.0.1:9"),
        ("dbms.ssl.policy.https.enabled", "true"),
        (
            "dbms.ssl.policy.https.base_directory",
            &base.display().to_string(),
        ),
        ("dbms.ssl.policy.https.client_auth", "REQUIRE"),
        ("server.https.enabled", "true"),
        ("server.https.listen_address", &admin.to_string()),
    ]);
    let refused = https(admin, tls_client(&pki, false), "/health");
    assert!(
        refused.is_err(),
        "a client without a certificate got {refused:?}"
    );

    let (status, body) = https(admin, tls_client(&pki, true), "/health").expect("mutual TLS");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, metrics) = https(admin, tls_client(&pki, true), "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let s =
        prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_string()))).expect("parse");
    let https_scope = [("scope", "https")];
    assert!(
        value(&s, "boltgate_tls_handshakes_total", &https_scope) >= 1.0,
        "{metrics}"
    );
    assert!(
        value(
            &s,
            "boltgate_tls_handshake_failures_total",
            &[("scope", "https"), ("reason", "no_client_certificate")]
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        value(
            &s,
            "boltgate_certificate_expiry_timestamp_seconds",
            &https_scope
        ) > 1.7e9
    );
    // The upstream is not there: not ready, and the reason names it.
    let (status, body) = https(admin, tls_client(&pki, true), "/ready").expect("ready");
    assert_eq!(status, 503, "{body}");

    // `boltgate status` over HTTPS, with the client certificate.
    let config_path = gate.config_path().display().to_string();
    let cert = pki.client.cert_path.display().to_string();
    let key = pki.client.key_path.display().to_string();
    let (status, out) = run_boltgate(
        &[
            "status",
            "--config",
            &config_path,
            "--client-cert",
            &cert,
            "--client-key",
            &key,
        ],
        WAIT,
    );
    assert_eq!(status.code(), Some(1), "reachable, not ready:\n{out}");
    assert!(out.contains("ready:        NO (503)"), "{out}");
    // Without it, the endpoint is unreachable for status too, and status says what to pass.
    let (status, out) = run_boltgate(&["status", "--config", &config_path], WAIT);
    assert_eq!(status.code(), Some(2), "{out}");
    assert!(
        out.contains("The endpoint wants a client certificate")
            && out.contains("pass --client-cert FILE --client-key FILE"),
        "{out}"
    );
}

#[test]
fn https_endpoint_needs_the_https_policy() {
    let (status, out) = run_boltgate(
        &["check-config", "--set", "server.https.enabled=true"],
        WAIT,
    );
    assert_eq!(status.code(), Some(64), "{out}");
    assert!(out.contains("dbms.ssl.policy.https.enabled"), "{out}");
}

#[test]
fn post_reload_reloads_tls_and_is_counted() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let token_file = base.join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let (gate, admin) = gate_with_admin(
        &db,
        &[
            ("boltgate.admin.token_file", token_file.to_str().unwrap()),
            ("dbms.security.tls_reload_enabled", "true"),
            ("server.bolt.tls_level", "OPTIONAL"),
            ("dbms.ssl.policy.bolt.enabled", "true"),
            (
                "dbms.ssl.policy.bolt.base_directory",
                base.to_str().unwrap(),
            ),
            ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ],
    );
    let (status, body) = http_with(admin, "POST", "/reload", &[BEARER]);
    assert_eq!(status, 200, "{body}\n{}", gate.log());
    assert_eq!(
        value(
            &scrape(admin),
            "boltgate_reloads_total",
            &[("result", "ok")]
        ),
        1.0
    );
    // Broken new material: the reload fails, says why, and the old certificate stays.
    std::fs::write(base.join("private.key"), "not a key").unwrap();
    let (status, body) = http_with(admin, "POST", "/reload", &[BEARER]);
    assert_eq!(
        status, 422,
        "bad material is the files' fault, not a server error: {body}"
    );
    assert!(body.contains("dbms.ssl.policy.bolt.private_key"), "{body}");
    assert_eq!(
        value(
            &scrape(admin),
            "boltgate_reloads_total",
            &[("result", "failed")]
        ),
        1.0
    );
}

/// DNS rebinding and cross-site requests are refused on every route; POST /reload needs the
/// bearer token (plain HTTP) or a trusted client certificate (HTTPS, client_auth=OPTIONAL); a
/// plain-HTTP endpoint beyond loopback is warned about.
#[test]
fn admin_requests_need_a_known_host_a_same_site_origin_and_credentials_to_post() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let port = common::free_port();
    let admin: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", "bolt://127.0.0.1:9"),
        ("server.http.enabled", "true"),
        // All interfaces, to see the warning; the test talks to loopback only.
        ("server.http.listen_address", &format!("0.0.0.0:{port}")),
        ("boltgate.admin.token_file", token_file.to_str().unwrap()),
    ]);
    assert!(
        gate.wait_for_log("listens beyond loopback over plain HTTP", WAIT),
        "{}",
        gate.log()
    );
    let local = format!("localhost:{port}");
    assert_eq!(
        http_with(admin, "GET", "/config", &[("Host", &local)]).0,
        200
    );
    assert_eq!(
        http_with(admin, "GET", "/health", &[("Host", "127.0.0.1")]).0,
        200
    );
    // A rebinding page: its own name in Host.
    let (status, body) = http_with(admin, "GET", "/config", &[("Host", "rebind.example:80")]);
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("boltgate.upstream.uri"), "{body}");
    // A cross-site page: its origin.
    let evil = [("Host", local.as_str()), ("Origin", "http://evil.example")];
    assert_eq!(http_with(admin, "GET", "/metrics", &evil).0, 403);
    let same = [
        ("Host", local.as_str()),
        ("Origin", "http://localhost:1234"),
    ];
    assert_eq!(http_with(admin, "GET", "/metrics", &same).0, 200);
    // POST /reload: the token, and only the token.
    assert_eq!(http(admin, "POST", "/reload").0, 401);
    let wrong = ("Authorization", "Bearer 5f0c8e2a9b7d4c1e8f6a3b2c1d0e9f8b");
    assert_eq!(http_with(admin, "POST", "/reload", &[wrong]).0, 401);
    let (status, body) = http_with(admin, "POST", "/reload", &[BEARER]);
    assert_eq!(status, 409, "past the guard: reloads are off here: {body}");
    // Even with the token, a cross-site POST is refused.
    let (status, _) = http_with(
        admin,
        "POST",
        "/reload",
        &[BEARER, ("Origin", "http://evil.example")],
    );
    assert_eq!(status, 403);

    // HTTPS with client_auth=OPTIONAL: the connection without a certificate is served, but
    // may not POST; the one with a trusted certificate may.
    let pki = TestPki::new();
    let base = pki.server_policy_dir("https");
    let admin = free_addr();
    let _gate = Boltgate::start(&[
        ("boltgate.upstream.uri", "bolt://127.0.0.1:9"),
        ("dbms.ssl.policy.https.enabled", "true"),
        (
            "dbms.ssl.policy.https.base_directory",
            &base.display().to_string(),
        ),
        ("dbms.ssl.policy.https.client_auth", "OPTIONAL"),
        ("server.https.enabled", "true"),
        ("server.https.listen_address", &admin.to_string()),
    ]);
    let post = |with_cert: bool| {
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let conn = rustls::ClientConnection::new(tls_client(&pki, with_cert), name).unwrap();
        let tcp = TcpStream::connect_timeout(&admin, Duration::from_secs(5)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        exchange_with(&mut tls, "POST", "/reload", &[]).expect("HTTPS exchange")
    };
    assert_eq!(
        https(admin, tls_client(&pki, false), "/health").unwrap().0,
        200
    );
    assert_eq!(post(false).0, 403, "no certificate, no token");
    let (status, body) = post(true);
    assert_eq!(
        status, 409,
        "a trusted certificate passes the guard: {body}"
    );
}

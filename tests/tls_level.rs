//! `server.bolt.tls_level` as clients see it: DISABLED, OPTIONAL and REQUIRED, each with a
//! plaintext client (`bolt://`), a TLS client that verifies boltgate's certificate against the
//! test CA, and a `bolt+ssc://` client (encrypted, any certificate). The official Python
//! driver is the client; FalkorDB is the server behind.

mod common;

use std::time::Duration;

use common::{Boltgate, FalkorDb, TestPki};
use serde_json::json;

const PY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Client {
    Plain,
    VerifiedTls,
    AnyCertTls,
}

fn start(level: &str, db: &FalkorDb, pki: &TestPki) -> Boltgate {
    let base = pki.server_policy_dir("bolt");
    let base = base.to_str().expect("utf-8 path");
    let mut settings = vec![
        ("boltgate.upstream.uri", db.bolt_uri()),
        ("server.bolt.tls_level", level.to_string()),
    ];
    if level != "DISABLED" {
        settings.extend([
            ("dbms.ssl.policy.bolt.enabled", "true".to_string()),
            ("dbms.ssl.policy.bolt.base_directory", base.to_string()),
            ("dbms.ssl.policy.bolt.client_auth", "NONE".to_string()),
        ]);
    }
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Boltgate::start(&settings)
}

/// Runs `RETURN n` as `client`; Ok(n) or the script's failure text.
fn query(gate: &Boltgate, pki: &TestPki, client: Client, n: u32) -> Result<u64, String> {
    let q = json!([format!("RETURN {n} AS n")]).to_string();
    let port = gate.addr.port();
    let ca = pki.ca_path.to_str().expect("utf-8 path");
    let (uri, extra): (String, Vec<&str>) = match client {
        Client::Plain => (format!("bolt://localhost:{port}"), vec![]),
        Client::VerifiedTls => (format!("bolt://localhost:{port}"), vec!["--ca", ca]),
        Client::AnyCertTls => (format!("bolt+ssc://localhost:{port}"), vec![]),
    };
    let mut args = vec![uri.as_str(), q.as_str(), "--connect-timeout", "5"];
    args.extend(extra);
    common::try_run_py("query.py", &args, PY_TIMEOUT)
        .map(|out| {
            out["results"][0]["records"][0][0]
                .as_u64()
                .unwrap_or(u64::MAX)
        })
        .map_err(|f| f.to_string())
}

fn check(level: &str, allowed: &[Client], refused: &[Client], refusal_log: &str) {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let gate = start(level, &db, &pki);
    for (i, &client) in allowed.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(
            query(&gate, &pki, client, n),
            Ok(u64::from(n)),
            "{level}: {client:?} must be served\n{}",
            gate.log()
        );
    }
    for &client in refused {
        let result = query(&gate, &pki, client, 99);
        assert!(result.is_err(), "{level}: {client:?} must be refused");
        assert!(
            gate.wait_for_log(refusal_log, Duration::from_secs(5)),
            "{level}: the log must say why {client:?} was closed ({refusal_log:?}):\n{}",
            gate.log()
        );
    }
    // Refusals do not disturb anyone else.
    assert_eq!(
        query(&gate, &pki, allowed[0], 7),
        Ok(7),
        "{level}: still serving"
    );
}

#[test]
fn disabled_serves_plaintext_and_closes_tls_clients() {
    check(
        "DISABLED",
        &[Client::Plain],
        &[Client::VerifiedTls, Client::AnyCertTls],
        "server.bolt.tls_level=DISABLED",
    );
}

#[test]
fn optional_serves_plaintext_and_tls_on_one_port() {
    check(
        "OPTIONAL",
        &[Client::Plain, Client::VerifiedTls, Client::AnyCertTls],
        &[],
        "",
    );
}

#[test]
fn required_serves_tls_and_closes_plaintext_clients() {
    check(
        "REQUIRED",
        &[Client::VerifiedTls, Client::AnyCertTls],
        &[Client::Plain],
        "server.bolt.tls_level=REQUIRED",
    );
}

#[test]
fn tls_session_details_are_logged_per_connection() {
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let base = pki.server_policy_dir("bolt");
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &db.bolt_uri()),
        ("server.bolt.tls_level", "REQUIRED"),
        ("dbms.ssl.policy.bolt.enabled", "true"),
        (
            "dbms.ssl.policy.bolt.base_directory",
            base.to_str().unwrap(),
        ),
        ("dbms.ssl.policy.bolt.client_auth", "NONE"),
        ("boltgate.log.level", "debug"),
        ("boltgate.log.format", "json"),
    ]);
    assert_eq!(query(&gate, &pki, Client::VerifiedTls, 3), Ok(3));
    assert!(gate.wait_for_log("session closed", Duration::from_secs(5)));
    let line = gate
        .log()
        .lines()
        .find(|l| l.contains("TLS established"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no TLS line in:\n{}", gate.log()));
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
    let span = &v["span"];
    assert!(
        span["tls.version"]
            .as_str()
            .unwrap_or("")
            .starts_with("TLSv1"),
        "{line}"
    );
    assert!(span["tls.cipher"].as_str().is_some(), "{line}");
    assert_eq!(span["tls.sni"], "localhost", "{line}");
    assert!(
        span["client.addr"]
            .as_str()
            .unwrap_or("")
            .starts_with("127.0.0.1:"),
        "{line}"
    );
}

//! The configurations and the clients of the parity test, and the differences that are
//! explained (docs/neo4j-parity.md shows the reasons).

use std::path::Path;

use serde_json::{json, Value};

use crate::common::pki::{TestPki, Usage};

/// The passphrase of the encrypted private key (set B).
const KEY_PASSWORD: &str = "parity-Pass-123";

/// A case: its name in the table and the probe (tests/py/tls_probe.py) without the port.
pub struct Case {
    pub name: &'static str,
    pub probe: Value,
}

/// One Neo4j configuration: the settings lines both servers get, and the cases run against it.
pub struct ConfigSet {
    pub name: &'static str,
    pub about: &'static str,
    pub settings: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

/// `"<set name>: <case name>"` and why the two servers answer it differently.
pub const EXPLAINED: &[(&str, &str)] = &[
    (
        "C. REQUIRED, client_auth REQUIRE, a revoked client: TLS 1.2, no client certificate, raw",
        CERT_REQUIRED_TLS12,
    ),
    (
        "C. REQUIRED, client_auth REQUIRE, a revoked client: TLS 1.3, revoked client certificate, raw",
        ALERT_NAMES_THE_REASON,
    ),
    (
        "C. REQUIRED, client_auth REQUIRE, a revoked client: TLS 1.3, untrusted client certificate, raw",
        ALERT_NAMES_THE_REASON,
    ),
    (
        "D. OPTIONAL, client_auth OPTIONAL, TLSv1.2 with one cipher: TLS 1.2, revoked client certificate, raw",
        ALERT_NAMES_THE_REASON,
    ),
    (
        "D. OPTIONAL, client_auth OPTIONAL, TLSv1.2 with one cipher: TLS 1.2, untrusted client certificate, raw",
        ALERT_NAMES_THE_REASON,
    ),
];

/// Differences this test found that were fixed in boltgate (for the doc).
pub const FIXED: &[(&str, &str)] = &[
    (
        "B. TLS 1.3, raw; E. TLS 1.3, raw",
        "boltgate took the client's favourite among its suites (Python offers \
         TLS_AES_256_GCM_SHA384 first), where Neo4j takes its own order: the operator's order in \
         `ciphers` (E), and TLS_AES_128_GCM_SHA256 first by default (B). boltgate now follows its \
         own order too, with TLS_AES_128_GCM_SHA256 first by default (src/tls/suites.rs, \
         src/tls/server.rs `finish`).",
    ),
    (
        "A. TLS, driver; C. plaintext, driver",
        "boltgate refused a TLS client on DISABLED (or a plaintext one on REQUIRED) by closing the \
         socket with the client's first bytes unread, so the kernel sent a reset and the driver \
         said \"connection reset\" where Neo4j's orderly close gives \"closed during the TLS \
         handshake\" / \"closed with incomplete handshake response\". boltgate now reads what \
         the client already sent before closing (src/listener/mod.rs, `discard_received`).",
    ),
];

const ALERT_NAMES_THE_REASON: &str =
    "both refuse the client certificate in the TLS handshake; only \
    the alert differs. Neo4j's JDK trust manager reports every failed client-certificate check as \
    `certificate_unknown`; boltgate (rustls) names the reason (`certificate_revoked` for a \
    certificate in a CRL of `revoked_dir`, `unknown_ca` for an issuer not in `trusted_dir`), \
    as RFC 8446 6.2 defines those alerts. A driver reports a failed connection either way; \
    boltgate's log names the certificate and the reason. Kept: the precise alert helps the \
    operator and no client depends on the vaguer one.";

const CERT_REQUIRED_TLS12: &str = "both refuse a TLS 1.2 client without a certificate in the \
    handshake; only the alert differs. The JDK sends `handshake_failure` (what RFC 5246 7.4.6 \
    suggests for TLS 1.2); rustls sends `certificate_required` on every version (an RFC 8446 \
    alert, which OpenSSL clients name correctly). Not configurable in rustls; a driver reports \
    a failed connection either way.";

fn case(name: &'static str, probe: Value) -> Case {
    Case { name, probe }
}

/// The manual's layout under `<pki dir>/<set>/certificates/bolt`: private.key, public.crt,
/// trusted/ (the CA), revoked/ (a CRL revoking `revoked` when given).
fn policy(pki: &TestPki, set: &str, revoked: Option<&crate::common::pki::Issued>) -> String {
    let base = pki.dir().join(set).join("certificates/bolt");
    pki.write_policy_dir(&base, &pki.server);
    if let Some(r) = revoked {
        pki.write_crl(&base.join("revoked/ca.crl"), &[r]);
    }
    base.to_str().unwrap().to_string()
}

/// Replaces `<base>/private.key` with the manual's `openssl pkcs8 -topk8 -v2 aes-256-cbc
/// -v2prf hmacWithSHA512` encryption of it.
fn encrypt_key(base: &str) {
    let key = Path::new(base).join("private.key");
    let enc = Path::new(base).join("private.key.enc");
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA512",
            "-in",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&enc)
        .arg("-passout")
        .arg(format!("pass:{KEY_PASSWORD}"))
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&enc, &key).unwrap();
}

/// A client certificate (PEM, and its key) from a CA of another name, which neither server
/// trusts.
fn stranger_client() -> (String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "parity stranger CA");
    let ca = p.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "parity stranger client");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &ca, &ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn config_sets(pki: &TestPki) -> Vec<ConfigSet> {
    let ca = pki.ca_path.to_str().unwrap().to_string();
    let revoked = pki.issue("revoked-client", &[], Usage::Client, None);
    let copy = |cert_pem: &str, key_pem: &str, name: &str| {
        let cert = pki.dir().join(format!("{name}.crt"));
        let key = pki.dir().join(format!("{name}.key"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        (
            cert.to_str().unwrap().to_string(),
            key.to_str().unwrap().to_string(),
        )
    };
    let good = copy(&pki.client.cert_pem, &pki.client.key_pem, "parity-client");
    let bad = copy(&revoked.cert_pem, &revoked.key_pem, "parity-revoked");
    let (stranger_cert, stranger_key) = stranger_client();
    let unknown = copy(&stranger_cert, &stranger_key, "parity-stranger");

    let plain_raw = || json!({"kind": "raw"});
    let plain_driver = || json!({"kind": "driver"});
    let tls = |extra: Value| {
        let mut p = json!({"kind": "raw", "tls": true, "ca": ca});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    let driver = |client: Option<&(String, String)>| match client {
        None => json!({"kind": "driver", "tls": true, "ca": ca}),
        Some((c, k)) => json!({"kind": "driver", "tls": true, "ca": ca, "cert": c, "key": k}),
    };
    let cert = |c: &(String, String)| json!({"cert": c.0, "key": c.1});

    let a = policy(pki, "a", None);
    let b = policy(pki, "b", None);
    encrypt_key(&b);
    let c = policy(pki, "c", Some(&revoked));
    let d = policy(pki, "d", Some(&revoked));
    let e = policy(pki, "e", None);

    vec![
        ConfigSet {
            name: "A. tls_level DISABLED",
            about: "A policy is configured, but the connector is left unencrypted.",
            settings: lines(&[
                ("server.bolt.tls_level", "DISABLED"),
                ("dbms.ssl.policy.bolt.enabled", "true"),
                ("dbms.ssl.policy.bolt.base_directory", &a),
                ("dbms.ssl.policy.bolt.client_auth", "NONE"),
            ]),
            cases: vec![
                case("plaintext, raw", plain_raw()),
                case("plaintext, driver", plain_driver()),
                case("TLS, raw", tls(json!({}))),
                case("TLS, driver", driver(None)),
            ],
        },
        ConfigSet {
            name: "B. OPTIONAL, TLSv1.3 only, encrypted key",
            about: "The manual's encrypted PKCS#8 key (aes-256-cbc, hmacWithSHA512) with \
                    `private_key_password`; `client_auth=NONE`; `tls_versions=TLSv1.3`.",
            settings: lines(&[
                ("server.bolt.tls_level", "OPTIONAL"),
                ("dbms.ssl.policy.bolt.enabled", "true"),
                ("dbms.ssl.policy.bolt.base_directory", &b),
                ("dbms.ssl.policy.bolt.private_key_password", KEY_PASSWORD),
                ("dbms.ssl.policy.bolt.client_auth", "NONE"),
                ("dbms.ssl.policy.bolt.tls_versions", "TLSv1.3"),
            ]),
            cases: vec![
                case("plaintext, raw", plain_raw()),
                case("plaintext, driver", plain_driver()),
                case("TLS, driver", driver(None)),
                case(
                    "TLS 1.3, raw",
                    tls(json!({"min": "TLSv1.3", "show_version": true, "show_cipher": true})),
                ),
                case("TLS 1.2 only, raw", tls(json!({"max": "TLSv1.2"}))),
                case(
                    "TLS, untrusted client certificate, raw",
                    tls(cert(&unknown)),
                ),
            ],
        },
        ConfigSet {
            name: "C. REQUIRED, client_auth REQUIRE, a revoked client",
            about: "Mutual TLS; `revoked/` holds a CRL from the CA revoking one client \
                    certificate.",
            settings: lines(&[
                ("server.bolt.tls_level", "REQUIRED"),
                ("dbms.ssl.policy.bolt.enabled", "true"),
                ("dbms.ssl.policy.bolt.base_directory", &c),
                ("dbms.ssl.policy.bolt.client_auth", "REQUIRE"),
            ]),
            cases: vec![
                case("plaintext, raw", plain_raw()),
                case("plaintext, driver", plain_driver()),
                case(
                    "TLS 1.3, no client certificate, raw",
                    tls(json!({"min": "TLSv1.3"})),
                ),
                case(
                    "TLS 1.2, no client certificate, raw",
                    tls(json!({"max": "TLSv1.2"})),
                ),
                case("TLS, no client certificate, driver", driver(None)),
                case("TLS, trusted client certificate, raw", tls(cert(&good))),
                case(
                    "TLS 1.2, trusted client certificate, raw",
                    tls(
                        json!({"cert": good.0, "key": good.1, "max": "TLSv1.2", "show_cipher": true}),
                    ),
                ),
                case(
                    "TLS, trusted client certificate, driver",
                    driver(Some(&good)),
                ),
                case("TLS 1.3, revoked client certificate, raw", tls(cert(&bad))),
                case(
                    "TLS, revoked client certificate, driver",
                    driver(Some(&bad)),
                ),
                case(
                    "TLS 1.3, untrusted client certificate, raw",
                    tls(cert(&unknown)),
                ),
            ],
        },
        ConfigSet {
            name: "D. OPTIONAL, client_auth OPTIONAL, TLSv1.2 with one cipher",
            about: "`tls_versions=TLSv1.2` and the first suite of the manual's `ciphers` example \
                    that fits the test's ECDSA key; the same CRL as in C.",
            settings: lines(&[
                ("server.bolt.tls_level", "OPTIONAL"),
                ("dbms.ssl.policy.bolt.enabled", "true"),
                ("dbms.ssl.policy.bolt.base_directory", &d),
                ("dbms.ssl.policy.bolt.client_auth", "OPTIONAL"),
                ("dbms.ssl.policy.bolt.tls_versions", "TLSv1.2"),
                (
                    "dbms.ssl.policy.bolt.ciphers",
                    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                ),
            ]),
            cases: vec![
                case("plaintext, driver", plain_driver()),
                case("TLS, no client certificate, driver", driver(None)),
                case(
                    "TLS, trusted client certificate, driver",
                    driver(Some(&good)),
                ),
                case("TLS 1.2, revoked client certificate, raw", tls(cert(&bad))),
                case(
                    "TLS 1.2, untrusted client certificate, raw",
                    tls(cert(&unknown)),
                ),
                case("TLS 1.3 only, raw", tls(json!({"min": "TLSv1.3"}))),
                case(
                    "TLS 1.2, ECDHE-ECDSA-AES256-GCM-SHA384, raw",
                    tls(json!({"ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384", "show_cipher": true})),
                ),
                case(
                    "TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, raw",
                    tls(json!({"ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256"})),
                ),
                case(
                    "TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305, raw",
                    tls(json!({"ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305"})),
                ),
            ],
        },
        ConfigSet {
            name: "E. TLSv1.3, ciphers in the operator's order",
            about:
                "`ciphers` lists TLS_AES_128_GCM_SHA256 before TLS_AES_256_GCM_SHA384; Python's \
                    client offers TLS_AES_256_GCM_SHA384 first. Which suite a server picks shows \
                    whose order it follows.",
            settings: lines(&[
                ("server.bolt.tls_level", "REQUIRED"),
                ("dbms.ssl.policy.bolt.enabled", "true"),
                ("dbms.ssl.policy.bolt.base_directory", &e),
                ("dbms.ssl.policy.bolt.client_auth", "NONE"),
                ("dbms.ssl.policy.bolt.tls_versions", "TLSv1.3"),
                (
                    "dbms.ssl.policy.bolt.ciphers",
                    "TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
                ),
            ]),
            cases: vec![
                case("TLS, driver", driver(None)),
                case("TLS 1.3, raw", tls(json!({"show_cipher": true}))),
            ],
        },
    ]
}

//! Each `dbms.ssl.policy.*` setting as a real client observes it: `openssl s_client` and the
//! official Python driver against the real binary, with a PKI made at test time.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod pki;
mod upstream;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{boltgate, free_port, run, s_client};
use pki::{Ca, Issued, Leaf};

/// A temp dir with a CA, boltgate's bolt policy in Neo4j's layout (certificates/bolt), and
/// client certificates: one from the CA, one from a stranger.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub server: Issued,
    pub ca_file: PathBuf,
}

impl Default for Setup {
    fn default() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("boltgate test CA");
        let server = ca.issue(&Leaf::localhost(1000));
        pki::policy_dir(
            &dir.path().join("certificates/bolt"),
            &server,
            &[],
            &[&ca.pem],
        );
        let ca_file = dir.path().join("ca.crt");
        pki::write(&ca_file, &ca.pem, 0o644);
        Setup {
            dir,
            ca,
            server,
            ca_file,
        }
    }
}

impl Setup {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a client certificate and key issued by `ca`; returns (cert, key) paths.
    pub fn client(&self, ca: &Ca, name: &str, serial: u64) -> (PathBuf, PathBuf) {
        let c = ca.issue(&Leaf::client(name, serial));
        let cert = self.path().join(format!("{name}.crt"));
        let key = self.path().join(format!("{name}.key"));
        pki::write(&cert, &c.cert_pem, 0o644);
        pki::write(&key, &c.key_pem, 0o600);
        (cert, key)
    }

    /// A boltgate config: TLS REQUIRED with the bolt policy under this dir, upstream `upstream`.
    pub fn conf(&self, port: u16, upstream: u16, extra: &str) -> String {
        format!(
            "server.directories.neo4j_home={}\n\
             server.bolt.listen_address=127.0.0.1:{port}\n\
             server.bolt.tls_level=REQUIRED\n\
             boltgate.upstream.uri=bolt://127.0.0.1:{upstream}\n\
             boltgate.upstream.connect_timeout=5s\n\
             dbms.ssl.policy.bolt.enabled=true\n{extra}",
            self.path().display()
        )
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// s_client with the test CA (server verified) and optionally a client certificate.
fn connect(
    s: &Setup,
    port: u16,
    client: Option<&(PathBuf, PathBuf)>,
    extra: &[&str],
) -> harness::SClient {
    let mut args = vec!["-CAfile", p(&s.ca_file), "-verify_return_error"];
    if let Some((cert, key)) = client {
        args.extend(["-cert", p(cert), "-key", p(key)]);
    }
    args.extend_from_slice(extra);
    s_client(port, &args)
}

#[test]
fn client_auth_none_asks_for_no_certificate() {
    let s = Setup::default();
    let port = free_port();
    let _bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.client_auth=NONE\n"),
        port,
    );
    for v in ["-tls1_2", "-tls1_3"] {
        let r = connect(&s, port, None, &[v]);
        assert!(r.connected, "{v}: {}", r.out);
    }
    // A stranger's certificate is never asked for, so it cannot be refused.
    let stranger = s.client(&Ca::new("stranger CA"), "stranger", 5);
    assert!(connect(&s, port, Some(&stranger), &[]).connected);
}

#[test]
fn client_auth_optional_accepts_none_or_a_trusted_certificate_and_refuses_an_untrusted_one() {
    let s = Setup::default();
    let port = free_port();
    let bg = boltgate(&s.conf(port, 1, ""), port); // OPTIONAL is bolt's default
    let trusted = s.client(&s.ca, "alice", 10);
    let stranger = s.client(&Ca::new("stranger CA"), "mallory", 11);
    for v in ["-tls1_2", "-tls1_3"] {
        let r = connect(&s, port, None, &[v]);
        assert!(r.connected, "no certificate, {v}: {}", r.out);
        let r = connect(&s, port, Some(&trusted), &[v]);
        assert!(r.connected, "trusted, {v}: {}", r.out);
        let r = connect(&s, port, Some(&stranger), &[v]);
        assert!(!r.connected, "untrusted, {v}: {}", r.out);
    }
    assert!(
        bg.wait_log("client certificate refused", Duration::from_secs(5)),
        "{}",
        bg.log()
    );
}

#[test]
fn client_auth_require_refuses_a_client_without_a_certificate() {
    let s = Setup::default();
    let port = free_port();
    let _bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.client_auth=REQUIRE\n"),
        port,
    );
    let trusted = s.client(&s.ca, "alice", 10);
    for v in ["-tls1_2", "-tls1_3"] {
        let r = connect(&s, port, None, &[v]);
        assert!(!r.connected, "no certificate, {v}: {}", r.out);
        let r = connect(&s, port, Some(&trusted), &[v]);
        assert!(r.connected, "trusted, {v}: {}", r.out);
    }
}

#[test]
fn a_client_revoked_by_crl_or_by_certificate_file_is_refused_and_logged() {
    let s = Setup::default();
    let alice = s.client(&s.ca, "alice", 0x1234);
    let bob = s.client(&s.ca, "bob", 0x5678);
    let carol = s.client(&s.ca, "carol", 0x9abc);
    let revoked = s.path().join("certificates/bolt/revoked");
    pki::write(&revoked.join("ca.crl"), s.ca.crl(&[0x1234]), 0o644);
    // As the manual's how-to does: the certificate itself placed in revoked/.
    std::fs::copy(&bob.0, revoked.join("bob.crt")).unwrap();
    let port = free_port();
    let bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.client_auth=REQUIRE\n"),
        port,
    );
    for v in ["-tls1_2", "-tls1_3"] {
        assert!(
            !connect(&s, port, Some(&alice), &[v]).connected,
            "alice (CRL) {v}"
        );
        assert!(
            !connect(&s, port, Some(&bob), &[v]).connected,
            "bob (file) {v}"
        );
        assert!(connect(&s, port, Some(&carol), &[v]).connected, "carol {v}");
    }
    assert!(
        bg.wait_log("CN=alice, serial 12:34", Duration::from_secs(5)),
        "{}",
        bg.log()
    );
    assert!(
        bg.wait_log("CN=bob, serial 56:78", Duration::from_secs(5)),
        "{}",
        bg.log()
    );
    assert!(bg
        .log()
        .contains("peer refused: its certificate is revoked"));
}

#[test]
fn tls_versions_and_ciphers_are_enforced_as_seen_from_outside() {
    let s = Setup::default();
    // TLS 1.2 only, one suite (the server key is ECDSA).
    let port = free_port();
    let _bg = boltgate(
        &s.conf(
            port,
            1,
            "dbms.ssl.policy.bolt.tls_versions=TLSv1.2\n\
             dbms.ssl.policy.bolt.ciphers=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n",
        ),
        port,
    );
    assert!(!connect(&s, port, None, &["-tls1_3"]).connected);
    let r = connect(
        &s,
        port,
        None,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    );
    assert!(!r.connected, "{}", r.out);
    let r = connect(&s, port, None, &["-tls1_2"]);
    assert!(r.connected, "{}", r.out);
    assert!(r.out.contains("ECDHE-ECDSA-AES256-GCM-SHA384"), "{}", r.out);

    // TLS 1.3 only, one suite.
    let port = free_port();
    let _bg13 = boltgate(
        &s.conf(
            port,
            1,
            "dbms.ssl.policy.bolt.tls_versions=TLSv1.3\n\
             dbms.ssl.policy.bolt.ciphers=TLS_AES_128_GCM_SHA256\n",
        ),
        port,
    );
    assert!(!connect(&s, port, None, &["-tls1_2"]).connected);
    let r = connect(
        &s,
        port,
        None,
        &["-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"],
    );
    assert!(!r.connected, "{}", r.out);
    let r = connect(&s, port, None, &["-tls1_3"]);
    assert!(r.connected, "{}", r.out);
    assert!(r.out.contains("TLS_AES_128_GCM_SHA256"), "{}", r.out);
}

/// The suite is boltgate's choice among what the client offers, as Neo4j's (docs/neo4j-parity.md,
/// sets B and E): TLS_AES_128_GCM_SHA256 by default, else the first of `ciphers`.
#[test]
fn the_server_order_picks_the_suite_aes_128_by_default_else_the_ciphers_order() {
    let s = Setup::default();
    let port = free_port();
    let _bg = boltgate(&s.conf(port, 1, ""), port);
    let client_prefers_256 = [
        "-tls1_3",
        "-ciphersuites",
        "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
    ];
    let r = connect(&s, port, None, &client_prefers_256);
    assert!(r.connected, "{}", r.out);
    assert!(r.out.contains("TLS_AES_128_GCM_SHA256"), "{}", r.out);

    let port = free_port();
    let _ordered = boltgate(
        &s.conf(
            port,
            1,
            "dbms.ssl.policy.bolt.ciphers=TLS_CHACHA20_POLY1305_SHA256,TLS_AES_256_GCM_SHA384,\
             TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
        ),
        port,
    );
    let client_order = [
        "-tls1_3",
        "-ciphersuites",
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
    ];
    let r = connect(&s, port, None, &client_order);
    assert!(r.connected, "{}", r.out);
    assert!(r.out.contains("TLS_CHACHA20_POLY1305_SHA256"), "{}", r.out);
}

/// Python's OpenSSL client resumes its TLS 1.3 session after 300 other clients connected
/// meanwhile (rustls' default cache of 256 sessions had lost it after ~128).
#[test]
fn a_client_resumes_its_session_after_hundreds_of_others() {
    let s = Setup::default();
    let port = free_port();
    let _bg = boltgate(&s.conf(port, 1, ""), port);
    let r = common::driver::run_py(
        "tls_resume.py",
        &[&port.to_string(), p(&s.ca_file), "300"],
        Duration::from_secs(120),
    );
    assert_eq!(r["version"], "TLSv1.3", "{r}");
    assert_eq!(r["at_once"], true, "{r}");
    assert_eq!(r["after_others"], true, "{r}");
}

#[test]
fn a_bad_policy_stops_boltgate_before_it_listens_naming_setting_and_file() {
    let s = Setup::default();
    let enc = s.path().join("certificates/bolt/private.key");
    let plain = s.path().join("plain.key");
    std::fs::copy(&enc, &plain).unwrap();
    pki::encrypt_key(&plain, &enc, "aes-256-cbc", "hmacWithSHA512", "pw");
    let conf = s.path().join("bg.conf");
    std::fs::write(&conf, s.conf(free_port(), 1, "")).unwrap();
    let (code, err) = run(&["--config", p(&conf)]);
    assert_ne!(code, Some(0));
    assert!(err.contains("dbms.ssl.policy.bolt.private_key: "), "{err}");
    assert!(
        err.contains("set dbms.ssl.policy.bolt.private_key_password"),
        "{err}"
    );
    // With the password it starts.
    let port = free_port();
    let _bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.private_key_password=pw\n"),
        port,
    );
    assert!(connect(&s, port, None, &[]).connected);
}

#[test]
fn trust_all_is_announced_loudly_at_start() {
    let s = Setup::default();
    let port = free_port();
    let bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.trust_all=true\n"),
        port,
    );
    assert!(
        bg.wait_log("DANGER", Duration::from_secs(5)),
        "{}",
        bg.log()
    );
    assert!(bg.log().contains("WARN"), "{}", bg.log());
    // Any client certificate is accepted now.
    let stranger = s.client(&Ca::new("stranger CA"), "stranger", 5);
    assert!(connect(&s, port, Some(&stranger), &[]).connected);
}

#[test]
fn certs_check_shows_what_openssl_would_and_exits_by_result() {
    let s = Setup::default();
    let conf = s.path().join("bg.conf");
    std::fs::write(&conf, s.conf(7687, 1, "")).unwrap();
    let (code, out) = run(&["certs", "check", "--config", p(&conf)]);
    assert_eq!(code, Some(0), "{out}");
    for needle in [
        "== dbms.ssl.policy.bolt (enabled) ==",
        "subject: CN=localhost",
        "issuer:  CN=boltgate test CA",
        "subject alternative names: DNS:localhost, IP:127.0.0.1",
        "extended key usage: serverAuth (TLS Web Server Authentication), clientAuth (TLS Web Client Authentication)",
        "key: PKCS#8, ECDSA; matches the certificate: yes",
        "chain verifies against trusted_dir as a server certificate: yes",
        "dbms.ssl.policy.cluster: not enabled",
        "certs check: OK",
    ] {
        assert!(out.contains(needle), "missing `{needle}`:\n{out}");
    }
    // An expired certificate: exit 1, the problem named.
    let mut leaf = Leaf::localhost(1);
    leaf.validity = Some(((2001, 1, 1), (2002, 1, 1)));
    let old = s.ca.issue(&leaf);
    pki::write(
        &s.path().join("certificates/bolt/public.crt"),
        &old.cert_pem,
        0o644,
    );
    pki::write(
        &s.path().join("certificates/bolt/private.key"),
        &old.key_pem,
        0o600,
    );
    let (code, out) = run(&["certs", "check", "--config", p(&conf)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("EXPIRED"), "{out}");
    assert!(
        out.contains("PROBLEM: dbms.ssl.policy.bolt.public_certificate"),
        "{out}"
    );
    // A disabled scope is checked when asked for; an unknown one is a usage error.
    let (code, out) = run(&["certs", "check", "--config", p(&conf), "--scope", "https"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("NOT enabled; checked as asked"), "{out}");
    let (code, err) = run(&["certs", "check", "--config", p(&conf), "--scope", "backup"]);
    assert_eq!(code, Some(64));
    assert!(err.contains("known scopes: bolt, cluster, https"), "{err}");
}

#[test]
fn the_example_configurations_load_with_a_test_pki() {
    let s = Setup::default();
    let base = s.path().join("certificates/bolt");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/examples");
    // encrypted-key.conf expects an encrypted key.
    let enc_dir = s.path().join("enc");
    pki::policy_dir(&enc_dir, &s.server, &[], &[&s.ca.pem]);
    let plain = enc_dir.join("private.key");
    pki::encrypt_key(
        &plain,
        &enc_dir.join("private.key.enc"),
        "aes-256-cbc",
        "hmacWithSHA512",
        "pw",
    );
    std::fs::rename(enc_dir.join("private.key.enc"), &plain).unwrap();
    for (file, sets) in [
        (
            "tls-termination.conf",
            vec![format!(
                "dbms.ssl.policy.bolt.base_directory={}",
                base.display()
            )],
        ),
        (
            "cluster-mtls.conf",
            vec![
                format!("dbms.ssl.policy.bolt.base_directory={}", base.display()),
                format!("dbms.ssl.policy.cluster.base_directory={}", base.display()),
            ],
        ),
        (
            "routing-mtls.conf",
            vec![
                format!("dbms.ssl.policy.bolt.base_directory={}", base.display()),
                format!("dbms.ssl.policy.cluster.base_directory={}", base.display()),
            ],
        ),
        (
            "encrypted-key.conf",
            vec![
                format!("dbms.ssl.policy.bolt.base_directory={}", enc_dir.display()),
                "dbms.ssl.policy.bolt.private_key_password=pw".to_string(),
            ],
        ),
    ] {
        let conf = root.join(file);
        let mut args = vec!["--config".to_string(), conf.display().to_string()];
        for set in &sets {
            args.push("--set".into());
            args.push(set.clone());
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = run(&[&["check-config"], &a[..]].concat());
        assert_eq!(code, Some(0), "{file}: {out}");
        let (code, out) = run(&[&["certs", "check"], &a[..]].concat());
        assert_eq!(code, Some(0), "{file}: {out}");
    }
}

/// The manual's how-to: a self-signed `public.crt` (made by `openssl req -x509`, so `CA:TRUE`)
/// is copied into the peer's trusted/ directory, and is trusted as it is.
#[test]
fn a_self_signed_certificate_placed_in_trusted_dir_is_trusted_directly() {
    let s = Setup::default();
    let make = |name: &str| {
        let (cert, key) = (
            s.path().join(format!("{name}.crt")),
            s.path().join(format!("{name}.key")),
        );
        pki::openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&key),
            "-out",
            p(&cert),
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
        ]);
        (cert, key)
    };
    let known = make("known-self-signed");
    let unknown = make("unknown-self-signed");
    std::fs::copy(
        &known.0,
        s.path().join("certificates/bolt/trusted/known.crt"),
    )
    .unwrap();
    let port = free_port();
    let _bg = boltgate(
        &s.conf(port, 1, "dbms.ssl.policy.bolt.client_auth=REQUIRE\n"),
        port,
    );
    for v in ["-tls1_2", "-tls1_3"] {
        let r = connect(&s, port, Some(&known), &[v]);
        assert!(r.connected, "known, {v}: {}", r.out);
        let r = connect(&s, port, Some(&unknown), &[v]);
        assert!(!r.connected, "unknown, {v}: {}", r.out);
    }
}

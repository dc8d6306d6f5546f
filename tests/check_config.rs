//! `boltgate check-config` runs every check serve runs before it binds (issue 16, item 1): each
//! broken setup an operator meets in the SSL framework manual is refused by check-config and by
//! serve alike, exit 64, with `file:line: setting: problem`, every problem at once.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::boltgate::run_boltgate;
use common::{free_addr, TestPki};

const EXIT_CONFIG: i32 = 64;

/// A config file in `dir` whose lines are `lines`; returns its path.
fn write_conf(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("boltgate.conf");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The bolt policy, TLS REQUIRED, with base_directory `base`, on a free port; line numbers:
/// 1 listen, 2 neo4j_home, 3 tls_level, 4 enabled, 5 base_directory.
fn bolt_policy(home: &Path, base: &str) -> Vec<String> {
    vec![
        format!("server.bolt.listen_address={}", free_addr()),
        format!("server.directories.neo4j_home={}", home.display()),
        "server.bolt.tls_level=REQUIRED".into(),
        "dbms.ssl.policy.bolt.enabled=true".into(),
        format!("dbms.ssl.policy.bolt.base_directory={base}"),
    ]
}

/// check-config and serve on the same file: both exit 64 and print every needle.
fn both_refuse(conf: &Path, needles: &[&str]) {
    let conf = conf.to_str().unwrap();
    for args in [
        vec!["check-config", "--config", conf],
        vec!["--config", conf],
    ] {
        let (status, out) = run_boltgate(&args, Duration::from_secs(20));
        assert_eq!(status.code(), Some(EXIT_CONFIG), "{args:?}:\n{out}");
        for needle in needles {
            assert!(out.contains(needle), "{args:?}: no `{needle}` in:\n{out}");
        }
        assert!(out.contains("nothing was started"), "{args:?}:\n{out}");
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_certificates_directory() {
    let home = tempfile::tempdir().unwrap();
    // The manual's default base_directory, never created.
    let mut lines = bolt_policy(home.path(), "certificates/bolt");
    lines.pop();
    let conf = write_conf(home.path(), &lines);
    let file = conf.display().to_string();
    both_refuse(
        &conf,
        &[
            &format!("{file}:4: dbms.ssl.policy.bolt.base_directory"),
            "certificates/bolt",
            "is not a directory",
        ],
    );
}

#[test]
fn an_encrypted_key_with_a_wrong_or_missing_password() {
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    let base = pki.write_policy_dir(&home.path().join("bolt"), &pki.server);
    let plain = base.join("plain.key");
    std::fs::rename(base.join("private.key"), &plain).unwrap();
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        plain.to_str().unwrap(),
        "-out",
        base.join("private.key").to_str().unwrap(),
        "-passout",
        "pass:right-one",
    ]);
    std::fs::remove_file(&plain).unwrap();

    let lines = bolt_policy(home.path(), base.to_str().unwrap());
    let conf = write_conf(home.path(), &lines);
    let file = conf.display().to_string();
    both_refuse(
        &conf,
        &[
            &format!("{file}:4: dbms.ssl.policy.bolt.private_key"),
            "the key is encrypted; set dbms.ssl.policy.bolt.private_key_password",
        ],
    );

    let mut wrong = lines.clone();
    wrong.push("dbms.ssl.policy.bolt.private_key_password=wrong-one".into());
    let conf = write_conf(home.path(), &wrong);
    both_refuse(
        &conf,
        &[
            &format!("{file}:6: dbms.ssl.policy.bolt.private_key_password"),
            "is not its passphrase",
        ],
    );

    // The right password: check-config passes, so the failures above were about the password.
    let mut right = lines;
    right.push("dbms.ssl.policy.bolt.private_key_password=right-one".into());
    let conf = write_conf(home.path(), &right);
    let (status, out) = run_boltgate(
        &["check-config", "--config", conf.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(0), "{out}");
}

#[test]
fn a_der_certificate() {
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    let base = pki.write_policy_dir(&home.path().join("bolt"), &pki.server);
    openssl(&[
        "x509",
        "-in",
        pki.server.cert_path.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        base.join("public.crt").to_str().unwrap(),
    ]);
    let conf = write_conf(
        home.path(),
        &bolt_policy(home.path(), base.to_str().unwrap()),
    );
    let file = conf.display().to_string();
    both_refuse(
        &conf,
        &[
            &format!("{file}:4: dbms.ssl.policy.bolt.public_certificate"),
            "DER (binary) certificate",
            "openssl x509",
        ],
    );
}

#[test]
fn a_key_that_does_not_match_its_certificate() {
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    let base = pki.write_policy_dir(&home.path().join("bolt"), &pki.server);
    std::fs::write(base.join("private.key"), &pki.client.key_pem).unwrap();
    let conf = write_conf(
        home.path(),
        &bolt_policy(home.path(), base.to_str().unwrap()),
    );
    let file = conf.display().to_string();
    both_refuse(
        &conf,
        &[
            &format!("{file}:4: dbms.ssl.policy.bolt.private_key"),
            "does not match the certificate",
        ],
    );
}

#[test]
fn a_cipher_rustls_lacks_and_every_problem_at_once() {
    let pki = TestPki::new();
    let home = tempfile::tempdir().unwrap();
    let base = pki.write_policy_dir(&home.path().join("bolt"), &pki.server);
    std::fs::write(base.join("private.key"), &pki.client.key_pem).unwrap();
    let mut lines = bolt_policy(home.path(), base.to_str().unwrap());
    // Line 6: a DHE suite, common in Neo4j examples, that rustls does not implement.
    lines.push("dbms.ssl.policy.bolt.ciphers=TLS_DHE_RSA_WITH_AES_256_GCM_SHA384".into());
    // Lines 7-9: the https policy enabled on a directory that does not exist.
    lines.push("server.https.enabled=true".into());
    lines.push(format!("server.https.listen_address={}", free_addr()));
    lines.push("dbms.ssl.policy.https.enabled=true".into());
    let conf = write_conf(home.path(), &lines);
    let file = conf.display().to_string();
    both_refuse(
        &conf,
        &[
            &format!("{file}:6: dbms.ssl.policy.bolt.ciphers"),
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
            "not offered by boltgate's TLS library",
            // The bolt key mismatch is reported too, not hidden by the cipher problem.
            &format!("{file}:4: dbms.ssl.policy.bolt.private_key"),
            &format!("{file}:9: dbms.ssl.policy.https.base_directory"),
            "3 configuration problems",
        ],
    );
}

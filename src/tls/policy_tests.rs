//! Loading whole policies: the cross-file checks and the warnings.

use std::path::Path;

use super::*;
use crate::config::{ClientAuth, Scope, SslPolicyConfig};

use crate::tls::test_pki as pki;

use pki::{Ca, Leaf};

fn config(scope: Scope, base: &Path) -> SslPolicyConfig {
    SslPolicyConfig {
        scope,
        enabled: true,
        base_directory: base.to_path_buf(),
        private_key: base.join("private.key"),
        private_key_password: None,
        public_certificate: base.join("public.crt"),
        trusted_dir: base.join("trusted"),
        revoked_dir: base.join("revoked"),
        verify_hostname: true,
        ciphers: None,
        tls_versions: vec!["TLSv1.2".into(), "TLSv1.3".into()],
        client_auth: if scope == Scope::Cluster {
            ClientAuth::Require
        } else {
            ClientAuth::Optional
        },
        trust_all: false,
    }
}

fn setup(scope: Scope) -> (tempfile::TempDir, Ca, SslPolicyConfig) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let leaf = ca.issue(&Leaf::localhost(10));
    pki::policy_dir(dir.path(), &leaf, &[], &[&ca.pem]);
    let c = config(scope, dir.path());
    (dir, ca, c)
}

fn load_err(c: &SslPolicyConfig) -> String {
    TlsPolicy::load(c).unwrap_err().to_string()
}

#[test]
fn a_complete_policy_builds_both_sides() {
    let (_dir, _ca, c) = setup(Scope::Bolt);
    let p = TlsPolicy::load(&c).unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    p.server_config().unwrap();
    p.client_config().unwrap();
    assert_eq!(p.version_names(), ["TLSv1.2", "TLSv1.3"]);
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let (dir, ca, c) = setup(Scope::Bolt);
    let other = ca.issue(&Leaf::localhost(11));
    pki::write(&dir.path().join("private.key"), &other.key_pem, 0o600);
    let e = load_err(&c);
    assert!(e.starts_with("dbms.ssl.policy.bolt.private_key: "), "{e}");
    assert!(e.contains("does not match the certificate"), "{e}");
    assert!(e.contains("private.key") && e.contains("public.crt"), "{e}");
}

#[test]
fn missing_directories_are_errors_and_nothing_is_created() {
    let (dir, _ca, c) = setup(Scope::Bolt);
    std::fs::remove_dir(dir.path().join("revoked")).unwrap();
    let e = load_err(&c);
    assert!(e.starts_with("dbms.ssl.policy.bolt.revoked_dir"), "{e}");
    assert!(e.contains("does not exist"), "{e}");
    assert!(!dir.path().join("revoked").exists());
    let mut c2 = c.clone();
    c2.base_directory = dir.path().join("nope");
    let e = load_err(&c2);
    assert!(e.starts_with("dbms.ssl.policy.bolt.base_directory"), "{e}");
}

#[test]
fn a_stray_file_in_trusted_dir_is_named() {
    let (dir, _ca, c) = setup(Scope::Bolt);
    pki::write(&dir.path().join("trusted/notes.txt"), "not a cert", 0o644);
    let e = load_err(&c);
    assert!(e.starts_with("dbms.ssl.policy.bolt.trusted_dir"), "{e}");
    assert!(e.contains("notes.txt"), "{e}");
}

#[test]
fn require_needs_trusted_certificates_optional_falls_back_with_a_warning() {
    let (dir, _ca, mut c) = setup(Scope::Bolt);
    std::fs::remove_file(dir.path().join("trusted/ca0.crt")).unwrap();
    c.client_auth = ClientAuth::Require;
    assert!(load_err(&c).contains("REQUIRE needs one"));
    c.client_auth = ClientAuth::Optional;
    let p = TlsPolicy::load(&c).unwrap();
    assert!(
        p.warnings()[0].contains("OPTIONAL acts as NONE"),
        "{:?}",
        p.warnings()
    );
    p.server_config().unwrap();
    let mut cluster = c.clone();
    cluster.scope = Scope::Cluster;
    assert!(load_err(&cluster).contains("no upstream server could be verified"));
}

#[test]
fn trust_all_warns_loudly() {
    let (_dir, _ca, mut c) = setup(Scope::Cluster);
    c.trust_all = true;
    let p = TlsPolicy::load(&c).unwrap();
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("DANGER") && w.contains("trust_all")),
        "{:?}",
        p.warnings()
    );
    p.client_config().unwrap();
    p.server_config().unwrap();
}

#[test]
fn cluster_certificates_without_both_usages_get_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let mut leaf = Leaf::localhost(3);
    leaf.client_auth = false;
    pki::policy_dir(dir.path(), &ca.issue(&leaf), &[], &[&ca.pem]);
    let p = TlsPolicy::load(&config(Scope::Cluster, dir.path())).unwrap();
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("but not clientAuth")),
        "{:?}",
        p.warnings()
    );
    // The same certificate is fine for bolt.
    let p = TlsPolicy::load(&config(Scope::Bolt, dir.path())).unwrap();
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}

#[test]
fn a_revoked_certificate_is_not_trusted_and_crls_load() {
    let (dir, ca, c) = setup(Scope::Bolt);
    pki::write(&dir.path().join("revoked/ca.pem"), &ca.pem, 0o644);
    pki::write(&dir.path().join("revoked/ca.crl"), ca.crl(&[99]), 0o644);
    let p = TlsPolicy::load(&c).unwrap();
    assert!(p.trusted.store.is_empty());
    assert_eq!(p.revoked.crls.len(), 1);
    assert_eq!(p.revoked.certificates.len(), 1);
    assert!(
        p.warnings()
            .iter()
            .any(|w| w.contains("also in revoked_dir")),
        "{:?}",
        p.warnings()
    );
}

#[test]
fn an_ecdsa_key_with_only_rsa_tls12_suites_is_an_error() {
    let (_dir, _ca, mut c) = setup(Scope::Bolt);
    c.ciphers = Some(vec![
        "TLS_AES_128_GCM_SHA256".into(),
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
    ]);
    let e = load_err(&c);
    assert!(e.starts_with("dbms.ssl.policy.bolt.ciphers"), "{e}");
    assert!(e.contains("TLS_ECDHE_ECDSA_WITH"), "{e}");
}

#[test]
fn der_crls_load_too() {
    let (dir, ca, c) = setup(Scope::Bolt);
    let pem_crl = dir.path().join("x.crl");
    pki::write(&pem_crl, ca.crl(&[5, 6]), 0o644);
    let der = dir.path().join("revoked/ca.crl.der");
    pki::openssl(&[
        "crl",
        "-in",
        pem_crl.to_str().unwrap(),
        "-outform",
        "der",
        "-out",
        der.to_str().unwrap(),
    ]);
    let p = TlsPolicy::load(&c).unwrap();
    assert_eq!(p.revoked.crls.len(), 1);
    assert!(p.revoked.files[0].descriptions[0].contains("2 revoked serials"));
}

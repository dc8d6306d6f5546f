//! The scripted cluster over mutual TLS: every member requires a client certificate from the test
//! CA; boltgate dials them with the `cluster` SSL policy (its client certificate, the trusted
//! dir, and hostname verification against each member's advertised name, `localhost`).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::cluster::FakeCluster;
use super::common::{Boltgate, TestPki};
use super::fake_cluster::check_read_write_split;

fn member_tls(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain = vec![
        CertificateDer::from_pem_slice(pki.server.cert_pem.as_bytes()).unwrap(),
        CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap(),
    ];
    let key = PrivateKeyDer::from_pem_slice(pki.server.key_pem.as_bytes()).unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

#[test]
fn routing_over_mutual_tls_with_the_cluster_policy() {
    let pki = TestPki::new();
    let cluster = FakeCluster::start(Some(member_tls(&pki)));
    let base = pki.write_policy_dir(&pki.dir().join("policies/cluster"), &pki.client);
    let uri = format!("{}?region=test", cluster.uri(0));
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.log.level", "boltgate=debug,info"),
        ("dbms.ssl.policy.cluster.enabled", "true"),
        (
            "dbms.ssl.policy.cluster.base_directory",
            base.to_str().unwrap(),
        ),
    ]);
    check_read_write_split(&cluster, &gate);
    assert!(gate.log_contains("dbms.ssl.policy.cluster (mutual TLS)"));
}

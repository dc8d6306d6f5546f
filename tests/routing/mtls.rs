//! The scripted cluster over mutual TLS: every member requires a client certificate from the test
//! CA; boltgate dials them with the `cluster` SSL policy (its client certificate, the trusted
//! dir, and hostname verification against each member's advertised name, `localhost`).
//! The negative cases: a member whose certificate comes from a CA boltgate does not trust is
//! refused (and logged) while traffic goes to the others; members that require a client
//! certificate refuse a boltgate that has none.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::cluster::FakeCluster;
use super::common::bolt::{RawBolt, HELLO_5_AND_4_4};
use super::common::{self, Boltgate, TestPki};
use super::fake_cluster::{check_read_write_split, routing_py};

/// A member presenting `pki`'s server certificate and requiring a client certificate from
/// `clients`' CA.
fn member_tls_from(pki: &TestPki, clients: &TestPki) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(clients.ca_pem.as_bytes()).unwrap())
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

fn member_tls(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    member_tls_from(pki, pki)
}

fn cluster_policy_gate(pki: &TestPki, cluster: &FakeCluster) -> Boltgate {
    let base = pki.write_policy_dir(&pki.dir().join("policies/cluster"), &pki.client);
    let uri = format!("{}?region=test", cluster.uri(0));
    Boltgate::start(&[
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.log.level", "boltgate=debug,info"),
        ("boltgate.routing.ban_time", "60s"),
        ("dbms.ssl.policy.cluster.enabled", "true"),
        (
            "dbms.ssl.policy.cluster.base_directory",
            base.to_str().unwrap(),
        ),
    ])
}

#[test]
fn a_member_with_a_certificate_from_an_unknown_ca_is_refused_and_routed_around() {
    let pki = TestPki::new();
    let stranger = TestPki::new();
    let tls = vec![
        Some(member_tls(&pki)),
        Some(member_tls(&pki)),
        Some(member_tls_from(&stranger, &pki)),
    ];
    let cluster = FakeCluster::start_with(tls, None);
    let gate = cluster_policy_gate(&pki, &cluster);
    let out = routing_py(&gate, &["--writes", "1", "--reads", "6"]);
    assert_eq!(out["reads"], 7, "{out}");
    assert_eq!(cluster.count(1, "RETURN 2"), 7, "every read went to m1");
    assert!(cluster.queries(2).is_empty(), "m2 ran nothing");
    let m2 = &cluster.addrs[2];
    let log = gate.log();
    let refused = log
        .lines()
        .find(|l| l.contains(m2.as_str()) && l.contains("unreachable"))
        .unwrap_or_else(|| panic!("no log line names {m2}:\n{}", common::tail(&log, 4000)));
    let lower = refused.to_lowercase();
    assert!(
        lower.contains("issuer") || lower.contains("certificate"),
        "the log says why: {refused}"
    );
}

#[test]
fn members_requiring_a_client_certificate_refuse_boltgate_without_one() {
    let pki = TestPki::new();
    let cluster = FakeCluster::start(Some(member_tls(&pki)));
    // TLS without any certificate of boltgate's own (neo4j+ssc: encrypted, not verified).
    let uri = format!("neo4j+ssc://{}", cluster.addrs[0]);
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", uri.as_str()),
        ("boltgate.log.level", "boltgate=debug,info"),
    ]);
    let mut c = RawBolt::connect(gate.addr);
    let err = c
        .try_login(&HELLO_5_AND_4_4)
        .expect_err("no member accepts boltgate");
    assert!(err.contains("DatabaseUnavailable"), "{err}");
    assert!(cluster.queries(0).is_empty());
    let m0 = &cluster.addrs[0];
    assert!(
        gate.wait_for_log(&format!("member={m0}"), std::time::Duration::from_secs(5)),
        "{}",
        common::tail(&gate.log(), 4000)
    );
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

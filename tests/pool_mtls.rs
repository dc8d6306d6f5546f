//! Transaction pooling over mutual TLS (issue 18): the upstream requires a client certificate,
//! and a pooling boltgate presents its own (the `cluster` SSL policy) on every server
//! connection it opens, however many clients share them. Without a certificate, boltgate's
//! clients get a FAILURE that says why, promptly, not a hang.
//!
//! Two servers. The synthetic server with a rustls verifier that requires a certificate from
//! the test CA and keeps each one it accepted, so the test sees exactly which certificate each
//! connection presented. And a real peer: stunnel (OpenSSL, `verifyChain`) in front of
//! FalkorDB, with the Python driver's clients.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boltgate_testkit::client::{Auth, Client, ClientError, Outcome};
use boltgate_testkit::synthetic::{Options, SyntheticServer};
use common::tap::Tap;
use common::{Boltgate, FalkorDb, Stunnel, TestPki};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tokio::time::timeout;

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(60);

/// Requires a client certificate chaining to the test CA (rustls' WebPKI verifier does the
/// checking) and keeps every end-entity certificate it accepted.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ClientCertVerifier>,
    seen: Mutex<Vec<Vec<u8>>>,
}

impl Recording {
    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ClientCertVerifier for Recording {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(end_entity.to_vec());
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The synthetic server with `pki`'s server certificate, requiring a client certificate from
/// `pki`'s CA; the verifier, to ask what each connection presented.
async fn mtls_server(pki: &TestPki) -> (SyntheticServer, Arc<Recording>) {
    let provider = boltgate::tls::provider();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.ca_der.clone()))
        .expect("the test CA");
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .expect("client verifier");
    let verifier = Arc::new(Recording {
        inner,
        seen: Mutex::default(),
    });
    let chain = vec![
        CertificateDer::from(pki.server.cert_der.clone()),
        CertificateDer::from(pki.ca_der.clone()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.key_der.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(chain, key)
        .expect("server certificate");
    // No session resumption: a resumed session presents no certificate (it carries the one
    // verified when it began), so every connection's own handshake shows its certificate.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    let server = SyntheticServer::start_with(Options {
        tls: Some(Arc::new(config)),
        ..Options::default()
    })
    .await
    .expect("synthetic TLS server");
    (server, verifier)
}

/// boltgate's `cluster` policy: the test PKI's client certificate, trusting the test CA.
fn cluster_policy(pki: &TestPki) -> String {
    let base = pki.write_policy_dir(&pki.dir().join("policies/cluster"), &pki.client);
    format!(
        "dbms.ssl.policy.cluster.enabled=true\ndbms.ssl.policy.cluster.base_directory={}\n",
        base.display()
    )
}

/// 40 clients at once, three queries each (one in an explicit transaction), through a pool of
/// 4 over mutual TLS: every query answered, never more than 4 server connections, and every
/// connection the server accepted presented boltgate's cluster certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pooled_connection_presents_boltgates_client_certificate() {
    let pki = TestPki::new();
    let (server, verifier) = mtls_server(&pki).await;
    let upstream = format!("bolt://localhost:{}", server.addr().port());
    let extra = format!(
        "{}boltgate.pool.acquire_timeout=60s\n",
        cluster_policy(&pki)
    );
    let proxy = common::pool::proxy(&upstream, 4, &extra).await;
    let addr = proxy.addr();
    let mut tasks = Vec::new();
    for c in 0..40 {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, &Auth::None).await?;
            for q in 0..2 {
                let out = client.run(&format!("RETURN {}", c * 10 + q)).await?;
                assert!(matches!(out, Outcome::Rows { records: 1, .. }), "{out:?}");
            }
            client.begin().await?;
            let out = client.run(&format!("RETURN {}", c * 10 + 5)).await?;
            assert!(matches!(out, Outcome::Rows { records: 1, .. }), "{out:?}");
            client.commit().await?;
            client.goodbye().await
        }));
    }
    for t in tasks {
        timeout(WAIT, t)
            .await
            .expect("every client done in time")
            .expect("client task")
            .expect("client");
    }
    assert_eq!(server.runs(), 120, "every query reached the server once");
    let max = server.max_open_connections();
    assert!(max <= 4, "the server saw {max} connections at once");
    assert!(server.connections() < 40, "connections were shared");
    let seen = verifier.seen();
    assert_eq!(
        seen.len() as u64,
        server.connections(),
        "every connection the server accepted presented a certificate it accepted"
    );
    assert!(
        seen.iter().all(|c| *c == pki.client.cert_der),
        "each one boltgate's cluster certificate"
    );
}

/// The same server, and a pooling boltgate (the binary, for its log) with TLS but no
/// certificate of its own: each client gets `DatabaseUnavailable` promptly, saying the reason
/// is in boltgate's log (a client that has not logged in learns nothing about the upstream,
/// src/session/failure.rs), and the log says the server wanted a certificate. Nothing ran on
/// the server, and no connection got past its TLS handshake.
#[test]
fn without_a_client_certificate_the_client_gets_a_clear_failure() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let pki = TestPki::new();
    let (server, verifier) = rt.block_on(mtls_server(&pki));
    let host_port = format!("localhost:{}", server.addr().port());
    let upstream = format!("bolt+ssc://{host_port}");
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &upstream),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", "2"),
        ("boltgate.pool.acquire_timeout", "5s"),
    ]);
    for attempt in 0..2 {
        // The timer is made inside the runtime (block_on), as tokio's timers must be.
        let answer = rt
            .block_on(async {
                let client = async {
                    let mut client = Client::connect(gate.addr, &Auth::None).await?;
                    client.run("RETURN 1").await
                };
                timeout(WAIT, client).await
            })
            .expect("an answer, not a hang");
        let (code, message) = match answer {
            Err(ClientError::Failed { code, message, .. })
            | Ok(Outcome::Failure { code, message }) => (code, message),
            other => panic!("attempt {attempt}: expected a FAILURE, got {other:?}"),
        };
        assert_eq!(code, "Neo.TransientError.General.DatabaseUnavailable");
        assert!(
            message.contains("boltgate's log"),
            "attempt {attempt}: {message}"
        );
    }
    let log = gate.log();
    let why = log
        .lines()
        // TLS 1.3: the client's handshake completes before the server checks its (missing)
        // certificate, so the server's alert arrives as the Bolt handshake's answer.
        .find(|l| l.contains("upstream unreachable") && l.contains("CertificateRequired"))
        .unwrap_or_else(|| {
            panic!(
                "the log names the certificate:\n{}",
                common::tail(&log, 4000)
            )
        });
    assert!(
        why.contains(&host_port),
        "the line names the upstream: {why}"
    );
    assert!(
        why.contains("enable dbms.ssl.policy.cluster with boltgate's certificate and key"),
        "the line names the setting that fixes it: {why}"
    );
    assert_eq!(server.runs(), 0);
    assert!(server.connections() >= 1, "boltgate did try");
    assert!(verifier.seen().is_empty());
}

const PY_TIMEOUT: Duration = Duration::from_secs(120);

/// A real peer: stunnel requiring a client certificate from the test CA (`verifyChain`), in
/// front of FalkorDB. Six Python clients through a pool of 2 with the cluster policy: every
/// write and read done, boltgate never has more than 2 connections open to stunnel (counted by
/// a tap in front of it, `tests/common/tap.rs`; stunnel opens one to FalkorDB for each), and
/// stunnel accepted boltgate's certificate for each; a pooling boltgate
/// without a certificate fails its client with `DatabaseUnavailable`, within the bound.
#[test]
fn mutual_tls_to_stunnel_in_front_of_falkordb_through_a_pool_of_2() {
    if common::stunnel::stunnel_bin().is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "stunnel is missing: .ci/run installs stunnel4"
        );
        eprintln!("SKIPPED: stunnel is not installed (.ci/run installs stunnel4)");
        return;
    }
    let db = FalkorDb::start();
    let pki = TestPki::new();
    let tls = Stunnel::start_mtls(
        &pki.server.chain_path,
        &pki.server.key_path,
        &pki.ca_path,
        common::free_port(),
        db.bolt_addr().port(),
    );
    let base = pki.write_policy_dir(&pki.dir().join("policies/cluster"), &pki.client);
    let tap = Tap::start(SocketAddr::from(([127, 0, 0, 1], tls.accept_port)));
    // `localhost`: the name stunnel's certificate carries; the tap listens on 127.0.0.1.
    let upstream = format!("bolt://localhost:{}", tap.addr().port());
    let gate = Boltgate::start(&[
        ("boltgate.upstream.uri", &upstream),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", "2"),
        ("boltgate.pool.acquire_timeout", "60s"),
        ("dbms.ssl.policy.cluster.enabled", "true"),
        (
            "dbms.ssl.policy.cluster.base_directory",
            base.to_str().unwrap(),
        ),
    ]);
    let out = common::try_run_py(
        "pool_clients.py",
        &[&gate.bolt_uri(), "--clients", "6", "--rounds", "2"],
        PY_TIMEOUT,
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n--- boltgate ---\n{}\n--- stunnel ---\n{}",
            gate.log(),
            tls.log()
        )
    });
    let peak = tap.peak();
    assert_eq!(out["writes"], 12, "{out}");
    assert_eq!(out["reads"], 12, "{out}");
    assert!(
        peak <= 2,
        "boltgate had {peak} connections to stunnel at once"
    );
    // stunnel resumes TLS sessions: a new session shows the certificate it was verified with,
    // a resumed one carries that identity without showing it again.
    let log = tls.log();
    let new_sessions = log.matches("TLS accepted: new session negotiated").count();
    let certified = log
        .matches("Certificate accepted at depth=0: CN=boltgate-test-client")
        .count();
    assert!(new_sessions >= 1, "stunnel saw boltgate:\n{log}");
    assert_eq!(
        certified, new_sessions,
        "every new TLS session presented boltgate's certificate:\n{log}"
    );

    let bare = Boltgate::start(&[
        (
            "boltgate.upstream.uri",
            &format!("bolt+ssc://localhost:{}", tls.accept_port),
        ),
        ("boltgate.pool.mode", "transaction"),
        ("boltgate.pool.max_size", "2"),
    ]);
    let refused = common::try_run_py(
        "query.py",
        &[
            &bare.bolt_uri(),
            r#"["RETURN 1 AS x"]"#,
            "--connect-timeout",
            "5",
        ],
        PY_TIMEOUT,
    )
    .expect_err("no certificate, no query");
    let refused = refused.to_string();
    assert!(
        refused.contains("DatabaseUnavailable"),
        "{refused}\n--- boltgate ---\n{}",
        bare.log()
    );
}

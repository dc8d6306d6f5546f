//! What the examples share: a throwaway PKI for TLS runs (examples are not part of the library,
//! so this is included with `#[path]` rather than living in `boltgate::testkit`, which must not
//! depend on rcgen).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A CA and a `localhost`/`127.0.0.1` server certificate, written as boltgate's
/// `dbms.ssl.policy.bolt` expects them (`private.key` PKCS#8 PEM, `public.crt` chain PEM).
pub struct Pki {
    /// boltgate's side, for an in-process proxy (idle_conns runs the binary, which reads the
    /// files instead).
    #[allow(dead_code)]
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

impl Pki {
    pub fn create(dir: &std::path::Path) -> Result<Pki, BoxError> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "boltgate examples CA");
        let ca_key = KeyPair::generate()?;
        let ca = ca_params.self_signed(&ca_key)?;
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate()?;
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key)?;

        std::fs::write(dir.join("private.key"), leaf_key.serialize_pem())?;
        // The policy's directories must exist (boltgate creates none); empty is fine.
        std::fs::create_dir_all(dir.join("trusted"))?;
        std::fs::create_dir_all(dir.join("revoked"))?;
        std::fs::write(
            dir.join("public.crt"),
            format!("{}{}", leaf.pem(), ca.pem()),
        )?;

        let provider = boltgate::tls::provider();
        let chain = vec![leaf.der().clone(), ca.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.der().to_vec()))?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Pki {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }

    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client.clone())
    }
}

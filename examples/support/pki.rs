//! The examples' TLS setup, from the test PKI (`boltgate_testkit::pki`, the one PKI builder of
//! tests and examples): a CA and a `localhost`/`127.0.0.1` server certificate, written as
//! boltgate's `dbms.ssl.policy.bolt` expects them (`private.key`, `public.crt`, `trusted/`,
//! `revoked/`).

use std::sync::Arc;

use boltgate_testkit::pki::TestPki;
use tokio_rustls::TlsConnector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub struct Pki {
    /// Keeps the PKI's own folder (the CA, the leaves) until the run ends.
    _pki: TestPki,
    /// boltgate's side, for an in-process proxy (idle_conns runs the binary, which reads the
    /// files instead).
    #[allow(dead_code)]
    pub server: Arc<rustls::ServerConfig>,
    pub client: Arc<rustls::ClientConfig>,
}

impl Pki {
    /// Writes the bolt policy's files into `dir`.
    pub fn create(dir: &std::path::Path) -> Result<Pki, BoxError> {
        let pki = TestPki::new();
        pki.write_policy_dir(dir, &pki.server);
        Ok(Pki {
            server: pki.server_config(&pki.server),
            client: pki.client_config(),
            _pki: pki,
        })
    }

    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client.clone())
    }
}

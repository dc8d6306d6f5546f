//! [`StapledCert`]: the bolt listener's certificate as a rustls [`ResolvesServerCert`], so the
//! OCSP staple can change under a live `ServerConfig` without rebuilding it.
//!
//! The certificate and key never change here: a new certificate (a reload) means a new
//! `StapledCert` in a new `ServerConfig` ([`crate::reload`]). Only `ocsp` is replaced, by the
//! OCSP refresh task ([`super::ocsp`]). Each handshake clones one `Arc<CertifiedKey>`.

use std::sync::{Arc, RwLock};

use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, SigningKey};

/// One certificate chain and key, with a staple that can be swapped.
///
/// A `std::sync::RwLock` rather than `arc-swap`: the lock is held only to clone an `Arc` (one
/// read per handshake, a write every few hours), which no benchmark of a TLS handshake would see.
#[derive(Debug)]
pub struct StapledCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl StapledCert {
    pub fn new(chain: Vec<CertificateDer<'static>>, key: Arc<dyn SigningKey>) -> StapledCert {
        StapledCert {
            current: RwLock::new(Arc::new(CertifiedKey::new(chain, key))),
        }
    }

    /// The chain served, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.get().cert.clone()
    }

    /// The staple served now (DER `OCSPResponse`), if any.
    pub fn ocsp(&self) -> Option<Vec<u8>> {
        self.get().ocsp.clone()
    }

    /// Serves `staple` from the next handshake on; None stops stapling.
    pub fn set_ocsp(&self, staple: Option<Vec<u8>>) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = CertifiedKey::new(current.cert.clone(), current.key.clone());
        next.ocsp = staple;
        *current = Arc::new(next);
    }

    fn get(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for StapledCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

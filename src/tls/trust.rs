//! Whom to trust: a policy's `trusted_dir`, the system's roots for `bolt+s` upstreams, and
//! `trust_all`, whose verifiers live in [`danger`] so that every use reads as what it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use super::revocation::{list_dir, Revoked};
use super::{pem, TlsError};

/// A loaded `trusted_dir`.
#[derive(Debug, Clone)]
pub struct TrustedDir {
    pub store: Arc<RootCertStore>,
    /// Each file and the certificates it held (those also revoked left out).
    pub files: Vec<(PathBuf, Vec<CertificateDer<'static>>)>,
}

impl TrustedDir {
    /// Whether this exact certificate is in the directory. The manual's how-to puts a server's
    /// own (often self-signed, `CA:TRUE`) `public.crt` in `trusted/`; Java trusts such a
    /// certificate directly, while webpki refuses a CA certificate as an end entity, so the
    /// policy verifiers accept a certificate found here byte for byte (valid now, not revoked).
    pub fn directly_trusts(&self, cert: &CertificateDer<'_>) -> bool {
        self.files
            .iter()
            .flat_map(|(_, certs)| certs)
            .any(|c| c.as_ref() == cert.as_ref())
            && pem::parse(cert).is_some_and(|c| c.validity().is_valid())
    }
}

/// Every certificate in every file of `dir` (PEM, one or many per file). A file that is not a
/// certificate is an error naming it, so a stray key or README is found rather than skipped.
/// A certificate that is also in `revoked_dir` is not trusted (with a warning). The store may be
/// empty: whether that is a problem depends on the role ([`super::TlsPolicy`] decides).
pub fn load_trusted_dir(
    setting: &str,
    dir: &Path,
    revoked: &Revoked,
    warnings: &mut Vec<String>,
) -> Result<TrustedDir, TlsError> {
    let mut store = RootCertStore::empty();
    let mut files = Vec::new();
    for path in list_dir(setting, dir)? {
        let mut kept = Vec::new();
        for cert in pem::load_certificates(setting, &path)? {
            if let Some(source) = revoked.certificate_source(&cert) {
                warnings.push(format!(
                    "{setting}: {} ({}) is also in revoked_dir ({}); it is not trusted",
                    path.display(),
                    pem::subject(&cert),
                    source.display()
                ));
                continue;
            }
            if let Some(c) = pem::parse(&cert) {
                if !c.validity().is_valid() {
                    warnings.push(format!(
                        "{setting}: {} ({}) is outside its validity period ({} to {}); \
                         chains through it will be refused",
                        path.display(),
                        c.subject(),
                        c.validity().not_before,
                        c.validity().not_after
                    ));
                }
            }
            store.add(cert.clone()).map_err(|e| {
                pem::file_error(setting, &path, format!("not a usable trust anchor: {e}"))
            })?;
            kept.push(cert);
        }
        files.push((path, kept));
    }
    Ok(TrustedDir {
        store: Arc::new(store),
        files,
    })
}

/// The roots a `bolt+s://` upstream is verified against: the operating system's store
/// (which honours `SSL_CERT_FILE` / `SSL_CERT_DIR`), or Mozilla's roots when it has none.
pub fn system_roots() -> RootCertStore {
    system_roots_with_certs().0
}

/// [`system_roots`], and the system's certificates themselves (the issuers an upstream's OCSP
/// staple may have to be checked against; a trust store keeps only names and keys).
pub fn system_roots_with_certs() -> (RootCertStore, Vec<CertificateDer<'static>>) {
    let mut store = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::debug!(error = %err, "skipping a system certificate");
    }
    let certs = native.certs.clone();
    let (added, _ignored) = store.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::warn!("no system CA certificates found; using the bundled Mozilla roots");
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    (store, certs)
}

/// Verifiers that accept any certificate: `trust_all` and `bolt+ssc`. They still check the
/// handshake signature, so the peer must hold the key of the certificate it shows; they do not
/// check who that is.
pub mod danger {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
    use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

    fn tls12(
        p: &CryptoProvider,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &p.signature_verification_algorithms,
        )
    }

    fn tls13(
        p: &CryptoProvider,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &p.signature_verification_algorithms,
        )
    }

    /// Any server certificate, any name.
    #[derive(Debug)]
    pub struct TrustAnyServerCertificate(pub Arc<CryptoProvider>);

    impl ServerCertVerifier for TrustAnyServerCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls12(&self.0, message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls13(&self.0, message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// Any client certificate; asked for (and required) as `client_auth` says.
    #[derive(Debug)]
    pub struct TrustAnyClientCertificate {
        pub provider: Arc<CryptoProvider>,
        pub mandatory: bool,
    }

    impl ClientCertVerifier for TrustAnyClientCertificate {
        fn client_auth_mandatory(&self) -> bool {
            self.mandatory
        }

        fn root_hint_subjects(&self) -> &[DistinguishedName] {
            &[]
        }

        fn verify_client_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _now: UnixTime,
        ) -> Result<ClientCertVerified, rustls::Error> {
            Ok(ClientCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls12(&self.provider, message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls13(&self.provider, message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

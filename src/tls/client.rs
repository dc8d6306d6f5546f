//! The client side: boltgate dialling an upstream server.
//!
//! With `dbms.ssl.policy.cluster.enabled=true` the cluster policy decides everything
//! ([`TlsPolicy::client_config`]): boltgate presents the policy's certificate (mutual TLS),
//! trusts its `trusted_dir` (not the system roots), applies `revoked_dir`, `verify_hostname`,
//! `ciphers` and `tls_versions`. Without it the URI decides: `bolt+s` verifies the server
//! against the system roots and checks its name, as the official drivers do; `bolt+ssc`
//! encrypts but accepts any certificate ("self-signed certificate").

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::ocsp::OcspCheckingVerifier;
use super::revocation::Revoked;
use super::trust::danger::TrustAnyServerCertificate;
use super::trust::TrustedDir;
use super::{provider, trust, TlsError, TlsPolicy};
use crate::config::Scope;

/// `bolt+s`: the system's roots, hostname verified.
pub fn verified() -> Arc<ClientConfig> {
    verified_ocsp(false)
}

/// [`verified`], with the stapled OCSP response checked ([`super::ocsp::OcspCheckingVerifier`]);
/// `ocsp_required` also refuses a server that staples none.
pub fn verified_ocsp(ocsp_required: bool) -> Arc<ClientConfig> {
    let (roots, root_certs) = trust::system_roots_with_certs();
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .expect("the system roots and ring's algorithms make a verifier");
    let verifier = ocsp_checking(inner, root_certs, ocsp_required);
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Arc::new(config)
}

/// `bolt+ssc`: any certificate is accepted; the handshake signature is still checked, so the
/// connection is encrypted to whoever holds the presented certificate's key.
pub fn any_certificate() -> Arc<ClientConfig> {
    any_certificate_ocsp(false)
}

/// [`any_certificate`]; a stapled OCSP response is still checked when the server sends its
/// issuer, and `revoked` refuses it.
pub fn any_certificate_ocsp(ocsp_required: bool) -> Arc<ClientConfig> {
    let inner = Arc::new(TrustAnyServerCertificate(provider()));
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(ocsp_checking(inner, Vec::new(), ocsp_required))
        .with_no_client_auth();
    Arc::new(config)
}

fn ocsp_checking(
    inner: Arc<dyn ServerCertVerifier>,
    issuers: Vec<CertificateDer<'static>>,
    required: bool,
) -> Arc<dyn ServerCertVerifier> {
    Arc::new(OcspCheckingVerifier {
        inner,
        provider: provider(),
        issuers,
        required,
    })
}

impl TlsPolicy {
    /// This policy as a TLS client presenting its certificate (mutual TLS). The server name is
    /// given per connection to the connector.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        self.client_config_ocsp(false)
    }

    /// [`TlsPolicy::client_config`], with the server's stapled OCSP response checked against
    /// the issuers in its chain and in `trusted_dir`; `ocsp_required` refuses a server that
    /// staples none.
    pub fn client_config_ocsp(&self, ocsp_required: bool) -> Result<Arc<ClientConfig>, TlsError> {
        let c = &self.config;
        let (inner, match_crl_entries): (Arc<dyn ServerCertVerifier>, bool) = if c.trust_all {
            (
                Arc::new(TrustAnyServerCertificate(self.provider.clone())),
                true,
            )
        } else {
            let mut builder = WebPkiServerVerifier::builder_with_provider(
                self.trusted.store.clone(),
                self.provider.clone(),
            );
            if !self.revoked.crls.is_empty() {
                builder = builder
                    .with_crls(self.revoked.crls.iter().cloned())
                    .allow_unknown_revocation_status();
            }
            let built = builder.build().map_err(|e| TlsError::Setting {
                setting: self.setting("trusted_dir"),
                problem: format!(
                    "cannot build the server certificate verifier from {} and {}: {e}",
                    c.trusted_dir.display(),
                    c.revoked_dir.display()
                ),
            })?;
            (built, false)
        };
        let verifier = PolicyServerVerifier {
            inner,
            revoked: self.revoked.clone(),
            trusted: Arc::new(self.trusted.clone()),
            scope: c.scope,
            verify_hostname: c.verify_hostname,
            match_crl_entries,
        };
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|source| TlsError::Rustls {
                context: self.setting("tls_versions"),
                source,
            })?
            .dangerous()
            .with_custom_certificate_verifier(ocsp_checking(
                Arc::new(verifier),
                self.trusted
                    .files
                    .iter()
                    .flat_map(|(_, certs)| certs.iter().cloned())
                    .collect(),
                ocsp_required,
            ))
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|source| TlsError::Rustls {
                context: format!(
                    "{} and {} do not form a usable pair",
                    self.setting("public_certificate"),
                    self.setting("private_key")
                ),
                source,
            })?;
        Ok(Arc::new(config))
    }
}

/// The cluster policy's server certificate check: the chain against `trusted_dir` and
/// `revoked_dir`, and the name only when `verify_hostname` (rustls checks the name last, after
/// the chain and revocation, so accepting a name mismatch never skips those).
#[derive(Debug)]
pub struct PolicyServerVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    revoked: Arc<Revoked>,
    trusted: Arc<TrustedDir>,
    scope: Scope,
    verify_hostname: bool,
    match_crl_entries: bool,
}

fn is_name_mismatch(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for PolicyServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let peer = server_name.to_str();
        self.revoked.check(
            self.scope,
            &peer,
            end_entity,
            intermediates,
            self.match_crl_entries,
        )?;
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(e)
                if !is_name_mismatch(&e)
                    && self.trusted.directly_trusts(end_entity)
                    && self.revoked.crl_source(end_entity).is_none() =>
            {
                // The certificate itself is in trusted_dir (see TrustedDir::directly_trusts);
                // its name is still checked when verify_hostname is on.
                if self.verify_hostname {
                    let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                    rustls::client::verify_server_name(&parsed, server_name)?;
                }
                tracing::debug!(scope = %self.scope, server = %peer,
                    "server certificate is itself in trusted_dir");
                Ok(ServerCertVerified::assertion())
            }
            Err(e) if !self.verify_hostname && is_name_mismatch(&e) => {
                tracing::debug!(scope = %self.scope, server = %peer,
                    "certificate does not name the server; accepted (verify_hostname=false)");
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => {
                self.revoked
                    .explain(self.scope, &peer, end_entity, intermediates, &e);
                tracing::info!(scope = %self.scope, server = %peer,
                    subject = %super::pem::subject(end_entity), error = %e,
                    "upstream certificate refused");
                Err(e)
            }
        }
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

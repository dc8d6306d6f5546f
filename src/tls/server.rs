//! The server side of a policy (the Bolt listener; later the HTTPS endpoint): its certificate,
//! and whether and whom it asks for client certificates.
//!
//! | `client_auth` | rustls                                                                  |
//! |---------------|-------------------------------------------------------------------------|
//! | `NONE`        | `WebPkiClientVerifier::no_client_auth()`                                |
//! | `OPTIONAL`    | `WebPkiClientVerifier::builder(trusted).with_crls(..).allow_unauthenticated()` |
//! | `REQUIRE`     | the same builder without `allow_unauthenticated`                        |
//!
//! Every verifier is wrapped in [`PolicyClientVerifier`], which refuses certificates placed in
//! `revoked_dir` and logs who a CRL refused.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use super::resolver::StapledCert;
use super::revocation::Revoked;
use super::trust::danger::TrustAnyClientCertificate;
use super::trust::TrustedDir;
use super::{TlsError, TlsPolicy};
use crate::config::{ClientAuth, Scope, SslPolicyConfig};

/// What every server configuration of a policy gets last:
/// - the suite is the first of the policy's (`ciphers`, or [`super::suites::SUITES`]) that the
///   client offers, not the client's favourite: Neo4j on the JDK chooses so
///   (docs/neo4j-parity.md, sets B and E), and an operator's order in `ciphers` then means what
///   it says;
/// - session tickets are stateless (sealed with a key of this configuration's own, rotated
///   every 6 hours): rustls' default keeps resumable sessions in a cache of 256, so a client
///   could no longer resume once about 128 other connections had come in since its own, which a
///   busy gateway reaches in a moment. A new configuration (a reload) has a new key, so no
///   session from before a reload resumes, and a client certificate revoked meanwhile is checked
///   again.
fn finish(mut config: ServerConfig, policy: &TlsPolicy) -> Result<Arc<ServerConfig>, TlsError> {
    config.ignore_client_order = true;
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|source| TlsError::Rustls {
        context: format!("{}: session tickets", policy.setting("enabled")),
        source,
    })?;
    Ok(Arc::new(config))
}

impl TlsPolicy {
    /// This policy as a TLS server.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|source| TlsError::Rustls {
                context: self.setting("tls_versions"),
                source,
            })?;
        let verifier = self.client_verifier()?;
        let config = builder
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|source| TlsError::Rustls {
                context: format!(
                    "{} and {} do not form a usable pair ({} / {})",
                    self.setting("public_certificate"),
                    self.setting("private_key"),
                    self.config.public_certificate.display(),
                    self.config.private_key.display()
                ),
                source,
            })?;
        finish(config, self)
    }

    /// This policy as a TLS server whose certificate is served through a [`StapledCert`], so
    /// an OCSP staple can be set and refreshed on the returned handle while the config is live.
    pub fn server_config_stapled(&self) -> Result<(Arc<ServerConfig>, Arc<StapledCert>), TlsError> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|source| TlsError::Rustls {
                context: self.setting("tls_versions"),
                source,
            })?;
        let verifier = self.client_verifier()?;
        // The key was checked against the leaf in TlsPolicy::load (what with_single_cert does).
        let cert = Arc::new(StapledCert::new(
            self.chain.clone(),
            self.signing_key.clone(),
        ));
        let config = builder
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(cert.clone());
        Ok((finish(config, self)?, cert))
    }

    fn client_verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
        let c = &self.config;
        if c.client_auth == ClientAuth::None {
            return Ok(WebPkiClientVerifier::no_client_auth());
        }
        let (inner, match_crl_entries): (Arc<dyn ClientCertVerifier>, bool) = if c.trust_all {
            let any = TrustAnyClientCertificate {
                provider: self.provider.clone(),
                mandatory: c.client_auth == ClientAuth::Require,
            };
            (Arc::new(any), true)
        } else if self.trusted.store.is_empty() {
            // OPTIONAL with nothing to verify against (REQUIRE was refused at load).
            return Ok(WebPkiClientVerifier::no_client_auth());
        } else {
            let mut builder = WebPkiClientVerifier::builder_with_provider(
                self.trusted.store.clone(),
                self.provider.clone(),
            );
            if !self.revoked.crls.is_empty() {
                // Only the CRLs in revoked_dir apply: a certificate whose issuer published none
                // there is not refused for that.
                builder = builder
                    .with_crls(self.revoked.crls.iter().cloned())
                    .allow_unknown_revocation_status();
            }
            if c.client_auth == ClientAuth::Optional {
                builder = builder.allow_unauthenticated();
            }
            let built = builder.build().map_err(|e| TlsError::Setting {
                setting: self.setting("client_auth"),
                problem: format!(
                    "cannot build the client certificate verifier from {} and {}: {e}",
                    c.trusted_dir.display(),
                    c.revoked_dir.display()
                ),
            })?;
            (built, false)
        };
        Ok(Arc::new(PolicyClientVerifier {
            inner,
            revoked: self.revoked.clone(),
            trusted: Arc::new(self.trusted.clone()),
            scope: c.scope,
            match_crl_entries,
        }))
    }
}

/// Builds the server side of a policy in one step (load, then [`TlsPolicy::server_config`]).
pub fn build(policy: &SslPolicyConfig) -> Result<Arc<ServerConfig>, TlsError> {
    TlsPolicy::load(policy)?.server_config()
}

/// A client certificate verifier that also applies `revoked_dir`'s certificates.
#[derive(Debug)]
pub struct PolicyClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: Arc<Revoked>,
    trusted: Arc<TrustedDir>,
    scope: Scope,
    /// With `trust_all` no chain is built, so CRL entries are matched by issuer and serial here.
    match_crl_entries: bool,
}

impl ClientCertVerifier for PolicyClientVerifier {
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
        self.revoked.check(
            self.scope,
            "client",
            end_entity,
            intermediates,
            self.match_crl_entries,
        )?;
        let result = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if result.is_err()
            && self.trusted.directly_trusts(end_entity)
            && self.revoked.crl_source(end_entity).is_none()
        {
            tracing::debug!(scope = %self.scope, "client certificate is itself in trusted_dir");
            return Ok(ClientCertVerified::assertion());
        }
        result.inspect_err(|e| {
            self.revoked
                .explain(self.scope, "client", end_entity, intermediates, e);
            tracing::info!(scope = %self.scope, subject = %super::pem::subject(end_entity),
                    error = %e, "client certificate refused");
        })
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

//! The client side: [`OcspCheckingVerifier`] wraps an upstream's certificate verifier and checks
//! the stapled answer rustls hands it. `revoked` refuses the server; no staple (or `unknown`)
//! refuses it only with `boltgate.upstream.ocsp_required=true`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::{check, find_issuer, Checked, Status};

/// Wraps an upstream certificate verifier with a check of the stapled OCSP response.
#[derive(Debug)]
pub struct OcspCheckingVerifier {
    pub inner: Arc<dyn ServerCertVerifier>,
    pub provider: Arc<CryptoProvider>,
    /// Certificates that may have issued the server's (e.g. trusted_dir), besides those it sends.
    pub issuers: Vec<CertificateDer<'static>>,
    /// `boltgate.upstream.ocsp_required`.
    pub required: bool,
}

fn refuse(problem: String) -> rustls::Error {
    rustls::Error::General(problem)
}

impl ServerCertVerifier for OcspCheckingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let server = server_name.to_str();
        if ocsp_response.is_empty() {
            if self.required {
                tracing::info!(server = %server, "upstream refused: it stapled no OCSP response (boltgate.upstream.ocsp_required=true)");
                return Err(refuse(format!(
                    "{server} stapled no OCSP response and boltgate.upstream.ocsp_required=true"
                )));
            }
            tracing::debug!(server = %server, "upstream stapled no OCSP response");
            return Ok(verified);
        }
        let sent: Vec<CertificateDer<'static>> = intermediates
            .iter()
            .map(|c| c.clone().into_owned())
            .collect();
        let Some(issuer) = find_issuer(
            end_entity,
            sent.iter().chain(self.issuers.iter()),
            &self.provider,
        ) else {
            return Err(refuse(format!(
                "{server} stapled an OCSP response, but the issuer of its certificate is neither in its chain nor in trusted_dir, so the response cannot be checked"
            )));
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now.as_secs());
        match check(ocsp_response, end_entity, &issuer, &self.provider, now) {
            Ok(Checked {
                status: Status::Good,
                ..
            }) => {
                tracing::debug!(server = %server, "upstream's stapled OCSP response: good");
                Ok(verified)
            }
            Ok(Checked {
                status: Status::Revoked { at, reason },
                ..
            }) => {
                tracing::warn!(server = %server, revoked_at = %at,
                    reason = reason.as_deref().unwrap_or("unspecified"),
                    "upstream refused: its stapled OCSP response says its certificate is revoked");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked,
                ))
            }
            Ok(Checked {
                status: Status::Unknown,
                ..
            }) if !self.required => {
                tracing::debug!(server = %server, "upstream's stapled OCSP response: unknown; accepted (boltgate.upstream.ocsp_required=false)");
                Ok(verified)
            }
            Ok(_) => Err(refuse(format!(
                "{server}'s stapled OCSP response says `unknown` and boltgate.upstream.ocsp_required=true"
            ))),
            Err(e) => {
                tracing::warn!(server = %server, error = %e, "upstream refused: its stapled OCSP response does not check");
                Err(refuse(format!("{server}'s stapled OCSP response: {e}")))
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

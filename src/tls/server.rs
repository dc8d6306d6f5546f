//! The Bolt listener's TLS configuration, from `dbms.ssl.policy.bolt.*`.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::{pem, provider, trust, TlsError};
use crate::config::{ClientAuth, SslPolicyConfig};

/// The name of one setting of this policy, as an operator writes it in the config file.
pub(crate) fn setting(policy: &SslPolicyConfig, suffix: &str) -> String {
    format!("dbms.ssl.policy.{}.{}", policy.scope, suffix)
}

/// Builds the server side of a policy: its certificate chain and key, and whether (and whom)
/// it asks for client certificates (`client_auth`).
pub fn build(policy: &SslPolicyConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = pem::load_certificates(
        &setting(policy, "public_certificate"),
        &policy.public_certificate,
    )?;
    let key = pem::load_private_key(&setting(policy, "private_key"), &policy.private_key)?;

    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&protocol_versions(policy)?)
        .map_err(|source| TlsError::Rustls {
            context: setting(policy, "tls_versions"),
            source,
        })?;

    let builder = match policy.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Require => {
            let roots =
                trust::load_trusted_dir(&setting(policy, "trusted_dir"), &policy.trusted_dir)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = if policy.client_auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| TlsError::Setting {
                setting: setting(policy, "client_auth"),
                problem: format!("cannot build the client certificate verifier: {e}"),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            context: format!(
                "{} and {} do not form a usable pair ({} / {})",
                setting(policy, "public_certificate"),
                setting(policy, "private_key"),
                policy.public_certificate.display(),
                policy.private_key.display()
            ),
            source,
        })?;
    Ok(Arc::new(config))
}

/// `tls_versions` by the names the Neo4j manual uses.
pub(crate) fn protocol_versions(
    policy: &SslPolicyConfig,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
    let mut versions = Vec::new();
    for name in &policy.tls_versions {
        match name.as_str() {
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            other => {
                return Err(TlsError::Setting {
                    setting: setting(policy, "tls_versions"),
                    problem: format!("`{other}` is not supported; use TLSv1.2 and/or TLSv1.3"),
                })
            }
        }
    }
    if versions.is_empty() {
        return Err(TlsError::Setting {
            setting: setting(policy, "tls_versions"),
            problem: "no TLS version enabled; use TLSv1.2 and/or TLSv1.3".into(),
        });
    }
    Ok(versions)
}

//! [`TlsPolicy`]: one scope's cryptographic objects, read and checked once, from which the
//! server side ([`TlsPolicy::server_config`]) or the client side ([`TlsPolicy::client_config`])
//! is built. Scope-generic: bolt and https are served, cluster is dialled.

use std::fmt;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::SupportedProtocolVersion;

use super::pem::{self, KeyFormat};
use super::revocation::{self, Revoked};
use super::trust::{self, TrustedDir};
use super::{suites, TlsError};
use crate::config::{ClientAuth, Scope, SslPolicyConfig};

/// One `dbms.ssl.policy.<scope>`, loaded.
pub struct TlsPolicy {
    pub config: SslPolicyConfig,
    pub(crate) provider: Arc<CryptoProvider>,
    pub(crate) versions: Vec<&'static SupportedProtocolVersion>,
    /// `public_certificate`, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub key_format: KeyFormat,
    pub(crate) signing_key: Arc<dyn SigningKey>,
    /// Empty when `trust_all` (the directory is then only checked to exist).
    pub trusted: TrustedDir,
    pub revoked: Arc<Revoked>,
    warnings: Vec<String>,
}

impl fmt::Debug for TlsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPolicy")
            .field("scope", &self.config.scope)
            .field("chain", &self.chain.len())
            .field("key_format", &self.key_format)
            .finish_non_exhaustive()
    }
}

/// `dbms.ssl.policy.<scope>.<suffix>`.
pub(crate) fn setting(policy: &SslPolicyConfig, suffix: &str) -> String {
    format!("dbms.ssl.policy.{}.{}", policy.scope, suffix)
}

impl TlsPolicy {
    /// Reads and checks everything the policy names. Warnings (key permissions, PKCS#1,
    /// `trust_all`, usages) are logged at warn and kept for [`TlsPolicy::warnings`].
    pub fn load(policy: &SslPolicyConfig) -> Result<TlsPolicy, TlsError> {
        let s = |suffix: &str| setting(policy, suffix);
        let mut warnings = Vec::new();

        if !policy.base_directory.is_dir() {
            return Err(pem::file_error(
                &s("base_directory"),
                &policy.base_directory,
                "is not a directory; boltgate creates none of a policy's files or directories: \
                 create it with the key, the certificate, trusted/ and revoked/",
            ));
        }
        let revoked = revocation::load_revoked_dir(&s("revoked_dir"), &policy.revoked_dir)?;
        let chain = pem::load_chain(&s("public_certificate"), &policy.public_certificate)?;
        let (key, key_format) = pem::load_private_key(
            &s("private_key"),
            &s("private_key_password"),
            &policy.private_key,
            policy.private_key_password.as_ref(),
            &mut warnings,
        )?;
        let (provider, versions) = suites::select(
            &s("ciphers"),
            &s("tls_versions"),
            policy.ciphers.as_deref(),
            &policy.tls_versions,
            &mut warnings,
        )?;
        let signing_key = load_signing_key(policy, &provider, &key)?;
        check_key_matches(policy, &chain, &signing_key, &mut warnings)?;
        check_key_fits_ciphers(policy, &provider, &versions, signing_key.as_ref())?;
        let trusted = load_trusted(policy, &revoked, &mut warnings)?;
        own_certificate_warnings(policy, &revoked, &chain[0], &mut warnings);
        for w in &warnings {
            tracing::warn!(scope = %policy.scope, "{w}");
        }
        Ok(TlsPolicy {
            config: policy.clone(),
            provider,
            versions,
            chain,
            key,
            key_format,
            signing_key,
            trusted,
            revoked: Arc::new(revoked),
            warnings,
        })
    }

    pub fn scope(&self) -> Scope {
        self.config.scope
    }

    /// What was found worth a warning while loading.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The protocol versions in use, by Neo4j's names.
    pub fn version_names(&self) -> Vec<&'static str> {
        self.versions
            .iter()
            .map(|v| suites::version_name(v))
            .collect()
    }

    /// The cipher suites in use, by IANA names.
    pub fn cipher_names(&self) -> Vec<&'static str> {
        self.provider
            .cipher_suites
            .iter()
            .map(|s| suites::name(*s))
            .collect()
    }

    pub(crate) fn setting(&self, suffix: &str) -> String {
        setting(&self.config, suffix)
    }
}

/// The key must belong to the leaf. If it belongs to another certificate of the file, the
/// chain is out of order and the message says so.
fn check_key_matches(
    policy: &SslPolicyConfig,
    chain: &[CertificateDer<'static>],
    key: &Arc<dyn SigningKey>,
    warnings: &mut Vec<String>,
) -> Result<(), TlsError> {
    let matches = |cert: &CertificateDer<'static>| {
        CertifiedKey::new(vec![cert.clone()], key.clone()).keys_match()
    };
    match matches(&chain[0]) {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            warnings.push(format!(
                "{}: cannot tell whether the key matches the certificate",
                setting(policy, "private_key")
            ));
            Ok(())
        }
        Err(_) => {
            let other = chain.iter().skip(1).position(|c| matches(c).is_ok());
            let hint = match other {
                Some(i) => format!(
                    " It matches certificate {} of the file: the chain is out of order; put \
                     the leaf first",
                    i + 2
                ),
                None => " Use the key the certificate was issued for.".to_string(),
            };
            Err(TlsError::Setting {
                setting: setting(policy, "private_key"),
                problem: format!(
                    "the key {} does not match the certificate {} ({}).{hint}",
                    policy.private_key.display(),
                    policy.public_certificate.display(),
                    pem::subject(&chain[0])
                ),
            })
        }
    }
}

/// With TLS 1.2 enabled, one of its suites must suit the key (ECDHE_RSA for RSA, ECDHE_ECDSA for
/// ECDSA and Ed25519), or every TLS 1.2 handshake would fail.
fn check_key_fits_ciphers(
    policy: &SslPolicyConfig,
    provider: &CryptoProvider,
    versions: &[&'static SupportedProtocolVersion],
    key: &dyn SigningKey,
) -> Result<(), TlsError> {
    if policy.ciphers.is_none() || !versions.contains(&&rustls::version::TLS12) {
        return Ok(());
    }
    let alg = key.algorithm();
    let usable = provider
        .cipher_suites
        .iter()
        .any(|s| s.version() == &rustls::version::TLS12 && s.usable_for_signature_algorithm(alg));
    if usable {
        return Ok(());
    }
    Err(TlsError::Setting {
        setting: setting(policy, "ciphers"),
        problem: format!(
            "TLSv1.2 is enabled but none of its cipher suites can be used with this policy's \
             {alg:?} key; add a TLS_ECDHE_{}_WITH_… suite or remove TLSv1.2 from {}",
            if alg == rustls::SignatureAlgorithm::RSA {
                "RSA"
            } else {
                "ECDSA"
            },
            setting(policy, "tls_versions")
        ),
    })
}

/// The manual's tip: a cluster certificate is used as a server and as a client, so it needs
/// both extended key usages.
pub(crate) fn cluster_usage_warning(setting: &str, leaf: &CertificateDer<'_>) -> Option<String> {
    let cert = pem::parse(leaf)?;
    match cert.extended_key_usage() {
        Ok(Some(eku)) if eku.value.server_auth && eku.value.client_auth => None,
        Ok(Some(eku)) => Some(format!(
            "{setting}: the certificate ({}) has extended key usage {}{} but not {}: cluster \
             certificates are used both as server and as client (TLS Web Server \
             Authentication, TLS Web Client Authentication)",
            cert.subject(),
            if eku.value.server_auth {
                "serverAuth"
            } else {
                ""
            },
            if eku.value.client_auth {
                "clientAuth"
            } else {
                ""
            },
            match (eku.value.server_auth, eku.value.client_auth) {
                (false, false) => "serverAuth nor clientAuth",
                (true, _) => "clientAuth",
                (_, true) => "serverAuth",
            }
        )),
        _ => Some(format!(
            "{setting}: the certificate ({}) has no extended key usage; the manual asks cluster \
             certificates for both serverAuth and clientAuth (rustls accepts a certificate \
             without the extension for either use, some servers do not)",
            cert.subject()
        )),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;

/// The private key as the crypto provider signs with it; a key type rustls cannot sign with is
/// named with the types it can.
fn load_signing_key(
    policy: &SslPolicyConfig,
    provider: &CryptoProvider,
    key: &PrivateKeyDer<'static>,
) -> Result<Arc<dyn SigningKey>, TlsError> {
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            pem::file_error(
                &setting(policy, "private_key"),
                &policy.private_key,
                format!(
                    "not a key boltgate can use (RSA of 2048 bits or more, ECDSA P-256 or \
                     P-384, Ed25519): {e}"
                ),
            )
        })
}

/// `trusted_dir`, unless `trust_all` (then only checked to exist). An empty one is an error
/// where something must be verified (cluster: the upstream; `client_auth=REQUIRE`: clients).
fn load_trusted(
    policy: &SslPolicyConfig,
    revoked: &Revoked,
    warnings: &mut Vec<String>,
) -> Result<TrustedDir, TlsError> {
    let s = |suffix: &str| setting(policy, suffix);
    let trusted = if policy.trust_all {
        revocation::list_dir(&s("trusted_dir"), &policy.trusted_dir)?;
        warnings.push(format!(
            "{}=true: DANGER: every peer certificate is trusted and {} is ignored; this \
             offers no security and is for debugging only",
            s("trust_all"),
            s("trusted_dir")
        ));
        TrustedDir {
            store: Arc::new(rustls::RootCertStore::empty()),
            files: Vec::new(),
        }
    } else {
        trust::load_trusted_dir(&s("trusted_dir"), &policy.trusted_dir, revoked, warnings)?
    };
    if !policy.trust_all && trusted.store.is_empty() {
        match (policy.scope, policy.client_auth) {
            (Scope::Cluster, _) => {
                return Err(pem::file_error(
                    &s("trusted_dir"),
                    &policy.trusted_dir,
                    "holds no certificate, so no upstream server could be verified; put \
                     the CA certificate (or each server's certificate) there",
                ))
            }
            (_, ClientAuth::Require) => {
                return Err(pem::file_error(
                    &s("trusted_dir"),
                    &policy.trusted_dir,
                    format!(
                        "holds no certificate, but {}=REQUIRE needs one to verify clients; \
                         put the CA certificate of your clients there",
                        s("client_auth")
                    ),
                ))
            }
            (_, ClientAuth::Optional) => warnings.push(format!(
                "{} holds no certificate: client certificates cannot be verified, so none \
                 are asked for ({}=OPTIONAL acts as NONE)",
                s("trusted_dir"),
                s("client_auth")
            )),
            (_, ClientAuth::None) => {}
        }
    }
    Ok(trusted)
}

/// What peers will think of the policy's own certificate: revoked here, or (cluster) lacking
/// the usage a member needs.
fn own_certificate_warnings(
    policy: &SslPolicyConfig,
    revoked: &Revoked,
    leaf: &CertificateDer<'_>,
    warnings: &mut Vec<String>,
) {
    let s = |suffix: &str| setting(policy, suffix);
    if let Some(source) = revoked.certificate_source(leaf) {
        warnings.push(format!(
            "{}: this policy's own certificate is in revoked_dir ({}); peers that honour \
             it will refuse boltgate",
            s("public_certificate"),
            source.display()
        ));
    }
    if policy.scope == Scope::Cluster {
        if let Some(w) = cluster_usage_warning(&s("public_certificate"), leaf) {
            warnings.push(w);
        }
    }
}

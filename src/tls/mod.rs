//! TLS: turning one `dbms.ssl.policy.<scope>` into a rustls configuration.
//!
//! Reading files and building configs happens once, at start (and later at reload, which
//! [`crate::reload`] drives); connections only clone an `Arc`. Every error names the setting and the file so an operator can act on it.
//!
//! | module         | what it holds                                                          |
//! |----------------|------------------------------------------------------------------------|
//! | [`policy`]     | [`TlsPolicy`]: one scope loaded and checked, scope-generic             |
//! | [`pem`]        | certificate chains and private keys (PKCS#8, encrypted, PKCS#1, SEC1)  |
//! | [`trust`]      | `trusted_dir`; system roots for `bolt+s`; `trust_all` ([`trust::danger`]) |
//! | [`revocation`] | `revoked_dir`: CRLs and revoked certificates                           |
//! | [`suites`]     | `ciphers` and `tls_versions` by Neo4j's (IANA) names                   |
//! | [`server`]     | a policy as a server (`client_auth`)                                   |
//! | [`client`]     | a policy as a client (cluster: mutual TLS); `+s` / `+ssc` upstreams   |
//! | [`inspect`]    | `boltgate certs check`: what `openssl x509 -text` would show           |
//! | [`resolver`]   | the bolt certificate as a resolver whose OCSP staple can be replaced   |
//! | [`ocsp`]       | OCSP: fetch, check, cache and refresh the staple; check peers' staples |

pub mod client;
pub mod inspect;
pub mod ocsp;
pub mod pem;
pub mod policy;
pub mod resolver;
pub mod revocation;
pub mod server;
pub mod suites;
pub mod trust;

pub use policy::TlsPolicy;

/// The test PKI of tests/ssl_policy, shared with the unit tests here.
#[cfg(test)]
#[path = "../../tests/ssl_policy/pki.rs"]
pub(crate) mod test_pki;

use std::path::PathBuf;

use thiserror::Error;

/// Why a TLS policy could not be built. Each variant names the setting and, where there is one,
/// the file, because that is what an operator has to fix.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{setting}: cannot read {}: {source}", path.display())]
    Read {
        setting: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting}: {}: {problem}", path.display())]
    File {
        setting: String,
        path: PathBuf,
        problem: String,
    },
    #[error("{setting}: {problem}")]
    Setting { setting: String, problem: String },
    #[error("{context}: {source}")]
    Rustls {
        context: String,
        #[source]
        source: rustls::Error,
    },
}

/// The crypto provider every config in boltgate is built from. `ring` needs no C toolchain
/// beyond what a fresh machine has (aws-lc-rs wants cmake), so it is the one we ship.
pub fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

//! TLS: turning one `dbms.ssl.policy.<scope>` into a rustls configuration.
//!
//! Reading files and building configs happens once, at start (and later at reload); connections
//! only clone an `Arc`. Every error names the setting and the file so an operator can act on it.
//!
//! | module      | what it holds                                                           |
//! |-------------|-------------------------------------------------------------------------|
//! | [`pem`]     | certificate chains and private keys from PEM files                      |
//! | [`trust`]   | `trusted_dir` → root store; system roots for `bolt+s` upstreams         |
//! | [`server`]  | the listener's `ServerConfig` (`client_auth`, versions)                 |
//! | [`client`]  | the upstream `ClientConfig` (`+s` verified, `+ssc` any certificate)    |

pub mod client;
pub mod pem;
pub mod server;
pub mod trust;

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

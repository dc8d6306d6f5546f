//! # boltgate: a Bolt protocol proxy
//!
//! The binary's pieces as a library, so tests and embedders use the same code:
//! - [`cli`]: the command line (`boltgate`, `boltgate check-config`).
//! - [`config`]: neo4j.conf-style settings, validated into one immutable [`config::Config`].
//! - [`upstream`]: the server boltgate forwards to.
//!
//! The wire protocol itself lives in the `boltgate-proto` crate.

pub mod cli;
pub mod config;
pub mod upstream;

use thiserror::Error;

/// Why serving stopped with an error.
#[derive(Debug, Error)]
pub enum ServeError {
    /// Placeholder until the listener, TLS and session modules are merged.
    #[error("serving is not built yet: the listener arrives with the proxy modules")]
    NotBuiltYet,
}

/// Runs the proxy with a validated configuration until shutdown.
pub fn serve(config: config::Config) -> Result<(), ServeError> {
    let _ = config;
    Err(ServeError::NotBuiltYet)
}

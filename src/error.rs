//! Errors that stop boltgate from starting. Everything after start is a per-session matter
//! (see `session::SessionError`) and never takes the process down.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("server.bolt.listen_address: cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting}: cannot listen on {addr}: {source}")]
    AdminBind {
        setting: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

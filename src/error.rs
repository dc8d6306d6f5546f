//! Errors that stop boltgate from starting. Everything after start is a per-session matter
//! (see `session::SessionError`) and never takes the process down. [`chain`] prints any error
//! with its causes, for log lines.

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

/// An error and its causes on one line: `Display` prints one level by convention, but a log line
/// must carry the whole story (e.g. "client framing: I/O error: connection reset by peer").
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // thiserror's `transparent` and `{0}` variants already include their cause.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

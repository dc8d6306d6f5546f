//! Bolt handshake (stub; being written).
use thiserror::Error;
#[derive(Debug, Error)]
pub enum HandshakeError {
    #[error("bad preamble")]
    BadPreamble,
}

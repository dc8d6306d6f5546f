//! The crate-level error: each layer's error, wrapped, with a classification the proxy acts on.

use thiserror::Error;

/// Any error from this crate. Each layer keeps its own enum; this one only wraps them.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Handshake(#[from] crate::handshake::HandshakeError),
    #[error(transparent)]
    Chunk(#[from] crate::chunk::ChunkError),
    #[error(transparent)]
    PackStream(#[from] crate::packstream::DecodeError),
    #[error(transparent)]
    Message(#[from] crate::message::MessageError),
}

impl Error {
    /// Whether the connection can no longer be trusted to be in sync (broken framing or handshake):
    /// the proxy closes it. A bad message inside intact framing is answered with a FAILURE instead.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Error::Handshake(_) | Error::Chunk(_))
    }
}

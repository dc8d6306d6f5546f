//! Chunk framing (stub; being written).
use thiserror::Error;
#[derive(Debug, Error)]
pub enum ChunkError {
    #[error("too large")]
    TooLarge,
}

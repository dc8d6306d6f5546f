//! PackStream (stub; being written).
use thiserror::Error;
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("truncated")]
    Truncated,
}

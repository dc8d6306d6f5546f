//! Messages (stub; being written).
use thiserror::Error;
#[derive(Debug, Error)]
pub enum MessageError {
    #[error("bad")]
    Bad,
}

//! Why a unit of work found no member: typed, with the Neo4j status code a client is given for
//! it (from [`crate::status`]). Why a member connection ended is [`crate::session::core::MemberError`].

use thiserror::Error;

use crate::status::{DATABASE_UNAVAILABLE, NOT_A_LEADER};
use crate::upstream::registry::RoutingError;

/// No member could take a unit of work; nothing was forwarded, so the client gets a FAILURE.
#[derive(Debug, Error)]
pub enum PlacementError {
    #[error("boltgate: {0}")]
    Table(#[from] RoutingError),
    #[error("boltgate: no writer is available for database `{db}` (tried {tried:?})")]
    NoWriter { db: String, tried: Vec<String> },
    #[error("boltgate: no cluster member can serve reads for database `{db}` (tried {tried:?})")]
    NoReader { db: String, tried: Vec<String> },
}

impl PlacementError {
    /// NotALeader for writes, as a cluster without a leader answers: drivers refresh their
    /// routing table and retry.
    pub fn code(&self) -> &'static str {
        match self {
            PlacementError::Table(e) => e.code(),
            PlacementError::NoWriter { .. } => NOT_A_LEADER,
            PlacementError::NoReader { .. } => DATABASE_UNAVAILABLE,
        }
    }
}

//! Why a member connection of a routed session ended, and why a unit of work found no member:
//! typed, each with the Neo4j status code a client is given for it (from [`crate::status`]).

use boltgate_proto::chunk::ChunkError;
use thiserror::Error;

use crate::status::{DATABASE_UNAVAILABLE, NOT_A_LEADER};
use crate::upstream::registry::RoutingError;

/// A member connection that ended while the session still had it.
#[derive(Debug, Error)]
pub enum MemberError {
    #[error("closed the connection")]
    Closed,
    #[error("reading its answers failed: {0}")]
    Read(#[source] ChunkError),
    #[error("writing to it failed: {0}")]
    Write(#[source] std::io::Error),
}

impl MemberError {
    /// What a client is told for a request that never reached the member (the only time
    /// boltgate answers for a lost member: nothing ran, so a retry is safe).
    pub fn code(&self) -> &'static str {
        DATABASE_UNAVAILABLE
    }
}

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

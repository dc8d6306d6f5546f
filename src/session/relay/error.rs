//! Why a unit of work found no member: typed, with the Neo4j status code a client is given for
//! it (from [`crate::status`]). Why a member connection ended is [`crate::session::core::MemberError`].

use boltgate_proto::message::{RawMessage, Response};
use boltgate_proto::Version;
use thiserror::Error;

use crate::pool::PoolError;
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
    /// Transaction pooling: the member's pool had no place free in time.
    #[error("{0}")]
    Pool(#[from] PoolError),
    /// Transaction pooling: no connection to the member could be opened (alone, the upstream).
    #[error("boltgate could not open a server connection to {member}: {why}")]
    Unreachable { member: String, why: String },
    /// Transaction pooling: the member refused the session's credentials on a new connection;
    /// the client gets the member's own FAILURE.
    #[error("{member} refused the session's credentials on a new connection")]
    LoginRefused { member: String, failure: RawMessage },
}

impl PlacementError {
    /// NotALeader for writes, as a cluster without a leader answers: drivers refresh their
    /// routing table and retry.
    pub fn code(&self) -> &'static str {
        match self {
            PlacementError::Table(e) => e.code(),
            PlacementError::NoWriter { .. } => NOT_A_LEADER,
            PlacementError::NoReader { .. }
            | PlacementError::Pool(_)
            | PlacementError::Unreachable { .. }
            | PlacementError::LoginRefused { .. } => DATABASE_UNAVAILABLE,
        }
    }

    /// The FAILURE the client gets: the member's own for a refused login, else boltgate's.
    pub fn answer(&self, version: Version) -> RawMessage {
        match self {
            PlacementError::LoginRefused { failure, .. } => failure.clone(),
            other => Response::failure(version, other.code(), &other.to_string()),
        }
    }
}

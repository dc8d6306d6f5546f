//! The FAILUREs boltgate itself sends, with the Neo4j status codes drivers act on.
//!
//! The rule: boltgate answers with a FAILURE of its own only for a request it never forwarded
//! (an upstream it cannot reach at session start, a message it refuses to relay), with a code
//! whose retry meaning is true. Once a request has reached the server, only the server speaks:
//! when its connection is lost, the client's is closed without a word, as direct (see
//! README.md, "Upstream loss").

use boltgate_proto::chunk::Frame;
use boltgate_proto::message::Response;
use boltgate_proto::Version;

pub use crate::status::{DATABASE_UNAVAILABLE, REQUEST_INVALID};

/// What a client that has not logged in yet learns when the upstream cannot be reached: nothing
/// about the upstream (its address, its TLS errors) — an anonymous client may be probing. The
/// reason is in boltgate's log.
pub const UPSTREAM_UNREACHABLE: &str =
    "boltgate cannot reach the database server; the reason is in boltgate's log";

/// Logged for a client whose request was still running when the grace period of a graceful
/// shutdown ended (plain and routed relay alike); the client is closed without a FAILURE.
pub const SHUTDOWN_GRACE_ENDED: &str =
    "boltgate is shutting down; the grace period ended before this request finished";

pub fn failure(version: Version, code: &str, message: &str) -> Frame {
    Frame::Message(Response::failure(version, code, message).into_bytes())
}

//! How a session ended badly, and whether that is worth more than a debug line.

use std::sync::Arc;
use std::time::Duration;

use boltgate_proto::chunk::ChunkError;
use boltgate_proto::handshake::HandshakeError;
use thiserror::Error;

use super::core::{HeldTooMuch, MemberError};
use crate::upstream::connect::UpstreamError;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("client handshake: {0}")]
    ClientHandshake(#[source] HandshakeError),
    #[error("client sent nothing usable within {0:?} (boltgate.client.handshake_timeout)")]
    HandshakeTimeout(Duration),
    #[error("client proposed no Bolt version boltgate speaks ({proposed})")]
    NoCommonVersion { proposed: String },
    #[error("client framing: {0}")]
    ClientFraming(#[source] ChunkError),
    #[error("client sent an invalid message: {0}")]
    ClientMessage(String),
    #[error(transparent)]
    HeldTooMuch(#[from] HeldTooMuch),
    #[error("upstream framing: {0}")]
    UpstreamFraming(#[source] ChunkError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("upstream closed the connection with {outstanding} request(s) unanswered")]
    UpstreamClosed { outstanding: usize },
    #[error("client i/o: {0}")]
    ClientIo(#[source] std::io::Error),
    #[error("upstream i/o: {0}")]
    UpstreamIo(#[source] std::io::Error),
    #[error("TLS handshake with the client failed: {0}")]
    ClientTls(#[source] std::io::Error),
    /// An upstream connection (a cluster member's, or the one upstream's) was lost with the
    /// client's work on it.
    #[error("boltgate lost {upstream}: {cause}")]
    UpstreamLost {
        /// Which: "cluster member host:port" or "upstream host:port".
        upstream: String,
        #[source]
        cause: Arc<MemberError>,
    },
    /// A routed session could reach no member to agree a Bolt version with.
    #[error("no cluster member reachable: {0}")]
    NoMemberReachable(#[source] NoMember),
    /// Transaction pooling: no place in the pool came free for the session's handshake.
    #[error("{0}")]
    Pool(#[source] crate::pool::PoolError),
}

/// Why a routed session found no member at its start.
#[derive(Debug, Error)]
pub enum NoMember {
    #[error("no cluster member is configured (boltgate.routing.members)")]
    NoneConfigured,
    #[error(transparent)]
    Unreachable(#[from] UpstreamError),
}

impl SessionError {
    /// The upstream connection broke (closed, reset, unreadable): the client is then closed too,
    /// without a FAILURE of boltgate's own.
    pub fn is_upstream_loss(&self) -> bool {
        matches!(
            self,
            SessionError::UpstreamClosed { .. }
                | SessionError::UpstreamIo(_)
                | SessionError::UpstreamFraming(_)
                | SessionError::UpstreamLost { .. }
        )
    }

    /// A client that just went away (reset, broken pipe, EOF) is normal life for a proxy: it is
    /// logged at debug, not as an error an operator must act on.
    pub fn is_disconnect(&self) -> bool {
        use std::io::ErrorKind::*;
        matches!(
            self.client_io_kind(),
            Some(ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof)
        )
    }

    /// The client ended its connection with a reset (rather than a FIN or a GOODBYE).
    pub fn is_client_reset(&self) -> bool {
        self.client_io_kind() == Some(std::io::ErrorKind::ConnectionReset)
    }

    /// The kind of the I/O error reading or writing the client failed with, if that ended it.
    fn client_io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            SessionError::ClientIo(e) | SessionError::ClientFraming(ChunkError::Io(e)) => {
                Some(e.kind())
            }
            _ => None,
        }
    }
}

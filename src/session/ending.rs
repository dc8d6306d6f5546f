//! How a relayed session's client connection ends, the same in the plain and the routed relay:
//! boltgate's last word (only for a message it refused to forward, see [`super::failure`]), one
//! log line for requests left without an answer, and a close that a client which stopped
//! reading cannot hold open.

use std::future::Future;
use std::time::Duration;

use boltgate_proto::chunk::{ChunkError, Frame};
use boltgate_proto::Version;
use tokio::io::AsyncWrite;

use super::failure::{failure, REQUEST_INVALID, SHUTDOWN_GRACE_ENDED};
use super::wire::WireWriter;
use super::{End, SessionError};

/// How long the close may take, last word included.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// How long an upstream connection that heard GOODBYE is given to close first (Neo4j closes at
/// once) before boltgate closes it itself.
pub const GOODBYE_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The FAILURE the client gets as the session ends, if any: only for a message boltgate refused
/// to forward (too large, not a message, past what it holds while the server is silent). A client that closed mid-message, an upstream that
/// was lost, a shutdown: nothing, as the server itself would have said nothing.
pub fn last_word(version: Version, result: &Result<End, SessionError>) -> Option<Frame> {
    match result {
        Err(e @ SessionError::ClientFraming(ChunkError::MessageTooLarge { .. }))
        | Err(e @ SessionError::ClientMessage(_))
        | Err(e @ SessionError::HeldTooMuch(_)) => {
            Some(failure(version, REQUEST_INVALID, &format!("boltgate: {e}")))
        }
        _ => None,
    }
}

/// Says why requests still in flight (`outstanding`) get no answer: the grace period of a
/// shutdown ended, or the upstream was lost (the client is closed as the server's close would
/// have closed it).
pub fn log_unanswered(result: &Result<End, SessionError>, outstanding: usize) {
    if outstanding == 0 {
        return;
    }
    match result {
        Ok(End::Shutdown) => tracing::info!(
            outstanding,
            "{SHUTDOWN_GRACE_ENDED}; closing the client without an answer"
        ),
        Err(e) if e.is_upstream_loss() => tracing::info!(
            outstanding,
            error = %e,
            "upstream lost with requests in flight; closing the client as the server did"
        ),
        _ => {}
    }
}

/// Writes what is queued for the client and `last`, shuts its write side down (not after the
/// client's reset: nothing can reach it), and runs `also` (the upstream side's own close), all
/// within [`CLOSE_WITHIN`].
pub async fn close<W, F>(
    client: &mut WireWriter<W>,
    last: Option<Frame>,
    client_reset: bool,
    also: F,
) where
    W: AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let close = async {
        if !client_reset {
            if let Some(frame) = last {
                client.push_frame(frame);
            }
            let _ = client.flush().await;
            let _ = client.shutdown().await;
        }
        also.await;
    };
    let _ = tokio::time::timeout(CLOSE_WITHIN, close).await;
}

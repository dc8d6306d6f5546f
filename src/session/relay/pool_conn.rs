//! The Pool policy's connection chores, as I/O: logging a new connection in ([`exchange`]),
//! checking a pooled one before use ([`still_open`], [`answers_reset`]), and closing one so
//! that the server has seen it go before its place in the pool is given again ([`CLOSE_WAIT`]).

use std::task::Poll;

use boltgate_proto::chunk::{encode_message, ChunkCodec, Frame};
use boltgate_proto::message::{sig, RawMessage};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::Decoder;

use super::backend::{Backend, Event};
use crate::net::Stream;
use crate::session::core::Expect;

/// How long a connection boltgate closes may take to be closed by the server too (its place
/// in the pool is held meanwhile, so the server never sees more than `max_size`).
pub const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl crate::pool::Closing for Box<Backend> {
    fn close(mut self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.close_and_wait(CLOSE_WAIT).await })
    }
}

/// Closes a connection that only asked the server something (a probe, a refused login): shut
/// down, then wait up to [`CLOSE_WAIT`] for the server's own close, its TCP FIN under TLS too
/// (see [`CLOSE_WAIT`]).
pub async fn close_probe(mut stream: Stream) {
    let wait = async {
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        std::future::poll_fn(|cx| stream.poll_transport_eof(cx)).await;
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, wait).await;
}

/// An idle connection of another identity that had to make room: closed before the new one is
/// dialled, so the server never sees both.
pub(super) async fn close_evicted(evicted: Option<Box<Backend>>) {
    if let Some(mut b) = evicted {
        b.close_and_wait(CLOSE_WAIT).await;
    }
}

/// Sends RESET and waits (up to `within`) for its SUCCESS: the check of a connection idle long.
pub(super) async fn answers_reset(
    b: &mut Backend,
    version: Version,
    within: std::time::Duration,
) -> bool {
    b.send(
        Bytes::from_static(&[0xB0, sig::RESET]),
        Expect::Swallow("RESET"),
    );
    let exchange = async {
        loop {
            let event = std::future::poll_fn(|cx| match b.poll_write(cx) {
                Poll::Ready(e) => Poll::Ready(e),
                Poll::Pending => b.poll_read(cx),
            })
            .await;
            match event {
                Event::Closed(_) => return false,
                Event::Room => {}
                Event::Run(run) => {
                    b.owed.arrived(run);
                    // Consumes the RESET's answer; a FAILURE marks the connection dead.
                    let _ = b.owed.next_for_client(version);
                    if !b.owed.is_owed() {
                        return b.is_alive();
                    }
                }
            }
        }
    };
    tokio::time::timeout(within, exchange)
        .await
        .unwrap_or(false)
}

/// Whether a pooled connection is still open: its socket has no end (or stray bytes) waiting.
pub(super) fn still_open(b: &mut Backend) -> bool {
    if !b.is_alive() {
        return false;
    }
    let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
    b.poll_read(&mut cx).is_pending()
}

/// Sends `requests` and reads one summary for each (RECORDs skipped), on a connection not yet
/// handed to a [`Backend`]. Bytes read past the last answer stay in `rest`.
pub(super) async fn exchange(
    stream: &mut Stream,
    rest: &mut BytesMut,
    requests: &[Bytes],
    max_message_size: usize,
) -> Result<Vec<RawMessage>, std::io::Error> {
    let mut out = BytesMut::new();
    for r in requests {
        encode_message(r, &mut out).map_err(std::io::Error::other)?;
    }
    stream.write_all(&out).await?;
    stream.flush().await?;
    let mut codec = ChunkCodec::new(max_message_size);
    let mut answers = Vec::new();
    while answers.len() < requests.len() {
        match codec.decode(rest).map_err(std::io::Error::other)? {
            Some(Frame::Message(m)) => {
                let raw = RawMessage::new(m).map_err(|e| std::io::Error::other(e.to_string()))?;
                if raw.signature() != sig::RECORD {
                    answers.push(raw);
                }
            }
            Some(Frame::Noop) => {}
            None => {
                if stream.read_buf(rest).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
    }
    Ok(answers)
}

//! Buffers that are large while data flows and given back when a connection goes quiet.
//!
//! Why: a relay reads the upstream side into a 64 KiB buffer and lets a client's write buffer
//! grow to 64 KiB, so a result streams in few, full writes. Kept for the life of a session,
//! that is over 128 KiB resident for every connection that ever streamed a large result, while
//! most of a driver's pooled connections sit idle. So a read that has waited [`RELEASE_AFTER`]
//! releases its read buffer (and, through its caller, the write buffer its data goes to) when
//! they hold no data, and the read buffer gets its full size back as soon as data returns.
//! The cost is one small extra read after each idle period; nothing changes while data flows.

use std::future::Future;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio_util::codec::{Decoder, FramedRead, FramedWrite};

/// How long a read waits for data before its buffers count as idle. Long against the gaps
/// inside a stream (a full socket buffer drains in microseconds), short against a pooled
/// connection's idle time.
pub const RELEASE_AFTER: Duration = Duration::from_millis(500);

/// Read buffer for a client connection: tokio-util's default.
pub const CLIENT_READ_CAPACITY: usize = 8 * 1024;

/// The next item from `rx`. When none has arrived after [`RELEASE_AFTER`], `rx`'s read buffer is
/// released if empty and `on_idle` runs (once); the wait then goes on, and the read buffer gets
/// `capacity` again when data arrives.
pub async fn next<R, C>(
    rx: &mut FramedRead<R, C>,
    capacity: usize,
    on_idle: impl FnOnce(),
) -> Option<Result<C::Item, C::Error>>
where
    R: AsyncRead + Unpin,
    C: Decoder,
{
    let quick = tokio::select! {
        biased;
        next = rx.next() => Some(next),
        _ = tokio::time::sleep(RELEASE_AFTER) => None,
    };
    if let Some(next) = quick {
        return next;
    }
    let released = release(rx.read_buffer_mut());
    on_idle();
    let next = rx.next().await;
    if released {
        restore(rx.read_buffer_mut(), capacity);
    }
    next
}

/// Awaits `fut`; if it has not finished after [`RELEASE_AFTER`], runs `on_idle` once and goes
/// on waiting. For a writer task waiting for work (`on_idle` then calls [`release_write`]).
pub async fn or_idle<F: Future>(fut: F, on_idle: impl FnOnce()) -> F::Output {
    tokio::pin!(fut);
    tokio::select! {
        biased;
        out = &mut fut => return out,
        _ = tokio::time::sleep(RELEASE_AFTER) => on_idle(),
    }
    fut.await
}

/// Releases `tx`'s write buffer when it holds nothing (after a flush).
pub fn release_write<W, E>(tx: &mut FramedWrite<W, E>) {
    release(tx.write_buffer_mut());
}

/// Replaces an empty buffer that holds an allocation by one that holds none.
fn release(buf: &mut BytesMut) -> bool {
    if buf.is_empty() {
        *buf = BytesMut::new();
        return true;
    }
    false
}

/// Gives a released read buffer its working size again, keeping what it holds. A fresh
/// allocation rather than `reserve`: `BytesMut` sizes later allocations by the capacity it was
/// created with, and a released buffer was created with none.
fn restore(buf: &mut BytesMut, capacity: usize) {
    if buf.capacity() >= capacity {
        return;
    }
    let mut fresh = BytesMut::with_capacity(capacity.max(buf.len()));
    fresh.extend_from_slice(buf);
    *buf = fresh;
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::chunk::{ChunkCodec, Frame};
    use futures_util::SinkExt;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn an_idle_read_releases_its_buffer_and_gets_it_back_with_data() {
        let (client, mut server) = tokio::io::duplex(256 * 1024);
        let mut rx = FramedRead::with_capacity(client, ChunkCodec::default(), 64 * 1024);
        let big = vec![0xB0u8; 40_000];
        let mut out = BytesMut::new();
        boltgate_proto::chunk::encode_message(&big, &mut out).unwrap();
        server.write_all(&out).await.unwrap();
        let mut released = false;
        let got = next(&mut rx, 64 * 1024, || released = true).await;
        assert!(matches!(got, Some(Ok(Frame::Message(m))) if m.len() == 40_000));
        assert!(!released, "data was there: nothing is released");

        // Nothing more arrives: after RELEASE_AFTER the buffer goes, and comes back with data.
        let (tx, rx_done) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(async move {
            let mut idle = false;
            let got = next(&mut rx, 64 * 1024, || idle = true).await;
            let _ = tx.send(());
            (got, idle, rx)
        });
        tokio::time::sleep(RELEASE_AFTER * 2).await;
        server.write_all(&[0, 1, 0xB0, 0, 0]).await.unwrap();
        rx_done.await.unwrap();
        let (got, idle, rx) = reader.await.unwrap();
        assert!(idle);
        assert!(matches!(got, Some(Ok(Frame::Message(m))) if m.as_ref() == [0xB0]));
        assert!(rx.read_buffer().capacity() >= 32 * 1024, "full size again");
    }

    #[tokio::test]
    async fn an_empty_write_buffer_is_released_and_grows_again() {
        let (client, _server) = tokio::io::duplex(256 * 1024);
        let mut tx = FramedWrite::new(client, ChunkCodec::default());
        tx.feed(Frame::Message(vec![0xB0; 30_000].into()))
            .await
            .unwrap();
        assert!(tx.write_buffer().len() >= 30_000);
        release_write(&mut tx);
        assert!(tx.write_buffer().len() >= 30_000, "data is never dropped");
        SinkExt::<Frame>::flush(&mut tx).await.unwrap();
        release_write(&mut tx);
        assert_eq!(tx.write_buffer().capacity(), 0);
        tx.send(Frame::Message(vec![0xB0; 100].into()))
            .await
            .unwrap();
    }
}

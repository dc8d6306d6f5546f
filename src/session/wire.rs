//! The forwarding path: whole messages read as runs of wire bytes and written as they arrived.
//!
//! [`WireReader`] reads into one buffer and finds the whole messages at its front with
//! [`Scanner`] (chunk headers and signatures, in place); the caller gets them as one [`Run`]
//! (split off the buffer: no copy) with the marks of its summaries, decodes only those, and
//! hands the run to [`WireWriter`], which writes what is queued with vectored writes. A RECORD
//! stream thus costs a header hop per message and one write per read, instead of a de-chunk copy,
//! a re-chunk copy and a trip through the codec and sink per message.
//!
//! Buffers follow [`super::buffers`]: the read buffer is large while data flows and given back
//! after a quiet period (one small read brings it back); the writer keeps no buffer between
//! flushes.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use boltgate_proto::chunk::{ChunkCodec, ChunkError, Frame};
use boltgate_proto::scan::{Run, Scanner};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Encoder;
use tokio_util::io::poll_read_buf;

use super::buffers::Idle;

/// The first read of a connection, and the first after its buffer was released: small, so a
/// connection that only logs in, or an idle one woken by a NOOP or a short answer, never holds a
/// full buffer. Each read that fills the buffer quadruples the next one, up to the working size:
/// a result stream reaches it within four reads.
const WAKE_READ: usize = 256;

/// Slices per vectored write (Linux takes up to 1024; a write of this many runs is already large).
const MAX_SLICES: usize = 64;

pub struct WireReader<R> {
    io: R,
    buf: BytesMut,
    scanner: Scanner,
    capacity: usize,
    /// The size of the next read (see [`WAKE_READ`]).
    want: usize,
    idle: Idle,
    eof: bool,
}

impl<R: AsyncRead + Unpin> WireReader<R> {
    /// The stream read from (for what only it can do, e.g. wait for a TLS connection's TCP end).
    pub fn io_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Reads `io`, starting with `rest` (bytes already read past a handshake); `capacity` is the
    /// read buffer's working size, `max_message_size` the largest message accepted.
    pub fn new(io: R, rest: BytesMut, max_message_size: usize, capacity: usize) -> Self {
        WireReader {
            io,
            buf: rest,
            scanner: Scanner::new(max_message_size),
            capacity,
            want: WAKE_READ.min(capacity),
            idle: Idle::new(),
            eof: false,
        }
    }

    /// The next run of whole frames (messages and NOOPs, as they arrived, with the marks of
    /// its summaries), or None once the peer has closed cleanly between messages. The read
    /// buffer is released after a quiet period.
    pub async fn next_run(&mut self) -> Result<Option<Run>, ChunkError> {
        std::future::poll_fn(|cx| self.poll_next_run(cx)).await
    }

    /// [`Self::next_run`] as a poll, so one task can read many peers (a routed session's
    /// members) without a future per peer.
    pub fn poll_next_run(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Run>, ChunkError>> {
        loop {
            if !self.buf.is_empty() {
                let n = self.scanner.scan(&self.buf)?;
                if n > 0 {
                    let wire = self.buf.split_to(n).freeze();
                    return Poll::Ready(Ok(Some(self.scanner.run(wire))));
                }
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Poll::Ready(Ok(None));
                }
                return Poll::Ready(Err(self.scanner.truncated(&self.buf)));
            }
            self.make_room();
            let room = self.buf.capacity() - self.buf.len();
            match poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(n)) => {
                    self.idle.data();
                    if n == room {
                        self.want = (self.want * 4).min(self.capacity);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {
                    if !self.idle.armed() || self.idle.poll_tick(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if self.idle.fired() && self.buf.is_empty() {
                        self.buf = BytesMut::new();
                        self.scanner.release();
                        self.want = WAKE_READ.min(self.capacity);
                    }
                }
            }
        }
    }

    /// Room for the next read: [`Self::want`] (or what the frame at the front still needs).
    /// Reclaims the space of runs already written when the buffer is no longer shared with
    /// them, so a steady stream reuses one allocation.
    fn make_room(&mut self) {
        let want = self.want.max(self.scanner.wanted(&self.buf));
        if self.buf.capacity() < want || self.buf.capacity() == self.buf.len() {
            self.buf.reserve(want.saturating_sub(self.buf.len()).max(1));
        }
    }
}

/// A writer's staging buffer: its first size, enough for a few requests, so a session's steady
/// traffic is chunked into one reused allocation. A frame larger than this is copied into an
/// allocation of its own, given back once written.
const STAGED_SIZE: usize = 256;

/// Frames queued for a peer, written with vectored writes on [`WireWriter::flush`].
pub struct WireWriter<W> {
    io: W,
    queue: VecDeque<Bytes>,
    /// Bytes in `queue` and `staged`.
    queued: usize,
    /// Frames boltgate chunks itself ([`WireWriter::push_frame`]), back to back until the next
    /// forwarded run or flush. One buffer reused once its written part is dropped, where a
    /// buffer per frame cost an allocation and an I/O slice per request.
    staged: BytesMut,
    /// `staged` holds a frame larger than [`STAGED_SIZE`]: let it go after the next flush.
    staged_large: bool,
    /// Bytes went to the stream since its own flush last completed. A TLS or WebSocket stream
    /// takes bytes into a buffer of its own and writes them to the socket as it has room: until
    /// its flush is Ready they may still be there, though nothing is queued here.
    unflushed: bool,
}

impl<W: AsyncWrite + Unpin> WireWriter<W> {
    pub fn new(io: W) -> Self {
        WireWriter {
            io,
            queue: VecDeque::new(),
            queued: 0,
            staged: BytesMut::new(),
            staged_large: false,
            unflushed: false,
        }
    }

    /// Queues wire bytes (whole frames, as a [`WireReader`] run holds them).
    pub fn push(&mut self, wire: Bytes) {
        if !wire.is_empty() {
            self.seal();
            self.queued += wire.len();
            self.queue.push_back(wire);
        }
    }

    /// Queues one frame boltgate made itself, chunked here (by the codec's own encoder).
    pub fn push_frame(&mut self, frame: Frame) {
        if self.staged.capacity() == 0 {
            self.staged.reserve(STAGED_SIZE);
        }
        let before = self.staged.len();
        // Only an empty message fails to encode, before writing anything; boltgate never makes one.
        if ChunkCodec::default()
            .encode(frame, &mut self.staged)
            .is_ok()
        {
            let len = self.staged.len() - before;
            self.queued += len;
            self.staged_large |= len > STAGED_SIZE;
        }
    }

    /// Moves the staged frames to the queue, behind what is there (order is the peer's order).
    fn seal(&mut self) {
        if !self.staged.is_empty() {
            self.queue.push_back(self.staged.split().freeze());
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Nothing queued, and the stream's own buffer flushed: no flush is needed.
    pub fn is_flushed(&self) -> bool {
        self.queued == 0 && !self.unflushed
    }

    /// Writes everything queued, then flushes the stream.
    pub async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// [`Self::flush`] as a poll (see [`WireReader::poll_next_run`]). Bytes written are taken
    /// off the queue in the same poll, so dropping a flush half-way loses nothing.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.seal();
        while !self.queue.is_empty() {
            let n = if self.queue.len() == 1 || !self.io.is_write_vectored() {
                let front = self.queue.front().expect("not empty");
                ready!(Pin::new(&mut self.io).poll_write(cx, front))?
            } else {
                // On the stack: a flush happens for every answer a client waits for.
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut n = 0;
                for (slot, b) in slices.iter_mut().zip(&self.queue) {
                    *slot = IoSlice::new(b);
                    n += 1;
                }
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..n]))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(n);
            if !self.unflushed {
                // An answer or the next request may follow soon (once per flush).
                crate::busy_poll::wrote();
            }
            self.unflushed = true;
        }
        if self.staged_large {
            self.staged = BytesMut::new();
            self.staged_large = false;
        }
        if self.unflushed {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let front = self.queue.front_mut().expect("written bytes were queued");
            if n >= front.len() {
                n -= front.len();
                self.queue.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// The stream written to (for what only it can do, e.g. end its connection with a reset).
    pub fn io_mut(&mut self) -> &mut W {
        &mut self.io
    }

    /// Shuts the write side down (after [`Self::flush`]).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::chunk::encode_message;
    use boltgate_proto::message::sig;
    use bytes::BufMut;
    use tokio::io::AsyncReadExt;

    fn record(i: u8) -> Vec<u8> {
        vec![0xB1, sig::RECORD, 0x91, i]
    }

    #[tokio::test]
    async fn runs_arrive_whole_and_are_forwarded_byte_for_byte() {
        let (mut server, proxy_side) = tokio::io::duplex(1 << 16);
        let (proxy_out, mut client) = tokio::io::duplex(1 << 16);
        let mut wire = BytesMut::new();
        for i in 0..100 {
            encode_message(&record(i), &mut wire).unwrap();
        }
        wire.put_u16(0); // a NOOP between messages
        encode_message(&[0xB1, sig::SUCCESS, 0xA0], &mut wire).unwrap();
        let sent = wire.clone().freeze();
        // Sent in awkward pieces: runs may end anywhere between messages, never inside one.
        let writer = tokio::spawn(async move {
            for piece in sent.chunks(7) {
                server.write_all(piece).await.unwrap();
            }
            server
        });
        let mut r = WireReader::new(proxy_side, BytesMut::new(), 1 << 20, 64);
        let mut w = WireWriter::new(proxy_out);
        // The NOOP is no message: it is only in the bytes forwarded (checked at the end).
        let (mut records, mut summaries) = (0, 0);
        while records + summaries < 101 {
            let run = r.next_run().await.unwrap().expect("a run");
            records += run.messages - run.marks.len() as u64;
            for mark in &run.marks {
                assert_eq!(mark.span.signature, sig::SUCCESS);
                assert_eq!(
                    mark.span.payload(&run.wire).as_ref(),
                    &[0xB1, sig::SUCCESS, 0xA0]
                );
                assert_eq!(
                    mark.messages_before,
                    run.messages - 1,
                    "the summary came last"
                );
                summaries += 1;
            }
            w.push(run.wire);
            w.flush().await.unwrap();
        }
        assert_eq!((records, summaries), (100, 1));
        drop(writer.await.unwrap());
        assert!(r.next_run().await.unwrap().is_none(), "clean close");
        drop(w);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(
            got,
            wire.to_vec(),
            "the client got exactly the server's bytes"
        );
    }

    #[tokio::test]
    async fn a_close_inside_a_message_is_an_error_not_an_end() {
        let (mut server, proxy_side) = tokio::io::duplex(1024);
        server.write_all(&[0, 4, 0xB1, sig::RECORD]).await.unwrap();
        drop(server);
        let mut r = WireReader::new(proxy_side, BytesMut::new(), 1 << 20, 1024);
        assert!(matches!(
            r.next_run().await,
            Err(ChunkError::Truncated { .. })
        ));
    }

    #[tokio::test]
    async fn the_writer_writes_many_runs_in_order() {
        let (out, mut client) = tokio::io::duplex(1 << 20);
        let mut w = WireWriter::new(out);
        let mut want = Vec::new();
        for i in 0..300u16 {
            let b = Bytes::from(i.to_be_bytes().to_vec());
            want.extend_from_slice(&b);
            w.push(b);
        }
        w.push_frame(Frame::Noop);
        want.extend_from_slice(&[0, 0]);
        assert_eq!(w.queued(), want.len());
        w.flush().await.unwrap();
        assert_eq!(w.queued(), 0);
        drop(w);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, want);
    }

    /// Frames boltgate chunks itself and forwarded runs reach the peer in the order they were
    /// queued, whatever the staging does; a large frame's staging copy is given back.
    #[tokio::test]
    async fn staged_frames_and_forwarded_runs_keep_their_order() {
        let (out, mut client) = tokio::io::duplex(1 << 20);
        let mut w = WireWriter::new(out);
        let mut want = Vec::new();
        let mut flushed = 0;
        let chunked = |body: &[u8]| {
            let mut b = BytesMut::new();
            encode_message(body, &mut b).unwrap();
            b.to_vec()
        };
        for round in 0..40u8 {
            let a = record(round);
            w.push_frame(Frame::Message(Bytes::from(a.clone())));
            want.extend(chunked(&a));
            let run = Bytes::from(chunked(&record(round ^ 0xFF)));
            want.extend_from_slice(&run);
            w.push(run);
            let b = record(round.wrapping_add(100));
            w.push_frame(Frame::Message(Bytes::from(b.clone())));
            want.extend(chunked(&b));
            if round % 3 == 0 {
                w.flush().await.unwrap();
                flushed = want.len();
            }
        }
        let large = vec![0xB1, sig::RECORD, 0xD0, 0xFF]
            .into_iter()
            .chain(std::iter::repeat_n(b'x', 255))
            .collect::<Vec<u8>>();
        w.push_frame(Frame::Message(Bytes::from(large.clone())));
        want.extend(chunked(&large));
        assert!(w.staged_large);
        assert_eq!(w.queued(), want.len() - flushed);
        w.flush().await.unwrap();
        assert!(
            !w.staged_large && w.staged.capacity() == 0,
            "the large copy is given back"
        );
        drop(w);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, want);
    }
}

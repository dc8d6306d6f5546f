//! A [`Stream`]'s read and write halves for a session that reads and writes it independently.
//!
//! A plaintext TCP connection splits into owned halves (tokio's `into_split`: no lock, each
//! half polls the socket directly). TLS and WebSocket keep one state machine for both
//! directions, so their halves share the stream behind a lock ([`Shared`]; so does the
//! in-memory pipe). The lock is ours rather than `tokio::io::split`'s so that the read half can
//! still reach the TCP socket under TLS ([`ReadHalf::poll_transport_eof`]).
//!
//! One difference to know: dropping an owned write half shuts the connection's write side down
//! (a FIN), where a shared half does nothing until both are dropped. The session shuts its
//! peers down at its end anyway, so either way the peer sees the same close.
//!
//! [`WriteHalf::reset`] ends a TCP connection with a reset instead (`SO_LINGER` 0, and no
//! FIN first): a session whose client reset its connection passes that on to an idle upstream
//! connection, as a blind relay does, so neither side keeps the connection in TIME_WAIT.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::Stream;

pub enum ReadHalf {
    Owned(OwnedReadHalf),
    Shared(Shared),
}

pub enum WriteHalf {
    Owned(OwnedWriteHalf),
    Shared(Shared),
    /// After [`WriteHalf::reset`]: the connection goes with a reset when the read half goes.
    Reset,
}

/// One half of a stream both halves use in turn. Each poll holds the lock only for that call,
/// as `tokio::io::split` does; the halves of one session are polled by one task, so the lock is
/// never contended.
pub struct Shared(Arc<Mutex<Stream>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Stream> {
        // A panic inside a poll leaves the stream as the I/O left it: carry on with it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Stream {
    /// The stream's halves, owned where the stream type allows it (see the module docs).
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Plain(tcp) => {
                let (r, w) = tcp.into_split();
                (ReadHalf::Owned(r), WriteHalf::Owned(w))
            }
            other => {
                let shared = Arc::new(Mutex::new(other));
                (
                    ReadHalf::Shared(Shared(shared.clone())),
                    WriteHalf::Shared(Shared(shared)),
                )
            }
        }
    }

    /// `SO_LINGER` 0 on boltgate's own TCP connection under the stream (plaintext, or TLS to
    /// an upstream), so that closing it sends a reset; false for any other stream.
    fn set_zero_linger(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.set_zero_linger().is_ok(),
            Stream::ClientTls(tls) => tls.get_ref().0.set_zero_linger().is_ok(),
            _ => false,
        }
    }

    /// Ready once the transport under the stream has ended too. A TLS stream ends for its
    /// reader at the peer's `close_notify`, and the peer closes its TCP connection just after:
    /// until that FIN arrives the peer still holds the connection, which matters to whoever
    /// counts the peer's connections (a pool's `max_size`). Bytes after `close_notify` are
    /// dropped. Plain TCP has already ended when its reader saw the end.
    pub fn poll_transport_eof(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let tcp = match self {
            Stream::ClientTls(tls) => tls.get_mut().0,
            _ => return Poll::Ready(()),
        };
        let mut sink = [0u8; 256];
        loop {
            let mut buf = ReadBuf::new(&mut sink);
            match Pin::new(&mut *tcp).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl WriteHalf {
    /// Arranges for the connection to end with a TCP reset (`SO_LINGER` 0) once the read half
    /// is dropped too, and lets go of this half without a FIN. False where there is no TCP
    /// socket of boltgate's own to reset (a client's TLS or WebSocket stream, an in-memory
    /// pipe, a failed `setsockopt`): the half is left as it was, to be closed as usual.
    pub fn reset(&mut self) -> bool {
        let set = match self {
            WriteHalf::Owned(w) => w.as_ref().set_zero_linger().is_ok(),
            WriteHalf::Shared(s) => s.lock().set_zero_linger(),
            WriteHalf::Reset => return true,
        };
        if set {
            // An owned half's drop would shut the write side down (a FIN) before the reset.
            if let WriteHalf::Owned(w) = std::mem::replace(self, WriteHalf::Reset) {
                w.forget();
            }
        }
        set
    }
}

impl ReadHalf {
    /// [`Stream::poll_transport_eof`], for the read half.
    pub fn poll_transport_eof(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self {
            ReadHalf::Owned(_) => Poll::Ready(()),
            ReadHalf::Shared(s) => s.lock().poll_transport_eof(cx),
        }
    }
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Owned(r) => Pin::new(r).poll_read(cx, buf),
            ReadHalf::Shared(s) => Pin::new(&mut *s.lock()).poll_read(cx, buf),
        }
    }
}

macro_rules! each_write {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            WriteHalf::Owned(w) => Pin::new(w).$method($($arg),*),
            WriteHalf::Shared(s) => Pin::new(&mut *s.lock()).$method($($arg),*),
            WriteHalf::Reset => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    };
}

impl AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_write!(self, poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_write!(self, poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WriteHalf::Owned(w) => w.is_write_vectored(),
            WriteHalf::Shared(s) => s.lock().is_write_vectored(),
            WriteHalf::Reset => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_write!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each_write!(self, poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Both kinds of halves carry bytes both ways, and a shutdown of the write half is an EOF
    /// for the peer while the read half still reads.
    #[tokio::test]
    async fn plain_tcp_splits_into_owned_halves_and_others_into_shared_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (mut peer, _) = accepted.unwrap();
        let (mut r, mut w) = Stream::Plain(client.unwrap()).into_split();
        assert!(matches!(r, ReadHalf::Owned(_)) && matches!(w, WriteHalf::Owned(_)));
        w.write_all(b"ping").await.unwrap();
        w.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        peer.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");

        let (mine, mut theirs) = tokio::io::duplex(64);
        let (mut r, mut w) = Stream::Memory(mine).into_split();
        assert!(matches!(r, ReadHalf::Shared(_)) && matches!(w, WriteHalf::Shared(_)));
        w.write_all(b"ping").await.unwrap();
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        theirs.write_all(b"pong").await.unwrap();
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    /// A reset write half ends the connection with a reset once the read half goes, with no
    /// FIN before it (the peer's read fails rather than seeing an EOF); a stream without a TCP
    /// socket of boltgate's own is left alone.
    #[tokio::test]
    async fn a_reset_write_half_ends_the_connection_with_a_reset_and_no_fin() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (mut peer, _) = accepted.unwrap();
        let (r, mut w) = Stream::Plain(client.unwrap()).into_split();
        w.write_all(b"ping").await.unwrap();
        assert!(w.reset());
        assert!(matches!(w, WriteHalf::Reset));
        assert!(
            w.write_all(b"more").await.is_err(),
            "nothing is written after a reset"
        );
        drop(w);
        let mut buf = [0u8; 4];
        peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        drop(r);
        let mut rest = Vec::new();
        let err = peer.read_to_end(&mut rest).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{rest:?}");

        let (mine, _theirs) = tokio::io::duplex(64);
        let (_r, mut w) = Stream::Memory(mine).into_split();
        assert!(!w.reset());
        assert!(matches!(w, WriteHalf::Shared(_)));
    }
}

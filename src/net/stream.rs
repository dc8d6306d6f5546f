//! One byte stream type for both sides of a session: plaintext, TLS, or Bolt over WebSocket.
//!
//! An enum rather than `Box<dyn AsyncRead + AsyncWrite>`: the relay's hot loop then pays a
//! branch, not a virtual call plus an allocation, and the TLS and WebSocket variants stay boxed
//! so a plaintext connection does not carry their state's size.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::prefixed::Prefixed;
use super::websocket::WebSocketBytes;

pub enum Stream {
    Plain(TcpStream),
    /// A client that connected to boltgate over TLS; the first bytes inside TLS, read to tell
    /// WebSocket from Bolt, are replayed.
    ServerTls(Box<Prefixed<tokio_rustls::server::TlsStream<TcpStream>>>),
    /// boltgate's own TLS connection to an upstream server.
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A browser's Bolt over WebSocket, over `Plain` (ws://) or `ServerTls` (wss://).
    WebSocket(Box<WebSocketBytes<Stream>>),
    /// An in-process pipe, for the session fuzzer and tests that run a session without sockets
    /// ([`crate::session::run_over`], used by the `boltgate-testkit` crate); the listener never
    /// creates one.
    #[doc(hidden)]
    Memory(tokio::io::DuplexStream),
}

macro_rules! each {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            Stream::Plain(s) => Pin::new(s).$method($($arg),*),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).$method($($arg),*),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).$method($($arg),*),
            Stream::WebSocket(s) => Pin::new(s.as_mut()).$method($($arg),*),
            Stream::Memory(s) => Pin::new(s).$method($($arg),*),
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::ServerTls(s) => s.is_write_vectored(),
            Stream::ClientTls(s) => s.is_write_vectored(),
            Stream::WebSocket(_) => false,
            Stream::Memory(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, poll_shutdown(cx))
    }
}

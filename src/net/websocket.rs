//! Bolt over WebSocket (reference §8): the HTTP upgrade, the origin check, and [`WebSocketBytes`],
//! which turns binary frames back into the byte stream the session reads.
//!
//! The framing (masking, fragmentation, ping/pong, close) is tungstenite's. boltgate reads the
//! upgrade request itself, up to [`MAX_REQUEST_HEAD`] bytes, so that a bad request gets an HTTP
//! answer saying what is wrong (tungstenite's own accept drops such a connection silently), then
//! checks it with tungstenite's `create_response` and hands the socket to tungstenite.
//!
//! As Neo4j does: the upgrade is at `/`, no sub-protocol, frames carry the raw Bolt bytes and
//! their boundaries mean nothing; text frames are refused (close code 1003); a frame or a
//! reassembled message over `boltgate.websocket.max_frame_size` is refused (close code 1009).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream as _};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::machine::TryParse;
use tokio_tungstenite::tungstenite::handshake::server::{create_response, write_response, Request};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Largest upgrade request accepted (request line and headers), as Neo4j's 65 536.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Largest frame boltgate sends. Neo4j's limit is 64 KiB in both directions; browsers take
/// more, but a Bolt client written against Neo4j may not.
const MAX_OUTBOUND_FRAME: usize = 64 * 1024;

/// The WebSocket settings of the Bolt listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Origins (`scheme://host[:port]`, normalised) a browser page may connect from; None means
    /// any. Requests without an `Origin` header (not from a browser) are not checked.
    pub allowed_origins: Option<Vec<String>>,
    /// `boltgate.websocket.max_frame_size`: the largest frame payload, and the largest message
    /// reassembled from fragments, that a client may send.
    pub max_frame_size: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_origins: None,
            max_frame_size: 64 * 1024,
        }
    }
}

/// `scheme://host[:port]` as a browser writes it in `Origin`: lower case, default port left out.
/// None for anything that is not an http(s) origin.
pub fn normalise_origin(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.path() != "/" && !url.path().is_empty() {
        return None;
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// Why an upgrade was refused; the HTTP status sent for it, then the message.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("the HTTP request head is over {MAX_REQUEST_HEAD} bytes")]
    TooLarge,
    #[error("not an HTTP request: {0}")]
    Malformed(#[source] WsError),
    #[error(
        "not a WebSocket upgrade: {0} (boltgate serves Bolt over WebSocket at / on this port)"
    )]
    NotUpgrade(#[source] WsError),
    #[error("path {0} not served; Bolt over WebSocket is at /")]
    Path(String),
    #[error("origin {0} is not in boltgate.websocket.allowed_origins")]
    Origin(String),
    #[error("i/o during the upgrade: {0}")]
    Io(#[source] io::Error),
}

impl UpgradeError {
    fn status(&self) -> Option<&'static str> {
        match self {
            UpgradeError::TooLarge => Some("431 Request Header Fields Too Large"),
            UpgradeError::Malformed(_) | UpgradeError::NotUpgrade(_) => Some("400 Bad Request"),
            UpgradeError::Path(_) => Some("404 Not Found"),
            UpgradeError::Origin(_) => Some("403 Forbidden"),
            UpgradeError::Io(_) => None,
        }
    }
}

/// Reads the upgrade request from `stream`, answers it (101, or an error status with a one-line
/// reason, then a close), and returns the byte stream of the WebSocket.
pub async fn accept<S>(
    mut stream: S,
    settings: &Settings,
) -> Result<WebSocketBytes<S>, UpgradeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = BytesMut::with_capacity(1024);
    let outcome = async {
        let (len, request) = loop {
            match Request::try_parse(&head) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) if head.len() >= MAX_REQUEST_HEAD => return Err(UpgradeError::TooLarge),
                Ok(None) => {}
                Err(e) => return Err(UpgradeError::Malformed(e)),
            }
            if stream.read_buf(&mut head).await.map_err(UpgradeError::Io)? == 0 {
                return Err(UpgradeError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        };
        let response = create_response(&request).map_err(UpgradeError::NotUpgrade)?;
        if request.uri().path() != "/" {
            return Err(UpgradeError::Path(request.uri().path().to_string()));
        }
        check_origin(&request, settings)?;
        Ok((len, response))
    }
    .await;
    let (len, response) = match outcome {
        Ok(ok) => ok,
        Err(e) => {
            if let Some(status) = e.status() {
                let body = format!("{e}\n");
                let answer = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            return Err(e);
        }
    };
    let mut out = Vec::with_capacity(256);
    write_response(&mut out, &response).map_err(|e| UpgradeError::Io(io::Error::other(e)))?;
    stream.write_all(&out).await.map_err(UpgradeError::Io)?;
    stream.flush().await.map_err(UpgradeError::Io)?;
    // A client may send its first frame before reading the 101; those bytes are not lost.
    let early = head.split_off(len).to_vec();
    let config = WebSocketConfig::default()
        .max_frame_size(Some(settings.max_frame_size))
        .max_message_size(Some(settings.max_frame_size))
        // Frames are sent when the relay flushes, which it does after each batch of messages.
        .write_buffer_size(MAX_OUTBOUND_FRAME);
    let ws = WebSocketStream::from_partially_read(stream, early, Role::Server, Some(config)).await;
    Ok(WebSocketBytes::new(ws))
}

fn check_origin(request: &Request, settings: &Settings) -> Result<(), UpgradeError> {
    let Some(allowed) = &settings.allowed_origins else {
        return Ok(());
    };
    // No Origin header: not a browser, so not a page trying to borrow the user's network position.
    let Some(origin) = request.headers().get("origin") else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    match normalise_origin(&text) {
        Some(o) if allowed.contains(&o) => Ok(()),
        _ => Err(UpgradeError::Origin(text)),
    }
}

// === impl WebSocketBytes ===

/// A WebSocket seen as bytes: reads return the payloads of binary frames in order, each write
/// becomes one binary frame (of at most 64 KiB), shutdown sends a close frame, and a close from
/// the client reads as end of stream. Pings are answered by tungstenite as it reads.
pub struct WebSocketBytes<S> {
    ws: WebSocketStream<S>,
    /// The rest of the last binary frame, not read yet.
    unread: Bytes,
    /// The close frame to send on shutdown, set when the client broke a rule.
    close: Option<CloseFrame>,
    close_queued: bool,
}

impl<S> WebSocketBytes<S> {
    fn new(ws: WebSocketStream<S>) -> Self {
        WebSocketBytes {
            ws,
            unread: Bytes::new(),
            close: None,
            close_queued: false,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketBytes<S> {
    /// Queues the close frame chosen for a broken rule, once, and tries to send it.
    fn poll_send_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.close_queued {
            return Poll::Ready(Ok(()));
        }
        if let Some(frame) = self.close.clone() {
            ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(io_error)?;
            // After a failed read tungstenite may refuse to send: then there is nothing to say.
            let _ = Pin::new(&mut self.ws).start_send(Message::Close(Some(frame)));
            let _ = Pin::new(&mut self.ws).poll_flush(cx);
        }
        self.close_queued = true;
        Poll::Ready(Ok(()))
    }
}

/// A broken rule: the error the session sees, and the close frame the client gets.
fn refuse(code: CloseCode, reason: &'static str) -> (CloseFrame, io::Error) {
    (
        CloseFrame {
            code,
            reason: reason.into(),
        },
        io::Error::new(io::ErrorKind::InvalidData, reason),
    )
}

fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WebSocketBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.unread.is_empty() {
                let n = this.unread.len().min(buf.remaining());
                buf.put_slice(&this.unread[..n]);
                this.unread.advance(n);
                return Poll::Ready(Ok(()));
            }
            let refused = match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(Ok(())),
                Some(Ok(Message::Binary(data))) => {
                    this.unread = data;
                    continue;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Text(_))) => refuse(
                    CloseCode::Unsupported,
                    "text frame refused: Bolt over WebSocket uses binary frames",
                ),
                Some(Err(WsError::Capacity(_))) => refuse(
                    CloseCode::Size,
                    "frame over boltgate.websocket.max_frame_size",
                ),
                Some(Err(WsError::Protocol(e))) => {
                    let (frame, _) = refuse(CloseCode::Protocol, "WebSocket protocol error");
                    (
                        frame,
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("WebSocket protocol error: {e}"),
                        ),
                    )
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            };
            let (frame, error) = refused;
            // Say why at once: the session may end on this error without shutting down.
            this.close = Some(frame);
            let _ = this.poll_send_close(cx);
            return Poll::Ready(Err(error));
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WebSocketBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        let n = buf.len().min(MAX_OUTBOUND_FRAME);
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .map_err(io_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_close(cx))?;
        match ready!(Pin::new(&mut this.ws).poll_close(cx)) {
            Ok(()) | Err(WsError::AlreadyClosed | WsError::ConnectionClosed) => {}
            Err(e) => return Poll::Ready(Err(io_error(e))),
        }
        Pin::new(this.ws.get_mut()).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        assert_eq!(
            normalise_origin("https://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            normalise_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(normalise_origin("null"), None);
        assert_eq!(normalise_origin("https://a.example/path"), None);
        assert_eq!(normalise_origin("ftp://a.example"), None);
    }
}

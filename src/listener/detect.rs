//! What a client speaks, from its first byte, and a stream that gives back bytes read to decide.
//!
//! Neo4j serves everything on its one Bolt port and tells the protocols apart by their first
//! bytes (reference §1.1): a TLS ClientHello, then the same choice again inside TLS; `GET ` for
//! Bolt over WebSocket; `60 60 B0 17` for raw Bolt. One byte is enough to choose, because the
//! three start differently (`0x16`, `G`, `0x60`); what follows is checked by the layer chosen
//! (the HTTP upgrade parser, the Bolt preamble check), which reports a mistake better than a
//! sniffer could. Anything else goes to the Bolt handshake, which refuses it with a log line.
//!
//! A TCP socket can be peeked, so its first byte stays in the socket. A TLS stream cannot: the
//! first byte inside TLS is read, and [`Prefixed`] hands it back to whoever reads next.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::net::Prefixed;

/// The first byte of a TLS handshake record (a ClientHello).
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// The first byte of an HTTP `GET` request: a WebSocket upgrade.
pub const HTTP_GET: u8 = b'G';

/// What a connection (or the inside of its TLS) speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tls,
    WebSocket,
    /// Raw Bolt, or garbage for the Bolt handshake to refuse.
    Bolt,
}

impl Protocol {
    pub fn of(first: u8) -> Protocol {
        match first {
            TLS_HANDSHAKE_RECORD => Protocol::Tls,
            HTTP_GET => Protocol::WebSocket,
            _ => Protocol::Bolt,
        }
    }
}

/// Reads the first bytes of `inner` (at least one, as many as one read returns, at most 16) and
/// returns them with the stream that replays them. `Ok(None)` when the peer closed first.
pub async fn read_first<S: AsyncRead + Unpin>(mut inner: S) -> io::Result<Option<Prefixed<S>>> {
    // A few bytes suffice to choose; the rest stays in the stream (or its TLS buffer).
    let mut first = [0u8; 16];
    let n = inner.read(&mut first).await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(Prefixed::new(
        Bytes::copy_from_slice(&first[..n]),
        inner,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn one_byte_tells_the_protocols_apart() {
        assert_eq!(Protocol::of(0x16), Protocol::Tls);
        assert_eq!(Protocol::of(b'G'), Protocol::WebSocket);
        assert_eq!(Protocol::of(0x60), Protocol::Bolt);
        assert_eq!(Protocol::of(b'P'), Protocol::Bolt);
    }

    #[tokio::test]
    async fn prefixed_replays_the_first_bytes_then_reads_on() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        drop(a);
        let mut p = read_first(b).await.unwrap().unwrap();
        assert_eq!(p.prefix()[0], b'G');
        let mut all = Vec::new();
        // A small buffer, so the prefix is handed back over several reads.
        let mut small = [0u8; 3];
        loop {
            let n = p.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&small[..n]);
        }
        assert_eq!(all, b"GET / HTTP/1.1\r\n");
    }

    #[tokio::test]
    async fn read_first_sees_a_close() {
        let (a, b) = tokio::io::duplex(64);
        drop(a);
        assert!(read_first(b).await.unwrap().is_none());
    }
}

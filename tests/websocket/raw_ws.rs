//! WebSocket on a bare socket, byte by byte, for what a well-behaved client library will not
//! send: text frames, oversized frames, unmasked frames, hand-made fragments, bad upgrades.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::harness::within;

/// The key from RFC 6455's example; any 16 bytes in base64 do.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A well-formed upgrade request for `/`, with `extra` header lines.
pub fn upgrade_request(extra: &[&str]) -> String {
    let mut r = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for line in extra {
        r.push_str(line);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

/// Sends `request` and returns the response head (status line and headers) and the socket.
pub async fn http(addr: SocketAddr, request: &str) -> (String, TcpStream) {
    let mut tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    (head, tcp)
}

/// Reads up to the blank line ending an HTTP head, one byte at a time (so frames after it stay
/// in the socket). Empty if the server closed first.
pub async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match within("HTTP response", tcp.read_u8()).await {
            Ok(b) => head.push(b),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads the body after a head, to the close.
pub async fn read_rest(tcp: &mut TcpStream) -> String {
    let mut body = Vec::new();
    let _ = within("body", tcp.read_to_end(&mut body)).await;
    String::from_utf8_lossy(&body).into_owned()
}

/// An upgraded socket.
pub async fn upgraded(addr: SocketAddr) -> TcpStream {
    let (head, tcp) = http(addr, &upgrade_request(&[])).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// One frame as a client sends it (masked unless `mask` is None).
pub fn frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

pub fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(opcode, true, payload, Some([0x37, 0xfa, 0x21, 0x3d]))
}

/// One frame from the server (never masked): opcode and payload. None at end of stream.
pub async fn read_frame(tcp: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    within("frame header", tcp.read_exact(&mut h)).await.ok()?;
    let len = match h[1] & 0x7f {
        126 => u64::from(tcp.read_u16().await.ok()?),
        127 => tcp.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    within("frame payload", tcp.read_exact(&mut payload))
        .await
        .ok()?;
    Some((h[0] & 0x0f, payload))
}

/// Reads frames until a close frame and returns its code (None: closed without one).
pub async fn close_code(tcp: &mut TcpStream) -> Option<u16> {
    while let Some((op, payload)) = read_frame(tcp).await {
        if op == OP_CLOSE {
            return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        }
    }
    None
}

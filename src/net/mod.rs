//! Byte streams and sockets, shared by the listener (client side), the session and the upstream
//! side. A leaf: it imports no other boltgate module, so the layers above can all use it without
//! importing each other.
//!
//! - [`stream::Stream`]: one stream type for plaintext, TLS (either side), WebSocket and the
//!   in-memory pipe the session fuzzer uses;
//! - [`Prefixed`]: a stream that replays bytes already read from it;
//! - [`split`]: a stream's read and write halves, owned for plaintext TCP;
//! - [`websocket`]: Bolt over WebSocket (the HTTP upgrade and the frame-to-bytes adapter);
//! - [`tcp`]: TCP keepalive and TCP_USER_TIMEOUT.

mod prefixed;
pub mod split;
pub mod stream;
pub mod tcp;
pub mod websocket;

pub use prefixed::Prefixed;
pub use stream::Stream;

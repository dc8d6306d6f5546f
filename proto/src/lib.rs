//! # boltgate-proto: the Bolt protocol without I/O
//!
//! Everything here is pure: bytes in, values or errors out. No sockets, clocks or runtime, so the
//! proxy, the fuzz targets and the benchmarks all drive the same code (quinn-proto's rule).
//!
//! The layers, in the order bytes meet them on a fresh connection:
//!
//! 1. [`handshake`]: the `60 60 B0 17` preamble, four version proposals (with 4.3+ minor ranges) and the
//!    5.7+ manifest negotiation; [`handshake::negotiate`] is a pure function the proxy runs twice (once
//!    facing the client, once facing the upstream server).
//! 2. [`chunk`]: the chunked transport, as a `tokio_util::codec` decoder/encoder yielding whole
//!    messages and NOOP keep-alives, with a maximum message size; [`scan`] finds whole messages in
//!    a read buffer in place, for forwarding them without a copy.
//! 3. [`packstream`]: the PackStream value model, a bounded non-recursive-without-limit decoder with byte
//!    offsets in every error, and a smallest-marker encoder.
//! 4. [`message`]: raw messages (forwarded as bytes), cheap views of the few fields a proxy needs, and
//!    typed requests and responses for every Bolt version boltgate speaks.
//! 5. [`state`]: the Bolt server state machine as pure transitions.

pub mod chunk;
pub mod error;
pub mod handshake;
pub mod message;
pub mod packstream;
pub mod scan;
pub mod state;
pub mod version;

pub use error::Error;
pub use version::Version;

//! The upstream side: where boltgate forwards to. [`uri`] parses `boltgate.upstream.uri`;
//! [`connect`] dials it (TCP, TLS, Bolt handshake). Routing tables and balancing arrive in their
//! own modules.

pub mod connect;
pub mod uri;

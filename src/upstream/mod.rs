//! The upstream side: where boltgate forwards to. [`uri`] parses `boltgate.upstream.uri`;
//! [`connect`] dials a server (TCP, TLS, Bolt handshake). For routing: [`members`] (a static
//! topology), [`routing_table`] (one database's table), [`registry`] (the tables, refreshed),
//! [`balance`] (choosing a member; bans).

pub mod balance;
pub mod connect;
pub mod discovery;
pub mod members;
pub mod registry;
pub mod routing_table;
pub mod tcp;
pub mod uri;

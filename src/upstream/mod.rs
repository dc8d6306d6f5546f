//! The upstream side: where boltgate forwards to. [`connect`] dials a server (TCP, TLS, Bolt
//! handshake) named by a [`crate::config::uri::Target`]. For routing: [`routing_table`] (one
//! database's table, from a ROUTE answer or a static [`crate::config::members`] topology),
//! [`registry`] (the tables, refreshed), [`balance`] (choosing a member; bans).

pub mod balance;
pub mod connect;
pub mod discovery;
pub mod registry;
pub mod routing_table;

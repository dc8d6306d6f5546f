//! Routing (issue #5): boltgate in front of a cluster, as `neo4j://` clients see it.
//!
//! - [`fake_cluster`]: three scripted Bolt servers built on `boltgate-proto` (a writer and two
//!   readers, answering ROUTE themselves), behind a `neo4j://` upstream URI; the official Python
//!   driver through boltgate.
//! - [`falkordb`]: a FalkorDB primary + replica as a static topology
//!   (`boltgate.routing.members`).
//! - [`mtls`]: the scripted cluster over mutual TLS with the `cluster` SSL policy, and its
//!   refusals (unknown CA, no client certificate).
//! - [`failures`]: a member dying mid-transaction, background refresh, stale-table fallback.
//! - [`observability`]: `/metrics` per member and mode, the members' HELLO routing context,
//!   `CALL dbms.security.reloadTLS()` in routed mode.
//! - [`bolt4`]: Bolt 4.2 members (the routing procedure instead of ROUTE).
//! - [`two_gates`]: two boltgate instances advertising both addresses; one drains on SIGTERM.
//! - [`pooled`]: transaction pooling with routing (a pool per member): the Python driver's
//!   clients through pools of 4 per scripted member, a member killed mid-run and brought back.

#[path = "../common/mod.rs"]
mod common;

mod bolt4;
mod bounds;
mod cluster;
mod failures;
mod fake_cluster;
mod falkordb;
mod mtls;
mod observability;
mod pooled;
mod two_gates;

//! Routing (issue #5): boltgate in front of a cluster, as `neo4j://` clients see it.
//!
//! - [`fake_cluster`]: three scripted Bolt servers built on `boltgate-proto` (a writer and two
//!   readers, answering ROUTE themselves), behind a `neo4j://` upstream URI; the official Python
//!   driver through boltgate.
//! - [`falkordb`]: a FalkorDB primary + replica as a static topology
//!   (`boltgate.routing.members`).
//! - [`mtls`]: the scripted cluster over mutual TLS with the `cluster` SSL policy.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod fake_cluster;
mod falkordb;
mod mtls;

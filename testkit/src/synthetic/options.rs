//! The script: [`Options`] says how the server behaves (versions, TLS, a scripted cluster's
//! topology and faults, a misbehaving handshake), and [`Received`] is what it reports back
//! about each message, for tests that assert what a proxy forwarded.

use std::sync::{Arc, Mutex};

use boltgate_proto::message::{sig, RawMessage, Request};
use boltgate_proto::packstream::Value;
use boltgate_proto::Version;

use super::{DEFAULT_PAYLOAD_LEN, DEFAULT_VERSIONS};

/// How the server behaves.
#[derive(Clone)]
pub struct Options {
    /// Versions offered, in preference order.
    pub versions: Vec<Version>,
    /// Whether to accept manifest v1 (`00 00 01 FF`) when the client proposes it.
    pub manifest: bool,
    /// Keep every received message (see [`SyntheticServer::received`](super::SyntheticServer::received)). Off by default: the load
    /// tool should not measure a mutex.
    pub record: bool,
    /// Length of the string column of a wide row.
    pub payload_len: usize,
    /// Serve TLS (the client must start TLS before the Bolt preamble).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// For a scripted cluster: the `rt` map ROUTE is answered with (shared, so a test can change
    /// the topology while the servers run). None: a table naming this server in every role.
    pub route_table: Option<Arc<Mutex<Value>>>,
    /// For a scripted cluster: while true, write work (BEGIN or auto-commit RUN without
    /// `mode: "r"`) is refused with `Neo.ClientError.Cluster.NotALeader`.
    pub not_leader: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The bookmark COMMIT and auto-commit results report; None: [`BOOKMARK`](super::BOOKMARK).
    pub bookmark: Option<String>,
    /// For a scripted cluster: a RUN of exactly this query is recorded, then the server stops
    /// at once (listener and every connection), like a member that crashed mid-transaction.
    pub crash_on: Option<String>,
    /// For a scripted cluster: while true, ROUTE and the routing procedure are refused with
    /// `Neo.TransientError.General.DatabaseUnavailable` (a router that cannot route).
    pub refuse_route: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Answer every handshake with this version, offered or not (a broken server).
    pub reply_version: Option<Version>,
    /// Answer an offer that contains the manifest request with this version, offered or not, as
    /// FalkorDB 4.16 answers 5.7; offers without it are negotiated normally.
    pub unoffered_to_manifest: Option<Version>,
    /// Read the client's handshake, then close without a reply.
    pub close_in_handshake: bool,
    /// Users and passwords the server accepts (basic auth, in LOGON or a pre-5.1 HELLO); any
    /// other credentials get `Neo.ClientError.Security.Unauthorized` and the connection is
    /// closed, and any request but HELLO/LOGON/RESET/GOODBYE before a login is refused. Each
    /// [`Received`] then names the user logged in on its connection. None: anything goes.
    pub users: Option<Vec<(String, String)>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            versions: DEFAULT_VERSIONS.to_vec(),
            manifest: true,
            record: false,
            payload_len: DEFAULT_PAYLOAD_LEN,
            tls: None,
            route_table: None,
            not_leader: None,
            bookmark: None,
            crash_on: None,
            refuse_route: None,
            reply_version: None,
            unoffered_to_manifest: None,
            close_in_handshake: false,
            users: None,
        }
    }
}

/// One message the server received, in arrival order across all connections.
#[derive(Debug, Clone)]
pub struct Received {
    /// 1 for the first connection accepted, then 2, …
    pub connection: u64,
    pub version: Version,
    pub message: RawMessage,
    /// The user logged in on the connection when the message arrived (with [`Options::users`]).
    pub user: Option<String>,
}

impl Received {
    /// The message's name (`"RUN"`, `"PULL"`, …).
    pub fn name(&self) -> &'static str {
        sig::name(self.message.signature())
    }

    /// The query text, if this is a RUN.
    pub fn query(&self) -> Option<String> {
        match Request::decode(self.version, &self.message) {
            Ok(Request::Run(run)) => Some(run.query),
            _ => None,
        }
    }
}

//! A synthetic Bolt server for tests and load measurements, built on `boltgate-proto`.
//!
//! It listens on `127.0.0.1:0`, speaks the server side of the handshake (including manifest v1)
//! for Bolt 4.4–5.8, and answers every request with what a well-behaved Neo4j would send, minus
//! the database. The query text picks the result:
//!
//! | query            | RUN `fields`                  | PULL answers with                                        |
//! |------------------|-------------------------------|----------------------------------------------------------|
//! | `RETURN <int>`   | `["<int>"]`                   | one RECORD `[<int>]`                                     |
//! | `ROWS <n>`       | `["id", "payload", "props"]`  | `n` "wide" RECORDs `[id, <payload_len> x 'x', {kind, n}]`, about 1 KiB each |
//! | `SMALL_ROWS <n>` | `["id"]`                      | `n` RECORDs `[id]`, the id an INT_64: 12-byte messages    |
//! | `FAIL <code>`    | —                             | RUN gets `FAILURE {code: <code>}` (as `neo4j_code` on 5.7+); the PULL after it `IGNORED` |
//! | `FAIL_CLOSE <code>` | —                          | RUN gets `FAILURE {code: <code>}`, then the server closes (as Neo4j after `TokenExpired`) |
//! | `DIE_AFTER <n>`  | `["n"]`                       | `n` RECORDs `[i]`, then the server closes mid-stream     |
//! | `COMMIT_DIES`    | `["n"]`                       | one RECORD `[1]`; the transaction's COMMIT then closes the connection unanswered |
//! | `COMMIT_HANGS`   | `["n"]`                       | one RECORD `[1]`; the transaction's COMMIT is never answered |
//! | `DATETIME_ZONED` | `["dt"]`                      | one RECORD: 2024-07-02T03:04:05[Europe/Paris] (`i` from 5.0, `f` before) |
//! | anything else    | —                             | `FAILURE Neo.ClientError.Statement.SyntaxError`          |
//!
//! Keywords are case-insensitive. `PULL {n}` is honoured (`has_more: true` until the result is
//! exhausted), `DISCARD` drops the rest, and after a FAILURE everything but RESET and GOODBYE is
//! `IGNORED` until RESET, as the Bolt state machine requires. HELLO, LOGON, LOGOFF, BEGIN, COMMIT,
//! ROLLBACK, RESET, ROUTE (a table naming this server) and TELEMETRY get SUCCESS; GOODBYE closes.
//! `CALL dbms.routing.getRoutingTable(...)` (the 4.0-4.2 way) returns the same table as one row
//! `[ttl, servers]`.
//! Anything else gets a FAILURE `Neo.ClientError.Request.Invalid`.
//!
//! For transparency tests it keeps the 20 handshake bytes of every connection
//! ([`SyntheticServer::handshakes`]) and counts GOODBYEs ([`SyntheticServer::goodbyes`]); its
//! handshake can be scripted to misbehave ([`Options::reply_version`],
//! [`Options::unoffered_to_manifest`], [`Options::close_in_handshake`]).
//!
//! Speed: rows are encoded once, when the server starts; a wide row is copied from a template and
//! its 8-byte id patched in place. Responses to everything already received go out in one write,
//! and long streams in 256 KiB writes. Sockets have `TCP_NODELAY` set.
//!
//! Dropping the [`SyntheticServer`] (or calling [`SyntheticServer::stop`]) closes the listener and
//! every connection.
//!
//! The parts: `options` is the script ([`Options`]) and what the server reports ([`Received`]);
//! `shared` holds what all connections share (counters, pre-encoded responses); `conn` is one
//! connection's loop (the handshake, framing, buffered writes); `query` reads what a query text
//! asks for; `handlers` answers each request. This file starts and stops the server and accepts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use boltgate_proto::handshake::CLIENT_HELLO_LEN;
use boltgate_proto::Version;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

mod conn;
mod handlers;
mod options;
mod query;
mod shared;

use conn::Conn;
pub use options::{Options, Received};
use shared::Shared;

/// The versions offered by default: every version from 4.4 to 5.8 that a server ever negotiated,
/// the same list the testkit client proposes.
pub const DEFAULT_VERSIONS: &[Version] = crate::client::VERSIONS;

/// Default length of the string in a wide row: with the id, the map and the markers a row is
/// about 1 KiB on the wire.
pub const DEFAULT_PAYLOAD_LEN: usize = 980;

/// The bookmark every auto-commit result and COMMIT reports.
pub const BOOKMARK: &str = "synthetic:bookmark:1";

/// The `server` of the HELLO SUCCESS. It starts with `Neo4j/` because the Java driver refuses
/// any other server ("Server does not identify as a genuine Neo4j instance"); the suffix says
/// what it really is.
pub const SERVER_AGENT: &str = "Neo4j/5.26.0-boltgate-synthetic";

/// Responses are written once this many bytes are buffered: large enough for few syscalls on a
/// long stream, small enough that the first rows leave early.
const FLUSH_AT: usize = 256 * 1024;

/// A running synthetic server. See the module docs.
pub struct SyntheticServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    shared: Arc<Shared>,
}

impl SyntheticServer {
    /// Starts with [`Options::default`].
    pub async fn start() -> std::io::Result<SyntheticServer> {
        SyntheticServer::start_with(Options::default()).await
    }

    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start_with(opts: Options) -> std::io::Result<SyntheticServer> {
        SyntheticServer::start_at(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await
    }

    /// Binds `addr` (a stopped server's, to bring a member back where clients know it) and
    /// serves on the current tokio runtime.
    pub async fn start_at(addr: SocketAddr, opts: Options) -> std::io::Result<SyntheticServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared::new(opts, addr, cancel.clone()));
        tokio::spawn(accept_loop(listener, shared.clone(), cancel.clone()));
        Ok(SyntheticServer {
            addr,
            cancel,
            shared,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `bolt://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("bolt://{}", self.addr)
    }

    /// Every message received so far (only with [`Options::record`]).
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received lock").clone()
    }

    /// The query of every RUN received so far (only with [`Options::record`]).
    pub fn queries(&self) -> Vec<String> {
        self.received().iter().filter_map(Received::query).collect()
    }

    /// RUN messages received so far (always counted; cheap).
    pub fn runs(&self) -> u64 {
        self.shared.runs.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// The most connections ever open at once.
    pub fn max_open_connections(&self) -> u64 {
        self.shared.max_open.load(Ordering::Relaxed)
    }

    /// The 20 handshake bytes (preamble and four proposals) of every connection, in order.
    pub fn handshakes(&self) -> Vec<[u8; CLIENT_HELLO_LEN]> {
        self.shared
            .handshakes
            .lock()
            .expect("handshakes lock")
            .clone()
    }

    /// GOODBYE messages received so far.
    pub fn goodbyes(&self) -> u64 {
        self.shared.goodbyes.load(Ordering::Relaxed)
    }

    /// Closes the listener and every connection. They close on the runtime's workers, soon
    /// after this returns; [`SyntheticServer::stop_and_wait`] waits for them.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Stops, then waits (up to ten seconds) until the listener is closed and no connection is
    /// open: a test that goes on to use the server's absence must not race its tasks' exit.
    pub async fn stop_and_wait(&self) {
        self.cancel.cancel();
        for _ in 0..2000 {
            if !self.shared.listening.load(Ordering::Acquire) && self.open_connections() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!(
            "the synthetic server on {} did not stop within 10 s ({} connections open)",
            self.addr,
            self.open_connections()
        );
    }
}

impl Drop for SyntheticServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The synthetic server's behaviour without a listener: each [`ScriptedUpstream::serve`] call
/// serves one connection over any byte stream (an in-memory pipe in the session fuzzer). Rows
/// are encoded once, in [`ScriptedUpstream::new`], and shared by every connection.
pub struct ScriptedUpstream {
    shared: Arc<Shared>,
}

impl ScriptedUpstream {
    pub fn new(opts: Options) -> ScriptedUpstream {
        // ROUTE answers name this address; nothing listens there.
        let addr = SocketAddr::from(([127, 0, 0, 1], 7687));
        ScriptedUpstream {
            // Nothing to cancel: each connection ends with its stream.
            shared: Arc::new(Shared::new(opts, addr, CancellationToken::new())),
        }
    }

    /// Serves one connection until the peer closes or says GOODBYE.
    pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, io: S) -> std::io::Result<()> {
        let id = self.shared.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        Conn::new(io, id, self.shared.clone()).serve().await
    }
}

// === accepting ===

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    loop {
        // Biased: once stopped, a connection that is already waiting is not taken.
        let tcp = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                drop(listener);
                shared.listening.store(false, Ordering::Release);
                return;
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => {
                    // Out of descriptors and the like: back off rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let id = shared.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        let shared = shared.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {}
                _ = connection(tcp, id, shared) => {}
            }
        });
    }
}

async fn connection(tcp: TcpStream, id: u64, shared: Arc<Shared>) -> std::io::Result<()> {
    let now = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
    shared.max_open.fetch_max(now, Ordering::Relaxed);
    // Counted down however the connection ends (the task may also be dropped on stop), and
    // before its socket is closed (see `Conn::open_guard`).
    let open = OpenGuard(shared.clone());
    let _ = tcp.set_nodelay(true);
    match shared.opts.tls.clone() {
        Some(config) => {
            let tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
            let mut conn = Conn::new(tls, id, shared);
            conn.open_guard = Some(open);
            conn.serve().await
        }
        None => {
            let mut conn = Conn::new(tcp, id, shared);
            conn.open_guard = Some(open);
            conn.serve().await
        }
    }
}

/// Counts one open connection in [`Shared::open`] until dropped.
pub(super) struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

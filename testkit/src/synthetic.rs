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

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use boltgate_proto::chunk::{encode_message, ChunkCodec, Frame};
use boltgate_proto::handshake::{
    negotiate, ClientHello, ManifestChoice, ManifestOffer, Negotiated, CLIENT_HELLO_LEN, REFUSAL,
};
use boltgate_proto::message::{sig, RawMessage, Record, Request, Response};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

/// The versions offered by default: every version from 4.4 to 5.8 that a server ever negotiated,
/// the same list the testkit client proposes.
pub const DEFAULT_VERSIONS: &[Version] = super::client::VERSIONS;

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

/// How the server behaves.
#[derive(Clone)]
pub struct Options {
    /// Versions offered, in preference order.
    pub versions: Vec<Version>,
    /// Whether to accept manifest v1 (`00 00 01 FF`) when the client proposes it.
    pub manifest: bool,
    /// Keep every received message (see [`SyntheticServer::received`]). Off by default: the load
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
    /// The bookmark COMMIT and auto-commit results report; None: [`BOOKMARK`].
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

/// A running synthetic server. See the module docs.
pub struct SyntheticServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    shared: Arc<Shared>,
}

/// What every connection task shares.
struct Shared {
    opts: Options,
    /// Stops the whole server (see [`Options::crash_on`]).
    cancel: CancellationToken,
    addr: SocketAddr,
    received: Mutex<Vec<Received>>,
    handshakes: Mutex<Vec<[u8; CLIENT_HELLO_LEN]>>,
    goodbyes: AtomicU64,
    accepted: AtomicU64,
    runs: AtomicU64,
    /// The wide row, chunked, with id 0: `00 LL B1 71 93 CB <8 id bytes> …`.
    wide_row: Bytes,
    /// `RECORD [id]`, chunked, id an INT_64 at the same offset as in `wide_row`.
    small_row: Bytes,
    /// The `RECORD [1]` answer, chunked.
    one_row: Bytes,
    run_success_wide: Bytes,
    run_success_small: Bytes,
    run_success_one: Bytes,
    pull_done: Bytes,
    pull_done_tx: Bytes,
    pull_has_more: Bytes,
    success_empty: Bytes,
    ignored: Bytes,
}

/// The column names of a wide row.
const WIDE_FIELDS: &[&str] = &["id", "payload", "props"];

/// Where the id's 8 bytes start in the chunked wide row: chunk header (2), `B1 71` (2), the list
/// marker `93` (1) and the INT_64 marker `CB` (1).
const WIDE_ID_OFFSET: usize = 6;

impl SyntheticServer {
    /// Starts with [`Options::default`].
    pub async fn start() -> std::io::Result<SyntheticServer> {
        SyntheticServer::start_with(Options::default()).await
    }

    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start_with(opts: Options) -> std::io::Result<SyntheticServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
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

    /// Closes the listener and every connection.
    pub fn stop(&self) {
        self.cancel.cancel();
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

// === impl Shared ===

fn chunked(raw: &RawMessage) -> Bytes {
    let mut out = BytesMut::new();
    // Only the server's own small messages are chunked here; they are never empty.
    encode_message(raw.as_bytes(), &mut out).expect("a message is never empty");
    out.freeze()
}

fn success(entries: Vec<(&str, Value)>) -> Bytes {
    chunked(&Response::success(entries.into_iter().collect()))
}

fn fields(names: &[&str]) -> Value {
    Value::List(names.iter().map(|n| Value::from(*n)).collect())
}

impl Shared {
    fn new(opts: Options, addr: SocketAddr, cancel: CancellationToken) -> Shared {
        let props: Map = [("kind", Value::from("synthetic")), ("n", Value::from(1))]
            .into_iter()
            .collect();
        let wide = Response::Record(Record {
            // i64::MAX takes the INT_64 form, so every id fits the same 8 bytes.
            data: vec![
                Value::Integer(i64::MAX),
                Value::String("x".repeat(opts.payload_len)),
                Value::Map(props),
            ],
        });
        let wide_row = chunked(&wide.to_raw().expect("the wide row encodes"));
        assert_eq!(
            wide_row[WIDE_ID_OFFSET - 1],
            0xCB,
            "the wide row's id must be an INT_64 at a fixed offset"
        );
        let small = Response::Record(Record {
            data: vec![Value::Integer(i64::MAX)],
        });
        let small_row = chunked(&small.to_raw().expect("the small row encodes"));
        assert_eq!(
            small_row.len(),
            2 + 12 + 2,
            "a small row is a 12-byte message"
        );
        assert_eq!(
            small_row[WIDE_ID_OFFSET - 1],
            0xCB,
            "the small row's id is an INT_64"
        );
        let one = Response::Record(Record {
            data: vec![Value::Integer(1)],
        });
        Shared {
            addr,
            cancel,
            received: Mutex::new(Vec::new()),
            handshakes: Mutex::new(Vec::new()),
            goodbyes: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            runs: AtomicU64::new(0),
            wide_row,
            small_row,
            one_row: chunked(&one.to_raw().expect("RECORD [1] encodes")),
            run_success_wide: success(vec![("fields", fields(WIDE_FIELDS)), ("t_first", 0.into())]),
            run_success_small: success(vec![("fields", fields(&["id"])), ("t_first", 0.into())]),
            run_success_one: success(vec![("fields", fields(&["1"])), ("t_first", 0.into())]),
            pull_done: success(vec![
                ("has_more", false.into()),
                (
                    "bookmark",
                    opts.bookmark.as_deref().unwrap_or(BOOKMARK).into(),
                ),
                ("t_last", 0.into()),
                ("type", "r".into()),
                ("db", "neo4j".into()),
            ]),
            pull_done_tx: success(vec![
                ("has_more", false.into()),
                ("t_last", 0.into()),
                ("type", "r".into()),
                ("db", "neo4j".into()),
            ]),
            pull_has_more: success(vec![("has_more", true.into())]),
            success_empty: success(vec![]),
            ignored: chunked(&Response::ignored()),
            opts,
        }
    }
}

// === accepting ===

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    loop {
        let tcp = tokio::select! {
            _ = cancel.cancelled() => return,
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
                _ = cancel.cancelled() => {}
                _ = connection(tcp, id, shared) => {}
            }
        });
    }
}

async fn connection(tcp: TcpStream, id: u64, shared: Arc<Shared>) -> std::io::Result<()> {
    let _ = tcp.set_nodelay(true);
    match shared.opts.tls.clone() {
        Some(config) => {
            let tls = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
            Conn::new(tls, id, shared).serve().await
        }
        None => Conn::new(tcp, id, shared).serve().await,
    }
}

// === one connection ===

/// A result the client has not pulled completely yet.
#[derive(Debug, Clone, Copy)]
enum Open {
    One {
        value: i64,
        sent: bool,
    },
    Wide {
        next: u64,
        total: u64,
        /// `SMALL_ROWS`: `[id]` rather than the wide row.
        small: bool,
    },
    /// The routing procedure's one row, `[ttl, servers]`.
    Table {
        sent: bool,
    },
    /// `DIE_AFTER n`: n rows, then the connection closes.
    Die {
        rows: u64,
    },
}

impl Open {
    fn remaining(&self) -> u64 {
        match *self {
            Open::One { sent, .. } | Open::Table { sent } => u64::from(!sent),
            Open::Die { rows } => rows,
            Open::Wide { next, total, .. } => total - next,
        }
    }
}

/// What a query asks for.
enum Query {
    One(i64),
    Wide(u64),
    Small(u64),
    Fail(String),
    FailClose(String),
    DieAfter(u64),
    /// `COMMIT_DIES` (true) or `COMMIT_HANGS` (false).
    Commit(bool),
    Unknown,
}

fn parse_query(text: &str) -> Query {
    let mut words = text.split_whitespace();
    let keyword = words.next().unwrap_or("").to_ascii_uppercase();
    let arg = words.next();
    let extra = words.next().is_some();
    match (keyword.as_str(), arg, extra) {
        ("RETURN", Some(n), false) => n.parse().map_or(Query::Unknown, Query::One),
        ("ROWS", Some(n), false) => n.parse().map_or(Query::Unknown, Query::Wide),
        ("SMALL_ROWS", Some(n), false) => n.parse().map_or(Query::Unknown, Query::Small),
        ("FAIL", Some(code), false) => Query::Fail(code.to_owned()),
        ("FAIL_CLOSE", Some(code), false) => Query::FailClose(code.to_owned()),
        ("DIE_AFTER", Some(n), false) => n.parse().map_or(Query::Unknown, Query::DieAfter),
        ("COMMIT_DIES", None, false) => Query::Commit(true),
        ("COMMIT_HANGS", None, false) => Query::Commit(false),
        _ => Query::Unknown,
    }
}

struct Conn<S> {
    io: S,
    id: u64,
    shared: Arc<Shared>,
    rbuf: BytesMut,
    out: BytesMut,
    version: Version,
    manifest: bool,
    failed: bool,
    in_tx: bool,
    open: Option<Open>,
    /// `COMMIT_DIES` (`Some(true)`) or `COMMIT_HANGS` ran in the open transaction.
    commit_fate: Option<bool>,
}

enum Flow {
    Continue,
    Close,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(io: S, id: u64, shared: Arc<Shared>) -> Self {
        Conn {
            io,
            id,
            shared,
            rbuf: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(FLUSH_AT + 64 * 1024),
            version: Version::V5_8,
            manifest: false,
            failed: false,
            in_tx: false,
            open: None,
            commit_fate: None,
        }
    }

    /// Reads more bytes; `false` on a clean close.
    async fn fill(&mut self) -> std::io::Result<bool> {
        self.rbuf.reserve(64 * 1024);
        Ok(self.io.read_buf(&mut self.rbuf).await? > 0)
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            // A TLS stream may keep the end of a write encrypted in its session when the socket
            // was full; unflushed, the client waits for it forever (the load tool hung so).
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn serve(mut self) -> std::io::Result<()> {
        if !self.handshake().await? {
            return Ok(());
        }
        let mut codec = ChunkCodec::default();
        loop {
            while let Some(frame) = codec.decode(&mut self.rbuf).map_err(framing)? {
                let Frame::Message(bytes) = frame else {
                    continue;
                };
                if let Flow::Close = self.on_message(bytes).await? {
                    return self.flush().await;
                }
            }
            self.flush().await?;
            if !self.fill().await? {
                return Ok(());
            }
        }
    }

    /// The server side of the handshake; `false` if the connection should close.
    async fn handshake(&mut self) -> std::io::Result<bool> {
        let hello = loop {
            match ClientHello::parse(&self.rbuf) {
                Ok(Some(hello)) => break hello,
                Ok(None) => {
                    if !self.fill().await? {
                        return Ok(false);
                    }
                }
                Err(_) => return Ok(false),
            }
        };
        let bytes: [u8; CLIENT_HELLO_LEN] = self.rbuf[..CLIENT_HELLO_LEN]
            .try_into()
            .expect("a whole hello was parsed");
        self.shared
            .handshakes
            .lock()
            .expect("handshakes lock")
            .push(bytes);
        let _ = self.rbuf.split_to(CLIENT_HELLO_LEN);
        let opts = &self.shared.opts;
        if opts.close_in_handshake {
            return Ok(false);
        }
        let forced = opts.reply_version.or(opts
            .unoffered_to_manifest
            .filter(|_| hello.wants_manifest()));
        if let Some(v) = forced {
            self.version = v;
            self.io.write_all(&v.to_bytes()).await?;
            return Ok(true);
        }
        let versions = self.shared.opts.versions.clone();
        match negotiate(&hello.proposals, &versions, self.shared.opts.manifest) {
            Negotiated::Version(v) => {
                self.version = v;
                self.io.write_all(&v.to_bytes()).await?;
            }
            Negotiated::Manifest => {
                let offer = ManifestOffer::from_versions(&versions, 0);
                let mut bytes = BytesMut::new();
                offer.encode(&mut bytes);
                self.io.write_all(&bytes).await?;
                let choice: ManifestChoice = loop {
                    match ManifestChoice::parse(&self.rbuf) {
                        Ok(Some((choice, used))) => {
                            let _ = self.rbuf.split_to(used);
                            break choice;
                        }
                        Ok(None) => {
                            if !self.fill().await? {
                                return Ok(false);
                            }
                        }
                        Err(_) => return Ok(false),
                    }
                };
                if offer.check(&choice).is_err() {
                    return Ok(false);
                }
                self.version = choice.version;
                self.manifest = true;
            }
            Negotiated::NoneAcceptable => {
                self.io.write_all(&REFUSAL).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn push(&mut self, chunked: &Bytes) {
        self.out.extend_from_slice(chunked);
    }

    fn push_raw(&mut self, raw: &RawMessage) {
        // The server's own messages are never empty.
        let _ = encode_message(raw.as_bytes(), &mut self.out);
    }

    fn fail(&mut self, code: &str, message: &str) {
        let failure = Response::failure(self.version, code, message);
        self.push_raw(&failure);
        self.failed = true;
        self.open = None;
    }

    async fn on_message(&mut self, bytes: Bytes) -> std::io::Result<Flow> {
        let raw = match RawMessage::new(bytes) {
            Ok(raw) => raw,
            // Not a structure: a real server would close.
            Err(_) => return Ok(Flow::Close),
        };
        if self.shared.opts.record {
            self.shared
                .received
                .lock()
                .expect("received lock")
                .push(Received {
                    connection: self.id,
                    version: self.version,
                    message: raw.clone(),
                });
        }
        let request = match Request::decode(self.version, &raw) {
            Ok(request) => request,
            Err(e) => {
                self.fail(
                    "Neo.ClientError.Request.Invalid",
                    &format!("synthetic server: {e}"),
                );
                return Ok(Flow::Continue);
            }
        };
        match request {
            Request::Goodbye => {
                self.shared.goodbyes.fetch_add(1, Ordering::Relaxed);
                return Ok(Flow::Close);
            }
            Request::Reset => {
                self.failed = false;
                self.in_tx = false;
                self.commit_fate = None;
                self.open = None;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            _ if self.failed => {
                let ignored = self.shared.ignored.clone();
                self.push(&ignored);
            }
            Request::Hello(_) => {
                let mut meta = Map::new();
                meta.push("server", SERVER_AGENT);
                meta.push("connection_id", format!("synthetic-{}", self.id));
                if self.manifest {
                    meta.push("protocol_version", self.version.to_string());
                }
                self.push_raw(&Response::success(meta));
            }
            Request::Run(run) if self.shared.opts.crash_on.as_deref() == Some(&run.query) => {
                self.shared.cancel.cancel();
                return Ok(Flow::Close);
            }
            Request::Run(run) if is_routing_procedure(&run.query) => {
                if !self.refuses_route() {
                    let meta = vec![
                        ("fields", fields(&["ttl", "servers"])),
                        ("t_first", 0.into()),
                    ];
                    self.push(&success(meta));
                    self.open = Some(Open::Table { sent: false });
                }
            }
            Request::Run(run) if !self.in_tx && self.refuses_write(&run.extra) => {}
            Request::Run(run) => {
                if let Query::FailClose(code) = parse_query(&run.query) {
                    self.fail(&code, "synthetic failure requested by the query; closing");
                    return Ok(Flow::Close);
                }
                self.on_run(&run.query)
            }
            Request::Pull(p) => return self.on_pull(p.n()).await,
            Request::PullAll => return self.on_pull(-1).await,
            Request::Discard(_) | Request::DiscardAll => {
                if self.open.take().is_some() {
                    self.push_summary();
                } else {
                    self.fail(
                        "Neo.ClientError.Request.Invalid",
                        "no open result to discard",
                    );
                }
            }
            Request::Begin(begin) if self.refuses_write(&begin.extra) => {}
            Request::Begin(_) => {
                self.in_tx = true;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Commit if self.commit_fate == Some(true) => return Ok(Flow::Close),
            Request::Commit if self.commit_fate == Some(false) => {}
            Request::Commit => {
                self.in_tx = false;
                self.open = None;
                let bookmark = self.shared.opts.bookmark.as_deref().unwrap_or(BOOKMARK);
                self.push(&success(vec![("bookmark", bookmark.into())]));
            }
            Request::Rollback => {
                self.commit_fate = None;
                self.in_tx = false;
                self.open = None;
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Route(_) if self.refuses_route() => {}
            Request::Route(_) => {
                let rt = self.route_table();
                self.push(&success(vec![("rt", rt)]));
            }
            Request::Logon(_) | Request::Logoff | Request::Telemetry(_) => {
                let ok = self.shared.success_empty.clone();
                self.push(&ok);
            }
            Request::Unknown(s) => self.fail(
                "Neo.ClientError.Request.Invalid",
                &format!("synthetic server: unknown message 0x{:02X}", s.tag),
            ),
        }
        Ok(Flow::Continue)
    }

    /// The `rt` map: the scripted cluster's, or one naming this server in every role.
    fn route_table(&self) -> Value {
        if let Some(rt) = &self.shared.opts.route_table {
            return rt.lock().expect("route table lock").clone();
        }
        let addr = self.shared.addr.to_string();
        let server = |role: &str| -> Value {
            let mut m = Map::new();
            m.push("addresses", Value::List(vec![addr.clone().into()]));
            m.push("role", role);
            m.into()
        };
        let mut rt = Map::new();
        rt.push("ttl", 300);
        rt.push("db", "neo4j");
        rt.push(
            "servers",
            Value::List(vec![server("ROUTE"), server("READ"), server("WRITE")]),
        );
        rt.into()
    }

    /// Under [`Options::refuse_route`], refuses a routing request (and returns true).
    fn refuses_route(&mut self) -> bool {
        let refusing = self
            .shared
            .opts
            .refuse_route
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if refusing {
            self.fail(
                "Neo.TransientError.General.DatabaseUnavailable",
                "synthetic server: routing is switched off on this member",
            );
        }
        refusing
    }

    /// Under [`Options::not_leader`], refuses write work with NotALeader (and returns true).
    fn refuses_write(&mut self, extra: &Map) -> bool {
        let refusing = self
            .shared
            .opts
            .not_leader
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if refusing && extra.get_str("mode") != Some("r") {
            self.fail(
                "Neo.ClientError.Cluster.NotALeader",
                "synthetic server: no write operations are allowed on this member",
            );
            return true;
        }
        false
    }

    fn on_run(&mut self, query: &str) {
        self.shared.runs.fetch_add(1, Ordering::Relaxed);
        let (open, names, cached) = match parse_query(query) {
            Query::One(value) => (
                Open::One { value, sent: false },
                vec![value.to_string()],
                (value == 1).then(|| self.shared.run_success_one.clone()),
            ),
            Query::Wide(total) => (
                Open::Wide {
                    next: 0,
                    total,
                    small: false,
                },
                WIDE_FIELDS.iter().map(|f| f.to_string()).collect(),
                Some(self.shared.run_success_wide.clone()),
            ),
            Query::Small(total) => (
                Open::Wide {
                    next: 0,
                    total,
                    small: true,
                },
                vec!["id".to_string()],
                Some(self.shared.run_success_small.clone()),
            ),
            Query::Fail(code) | Query::FailClose(code) => {
                self.fail(&code, "synthetic failure requested by the query");
                return;
            }
            Query::DieAfter(rows) => (Open::Die { rows }, vec!["n".to_string()], None),
            Query::Commit(dies) => {
                self.commit_fate = self.in_tx.then_some(dies);
                (
                    Open::One {
                        value: 1,
                        sent: false,
                    },
                    vec!["n".to_string()],
                    None,
                )
            }
            Query::Unknown => {
                self.fail(
                    "Neo.ClientError.Statement.SyntaxError",
                    "the synthetic server understands only RETURN <int>, ROWS <n> and FAIL <code>",
                );
                return;
            }
        };
        match cached {
            Some(ok) if !self.in_tx => self.push(&ok),
            _ => {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut meta = vec![("fields", fields(&names)), ("t_first", 0.into())];
                if self.in_tx {
                    // One result at a time inside a transaction, so its qid is always 0.
                    meta.push(("qid", 0.into()));
                }
                self.push(&success(meta));
            }
        }
        self.open = Some(open);
    }

    fn push_summary(&mut self) {
        let done = if self.in_tx {
            self.shared.pull_done_tx.clone()
        } else {
            self.shared.pull_done.clone()
        };
        self.push(&done);
    }

    async fn on_pull(&mut self, n: i64) -> std::io::Result<Flow> {
        let Some(mut open) = self.open else {
            self.fail(
                "Neo.ClientError.Request.Invalid",
                "no open result to pull from",
            );
            return Ok(Flow::Continue);
        };
        if let Open::Die { rows } = open {
            for i in 0..rows {
                let row = Response::Record(Record {
                    data: vec![Value::Integer(i as i64)],
                });
                if let Ok(raw) = row.to_raw() {
                    self.push_raw(&raw);
                }
            }
            return Ok(Flow::Close);
        }
        let wanted = if n < 0 {
            open.remaining()
        } else {
            open.remaining().min(n as u64)
        };
        match &mut open {
            // Answered above.
            Open::Die { .. } => {}
            Open::Table { sent } => {
                if wanted > 0 {
                    let rt = self.route_table();
                    let rt = rt.as_map();
                    let ttl = rt
                        .and_then(|m| m.get("ttl"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let servers = rt
                        .and_then(|m| m.get("servers"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let row = Response::Record(Record {
                        data: vec![ttl, servers],
                    });
                    if let Ok(raw) = row.to_raw() {
                        self.push_raw(&raw);
                    }
                    *sent = true;
                }
            }
            Open::One { value, sent } => {
                if wanted > 0 {
                    if *value == 1 {
                        let row = self.shared.one_row.clone();
                        self.push(&row);
                    } else {
                        let row = Response::Record(Record {
                            data: vec![Value::Integer(*value)],
                        });
                        if let Ok(raw) = row.to_raw() {
                            self.push_raw(&raw);
                        }
                    }
                    *sent = true;
                }
            }
            Open::Wide { next, small, .. } => {
                let row = if *small {
                    self.shared.small_row.clone()
                } else {
                    self.shared.wide_row.clone()
                };
                for _ in 0..wanted {
                    let at = self.out.len() + WIDE_ID_OFFSET;
                    self.out.extend_from_slice(&row);
                    self.out[at..at + 8].copy_from_slice(&(*next as i64).to_be_bytes());
                    *next += 1;
                    if self.out.len() >= FLUSH_AT {
                        self.flush().await?;
                    }
                }
            }
        }
        if open.remaining() > 0 {
            self.open = Some(open);
            let more = self.shared.pull_has_more.clone();
            self.push(&more);
        } else {
            self.open = None;
            self.push_summary();
        }
        Ok(Flow::Continue)
    }
}

/// Whether a query calls the routing procedure 4.0-4.2 drivers (and boltgate) use.
fn is_routing_procedure(query: &str) -> bool {
    query
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("call dbms.routing.getroutingtable")
}

/// A framing error ends the connection, as it would on a real server.
fn framing(e: boltgate_proto::chunk::ChunkError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse() {
        assert!(matches!(parse_query("RETURN 1"), Query::One(1)));
        assert!(matches!(parse_query("return  -7 "), Query::One(-7)));
        assert!(matches!(parse_query("ROWS 200000"), Query::Wide(200_000)));
        assert!(matches!(parse_query("small_rows 5"), Query::Small(5)));
        assert!(matches!(parse_query("FAIL Neo.X.Y"), Query::Fail(c) if c == "Neo.X.Y"));
        assert!(matches!(parse_query("RETURN 1 AS x"), Query::Unknown));
        assert!(matches!(parse_query("MATCH (n) RETURN n"), Query::Unknown));
    }

    #[test]
    fn wide_row_is_about_a_kibibyte_and_patchable() {
        let shared = Shared::new(
            Options::default(),
            "127.0.0.1:1".parse().unwrap(),
            CancellationToken::new(),
        );
        let row = &shared.wide_row;
        assert!((1000..=1100).contains(&row.len()), "{} bytes", row.len());
        assert_eq!(&row[2..6], &[0xB1, sig::RECORD, 0x93, 0xCB]);
    }
}

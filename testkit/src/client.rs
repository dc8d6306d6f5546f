//! A minimal Bolt client on `boltgate-proto`, for the load tool and tests.
//!
//! It proposes manifest v1, 5.8–5.0 and 4.4; sends HELLO (and LOGON on 5.1+) pipelined; runs a
//! query as RUN + `PULL {n: -1}` in one write and reads up to the PULL's summary. RECORDs are
//! counted, never decoded, so the client costs little next to what it measures. It works over any
//! byte stream (plain TCP, or a TLS stream the caller set up).
//!
//! There are no timeouts inside: callers wrap each call in `tokio::time::timeout`.

use boltgate_proto::chunk::{encode_message, ChunkCodec, ChunkError, Frame};
use boltgate_proto::handshake::{
    ClientHello, HandshakeError, ManifestChoice, ManifestOffer, Proposal, ServerReply,
};
use boltgate_proto::message::{
    sig, Begin, Hello, Logon, MessageError, PullDiscard, RawMessage, Request, Run, Summary,
};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// The versions the client speaks, in preference order.
pub const VERSIONS: &[Version] = &[
    Version::V5_8,
    Version::V5_7,
    Version::V5_6,
    Version::V5_4,
    Version::V5_3,
    Version::V5_2,
    Version::V5_1,
    Version::V5_0,
    Version::V4_4,
];

/// What the client sends as `user_agent` and `bolt_agent.product`.
pub const USER_AGENT: &str = "boltgate-testkit/0.1";

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("I/O error")]
    Io(#[from] std::io::Error),
    #[error("handshake")]
    Handshake(#[from] HandshakeError),
    #[error("the server refused every proposed Bolt version (4.4, 5.0–5.8)")]
    Refused,
    #[error("framing")]
    Chunk(#[from] ChunkError),
    #[error("bad message from the server")]
    Message(#[from] MessageError),
    #[error("the server closed the connection while the client waited for {waiting_for}")]
    Closed { waiting_for: &'static str },
    #[error("expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("{request} failed: {code}: {message}")]
    Failed {
        request: &'static str,
        code: String,
        message: String,
    },
}

/// Authentication sent in HELLO (≤ 5.0) or LOGON (5.1+).
#[derive(Clone, Default)]
pub enum Auth {
    #[default]
    None,
    Basic {
        user: String,
        password: String,
    },
}

impl Auth {
    fn write_into(&self, map: &mut Map) {
        match self {
            Auth::None => map.push("scheme", "none"),
            Auth::Basic { user, password } => {
                map.push("scheme", "basic");
                map.push("principal", user.as_str());
                map.push("credentials", password.as_str());
            }
        }
    }
}

/// What logs in on `version`: HELLO with `auth`, or (5.1+) HELLO then LOGON with it. The
/// tests' raw blocking client (tests/common/bolt.rs) sends the same.
pub fn login_requests(version: Version, auth: &Auth) -> Vec<Request> {
    let mut extra = Map::new();
    extra.push("user_agent", USER_AGENT);
    if version >= Version::V5_3 {
        let agent: Map = [("product", Value::from(USER_AGENT))].into_iter().collect();
        extra.push("bolt_agent", agent);
    }
    if version < Version::V5_1 {
        auth.write_into(&mut extra);
        return vec![Request::Hello(Hello { extra })];
    }
    let mut map = Map::new();
    auth.write_into(&mut map);
    vec![
        Request::Hello(Hello { extra }),
        Request::Logon(Logon { auth: map }),
    ]
}

/// How a query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The PULL finished with SUCCESS.
    Rows {
        records: u64,
        /// Bytes read from the stream while the query ran (chunk headers included).
        bytes: u64,
    },
    /// The RUN (or the PULL) got a FAILURE. Send [`Client::reset`] before the next query.
    Failure { code: String, message: String },
}

/// A connected, authenticated Bolt client.
pub struct Client<S> {
    io: S,
    rbuf: BytesMut,
    out: BytesMut,
    codec: ChunkCodec,
    version: Version,
    server: String,
    /// Send `mode: "r"` with every RUN (a routed proxy then places it on a reader).
    read_mode: bool,
}

impl Client<TcpStream> {
    /// TCP connect (with `TCP_NODELAY`), then [`Client::handshake`].
    pub async fn connect(addr: std::net::SocketAddr, auth: &Auth) -> Result<Self, ClientError> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Client::handshake(tcp, auth).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Version negotiation, then HELLO (and LOGON) on an already connected stream.
    pub async fn handshake(io: S, auth: &Auth) -> Result<Self, ClientError> {
        let mut client = Client {
            io,
            rbuf: BytesMut::with_capacity(64 * 1024),
            out: BytesMut::with_capacity(1024),
            codec: ChunkCodec::default(),
            version: Version::V5_8,
            server: String::new(),
            read_mode: false,
        };
        client.negotiate().await?;
        client.hello(auth).await?;
        Ok(client)
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The `server` of the HELLO SUCCESS (e.g. `"Neo4j/5.26.0"`).
    pub fn server_agent(&self) -> &str {
        &self.server
    }

    async fn fill(&mut self, waiting_for: &'static str) -> Result<usize, ClientError> {
        self.rbuf.reserve(64 * 1024);
        match self.io.read_buf(&mut self.rbuf).await? {
            0 => Err(ClientError::Closed { waiting_for }),
            n => Ok(n),
        }
    }

    async fn read_exact_buf(
        &mut self,
        n: usize,
        waiting_for: &'static str,
    ) -> Result<Bytes, ClientError> {
        while self.rbuf.len() < n {
            self.fill(waiting_for).await?;
        }
        Ok(self.rbuf.split_to(n).freeze())
    }

    async fn negotiate(&mut self) -> Result<(), ClientError> {
        let mut proposals = [Proposal::Empty; 4];
        proposals[0] = Proposal::Manifest { version: 1 };
        proposals[1] = Proposal::Range {
            major: 5,
            min_minor: 0,
            max_minor: 8,
        };
        proposals[2] = Proposal::exact(Version::V4_4);
        self.io
            .write_all(&ClientHello { proposals }.encode())
            .await?;
        let reply = self.read_exact_buf(4, "the handshake reply").await?;
        match ServerReply::parse([reply[0], reply[1], reply[2], reply[3]])? {
            ServerReply::Refused => Err(ClientError::Refused),
            ServerReply::Version(v) => {
                self.version = v;
                Ok(())
            }
            ServerReply::Manifest => {
                let offer = loop {
                    if let Some((offer, used)) = ManifestOffer::parse_after_marker(&self.rbuf)? {
                        let _ = self.rbuf.split_to(used);
                        break offer;
                    }
                    self.fill("the manifest offer").await?;
                };
                let Some(version) = offer.choose(VERSIONS) else {
                    self.io.write_all(&[0, 0, 0, 0]).await?;
                    return Err(ClientError::Refused);
                };
                let mut choice = BytesMut::new();
                ManifestChoice {
                    version,
                    capabilities: 0,
                }
                .encode(&mut choice);
                self.io.write_all(&choice).await?;
                self.version = version;
                Ok(())
            }
        }
    }

    fn queue(&mut self, request: &Request) -> Result<(), ClientError> {
        let raw = request.to_raw()?;
        encode_message(raw.as_bytes(), &mut self.out)?;
        Ok(())
    }

    async fn send(&mut self) -> Result<(), ClientError> {
        self.io.write_all(&self.out).await?;
        // A TLS stream may keep part of a write in its session until flushed.
        self.io.flush().await?;
        self.out.clear();
        Ok(())
    }

    /// The next whole message; NOOPs are skipped.
    async fn next_message(&mut self, waiting_for: &'static str) -> Result<Bytes, ClientError> {
        loop {
            match self.codec.decode(&mut self.rbuf)? {
                Some(Frame::Message(bytes)) => return Ok(bytes),
                Some(Frame::Noop) => continue,
                None => {
                    self.fill(waiting_for).await?;
                }
            }
        }
    }

    async fn summary(&mut self, request: &'static str) -> Result<Summary, ClientError> {
        let bytes = self.next_message("a summary").await?;
        let summary = RawMessage::new(bytes)?.summary()?;
        if let Summary::Failure { code, message } = summary {
            return Err(ClientError::Failed {
                request,
                code,
                message,
            });
        }
        Ok(summary)
    }

    async fn hello(&mut self, auth: &Auth) -> Result<(), ClientError> {
        for request in login_requests(self.version, auth) {
            self.queue(&request)?;
        }
        let logon = self.version >= Version::V5_1;
        self.send().await?;
        let bytes = self.next_message("the HELLO summary").await?;
        let raw = RawMessage::new(bytes)?;
        if let Summary::Failure { code, message } = raw.summary()? {
            return Err(ClientError::Failed {
                request: "HELLO",
                code,
                message,
            });
        }
        if let Ok(fields) = raw.decode_fields(&Default::default()) {
            if let Some(Value::Map(meta)) = fields.first() {
                self.server = meta.get_str("server").unwrap_or_default().to_owned();
            }
        }
        if logon {
            self.summary("LOGON").await?;
        }
        Ok(())
    }

    /// From now on, RUN in read mode (`mode: "r"`).
    pub fn set_read_mode(&mut self, read: bool) {
        self.read_mode = read;
    }

    /// RUN `query` (no parameters, auto-commit) and PULL everything, pipelined in one write.
    pub async fn run(&mut self, query: &str) -> Result<Outcome, ClientError> {
        let mut pull = Map::new();
        pull.push("n", -1);
        let mut extra = Map::new();
        if self.read_mode {
            extra.push("mode", "r");
        }
        self.queue(&Request::Run(Run {
            query: query.to_owned(),
            parameters: Map::new(),
            extra,
        }))?;
        self.queue(&Request::Pull(PullDiscard { extra: pull }))?;
        // Bytes already buffered belong to nothing (the previous call read to its summary), so
        // counting starts at what is buffered now.
        let start_buffered = self.rbuf.len() as u64;
        let mut read: u64 = 0;
        self.send().await?;

        let mut failure = None;
        let mut records: u64 = 0;
        // Two summaries: the RUN's, then the PULL's; RECORDs in between.
        let mut summaries = 0;
        while summaries < 2 {
            let bytes = loop {
                match self.codec.decode(&mut self.rbuf)? {
                    Some(Frame::Message(bytes)) => break bytes,
                    Some(Frame::Noop) => continue,
                    None => read += self.fill("a query's results").await? as u64,
                }
            };
            // A RECORD is `B1 71 …`: counted by its signature alone.
            if bytes.get(1) == Some(&sig::RECORD) {
                records += 1;
                continue;
            }
            match RawMessage::new(bytes)?.summary()? {
                Summary::Failure { code, message } => {
                    failure.get_or_insert(Outcome::Failure { code, message });
                }
                Summary::Success { .. } | Summary::Ignored => {}
                // A RECORD with a legacy STRUCT_8 header: rare, still a row.
                Summary::Record => {
                    records += 1;
                    continue;
                }
            }
            summaries += 1;
        }
        Ok(failure.unwrap_or(Outcome::Rows {
            records,
            bytes: (read + start_buffered).saturating_sub(self.rbuf.len() as u64),
        }))
    }

    /// BEGIN an explicit transaction; [`Client::run`] then runs in it until [`Client::commit`].
    pub async fn begin(&mut self) -> Result<(), ClientError> {
        self.queue(&Request::Begin(Begin { extra: Map::new() }))?;
        self.send().await?;
        self.summary("BEGIN").await.map(drop)
    }

    /// COMMIT the open transaction; its bookmark, if the server sent one.
    pub async fn commit(&mut self) -> Result<Option<String>, ClientError> {
        self.queue(&Request::Commit)?;
        self.send().await?;
        match self.summary("COMMIT").await? {
            Summary::Success { bookmark, .. } => Ok(bookmark),
            _ => Ok(None),
        }
    }

    /// RESET: back to READY after a FAILURE.
    pub async fn reset(&mut self) -> Result<(), ClientError> {
        self.queue(&Request::Reset)?;
        self.send().await?;
        match self.summary("RESET").await? {
            Summary::Success { .. } => Ok(()),
            Summary::Ignored => Err(ClientError::Unexpected {
                expected: "SUCCESS to RESET",
                got: "IGNORED",
            }),
            _ => Err(ClientError::Unexpected {
                expected: "SUCCESS to RESET",
                got: "RECORD",
            }),
        }
    }

    /// GOODBYE, then close the write side.
    pub async fn goodbye(mut self) -> Result<(), ClientError> {
        self.queue(&Request::Goodbye)?;
        self.send().await?;
        self.io.shutdown().await?;
        Ok(())
    }
}

//! What these tests stand on: FalkorDB on a free loopback port, boltgate in-process, a test PKI,
//! and a small Bolt client that speaks over raw TCP, TLS or WebSocket.
//!
//! FalkorDB and the PKI come from the shared harness (tests/common); what is here is what only
//! these tests need: boltgate in-process (on a kernel-chosen port, through
//! `boltgate_testkit::proxy`) and a Bolt client over any byte transport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boltgate_proto::chunk::{encode_message, ChunkCodec, Frame};
use boltgate_proto::message::{sig, RawMessage};
use boltgate_proto::packstream::{Limits, Map, Value};
use boltgate_testkit::proxy::RunningProxy;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::codec::Decoder;

use crate::common::TestPki;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Every network wait in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {WAIT:?}"))
}

// === FalkorDB and the PKI: the shared harness ===

pub use crate::common::FalkorDb;

/// The shared test PKI, with its server certificate (localhost, 127.0.0.1) laid out as the bolt
/// SSL policy expects under `home()`: `certificates/bolt/{public.crt,private.key,trusted,revoked}`.
pub struct Pki {
    pki: TestPki,
    /// The server's leaf certificate alone (what a browser pins by its key).
    pub cert_path: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = TestPki::new();
        pki.write_policy_dir(&pki.dir().join("certificates/bolt"), &pki.server);
        let cert_path = pki.server.cert_path.clone();
        Pki { pki, cert_path }
    }

    pub fn home(&self) -> &Path {
        self.pki.dir()
    }

    /// A TLS client that trusts only this CA.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.pki.client_config())
    }
}

// === boltgate ===

/// boltgate serving in this test's runtime on a free loopback port.
pub struct Gateway {
    pub addr: SocketAddr,
    proxy: RunningProxy,
}

impl Gateway {
    /// `settings` are `key=value` overrides on top of the embedded default configuration.
    pub async fn start(upstream_port: u16, pki: Option<&Pki>, settings: &[&str]) -> Gateway {
        let mut overrides = vec![
            "server.bolt.listen_address=127.0.0.1:7687".to_string(),
            format!("boltgate.upstream.uri=bolt://127.0.0.1:{upstream_port}"),
            "boltgate.client.handshake_timeout=5s".to_string(),
            // The upstream here is FalkorDB, which serves no connection after one that ended with
            // GOODBYE (README, "GOODBYE"); these tests are about the transport, not GOODBYE.
            "boltgate.upstream.forward_goodbye=false".to_string(),
        ];
        if let Some(pki) = pki {
            overrides.extend([
                format!("server.directories.neo4j_home={}", pki.home().display()),
                "dbms.ssl.policy.bolt.enabled=true".to_string(),
                "dbms.ssl.policy.bolt.client_auth=NONE".to_string(),
            ]);
            if !settings
                .iter()
                .any(|s| s.starts_with("server.bolt.tls_level="))
            {
                overrides.push("server.bolt.tls_level=OPTIONAL".to_string());
            }
        }
        overrides.extend(settings.iter().map(|s| s.to_string()));
        let mut config = boltgate::config::Config::from_text(
            "",
            "test",
            &overrides,
            boltgate::config::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("test configuration: {e}"));
        // The configuration refuses port 0; a test wants exactly that (any free port).
        config.bolt.listen_address.port = 0;
        let proxy = RunningProxy::serve(&config)
            .await
            .unwrap_or_else(|e| panic!("bind boltgate: {e}"));
        Gateway {
            addr: proxy.addr(),
            proxy,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.proxy.close_now();
    }
}

// === a byte transport: TCP, TLS or WebSocket ===

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub enum Conn {
    Raw(Box<dyn Io>),
    Ws(Box<WebSocketStream<Box<dyn Io>>>),
}

impl Conn {
    pub async fn tcp(addr: SocketAddr) -> Box<dyn Io> {
        Box::new(within("connect", TcpStream::connect(addr)).await.unwrap())
    }

    pub async fn tls(addr: SocketAddr, pki: &Pki) -> Box<dyn Io> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        Box::new(
            within("TLS handshake", pki.connector().connect(name, tcp))
                .await
                .unwrap(),
        )
    }

    /// A WebSocket client over `io`, sending `origin` when given (as a browser does).
    pub async fn ws(io: Box<dyn Io>, url: &str, origin: Option<&str>) -> Result<Conn, Error> {
        let mut request = url.into_client_request()?;
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse()?);
        }
        let (ws, _response) = within(
            "WebSocket upgrade",
            tokio_tungstenite::client_async(request, io),
        )
        .await?;
        Ok(Conn::Ws(Box::new(ws)))
    }

    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Conn::Raw(io) => {
                io.write_all(bytes).await?;
                io.flush().await?;
            }
            Conn::Ws(ws) => ws.send(Message::Binary(bytes.to_vec().into())).await?,
        }
        Ok(())
    }

    /// Appends what arrives next to `buf`; false at the end of the stream.
    pub async fn recv(&mut self, buf: &mut BytesMut) -> Result<bool, Error> {
        match self {
            Conn::Raw(io) => Ok(within("read", io.read_buf(buf)).await? > 0),
            Conn::Ws(ws) => loop {
                match within("read a frame", ws.next()).await {
                    None | Some(Ok(Message::Close(_))) => return Ok(false),
                    Some(Ok(Message::Binary(b))) => {
                        buf.extend_from_slice(&b);
                        return Ok(true);
                    }
                    Some(Ok(Message::Text(t))) => return Err(format!("text frame: {t}").into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        }
    }
}

// === a minimal Bolt client ===

/// One Bolt connection: handshake, HELLO (+LOGON), RUN/PULL.
pub struct Bolt {
    pub conn: Conn,
    buf: BytesMut,
    codec: ChunkCodec,
    pub version: (u8, u8),
}

/// The preamble, then 5.0–5.8 and 4.4.
const HANDSHAKE: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0, 8, 8, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0,
];

impl Bolt {
    pub async fn connect(mut conn: Conn) -> Result<Bolt, Error> {
        conn.send(&HANDSHAKE).await?;
        let mut buf = BytesMut::new();
        while buf.len() < 4 {
            if !conn.recv(&mut buf).await? {
                return Err("closed during the Bolt handshake".into());
            }
        }
        let reply = buf.split_to(4);
        if reply[..] == [0, 0, 0, 0] {
            return Err("no common Bolt version".into());
        }
        let mut bolt = Bolt {
            conn,
            buf,
            codec: ChunkCodec::new(16 << 20),
            version: (reply[3], reply[2]),
        };
        let mut hello: Map = [("user_agent", Value::from("boltgate-test/1"))]
            .into_iter()
            .collect();
        let logon = bolt.version >= (5, 1);
        if !logon {
            hello.insert("scheme", "none");
        }
        if bolt.version >= (5, 3) {
            let agent: Map = [("product", "boltgate-test/1")].into_iter().collect();
            hello.insert("bolt_agent", agent);
        }
        bolt.request(sig::HELLO, vec![hello.into()]).await?;
        if logon {
            let auth: Map = [("scheme", "none")].into_iter().collect();
            bolt.request(sig::LOGON, vec![auth.into()]).await?;
        }
        Ok(bolt)
    }

    async fn send(&mut self, signature: u8, fields: Vec<Value>) -> Result<(), Error> {
        let raw = RawMessage::from_fields(signature, &fields)?;
        let mut out = BytesMut::new();
        encode_message(raw.as_bytes(), &mut out)?;
        self.conn.send(&out).await
    }

    async fn receive(&mut self) -> Result<RawMessage, Error> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                if let Frame::Message(bytes) = frame {
                    return Ok(RawMessage::new(bytes)?);
                }
                continue;
            }
            if !self.conn.recv(&mut self.buf).await? {
                return Err("connection closed".into());
            }
        }
    }

    /// Sends a request and reads its summary; a FAILURE becomes an error.
    async fn request(&mut self, signature: u8, fields: Vec<Value>) -> Result<Map, Error> {
        self.send(signature, fields).await?;
        let reply = self.receive().await?;
        summary(reply)
    }

    /// Runs a query in the auto-commit transaction and returns each record's fields.
    pub async fn query(&mut self, graph: &str, cypher: &str) -> Result<Vec<Vec<Value>>, Error> {
        let extra: Map = [("db", graph)].into_iter().collect();
        self.request(
            sig::RUN,
            vec![cypher.into(), Map::new().into(), extra.into()],
        )
        .await?;
        let pull: Map = [("n", Value::Integer(-1))].into_iter().collect();
        self.send(sig::PULL, vec![pull.into()]).await?;
        let mut records = Vec::new();
        loop {
            let message = self.receive().await?;
            if message.signature() == sig::RECORD {
                let fields = message.decode_fields(&Limits::default())?;
                match fields.into_iter().next() {
                    Some(Value::List(values)) => records.push(values),
                    other => return Err(format!("odd RECORD: {other:?}").into()),
                }
                continue;
            }
            summary(message)?;
            return Ok(records);
        }
    }

    /// Sends GOODBYE and expects the connection to close.
    pub async fn goodbye(mut self) -> Result<(), Error> {
        self.send(sig::GOODBYE, vec![]).await?;
        let mut rest = BytesMut::new();
        while self.conn.recv(&mut rest).await? {}
        Ok(())
    }
}

fn summary(message: RawMessage) -> Result<Map, Error> {
    let mut fields = message.decode_fields(&Limits::default())?;
    let meta = match fields.pop() {
        Some(Value::Map(m)) => m,
        _ => Map::new(),
    };
    match message.signature() {
        sig::SUCCESS => Ok(meta),
        sig::FAILURE => Err(format!(
            "FAILURE {}: {}",
            meta.get_str("code").unwrap_or("?"),
            meta.get_str("message").unwrap_or("?")
        )
        .into()),
        other => Err(format!("unexpected message 0x{other:02X}").into()),
    }
}

/// `RETURN 1 + 1 AS two` through `bolt`: the integer it returns.
pub async fn one_plus_one(bolt: &mut Bolt) -> i64 {
    let records = within("query", bolt.query("boltgate_ws", "RETURN 1 + 1 AS two"))
        .await
        .expect("query");
    assert_eq!(records.len(), 1, "{records:?}");
    records[0][0].as_int().expect("an integer")
}

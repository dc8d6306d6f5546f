//! A raw, blocking Bolt client for tests that must send what no driver sends (garbage, partial
//! chunks, oversized messages) or watch the exact bytes and the close that come back.
//! Built on `boltgate-proto`, so it frames and decodes like the proxy does. Blocking and raw
//! where `boltgate_testkit::client` is async and well-behaved; it logs in with the same
//! requests ([`boltgate_testkit::client::login_requests`]).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{RawMessage, Request, Response, Run};
use boltgate_proto::packstream::{Map, Value};
use boltgate_proto::Version;
use boltgate_testkit::client::Auth;
use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

/// Proposals for Bolt 5.7–5.0 and 4.4, as a 20-byte hello (preamble included).
pub const HELLO_5_AND_4_4: [u8; 20] = [
    0x60, 0x60, 0xB0, 0x17, 0, 7, 7, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// What reading from the peer ended with.
#[derive(Debug, PartialEq)]
pub enum Got {
    Message(Response),
    /// The peer closed the connection (EOF or reset).
    Closed,
    /// Nothing arrived within the timeout.
    Timeout,
}

pub struct RawBolt {
    pub stream: TcpStream,
    buf: BytesMut,
    codec: ChunkCodec,
    pub version: Option<Version>,
}

impl RawBolt {
    pub fn connect(addr: SocketAddr) -> RawBolt {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        stream.set_nodelay(true).ok();
        RawBolt {
            stream,
            buf: BytesMut::new(),
            codec: ChunkCodec::new(64 * 1024 * 1024),
            version: None,
        }
    }

    /// Gives back bytes a test read from `stream` itself, so [`RawBolt::recv`] decodes them
    /// before anything read later.
    pub fn unread(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends `hello` and reads the 4-byte answer; `None` if the peer closed instead.
    pub fn handshake(&mut self, hello: &[u8; 20]) -> Option<[u8; 4]> {
        self.send_raw(hello);
        let mut reply = [0u8; 4];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        match self.stream.read_exact(&mut reply) {
            Ok(()) => {
                if reply[0..2] == [0, 0] && reply[3] != 0 {
                    self.version = Some(Version::new(reply[3], reply[2]));
                }
                Some(reply)
            }
            Err(_) => None,
        }
    }

    /// Handshake, then HELLO (and LOGON on 5.1+) with no auth; panics unless both succeed.
    pub fn login(&mut self, hello: &[u8; 20]) -> Version {
        self.try_login(hello).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`RawBolt::login`], returning what went wrong instead of panicking, so a test can
    /// add the proxy's log to the message.
    pub fn try_login(&mut self, hello: &[u8; 20]) -> Result<Version, String> {
        self.try_login_hello(hello).map(|(version, _)| version)
    }

    /// As [`RawBolt::try_login`], with the HELLO SUCCESS's metadata (`connection_id`, ...).
    pub fn try_login_hello(&mut self, hello: &[u8; 20]) -> Result<(Version, Map), String> {
        let reply = self.handshake(hello).ok_or("handshake not answered")?;
        let version = self.version.ok_or(format!("refused: {reply:02x?}"))?;
        let requests = boltgate_testkit::client::login_requests(version, &Auth::None);
        for request in &requests {
            self.send(request);
        }
        let mut hello_metadata = None;
        for _ in 0..requests.len() {
            match self.recv(Duration::from_secs(15)) {
                Got::Message(Response::Success(s)) => {
                    hello_metadata.get_or_insert(s.metadata);
                }
                other => return Err(format!("login failed: {other:?}")),
            }
        }
        Ok((version, hello_metadata.unwrap_or_default()))
    }

    pub fn send(&mut self, request: &Request) {
        let raw = request.to_raw().expect("encode request");
        let mut out = BytesMut::new();
        self.codec
            .encode(Frame::Message(raw.into_bytes()), &mut out)
            .expect("chunk");
        self.send_raw(&out);
    }

    pub fn run(&mut self, query: &str) {
        self.send(&Request::Run(Run {
            query: query.to_string(),
            parameters: Map::new(),
            extra: Map::new(),
        }));
    }

    /// RUN and PULL {n: -1} in one write, as drivers pipeline them. (FalkorDB streams the
    /// result of a RUN inside a transaction without waiting for the PULL; with both sent at
    /// once, its answers still line up with the requests.)
    pub fn run_and_pull(&mut self, query: &str) {
        let mut extra = Map::new();
        extra.push("n", Value::Integer(-1));
        let mut out = BytesMut::new();
        for request in [
            Request::Run(Run {
                query: query.to_string(),
                parameters: Map::new(),
                extra: Map::new(),
            }),
            Request::Pull(boltgate_proto::message::PullDiscard { extra }),
        ] {
            let raw = request.to_raw().expect("encode request");
            self.codec
                .encode(Frame::Message(raw.into_bytes()), &mut out)
                .expect("chunk");
        }
        self.send_raw(&out);
    }

    pub fn pull_all(&mut self) {
        let mut extra = Map::new();
        extra.push("n", Value::Integer(-1));
        self.send(&Request::Pull(boltgate_proto::message::PullDiscard {
            extra,
        }));
    }

    /// The next message (NOOPs skipped), a close, or a timeout.
    pub fn recv(&mut self, timeout: Duration) -> Got {
        let deadline = Instant::now() + timeout;
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(Frame::Message(m))) => {
                    let raw = RawMessage::new(m).expect("a Bolt message");
                    let version = self.version.unwrap_or(Version::V5_0);
                    return Got::Message(Response::decode(version, &raw).expect("decodes"));
                }
                Ok(Some(Frame::Noop)) => continue,
                Ok(None) => {}
                Err(e) => panic!("bad framing from the peer: {e}"),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Timeout;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Got::Timeout
                }
                Err(_) => return Got::Closed,
            }
        }
    }

    /// Reads until the peer closes, returning what arrived first; panics on timeout.
    pub fn until_closed(&mut self, timeout: Duration) -> Vec<Response> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            match self.recv(deadline.saturating_duration_since(Instant::now())) {
                Got::Message(m) => got.push(m),
                Got::Closed => return got,
                Got::Timeout => panic!("peer did not close within {timeout:?}; got {got:?}"),
            }
        }
    }

    /// Whether the peer closes within `timeout` without sending a single byte.
    pub fn closes_silently(&mut self, timeout: Duration) -> bool {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let mut b = [0u8; 64];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }

    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// The FAILURE's code (`code` or `neo4j_code`) and message, if `r` is one.
pub fn failure_of(r: &Response) -> Option<(String, String)> {
    match r {
        Response::Failure(f) => Some((
            f.code().unwrap_or_default().to_string(),
            f.metadata
                .get_str("message")
                .unwrap_or_default()
                .to_string(),
        )),
        _ => None,
    }
}

/// RUN "RETURN $x AS x" with `x` nested `depth` lists deep around a 1, chunked, hand-encoded
/// (an encoder would recurse 10,000 deep).
pub fn nested_run(depth: usize) -> Vec<u8> {
    let q = b"RETURN $x AS x";
    let mut msg = vec![0xB3, 0x10, 0x80 | q.len() as u8];
    msg.extend_from_slice(q);
    msg.extend_from_slice(&[0xA1, 0x81, b'x']);
    msg.extend(std::iter::repeat_n(0x91u8, depth));
    msg.extend_from_slice(&[0x01, 0xA0]);
    let mut framed = Vec::new();
    for chunk in msg.chunks(0xFFFF) {
        framed.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        framed.extend_from_slice(chunk);
    }
    framed.extend_from_slice(&[0, 0]);
    framed
}

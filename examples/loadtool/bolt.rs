//! The load tool's own Bolt client: chunk headers and message signatures are scanned in place,
//! nothing is decoded, so the client costs as little as possible next to what it measures and
//! can time the first RECORD of a stream (the testkit client hands back whole results only).
//!
//! It proposes 5.0–5.8 and 4.4 (no manifest: every scenario forwards the same bytes), sends
//! HELLO then LOGON (5.1+), and runs a query as RUN + `PULL {n: -1}` in one write.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use boltgate_proto::chunk::encode_message;
use boltgate_proto::handshake::{ClientHello, Proposal, ServerReply};
use boltgate_proto::message::{sig, Hello, Logon, PullDiscard, Request, Run};
use boltgate_proto::packstream::Map;
use boltgate_proto::Version;
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use crate::BoxError;

type Io = Either<TcpStream, TlsStream<TcpStream>>;

/// Bound on one connect + handshake + HELLO/LOGON.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a connection goes.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub tls: Option<TlsConnector>,
}

/// What one RUN + PULL brought.
#[derive(Debug, Clone, Copy)]
pub struct RunResult {
    pub records: u64,
    /// Bytes read from the socket (after TLS) until the PULL's summary.
    pub bytes: u64,
    /// From the write of RUN + PULL to the read that completed the first RECORD.
    pub first_record: Option<Duration>,
}

pub struct Conn {
    io: Io,
    buf: BytesMut,
    scan: Scanner,
    version: Version,
}

/// Where the scan is in the chunked stream; kept across reads.
#[derive(Default)]
struct Scanner {
    /// A chunk header's first byte, when a read ended between its two.
    half_header: Option<u8>,
    /// Bytes of the current chunk still to come.
    left: usize,
    /// Bytes of the current message seen so far.
    at: usize,
    signature: u8,
}

impl Scanner {
    /// Scans `data`; calls `on_message` with each completed message's signature.
    fn feed(&mut self, mut data: &[u8], mut on_message: impl FnMut(u8)) {
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len());
                // The signature is the message's second byte (after the struct marker).
                if self.at <= 1 && self.at + n > 1 {
                    self.signature = data[1 - self.at];
                }
                self.at += n;
                self.left -= n;
                data = &data[n..];
                continue;
            }
            let len = match self.half_header.take() {
                Some(hi) => {
                    let len = usize::from(u16::from_be_bytes([hi, data[0]]));
                    data = &data[1..];
                    len
                }
                None if data.len() == 1 => {
                    self.half_header = Some(data[0]);
                    return;
                }
                None => {
                    let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
                    data = &data[2..];
                    len
                }
            };
            if len == 0 {
                // 00 00 ends a message (or is a NOOP between messages).
                if self.at > 0 {
                    on_message(self.signature);
                }
                self.at = 0;
            } else {
                self.left = len;
            }
        }
    }
}

impl Conn {
    /// TCP (and TLS) connect, version negotiation, HELLO and LOGON.
    pub async fn open(endpoint: &Endpoint) -> Result<Conn, BoxError> {
        timeout(CONNECT_TIMEOUT, Conn::open_inner(endpoint))
            .await
            .map_err(|_| format!("connecting to {} timed out", endpoint.addr))?
    }

    async fn open_inner(endpoint: &Endpoint) -> Result<Conn, BoxError> {
        let tcp = TcpStream::connect(endpoint.addr).await?;
        tcp.set_nodelay(true)?;
        // Closed with a reset: the connect-rate loop would otherwise fill the port range with
        // TIME_WAIT sockets.
        socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO))?;
        let io = match &endpoint.tls {
            None => Either::Left(tcp),
            Some(connector) => Either::Right(
                connector
                    .connect(ServerName::try_from("localhost")?, tcp)
                    .await?,
            ),
        };
        let mut conn = Conn {
            io,
            buf: BytesMut::with_capacity(256 * 1024),
            scan: Scanner::default(),
            version: Version::V5_8,
        };
        conn.negotiate().await?;
        let mut extra = Map::new();
        extra.push("user_agent", "boltgate-loadtool/0.1");
        let logon = conn.version >= Version::V5_1;
        if !logon {
            extra.push("scheme", "none");
        }
        conn.send(&[Request::Hello(Hello { extra })]).await?;
        conn.summaries(1, "HELLO").await?;
        if logon {
            let mut auth = Map::new();
            auth.push("scheme", "none");
            conn.send(&[Request::Logon(Logon { auth })]).await?;
            conn.summaries(1, "LOGON").await?;
        }
        Ok(conn)
    }

    async fn negotiate(&mut self) -> Result<(), BoxError> {
        let mut proposals = [Proposal::Empty; 4];
        proposals[0] = Proposal::Range {
            major: 5,
            min_minor: 0,
            max_minor: 8,
        };
        proposals[1] = Proposal::exact(Version::V4_4);
        self.io
            .write_all(&ClientHello { proposals }.encode())
            .await?;
        self.io.flush().await?;
        let mut reply = [0u8; 4];
        self.io.read_exact(&mut reply).await?;
        match ServerReply::parse(reply)? {
            ServerReply::Version(v) => {
                self.version = v;
                Ok(())
            }
            other => Err(format!("handshake: unexpected reply {other:?}").into()),
        }
    }

    async fn send(&mut self, requests: &[Request]) -> Result<(), BoxError> {
        let mut out = BytesMut::new();
        for request in requests {
            encode_message(request.to_raw()?.as_bytes(), &mut out)?;
        }
        self.io.write_all(&out).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Reads until `n` summaries arrived; RECORDs are counted. Fails on FAILURE or IGNORED.
    async fn summaries(
        &mut self,
        n: usize,
        what: &str,
    ) -> Result<(u64, u64, Option<Instant>), BoxError> {
        let (mut seen, mut records, mut bytes, mut first) = (0, 0u64, 0u64, None);
        let mut bad = None;
        while seen < n {
            self.buf.clear();
            let read = self.io.read_buf(&mut self.buf).await?;
            if read == 0 {
                return Err(format!("{what}: the server closed the connection").into());
            }
            bytes += read as u64;
            self.scan.feed(&self.buf, |signature| match signature {
                sig::RECORD => records += 1,
                sig::SUCCESS => seen += 1,
                other => {
                    seen += 1;
                    bad = Some(other);
                }
            });
            if records > 0 && first.is_none() {
                first = Some(Instant::now());
            }
        }
        if let Some(signature) = bad {
            return Err(format!(
                "{what}: the server answered with signature {signature:#04x} (FAILURE or IGNORED)"
            )
            .into());
        }
        Ok((records, bytes, first))
    }

    /// RUN `query` and PULL everything.
    pub async fn run(&mut self, query: &str) -> Result<RunResult, BoxError> {
        let mut pull = Map::new();
        pull.push("n", -1);
        let run = Request::Run(Run {
            query: query.to_owned(),
            parameters: Map::new(),
            extra: Map::new(),
        });
        let start = Instant::now();
        self.send(&[run, Request::Pull(PullDiscard { extra: pull })])
            .await?;
        let (records, bytes, first) = self.summaries(2, query).await?;
        Ok(RunResult {
            records,
            bytes,
            first_record: first.map(|t| t - start),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Scanner;

    #[test]
    fn scanner_finds_signatures_across_any_split() {
        // SUCCESS {}, RECORD [1] in two chunks, a NOOP, SUCCESS {}.
        let stream: &[u8] = &[
            0, 3, 0xB1, 0x70, 0xA0, 0, 0, //
            0, 1, 0xB1, 0, 2, 0x71, 0x91, 0, 1, 0x01, 0, 0, //
            0, 0, //
            0, 3, 0xB1, 0x70, 0xA0, 0, 0,
        ];
        for split in 0..stream.len() {
            let mut scan = Scanner::default();
            let mut seen = Vec::new();
            scan.feed(&stream[..split], |s| seen.push(s));
            scan.feed(&stream[split..], |s| seen.push(s));
            assert_eq!(seen, vec![0x70, 0x71, 0x70], "split at {split}");
        }
    }
}

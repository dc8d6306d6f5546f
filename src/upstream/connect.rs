//! Dialing the upstream server: TCP, then TLS when the URI asks for it, then the Bolt handshake.
//!
//! Every error says which side failed and whether trying again may help, because the session
//! turns it into the FAILURE a client's driver decides to retry on.

use std::time::Duration;

use boltgate_proto::handshake::{
    encode_proposals, ManifestChoice, ManifestOffer, ServerReply, PREAMBLE,
};
use boltgate_proto::Version;
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::uri::{Target, TlsMode};
use crate::listener::stream::Stream;
use crate::tls;

#[derive(Debug, Error)]
pub enum UpstreamError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {addr} timed out after {timeout:?}")]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Bolt handshake with {addr} failed: {problem}")]
    Handshake { addr: String, problem: String },
    #[error("{addr} speaks none of the Bolt versions the client proposed ({proposed})")]
    NoCommonVersion { addr: String, proposed: String },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
}

impl UpstreamError {
    /// Whether the upstream refused the client's versions, as opposed to being unreachable: the
    /// client then gets a handshake refusal, as it would from the server itself.
    pub fn is_version_refusal(&self) -> bool {
        matches!(self, UpstreamError::NoCommonVersion { .. })
    }
}

/// How to reach the one upstream server, built once at start.
pub struct Upstream {
    pub target: Target,
    /// Replaced by a TLS reload ([`Upstream::reload_tls`]); each dial clones the current one.
    tls: std::sync::RwLock<Option<(tokio_rustls::TlsConnector, ServerName<'static>)>>,
    connect_timeout: Duration,
    /// Keepalive and user timeout for every upstream socket ([`Upstream::with_tcp`]).
    tcp: super::tcp::TcpTuning,
    /// Set only by the in-memory test harness ([`Upstream::with_memory_dialer`]).
    memory: Option<MemoryDialer>,
}

/// Makes an in-memory connection to a member by address instead of dialing it (None: refused).
/// Only the fuzzers and their replays use it, to run routed sessions against a fake cluster.
pub type MemoryDialer =
    std::sync::Arc<dyn Fn(&str) -> Option<tokio::io::DuplexStream> + Send + Sync>;

impl Upstream {
    /// `cluster` is the loaded cluster policy when `dbms.ssl.policy.cluster.enabled=true`: it then
    /// decides the upstream TLS whatever the URI says. Neo4j's cluster policy means "encrypt
    /// traffic between servers", so a plain `bolt://` URI is dialled with TLS too, and `+ssc`'s
    /// accept-anything is replaced by the policy's verification.
    pub fn new(
        target: Target,
        connect_timeout: Duration,
        cluster: Option<&tls::TlsPolicy>,
    ) -> Result<Self, tls::TlsError> {
        Upstream::with_ocsp(target, connect_timeout, cluster, false)
    }

    /// [`Upstream::new`]; `ocsp_required` is `boltgate.upstream.ocsp_required`.
    pub fn with_ocsp(
        target: Target,
        connect_timeout: Duration,
        cluster: Option<&tls::TlsPolicy>,
        ocsp_required: bool,
    ) -> Result<Self, tls::TlsError> {
        let tls = tls_for(&target, cluster, ocsp_required)?;
        Ok(Upstream {
            target,
            tls: std::sync::RwLock::new(tls),
            connect_timeout,
            tcp: super::tcp::TcpTuning::default(),
            memory: None,
        })
    }

    /// Every dial goes to `dialer` instead of the network (the routed session fuzzer).
    pub fn with_memory_dialer(mut self, dialer: MemoryDialer) -> Self {
        self.memory = Some(dialer);
        self
    }

    /// Upstream sockets get `tcp` (`boltgate.upstream.tcp_keepalive`, `tcp_user_timeout`), so a
    /// server that vanishes without a RST is noticed within a bounded time.
    pub fn with_tcp(mut self, tcp: super::tcp::TcpTuning) -> Self {
        self.tcp = tcp;
        self
    }

    /// New connections use `cluster` (or the URI's TLS) from now on; open ones keep theirs.
    pub fn reload_tls(
        &self,
        cluster: Option<&tls::TlsPolicy>,
        ocsp_required: bool,
    ) -> Result<(), tls::TlsError> {
        let tls = tls_for(&self.target, cluster, ocsp_required)?;
        *self.tls.write().unwrap_or_else(|e| e.into_inner()) = tls;
        Ok(())
    }

    fn current_tls(&self) -> Option<(tokio_rustls::TlsConnector, ServerName<'static>)> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether upstream connections use TLS.
    pub fn uses_tls(&self) -> bool {
        self.current_tls().is_some()
    }

    /// Dial and negotiate: the upstream is offered exactly `candidates` (the versions both the
    /// client and boltgate speak, in the client's order). Returns the stream, the version
    /// agreed and any bytes read past the handshake.
    pub async fn connect(
        &self,
        candidates: &[Version],
        manifest: bool,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        let name = self.current_tls().map(|(_, n)| n);
        self.dial(&self.target.address(), name, candidates, manifest)
            .await
    }

    /// The Bolt handshake over `stream`, a connection to the upstream made by the caller (an
    /// in-memory pipe in the session fuzzer): [`Upstream::connect`] without the dialing or TLS.
    pub async fn connect_over(
        &self,
        stream: Stream,
        candidates: &[Version],
        manifest: bool,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        self.negotiate(stream, &self.target.address(), candidates, manifest)
            .await
    }

    /// Dial a cluster member by its `host:port` (as a routing table or the static member list
    /// names it), with the same TLS settings as the URI; its certificate is checked against its
    /// own host name.
    pub async fn connect_to(
        &self,
        address: &str,
        candidates: &[Version],
        manifest: bool,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        let name = match self.current_tls() {
            None => None,
            Some(_) => {
                let host = super::members::split_address(address)
                    .map(|(h, _)| h)
                    .unwrap_or_else(|| address.to_string());
                Some(
                    ServerName::try_from(host.clone()).map_err(|e| UpstreamError::Handshake {
                        addr: address.to_string(),
                        problem: format!("`{host}` is not a valid TLS server name: {e}"),
                    })?,
                )
            }
        };
        self.dial(address, name, candidates, manifest).await
    }

    async fn dial(
        &self,
        addr: &str,
        name: Option<ServerName<'static>>,
        candidates: &[Version],
        manifest: bool,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        let addr = addr.to_string();
        if let Some(dial) = &self.memory {
            let Some(io) = dial(&addr) else {
                return Err(UpstreamError::Connect {
                    addr,
                    source: std::io::ErrorKind::ConnectionRefused.into(),
                });
            };
            return self
                .negotiate(Stream::Memory(io), &addr, candidates, manifest)
                .await;
        }
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| UpstreamError::ConnectTimeout {
                addr: addr.clone(),
                timeout: self.connect_timeout,
            })?
            .map_err(|source| UpstreamError::Connect {
                addr: addr.clone(),
                source,
            })?;
        // Bolt is request/response with small messages: Nagle would add up to 40 ms a turn.
        let _ = tcp.set_nodelay(true);
        self.tcp.apply(&tcp, "upstream");
        let stream = match (self.current_tls(), name) {
            (Some((connector, _)), Some(name)) => {
                let tls = tokio::time::timeout(self.connect_timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| UpstreamError::ConnectTimeout {
                        addr: addr.clone(),
                        timeout: self.connect_timeout,
                    })?
                    .map_err(|source| UpstreamError::Tls {
                        addr: addr.clone(),
                        source,
                    })?;
                Stream::ClientTls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        self.negotiate(stream, &addr, candidates, manifest).await
    }

    /// The Bolt handshake on a connected stream, bounded by the connect timeout.
    async fn negotiate(
        &self,
        mut stream: Stream,
        addr: &str,
        candidates: &[Version],
        manifest: bool,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        let (version, rest) = tokio::time::timeout(
            self.connect_timeout,
            handshake(&mut stream, addr, candidates, manifest),
        )
        .await
        .map_err(|_| UpstreamError::Handshake {
            addr: addr.to_string(),
            problem: format!("no answer within {:?}", self.connect_timeout),
        })??;
        Ok((stream, version, rest))
    }

    /// The connect timeout, which also bounds boltgate's own exchanges with members (routing
    /// table fetches, HELLO replays).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

/// The upstream TLS connector for `target`: the cluster policy when enabled, else the URI's.
/// `cluster` is the loaded cluster policy when `dbms.ssl.policy.cluster.enabled=true`.
fn tls_for(
    target: &Target,
    cluster: Option<&tls::TlsPolicy>,
    ocsp_required: bool,
) -> Result<Option<(tokio_rustls::TlsConnector, ServerName<'static>)>, tls::TlsError> {
    let config = match (cluster, target.tls) {
        (Some(policy), mode) => {
            let why = match mode {
                TlsMode::Plain => {
                    "the URI is bolt:// (plaintext), but the cluster policy \
                                       encrypts traffic between servers: TLS is used"
                }
                TlsMode::SelfSigned => {
                    "the URI's +ssc is overridden: the certificate is \
                                            verified against the cluster policy's trusted_dir"
                }
                TlsMode::Verified => {
                    "the URI's +s is served by the cluster policy's \
                                          trusted_dir instead of the system roots"
                }
            };
            tracing::info!(
                upstream = %target.address(),
                verify_hostname = policy.config.verify_hostname,
                "upstream TLS: dbms.ssl.policy.cluster (mutual TLS); {why}"
            );
            Some(policy.client_config_ocsp(ocsp_required)?)
        }
        (None, TlsMode::Plain) => None,
        (None, TlsMode::Verified) => Some(tls::client::verified_ocsp(ocsp_required)),
        (None, TlsMode::SelfSigned) => {
            tracing::warn!(
                upstream = %target.address(),
                "bolt+ssc: the upstream's certificate is not verified; traffic is \
                 encrypted but not protected from an active man in the middle"
            );
            Some(tls::client::any_certificate_ocsp(ocsp_required))
        }
    };
    let tls = match config {
        None => None,
        Some(config) => {
            let name = ServerName::try_from(target.server_name().to_string()).map_err(|e| {
                tls::TlsError::Setting {
                    setting: "boltgate.upstream.uri".into(),
                    problem: format!("`{}` is not a valid TLS server name: {e}", target.host),
                }
            })?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
    };
    Ok(tls)
}

async fn handshake(
    stream: &mut Stream,
    addr: &str,
    candidates: &[Version],
    manifest: bool,
) -> Result<(Version, BytesMut), UpstreamError> {
    let handshake_err = |problem: String| UpstreamError::Handshake {
        addr: addr.to_string(),
        problem,
    };
    let io_err = |e: std::io::Error| handshake_err(e.to_string());
    let proposals = encode_proposals(candidates, manifest);
    let mut hello = Vec::with_capacity(20);
    hello.extend_from_slice(&PREAMBLE);
    for p in &proposals {
        hello.extend_from_slice(&p.to_bytes());
    }
    stream.write_all(&hello).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let mut buf = BytesMut::with_capacity(64);
    while buf.len() < 4 {
        if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
            return Err(UpstreamError::Closed {
                addr: addr.to_string(),
            });
        }
    }
    let reply: [u8; 4] = buf[..4].try_into().expect("four bytes were read");
    let _ = buf.split_to(4);
    let refused = || UpstreamError::NoCommonVersion {
        addr: addr.to_string(),
        proposed: candidates
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    match ServerReply::parse(reply).map_err(|e| handshake_err(e.to_string()))? {
        ServerReply::Refused => Err(refused()),
        ServerReply::Version(v) if candidates.contains(&v) => Ok((v, buf)),
        ServerReply::Version(v) => Err(handshake_err(format!(
            "the server chose {v}, which boltgate did not offer"
        ))),
        ServerReply::Manifest => {
            let offer = loop {
                if let Some((offer, used)) = ManifestOffer::parse_after_marker(&buf)
                    .map_err(|e| handshake_err(e.to_string()))?
                {
                    let _ = buf.split_to(used);
                    break offer;
                }
                if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
                    return Err(UpstreamError::Closed {
                        addr: addr.to_string(),
                    });
                }
            };
            let Some(version) = offer.choose(candidates) else {
                // Tell the server nothing was acceptable, as the manifest protocol asks.
                let _ = stream.write_all(&[0, 0, 0, 0, 0]).await;
                return Err(refused());
            };
            let mut out = BytesMut::new();
            ManifestChoice {
                version,
                capabilities: 0,
            }
            .encode(&mut out);
            stream.write_all(&out).await.map_err(io_err)?;
            stream.flush().await.map_err(io_err)?;
            Ok((version, buf))
        }
    }
}

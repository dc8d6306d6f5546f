//! Dialing the upstream server: TCP, then TLS when the URI asks for it, then the Bolt handshake.
//!
//! Every error says which side failed and whether trying again may help, because the session
//! turns it into the FAILURE a client's driver decides to retry on.

use std::time::Duration;

use boltgate_proto::handshake::{
    encode_proposals, offers, upstream_proposals, ClientHello, ManifestChoice, ManifestOffer,
    Proposal, ServerReply, PREAMBLE,
};
use boltgate_proto::Version;
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::uri::{Target, TlsMode};
use crate::net::Stream;
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
    #[error("TLS handshake with {addr} failed: {source}{}", hint_suffix(hint))]
    Tls {
        addr: String,
        #[source]
        source: std::io::Error,
        /// Which setting fixes it, when the failure says (see [`tls_hint`]).
        hint: Option<&'static str>,
    },
    #[error("Bolt handshake with {addr} failed: {problem}")]
    Handshake { addr: String, problem: String },
    #[error("{addr} speaks none of the Bolt versions the client proposed ({proposed})")]
    NoCommonVersion { addr: String, proposed: String },
    #[error(
        "{addr} answered Bolt {chose}, which was not offered ({offered}), also when asked again \
         without the manifest: the server does not follow the Bolt handshake for this client's \
         versions; the client was refused, as its driver would refuse the server"
    )]
    NotOffered {
        addr: String,
        chose: Version,
        offered: String,
    },
    #[error(
        "{addr} closed the connection without a reply to the client's versions ({offered}), \
         though it answers boltgate's own offer: the client was closed the same way"
    )]
    ClosedOnOffer { addr: String, offered: String },
    #[error("{addr} closed the connection")]
    Closed { addr: String },
}

/// What boltgate proposes to an upstream: four proposal slots, and the versions it may accept
/// back (a server's choice must be in both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub proposals: [Proposal; 4],
    pub candidates: Vec<Version>,
}

impl Offer {
    /// The client's own proposals, narrowed to what boltgate relays
    /// ([`upstream_proposals`]): a manifest only if the client asked for one.
    pub fn from_client(hello: &ClientHello) -> Offer {
        Offer {
            proposals: upstream_proposals(hello, Version::SUPPORTED, true),
            candidates: hello.acceptable(Version::SUPPORTED),
        }
    }

    /// Exactly `version` (a session's next member connection, a routing table fetch): a manifest
    /// only where the version needs one (6.0 is negotiated through the manifest alone).
    pub fn version(version: Version) -> Offer {
        Offer::versions(&[version], version.manifest_only())
    }

    /// `candidates` in boltgate's own encoding ([`encode_proposals`]).
    pub fn versions(candidates: &[Version], manifest: bool) -> Offer {
        Offer {
            proposals: encode_proposals(candidates, manifest),
            candidates: candidates.to_vec(),
        }
    }

    /// Every version boltgate speaks, with the manifest: what any working server answers.
    pub fn boltgate() -> Offer {
        Offer::versions(Version::SUPPORTED, true)
    }

    fn has_manifest(&self) -> bool {
        self.proposals
            .iter()
            .any(|p| matches!(p, Proposal::Manifest { .. }))
    }

    /// The same offer without the manifest request (the rest moved up).
    fn without_manifest(&self) -> Offer {
        let mut proposals = [Proposal::Empty; 4];
        let rest = self
            .proposals
            .iter()
            .filter(|p| !matches!(p, Proposal::Manifest { .. }));
        for (slot, p) in proposals.iter_mut().zip(rest) {
            *slot = *p;
        }
        Offer {
            proposals,
            candidates: self.candidates.clone(),
        }
    }

    fn accepts(&self, v: Version) -> bool {
        self.candidates.contains(&v) && offers(&self.proposals, v)
    }

    /// The proposals as text, for error messages.
    fn shown(&self) -> String {
        let shown: Vec<String> = self
            .proposals
            .iter()
            .filter(|p| **p != Proposal::Empty)
            .map(Proposal::to_string)
            .collect();
        shown.join(", ")
    }
}

impl UpstreamError {
    /// Whether the negotiation failed on the client's versions, as opposed to the upstream being
    /// unreachable: the client then gets a handshake refusal, as it would from the server itself,
    /// and the upstream is not marked down (it answered; another client's versions may suit it).
    pub fn is_version_refusal(&self) -> bool {
        matches!(
            self,
            UpstreamError::NoCommonVersion { .. }
                | UpstreamError::NotOffered { .. }
                | UpstreamError::ClosedOnOffer { .. }
        )
    }
}

/// The labels `boltgate_upstream_connect_failures_total` counts by.
impl crate::metrics::ConnectFailure for UpstreamError {
    fn reason(&self) -> &'static str {
        if matches!(self, UpstreamError::Connect { .. }) {
            "connect"
        } else if matches!(self, UpstreamError::ConnectTimeout { .. }) {
            "timeout"
        } else if matches!(self, UpstreamError::Tls { .. }) {
            "tls"
        } else if matches!(
            self,
            UpstreamError::NoCommonVersion { .. }
                | UpstreamError::NotOffered { .. }
                | UpstreamError::ClosedOnOffer { .. }
        ) {
            "bolt_version"
        } else if matches!(
            self,
            UpstreamError::Handshake { .. } | UpstreamError::Closed { .. }
        ) {
            "bolt_handshake"
        } else {
            "other"
        }
    }

    fn is_version_refusal(&self) -> bool {
        UpstreamError::is_version_refusal(self)
    }
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

/// The setting that fixes a failed upstream TLS handshake, from what failed: an operator reading
/// "UnknownIssuer" should not have to know which of boltgate's settings chooses the roots.
pub fn tls_hint(e: &std::io::Error, cluster_policy: bool) -> Option<&'static str> {
    use rustls::{CertificateError, Error as Tls};
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<Tls>());
    Some(match (tls, cluster_policy) {
        (Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)), true) => {
            "the server's certificate is not signed by a CA in dbms.ssl.policy.cluster.trusted_dir: \
             put that CA's certificate there"
        }
        (Some(Tls::InvalidCertificate(CertificateError::UnknownIssuer)), false) => {
            "the server's certificate is not signed by a CA in the system roots: point \
             SSL_CERT_FILE at its CA, or enable dbms.ssl.policy.cluster with the CA in its \
             trusted_dir, or accept any certificate with bolt+ssc:// in boltgate.upstream.uri"
        }
        (
            Some(Tls::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )),
            true,
        ) => "connect by a name the certificate holds, or set dbms.ssl.policy.cluster.verify_hostname=false",
        (
            Some(Tls::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )),
            false,
        ) => "use a host name the certificate holds in boltgate.upstream.uri, or bolt+ssc:// to skip the check",
        (Some(Tls::InvalidCertificate(_)), _) => {
            "the server's certificate was refused; see the reason above and fix it on the server"
        }
        (Some(Tls::AlertReceived(_)), false) => {
            "the server refused the handshake; if it requires a client certificate, enable \
             dbms.ssl.policy.cluster with boltgate's certificate and key"
        }
        (Some(Tls::InvalidMessage(_)), _) => {
            "the server does not answer in TLS on this port: use bolt:// in boltgate.upstream.uri \
             (and leave dbms.ssl.policy.cluster.enabled=false)"
        }
        (None, _)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            "the server closed the connection during the TLS handshake: if it does not speak TLS \
             on this port, use bolt:// in boltgate.upstream.uri (and leave \
             dbms.ssl.policy.cluster.enabled=false); if it wants a client certificate, enable \
             dbms.ssl.policy.cluster"
        }
        _ => return None,
    })
}

/// Where an upstream handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreed {
    /// The version both sides speak; nothing more is owed to the upstream.
    Version(Version),
    /// The server answered the client's manifest request, and this is what of its offer boltgate
    /// can relay ([`ManifestOffer::relayable`], never empty): show it to the client, then send
    /// the client's [`ManifestChoice`] upstream, so the client picks as it would directly.
    Manifest(ManifestOffer),
}

/// How to reach the one upstream server, built once at start.
pub struct Upstream {
    pub target: Target,
    /// Replaced by a TLS reload ([`Upstream::reload_tls`]); each dial clones the current one.
    tls: std::sync::RwLock<Option<(tokio_rustls::TlsConnector, ServerName<'static>)>>,
    /// Whether the TLS above is the cluster policy's (for [`tls_hint`]).
    cluster_policy: std::sync::atomic::AtomicBool,
    connect_timeout: Duration,
    /// Keepalive and user timeout for every upstream socket ([`Upstream::with_tcp`]).
    tcp: crate::net::tcp::TcpTuning,
    /// Set only by the in-memory test harness ([`Upstream::with_memory_dialer`]).
    memory: Option<MemoryDialer>,
}

/// Makes an in-memory connection to a member by address instead of dialing it (None: refused).
/// Only the fuzzers and their replays use it (through `boltgate-testkit`), to run routed
/// sessions against a fake cluster.
#[doc(hidden)]
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
            cluster_policy: std::sync::atomic::AtomicBool::new(cluster.is_some()),
            connect_timeout,
            tcp: crate::net::tcp::TcpTuning::default(),
            memory: None,
        })
    }

    /// Every dial goes to `dialer` instead of the network (the routed session fuzzer).
    #[doc(hidden)]
    pub fn with_memory_dialer(mut self, dialer: MemoryDialer) -> Self {
        self.memory = Some(dialer);
        self
    }

    /// Upstream sockets get `tcp` (`boltgate.upstream.tcp_keepalive`, `tcp_user_timeout`), so a
    /// server that vanishes without a RST is noticed within a bounded time.
    pub fn with_tcp(mut self, tcp: crate::net::tcp::TcpTuning) -> Self {
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
        self.cluster_policy
            .store(cluster.is_some(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn current_tls(&self) -> Option<(tokio_rustls::TlsConnector, ServerName<'static>)> {
        self.tls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether upstream connections use TLS.
    pub fn uses_tls(&self) -> bool {
        self.current_tls().is_some()
    }

    /// Dial and negotiate: the upstream is offered `offer` (normally the client's own proposals,
    /// [`Offer::from_client`]). Returns the stream, where the handshake stands (a manifest the
    /// server offered is left for the client to choose from: [`Agreed::Manifest`]) and any bytes
    /// read past the handshake.
    pub async fn connect(
        &self,
        offer: &Offer,
    ) -> Result<(Stream, Agreed, BytesMut), UpstreamError> {
        let name = self.current_tls().map(|(_, n)| n);
        self.dial(&self.target.address(), name, offer, true).await
    }

    /// The Bolt handshake over `stream`, a connection to the upstream made by the caller (an
    /// in-memory pipe in the session fuzzer): [`Upstream::connect`] without the dialing or TLS.
    /// No second connection can be made here, so a server that answers a manifest offer with a
    /// version nobody offered is not asked again.
    pub async fn connect_over(
        &self,
        stream: Stream,
        offer: &Offer,
    ) -> Result<(Stream, Agreed, BytesMut), UpstreamError> {
        let addr = self.target.address();
        match self.negotiate(stream, &addr, offer, true).await {
            Err(Unoffered(chose)) => Err(UpstreamError::NotOffered {
                addr,
                chose,
                offered: offer.shown(),
            }),
            Err(Failed(e)) => Err(e),
            Ok(done) => Ok(done),
        }
    }

    /// Dial a cluster member by its `host:port` (as a routing table or the static member list
    /// names it), with the same TLS settings as the URI; its certificate is checked against its
    /// own host name. A manifest is answered here, with the first of the offer's candidates the
    /// server offers (member connections dial with the session's version, already chosen).
    pub async fn connect_to(
        &self,
        address: &str,
        offer: &Offer,
    ) -> Result<(Stream, Version, BytesMut), UpstreamError> {
        match self.connect_to_with(address, offer, false).await? {
            (stream, Agreed::Version(v), rest) => Ok((stream, v, rest)),
            // With `relay` false every manifest is answered in `handshake`.
            (_, Agreed::Manifest(_), _) => Err(UpstreamError::Handshake {
                addr: address.to_string(),
                problem: "a manifest offer was left unanswered".into(),
            }),
        }
    }

    /// [`Upstream::connect_to`] for a session's first member: a manifest the server offers is
    /// left for the client to choose from, as in [`Upstream::connect`].
    pub async fn connect_to_relaying(
        &self,
        address: &str,
        offer: &Offer,
    ) -> Result<(Stream, Agreed, BytesMut), UpstreamError> {
        self.connect_to_with(address, offer, true).await
    }

    async fn connect_to_with(
        &self,
        address: &str,
        offer: &Offer,
        relay: bool,
    ) -> Result<(Stream, Agreed, BytesMut), UpstreamError> {
        let name = match self.current_tls() {
            None => None,
            Some(_) => {
                let host = crate::config::members::split_address(address)
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
        self.dial(address, name, offer, relay).await
    }

    /// Dials and negotiates; a server that answers a manifest offer with a version that was not
    /// offered (FalkorDB 4.16 answers 5.7 to any offer with a manifest) is dialled once more and
    /// offered the same without the manifest, as a client without one would have offered.
    /// `relay`: leave a manifest offer for the client ([`Agreed::Manifest`]) instead of choosing.
    async fn dial(
        &self,
        addr: &str,
        name: Option<ServerName<'static>>,
        offer: &Offer,
        relay: bool,
    ) -> Result<(Stream, Agreed, BytesMut), UpstreamError> {
        let stream = self.open(addr, name.clone()).await?;
        let chose = match self.negotiate(stream, addr, offer, relay).await {
            Ok(done) => return Ok(done),
            Err(Failed(UpstreamError::Closed { .. })) if *offer != Offer::boltgate() => {
                return Err(self.closed_on(addr, name, offer).await)
            }
            Err(Failed(e)) => return Err(e),
            Err(Unoffered(chose)) => chose,
        };
        if offer.has_manifest() {
            let retry = offer.without_manifest();
            tracing::info!(
                upstream = addr,
                %chose,
                offered = %offer.shown(),
                "the upstream answered a version that was not offered; asking again without the \
                 manifest"
            );
            let stream = self.open(addr, name).await?;
            match self.negotiate(stream, addr, &retry, relay).await {
                Ok(done) => return Ok(done),
                Err(Failed(e)) => return Err(e),
                Err(Unoffered(again)) => {
                    return Err(UpstreamError::NotOffered {
                        addr: addr.to_string(),
                        chose: again,
                        offered: format!("{}; then {}", offer.shown(), retry.shown()),
                    })
                }
            }
        }
        Err(UpstreamError::NotOffered {
            addr: addr.to_string(),
            chose,
            offered: offer.shown(),
        })
    }

    /// The server closed without a reply to `offer`: some servers (FalkorDB) close on versions
    /// they do not speak instead of answering `00 00 00 00`. Whether that was about the client's
    /// versions or the server is broken is told by offering it everything boltgate speaks on a
    /// second connection: a server that answers that one is up.
    async fn closed_on(
        &self,
        addr: &str,
        name: Option<ServerName<'static>>,
        offer: &Offer,
    ) -> UpstreamError {
        let closed = UpstreamError::Closed {
            addr: addr.to_string(),
        };
        let Ok(stream) = self.open(addr, name).await else {
            return closed;
        };
        match self
            .negotiate(stream, addr, &Offer::boltgate(), false)
            .await
        {
            Ok(_) | Err(Unoffered(_)) => UpstreamError::ClosedOnOffer {
                addr: addr.to_string(),
                offered: offer.shown(),
            },
            Err(Failed(_)) => closed,
        }
    }

    /// TCP, then TLS when configured.
    async fn open(
        &self,
        addr: &str,
        name: Option<ServerName<'static>>,
    ) -> Result<Stream, UpstreamError> {
        let addr = addr.to_string();
        if let Some(dial) = &self.memory {
            let Some(io) = dial(&addr) else {
                return Err(UpstreamError::Connect {
                    addr,
                    source: std::io::ErrorKind::ConnectionRefused.into(),
                });
            };
            return Ok(Stream::Memory(io));
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
                        hint: tls_hint(
                            &source,
                            self.cluster_policy
                                .load(std::sync::atomic::Ordering::Relaxed),
                        ),
                        source,
                    })?;
                Stream::ClientTls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        Ok(stream)
    }

    /// The Bolt handshake on a connected stream, bounded by the connect timeout.
    async fn negotiate(
        &self,
        mut stream: Stream,
        addr: &str,
        offer: &Offer,
        relay: bool,
    ) -> Result<(Stream, Agreed, BytesMut), Negotiation> {
        let (agreed, rest) = tokio::time::timeout(
            self.connect_timeout,
            handshake(&mut stream, addr, offer, relay),
        )
        .await
        .map_err(|_| {
            Failed(UpstreamError::Handshake {
                addr: addr.to_string(),
                problem: format!("no answer within {:?}", self.connect_timeout),
            })
        })??;
        Ok((stream, agreed, rest))
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

/// How one handshake attempt failed.
enum Negotiation {
    /// The server chose this version, which was not offered ([`Upstream::dial`] may retry).
    Unoffered(Version),
    Failed(UpstreamError),
}
use Negotiation::{Failed, Unoffered};

impl From<UpstreamError> for Negotiation {
    fn from(e: UpstreamError) -> Self {
        Failed(e)
    }
}

async fn handshake(
    stream: &mut Stream,
    addr: &str,
    offer: &Offer,
    relay: bool,
) -> Result<(Agreed, BytesMut), Negotiation> {
    let candidates = &offer.candidates[..];
    let handshake_err = |problem: String| UpstreamError::Handshake {
        addr: addr.to_string(),
        problem,
    };
    let io_err = |e: std::io::Error| handshake_err(e.to_string());
    let mut hello = Vec::with_capacity(20);
    hello.extend_from_slice(&PREAMBLE);
    for p in &offer.proposals {
        hello.extend_from_slice(&p.to_bytes());
    }
    stream.write_all(&hello).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;

    let mut buf = BytesMut::with_capacity(64);
    while buf.len() < 4 {
        if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
            return Err(Failed(UpstreamError::Closed {
                addr: addr.to_string(),
            }));
        }
    }
    let reply: [u8; 4] = buf[..4].try_into().expect("four bytes were read");
    let _ = buf.split_to(4);
    let refused = || UpstreamError::NoCommonVersion {
        addr: addr.to_string(),
        proposed: offer.shown(),
    };
    match ServerReply::parse(reply).map_err(|e| handshake_err(e.to_string()))? {
        ServerReply::Refused => Err(refused().into()),
        ServerReply::Version(v) if offer.accepts(v) => Ok((Agreed::Version(v), buf)),
        ServerReply::Version(v) => Err(Unoffered(v)),
        ServerReply::Manifest => {
            let offer = loop {
                if let Some((offer, used)) = ManifestOffer::parse_after_marker(&buf)
                    .map_err(|e| handshake_err(e.to_string()))?
                {
                    let _ = buf.split_to(used);
                    break offer;
                }
                if stream.read_buf(&mut buf).await.map_err(io_err)? == 0 {
                    return Err(Failed(UpstreamError::Closed {
                        addr: addr.to_string(),
                    }));
                }
            };
            if relay {
                let shown = offer.relayable(candidates, Version::SUPPORTED);
                if !shown.ranges.is_empty() {
                    return Ok((Agreed::Manifest(shown), buf));
                }
            }
            let Some(version) = offer.choose(candidates) else {
                // Tell the server nothing was acceptable, as the manifest protocol asks.
                let _ = stream.write_all(&[0, 0, 0, 0, 0]).await;
                return Err(refused().into());
            };
            let mut out = BytesMut::new();
            ManifestChoice {
                version,
                capabilities: 0,
            }
            .encode(&mut out);
            stream.write_all(&out).await.map_err(io_err)?;
            stream.flush().await.map_err(io_err)?;
            Ok((Agreed::Version(version), buf))
        }
    }
}

//! Dialing the upstream server: TCP, then TLS when the URI asks for it, then the Bolt handshake.
//!
//! Every error says which side failed and whether trying again may help, because the session
//! turns it into the FAILURE a client's driver decides to retry on.
//!
//! The parts: `transport` opens the connection (TCP with its socket options, then TLS from the
//! URI or the cluster policy), `handshake` is the Bolt version negotiation over it (the
//! [`Offer`], where it ended: [`Agreed`]), `error` is [`UpstreamError`] and the hints for a failed
//! TLS handshake. This file holds [`Upstream`] and the dialling policy that ties them: which name
//! TLS checks, and when a server's answer is worth a second connection.

use std::time::Duration;

use boltgate_proto::Version;
use bytes::BytesMut;
use rustls::pki_types::ServerName;

use crate::config::uri::Target;
use crate::net::Stream;
use crate::tls;

mod error;
mod handshake;
mod transport;

pub use error::{tls_hint, UpstreamError};
use handshake::Negotiation::{Failed, Unoffered};
pub use handshake::{Agreed, Offer};
use transport::tls_for;

/// How to reach the one upstream server, built once at start.
pub struct Upstream {
    pub target: Target,
    /// `target`'s `host:port`, formatted once: every session names its upstream by it.
    address: String,
    /// "upstream host:port", what boltgate's own messages call it ([`Upstream::name_of`]).
    name: std::sync::Arc<str>,
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
            name: format!("upstream {}", target.address()).into(),
            address: target.address(),
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

    /// The target's `host:port` ([`Target::address`]).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What boltgate's own messages call a connection to `address` (this upstream's name,
    /// made once, when it is this upstream's address).
    pub fn name_of(&self, address: &str) -> std::sync::Arc<str> {
        match address == self.address {
            true => self.name.clone(),
            false => format!("upstream {address}").into(),
        }
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
        self.dial(&self.address, name, offer, true).await
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
        let addr = self.address.clone();
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

    /// The connect timeout, which also bounds boltgate's own exchanges with members (routing
    /// table fetches, HELLO replays).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }
}

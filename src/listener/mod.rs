//! The Bolt listener: accept, enforce the connection limit, read the PROXY protocol header when
//! enabled, tell TLS from plaintext and WebSocket from raw Bolt, and hand each connection to a
//! session on the shutdown tracker.
//!
//! Per connection, as Neo4j does on its one Bolt port ([`detect`]):
//!
//! 1. [`proxy_protocol`], when `boltgate.proxy_protocol.enabled`: only trusted balancers, and
//!    the header's source address becomes the span's `client.addr` (`proxy.addr` is the peer).
//! 2. `0x16` (a TLS ClientHello) → TLS per `server.bolt.tls_level`: DISABLED refuses TLS,
//!    REQUIRED refuses plaintext, OPTIONAL takes both. Inside TLS, the choice below again.
//! 3. `GET ` → Bolt over WebSocket ([`websocket`]); anything else → raw Bolt.
//!
//! The session sees one byte stream ([`crate::net::Stream`]) whichever way the client came.

pub mod detect;
pub mod proxy_protocol;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{field, Instrument};

use crate::config::{Scope, TlsLevel};
use crate::error::chain;
use crate::metrics::Refusal;
use crate::net::{websocket, Stream};
use crate::reload::CurrentAcceptor;
use crate::session::{self, Context, SessionError};
use crate::shutdown::Shutdown;
use crate::telemetry::{self, Repeated};
use detect::Protocol;
use proxy_protocol::{Header, ProxyError};

/// What the listener accepts besides raw Bolt and TLS.
#[derive(Debug, Clone, Default)]
pub struct Transports {
    pub websocket: websocket::Settings,
    /// None when `boltgate.proxy_protocol.enabled=false`.
    pub proxy_protocol: Option<proxy_protocol::Settings>,
    /// `boltgate.client.tcp_keepalive` and `boltgate.client.tcp_user_timeout`.
    pub tcp: crate::net::tcp::TcpTuning,
}

pub struct Listener {
    tcp: TcpListener,
    limit: Arc<Semaphore>,
    shared: Arc<Shared>,
}

/// What every connection of this listener needs. Kept apart from the socket so that when the
/// accept loop ends the listening socket closes at once (new clients get a refusal, not a
/// backlog that is never served) while sessions still hold this.
struct Shared {
    /// The acceptor for new connections; a TLS reload replaces it.
    tls: CurrentAcceptor,
    /// Accepted sockets inherit TCP_NODELAY and `transports.tcp` from the listening socket.
    tuned_by_listener: bool,
    tls_level: TlsLevel,
    transports: Transports,
    ctx: Arc<Context>,
}

impl Listener {
    pub fn new(
        tcp: TcpListener,
        tls: CurrentAcceptor,
        tls_level: TlsLevel,
        max_connections: usize,
        transports: Transports,
        ctx: Arc<Context>,
    ) -> Self {
        let tuned_by_listener = transports.tcp.apply_to_listener(&tcp);
        Listener {
            tcp,
            limit: Arc::new(Semaphore::new(max_connections)),
            shared: Arc::new(Shared {
                tls,
                tuned_by_listener,
                tls_level,
                transports,
                ctx,
            }),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts until draining begins. Sessions run on the shutdown tracker, so the caller waits
    /// for them through [`Shutdown::drain_and_wait`].
    pub async fn serve(self, shutdown: Shutdown) {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let upstream = self.shared.ctx.upstream.target.address();
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.draining() => break,
                accepted = self.tcp.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors (EMFILE) and the like: back off instead of
                        // spinning; the connections already open keep working.
                        if telemetry::allow(Repeated::AcceptFailed) {
                            tracing::warn!(error = %e, "accept failed");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                self.shared
                    .ctx
                    .metrics
                    .connection_refused(Refusal::MaxConnections);
                // The header is not read for a refused connection: behind a balancer, the peer
                // is the balancer.
                let proxied = self.shared.transports.proxy_protocol.is_some();
                match (telemetry::allow(Repeated::MaxConnections), proxied) {
                    (false, _) => {}
                    (true, true) => tracing::warn!(
                        proxy.addr = %peer,
                        "connection refused: boltgate.client.max_connections reached"
                    ),
                    (true, false) => tracing::warn!(
                        client.addr = %peer,
                        "connection refused: boltgate.client.max_connections reached"
                    ),
                }
                drop(tcp);
                continue;
            };
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            // Behind a PROXY-protocol balancer, the client's address is known only once the
            // header is read; the peer is then the balancer, `proxy.addr`.
            let proxied = self.shared.transports.proxy_protocol.is_some();
            let span = tracing::info_span!(
                "conn",
                conn.id = id,
                client.addr = field::Empty,
                proxy.addr = field::Empty,
                client.transport = field::Empty,
                tls.version = field::Empty,
                tls.cipher = field::Empty,
                tls.sni = field::Empty,
                client.cert = field::Empty,
                bolt.version = field::Empty,
                upstream = %upstream,
            );
            if proxied {
                span.record("proxy.addr", field::display(peer));
            } else {
                span.record("client.addr", field::display(peer));
            }
            let shared = self.shared.clone();
            let open = shared.ctx.metrics.connection_accepted();
            shutdown.tracker().spawn(
                async move {
                    tracing::debug!("accepted");
                    // Boxed: the session's future is large, and a spawned future is moved
                    // several times on its way into the task; a box is moved as a pointer.
                    Box::pin(shared.handle(tcp, peer)).await;
                    drop((permit, open));
                }
                .instrument(span),
            );
        }
        drop(self.tcp);
        tracing::info!("listener closed; no new connections are accepted");
    }
}

// `None` from a stage means the connection is closed: the stage has already counted the refusal
// and logged why, so the caller only returns.
impl Shared {
    async fn handle(&self, mut tcp: TcpStream, peer: SocketAddr) {
        if !self.tuned_by_listener {
            let _ = tcp.set_nodelay(true);
            self.transports.tcp.apply(&tcp, "client");
        }
        // One budget for everything before the Bolt handshake: PROXY header, TLS, upgrade.
        let deadline = Instant::now() + self.ctx.handshake_timeout;
        if let Some(proxy) = &self.transports.proxy_protocol {
            if self
                .read_proxy_header(proxy, &mut tcp, peer, deadline)
                .await
                .is_none()
            {
                return;
            }
        }
        let Some(first) = self.peek_first(&tcp, deadline).await else {
            return;
        };
        let accepted = match Protocol::of(first) {
            Protocol::Tls => self.accept_tls(tcp, deadline).await,
            protocol => self.accept_plain(tcp, protocol),
        };
        let Some((stream, protocol)) = accepted else {
            return;
        };
        let Some(stream) = self.upgrade(stream, protocol, deadline).await else {
            return;
        };
        let end = session::run(stream, &self.ctx).await;
        self.log_end(end);
    }

    /// Step 1 of the module's list: only trusted balancers, and the header's source becomes
    /// the span's `client.addr`.
    async fn read_proxy_header(
        &self,
        proxy: &proxy_protocol::Settings,
        tcp: &mut TcpStream,
        peer: SocketAddr,
        deadline: Instant,
    ) -> Option<()> {
        if !proxy.is_trusted(peer.ip()) {
            self.ctx.metrics.connection_refused(Refusal::ProxyUntrusted);
            if telemetry::allow(Repeated::Refused) {
                tracing::info!("closed: {}", ProxyError::Untrusted(peer.ip()));
            }
            return None;
        }
        let timeout = self.ctx.handshake_timeout;
        let source = match tokio::time::timeout_at(deadline, proxy_protocol::read_header(tcp)).await
        {
            Err(_) => {
                self.ctx.metrics.connection_refused(Refusal::ProxyHeader);
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!("closed: no PROXY protocol header within {timeout:?} (boltgate.client.handshake_timeout)");
                }
                return None;
            }
            Ok(Err(e)) => {
                self.ctx.metrics.connection_refused(Refusal::ProxyHeader);
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!("closed: {e} (boltgate.proxy_protocol.enabled=true)");
                }
                return None;
            }
            Ok(Ok(Header::Proxied { source })) => source,
            // A balancer's own health check: the peer is the client.
            Ok(Ok(Header::Local)) => peer,
        };
        tracing::Span::current().record("client.addr", field::display(source));
        Some(())
    }

    /// The first byte, without consuming it: it tells TLS from plaintext ([`Protocol::of`]).
    async fn peek_first(&self, tcp: &TcpStream, deadline: Instant) -> Option<u8> {
        let mut first = [0u8; 1];
        match tokio::time::timeout_at(deadline, tcp.peek(&mut first)).await {
            Err(_) => {
                self.ctx
                    .metrics
                    .connection_refused(Refusal::HandshakeTimeout);
                if telemetry::allow(Repeated::Refused) {
                    let timeout = self.ctx.handshake_timeout;
                    tracing::info!("closed: the client sent nothing within {timeout:?} (boltgate.client.handshake_timeout)");
                }
                None
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                tracing::debug!("closed before sending anything");
                None
            }
            Ok(Ok(_)) => Some(first[0]),
        }
    }

    /// A ClientHello: the TLS handshake (unless `server.bolt.tls_level=DISABLED`), then the
    /// protocol choice again on the first byte inside TLS.
    async fn accept_tls(&self, tcp: TcpStream, deadline: Instant) -> Option<(Stream, Protocol)> {
        let timeout = self.ctx.handshake_timeout;
        let Some(acceptor) = self
            .tls
            .get()
            .filter(|_| self.tls_level != TlsLevel::Disabled)
        else {
            self.ctx.metrics.connection_refused(Refusal::TlsDisabled);
            if telemetry::allow(Repeated::Refused) {
                tracing::info!(
                    "closed: the client started TLS, but server.bolt.tls_level=DISABLED \
                     (use bolt:// or ws://, or enable TLS on the listener)"
                );
            }
            discard_received(&tcp);
            return None;
        };
        let tls = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
            Err(_) => {
                self.ctx.metrics.tls_handshake_failed(Scope::Bolt, None);
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!("closed: TLS handshake not finished within {timeout:?}");
                }
                return None;
            }
            Ok(Err(e)) => {
                self.ctx.metrics.tls_handshake_failed(Scope::Bolt, Some(&e));
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!("closed: {}", SessionError::ClientTls(e));
                }
                return None;
            }
            Ok(Ok(tls)) => tls,
        };
        record_tls(tls.get_ref().1);
        let conn = tls.get_ref().1;
        self.ctx
            .metrics
            .tls_handshake_ok(Scope::Bolt, conn, crate::tls::suites::negotiated(conn));
        // Inside TLS, the same choice again: WebSocket (wss://) or Bolt.
        let inner = match tokio::time::timeout_at(deadline, detect::read_first(tls)).await {
            Err(_) => {
                self.ctx
                    .metrics
                    .connection_refused(Refusal::HandshakeTimeout);
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!("closed: nothing sent inside TLS within {timeout:?}");
                }
                return None;
            }
            Ok(Ok(None)) | Ok(Err(_)) => {
                tracing::debug!("closed after the TLS handshake, before sending anything");
                return None;
            }
            Ok(Ok(Some(inner))) => inner,
        };
        let protocol = match Protocol::of(inner.prefix()[0]) {
            // TLS inside TLS is nobody's protocol: let the Bolt handshake refuse it.
            Protocol::Tls => Protocol::Bolt,
            p => p,
        };
        Some((Stream::ServerTls(Box::new(inner)), protocol))
    }

    /// Plaintext, unless `server.bolt.tls_level=REQUIRED`.
    fn accept_plain(&self, tcp: TcpStream, protocol: Protocol) -> Option<(Stream, Protocol)> {
        if self.tls_level == TlsLevel::Required {
            self.ctx.metrics.connection_refused(Refusal::TlsRequired);
            if telemetry::allow(Repeated::Refused) {
                tracing::info!(
                    "closed: plaintext connection refused because server.bolt.tls_level=REQUIRED \
                     (the client should use bolt+s://, neo4j+s:// or wss://)"
                );
            }
            discard_received(&tcp);
            return None;
        }
        Some((Stream::Plain(tcp), protocol))
    }

    /// The WebSocket upgrade when the client asked for one; raw Bolt passes through.
    async fn upgrade(
        &self,
        stream: Stream,
        protocol: Protocol,
        deadline: Instant,
    ) -> Option<Stream> {
        let span = tracing::Span::current();
        match protocol {
            Protocol::WebSocket => {
                span.record("client.transport", "websocket");
                let upgrade = websocket::accept(stream, &self.transports.websocket);
                match tokio::time::timeout_at(deadline, upgrade).await {
                    Err(_) => {
                        self.ctx
                            .metrics
                            .connection_refused(Refusal::HandshakeTimeout);
                        if telemetry::allow(Repeated::Refused) {
                            let timeout = self.ctx.handshake_timeout;
                            tracing::info!(
                                "closed: WebSocket upgrade not finished within {timeout:?}"
                            );
                        }
                        None
                    }
                    Ok(Err(e)) => {
                        self.ctx.metrics.connection_refused(Refusal::WebSocket);
                        if telemetry::allow(Repeated::Refused) {
                            tracing::info!("closed: WebSocket upgrade refused: {e}");
                        }
                        None
                    }
                    Ok(Ok(ws)) => {
                        tracing::debug!("WebSocket upgraded");
                        Some(Stream::WebSocket(Box::new(ws)))
                    }
                }
            }
            Protocol::Bolt | Protocol::Tls => {
                span.record("client.transport", "bolt");
                Some(stream)
            }
        }
    }

    /// How the session ended, at the level an operator needs: timeouts they configured at info,
    /// upstream trouble at warn (rate-limited), ordinary disconnects at debug.
    fn log_end(&self, end: Result<session::End, SessionError>) {
        match end {
            Ok(session::End::IdleTimeout) => tracing::info!(
                "closed: the client was idle for {:?} (boltgate.client.idle_timeout)",
                self.ctx.idle_timeout.unwrap_or_default()
            ),
            Ok(session::End::LoginTimeout) => tracing::info!(
                "closed: the client did not send HELLO/LOGON within {:?} \
                 (boltgate.client.handshake_timeout)",
                self.ctx.handshake_timeout
            ),
            Ok(end) => tracing::debug!(?end, "session closed"),
            Err(e) if e.is_disconnect() => {
                tracing::debug!(error = %chain(&e), "client disconnected")
            }
            Err(
                e @ (SessionError::Upstream(_)
                | SessionError::UpstreamClosed { .. }
                | SessionError::UpstreamLost { .. }
                | SessionError::NoMemberReachable(_)),
            ) => {
                if telemetry::allow(Repeated::UpstreamFailed) {
                    tracing::warn!(error = %chain(&e), "session ended: upstream problem")
                }
            }
            Err(e) => {
                if telemetry::allow(Repeated::Refused) {
                    tracing::info!(error = %chain(&e), "session ended")
                }
            }
        }
    }
}

/// Reads and drops what the client has already sent (without waiting, at most 64 KiB), so that
/// the close that follows is an orderly one, as Neo4j's is: closing a socket with unread data
/// makes the kernel answer with a reset, which drivers report as "connection reset" instead of
/// "closed" (docs/neo4j-parity.md, set A).
fn discard_received(tcp: &TcpStream) {
    let mut buf = [0u8; 4096];
    for _ in 0..16 {
        match tcp.try_read(&mut buf) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}

/// Puts the negotiated TLS parameters on the connection's span, once.
fn record_tls(conn: &rustls::ServerConnection) {
    let span = tracing::Span::current();
    // Neo4j's and IANA's spellings (TLSv1.3, TLS_AES_256_GCM_SHA384), as in the configuration,
    // not rustls' Debug ones (TLSv1_3, TLS13_AES_256_GCM_SHA384).
    if let Some(v) = conn.protocol_version() {
        span.record(
            "tls.version",
            field::display(crate::tls::suites::protocol_name(v)),
        );
    }
    if let Some(suite) = conn.negotiated_cipher_suite() {
        span.record(
            "tls.cipher",
            field::display(crate::tls::suites::name(suite)),
        );
    }
    if let Some(sni) = conn.server_name() {
        span.record("tls.sni", sni);
    }
    if let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) {
        if let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) {
            span.record("client.cert", field::display(parsed.subject()));
        }
    }
    tracing::debug!("TLS established");
}

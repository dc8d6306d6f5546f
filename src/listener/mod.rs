//! The Bolt listener: accept, enforce the connection limit, tell TLS from plaintext, and hand
//! each connection to a session on the shutdown tracker.
//!
//! `server.bolt.tls_level` is decided per connection from its first byte, as Neo4j does on its
//! one Bolt port: `0x16` opens a TLS record (a ClientHello); anything else is plaintext (Bolt's
//! preamble starts `0x60`). DISABLED refuses TLS, REQUIRED refuses plaintext, OPTIONAL takes both.

pub mod stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{field, Instrument};

use crate::config::TlsLevel;
use crate::session::{self, Context, SessionError};
use crate::shutdown::Shutdown;
use stream::Stream;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

pub struct Listener {
    tcp: TcpListener,
    limit: Arc<Semaphore>,
    shared: Arc<Shared>,
}

/// What every connection of this listener needs. Kept apart from the socket so that when the
/// accept loop ends the listening socket closes at once (new clients get a refusal, not a
/// backlog that is never served) while sessions still hold this.
struct Shared {
    tls: Option<TlsAcceptor>,
    tls_level: TlsLevel,
    ctx: Arc<Context>,
}

impl Listener {
    pub fn new(
        tcp: TcpListener,
        tls: Option<TlsAcceptor>,
        tls_level: TlsLevel,
        max_connections: usize,
        ctx: Arc<Context>,
    ) -> Self {
        Listener {
            tcp,
            limit: Arc::new(Semaphore::new(max_connections)),
            shared: Arc::new(Shared {
                tls,
                tls_level,
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
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = self.limit.clone().try_acquire_owned() else {
                tracing::warn!(
                    client.addr = %peer,
                    "connection refused: boltgate.client.max_connections reached"
                );
                drop(tcp);
                continue;
            };
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let span = tracing::info_span!(
                "conn",
                conn.id = id,
                client.addr = %peer,
                tls.version = field::Empty,
                tls.cipher = field::Empty,
                tls.sni = field::Empty,
                client.cert = field::Empty,
                bolt.version = field::Empty,
                upstream = %upstream,
            );
            let shared = self.shared.clone();
            shutdown.tracker().spawn(
                async move {
                    tracing::debug!("accepted");
                    shared.handle(tcp).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
        drop(self.tcp);
        tracing::info!("listener closed; no new connections are accepted");
    }
}

impl Shared {
    async fn handle(&self, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let timeout = self.ctx.handshake_timeout;
        let mut first = [0u8; 1];
        let first = match tokio::time::timeout(timeout, tcp.peek(&mut first)).await {
            Err(_) => {
                tracing::info!("closed: the client sent nothing within {timeout:?} (boltgate.client.handshake_timeout)");
                return;
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                tracing::debug!("closed before sending anything");
                return;
            }
            Ok(Ok(_)) => first[0],
        };
        let stream = if first == TLS_HANDSHAKE_RECORD {
            let Some(acceptor) = self
                .tls
                .as_ref()
                .filter(|_| self.tls_level != TlsLevel::Disabled)
            else {
                tracing::info!(
                    "closed: the client started TLS, but server.bolt.tls_level=DISABLED \
                     (use bolt:// or enable TLS on the listener)"
                );
                return;
            };
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Err(_) => {
                    tracing::info!("closed: TLS handshake not finished within {timeout:?}");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::info!("closed: {}", SessionError::ClientTls(e));
                    return;
                }
                Ok(Ok(tls)) => {
                    record_tls(tls.get_ref().1);
                    Stream::ServerTls(Box::new(tls))
                }
            }
        } else {
            if self.tls_level == TlsLevel::Required {
                tracing::info!(
                    "closed: plaintext connection refused because server.bolt.tls_level=REQUIRED \
                     (the client should use bolt+s:// or neo4j+s://)"
                );
                return;
            }
            Stream::Plain(tcp)
        };
        match session::run(stream, &self.ctx).await {
            Ok(end) => tracing::debug!(?end, "session closed"),
            Err(e) if e.is_disconnect() => {
                tracing::debug!(error = %chain(&e), "client disconnected")
            }
            Err(e @ (SessionError::Upstream(_) | SessionError::UpstreamClosed { .. })) => {
                tracing::warn!(error = %chain(&e), "session ended: upstream problem")
            }
            Err(e) => tracing::info!(error = %chain(&e), "session ended"),
        }
    }
}

/// An error and its causes on one line: `Display` prints one level by convention, but a log line
/// must carry the whole story (e.g. "client framing: I/O error: connection reset by peer").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // thiserror's `transparent` and `{0}` variants already include their cause.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Puts the negotiated TLS parameters on the connection's span, once.
fn record_tls(conn: &rustls::ServerConnection) {
    let span = tracing::Span::current();
    if let Some(v) = conn.protocol_version() {
        span.record("tls.version", field::debug(v));
    }
    if let Some(suite) = conn.negotiated_cipher_suite() {
        span.record("tls.cipher", field::debug(suite.suite()));
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

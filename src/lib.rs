//! # boltgate: a Bolt protocol proxy with TLS
//!
//! Where things live:
//!
//! | module        | role                                                                   |
//! |---------------|------------------------------------------------------------------------|
//! | [`cli`]       | the command line (`boltgate`, `boltgate check-config`)                  |
//! | [`config`]    | neo4j.conf-style settings → one validated, immutable [`config::Config`] |
//! | [`tls`]       | `dbms.ssl.policy.*` → rustls server and client configurations          |
//! | [`listener`]  | accept, limit, PROXY header, TLS level, WebSocket; one span per client  |
//! | [`session`]   | one client: version negotiation on both sides, then the relay          |
//! | [`upstream`]  | the upstream URI, dialing (TCP, TLS, Bolt), routing tables, balancing   |
//! | [`shutdown`]  | drain on SIGTERM, then close after the grace period                     |
//! | [`telemetry`] | logging setup                                                          |
//!
//! The wire protocol itself (handshake, chunks, PackStream, messages, states) is the
//! `boltgate-proto` crate, which has no I/O.

pub mod cli;
pub mod config;
pub mod error;
pub mod listener;
pub mod session;
pub mod shutdown;
pub mod telemetry;
/// Test and benchmark support (a synthetic Bolt server and a minimal client); not a stable API.
#[doc(hidden)]
pub mod testkit;
pub mod tls;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

pub use error::Error;

use config::{Config, TlsLevel};
use listener::Listener;
use shutdown::Shutdown;
use upstream::connect::Upstream;

/// A bound, ready-to-serve proxy. Binding is separate from serving so that callers (tests,
/// embedders) learn the address before the first client arrives.
pub struct Server {
    listener: Listener,
    grace: std::time::Duration,
}

impl Server {
    /// Builds everything that can fail (TLS material, the upstream's TLS config, the socket)
    /// before anything is served, so a bad setup never half-starts.
    pub async fn bind(config: &Config, shutdown: &Shutdown) -> Result<Server, Error> {
        let cluster = if config.ssl.cluster.enabled {
            Some(tls::TlsPolicy::load(&config.ssl.cluster)?)
        } else {
            None
        };
        let upstream = Upstream::new(
            config.upstream.uri.clone(),
            config.upstream.connect_timeout,
            cluster.as_ref(),
        )?;
        let tls = if config.ssl.bolt.enabled {
            let server_config = tls::TlsPolicy::load(&config.ssl.bolt)?.server_config()?;
            Some(tokio_rustls::TlsAcceptor::from(server_config))
        } else {
            None
        };
        if config.ssl.https.enabled {
            // Checked now so a bad policy is found at start; served once the admin endpoint exists.
            tls::TlsPolicy::load(&config.ssl.https)?.server_config()?;
            tracing::info!(
                "dbms.ssl.policy.https is valid; boltgate has no HTTPS endpoint yet, so it is \
                 not used"
            );
        }
        if config.bolt.tls_level != TlsLevel::Disabled && tls.is_none() {
            return Err(Error::Setup(
                "server.bolt.tls_level is OPTIONAL or REQUIRED but dbms.ssl.policy.bolt.enabled \
                 is false"
                    .into(),
            ));
        }
        let addr = config.bolt.listen_address.to_string();
        let tcp = tokio::net::TcpListener::bind((
            config.bolt.listen_address.host.as_str(),
            config.bolt.listen_address.port,
        ))
        .await
        .map_err(|source| Error::Bind {
            addr: addr.clone(),
            source,
        })?;
        let routing = config.routing_enabled().then(|| {
            let registry = if config.routing.members.is_empty() {
                upstream::registry::Registry::with_routers(
                    vec![config.upstream.uri.address()],
                    config.routing.ban_time,
                )
            } else {
                upstream::registry::Registry::with_members(
                    &config.routing.members,
                    config.routing.ban_time,
                )
            };
            tracing::info!(
                advertised = ?config.routing.advertised_addresses,
                members = ?config.routing.members,
                "routing across cluster members"
            );
            Arc::new(session::routed::Routing::new(
                Arc::new(registry),
                session::intercept::Advertised {
                    addresses: config.routing.advertised_addresses.clone(),
                    ttl: config.routing.ttl,
                },
                &config.upstream.uri.address(),
                &config.upstream.uri.routing_context,
            ))
        });
        let ctx = Arc::new(session::Context {
            upstream: Arc::new(upstream),
            routing,
            handshake_timeout: config.client.handshake_timeout,
            idle_timeout: config.client.idle_timeout,
            max_message_size: config.max_message_size,
            shutdown: shutdown.clone(),
        });
        let listener = Listener::new(
            tcp,
            tls,
            config.bolt.tls_level,
            config.client.max_connections,
            listener::Transports {
                websocket: listener::websocket::Settings {
                    allowed_origins: config.websocket.allowed_origins.clone(),
                    max_frame_size: config.websocket.max_frame_size,
                },
                proxy_protocol: config.proxy_protocol.enabled.then(|| {
                    listener::proxy_protocol::Settings {
                        trusted_networks: config.proxy_protocol.trusted_networks.clone(),
                    }
                }),
            },
            ctx,
        );
        Ok(Server {
            listener,
            grace: config.shutdown_grace_period,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` starts draining, then waits for sessions to finish (up to the
    /// grace period) and returns.
    pub async fn run(self, shutdown: Shutdown) {
        self.listener.serve(shutdown.clone()).await;
        shutdown.drain_and_wait(self.grace).await;
    }
}

/// The binary's entry point after the configuration is loaded: logging, runtime, signals.
pub fn serve(config: Config) -> Result<(), Error> {
    telemetry::init(
        config.log.format,
        &config.log.level,
        config.log.tls_handshake_debug,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        let server = Server::bind(&config, &shutdown).await?;
        let addr = server
            .local_addr()
            .map_err(|e| Error::Setup(e.to_string()))?;
        tracing::info!(
            listen = %addr,
            tls_level = ?config.bolt.tls_level,
            upstream = %config.upstream.uri.address(),
            "boltgate listening"
        );
        let signals = tokio::spawn(signals(shutdown.clone()));
        server.run(shutdown).await;
        signals.abort();
        tracing::info!("boltgate stopped");
        Ok(())
    })
}

/// SIGTERM (orchestrators, `kill`) and SIGINT (Ctrl-C) start a graceful drain; a second signal
/// closes every session at once for an operator who will not wait.
async fn signals(shutdown: Shutdown) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop boltgate with SIGKILL");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("signal received: draining (send it again to close at once)");
    shutdown.begin_drain();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    shutdown.close_now();
}

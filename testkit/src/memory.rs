//! One boltgate session over in-memory pipes: no sockets, no listener, no dialing.
//!
//! The session fuzzer (`fuzz/fuzz_targets/session.rs`) runs thousands of sessions a second
//! through it on a current-thread runtime with paused time, so every timeout fires as soon as
//! nothing else can run. The session itself is the real one ([`boltgate::session::run_over`]):
//! handshakes on both sides, the relay, the state tracker, the FAILUREs boltgate sends itself.

use std::sync::Arc;

use tokio::io::DuplexStream;

use boltgate::config::{Config, LoadOptions};
use boltgate::net::Stream;
use boltgate::reload::{ConfigSource, TlsReloader};
use boltgate::session::{self, Context, End, SessionError};
use boltgate::shutdown::Shutdown;
use boltgate::upstream::connect::Upstream;

/// What every in-memory session shares: the [`Context`] a listener would hand it.
pub struct MemoryProxy {
    ctx: Context,
}

impl MemoryProxy {
    /// `settings` are neo4j.conf-style lines (limits, timeouts); TLS and routing settings are
    /// not used, since the session never dials.
    pub fn new(settings: &str) -> Result<MemoryProxy, Box<dyn std::error::Error + Send + Sync>> {
        let config = Config::from_text(settings, "memory", &[], LoadOptions::default())
            .map_err(|e| e.to_string())?;
        let material = boltgate::reload::build(&config)?;
        let upstream = Arc::new(Upstream::new(
            config.upstream.uri.clone(),
            config.upstream.connect_timeout,
            None,
        )?);
        let metrics = boltgate::metrics::Metrics::new();
        let (reloader, _) = TlsReloader::start(
            &config,
            ConfigSource::of(&config),
            material,
            upstream.clone(),
            metrics.clone(),
        );
        Ok(MemoryProxy {
            ctx: Context {
                upstream,
                tls_reload: reloader,
                routing: None,
                pool: None,
                advertised: boltgate::session::intercept::Advertised {
                    addresses: config.routing.advertised_addresses.clone(),
                    ttl: config.routing.ttl,
                },
                forward_goodbye: config.upstream.forward_goodbye,
                translate: config.upstream.translate == boltgate::config::Translate::Auto,
                learned: Default::default(),
                handshake_timeout: config.client.handshake_timeout,
                idle_timeout: config.client.idle_timeout,
                max_message_size: config.max_message_size,
                max_nesting_depth: config.hardening.max_nesting_depth,
                reload_tls_allowed_users: config.hardening.reload_tls_allowed_users.clone(),
                shutdown: Shutdown::new(),
                metrics,
            },
        })
    }

    /// A proxy routing across the static members `settings` names
    /// (`boltgate.routing.members`), each dialled through `dial` instead of the network: the
    /// routed relay over in-memory pipes, for the `routed` fuzz target.
    pub fn routed(
        settings: &str,
        dial: boltgate::upstream::connect::MemoryDialer,
    ) -> Result<MemoryProxy, Box<dyn std::error::Error + Send + Sync>> {
        let mut proxy = MemoryProxy::new(settings)?;
        let config = Config::from_text(settings, "memory", &[], LoadOptions::default())
            .map_err(|e| e.to_string())?;
        let upstream = Arc::new(
            Upstream::new(
                config.upstream.uri.clone(),
                config.upstream.connect_timeout,
                None,
            )?
            .with_memory_dialer(dial),
        );
        let registry = boltgate::upstream::registry::Registry::with_members(
            &config.routing.members,
            config.routing.ban_time,
        );
        proxy.ctx.routing = Some(Arc::new(session::relay::Routing::new(
            Arc::new(registry.with_metrics(proxy.ctx.metrics.clone())),
            session::intercept::Advertised {
                addresses: config.routing.advertised_addresses.clone(),
                ttl: config.routing.ttl,
            },
            &config.upstream.uri.address(),
            &config.upstream.uri.routing_context,
        )));
        proxy.ctx.upstream = upstream;
        Ok(proxy)
    }

    /// A routed session ([`MemoryProxy::routed`]): boltgate's end of the client's pipe; members
    /// are dialled through the proxy's dialer.
    pub async fn routed_session(&self, client: DuplexStream) -> Result<End, SessionError> {
        session::run(Stream::Memory(client), &self.ctx).await
    }

    /// Runs one session: `client` is boltgate's end of the client's pipe, `upstream` its end of
    /// the upstream server's pipe (before the Bolt handshake).
    pub async fn session(
        &self,
        client: DuplexStream,
        upstream: DuplexStream,
    ) -> Result<End, SessionError> {
        session::run_over(Stream::Memory(client), Stream::Memory(upstream), &self.ctx).await
    }
}

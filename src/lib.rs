//! # boltgate: a Bolt protocol proxy with TLS
//!
//! Where things live:
//!
//! | module        | role                                                                   |
//! |---------------|------------------------------------------------------------------------|
//! | [`cli`]       | the command line (`boltgate`, `boltgate check-config`)                  |
//! | [`config`]    | neo4j.conf-style settings → one validated, immutable [`config::Config`] |
//! | [`tls`]       | `dbms.ssl.policy.*` → rustls server and client configurations          |
//! | [`reload`]    | the TLS material from a config, swapped on reload; `check-config`'s preflight |
//! | [`listener`]  | accept, limit, PROXY header, TLS level, WebSocket; one span per client  |
//! | [`session`]   | one client: version negotiation on both sides, then the relay          |
//! | [`upstream`]  | dialing (TCP, TLS, Bolt), routing tables, balancing                     |
//! | [`shutdown`]  | drain on SIGTERM, then close after the grace period                     |
//! | [`admin`]     | the admin endpoint (/metrics, /health, /ready, /config, POST /reload)  |
//! | [`telemetry`] | logging setup                                                          |
//!
//! Shared pieces sit at the bottom of the import graph, so the modules above never import each
//! other for them: [`net`] (byte streams, WebSocket, TCP options; imports no other module),
//! [`metrics`] (the Prometheus registry and per-session counters, which `admin` serves; imports
//! only `config`), [`status`] (the Neo4j status codes boltgate sends or acts on), [`error`]
//! (start-up errors, and [`error::chain`] for log lines).
//! `tools/modgraph.sh` prints the import graph between the modules and the pairs importing
//! each other.
//!
//! The wire protocol itself (handshake, chunks, PackStream, messages, states) is the
//! `boltgate-proto` crate, which has no I/O.

pub mod admin;
pub mod busy_poll;
pub mod cli;
pub mod config;
pub mod error;
pub mod fasthash;
pub mod fdlimit;
pub mod listener;
pub mod metrics;
pub mod net;
pub mod pool;
pub mod reload;
pub mod session;
pub mod shutdown;
pub mod status;
pub mod telemetry;
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
    admin: Option<admin::Admin>,
    metrics: metrics::Metrics,
    reloader: Arc<reload::TlsReloader>,
    /// Transaction pooling's shared connections, closed once the sessions have drained.
    pool: Option<Arc<session::relay::PoolPolicy>>,
}

impl Server {
    /// Builds everything that can fail (TLS material, the upstream's TLS config, the socket)
    /// before anything is served, so a bad setup never half-starts.
    pub async fn bind(config: &Config, shutdown: &Shutdown) -> Result<Server, Error> {
        Server::bind_with_source(config, reload::ConfigSource::of(config), shutdown).await
    }

    /// [`Server::bind`], with where the configuration came from, so a TLS reload reads the same
    /// file and `--set` overrides again.
    pub async fn bind_with_source(
        config: &Config,
        source: reload::ConfigSource,
        shutdown: &Shutdown,
    ) -> Result<Server, Error> {
        let metrics = metrics::Metrics::new();
        let material = reload::build(config)?;
        record_certificates(&metrics, &material);
        let upstream = Arc::new(
            Upstream::with_ocsp(
                config.upstream.uri.clone(),
                config.upstream.connect_timeout,
                material.cluster.as_ref(),
                config.upstream.ocsp_required,
            )?
            .with_tcp(config.upstream.tcp),
        );
        let https = https_config(config, &metrics)?;
        let admin = admin::Admin::bind(
            config,
            https,
            metrics.clone(),
            shutdown.clone(),
            &[config.upstream.uri.address()],
        )
        .await?;
        let bolt_tls = material.bolt.is_some();
        let (reloader, tls) =
            reload::TlsReloader::start(config, source, material, upstream.clone(), metrics.clone());
        if let Some(admin) = &admin {
            admin.set_reload(reload_hook(reloader.clone(), config.tls_reload_enabled));
        }
        if config.bolt.tls_level != TlsLevel::Disabled && !bolt_tls {
            return Err(Error::Setup(
                "server.bolt.tls_level is OPTIONAL or REQUIRED but dbms.ssl.policy.bolt.enabled \
                 is false"
                    .into(),
            ));
        }
        let tcp = bind_bolt(config).await?;
        let routing = config.routing_enabled().then(|| routing(config, &metrics));
        let ctx = session_context(
            config,
            upstream,
            reloader.clone(),
            routing,
            shutdown,
            &metrics,
        );
        let pool = ctx.pool.clone();
        let listener = Listener::new(
            tcp,
            tls,
            config.bolt.tls_level,
            config.client.max_connections,
            transports(config),
            ctx,
        );
        Ok(Server {
            listener,
            grace: config.shutdown_grace_period,
            admin,
            metrics,
            reloader,
            pool,
        })
    }

    /// The admin endpoint, when `server.http.enabled` or `server.https.enabled`: its addresses,
    /// and [`admin::Admin::set_reload`] for the reload module.
    pub fn admin(&self) -> Option<&admin::Admin> {
        self.admin.as_ref()
    }

    /// The metrics every layer records into; hand a clone to routing, OCSP and reload.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// The TLS reloader: `server.reloader().reload("admin").await` is the admin endpoint's
    /// reload trigger (see [`reload`]).
    pub fn reloader(&self) -> Arc<reload::TlsReloader> {
        self.reloader.clone()
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` starts draining, then waits for sessions to finish (up to the
    /// grace period) and returns.
    pub async fn run(self, shutdown: Shutdown) {
        let admin = self.admin.map(|admin| {
            let state = admin.state();
            (tokio::spawn(admin.serve()), state)
        });
        if let Some((_, state)) = &admin {
            state.set_serving();
        }
        self.listener.serve(shutdown.clone()).await;
        shutdown.drain_and_wait(self.grace).await;
        if let Some(pool) = &self.pool {
            // Transactions in flight finished (or the grace period ran out): the idle
            // connections go now, each closed as a client would close it.
            pool.close_idle().await;
        }
        if let Some((task, _)) = admin {
            // It stops by itself at Phase::Stopped; the bound only guards against a stuck one.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
    }
}

/// `POST /reload` on the admin endpoint runs the same TLS reload as SIGHUP and
/// `CALL dbms.security.reloadTLS()`.
fn reload_hook(reloader: Arc<reload::TlsReloader>, enabled: bool) -> admin::ReloadHook {
    Arc::new(move || {
        let reloader = reloader.clone();
        Box::pin(async move {
            if !enabled {
                return Err(admin::ReloadError::Disabled(
                    reload::ReloadError::Disabled.to_string(),
                ));
            }
            match reloader.reload("admin").await {
                Ok(report) => Ok(report.lines.join("\n")),
                Err(reload::ReloadError::Disabled) => Err(admin::ReloadError::Disabled(
                    reload::ReloadError::Disabled.to_string(),
                )),
                Err(e) => Err(admin::ReloadError::Failed(e.to_string())),
            }
        })
    })
}

/// The binary's entry point after the configuration is loaded: logging, runtime, signals.
pub fn serve(mut config: Config, source: reload::ConfigSource) -> Result<(), Error> {
    telemetry::init(
        config.log.format,
        &config.log.level,
        config.log.tls_handshake_debug,
    );
    telemetry::configure_repeats(
        config.hardening.log_repeat_interval,
        config.hardening.log_repeat_burst,
    );
    if !config.ignored.is_empty() {
        let list: Vec<String> = config.ignored.iter().map(ToString::to_string).collect();
        tracing::info!(
            "Neo4j settings boltgate does not use, ignored (boltgate --strict refuses them): {}",
            list.join("; ")
        );
    }
    if let Some(limit) = fdlimit::raise() {
        let configured = config.effective_settings().iter().any(|(key, _, source)| {
            key == "boltgate.client.max_connections" && source != "default"
        });
        config.client.max_connections =
            fdlimit::fit(&limit, config.client.max_connections, configured);
    }
    let (mut builder, kind, workers) = runtime_builder();
    let (busy_polling, busy_polling_window) = (config.busy_polling, config.busy_polling_window);
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| Error::Setup(format!("cannot start the async runtime: {e}")))?;
    // Everything runs on the runtime's workers, not on this thread's `block_on`: a connection
    // the accept loop takes then starts in the same worker's queue, instead of the acceptor
    // waking a worker on another thread for each one (an eventfd write and a context switch
    // per connection, seen with strace).
    let serving = runtime.spawn(async move {
        let shutdown = Shutdown::new();
        let server = Server::bind_with_source(&config, source, &shutdown).await?;
        let addr = server
            .local_addr()
            .map_err(|e| Error::Setup(e.to_string()))?;
        tracing::info!(
            listen = %addr,
            runtime = kind,
            tls_level = %config.bolt.tls_level,
            upstream = %config.upstream.uri.address(),
            "boltgate listening"
        );
        if busy_polling {
            busy_poll::always(workers);
        } else {
            busy_poll::windowed(busy_polling_window, workers);
        }
        let signals = tokio::spawn(signals(shutdown.clone(), server.reloader()));
        let repeats = tokio::spawn(async {
            let mut every = tokio::time::interval(telemetry::repeat_interval());
            loop {
                every.tick().await;
                telemetry::flush_repeats();
            }
        });
        let watch = config
            .tls_reload_watch
            .map(|every| tokio::spawn(reload::watch::run(server.reloader(), every)));
        server.run(shutdown).await;
        signals.abort();
        repeats.abort();
        telemetry::flush_all_repeats();
        if let Some(watch) = watch {
            watch.abort();
        }
        tracing::info!("boltgate stopped");
        Ok(())
    });
    match runtime.block_on(serving) {
        Ok(served) => served,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Setup(format!("the server task ended: {e}"))),
    }
}

/// SIGTERM (orchestrators, `kill`) and SIGINT (Ctrl-C) start a graceful drain; a second signal
/// closes every session at once for an operator who will not wait. SIGHUP (an operator or a
/// certificate manager after rotating files) reloads the TLS material when
/// `dbms.security.tls_reload_enabled=true`.
async fn signals(shutdown: Shutdown, reloader: Arc<reload::TlsReloader>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::error!("cannot install signal handlers; stop boltgate with SIGKILL");
        return;
    };
    let mut draining = false;
    loop {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
            _ = hup.recv() => {
                // The outcome is logged by reload itself.
                let _ = reloader.reload("SIGHUP").await;
                continue;
            }
        }
        if draining {
            shutdown.close_now();
            return;
        }
        tracing::info!("signal received: draining (send it again to close at once)");
        shutdown.begin_drain();
        draining = true;
    }
}

/// The expiry of the certificates boltgate presents upstream and to Bolt clients, so that
/// `boltgate_certificate_expiry_timestamp_seconds` is there from the first scrape.
fn record_certificates(metrics: &metrics::Metrics, material: &reload::TlsMaterial) {
    if let Some(policy) = &material.cluster {
        metrics.certificate(policy.scope(), &policy.chain);
    }
    if let Some(bolt) = &material.bolt {
        metrics.certificate(bolt.policy.scope(), &bolt.policy.chain);
    }
}

/// The admin endpoint's TLS configuration (`dbms.ssl.policy.https`). Loaded whenever enabled,
/// so a bad policy is found at start even with the endpoint off.
fn https_config(
    config: &Config,
    metrics: &metrics::Metrics,
) -> Result<Option<Arc<rustls::ServerConfig>>, Error> {
    if !config.ssl.https.enabled {
        return Ok(None);
    }
    let policy = tls::TlsPolicy::load(&config.ssl.https)?;
    metrics.certificate(policy.scope(), &policy.chain);
    Ok(Some(policy.server_config()?))
}

/// The Bolt listening socket, `server.bolt.listen_address`.
async fn bind_bolt(config: &Config) -> Result<tokio::net::TcpListener, Error> {
    let addr = &config.bolt.listen_address;
    tokio::net::TcpListener::bind((addr.host.as_str(), addr.port))
        .await
        .map_err(|source| Error::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Cluster mode: the member registry (seeded from `boltgate.routing.members`, or else from the
/// upstream as the one router) and the routing policy the sessions share.
fn routing(config: &Config, metrics: &metrics::Metrics) -> Arc<session::relay::Routing> {
    let registry = if config.routing.members.is_empty() {
        upstream::registry::Registry::with_routers(
            vec![config.upstream.uri.address()],
            config.routing.ban_time,
        )
    } else {
        upstream::registry::Registry::with_members(&config.routing.members, config.routing.ban_time)
    };
    // In the settings' own syntax, so the line can be compared with the file.
    let members: Vec<String> = config
        .routing
        .members
        .iter()
        .map(|m| format!("{}={}", m.role, m.address))
        .collect();
    tracing::info!(
        advertised = %config.routing.advertised_addresses.join(","),
        members = %members.join(","),
        "routing across cluster members"
    );
    metrics.set_max_databases(config.hardening.max_databases);
    Arc::new(session::relay::Routing::new(
        Arc::new(
            registry
                .with_max_tables(config.hardening.max_databases)
                .with_metrics(metrics.clone()),
        ),
        session::intercept::Advertised {
            addresses: config.routing.advertised_addresses.clone(),
            ttl: config.routing.ttl,
        },
        &config.upstream.uri.address(),
        &config.upstream.uri.routing_context,
    ))
}

/// What every session needs, shared by all of them.
fn session_context(
    config: &Config,
    upstream: Arc<Upstream>,
    tls_reload: Arc<reload::TlsReloader>,
    routing: Option<Arc<session::relay::Routing>>,
    shutdown: &Shutdown,
    metrics: &metrics::Metrics,
) -> Arc<session::Context> {
    Arc::new(session::Context {
        upstream,
        tls_reload,
        routing,
        pool: (config.pool.mode == config::PoolMode::Transaction).then(|| {
            Arc::new(session::relay::PoolPolicy::new(
                &config.pool,
                metrics.pool(),
                config.upstream.uri.address(),
            ))
        }),
        advertised: session::intercept::Advertised {
            addresses: config.routing.advertised_addresses.clone(),
            ttl: config.routing.ttl,
        },
        forward_goodbye: config.upstream.forward_goodbye,
        translate: config.upstream.translate == crate::config::Translate::Auto,
        learned: Default::default(),
        handshake_timeout: config.client.handshake_timeout,
        idle_timeout: config.client.idle_timeout,
        max_message_size: config.max_message_size,
        max_nesting_depth: config.hardening.max_nesting_depth,
        reload_tls_allowed_users: config.hardening.reload_tls_allowed_users.clone(),
        shutdown: shutdown.clone(),
        metrics: metrics.clone(),
    })
}

/// What the listener accepts besides raw Bolt and TLS.
fn transports(config: &Config) -> listener::Transports {
    listener::Transports {
        websocket: net::websocket::Settings {
            allowed_origins: config.websocket.allowed_origins.clone(),
            max_frame_size: config.websocket.max_frame_size,
        },
        proxy_protocol: config
            .proxy_protocol
            .enabled
            .then(|| listener::proxy_protocol::Settings {
                trusted_networks: config.proxy_protocol.trusted_networks.clone(),
            }),
        tcp: config.client.tcp,
    }
}

/// One CPU (an affinity mask or a cgroup quota of one, as `std::thread::available_parallelism`
/// reads them), or `TOKIO_WORKER_THREADS=1`: a current-thread runtime. A multi-thread scheduler
/// with a single worker still pays for work stealing (atomics, the shared queue, its statistics)
/// on every wake-up: 9% of what a `RETURN 1` costs boltgate and 7% of a connection
/// (`examples/cost/op_cost.sh` pinned to one CPU). The second value names it for the log.
fn runtime_builder() -> (tokio::runtime::Builder, &'static str, usize) {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    if workers == 1 {
        (
            tokio::runtime::Builder::new_current_thread(),
            "current-thread (one CPU)",
            1,
        )
    } else {
        (
            tokio::runtime::Builder::new_multi_thread(),
            "multi-thread",
            workers,
        )
    }
}

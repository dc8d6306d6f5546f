//! The admin endpoint, for Prometheus and orchestrators (pgcat's admin surface is the model):
//!
//! | request        | answer                                                                  |
//! |----------------|-------------------------------------------------------------------------|
//! | `GET /health`  | 200 `ok` while the process runs (liveness)                              |
//! | `GET /ready`   | 200 `ready`; 503 with the reason while starting, draining, closing, or with no usable upstream |
//! | `GET /metrics` | every [`crate::metrics`] family, OpenMetrics text                              |
//! | `GET /config`  | the effective settings with their sources, secrets redacted             |
//! | `POST /reload` | runs the [`ReloadHook`] the embedder installed; 404 when none is        |
//!
//! Off unless `server.http.enabled` (plain) or `server.https.enabled` (TLS with
//! `dbms.ssl.policy.https`, mutual TLS when its `client_auth=REQUIRE`); loopback by default.
//!
//! Guards (see [`guard`]): every request's `Host` must be a loopback name, an IP address, a
//! listen address or one of `boltgate.admin.allowed_hosts` (a DNS-rebinding page sends its own
//! name), and a browser's `Origin`, when sent, must name such a host too. `POST /reload`, which
//! changes state, needs a client certificate the https policy trusts or the bearer token from
//! `boltgate.admin.token_file`; without either configured nobody may reload over HTTP.
//! HTTP is hyper's; this module only routes. The endpoint lives until the server has stopped,
//! so `/ready` answers 503 through the whole drain.

pub mod guard;
mod health;
pub mod status;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ListenAddress, Scope};
use crate::metrics::Metrics;
use crate::shutdown::{Phase, Shutdown};
use crate::Error;

/// What `POST /reload` runs. The reload module supplies it (see [`Admin::set_reload`]).
pub type ReloadHook = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, ReloadError>> + Send>> + Send + Sync,
>;

/// Why a reload did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadError {
    /// Reload is switched off (e.g. `dbms.security.tls_reload_enabled=false`): 409, with the text.
    Disabled(String),
    /// The new material or configuration does not validate; the old one stays: 422, with the
    /// text. Not a 5xx: boltgate is fine, the files it was asked to take are not, and a
    /// certificate manager retrying on 5xx would retry the same bad files.
    Failed(String),
}

/// At most this many admin connections at once; more are closed (a scraper needs one).
const MAX_CONNECTIONS: usize = 64;
/// A TLS handshake, and a whole admin connection, get this long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Content type of `/metrics`.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What the handlers read; shared by every admin connection.
pub struct State {
    pub metrics: Metrics,
    shutdown: Shutdown,
    serving: AtomicBool,
    probing: bool,
    config_text: String,
    reload: OnceLock<ReloadHook>,
    guard: guard::Guard,
}

impl State {
    /// Ok when clients can be served; else why not, in words.
    pub fn readiness(&self) -> Result<(), String> {
        match self.shutdown.phase() {
            Phase::Running => {}
            Phase::Draining => {
                return Err("draining: shutting down; no new connections are accepted".into())
            }
            Phase::Closing => {
                return Err("closing: shutting down; sessions are being closed".into())
            }
            Phase::Stopped => return Err("stopped".into()),
        }
        if !self.serving.load(Ordering::Acquire) {
            return Err("starting: the Bolt listener is not accepting yet".into());
        }
        let health = self.metrics.health();
        if self.probing && !health.all_known() {
            return Err("starting: the first upstream probe has not finished".into());
        }
        if !health.any_usable(!self.probing) {
            let mut why = String::from("no usable upstream:");
            for (member, state) in health.snapshot() {
                why.push_str(&format!(
                    "\n  {member}: {}",
                    state.last_error.as_deref().unwrap_or("unreachable")
                ));
            }
            return Err(why);
        }
        Ok(())
    }

    /// Marks the Bolt listener as accepting (the end of "starting").
    pub fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }
}

/// The bound admin listeners, not yet serving.
pub struct Admin {
    listeners: Vec<(TcpListener, Option<TlsAcceptor>)>,
    state: Arc<State>,
    probe_interval: Option<Duration>,
    probe_timeout: Duration,
}

impl Admin {
    /// Binds `server.http.listen_address` and/or `server.https.listen_address` (None when both are
    /// off), and starts tracking `members` for `/ready`. `https` is the https policy's server
    /// configuration, built by the caller when `server.https.enabled`.
    pub async fn bind(
        config: &Config,
        https: Option<Arc<rustls::ServerConfig>>,
        metrics: Metrics,
        shutdown: Shutdown,
        members: &[String],
    ) -> Result<Option<Admin>, Error> {
        let a = &config.admin;
        let mut listeners = Vec::new();
        if a.http.enabled {
            listeners.push((
                bind("server.http.listen_address", &a.http.listen_address).await?,
                None,
            ));
        }
        if a.https.enabled {
            let Some(tls) = https else {
                return Err(Error::Setup(
                    "server.https.enabled=true but the https SSL policy was not loaded".into(),
                ));
            };
            let tcp = bind("server.https.listen_address", &a.https.listen_address).await?;
            listeners.push((tcp, Some(TlsAcceptor::from(tls))));
        }
        if listeners.is_empty() {
            return Ok(None);
        }
        let guard = guard::Guard::from_config(config)?;
        if a.http.enabled && !guard::is_loopback_host(&a.http.listen_address.host) {
            tracing::warn!(
                listen = %a.http.listen_address,
                "the admin endpoint listens beyond loopback over plain HTTP: /metrics and /config \
                 are readable by anyone who can reach it; prefer server.https with \
                 dbms.ssl.policy.https.client_auth=REQUIRE, or a loopback server.http.listen_address"
            );
        }
        for m in members {
            metrics.upstream_member(m);
        }
        let mut config_text = format!(
            "# boltgate's effective configuration (from {}); secrets redacted\n",
            config.source
        );
        for (key, value, origin) in config.effective_settings() {
            config_text.push_str(&format!("{key}={value}    # {origin}\n"));
        }
        Ok(Some(Admin {
            listeners,
            state: Arc::new(State {
                metrics,
                shutdown,
                serving: AtomicBool::new(false),
                probing: a.probe_interval.is_some(),
                config_text,
                reload: OnceLock::new(),
                guard,
            }),
            probe_interval: a.probe_interval,
            probe_timeout: config.upstream.connect_timeout.min(Duration::from_secs(5)),
        }))
    }

    /// The bound addresses, as (`http` or `https`, address).
    pub fn local_addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(l, tls)| {
                let scheme = if tls.is_some() { "https" } else { "http" };
                l.local_addr().ok().map(|a| (scheme, a))
            })
            .collect()
    }

    pub fn state(&self) -> Arc<State> {
        self.state.clone()
    }

    /// Installs what `POST /reload` runs. Returns false if one was already installed.
    pub fn set_reload(&self, hook: ReloadHook) -> bool {
        self.state.reload.set(hook).is_ok()
    }

    /// Serves until the shutdown reaches [`Phase::Stopped`] (or the task is aborted); probes the
    /// upstream members meanwhile.
    pub async fn serve(self) {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(interval) = self.probe_interval {
            let state = self.state.clone();
            let timeout = self.probe_timeout;
            tasks.spawn(async move {
                loop {
                    health::probe_all(state.metrics.health(), timeout).await;
                    tokio::time::sleep(interval).await;
                }
            });
        }
        for (tcp, tls) in self.listeners {
            if let Ok(addr) = tcp.local_addr() {
                let scheme = if tls.is_some() { "https" } else { "http" };
                tracing::info!(listen = %addr, "admin endpoint listening ({scheme})");
            }
            tasks.spawn(accept_loop(tcp, tls, self.state.clone(), limit.clone()));
        }
        let mut phase = self.state.shutdown.watch();
        let _ = phase.wait_for(|p| *p == Phase::Stopped).await;
        tasks.shutdown().await;
    }
}

async fn bind(setting: &'static str, addr: &ListenAddress) -> Result<TcpListener, Error> {
    TcpListener::bind((addr.host.as_str(), addr.port))
        .await
        .map_err(|source| Error::AdminBind {
            setting,
            addr: addr.to_string(),
            source,
        })
}

async fn accept_loop(
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    limit: Arc<Semaphore>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "admin endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(client.addr = %peer, "admin endpoint: too many connections; closed");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(stream, state, false).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let conn = tls.get_ref().1;
                            state.metrics.tls_handshake_ok(
                                Scope::Https,
                                conn,
                                crate::tls::suites::negotiated(conn),
                            );
                            // rustls verified it against the policy's trusted CAs.
                            let cert = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .is_some_and(|c| !c.is_empty());
                            serve_connection(tls, state, cert).await
                        }
                        Ok(Err(e)) => {
                            state.metrics.tls_handshake_failed(Scope::Https, Some(&e));
                            tracing::info!(client.addr = %peer, error = %e, "admin endpoint: TLS handshake failed");
                        }
                        Err(_) => {
                            state.metrics.tls_handshake_failed(Scope::Https, None);
                            tracing::info!(client.addr = %peer, "admin endpoint: TLS handshake timed out");
                        }
                    }
                }
            }
        });
    }
}

/// `client_cert`: the connection presented a client certificate the https policy trusts.
async fn serve_connection<S>(stream: S, state: Arc<State>, client_cert: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move {
            if let Err((status, why)) = state.guard.check(&req, client_cert) {
                if crate::telemetry::allow(crate::telemetry::Repeated::Refused) {
                    tracing::info!(path = req.uri().path(), "admin endpoint: refused: {why}");
                }
                let mut r = text(status, why);
                if status == StatusCode::UNAUTHORIZED {
                    r.headers_mut().insert(
                        hyper::header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer"),
                    );
                }
                return Ok::<_, Infallible>(r);
            }
            Ok::<_, Infallible>(route(&state, req).await)
        }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        tracing::debug!(error = %e, "admin connection ended with an error");
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    let mut body = body.into();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    reply(status, "text/plain; charset=utf-8", body)
}

/// The routes. Only `GET` (and `HEAD`, which hyper answers without a body) and `POST /reload`.
async fn route(state: &State, req: Request<Incoming>) -> Reply {
    let path = req.uri().path();
    let method = req.method();
    let get = method == Method::GET || method == Method::HEAD;
    let allowed = match path {
        "/health" | "/ready" | "/metrics" | "/config" => "GET, HEAD",
        "/reload" => "POST",
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                format!(
                "no such endpoint: {path} (try /health, /ready, /metrics, /config, POST /reload)"
            ),
            )
        }
    };
    match (path, get, method == Method::POST) {
        ("/health", true, _) => text(StatusCode::OK, "ok"),
        ("/ready", true, _) => match state.readiness() {
            Ok(()) => text(StatusCode::OK, "ready"),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
        },
        ("/metrics", true, _) => {
            let ready = state.readiness().is_ok();
            reply(StatusCode::OK, OPENMETRICS, state.metrics.render(ready))
        }
        ("/config", true, _) => text(StatusCode::OK, state.config_text.clone()),
        ("/reload", _, true) => match state.reload.get() {
            None => text(
                StatusCode::NOT_FOUND,
                "reload is not available in this boltgate: no reload handler is installed",
            ),
            Some(hook) => match hook().await {
                Ok(done) => text(StatusCode::OK, done),
                Err(ReloadError::Disabled(why)) => text(StatusCode::CONFLICT, why),
                Err(ReloadError::Failed(why)) => text(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("reload failed; the previous configuration stays in use: {why}"),
                ),
            },
        },
        _ => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed on {path} (allowed: {allowed})"),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            r
        }
    }
}

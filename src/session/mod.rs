//! One client connection, from its first byte to its close.
//!
//! 1. [`handshake`]: read the client's proposals; dial the upstream offering only the versions
//!    both the client and boltgate speak; answer the client with the version the upstream chose.
//!    A server that refuses them all may still be reached by a Bolt 3 or 4.x client through
//!    [`translate`]: boltgate dials again with a version it translates to (`translated`).
//! 2. [`relay`]: forward messages both ways until GOODBYE (relayed), a close on either side, an
//!    error, idleness, or shutdown.
//!
//! When the upstream cannot be reached, the client still completes its handshake and gets a
//! FAILURE (`Neo.TransientError.General.DatabaseUnavailable`) to its first message: its driver
//! then reports "database unavailable" and retries, instead of a bare connection error.

pub mod buffers;
pub mod core;
mod ending;
mod error;
pub mod failure;
pub mod handshake;
pub mod intercept;
pub mod procedures;
pub mod relay;
pub mod translate;
pub mod wire;
pub mod work;

use std::sync::Arc;
use std::time::Duration;

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::handshake::ClientHello;
use boltgate_proto::Version;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

pub use error::SessionError;

use crate::net::Stream;
use crate::shutdown::Shutdown;
use crate::upstream::connect::{Offer, Upstream};

/// What every session shares: where to go and the limits that apply.
pub struct Context {
    pub upstream: Arc<Upstream>,
    /// Answers `CALL dbms.security.reloadTLS()` ([`procedures`]).
    pub tls_reload: Arc<crate::reload::TlsReloader>,
    /// Set when routing across cluster members (a `neo4j*` URI or `boltgate.routing.members`):
    /// sessions then use [`routed`] instead of the single-upstream [`relay`].
    pub routing: Option<Arc<relay::Routing>>,
    /// Set with `boltgate.pool.mode=transaction`: sessions borrow a pooled server connection
    /// per unit of work ([`relay::run_pooled`]).
    pub pool: Option<Arc<relay::PoolPolicy>>,
    /// What ROUTE and the routing procedures are answered with on the single-upstream relay when
    /// the client's routing context names no address (`boltgate.routing.*`).
    pub advertised: intercept::Advertised,
    /// `boltgate.upstream.forward_goodbye`: relay a client's GOODBYE upstream.
    pub forward_goodbye: bool,
    /// `boltgate.upstream.translate=auto`: translate for a client whose versions the server
    /// refuses ([`translate`]).
    pub translate: bool,
    /// The translation target that last worked upstream ([`translate::negotiate::Learned`]).
    pub learned: translate::negotiate::Learned,
    pub handshake_timeout: Duration,
    /// Close a client that has been idle (READY, nothing outstanding) this long.
    pub idle_timeout: Option<Duration>,
    pub max_message_size: usize,
    /// `boltgate.client.max_nesting_depth`: deeper client messages are refused, not forwarded.
    pub max_nesting_depth: usize,
    /// `boltgate.procedures.reload_tls_allowed_users`.
    pub reload_tls_allowed_users: Vec<String>,
    pub shutdown: Shutdown,
    pub metrics: crate::metrics::Metrics,
}

/// How a session ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Goodbye,
    ClientClosed,
    UpstreamClosed,
    Drained,
    IdleTimeout,
    /// The client did not send its next HELLO/LOGON within `boltgate.client.handshake_timeout`.
    LoginTimeout,
    Shutdown,
}

/// Whether the session is not authenticated yet (before HELLO, or between HELLO and LOGON).
pub(crate) fn logging_in(tracker: &boltgate_proto::state::Tracker) -> bool {
    use boltgate_proto::state::ServerState;
    matches!(
        tracker.state(),
        ServerState::Negotiation | ServerState::Authentication
    )
}

/// How often a session that is logging in looks at its [`LoginClock`]: short, so a login that
/// completes switches to the idle timeout promptly.
const LOGIN_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Until it has logged in, a client gets `boltgate.client.handshake_timeout` for each message it
/// owes (the clock restarts with each of its messages, and waits while the server has not
/// answered), so one that stops after the version handshake cannot hold a client and an
/// upstream connection forever. The idle timeout, off by default, applies once a session is READY.
pub(crate) struct LoginClock {
    timeout: std::time::Duration,
    deadline: tokio::time::Instant,
}

impl LoginClock {
    pub fn new(timeout: std::time::Duration) -> LoginClock {
        LoginClock {
            timeout,
            deadline: tokio::time::Instant::now() + timeout,
        }
    }

    /// The client sent something: its time starts again.
    pub fn restart(&mut self) {
        self.deadline = tokio::time::Instant::now() + self.timeout;
    }

    /// How long to wait for the client while logging in before calling [`LoginClock::expired`].
    pub fn poll(&self) -> std::time::Duration {
        LOGIN_POLL.min(self.timeout)
    }

    /// Whether the client owes a login message and its time is up.
    pub fn expired(&mut self, tracker: &boltgate_proto::state::Tracker) -> bool {
        if !logging_in(tracker) {
            return false;
        }
        if tracker.outstanding() > 0 {
            // The server's turn: the client's time starts once it has answered.
            self.restart();
            return false;
        }
        tokio::time::Instant::now() >= self.deadline
    }
}

/// What the session loop's one timer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The next look at the [`LoginClock`] (every [`LOGIN_POLL`] while logging in).
    Login,
    /// The idle timeout (`boltgate.client.idle_timeout`), restarted on every turn of the loop.
    Idle(std::time::Duration),
}

/// The session loop's timer. Arming a timer inserts it in tokio's wheel and, when it is the
/// earliest, wakes the driver through its eventfd: a fresh sleep on every turn of the loop cost a
/// system call per message while logging in. The login poll is therefore armed once per period
/// (the [`LoginClock`] keeps the deadline), and only the idle timeout, off by default, is
/// re-armed on every turn, as it must restart with any activity.
pub(crate) struct LoopTimer {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    armed: Option<Wait>,
    /// The period of [`Wait::Login`] ([`LoginClock::poll`]).
    login_poll: std::time::Duration,
}

impl LoopTimer {
    pub fn new(login_poll: std::time::Duration) -> LoopTimer {
        LoopTimer {
            // Not in the wheel until first polled.
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            armed: None,
            login_poll,
        }
    }

    /// Sets what the next turn waits for (None: nothing); true when the timer is to be polled.
    pub fn want(&mut self, wait: Option<Wait>) -> bool {
        let after = match wait {
            None => {
                self.armed = None;
                return false;
            }
            Some(Wait::Login) if self.armed == Some(Wait::Login) => return true,
            Some(Wait::Login) => self.login_poll,
            Some(Wait::Idle(d)) => d,
        };
        self.sleep
            .as_mut()
            .reset(tokio::time::Instant::now() + after);
        self.armed = wait;
        true
    }

    /// Ready when the armed wait is over; it is then disarmed.
    pub async fn fired(&mut self) {
        (&mut self.sleep).await;
        self.armed = None;
    }
}

pub async fn run(client: Stream, ctx: &Context) -> Result<End, SessionError> {
    run_with(client, ctx, None).await
}

/// [`run`] with the upstream connection already made by the caller (before its Bolt
/// handshake): `upstream` replaces dialing `ctx.upstream`. The session fuzzer runs whole
/// sessions over in-memory pipes with it ([`Stream::Memory`]). Routing contexts still dial.
pub async fn run_over(
    client: Stream,
    upstream: Stream,
    ctx: &Context,
) -> Result<End, SessionError> {
    run_with(client, ctx, Some(upstream)).await
}

async fn run_with(
    mut client: Stream,
    ctx: &Context,
    upstream: Option<Stream>,
) -> Result<End, SessionError> {
    let mut buf = BytesMut::with_capacity(64);
    let (hello, candidates) = read_hello(&mut client, &mut buf, ctx).await?;

    if let Some(routing) = &ctx.routing {
        // Pooled or not (`boltgate.pool.mode`): relay::run decides.
        return relay::run(client, buf, &hello, candidates, ctx, routing).await;
    }

    // Pooled: held while this session's dial learns the version (bounded like the pool).
    let mut probe = None;
    if let Some(pool) = &ctx.pool {
        if pool.version_for(&hello).is_none() {
            let member = ctx.upstream.address().to_string();
            probe = Some(
                pool.probe_place(&member)
                    .await
                    .map_err(SessionError::Pool)?,
            );
        }
        if let Some(version) = pool.version_for(&hello) {
            drop(probe.take());
            // A client like this one was seen: the server's answer is known, no dial.
            return relay::run_pooled_known(client, buf, &hello, version, ctx, None, pool).await;
        }
    }

    // The upstream sees the client's own proposals (a manifest only if the client asked for
    // one), so it answers as it would answer the client directly.
    let offer = Offer::from_client(&hello);
    let member = ctx.upstream.address().to_string();
    let started = std::time::Instant::now();
    // Only a connection boltgate dialled itself can be dialled again for translation.
    let dialled = upstream.is_none();
    let connected = match upstream {
        None => ctx.upstream.connect(&offer).await,
        Some(stream) => ctx.upstream.connect_over(stream, &offer).await,
    };
    match &connected {
        Ok(_) => ctx.metrics.upstream_connected(&member, started.elapsed()),
        Err(e) => ctx.metrics.upstream_connect_failed(&member, e),
    }
    match connected {
        Ok((mut upstream, agreed, upstream_rest)) => {
            let version =
                handshake::settle(&mut client, &mut buf, &hello, &mut upstream, agreed, ctx)
                    .await?;
            if let Some(pool) = &ctx.pool {
                // Pooled: this connection only learnt the version; it closes unused.
                pool.remember_version(&hello, version);
                relay::close_probe(upstream).await;
                drop(probe.take());
                return relay::run_pooled(client, buf, version, ctx, pool).await;
            }
            relay::run_direct(
                client,
                buf,
                (member, upstream, upstream_rest),
                version,
                ctx,
                None,
            )
            .await
        }
        Err(e) if e.is_version_refusal() => {
            // A translated session is not pooled (README, "Transaction pooling: limits"): the
            // probe's place goes before the server is dialled again.
            drop(probe.take());
            if dialled && ctx.translate {
                if let Some((translator, upstream, rest)) = translated(&candidates, ctx).await {
                    let version = translator.client();
                    answer_translated(&mut client, &mut buf, &hello, version, ctx).await?;
                    let first = (member, upstream, rest);
                    return relay::run_direct(client, buf, first, version, ctx, Some(translator))
                        .await;
                }
            }
            if let crate::upstream::connect::UpstreamError::ClosedOnOffer { .. } = e {
                // The server closed without a word; so does boltgate.
                let _ = client.shutdown().await;
            } else {
                handshake::refuse_client(&mut client).await;
            }
            ctx.metrics
                .connection_refused(crate::metrics::Refusal::BoltVersion);
            Err(e.into())
        }
        Err(e) => {
            // The probe's place is not held while the client is told.
            drop(probe.take());
            unavailable(client, buf, &hello, candidates[0], ctx, &e.to_string()).await;
            Err(e.into())
        }
    }
}

/// The client's handshake and the versions boltgate could speak with it; a client offering none
/// is refused here.
async fn read_hello(
    client: &mut Stream,
    buf: &mut BytesMut,
    ctx: &Context,
) -> Result<(boltgate_proto::handshake::ClientHello, Vec<Version>), SessionError> {
    let hello = tokio::time::timeout(
        ctx.handshake_timeout,
        handshake::read_client_hello(client, buf),
    )
    .await
    .map_err(|_| SessionError::HandshakeTimeout(ctx.handshake_timeout))??;
    let candidates = hello.acceptable(Version::SUPPORTED);
    if candidates.is_empty() {
        handshake::refuse_client(client).await;
        ctx.metrics
            .connection_refused(crate::metrics::Refusal::BoltVersion);
        return Err(SessionError::ClientHandshake(hello.refusal_error()));
    }
    Ok((hello, candidates))
}

/// A translated session's handshake answer: the client's own version, not the server's.
async fn answer_translated(
    client: &mut Stream,
    buf: &mut BytesMut,
    hello: &boltgate_proto::handshake::ClientHello,
    version: Version,
    ctx: &Context,
) -> Result<(), SessionError> {
    tokio::time::timeout(
        ctx.handshake_timeout,
        handshake::answer_client(client, buf, hello, version),
    )
    .await
    .map_err(|_| SessionError::HandshakeTimeout(ctx.handshake_timeout))??;
    tracing::Span::current().record("bolt.version", tracing::field::display(version));
    ctx.metrics.bolt_version(version);
    Ok(())
}

/// The server refused every version the client offered: with `boltgate.upstream.translate=auto`
/// and a client version boltgate translates from, the server is dialled again offering the
/// versions boltgate translates to, one per connection ([`translate::negotiate`]). None when no
/// target was accepted (the client is then refused as before).
async fn translated(
    candidates: &[Version],
    ctx: &Context,
) -> Option<(translate::Translator, Stream, BytesMut)> {
    use crate::upstream::connect::Agreed;
    let client = translate::negotiate::client_version(candidates)?;
    let member = ctx.upstream.address().to_string();
    for target in ctx.learned.order() {
        let offer = Offer::versions(&[target], false);
        let started = std::time::Instant::now();
        let connected = ctx.upstream.connect(&offer).await;
        match &connected {
            Ok(_) => ctx.metrics.upstream_connected(&member, started.elapsed()),
            Err(e) => ctx.metrics.upstream_connect_failed(&member, e),
        }
        match connected {
            Ok((stream, Agreed::Version(server), rest)) => {
                tracing::debug!(%client, %server, "the server refused the client's versions; translating");
                ctx.learned.worked(server);
                let translator = translate::Translator::new(client, server, ctx.max_message_size);
                return Some((translator, stream, rest));
            }
            // Not asked for without a manifest; nothing to translate to.
            Ok((_, Agreed::Manifest(_), _)) => {}
            Err(e) => tracing::debug!(%target, error = %e, "translation target refused"),
        }
    }
    None
}

/// The upstream is out of reach: finish the handshake on the client's preferred version, answer
/// its first message with a FAILURE, and close. `why` goes to the log only: the client has not
/// authenticated (see [`failure::UPSTREAM_UNREACHABLE`]).
async fn unavailable(
    mut client: Stream,
    mut buf: BytesMut,
    hello: &ClientHello,
    version: Version,
    ctx: &Context,
    why: &str,
) {
    let exchange = async {
        handshake::answer_client(&mut client, &mut buf, hello, version).await?;
        let (r, w) = tokio::io::split(client);
        // Prefixed: bytes already read are decoded before the socket is read again.
        let r = crate::net::Prefixed::new(buf.split().freeze(), r);
        let mut rx = FramedRead::new(r, ChunkCodec::new(ctx.max_message_size));
        let mut tx = FramedWrite::new(w, ChunkCodec::new(ctx.max_message_size));
        // Skip NOOPs; answer the first real message.
        while let Some(frame) = rx.next().await {
            if let Ok(Frame::Message(_)) = frame {
                tracing::debug!(
                    reason = why,
                    "upstream unreachable: the client's first message gets a FAILURE"
                );
                let _ = tx
                    .send(failure::failure(
                        version,
                        failure::DATABASE_UNAVAILABLE,
                        failure::UPSTREAM_UNREACHABLE,
                    ))
                    .await;
                break;
            }
            if frame.is_err() {
                break;
            }
        }
        let _ = tx.get_mut().shutdown().await;
        Ok::<(), SessionError>(())
    };
    let _ = tokio::time::timeout(ctx.handshake_timeout, exchange).await;
}

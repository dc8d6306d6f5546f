//! The Pool policy's member side, as I/O: taking a connection from a member's pool for a unit
//! of work ([`Session::pool_take`]: checked, or dialled and logged in; what each attempt means
//! is [`crate::session::core::Taking`]), the members logins are checked on, a routed session's
//! start ([`run_pooled_routed`]), and routing table fetches counted in the router's pool
//! ([`PooledFetch`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use boltgate_proto::handshake::ClientHello;
use boltgate_proto::message::{RawMessage, Response, RoutingTable as RouteAnswer};
use boltgate_proto::packstream::Map;
use boltgate_proto::Version;
use bytes::BytesMut;

use super::backend::Backend;
use super::error::PlacementError;
use super::pool_conn::{answers_reset, close_evicted, close_probe, exchange, still_open};
use super::pool_policy::{probe_place, Key, MemberPools, PoolPolicy};
use super::pooled::RESET;
use super::requests::Reached;
use super::{Routing, Session};
use crate::net::Stream;
use crate::pool::{Grant, Pool, Ticket};
use crate::session::core::{Expect, Next, Take, Taking};
use crate::session::{Context, End, SessionError};
use crate::upstream::connect::Offer;
use crate::upstream::discovery::RouteFetcher;
use crate::upstream::registry::Fetch;

/// A pooled connection idle this long is checked with a RESET round trip before a unit of work
/// is sent on it: a server that vanished without closing (a host down, a dropped link) would
/// otherwise take the unit with it. Shorter idle times get the cheaper check ([`still_open`]).
const CHECK_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a new connection gave no login.
pub(super) enum Login {
    /// Dial, handshake or the HELLO/LOGON exchange failed: the member is unreachable.
    Unreachable(String),
    /// The server refused the credentials: its FAILURE, for the client.
    Refused(RawMessage),
}

/// One attempt at a member's pool.
enum Attempt {
    /// A live connection, with its place; `fresh`: just dialled.
    Lent(Box<Backend>, Ticket<Key, Box<Backend>>, bool),
    /// The idle connection taken was closed; its place is freed.
    FoundClosed,
    Failed(Take, PlacementError),
}

impl Session<'_> {
    /// Where logins are checked: the member a Cluster session dials first (the initial router,
    /// or the static topology's writers then readers, banned ones last), or the one upstream.
    pub(super) fn login_members(&self) -> Vec<String> {
        match self.routing {
            Some(routing) => routing.registry.bootstrap_candidates(),
            None => vec![self.pool_policy().upstream().to_string()],
        }
    }

    /// `member` could not be dialled: with routing, banned as the Cluster policy bans it.
    pub(super) fn member_unreachable(&mut self, member: &str, why: &str) {
        match self.routing {
            Some(routing) => {
                tracing::warn!(
                    member,
                    error = why,
                    "cluster member unreachable; trying another"
                );
                routing.registry.on_member_failure(member);
                self.unreachable
                    .insert(member.to_string(), tokio::time::Instant::now());
            }
            None => tracing::debug!(upstream = member, error = why, "upstream unreachable"),
        }
    }

    /// With routing: `member` reached through its pool, for the Cluster policy's choice.
    pub(super) async fn pool_reach(&mut self, member: &str) -> Reached {
        match self.pool_take(member).await {
            Ok((id, fresh)) => Reached::Conn { id, fresh },
            Err((Next::Another, e)) => Reached::Unreachable(e.to_string()),
            Err((_, e)) => Reached::Failed(e),
        }
    }

    /// A connection from `member`'s pool, adopted for the unit of work: its id and whether it
    /// was just dialled; or what the failure means ([`Taking`]) and the error.
    pub(super) async fn pool_take(
        &mut self,
        member: &str,
    ) -> Result<(u64, bool), (Next, PlacementError)> {
        let pool = match self.routing {
            Some(_) => self.pool_policy().pool(member),
            // One upstream, one pool: kept by the policy, no lookup per unit.
            None => self.pool_policy().upstream_pool(),
        };
        let key = self.pool_key();
        let routed = self.routing.is_some();
        let mut taking = Taking::new(pool.max_size());
        loop {
            let attempt = self.take_once(&pool, &key, member).await;
            let take = match &attempt {
                Attempt::Lent(..) => Take::Lent,
                Attempt::FoundClosed => Take::FoundClosed,
                Attempt::Failed(take, _) => *take,
            };
            match (taking.next(take, routed), attempt) {
                (_, Attempt::Lent(mut backend, ticket, fresh)) => {
                    if backend.dirty {
                        // The unit before ended in a FAILURE: RESET first, its answer boltgate's.
                        backend.dirty = false;
                        backend.send(RESET, Expect::Swallow("RESET"));
                    }
                    backend.pooled = Some(ticket);
                    return Ok((self.adopt_backend(backend), fresh));
                }
                (Next::Again, _) => {}
                (next, Attempt::Failed(_, e)) => return Err((next, e)),
                (next, Attempt::FoundClosed) => {
                    let why = "every pooled connection taken was closed by the server".to_string();
                    let member = member.to_string();
                    return Err((next, PlacementError::Unreachable { member, why }));
                }
            }
        }
    }

    async fn take_once(
        &mut self,
        pool: &Arc<Pool<Key, Box<Backend>>>,
        key: &Key,
        member: &str,
    ) -> Attempt {
        let lent = match pool.acquire(key).await {
            Ok(lent) => lent,
            Err(e) => return Attempt::Failed(Take::Exhausted, e.into()),
        };
        match lent.grant {
            Grant::Ready { conn, idle_for, .. } => {
                let mut conn = conn;
                let alive = if idle_for >= CHECK_IDLE_AFTER {
                    // The RESET also does what a dirty connection owes.
                    conn.dirty = false;
                    answers_reset(&mut conn, self.version, self.ctx.handshake_timeout).await
                } else {
                    still_open(&mut conn)
                };
                if !alive {
                    // Closed while idle (a restart): its place goes with the ticket.
                    tracing::debug!(member, "pooled connection found closed; replaced");
                    return Attempt::FoundClosed;
                }
                Attempt::Lent(conn, lent.ticket, false)
            }
            Grant::Dial { evicted } => {
                close_evicted(evicted).await;
                let member = member.to_string();
                match self.login_new(&member, pool).await {
                    Ok(backend) => Attempt::Lent(backend, lent.ticket, true),
                    Err(Login::Refused(failure)) => Attempt::Failed(
                        Take::Refused,
                        PlacementError::LoginRefused { member, failure },
                    ),
                    Err(Login::Unreachable(why)) => Attempt::Failed(
                        Take::Unreachable,
                        PlacementError::Unreachable { member, why },
                    ),
                }
            }
        }
    }

    /// A new connection to `member`, logged in with the session's HELLO (and LOGON), for
    /// `pool`.
    pub(super) async fn login_new(
        &mut self,
        member: &str,
        pool: &Pool<Key, Box<Backend>>,
    ) -> Result<Box<Backend>, Login> {
        let (stream, rest, _) = self.dial_exchange(member, Some(pool)).await?;
        let who = match self.routing {
            Some(_) => format!("cluster member {member}").into(),
            None => self.ctx.upstream.name_of(member),
        };
        let ctx = self.ctx;
        Ok(Box::new(Backend::new(
            who,
            member.to_string(),
            stream,
            rest,
            ctx.max_message_size,
            ctx.metrics.session(member),
        )))
    }

    /// The server's HELLO metadata, asked for on a connection to `member` closed after.
    pub(super) async fn ask_metadata(&mut self, member: &str) -> Result<Map, Login> {
        let (stream, _, meta) = self.dial_exchange(member, None).await?;
        close_probe(stream).await;
        Ok(meta)
    }

    /// Dials `member` and sends the session's HELLO (as `member` gets it) and, for a login
    /// (`login`: the pool it is for, whose counters it goes in) on 5.1+, its LOGON; every answer
    /// must be SUCCESS. Returns the connection, bytes read past the answers and the HELLO
    /// metadata (which the policy also learns).
    async fn dial_exchange(
        &mut self,
        member: &str,
        login: Option<&Pool<Key, Box<Backend>>>,
    ) -> Result<(Stream, BytesMut, Map), Login> {
        let ctx = self.ctx;
        let version = self.version;
        let started = std::time::Instant::now();
        let offer = Offer::version(version);
        let dialled = match self.routing {
            Some(_) => ctx
                .upstream
                .connect_to(member, &offer)
                .await
                .map(|(s, _, r)| (s, r)),
            None => ctx.upstream.connect(&offer).await.map(|(s, _, r)| (s, r)),
        };
        let (mut stream, mut rest) = match dialled {
            Ok(c) => {
                ctx.metrics.upstream_connected(member, started.elapsed());
                c
            }
            Err(e) => {
                ctx.metrics.upstream_connect_failed(member, &e);
                return Err(Login::Unreachable(e.to_string()));
            }
        };
        let hello = self.hello.clone().unwrap_or_default();
        let mut requests = vec![self.member_hello(&hello, member)];
        if login.is_some() && version >= Version::V5_1 {
            requests.push(self.logon.clone().unwrap_or_default());
        }
        if let Some(pool) = login {
            pool.metrics.logins.inc();
        }
        let exchange = exchange(&mut stream, &mut rest, &requests, ctx.max_message_size);
        let answers = match tokio::time::timeout(ctx.handshake_timeout, exchange).await {
            Ok(Ok(answers)) => answers,
            Ok(Err(e)) => {
                close_probe(stream).await;
                return Err(Login::Unreachable(e.to_string()));
            }
            Err(_) => {
                close_probe(stream).await;
                return Err(Login::Unreachable(
                    "no answer to HELLO/LOGON in time".into(),
                ));
            }
        };
        let mut meta = Map::new();
        for (i, answer) in answers.into_iter().enumerate() {
            match Response::decode(version, &answer) {
                Ok(Response::Success(m)) if i == 0 => {
                    self.pool_policy().learn(&m.metadata);
                    meta = m.metadata;
                }
                Ok(Response::Success(_)) => {}
                _ => {
                    if let Some(pool) = login {
                        pool.metrics.login_failures.inc();
                    }
                    tracing::debug!(upstream = %member, "the server refused a login; connection closed");
                    close_probe(stream).await;
                    return Err(Login::Refused(answer));
                }
            }
        }
        Ok((stream, rest, meta))
    }
}

/// A routing table fetch that holds a place in the router's pool while it runs, so a member
/// that routes never sees more than `max_size` connections from boltgate either.
pub(super) struct PooledFetch {
    inner: RouteFetcher,
    members: Arc<MemberPools>,
}

impl PooledFetch {
    pub fn new(inner: RouteFetcher, members: Arc<MemberPools>) -> PooledFetch {
        PooledFetch { inner, members }
    }
}

impl Fetch for PooledFetch {
    fn fetch<'a>(
        &'a self,
        router: &'a str,
        db: Option<&'a str>,
        bookmarks: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<RouteAnswer, String>> + Send + 'a>> {
        Box::pin(async move {
            let _place = probe_place(&self.members, router)
                .await
                .map_err(|e| e.to_string())?;
            self.inner.fetch(router, db, bookmarks).await
        })
    }
}

/// Runs a pooled session with routing: the client's handshake answered with the version a
/// member agreed (learnt once per set of proposals, on a connection that holds a place in that
/// member's pool and is closed after), then the relay with both policies' parts: placement
/// from the Cluster policy, connections from the members' pools.
pub async fn run_pooled_routed(
    mut client: Stream,
    mut buf: BytesMut,
    hello: &ClientHello,
    candidates: Vec<Version>,
    ctx: &Context,
    routing: &Routing,
    pool: &PoolPolicy,
) -> Result<End, SessionError> {
    let policies = (Some(routing), Some(pool));
    if let Some(version) = pool.version_for(hello) {
        return run_pooled_known(client, buf, hello, version, ctx, Some(routing), pool).await;
    }
    let offer = Offer::from_client(hello);
    let mut last_err = None;
    for address in routing.registry.bootstrap_candidates() {
        let place = pool
            .probe_place(&address)
            .await
            .map_err(SessionError::Pool)?;
        // Another session like this one may have learnt it while this one waited.
        if let Some(version) = pool.version_for(hello) {
            drop(place);
            return run_pooled_known(client, buf, hello, version, ctx, Some(routing), pool).await;
        }
        let started = std::time::Instant::now();
        let connected = ctx.upstream.connect_to_relaying(&address, &offer).await;
        match &connected {
            Ok(_) => ctx.metrics.upstream_connected(&address, started.elapsed()),
            Err(e) => ctx.metrics.upstream_connect_failed(&address, e),
        }
        match connected {
            Ok((mut stream, agreed, _)) => {
                routing.registry.balancer.unban(&address);
                let settled = crate::session::handshake::settle(
                    &mut client,
                    &mut buf,
                    hello,
                    &mut stream,
                    agreed,
                    ctx,
                )
                .await;
                // This connection only learnt the version; it closes unused.
                close_probe(stream).await;
                drop(place);
                let version = settled?;
                pool.remember_version(hello, version);
                return super::relay_with(client, buf, version, ctx, policies, None, None).await;
            }
            Err(e) if e.is_version_refusal() => {
                crate::session::handshake::refuse_client(&mut client).await;
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!(member = %address, error = %e, "cluster member unreachable");
                routing.registry.on_member_failure(&address);
                last_err = Some(e);
            }
        }
    }
    let why = last_err.map_or(
        crate::session::error::NoMember::NoneConfigured,
        crate::session::error::NoMember::Unreachable,
    );
    crate::session::unavailable(client, buf, hello, candidates[0], ctx, &why.to_string()).await;
    Err(SessionError::NoMemberReachable(why))
}

/// A pooled session whose version is known (a client with the same proposals was seen): the
/// client is answered without a dial, then relayed (`routing`: with the Cluster policy's
/// placement).
pub async fn run_pooled_known(
    mut client: Stream,
    mut buf: BytesMut,
    hello: &ClientHello,
    version: Version,
    ctx: &Context,
    routing: Option<&Routing>,
    pool: &PoolPolicy,
) -> Result<End, SessionError> {
    let timeout = ctx.handshake_timeout;
    let answer = crate::session::handshake::answer_client(&mut client, &mut buf, hello, version);
    tokio::time::timeout(timeout, answer)
        .await
        .map_err(|_| SessionError::HandshakeTimeout(timeout))??;
    super::relay_with(client, buf, version, ctx, (routing, Some(pool)), None, None).await
}

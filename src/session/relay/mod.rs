//! The relay: one session loop for every mode. Where a request goes is the policy:
//!
//! - **Direct** ([`run_direct`], `routing` = None): one upstream connection, backend 0; every
//!   request goes to it in order, pipelined (`requests.rs`); what boltgate answers itself
//!   (ROUTE naming boltgate, `reloadTLS()`) waits its turn in the same FIFO; the session ends when
//!   the upstream closes, as the client's own connection would have.
//! - **Cluster** ([`run`]): one client connection spread over cluster members, below.
//! - **Pool** ([`run_pooled`], `pooled.rs`): no connection is the session's own; each unit of work
//!   borrows one from a member's pool. With routing ([`run_pooled_routed`]) the unit's member
//!   is the Cluster policy's choice, reached through that member's pool (`pool_members.rs`).
//!
//! One task, no task per upstream connection: the loop's `select!` reads the client, writes its
//! answers, and writes and reads every upstream connection (`members::poll_members`); what each
//! connection owes the client is decided without I/O ([`crate::session::core::Owed`]).
//!
//! Cluster: each unit of work (an explicit transaction, BEGIN … COMMIT/ROLLBACK, or an auto-commit RUN
//! and its PULLs) is placed when it starts: the database and access mode of its BEGIN/RUN pick
//! a routing table ([`Registry`]) and a member ([`Balancer`]: least outstanding work, round-robin
//! ties, banned members skipped). The session keeps one backend connection per member, opened
//! lazily by replaying the client's HELLO (and LOGON), whose answers boltgate swallows.
//!
//! Ordering: every request leaves a [`Slot`] in one FIFO, either "the next answer from backend
//! N" or a response boltgate makes itself (ROUTE, TELEMETRY, RESET, its own FAILUREs). Answers
//! go to the client strictly in that order, whatever order the backends produce them in; each
//! backend's own answers are FIFO, so a per-backend queue of expectations tells which of them
//! are the client's and which are boltgate's (replays, RESETs to the other members).
//!
//! A new unit of work is only placed once every earlier answer has reached the client, so its
//! placement knows whether the session is in a transaction or FAILED (then it is IGNORED, as a
//! server would) and a unit never races its predecessor on another member. Drivers wait for
//! COMMIT's bookmark and for a query's result before starting the next unit, so this costs them
//! nothing.
//!
//! Failures: a member that cannot be dialled is banned and another is tried (nothing was sent
//! yet, so nothing is re-run). A member that dies with work in flight (or in the middle of the
//! client's transaction): every answer it sent reaches the client, then the client's connection
//! is closed without a FAILURE of boltgate's own, as the member's own close would have looked
//! direct (a COMMIT's outcome is then unknown, and the driver says so instead of retrying). Only a
//! request that never reached a member gets boltgate's
//! `Neo.TransientError.General.DatabaseUnavailable` (safe to retry). The transaction is never
//! replayed elsewhere by boltgate. NotALeader / ForbiddenOnReadOnlyDatabase reach the client
//! unchanged and drop the member from the database's writers, so the next write work refreshes
//! the table.
//!
//! Counting: a request forwarded to a member and every answer of that member to the client are
//! counted against it, as the plain relay counts ([`super::work`]); what boltgate answers
//! itself (ROUTE, RESET, `CALL dbms.security.reloadTLS()` through [`super::procedures`]) counts
//! against no member. The HELLO each member gets names that member in its routing context
//! ([`hello_for_member`]).
//!
//! GOODBYE goes to every member connection of the session before they close
//! (`boltgate.upstream.forward_goodbye=false`: closed without it, for FalkorDB).

mod answers;
mod backend;
mod backends;
mod error;
mod members;
mod pool_conn;
mod pool_members;
mod pool_policy;
mod pooled;
mod requests;

pub use self::error::PlacementError;
pub use self::pool_conn::close_probe;
pub use self::pool_members::{run_pooled_known, run_pooled_routed};
pub use self::pool_policy::PoolPolicy;
pub use crate::session::core::MemberError;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{sig, AccessMode, RawMessage, RequestKind};
use boltgate_proto::packstream::Map;
use boltgate_proto::state::Tracker;
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use tokio_util::codec::FramedRead;

use super::buffers;
use super::ending;
use super::error::NoMember;
use super::intercept::Advertised;
use super::procedures::Procedures;
use super::wire::WireWriter;
use super::{Context, End, SessionError};
use crate::fasthash::BuildFastHasher;
use crate::net::split::{ReadHalf, WriteHalf};
use crate::net::Prefixed;
use crate::net::Stream;
use crate::session::core::{Expect, Held, Units};
use crate::session::translate::Translator;
use crate::upstream::balance::Lease;
use crate::upstream::connect::Offer;
use crate::upstream::discovery::routing_context;
use crate::upstream::registry::Registry;

/// A read-only database refused a write: same handling as NotALeader.
pub use crate::status::FORBIDDEN_ON_READ_ONLY;
/// The member refused a write: drivers refresh their table and retry on the new writer.
pub use crate::status::NOT_A_LEADER;

/// Answers queued for the client beyond which the session takes no more from the members until
/// the client reads: what a client that stops reading can make boltgate hold is this plus one
/// run per member, and the members are slowed down by TCP, as its own server would be direct.
const CLIENT_QUEUE_HIGH: usize = 64 * 1024;

/// What routed sessions share.
pub struct Routing {
    pub registry: Arc<Registry>,
    pub advertised: Advertised,
    /// The routing context sent with ROUTE to the routers (`neo4j*` URI only).
    pub context: Map,
}

impl Routing {
    pub fn new(
        registry: Arc<Registry>,
        advertised: Advertised,
        initial_address: &str,
        query: &[(String, String)],
    ) -> Routing {
        Routing {
            registry,
            advertised,
            context: routing_context(initial_address, query),
        }
    }
}

/// Reads through [`Prefixed`]: bytes read past the handshake are decoded first (see `net::Prefixed`).
type CRx = FramedRead<Prefixed<ReadHalf>, ChunkCodec>;
/// The members' answers go out as slices of the runs they arrived in ([`super::wire`]).
type CTx = WireWriter<WriteHalf>;

use backends::Backends;

enum Slot {
    Backend(u64),
    Local(Vec<Bytes>),
}

enum Flow {
    Continue,
    Stall(RawMessage),
    End(End),
}

struct Session<'a> {
    version: Version,
    ctx: &'a Context,
    /// The policy: `None` is Direct (one upstream, backend 0: every request goes to it, in
    /// order, pipelined); `Some` is Cluster (units of work placed on members, `requests.rs`).
    routing: Option<&'a Routing>,
    /// The Pool policy (`pooled.rs`): no connection is the session's own. With `routing` too,
    /// units are placed as Cluster places them, each on a connection from its member's pool.
    pool: Option<&'a PoolPolicy>,
    c_tx: CTx,
    backends: Backends,
    /// A member's address to its connection (the Cluster policy's lookup per unit of work).
    by_address: HashMap<String, u64, BuildFastHasher>,
    next_id: u64,
    slots: VecDeque<Slot>,
    tracker: Tracker,
    hello: Option<Bytes>,
    logon: Option<Bytes>,
    /// The Cluster policy's units of work (unused by Direct).
    units: Units,
    unit_db: Option<String>,
    lease: Option<Lease>,
    /// `CALL dbms.security.reloadTLS()`, answered by boltgate as in the plain relay.
    procedures: Procedures,
    /// The access mode of the open explicit transaction, for the per-mode counters.
    tx_mode: Option<AccessMode>,
    /// The member running the client's open transaction was lost between its requests.
    lost_tx: Option<(String, Arc<MemberError>)>,
    /// Members this session failed to dial, and when: not dialled again by it within the ban
    /// time, even when every member is banned (each dial of a black hole costs a whole connect
    /// timeout, and a client pipelining units of work would pay it for each).
    unreachable: HashMap<String, tokio::time::Instant>,
    /// A translated session refused a request it could not translate: what follows is IGNORED
    /// until the client's RESET (`answers.rs`, `forward_translated`).
    refused: bool,
}

/// The session's first upstream connection: its address, the stream, bytes read past its
/// handshake.
type First = (String, Stream, BytesMut);

/// Runs a routed session: dials a first member to agree the Bolt version with (the initial
/// router, or a static writer), answers the client's handshake, then relays. With transaction
/// pooling, [`run_pooled_routed`] does it.
pub async fn run(
    mut client: Stream,
    mut buf: BytesMut,
    hello: &boltgate_proto::handshake::ClientHello,
    candidates: Vec<Version>,
    ctx: &Context,
    routing: &Routing,
) -> Result<End, SessionError> {
    if let Some(pool) = &ctx.pool {
        return run_pooled_routed(client, buf, hello, candidates, ctx, routing, pool).await;
    }
    let mut last_err = None;
    let mut first = None;
    // As on the plain relay: the client's own proposals.
    let offer = Offer::from_client(hello);
    for address in routing.registry.bootstrap_candidates() {
        let started = std::time::Instant::now();
        let connected = ctx.upstream.connect_to_relaying(&address, &offer).await;
        match &connected {
            Ok(_) => ctx.metrics.upstream_connected(&address, started.elapsed()),
            Err(e) => ctx.metrics.upstream_connect_failed(&address, e),
        }
        match connected {
            Ok(conn) => {
                routing.registry.balancer.unban(&address);
                first = Some((address, conn));
                break;
            }
            Err(e) if e.is_version_refusal() => {
                super::handshake::refuse_client(&mut client).await;
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!(member = %address, error = %e, "cluster member unreachable");
                routing.registry.on_member_failure(&address);
                last_err = Some(e);
            }
        }
    }
    let Some((address, (mut stream, agreed, rest))) = first else {
        let why = last_err.map_or(NoMember::NoneConfigured, NoMember::Unreachable);
        super::unavailable(client, buf, hello, candidates[0], ctx, &why.to_string()).await;
        return Err(SessionError::NoMemberReachable(why));
    };
    let version =
        super::handshake::settle(&mut client, &mut buf, hello, &mut stream, agreed, ctx).await?;
    relay(
        client,
        buf,
        version,
        ctx,
        Some(routing),
        Some((address, stream, rest)),
        None,
    )
    .await
}

/// Runs a plain session (the Direct policy) on an upstream connection whose handshake is done:
/// every request goes to it, in order, pipelined; the session ends when it closes. `version` is
/// the client's; `translator` is set when the upstream speaks another one (`session::translate`).
pub async fn run_direct(
    client: Stream,
    client_rest: BytesMut,
    upstream: First,
    version: Version,
    ctx: &Context,
    translator: Option<Translator>,
) -> Result<End, SessionError> {
    relay(
        client,
        client_rest,
        version,
        ctx,
        None,
        Some(upstream),
        translator,
    )
    .await
}

/// Runs a session under the Pool policy (`pooled.rs`) once the client's handshake is done:
/// no server connection is its own; each unit of work borrows one from `pool`.
pub async fn run_pooled(
    client: Stream,
    client_rest: BytesMut,
    version: Version,
    ctx: &Context,
    pool: &PoolPolicy,
) -> Result<End, SessionError> {
    relay_with(
        client,
        client_rest,
        version,
        ctx,
        (None, Some(pool)),
        None,
        None,
    )
    .await
}

async fn relay(
    client: Stream,
    buf: BytesMut,
    version: Version,
    ctx: &Context,
    routing: Option<&Routing>,
    first: Option<First>,
    translator: Option<Translator>,
) -> Result<End, SessionError> {
    relay_with(
        client,
        buf,
        version,
        ctx,
        (routing, None),
        first,
        translator,
    )
    .await
}

/// The one session loop, for every policy, and its end.
async fn relay_with(
    client: Stream,
    mut buf: BytesMut,
    version: Version,
    ctx: &Context,
    (routing, pool): (Option<&Routing>, Option<&PoolPolicy>),
    first: Option<First>,
    translator: Option<Translator>,
) -> Result<End, SessionError> {
    let codec = || ChunkCodec::new(ctx.max_message_size);
    let (cr, cw) = client.into_split();
    let mut c_rx = FramedRead::with_capacity(
        Prefixed::new(buf.split().freeze(), cr),
        codec(),
        buffers::CLIENT_FIRST_READ,
    );
    let c_tx = WireWriter::new(cw);
    let procedures = match routing {
        // Routing procedures are the Cluster policy's own (requests.rs).
        Some(_) => Procedures::new(ctx.max_nesting_depth),
        // Direct: ROUTE and the routing procedures name boltgate itself.
        None => Procedures::new(ctx.max_nesting_depth).with_routing(ctx.advertised.clone()),
    };
    let mut s = Session {
        version,
        ctx,
        routing,
        pool,
        c_tx,
        backends: Backends::default(),
        by_address: HashMap::default(),
        next_id: 0,
        slots: VecDeque::new(),
        tracker: Tracker::new(version),
        hello: None,
        logon: None,
        units: Units::default(),
        unit_db: None,
        lease: None,
        procedures,
        tx_mode: None,
        lost_tx: None,
        unreachable: HashMap::new(),
        refused: false,
    };
    if let Some((address, stream, rest)) = first {
        let id = s.adopt(address, stream, rest);
        if let Some(b) = s.backends.get_mut(&id) {
            b.translator = translator;
        }
    }
    let result = s.run(&mut c_rx).await;

    ending::log_unanswered(&result, s.tracker.outstanding());
    let goodbye = matches!(result, Ok(End::Goodbye)) && ctx.forward_goodbye;
    if goodbye {
        // Each upstream connection hears the client's GOODBYE, as from its own client.
        let message = Bytes::from_static(&[0xB0, sig::GOODBYE]);
        for b in s.backends.values_mut().filter(|b| b.is_alive()) {
            b.send(message.clone(), Expect::Swallow("GOODBYE"));
        }
    }
    let client_reset = result.as_ref().is_err_and(SessionError::is_client_reset);
    // The upstream connections get what is queued for them (GOODBYE included) and are shut
    // down, after the client, within the same bound.
    let upstreams = async {
        if goodbye {
            // Every member hears its GOODBYE before boltgate waits for the first to close.
            for b in s.backends.values_mut().filter(|b| b.pooled.is_none()) {
                b.flush().await;
            }
        }
        for b in s.backends.values_mut() {
            if b.pooled.is_some() {
                // Its place in the pool is freed once the server has seen it close.
                b.close_and_wait(pool_conn::CLOSE_WAIT).await;
            } else if goodbye {
                b.close_after_server(ending::GOODBYE_CLOSE_WAIT).await;
            } else if !(client_reset && b.reset_if_idle()) {
                b.close().await;
            }
        }
    };
    let last = ending::last_word(version, &result);
    ending::close(&mut s.c_tx, last, client_reset, upstreams).await;
    s.backends.clear();
    result
}

impl Session<'_> {
    // Over 100 lines on purpose: one `select!` over every source of work (shutdown, the
    // client's queue, the upstream connections, the client's requests, the timers). Its branches
    // borrow disjoint fields of `self` at once, which methods taking `&mut self` could not.
    async fn run(&mut self, c_rx: &mut CRx) -> Result<End, SessionError> {
        // Requests waiting for the answers before them (Flow::Stall), oldest first. The client
        // is always read meanwhile (core/held.rs), so a client that leaves while a member is
        // silent ends the session instead of leaving it open for ever.
        let mut stalled = Held::new(self.ctx.max_message_size);
        let mut drain_seen = false;
        // The client side's buffer clock (buffers.rs); `idle` below is the idle timeout.
        let mut clock = buffers::Idle::new();
        let mut login_clock = super::LoginClock::new(self.ctx.handshake_timeout);
        let mut timer = super::LoopTimer::new(login_clock.poll());
        let mut closing = self.ctx.shutdown.watch_closing();
        let mut draining = self.ctx.shutdown.watch_draining();
        loop {
            self.drain()?;
            if self.pool.is_some() {
                self.pool_release_if_done();
            }
            if let Some((member, cause)) = self.lost_tx.take() {
                return Err(SessionError::UpstreamLost {
                    upstream: format!("cluster member {member}"),
                    cause,
                });
            }
            if self.routing.is_none()
                && self.pool.is_none()
                && !self
                    .backends
                    .get(&0)
                    .is_some_and(|b| b.is_alive() || b.owed.is_owed())
            {
                // Direct: the upstream closed and owes nothing more; so does boltgate.
                return Ok(End::UpstreamClosed);
            }
            if self.slots.is_empty() && !self.units.in_tx() && self.tracker.is_idle() {
                self.lease = None;
            }
            if self.slots.is_empty() {
                if let Some(raw) = stalled.pop() {
                    match self.on_request(raw).await? {
                        Flow::Continue => {}
                        Flow::Stall(raw) => stalled.put_back(raw),
                        Flow::End(end) => return Ok(end),
                    }
                    continue;
                }
            }
            let login = super::logging_in(&self.tracker);
            let wait = if login {
                Some(super::Wait::Login)
            } else {
                self.ctx
                    .idle_timeout
                    .filter(|_| self.tracker.is_idle())
                    .map(super::Wait::Idle)
            };
            let timing = timer.want(wait);
            let blocked = self.blocked();
            // The client's answers are written from the loop, never awaited in line: a client
            // that does not read must not stop the session from reading it (it may be sending a
            // message it will be refused for, or leaving; either ends the session).
            let writing = !self.c_tx.is_flushed();
            let taking = self.c_tx.queued() < CLIENT_QUEUE_HIGH;
            tokio::select! {
                biased;
                _ = &mut closing => return Ok(End::Shutdown),
                _ = &mut draining, if !drain_seen => {
                    drain_seen = true;
                }
                written = self.c_tx.flush(), if writing => written.map_err(SessionError::ClientIo)?,
                // Members are read only while the client's queue has room; written always.
                (id, event) = std::future::poll_fn(|cx| members::poll_members(&mut self.backends, taking, cx)) => {
                    self.on_event(id, event);
                }
                // A client that outpaces a member waits for it (backend.rs, "Backpressure").
                next = buffers::next(c_rx, buffers::CLIENT_READ_CAPACITY, &mut clock, || {}), if !stalled.is_empty() || !blocked => {
                    let mut frame = match next {
                        None => return Ok(client_left(self.version, &stalled)),
                        Some(Err(e)) => return Err(SessionError::ClientFraming(e)),
                        Some(Ok(f)) => f,
                    };
                    login_clock.restart();
                    loop {
                        if let Frame::Message(bytes) = frame {
                            let raw = RawMessage::new(bytes)
                                .map_err(|e| SessionError::ClientMessage(e.to_string()))?;
                            if !stalled.is_empty() {
                                stalled.push(raw)?;
                                break;
                            }
                            match self.on_request(raw).await? {
                                Flow::Continue => {}
                                Flow::Stall(raw) => {
                                    stalled.push(raw)?;
                                    break;
                                }
                                Flow::End(end) => return Ok(end),
                            }
                        } else if self.routing.is_none() && self.pool.is_none() {
                            // Direct: a client's keep-alive reaches the server, as direct.
                            if let Some(b) = self.backends.get_mut(&0) {
                                b.send_noop();
                            }
                        }
                        if self.blocked() {
                            break;
                        }
                        match c_rx.next().now_or_never() {
                            Some(Some(Ok(f))) => frame = f,
                            Some(Some(Err(e))) => return Err(SessionError::ClientFraming(e)),
                            Some(None) => return Ok(client_left(self.version, &stalled)),
                            None => break,
                        }
                    }
                }
                _ = timer.fired(), if timing => {
                    // Which limit ran out decides: the session may have logged in meanwhile.
                    if login && login_clock.expired(&self.tracker) && self.slots.is_empty() {
                        return Ok(End::LoginTimeout);
                    }
                    if !login && self.tracker.is_idle() && self.slots.is_empty() {
                        return Ok(End::IdleTimeout);
                    }
                }
            }
            if drain_seen && self.slots.is_empty() && self.tracker.is_idle() && stalled.is_empty() {
                return Ok(End::Drained);
            }
        }
    }
}

/// How a session whose client closed ends: a GOODBYE still waiting for the answers before it
/// ends it as a GOODBYE (the upstream connections hear it), as if it had been forwarded.
fn client_left(version: Version, stalled: &Held) -> End {
    let goodbye =
        stalled.any(|raw| RequestKind::of(version, raw.signature()) == RequestKind::Goodbye);
    if goodbye {
        End::Goodbye
    } else {
        End::ClientClosed
    }
}

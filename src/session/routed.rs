//! The routed relay: one client connection spread over cluster members.
//!
//! Each unit of work (an explicit transaction, BEGIN … COMMIT/ROLLBACK, or an auto-commit RUN
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
//! yet, so nothing is re-run). A member that dies with work in flight: the client gets
//! `Neo.TransientError.General.DatabaseUnavailable` for the first unanswered request and IGNORED
//! after it; its driver resets and retries; the transaction is never replayed elsewhere by
//! boltgate. NotALeader / ForbiddenOnReadOnlyDatabase reach the client unchanged and drop the
//! member from the database's writers, so the next write work refreshes the table.
//!
//! GOODBYE is never forwarded to a member (FalkorDB mis-serves the connection after one): the
//! backend connections are closed instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{sig, AccessMode, RawMessage, RequestKind, Response, Summary};
use boltgate_proto::packstream::Map;
use boltgate_proto::state::{ServerState, Tracker};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use super::failure::{DATABASE_UNAVAILABLE, REQUEST_INVALID};
use super::intercept::{is_routing_procedure, Advertised};
use super::{Context, End, SessionError};
use crate::listener::detect::Prefixed;
use crate::listener::stream::Stream;
use crate::upstream::balance::Lease;
use crate::upstream::discovery::{routing_context, RouteFetcher};
use crate::upstream::registry::{Fetch, Registry};

/// The member refused a write: drivers refresh their table and retry on the new writer.
pub const NOT_A_LEADER: &str = "Neo.ClientError.Cluster.NotALeader";
/// A read-only database refused a write: same handling as NotALeader.
pub const FORBIDDEN_ON_READ_ONLY: &str = "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase";

/// Frames a backend reader hands over at once: enough to amortise the channel on RECORD
/// streams, few enough that one busy member does not starve the others.
const READ_BATCH: usize = 256;
/// Batches buffered between the backend readers and the session before readers wait.
const EVENT_QUEUE: usize = 64;
/// As in the plain relay: fewer, fuller writes.
const WRITE_BOUNDARY: usize = 64 * 1024;
const UPSTREAM_READ_CAPACITY: usize = 64 * 1024;

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

/// Reads through [`Prefixed`]: bytes read past the handshake are decoded first (see relay.rs).
type CRx = FramedRead<Prefixed<ReadHalf<Stream>>, ChunkCodec>;
type CTx = FramedWrite<WriteHalf<Stream>, ChunkCodec>;

enum Event {
    Frames(u64, Vec<Frame>),
    Closed(u64, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The answer goes to the client.
    Client,
    /// boltgate's own request (a replayed HELLO/LOGON, a RESET to another member): consumed.
    Swallow(&'static str),
}

struct Death {
    code: &'static str,
    message: String,
    reported: bool,
}

struct Backend {
    address: String,
    tx: mpsc::UnboundedSender<Frame>,
    expect: VecDeque<Expect>,
    inbox: VecDeque<Bytes>,
    dead: Option<Death>,
    reader: tokio::task::AbortHandle,
}

impl Drop for Backend {
    fn drop(&mut self) {
        // The writer task ends (and shuts the socket down) when `tx` is dropped.
        self.reader.abort();
    }
}

enum Step {
    Message(Bytes),
    Wait,
}

impl Backend {
    fn send(&mut self, message: Bytes, expect: Expect) {
        if self.dead.is_none() && self.tx.send(Frame::Message(message)).is_err() {
            self.die("the connection's writer stopped".into());
        }
        self.expect.push_back(expect);
    }

    fn die(&mut self, why: String) {
        if self.dead.is_none() {
            self.dead = Some(Death {
                code: DATABASE_UNAVAILABLE,
                message: format!("boltgate lost cluster member {}: {why}", self.address),
                reported: false,
            });
        }
    }

    fn is_alive(&self) -> bool {
        self.dead.is_none()
    }

    /// The next message for the client from this backend, consuming boltgate's own answers on
    /// the way.
    fn next_for_client(&mut self, version: Version) -> Step {
        loop {
            match self.expect.front().copied() {
                Some(Expect::Swallow(what)) => {
                    let Some(m) = self.inbox.pop_front() else {
                        if self.dead.is_some() {
                            self.expect.pop_front();
                            continue;
                        }
                        return Step::Wait;
                    };
                    if m.get(1) == Some(&sig::RECORD) {
                        continue;
                    }
                    self.expect.pop_front();
                    let summary = RawMessage::new(m).and_then(|r| r.summary());
                    if let Ok(Summary::Failure { code, message }) = summary {
                        tracing::debug!(member = %self.address, what, %code, "member refused boltgate's own request");
                        self.inbox.clear();
                        if self.dead.is_none() {
                            // A replayed HELLO/LOGON refused: the client sees the member's reason.
                            self.dead = Some(Death {
                                code: leak_code(&code),
                                message,
                                reported: false,
                            });
                        }
                    }
                }
                Some(Expect::Client) => {
                    if let Some(m) = self.inbox.pop_front() {
                        if m.get(1) != Some(&sig::RECORD) {
                            self.expect.pop_front();
                        }
                        return Step::Message(m);
                    }
                    let Some(death) = self.dead.as_mut() else {
                        return Step::Wait;
                    };
                    self.expect.pop_front();
                    let raw = if death.reported {
                        Response::ignored()
                    } else {
                        death.reported = true;
                        Response::failure(version, death.code, &death.message)
                    };
                    return Step::Message(raw.into_bytes());
                }
                None => return Step::Wait,
            }
        }
    }
}

/// Status codes are `&'static str` in boltgate's own FAILUREs; a member's code is kept as one of
/// the known ones when it is, else reported as authentication-related or unavailable.
fn leak_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "Neo.ClientError.Security.Unauthorized",
        "Neo.ClientError.Security.AuthenticationRateLimit",
        "Neo.ClientError.Security.CredentialsExpired",
        "Neo.ClientError.Security.Forbidden",
        "Neo.ClientError.Security.TokenExpired",
        "Neo.ClientError.Request.Invalid",
        "Neo.ClientError.Database.DatabaseNotFound",
    ];
    KNOWN
        .iter()
        .find(|k| **k == code)
        .copied()
        .unwrap_or(DATABASE_UNAVAILABLE)
}

enum Slot {
    Backend(u64),
    Local(Vec<RawMessage>),
}

enum Flow {
    Continue,
    Stall(RawMessage),
    End(End),
}

struct Session<'a> {
    version: Version,
    ctx: &'a Context,
    routing: &'a Routing,
    c_tx: CTx,
    backends: HashMap<u64, Backend>,
    by_address: HashMap<String, u64>,
    next_id: u64,
    events: mpsc::Sender<Event>,
    slots: VecDeque<Slot>,
    tracker: Tracker,
    hello: Option<Bytes>,
    logon: Option<Bytes>,
    in_tx: bool,
    current: Option<u64>,
    unit_db: Option<String>,
    lease: Option<Lease>,
    /// A routing procedure's RUN was answered; its PULL gets the table.
    local_result: bool,
    /// boltgate answered the current unit with a FAILURE itself: what follows is IGNORED.
    local_failed: bool,
}

/// Runs a routed session: dials a first member to agree the Bolt version with (the initial
/// router, or a static writer), answers the client's handshake, then relays.
pub async fn run(
    mut client: Stream,
    mut buf: BytesMut,
    hello: &boltgate_proto::handshake::ClientHello,
    candidates: Vec<Version>,
    ctx: &Context,
    routing: &Routing,
) -> Result<End, SessionError> {
    let mut last_err = None;
    let mut first = None;
    for address in routing.registry.bootstrap_candidates() {
        match ctx.upstream.connect_to(&address, &candidates, true).await {
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
    let Some((address, (stream, version, rest))) = first else {
        let why = last_err.map_or_else(
            || "no cluster member is configured".to_string(),
            |e| e.to_string(),
        );
        super::unavailable(client, buf, hello, candidates[0], ctx, &why).await;
        return Err(SessionError::ClientMessage(format!(
            "no cluster member reachable: {why}"
        )));
    };
    tracing::Span::current().record("bolt.version", tracing::field::display(version));
    tokio::time::timeout(
        ctx.handshake_timeout,
        super::handshake::answer_client(&mut client, &mut buf, hello, version),
    )
    .await
    .map_err(|_| SessionError::HandshakeTimeout(ctx.handshake_timeout))??;

    let codec = || ChunkCodec::new(ctx.max_message_size);
    let (cr, cw) = tokio::io::split(client);
    let mut c_rx = FramedRead::new(Prefixed::new(buf.split().freeze(), cr), codec());
    let mut c_tx = FramedWrite::new(cw, codec());
    c_tx.set_backpressure_boundary(WRITE_BOUNDARY);
    let (events_tx, mut events_rx) = mpsc::channel(EVENT_QUEUE);
    let mut s = Session {
        version,
        ctx,
        routing,
        c_tx,
        backends: HashMap::new(),
        by_address: HashMap::new(),
        next_id: 0,
        events: events_tx,
        slots: VecDeque::new(),
        tracker: Tracker::new(version),
        hello: None,
        logon: None,
        in_tx: false,
        current: None,
        unit_db: None,
        lease: None,
        local_result: false,
        local_failed: false,
    };
    s.adopt(address, stream, rest);
    let result = s.run(&mut c_rx, &mut events_rx).await;

    let outstanding = s.tracker.outstanding();
    let last_word = match &result {
        Err(SessionError::ClientFraming(_)) | Err(SessionError::ClientMessage(_)) => Some((
            REQUEST_INVALID,
            format!(
                "boltgate: {}",
                result
                    .as_ref()
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ),
        )),
        Ok(End::Shutdown) if outstanding > 0 => Some((
            DATABASE_UNAVAILABLE,
            "boltgate is shutting down; the grace period ended before this request finished"
                .to_string(),
        )),
        _ => None,
    };
    s.backends.clear();
    // Bounded, last word included: a client that stopped reading must not keep the session.
    let close = async {
        if let Some((code, message)) = last_word {
            let _ = s
                .c_tx
                .feed(Frame::Message(
                    Response::failure(version, code, &message).into_bytes(),
                ))
                .await;
        }
        let _ = SinkExt::<Frame>::flush(&mut s.c_tx).await;
        let _ = s.c_tx.get_mut().shutdown().await;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
    result
}

impl Session<'_> {
    async fn run(
        &mut self,
        c_rx: &mut CRx,
        events: &mut mpsc::Receiver<Event>,
    ) -> Result<End, SessionError> {
        let mut stalled: Option<RawMessage> = None;
        let mut drain_seen = false;
        loop {
            self.drain().await?;
            if self.slots.is_empty() && !self.in_tx && self.tracker.is_idle() {
                self.lease = None;
            }
            if self.slots.is_empty() {
                if let Some(raw) = stalled.take() {
                    match self.on_request(raw).await? {
                        Flow::Continue => {}
                        Flow::Stall(raw) => stalled = Some(raw),
                        Flow::End(end) => return Ok(end),
                    }
                    continue;
                }
            }
            let idle = self.ctx.idle_timeout.filter(|_| self.tracker.is_idle());
            tokio::select! {
                biased;
                _ = self.ctx.shutdown.closing() => return Ok(End::Shutdown),
                _ = self.ctx.shutdown.draining(), if !drain_seen => {
                    drain_seen = true;
                }
                event = events.recv() => match event {
                    Some(event) => self.on_event(event),
                    None => return Ok(End::UpstreamClosed),
                },
                next = c_rx.next(), if stalled.is_none() => {
                    let mut frame = match next {
                        None => return Ok(End::ClientClosed),
                        Some(Err(e)) => return Err(SessionError::ClientFraming(e)),
                        Some(Ok(f)) => f,
                    };
                    loop {
                        if let Frame::Message(bytes) = frame {
                            let raw = RawMessage::new(bytes)
                                .map_err(|e| SessionError::ClientMessage(e.to_string()))?;
                            match self.on_request(raw).await? {
                                Flow::Continue => {}
                                Flow::Stall(raw) => {
                                    stalled = Some(raw);
                                    break;
                                }
                                Flow::End(end) => return Ok(end),
                            }
                        }
                        match c_rx.next().now_or_never() {
                            Some(Some(Ok(f))) => frame = f,
                            Some(Some(Err(e))) => return Err(SessionError::ClientFraming(e)),
                            Some(None) => return Ok(End::ClientClosed),
                            None => break,
                        }
                    }
                }
                _ = sleep_or_never(idle) => {
                    if self.tracker.is_idle() && self.slots.is_empty() {
                        return Ok(End::IdleTimeout);
                    }
                }
            }
            if drain_seen && self.slots.is_empty() && self.tracker.is_idle() && stalled.is_none() {
                return Ok(End::Drained);
            }
        }
    }

    // === backends ===

    fn adopt(&mut self, address: String, stream: Stream, rest: BytesMut) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let codec = || ChunkCodec::new(self.ctx.max_message_size);
        let (r, w) = tokio::io::split(stream);
        let mut rx = FramedRead::with_capacity(
            Prefixed::new(rest.freeze(), r),
            codec(),
            UPSTREAM_READ_CAPACITY,
        );
        let mut wtx = FramedWrite::new(w, codec());
        wtx.set_backpressure_boundary(WRITE_BOUNDARY);
        let events = self.events.clone();
        let reader = tokio::spawn(async move {
            loop {
                let first = match rx.next().await {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        let _ = events.send(Event::Closed(id, e.to_string())).await;
                        return;
                    }
                    None => {
                        let _ = events
                            .send(Event::Closed(id, "closed the connection".into()))
                            .await;
                        return;
                    }
                };
                let mut batch = vec![first];
                let mut end = None;
                while batch.len() < READ_BATCH {
                    match rx.next().now_or_never() {
                        Some(Some(Ok(f))) => batch.push(f),
                        Some(Some(Err(e))) => {
                            end = Some(e.to_string());
                            break;
                        }
                        Some(None) => {
                            end = Some("closed the connection".into());
                            break;
                        }
                        None => break,
                    }
                }
                if events.send(Event::Frames(id, batch)).await.is_err() {
                    return;
                }
                if let Some(why) = end {
                    let _ = events.send(Event::Closed(id, why)).await;
                    return;
                }
            }
        })
        .abort_handle();
        let (tx, mut wrx) = mpsc::unbounded_channel::<Frame>();
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(f) = wrx.recv().await {
                let mut result = wtx.feed(f).await;
                while result.is_ok() {
                    match wrx.try_recv() {
                        Ok(f) => result = wtx.feed(f).await,
                        Err(_) => break,
                    }
                }
                if result.is_ok() {
                    result = SinkExt::<Frame>::flush(&mut wtx).await;
                }
                if let Err(e) = result {
                    let _ = events.send(Event::Closed(id, e.to_string())).await;
                    return;
                }
            }
            let _ = wtx.get_mut().shutdown().await;
        });
        tracing::debug!(member = %address, backend = id, "backend connection open");
        self.by_address.insert(address.clone(), id);
        self.backends.insert(
            id,
            Backend {
                address,
                tx,
                expect: VecDeque::new(),
                inbox: VecDeque::new(),
                dead: None,
                reader,
            },
        );
        id
    }

    /// Dials `address` and replays the client's HELLO (and LOGON).
    async fn open(&mut self, address: &str) -> Result<u64, String> {
        let (stream, _, rest) = self
            .ctx
            .upstream
            .connect_to(address, &[self.version], true)
            .await
            .map_err(|e| e.to_string())?;
        let id = self.adopt(address.to_string(), stream, rest);
        let b = self.backends.get_mut(&id).expect("just adopted");
        if let Some(h) = &self.hello {
            b.send(h.clone(), Expect::Swallow("HELLO"));
        }
        if let Some(l) = &self.logon {
            b.send(l.clone(), Expect::Swallow("LOGON"));
        }
        Ok(id)
    }

    fn alive(&self, id: u64) -> bool {
        self.backends.get(&id).is_some_and(Backend::is_alive)
    }

    /// Where connection-level messages go (HELLO, LOGON, LOGOFF, unknown ones): the current
    /// member, else any live backend.
    fn control(&self) -> Option<u64> {
        if let Some(id) = self.current.filter(|id| self.alive(*id)) {
            return Some(id);
        }
        let mut ids: Vec<u64> = self
            .backends
            .iter()
            .filter(|(_, b)| b.is_alive())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.first().copied()
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Frames(id, frames) => {
                let Some(b) = self.backends.get_mut(&id) else {
                    return;
                };
                for f in frames {
                    match f {
                        Frame::Message(m) => b.inbox.push_back(m),
                        // Keep-alives are not answers; the client gets its own from this one.
                        Frame::Noop => {}
                    }
                }
            }
            Event::Closed(id, why) => {
                let Some(b) = self.backends.get_mut(&id) else {
                    return;
                };
                if b.dead.is_some() {
                    return;
                }
                let busy = !b.expect.is_empty();
                let address = b.address.clone();
                b.die(why.clone());
                if self.by_address.get(&address) == Some(&id) {
                    self.by_address.remove(&address);
                }
                if busy {
                    tracing::warn!(member = %address, %why, "cluster member lost with work in flight");
                    self.routing.registry.on_member_failure(&address);
                } else {
                    tracing::debug!(member = %address, %why, "idle backend connection closed");
                    self.backends.remove(&id);
                    if self.current == Some(id) && !self.in_tx {
                        self.current = None;
                    }
                }
            }
        }
    }

    // === answers to the client, in order ===

    async fn drain(&mut self) -> Result<(), SessionError> {
        let mut fed = false;
        while let Some(slot) = self.slots.front_mut() {
            match slot {
                Slot::Local(messages) => {
                    let messages = std::mem::take(messages);
                    self.slots.pop_front();
                    for m in messages {
                        self.send_client(m.into_bytes(), None).await?;
                    }
                    fed = true;
                }
                Slot::Backend(id) => {
                    let id = *id;
                    let Some(b) = self.backends.get_mut(&id) else {
                        self.slots.pop_front();
                        let f = Response::failure(
                            self.version,
                            DATABASE_UNAVAILABLE,
                            "boltgate lost the cluster member",
                        );
                        self.send_client(f.into_bytes(), None).await?;
                        fed = true;
                        continue;
                    };
                    match b.next_for_client(self.version) {
                        Step::Wait => break,
                        Step::Message(m) => {
                            let summary = m.get(1) != Some(&sig::RECORD);
                            let address = b.address.clone();
                            if summary {
                                self.slots.pop_front();
                            }
                            self.send_client(m, Some(&address)).await?;
                            fed = true;
                        }
                    }
                }
            }
        }
        // Dead backends with nothing left to report are dropped.
        self.backends
            .retain(|_, b| b.dead.is_none() || !b.expect.is_empty());
        if fed {
            SinkExt::<Frame>::flush(&mut self.c_tx)
                .await
                .map_err(client_err)?;
        }
        Ok(())
    }

    async fn send_client(&mut self, m: Bytes, from: Option<&str>) -> Result<(), SessionError> {
        if m.get(1) != Some(&sig::RECORD) {
            match RawMessage::new(m.clone()).and_then(|r| r.summary()) {
                Ok(summary) => {
                    if let (Summary::Failure { code, .. }, Some(address)) = (&summary, from) {
                        self.on_member_failure_code(code, address);
                    }
                    if let Err(v) = self.tracker.on_response(&summary) {
                        tracing::debug!(violation = %v, "response outside boltgate's model of the session");
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "unreadable message from a member, forwarded as is")
                }
            }
        }
        self.c_tx.feed(Frame::Message(m)).await.map_err(client_err)
    }

    fn on_member_failure_code(&mut self, code: &str, address: &str) {
        match code {
            NOT_A_LEADER | FORBIDDEN_ON_READ_ONLY => {
                tracing::info!(
                    member = address,
                    code,
                    "write refused; the routing table will be refreshed"
                );
                self.routing
                    .registry
                    .on_write_refused(self.unit_db.as_deref(), address);
            }
            "Neo.TransientError.General.DatabaseUnavailable" => {
                self.routing.registry.on_member_failure(address);
            }
            _ => {}
        }
    }

    fn local(&mut self, messages: Vec<RawMessage>) {
        self.slots.push_back(Slot::Local(messages));
    }

    fn forward(&mut self, id: u64, raw: RawMessage) {
        let b = self.backends.get_mut(&id).expect("a known backend");
        b.send(raw.into_bytes(), Expect::Client);
        self.slots.push_back(Slot::Backend(id));
    }

    /// To the member running the current unit of work.
    fn send_current(&mut self, raw: RawMessage) {
        match self.current.filter(|id| self.backends.contains_key(id)) {
            Some(id) => self.forward(id, raw),
            None => self.answer_without_member(),
        }
    }

    fn answer_without_member(&mut self) {
        if self.local_failed || self.tracker.state() == ServerState::Failed {
            self.local(vec![Response::ignored()]);
        } else {
            self.local_failed = true;
            self.local(vec![Response::failure(
                self.version,
                REQUEST_INVALID,
                "boltgate: no transaction or result is open on any cluster member",
            )]);
        }
    }

    // === requests ===

    async fn on_request(&mut self, raw: RawMessage) -> Result<Flow, SessionError> {
        let kind = RequestKind::of(self.version, raw.signature());
        tracing::trace!(message = sig::name(raw.signature()), "client request");
        let starts_unit = match kind {
            RequestKind::Begin => true,
            RequestKind::Run => !self.in_tx && !is_routing_procedure(&raw),
            _ => false,
        };
        if starts_unit && !self.slots.is_empty() {
            return Ok(Flow::Stall(raw));
        }
        if kind == RequestKind::Goodbye {
            return Ok(Flow::End(End::Goodbye));
        }
        let failed_before = self.tracker.state() == ServerState::Failed;
        self.tracker.on_request(kind);
        match kind {
            RequestKind::Hello => {
                self.hello = Some(raw.as_bytes().clone());
                self.send_control(raw);
            }
            RequestKind::Logon => {
                self.logon = Some(raw.as_bytes().clone());
                self.send_control(raw);
            }
            RequestKind::Logoff => {
                self.logon = None;
                // Other members' connections would stay logged on: close them; they are
                // reopened with the next LOGON's replay.
                let keep = self.control();
                self.backends
                    .retain(|id, b| Some(*id) == keep || !b.expect.is_empty());
                self.by_address.retain(|_, id| Some(*id) == keep);
                self.send_control(raw);
            }
            RequestKind::Reset => {
                self.in_tx = false;
                self.current = None;
                self.local_result = false;
                self.local_failed = false;
                for b in self.backends.values_mut().filter(|b| b.is_alive()) {
                    b.send(raw.as_bytes().clone(), Expect::Swallow("RESET"));
                }
                self.local(vec![Response::success(Map::new())]);
            }
            RequestKind::Route => {
                let db = raw.route_view().ok().and_then(|v| v.db);
                let answer = self
                    .routing
                    .advertised
                    .route_success(self.version, db.as_deref());
                if failed_before {
                    self.local(vec![Response::ignored()]);
                } else {
                    self.local(vec![answer]);
                }
            }
            RequestKind::Telemetry => self.local(vec![if failed_before {
                Response::ignored()
            } else {
                Response::success(Map::new())
            }]),
            RequestKind::Run if !self.in_tx && is_routing_procedure(&raw) => {
                self.local_result = !failed_before;
                self.local(vec![if failed_before {
                    Response::ignored()
                } else {
                    self.routing.advertised.procedure_run_success()
                }]);
            }
            RequestKind::Pull | RequestKind::Discard if self.local_result => {
                self.local_result = false;
                let [record, done] = self.routing.advertised.procedure_result();
                self.local(if kind == RequestKind::Pull {
                    vec![record, done]
                } else {
                    vec![done]
                });
            }
            RequestKind::Begin | RequestKind::Run if starts_unit => {
                if kind == RequestKind::Begin {
                    self.in_tx = true;
                }
                self.current = None;
                self.local_failed = false;
                if failed_before {
                    self.local_failed = true;
                    self.local(vec![Response::ignored()]);
                    return Ok(Flow::Continue);
                }
                self.start_unit(raw).await;
            }
            RequestKind::Commit | RequestKind::Rollback => {
                self.in_tx = false;
                self.send_current(raw);
            }
            RequestKind::Run | RequestKind::Pull | RequestKind::Discard => self.send_current(raw),
            _ => self.send_control(raw),
        }
        Ok(Flow::Continue)
    }

    fn send_control(&mut self, raw: RawMessage) {
        match self.control() {
            Some(id) => self.forward(id, raw),
            None => self.local(vec![Response::failure(
                self.version,
                DATABASE_UNAVAILABLE,
                "boltgate: no cluster member is connected",
            )]),
        }
    }

    /// Places a BEGIN or auto-commit RUN on a member and sends it there.
    async fn start_unit(&mut self, raw: RawMessage) {
        let view = match raw.tx_view() {
            Ok(v) => v,
            Err(e) => {
                self.local_failed = true;
                self.local(vec![Response::failure(
                    self.version,
                    REQUEST_INVALID,
                    &format!("boltgate cannot read this request: {e}"),
                )]);
                return;
            }
        };
        self.unit_db = view.db.clone();
        match self
            .choose(view.db.as_deref(), view.mode, &view.bookmarks)
            .await
        {
            Ok(id) => {
                self.current = Some(id);
                self.forward(id, raw);
            }
            Err((code, message)) => {
                self.local_failed = true;
                self.local(vec![Response::failure(self.version, code, &message)]);
            }
        }
    }

    async fn choose(
        &mut self,
        db: Option<&str>,
        mode: AccessMode,
        bookmarks: &[String],
    ) -> Result<u64, (&'static str, String)> {
        let registry = self.routing.registry.clone();
        let fetcher: Arc<dyn Fetch> = Arc::new(RouteFetcher {
            upstream: self.ctx.upstream.clone(),
            version: self.version,
            hello: self.hello.clone().unwrap_or_default(),
            logon: self.logon.clone(),
            context: self.routing.context.clone(),
            max_message_size: self.ctx.max_message_size,
        });
        let table = registry
            .table(db, mode, bookmarks, &fetcher)
            .await
            .map_err(|e| (DATABASE_UNAVAILABLE, format!("boltgate: {e}")))?;
        let mut tried: Vec<String> = Vec::new();
        loop {
            let balancer = &registry.balancer;
            let primary = table.members_for(mode);
            // Reads fall back to the writers when no reader is left (a replica died).
            let fallback: &[String] = match mode {
                AccessMode::Read => &table.writers,
                AccessMode::Write => &[],
            };
            let pick = balancer
                .pick(primary, &tried)
                .or_else(|| balancer.pick(fallback, &tried))
                // Every member banned: bans are a hint; try them rather than fail.
                .or_else(|| {
                    primary
                        .iter()
                        .chain(fallback)
                        .find(|a| !tried.contains(a))
                        .cloned()
                });
            let Some(address) = pick else {
                let what = match mode {
                    AccessMode::Write => (
                        NOT_A_LEADER,
                        format!(
                            "boltgate: no writer is available for database `{}` (tried {:?})",
                            db.unwrap_or("<home>"),
                            tried
                        ),
                    ),
                    AccessMode::Read => (
                        DATABASE_UNAVAILABLE,
                        format!(
                            "boltgate: no cluster member can serve reads for database `{}` (tried {:?})",
                            db.unwrap_or("<home>"),
                            tried
                        ),
                    ),
                };
                return Err(what);
            };
            if let Some(&id) = self.by_address.get(&address) {
                if self.alive(id) {
                    self.lease = Some(balancer.lease(&address));
                    return Ok(id);
                }
            }
            match self.open(&address).await {
                Ok(id) => {
                    balancer.unban(&address);
                    self.lease = Some(balancer.lease(&address));
                    tracing::debug!(member = %address, ?mode, db = db.unwrap_or("<home>"), "unit of work placed");
                    return Ok(id);
                }
                Err(e) => {
                    tracing::warn!(member = %address, error = %e, "cluster member unreachable; trying another");
                    registry.on_member_failure(&address);
                    tried.push(address);
                }
            }
        }
    }
}

async fn sleep_or_never(d: Option<std::time::Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn client_err(e: boltgate_proto::chunk::ChunkError) -> SessionError {
    match e {
        boltgate_proto::chunk::ChunkError::Io(e) => SessionError::ClientIo(e),
        other => SessionError::ClientFraming(other),
    }
}

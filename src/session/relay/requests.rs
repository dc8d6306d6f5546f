//! The client's requests in a routed session: what boltgate answers itself, what goes to the
//! member running the current unit of work, and where a new unit is placed.

use std::sync::Arc;

use boltgate_proto::chunk::Frame;
use boltgate_proto::message::{sig, AccessMode, RawMessage, RequestKind, Response};
use boltgate_proto::packstream::Map;
use boltgate_proto::state::ServerState;

use super::error::PlacementError;
use super::pool_members::PooledFetch;
use super::{Flow, Routing, Session, Slot};
use crate::session::core::{Decision, Expect};
use crate::session::failure::{DATABASE_UNAVAILABLE, REQUEST_INVALID};
use crate::session::intercept::is_routing_procedure;
use crate::session::{End, SessionError};
use crate::upstream::discovery::RouteFetcher;
use crate::upstream::registry::Fetch;

/// What trying one picked member came to ([`Session::reach`]).
pub(super) enum Reached {
    /// A connection for the unit; `fresh`: just opened (the member is up: bans lifted).
    Conn { id: u64, fresh: bool },
    /// The member could not be reached: banned, and another tried.
    Unreachable(String),
    /// The unit gets this FAILURE (a full pool, a refused login), wherever it would go.
    Failed(PlacementError),
}

impl Session<'_> {
    pub(super) async fn on_request(&mut self, raw: RawMessage) -> Result<Flow, SessionError> {
        let kind = RequestKind::of(self.version, raw.signature());
        tracing::trace!(message = sig::name(raw.signature()), "client request");
        if kind == RequestKind::Goodbye {
            // Requests pipelined before the GOODBYE still get their answers, as in the plain
            // relay (found by the routed fuzz case: HELLO, LOGON, RUN, PULL, GOODBYE in one
            // write lost the RUN's answers).
            if !self.slots.is_empty() {
                return Ok(Flow::Stall(raw));
            }
            return Ok(Flow::End(End::Goodbye));
        }
        if self.procedures.intercepts(self.version, &raw) {
            // As in the plain relay: answered once every earlier request has its answer.
            if !self.slots.is_empty() {
                return Ok(Flow::Stall(raw));
            }
            let state = self.tracker.state();
            // Boxed, like the policies' calls below: what they await (a TLS reload, dials and
            // logins to members, the pool) would otherwise be laid out inside every session's
            // future, plain ones too, for their whole life (README, idle memory).
            let answer = self.procedures.answer(self.version, &raw, state, self.ctx);
            if let Some(frames) = Box::pin(answer).await {
                self.tracker.on_request(kind);
                let messages = frames
                    .into_iter()
                    .filter_map(|f| match f {
                        Frame::Message(m) => Some(m),
                        Frame::Noop => None,
                    })
                    .collect();
                self.slots.push_back(Slot::Local(messages));
                return Ok(Flow::Continue);
            }
        }
        if self.pool.is_some() {
            return Box::pin(self.on_pool_request(raw, kind)).await;
        }
        let Some(routing) = self.routing else {
            // Direct: everything else goes to the one upstream, in order, pipelined.
            self.tracker.on_request(kind);
            self.procedures.on_forwarded(self.version, &raw);
            self.forward(0, raw);
            return Ok(Flow::Continue);
        };
        Box::pin(self.on_cluster_request(raw, kind, routing)).await
    }

    /// The Cluster policy: what boltgate answers itself (ROUTE, RESET, TELEMETRY, the routing
    /// procedures), what goes to the member of the current unit of work, and new units placed.
    /// The decision is [`Units::decide`] (sans-IO, unit-tested); this does what it says.
    async fn on_cluster_request(
        &mut self,
        raw: RawMessage,
        kind: RequestKind,
        routing: &Routing,
    ) -> Result<Flow, SessionError> {
        let failed_before = self.tracker.state() == ServerState::Failed;
        let procedure = kind == RequestKind::Run && is_routing_procedure(&raw);
        let decision = self
            .units
            .decide(kind, procedure, !self.slots.is_empty(), failed_before);
        if decision == Decision::Stall {
            return Ok(Flow::Stall(raw));
        }
        self.tracker.on_request(kind);
        if matches!(
            kind,
            RequestKind::Hello | RequestKind::Logon | RequestKind::Logoff
        ) {
            self.procedures.on_forwarded(self.version, &raw);
        }
        let ignored = || vec![Response::ignored()];
        match decision {
            // Returned above, before anything changed; the same here, never a panic.
            Decision::Stall => return Ok(Flow::Stall(raw)),
            Decision::Hello => self.cluster_hello(raw),
            Decision::Logon => {
                self.logon = Some(kept(&raw));
                self.send_control(raw);
            }
            Decision::Logoff => self.cluster_logoff(raw),
            Decision::Reset => self.cluster_reset(raw),
            Decision::Telemetry { ignored: true } | Decision::StartUnit { ignored: true } => {
                self.local(ignored())
            }
            Decision::Route { .. }
            | Decision::ProcedureRun { .. }
            | Decision::ProcedureResult { .. } => self.answer_routing(decision, &raw, routing),
            Decision::Telemetry { ignored: false } => {
                self.local(vec![Response::success(Map::new())])
            }
            Decision::StartUnit { ignored: false } => self.start_unit(raw, routing).await,
            Decision::ToCurrent => self.send_current(raw),
            Decision::ToControl => self.send_control(raw),
        }
        Ok(Flow::Continue)
    }

    /// ROUTE and the routing procedures, answered by boltgate with the table naming itself
    /// (both routed policies: Cluster, and Pool with routing).
    pub(super) fn answer_routing(
        &mut self,
        decision: Decision,
        raw: &RawMessage,
        routing: &Routing,
    ) {
        let answer = match decision {
            Decision::Route { ignored: true } | Decision::ProcedureRun { ignored: true } => {
                vec![Response::ignored()]
            }
            Decision::Route { ignored: false } => {
                let db = raw.route_view().ok().and_then(|v| v.db);
                vec![routing
                    .advertised
                    .route_success(self.version, db.as_deref())]
            }
            Decision::ProcedureRun { ignored: false } => {
                vec![routing.advertised.procedure_run_success()]
            }
            Decision::ProcedureResult { pull } => {
                let [record, done] = routing.advertised.procedure_result();
                if pull {
                    vec![record, done]
                } else {
                    vec![done]
                }
            }
            other => {
                // Callers pass only the decisions above; a slot is still owed, so answer.
                tracing::debug!(decision = ?other, "not a routing request; refused");
                vec![Response::failure(
                    self.version,
                    REQUEST_INVALID,
                    "boltgate: not a routing request",
                )]
            }
        };
        self.local(answer);
    }

    /// HELLO goes to the control member, with the routing context naming that member; it is
    /// kept for replaying on members opened later.
    fn cluster_hello(&mut self, raw: RawMessage) {
        self.hello = Some(kept(&raw));
        match self.control() {
            Some(id) => {
                let address = self.backends[&id].address.clone();
                let hello = self.member_hello(raw.as_bytes(), &address);
                match RawMessage::new(hello) {
                    Ok(hello) => self.forward(id, hello),
                    Err(_) => self.forward(id, raw),
                }
            }
            None => self.send_control(raw),
        }
    }

    fn cluster_logoff(&mut self, raw: RawMessage) {
        self.logon = None;
        // Other members' connections would stay logged on: close them; they are reopened with
        // the next LOGON's replay.
        let keep = self.control();
        self.backends
            .retain(|id, b| Some(*id) == keep || b.owed.is_owed());
        self.by_address.retain(|_, id| Some(*id) == keep);
        self.send_control(raw);
    }

    /// RESET ends everything open, on every member (their answers are boltgate's); the client
    /// gets boltgate's SUCCESS in its turn.
    fn cluster_reset(&mut self, raw: RawMessage) {
        self.procedures.on_forwarded(self.version, &raw);
        self.tx_mode = None;
        for b in self.backends.values_mut().filter(|b| b.is_alive()) {
            b.send(raw.as_bytes().clone(), Expect::Swallow("RESET"));
        }
        self.local(vec![Response::success(Map::new())]);
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
    pub(super) async fn start_unit(&mut self, raw: RawMessage, routing: &Routing) {
        let view = match raw.tx_view() {
            Ok(v) => v,
            Err(e) => {
                self.units.refused();
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
            .choose(routing, view.db.as_deref(), view.mode, &view.bookmarks)
            .await
        {
            Ok(id) => {
                self.units.placed(id);
                self.forward(id, raw);
            }
            Err(e) => {
                self.units.refused();
                self.local(vec![e.answer(self.version)]);
            }
        }
    }

    /// A connection to `address` for a unit of work: the session's own (Cluster: reused while
    /// alive, else dialled with the client's HELLO and LOGON replayed), or one borrowed from
    /// the member's pool (Pool with routing).
    async fn reach(&mut self, address: &str) -> Reached {
        if self.pool.is_some() {
            return self.pool_reach(address).await;
        }
        if let Some(&id) = self.by_address.get(address) {
            if self.alive(id) {
                return Reached::Conn { id, fresh: false };
            }
        }
        match self.open(address).await {
            Ok(id) => Reached::Conn { id, fresh: true },
            Err(e) => Reached::Unreachable(e.to_string()),
        }
    }

    /// The Cluster policy's member choice, for both routed policies: the table for the unit's
    /// database and mode, then members in the balancer's order (banned and recently
    /// unreachable ones last, reads falling back to writers) until one is reached.
    async fn choose(
        &mut self,
        routing: &Routing,
        db: Option<&str>,
        mode: AccessMode,
        bookmarks: &[String],
    ) -> Result<u64, PlacementError> {
        let registry = routing.registry.clone();
        // Made only when the table must be fetched: a fresh table (every unit of work but the
        // first in a TTL) needs no fetcher.
        let fetcher = || -> Arc<dyn Fetch> {
            let fetcher = RouteFetcher {
                upstream: self.ctx.upstream.clone(),
                version: self.version,
                hello: self.hello.clone().unwrap_or_default(),
                logon: self.logon.clone(),
                context: routing.context.clone(),
                max_message_size: self.ctx.max_message_size,
                metrics: self.ctx.metrics.clone(),
            };
            match self.pool {
                // Pooled: each table fetch holds a place in the router's pool while it runs.
                Some(policy) => Arc::new(PooledFetch::new(fetcher, policy.members())),
                None => Arc::new(fetcher),
            }
        };
        let table = registry.table(db, mode, bookmarks, fetcher).await?;
        let now = tokio::time::Instant::now();
        let ban_time = registry.balancer.ban_time();
        let mut tried: Vec<String> = self
            .unreachable
            .iter()
            .filter(|(_, at)| now.duration_since(**at) < ban_time)
            .map(|(address, _)| address.clone())
            .collect();
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
                let db = db.unwrap_or("<home>").to_string();
                return Err(match mode {
                    AccessMode::Write => PlacementError::NoWriter { db, tried },
                    AccessMode::Read => PlacementError::NoReader { db, tried },
                });
            };
            match self.reach(&address).await {
                Reached::Conn { id, fresh } => {
                    if fresh {
                        self.unreachable.remove(&address);
                        balancer.unban(&address);
                        tracing::debug!(member = %address, ?mode, db = db.unwrap_or("<home>"), "unit of work placed");
                    }
                    self.lease = Some(balancer.lease(&address));
                    return Ok(id);
                }
                Reached::Unreachable(e) => {
                    tracing::warn!(member = %address, error = %e, "cluster member unreachable; trying another");
                    registry.on_member_failure(&address);
                    self.unreachable
                        .insert(address.clone(), tokio::time::Instant::now());
                    tried.push(address);
                }
                Reached::Failed(e) => return Err(e),
            }
        }
    }
}

/// A copy of a request the session keeps for its whole life (HELLO, LOGON: replayed on every
/// connection it opens later). Not a slice: a slice would pin the client's read buffer, so the
/// codec could never reclaim that allocation and each later read would get only what the next
/// frame needs (three reads for a RUN and PULL sent together instead of one; seen with `strace`
/// under transaction pooling).
pub(super) fn kept(raw: &RawMessage) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(raw.as_bytes())
}

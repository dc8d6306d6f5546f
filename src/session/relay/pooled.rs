//! The Pool policy (`boltgate.pool.mode=transaction`): a session holds a server connection only
//! for one unit of work, borrowed from the pool of the member the unit goes to
//! ([`super::pool_policy`]: the single upstream, or with routing the member the Cluster policy's
//! choice names, `requests.rs`).
//!
//! - HELLO is answered by boltgate with the server's own metadata (agent, hints) and a
//!   connection id of boltgate's; on Bolt < 5.1, whose HELLO carries the credentials, only once
//!   the server has accepted them. LOGON (5.1+) is answered once the server has accepted the
//!   credentials: on a new connection logged in with them, or because a pooled connection is
//!   already logged in with exactly these credentials. A refused login closes that connection;
//!   it never enters the pool. LOGOFF forgets the credentials. With routing, logins are checked
//!   on the member a Cluster session would send them to first (the initial router, or the
//!   static topology's first writer), the next one when that one is unreachable.
//! - A unit of work (BEGIN … COMMIT/ROLLBACK, or an auto-commit RUN and its PULL/DISCARDs)
//!   borrows a connection of the session's [`Key`] (its credentials and HELLO-level state, so
//!   identities and notification filters are never mixed), waiting up to `acquire_timeout`, and
//!   gives it back once its last answer has reached the client. Per-unit state (db, imp_user,
//!   bookmarks, tx metadata, per-query notification filters) travels in the BEGIN/RUN itself.
//! - A connection given back in a state other than READY (a FAILURE ended the unit) is RESET
//!   before its next unit (pipelined ahead of it, its answer swallowed). One whose socket was
//!   closed while idle (a server restart) is found so when taken and replaced
//!   (`pool_members.rs`).
//! - With routing, ROUTE and the routing procedures are answered as the Cluster policy answers
//!   them, and a member lost mid-unit means what it means there (`members.rs`).
//! - What cannot follow a client from connection to connection is refused with a FAILURE
//!   naming transaction pooling (README, "Transaction pooling: limits").

use boltgate_proto::message::{sig, RawMessage, RequestKind, Response};
use boltgate_proto::packstream::Map;
use boltgate_proto::state::ServerState;
use boltgate_proto::Version;
use bytes::Bytes;

use super::pool_conn::close_evicted;
use super::pool_members::Login;
use super::pool_policy::{hello_state, Key, PoolPolicy};
use super::{Flow, Session};
use crate::pool::Grant;
use crate::session::core::Decision;
use crate::session::failure::{DATABASE_UNAVAILABLE, REQUEST_INVALID};
use crate::session::intercept::is_routing_procedure;
use crate::session::SessionError;

impl Session<'_> {
    pub(super) fn pool_key(&self) -> Key {
        Key {
            version: self.version,
            hello: self
                .hello
                .as_ref()
                .map(|h| hello_state(self.version, h))
                .unwrap_or_default(),
            auth: self.logon.clone().unwrap_or_default(),
        }
    }

    /// The Pool policy's requests (see the module docs).
    pub(super) async fn on_pool_request(
        &mut self,
        raw: RawMessage,
        kind: RequestKind,
    ) -> Result<Flow, SessionError> {
        let failed_before = self.tracker.state() == ServerState::Failed;
        let pending = !self.slots.is_empty();
        let current = self.units.current();
        // Without routing, the Direct procedures answer the routing procedures before a policy
        // sees them; with routing they are the Cluster policy's, answered below.
        let procedure =
            self.routing.is_some() && kind == RequestKind::Run && is_routing_procedure(&raw);
        let decision = self.units.decide(kind, procedure, pending, failed_before);
        // Unlike a routed session, logins wait too: boltgate answers them itself, after asking
        // the pool, so they must not overtake a unit's answers.
        let login = matches!(
            kind,
            RequestKind::Hello | RequestKind::Logon | RequestKind::Logoff
        );
        if decision == Decision::Stall || (login && pending) {
            return Ok(Flow::Stall(raw));
        }
        self.tracker.on_request(kind);
        if login {
            self.procedures.on_forwarded(self.version, &raw);
        }
        match (decision, self.routing) {
            (Decision::Hello, _) => self.pool_hello(raw).await,
            (Decision::Logon, _) => {
                self.logon = Some(super::requests::kept(&raw));
                let answer = self.pool_login().await;
                if answer.signature() != sig::SUCCESS {
                    self.logon = None;
                }
                self.local(vec![answer]);
            }
            (Decision::Logoff, _) => {
                self.logon = None;
                self.local(vec![Response::success(Map::new())]);
            }
            (Decision::Reset, _) => self.pool_reset(raw, current),
            (Decision::Telemetry { ignored }, _) => self.local(vec![if ignored {
                Response::ignored()
            } else {
                Response::success(Map::new())
            }]),
            (Decision::StartUnit { ignored: true }, _) => self.local(vec![Response::ignored()]),
            (Decision::StartUnit { ignored: false }, _) => self.pool_start_unit(raw).await,
            (Decision::ToCurrent, _) => self.send_current(raw),
            (
                Decision::Route { .. }
                | Decision::ProcedureRun { .. }
                | Decision::ProcedureResult { .. },
                Some(routing),
            ) => self.answer_routing(decision, &raw, routing),
            // Returned above, before anything changed; the same here (as under Cluster).
            (Decision::Stall, _) => return Ok(Flow::Stall(raw)),
            (
                Decision::Route { .. }
                | Decision::ProcedureRun { .. }
                | Decision::ProcedureResult { .. }
                | Decision::ToControl,
                _,
            ) => {
                // What is left is connection-level state no pooled connection can keep.
                self.units.refused();
                let name = sig::name(raw.signature());
                self.local(vec![Response::failure(
                    self.version,
                    REQUEST_INVALID,
                    &format!("boltgate: {name} is not available with transaction pooling (boltgate.pool.mode=transaction)"),
                )]);
            }
        }
        Ok(Flow::Continue)
    }

    pub(super) fn pool_policy(&self) -> &PoolPolicy {
        self.pool
            .expect("the Pool policy's own functions run with a pool")
    }

    /// HELLO: answered with the server's metadata; on Bolt < 5.1 after the server accepted the
    /// credentials it carries.
    async fn pool_hello(&mut self, raw: RawMessage) {
        self.hello = Some(super::requests::kept(&raw));
        let answer = if self.version < Version::V5_1 {
            self.pool_login().await
        } else {
            match self.server_metadata().await {
                Ok(meta) => Response::success(meta),
                Err(failure) => failure,
            }
        };
        let answer = match answer.signature() {
            sig::SUCCESS => self.own_hello_success(),
            _ => answer,
        };
        self.local(vec![answer]);
    }

    /// The server's HELLO metadata with boltgate's own connection id.
    fn own_hello_success(&self) -> RawMessage {
        let policy = self.pool_policy();
        let mut meta = policy.server_info().unwrap_or_default();
        meta.insert("connection_id", policy.connection_id());
        Response::success(meta)
    }

    /// The server's HELLO metadata: known from an earlier login, else asked for on a
    /// connection opened for it and closed after (5.1+: HELLO carries no credentials). Err: the
    /// FAILURE the client gets.
    async fn server_metadata(&mut self) -> Result<Map, RawMessage> {
        if let Some(meta) = self.pool_policy().server_info() {
            return Ok(meta);
        }
        let mut why = String::from("no member to ask");
        for member in self.login_members() {
            let place = self.pool_policy().probe_place(&member).await;
            let _place = place.map_err(|e| self.exhausted_failure(&e))?;
            // Another session may have learnt it while this one waited.
            if let Some(meta) = self.pool_policy().server_info() {
                return Ok(meta);
            }
            match self.ask_metadata(&member).await {
                Ok(meta) => return Ok(meta),
                Err(Login::Refused(failure)) => return Err(failure),
                Err(Login::Unreachable(e)) => {
                    self.member_unreachable(&member, &e);
                    why = e;
                }
            }
        }
        Err(self.unreachable_failure(&why))
    }

    /// Before its login succeeded a client learns nothing of the servers (their addresses, their
    /// TLS errors: it may be probing, `session::failure`); the reason goes to the log.
    fn unreachable_failure(&self, why: &str) -> RawMessage {
        tracing::warn!(
            error = why,
            "transaction pooling: no server reachable for a client's login"
        );
        Response::failure(
            self.version,
            DATABASE_UNAVAILABLE,
            crate::session::failure::UPSTREAM_UNREACHABLE,
        )
    }

    /// An exhausted pool, before the client's login: what ran out and which setting, but not
    /// which server (see [`Self::unreachable_failure`]).
    fn exhausted_failure(&self, e: &crate::pool::PoolError) -> RawMessage {
        tracing::warn!(error = %e, "transaction pooling: a client's login found the pool exhausted");
        Response::failure(self.version, DATABASE_UNAVAILABLE, &e.anonymous())
    }

    /// Checks the session's credentials against the server (see the module docs): the SUCCESS
    /// or FAILURE the client gets for its LOGON (or pre-5.1 HELLO).
    async fn pool_login(&mut self) -> RawMessage {
        let key = self.pool_key();
        let mut why = String::from("no member to log in on");
        for member in self.login_members() {
            let pool = self.pool_policy().pool(&member);
            let lent = match pool.acquire(&key).await {
                Ok(lent) => lent,
                Err(e) => return self.exhausted_failure(&e),
            };
            let evicted = match lent.grant {
                Grant::Ready { conn, .. } => {
                    // Logged in with exactly these credentials and HELLO state: they are good.
                    lent.ticket.release(conn, true);
                    return Response::success(Map::new());
                }
                Grant::Dial { evicted } => evicted,
            };
            close_evicted(evicted).await;
            match self.login_new(&member, &pool).await {
                Ok(backend) => {
                    lent.ticket.release(backend, true);
                    return Response::success(Map::new());
                }
                // The ticket dropped: its place is freed, the connection closed.
                Err(Login::Refused(failure)) => return failure,
                Err(Login::Unreachable(e)) => {
                    self.member_unreachable(&member, &e);
                    why = e;
                }
            }
        }
        self.unreachable_failure(&why)
    }

    /// BEGIN or an auto-commit RUN: a connection of the session's key from the pool of the
    /// member the unit goes to, then the request.
    async fn pool_start_unit(&mut self, raw: RawMessage) {
        if let Some(routing) = self.routing {
            // The Cluster policy's placement, each member reached through its pool.
            return self.start_unit(raw, routing).await;
        }
        // The policy outlives the session: its address is borrowed, not copied, per unit.
        let policy: &PoolPolicy = self.pool.expect("pool_start_unit runs with a pool");
        match self.pool_take(policy.upstream()).await {
            Ok((id, _)) => {
                self.units.placed(id);
                self.forward(id, raw);
            }
            Err((_, e)) => {
                self.units.refused();
                self.local(vec![e.answer(self.version)]);
            }
        }
    }

    /// RESET: to the connection of the unit in progress, if any (the client's answer comes from
    /// it); else boltgate's SUCCESS.
    /// `current`: the unit's connection before the RESET was decided ([`crate::session::core::Units::decide`] has
    /// forgotten it); it stays the unit's until released, so it goes back to the pool.
    fn pool_reset(&mut self, raw: RawMessage, current: Option<u64>) {
        self.tx_mode = None;
        match current.filter(|id| self.alive(*id)) {
            Some(id) => {
                self.units.placed(id);
                self.forward(id, raw)
            }
            None => self.local(vec![Response::success(Map::new())]),
        }
    }

    /// Gives the unit's connection back once its last answer reached the client and the
    /// session is between units (READY, or FAILED, which a RESET before reuse clears).
    pub(super) fn pool_release_if_done(&mut self) {
        let Some(id) = self.units.current() else {
            return;
        };
        if !self.slots.is_empty() || self.tracker.outstanding() > 0 {
            return;
        }
        let state = self.tracker.state();
        if !matches!(state, ServerState::Ready | ServerState::Failed) {
            return;
        }
        self.units.released();
        let Some(mut b) = self.backends.remove(&id) else {
            return;
        };
        self.by_address.retain(|_, v| *v != id);
        let reusable = b.is_alive() && !b.owed.is_owed();
        b.dirty = state != ServerState::Ready;
        b.flush_counts();
        match b.pooled.take() {
            Some(ticket) => ticket.release(b, reusable),
            None => drop(b),
        }
    }
}

/// The RESET a dirty connection owes before its next unit.
pub(super) const RESET: Bytes = Bytes::from_static(&[0xB0, sig::RESET]);

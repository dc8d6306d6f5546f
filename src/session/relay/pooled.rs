//! The Pool policy (`boltgate.pool.mode=transaction`): a session holds a server connection only
//! for one unit of work, borrowed from the pool every session shares ([`crate::pool`]).
//!
//! - HELLO is answered by boltgate with the server's own metadata (agent, hints) and a
//!   connection id of boltgate's; on Bolt < 5.1, whose HELLO carries the credentials, only once
//!   the server has accepted them. LOGON (5.1+) is answered once the server has accepted the
//!   credentials: on a new connection logged in with them, or because a pooled connection is
//!   already logged in with exactly these credentials. A refused login closes that connection;
//!   it never enters the pool. LOGOFF forgets the credentials.
//! - A unit of work (BEGIN … COMMIT/ROLLBACK, or an auto-commit RUN and its PULL/DISCARDs)
//!   borrows a connection of the session's [`Key`] (its credentials and HELLO-level state, so
//!   identities and notification filters are never mixed), waiting up to `acquire_timeout`, and
//!   gives it back once its last answer has reached the client. Per-unit state (db, imp_user,
//!   bookmarks, tx metadata, per-query notification filters) travels in the BEGIN/RUN itself.
//! - A connection given back in a state other than READY (a FAILURE ended the unit) is RESET
//!   before its next unit (pipelined ahead of it, its answer swallowed). One whose socket was
//!   closed while idle (a server restart) is found so when taken and replaced.
//! - What cannot follow a client from connection to connection is refused with a FAILURE
//!   naming transaction pooling (README, "Transaction pooling: limits").

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use boltgate_proto::handshake::ClientHello;
use boltgate_proto::message::{sig, RawMessage, Request, RequestKind, Response};
use boltgate_proto::packstream::{encode_to_vec, Map, Value};
use boltgate_proto::state::ServerState;
use boltgate_proto::Version;
use bytes::Bytes;

use super::backend::Backend;
use super::pool_conn::{answers_reset, close_evicted, close_probe, exchange, still_open};
use super::{Flow, Session};
use crate::pool::{Grant, Limits, Pool, Stats};
use crate::session::core::{Decision, Expect};
use crate::session::failure::{DATABASE_UNAVAILABLE, REQUEST_INVALID};
use crate::session::SessionError;
use crate::upstream::connect::Offer;

/// A pooled connection idle this long is checked with a RESET round trip before a unit of work
/// is sent on it: a server that vanished without closing (a host down, a dropped link) would
/// otherwise take the unit with it. Shorter idle times get the cheaper check ([`still_open`]).
const CHECK_IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Attempts at taking a pooled connection before giving up when each one taken turns out dead
/// (a server restart leaves every idle one closed; each dead one found frees its place).
const TAKE_ATTEMPTS: usize = 4;

/// What may not be mixed on one server connection: the Bolt version, the HELLO-level state
/// (notification filters, patches; not the user agent or routing context) and the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    version: Version,
    hello: Bytes,
    auth: Bytes,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key holds credentials: never printed.
        write!(f, "Key({}, <redacted>)", self.version)
    }
}

/// What the sessions of a pooling boltgate share.
pub struct PoolPolicy {
    pool: Arc<Pool<Key, Backend>>,
    /// The version the upstream agreed for each set of client proposals, so a client's
    /// handshake needs no dial once one like it has been seen.
    versions: Mutex<HashMap<[u8; 16], Version>>,
    /// The server's HELLO SUCCESS metadata, for HELLOs boltgate answers itself.
    server_info: Mutex<Option<Map>>,
    next_connection: AtomicU64,
}

impl PoolPolicy {
    pub fn new(settings: &crate::config::Pool, metrics: crate::metrics::PoolMetrics) -> PoolPolicy {
        let limits = Limits {
            max_size: settings.max_size,
            min_idle: settings.min_idle,
            idle_timeout: settings.idle_timeout,
            max_lifetime: settings.max_lifetime,
        };
        PoolPolicy {
            pool: Pool::new(limits, settings.acquire_timeout, metrics),
            versions: Mutex::new(HashMap::new()),
            server_info: Mutex::new(None),
            next_connection: AtomicU64::new(1),
        }
    }

    pub fn stats(&self) -> Stats {
        self.pool.stats()
    }

    pub fn max_size(&self) -> usize {
        self.pool.max_size()
    }

    fn metrics(&self) -> &crate::metrics::PoolMetrics {
        &self.pool.metrics
    }

    /// Closes the idle connections (a draining boltgate).
    pub async fn close_idle(&self) {
        self.pool.close_idle().await;
    }

    /// A place in the pool for a connection that only asks the server something (its version
    /// for a client's proposals, its HELLO metadata) and is closed after: counted like any
    /// other, so the server never sees more than `max_size` connections from boltgate.
    pub async fn probe_place(&self) -> Result<ProbePlace, crate::pool::PoolError> {
        let probe = Key {
            version: Version::V3,
            hello: Bytes::from_static(b"probe"),
            auth: Bytes::new(),
        };
        // A probe key is never released, so the grant is always a place to dial.
        let lent = self.pool.acquire(&probe).await?;
        if let Grant::Dial { evicted } = lent.grant {
            drop(evicted);
        }
        Ok(ProbePlace(lent.ticket))
    }

    pub fn version_for(&self, hello: &ClientHello) -> Option<Version> {
        let versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        versions.get(&proposals(hello)).copied()
    }

    pub fn remember_version(&self, hello: &ClientHello, version: Version) {
        let mut versions = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: four proposals from a handful of driver releases; a client sending random
        // proposals cannot grow it past this.
        if versions.len() < 1024 {
            versions.insert(proposals(hello), version);
        }
    }

    fn server_info(&self) -> Option<Map> {
        self.server_info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn learn(&self, meta: &Map) {
        *self.server_info.lock().unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
    }
}

/// A place held while probing ([`PoolPolicy::probe_place`]); dropped, it is freed.
pub struct ProbePlace(#[allow(dead_code)] crate::pool::Ticket<Key, Backend>);

fn proposals(hello: &ClientHello) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, p) in hello.proposals.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&p.to_bytes());
    }
    out
}

/// A HELLO's connection-level state: every field but the ones that only describe the client
/// (user agent, bolt agent) or are boltgate's to set (routing).
fn hello_state(version: Version, hello: &Bytes) -> Bytes {
    let Ok(raw) = RawMessage::new(hello.clone()) else {
        return hello.clone();
    };
    match Request::decode(version, &raw) {
        Ok(Request::Hello(h)) => {
            let kept: Map = h
                .extra
                .iter()
                .filter(|(k, _)| !matches!(*k, "user_agent" | "bolt_agent" | "routing"))
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            encode_to_vec(&Value::Map(kept))
                .map(Bytes::from)
                .unwrap_or_else(|_| hello.clone())
        }
        _ => hello.clone(),
    }
}

/// A login on a new connection failed: the FAILURE the client gets.
struct Refused(RawMessage);

impl Session<'_> {
    fn pool_key(&self) -> Key {
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
        // Routing procedures never get here (the Direct procedures answer them, naming
        // boltgate), so a RUN is never one.
        let decision = self.units.decide(kind, false, pending, failed_before);
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
        match decision {
            Decision::Hello => self.pool_hello(raw).await,
            Decision::Logon => {
                self.logon = Some(raw.as_bytes().clone());
                let answer = self.pool_login().await;
                if answer.signature() != sig::SUCCESS {
                    self.logon = None;
                }
                self.local(vec![answer]);
            }
            Decision::Logoff => {
                self.logon = None;
                self.local(vec![Response::success(Map::new())]);
            }
            Decision::Reset => self.pool_reset(raw, current),
            Decision::Telemetry { ignored } => self.local(vec![if ignored {
                Response::ignored()
            } else {
                Response::success(Map::new())
            }]),
            Decision::StartUnit { ignored: true } => self.local(vec![Response::ignored()]),
            Decision::StartUnit { ignored: false } => self.pool_start_unit(raw).await,
            Decision::ToCurrent => self.send_current(raw),
            Decision::Stall
            | Decision::Route { .. }
            | Decision::ProcedureRun { .. }
            | Decision::ProcedureResult { .. }
            | Decision::ToControl => {
                // ROUTE and routing procedures are answered before a policy sees them; what
                // is left is connection-level state no pooled connection can keep.
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

    fn pool_policy(&self) -> &PoolPolicy {
        self.pool
            .expect("the Pool policy's own functions run with a pool")
    }

    /// HELLO: answered with the server's metadata; on Bolt < 5.1 after the server accepted the
    /// credentials it carries.
    async fn pool_hello(&mut self, raw: RawMessage) {
        self.hello = Some(raw.as_bytes().clone());
        let answer = if self.version < Version::V5_1 {
            self.pool_login().await
        } else {
            match self.server_metadata().await {
                Ok(meta) => Response::success(meta),
                Err(why) => why.0,
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
        let n = policy.next_connection.fetch_add(1, Ordering::Relaxed);
        meta.insert("connection_id", format!("boltgate-pool-{n}"));
        Response::success(meta)
    }

    /// The server's HELLO metadata: known from an earlier login, else asked for on a
    /// connection opened for it and closed after (5.1+: HELLO carries no credentials).
    async fn server_metadata(&mut self) -> Result<Map, Refused> {
        if let Some(meta) = self.pool_policy().server_info() {
            return Ok(meta);
        }
        let place = self.pool_policy().probe_place().await;
        let _place = place.map_err(|e| {
            Refused(Response::failure(
                self.version,
                DATABASE_UNAVAILABLE,
                &e.to_string(),
            ))
        })?;
        // Another session may have learnt it while this one waited.
        if let Some(meta) = self.pool_policy().server_info() {
            return Ok(meta);
        }
        match self.dial_and_login(false).await {
            Ok((_, meta)) => Ok(meta),
            // A probe's answer comes back as `Refused` (no connection to give): SUCCESS, its
            // metadata now known, or the server's refusal.
            Err(Refused(answer)) => match Response::decode(self.version, &answer) {
                Ok(Response::Success(s)) => Ok(s.metadata),
                _ => Err(Refused(answer)),
            },
        }
    }

    /// Checks the session's credentials against the server (see the module docs): the SUCCESS
    /// or FAILURE the client gets for its LOGON (or pre-5.1 HELLO).
    async fn pool_login(&mut self) -> RawMessage {
        let pool = self.pool_policy().pool.clone();
        let key = self.pool_key();
        let lent = match pool.acquire(&key).await {
            Ok(lent) => lent,
            Err(e) => return Response::failure(self.version, DATABASE_UNAVAILABLE, &e.to_string()),
        };
        match lent.grant {
            Grant::Ready { conn, .. } => {
                // Logged in with exactly these credentials and HELLO state: they are good.
                lent.ticket.release(conn, true);
                Response::success(Map::new())
            }
            Grant::Dial { evicted } => {
                close_evicted(evicted).await;
                match self.dial_and_login(true).await {
                    Ok((backend, _)) => {
                        lent.ticket.release(*backend, true);
                        Response::success(Map::new())
                    }
                    // The ticket dropped: its place is freed, the connection closed.
                    Err(Refused(failure)) => failure,
                }
            }
        }
    }

    /// A new server connection: dialled, HELLO (and LOGON) sent and answered. `keep`: the
    /// connection is wanted (else it only asked for the server's metadata and is closed).
    async fn dial_and_login(&mut self, keep: bool) -> Result<(Box<Backend>, Map), Refused> {
        let ctx = self.ctx;
        let version = self.version;
        let unavailable = |why: &str| {
            Refused(Response::failure(
                version,
                DATABASE_UNAVAILABLE,
                &format!("boltgate could not open a server connection: {why}"),
            ))
        };
        let address = ctx.upstream.target.address();
        let started = std::time::Instant::now();
        let dialled = ctx.upstream.connect(&Offer::version(version)).await;
        let (mut stream, _, mut rest) = match dialled {
            Ok(c) => {
                ctx.metrics.upstream_connected(&address, started.elapsed());
                c
            }
            Err(e) => {
                ctx.metrics.upstream_connect_failed(&address, &e);
                return Err(unavailable(&e.to_string()));
            }
        };
        let mut requests = vec![self.hello.clone().unwrap_or_default()];
        if keep && version >= Version::V5_1 {
            requests.push(self.logon.clone().unwrap_or_default());
        }
        let policy = self.pool_policy();
        if keep {
            policy.metrics().logins.inc();
        }
        let exchange = exchange(&mut stream, &mut rest, &requests, ctx.max_message_size);
        let answers = match tokio::time::timeout(ctx.handshake_timeout, exchange).await {
            Ok(Ok(answers)) => answers,
            Ok(Err(e)) => {
                close_probe(stream).await;
                return Err(unavailable(&e.to_string()));
            }
            Err(_) => {
                close_probe(stream).await;
                return Err(unavailable("no answer to HELLO/LOGON in time"));
            }
        };
        let mut meta = Map::new();
        for (i, answer) in answers.into_iter().enumerate() {
            match Response::decode(version, &answer) {
                Ok(Response::Success(m)) if i == 0 => {
                    policy.learn(&m.metadata);
                    meta = m.metadata;
                }
                Ok(Response::Success(_)) => {}
                _ => {
                    if keep {
                        policy.metrics().login_failures.inc();
                    }
                    tracing::debug!(upstream = %address, "the server refused a login; connection closed");
                    close_probe(stream).await;
                    return Err(Refused(answer));
                }
            }
        }
        if !keep {
            close_probe(stream).await;
            return Err(Refused(Response::success(meta)));
        }
        let backend = Backend::new(
            format!("upstream {address}"),
            address.clone(),
            stream,
            rest,
            ctx.max_message_size,
            ctx.metrics.session(&address),
        );
        Ok((Box::new(backend), meta))
    }

    /// BEGIN or an auto-commit RUN: a connection of the session's key, then the request.
    async fn pool_start_unit(&mut self, raw: RawMessage) {
        let pool = self.pool_policy().pool.clone();
        let key = self.pool_key();
        for _ in 0..TAKE_ATTEMPTS {
            let lent = match pool.acquire(&key).await {
                Ok(lent) => lent,
                Err(e) => {
                    self.units.refused();
                    self.local(vec![Response::failure(
                        self.version,
                        DATABASE_UNAVAILABLE,
                        &e.to_string(),
                    )]);
                    return;
                }
            };
            let (mut backend, ticket) = match lent.grant {
                Grant::Ready { conn, idle_for, .. } => {
                    let mut conn = Box::new(conn);
                    let alive = if idle_for >= CHECK_IDLE_AFTER {
                        // The RESET also does what a dirty connection owes.
                        conn.dirty = false;
                        answers_reset(&mut conn, self.version, self.ctx.handshake_timeout).await
                    } else {
                        still_open(&mut conn)
                    };
                    if !alive {
                        // Closed while idle (a server restart): its place goes, try again.
                        tracing::debug!("pooled connection found closed; replaced");
                        drop(lent.ticket);
                        continue;
                    }
                    (conn, lent.ticket)
                }
                Grant::Dial { evicted } => {
                    close_evicted(evicted).await;
                    match self.dial_and_login(true).await {
                        Ok((backend, _)) => (backend, lent.ticket),
                        Err(Refused(failure)) => {
                            self.units.refused();
                            self.local(vec![failure]);
                            return;
                        }
                    }
                }
            };
            if backend.dirty {
                // The unit before ended in a FAILURE: RESET first, its answer boltgate's.
                backend.dirty = false;
                backend.send(
                    Bytes::from_static(&[0xB0, sig::RESET]),
                    Expect::Swallow("RESET"),
                );
            }
            backend.pooled = Some(ticket);
            let id = self.adopt_backend(*backend);
            self.units.placed(id);
            self.forward(id, raw);
            return;
        }
        self.units.refused();
        self.local(vec![Response::failure(
            self.version,
            DATABASE_UNAVAILABLE,
            "boltgate: every pooled server connection tried was closed by the server",
        )]);
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
            Some(ticket) => ticket.release(*b, reusable),
            None => drop(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(entries: Vec<(&str, Value)>) -> Bytes {
        Request::Hello(boltgate_proto::message::Hello {
            extra: entries.into_iter().collect(),
        })
        .to_raw()
        .unwrap()
        .into_bytes()
    }

    /// Clients that differ only in who they say they are share connections; HELLO-level state
    /// the server keeps per connection (notification filters) does not mix.
    #[test]
    fn the_key_ignores_the_user_agent_and_routing_but_not_notification_filters() {
        let v = Version::V5_4;
        let a = hello(vec![("user_agent", "a/1".into()), ("routing", Value::Null)]);
        let b = hello(vec![("user_agent", "b/2".into())]);
        assert_eq!(hello_state(v, &a), hello_state(v, &b));
        let warn = hello(vec![
            ("user_agent", "a/1".into()),
            ("notifications_minimum_severity", "WARNING".into()),
        ]);
        let off = hello(vec![
            ("user_agent", "a/1".into()),
            ("notifications_minimum_severity", "OFF".into()),
        ]);
        assert_ne!(hello_state(v, &warn), hello_state(v, &a));
        assert_ne!(hello_state(v, &warn), hello_state(v, &off));
        // Pre-5.1 credentials travel in HELLO: different users, different keys.
        let alice = hello(vec![
            ("scheme", "basic".into()),
            ("principal", "alice".into()),
        ]);
        let bob = hello(vec![
            ("scheme", "basic".into()),
            ("principal", "bob".into()),
        ]);
        assert_ne!(
            hello_state(Version::V4_4, &alice),
            hello_state(Version::V4_4, &bob)
        );
    }
}

//! boltgate's metrics: one [`Metrics`] handle (an `Arc`, cheap to clone) that every layer records
//! into, rendered for Prometheus by `/metrics` in the OpenMetrics text format.
//!
//! Built on `prometheus-client` (the Prometheus project's Rust client): an explicit registry per
//! server, no global recorder, so several servers in one process (tests) never mix their numbers.
//! Counters are atomics; label sets are resolved once per session ([`Metrics::session`]) so the
//! relay's hot path is an atomic add per batch of messages, never a map lookup per message.
//!
//! The API other modules call (one line at the place the thing happens):
//!
//! | who            | call                                                                   |
//! |----------------|------------------------------------------------------------------------|
//! | listener       | [`Metrics::connection_accepted`], [`Metrics::connection_refused`], [`Metrics::tls_handshake_ok`], [`Metrics::tls_handshake_failed`] |
//! | session        | [`Metrics::bolt_version`], [`Metrics::upstream_connected`], [`Metrics::upstream_connect_failed`], [`Metrics::session`] |
//! | routing        | [`Metrics::routing_refreshed`], [`Metrics::routing_stale_table_used`], [`Metrics::routing_member_banned`], [`Metrics::upstream_member`], [`Metrics::upstream_health`] |
//! | TLS / OCSP     | [`Metrics::certificate`], [`Metrics::ocsp_staple`]                     |
//! | reload         | [`Metrics::reload`]                                                    |
//!
//! Every metric is listed with one line in the README's "Metrics" section.

pub mod health;
mod labels;
mod pool;
mod register;

pub use pool::{PoolFamilies, PoolMetrics};

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use boltgate_proto::message::AccessMode;
use boltgate_proto::Version;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rustls::pki_types::CertificateDer;

use crate::config::Scope;
use crate::fasthash::BuildFastHasher;
use health::UpstreamHealth;
pub use labels::{tls_failure_reason, ConnectFailure, Refusal};

type L1 = [(&'static str, String); 1];
type L2 = [(&'static str, String); 2];
type L4 = [(&'static str, String); 4];
type FloatGauge = Gauge<f64, AtomicU64>;

/// Upstream connect latency buckets, seconds: 1 ms to 10 s.
const CONNECT_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn connect_histogram() -> Histogram {
    Histogram::new(CONNECT_BUCKETS)
}

/// The handle every layer records into. Clone it freely.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    registry: Registry,
    started: Instant,
    health: UpstreamHealth,
    // client side
    conn_open: Gauge,
    conn_accepted: Counter,
    conn_refused: Family<L1, Counter>,
    tls_ok: Family<L4, Counter>,
    tls_failed: Family<L2, Counter>,
    bolt_versions: Family<L1, Counter>,
    /// `bolt_versions`' counters by version, resolved once: the label lookup formats the version
    /// and hashes the label set on every connection otherwise.
    bolt_version_counters: std::sync::RwLock<Vec<(Version, Counter)>>,
    // traffic
    messages: Family<L2, Counter>,
    bytes: Family<L2, Counter>,
    queries: Family<L2, Counter>,
    transactions: Family<L2, Counter>,
    // upstream
    connect_seconds: Family<L1, Histogram, fn() -> Histogram>,
    connect_failures: Family<L2, Counter>,
    upstream_up: Family<L1, Gauge>,
    ready: Gauge,
    // routing
    routing_refreshes: Family<L2, Counter>,
    routing_age: Family<L1, FloatGauge>,
    routing_refreshed_at: Mutex<HashMap<String, Instant>>,
    /// Sessions' counters by member, resolved once per member (see [`Metrics::session`]).
    sessions: std::sync::RwLock<HashMap<String, Arc<SessionMetrics>, BuildFastHasher>>,
    /// The databases with their own `db` label (each had a valid table once); at most
    /// `max_db_labels`, the rest are counted as `db="other"`.
    db_labels: Mutex<std::collections::HashSet<String>>,
    max_db_labels: std::sync::atomic::AtomicUsize,
    routing_stale: Family<L1, Counter>,
    member_bans: Family<L1, Counter>,
    // TLS material
    cert_expiry: Family<L1, FloatGauge>,
    ocsp_age: Family<L1, FloatGauge>,
    ocsp_produced: Mutex<HashMap<Scope, SystemTime>>,
    reloads: Family<L1, Counter>,
    uptime: FloatGauge,
    pool: PoolFamilies,
}

/// The `db` label of everything beyond the per-database series (see [`Metrics::db_label`]).
pub const OTHER_DB: &str = "other";
const DEFAULT_MAX_DB_LABELS: usize = 1000;
/// Members whose session counters are kept resolved ([`Metrics::session`]).
const MAX_CACHED_MEMBERS: usize = 1024;

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut inner = Inner::unregistered();
        let mut r = Registry::with_prefix("boltgate");
        // In this order: /metrics lists them as registered, as the README's "Metrics" section does.
        inner.register_process(&mut r);
        inner.register_client(&mut r);
        inner.register_traffic(&mut r);
        inner.register_upstream(&mut r);
        inner.register_routing(&mut r);
        inner.register_tls_material(&mut r);
        inner.pool.register(&mut r);
        inner.registry = r;
        Metrics {
            inner: Arc::new(inner),
        }
    }

    /// The transaction pools' metrics, one series per member ([`PoolFamilies::member`]).
    pub fn pool(&self) -> PoolFamilies {
        self.inner.pool.clone()
    }

    /// The readiness and upstream health shared with the admin endpoint.
    pub fn health(&self) -> &UpstreamHealth {
        &self.inner.health
    }

    /// The OpenMetrics text for a scrape; ages and gauges derived from state are computed now.
    pub fn render(&self, ready: bool) -> String {
        let i = &self.inner;
        i.uptime.set(i.started.elapsed().as_secs_f64());
        i.ready.set(i64::from(ready));
        for (member, up) in i.health.snapshot_up() {
            i.upstream_up
                .get_or_create(&[("member", member)])
                .set(i64::from(up));
        }
        for (db, at) in lock(&i.routing_refreshed_at).iter() {
            i.routing_age
                .get_or_create(&[("db", db.clone())])
                .set(at.elapsed().as_secs_f64());
        }
        let now = SystemTime::now();
        for (scope, produced) in lock(&i.ocsp_produced).iter() {
            let age = now.duration_since(*produced).unwrap_or(Duration::ZERO);
            i.ocsp_age
                .get_or_create(&[("scope", scope.to_string())])
                .set(age.as_secs_f64());
        }
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode(&mut out, &i.registry)
            .expect("writing to a String cannot fail");
        out
    }

    // --- client side (listener) ---

    /// A client connection was accepted; the open gauge falls again when the guard is dropped.
    pub fn connection_accepted(&self) -> OpenConnection {
        self.inner.conn_accepted.inc();
        self.inner.conn_open.inc();
        OpenConnection(self.inner.conn_open.clone())
    }

    pub fn connection_refused(&self, why: Refusal) {
        self.inner
            .conn_refused
            .get_or_create(&[("reason", why.as_str().to_string())])
            .inc();
    }

    /// A TLS handshake completed on `scope`'s listener (`bolt` or `https`).
    /// `cipher` is the suite's name as `dbms.ssl.policy.*.ciphers` spells it
    /// (`tls::suites::negotiated`).
    pub fn tls_handshake_ok(&self, scope: Scope, conn: &rustls::ServerConnection, cipher: &str) {
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "other",
        };
        self.inner
            .tls_ok
            .get_or_create(&[
                ("scope", scope.to_string()),
                ("version", version.to_string()),
                ("cipher", cipher.to_string()),
                (
                    "client_cert",
                    conn.peer_certificates()
                        .is_some_and(|c| !c.is_empty())
                        .to_string(),
                ),
            ])
            .inc();
    }

    /// A TLS handshake failed; `error` is what the acceptor returned (None for a timeout).
    pub fn tls_handshake_failed(&self, scope: Scope, error: Option<&std::io::Error>) {
        let reason = error.map_or("timeout", tls_failure_reason);
        self.inner
            .tls_failed
            .get_or_create(&[("scope", scope.to_string()), ("reason", reason.to_string())])
            .inc();
    }

    // --- session ---

    pub fn bolt_version(&self, version: Version) {
        let cache = &self.inner.bolt_version_counters;
        let read = cache.read().unwrap_or_else(|e| e.into_inner());
        if let Some((_, counter)) = read.iter().find(|(v, _)| *v == version) {
            counter.inc();
            return;
        }
        drop(read);
        let counter = self
            .inner
            .bolt_versions
            .get_or_create(&[("version", version.to_string())])
            .clone();
        counter.inc();
        let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
        if !cache.iter().any(|(v, _)| *v == version) {
            cache.push((version, counter));
        }
    }

    /// A connect to upstream `member` succeeded after `elapsed`; also marks the member up.
    pub fn upstream_connected(&self, member: &str, elapsed: Duration) {
        // Through the member's cached counters (see [`Metrics::session`]).
        self.session(member)
            .connect_seconds
            .get_or_init(|| {
                self.inner
                    .connect_seconds
                    .get_or_create(&[("member", member.to_string())])
                    .clone()
            })
            .observe(elapsed.as_secs_f64());
        self.inner.health.report(member, Ok(()));
    }

    /// A connect to upstream `member` failed; a refusal of the client's Bolt versions is not a
    /// sign of ill health, anything else marks the member down until a probe or connect succeeds.
    pub fn upstream_connect_failed(&self, member: &str, error: &dyn ConnectFailure) {
        let reason = error.reason();
        self.inner
            .connect_failures
            .get_or_create(&[
                ("member", member.to_string()),
                ("reason", reason.to_string()),
            ])
            .inc();
        if !error.is_version_refusal() {
            self.inner.health.report(member, Err(error.to_string()));
        }
    }

    /// Counters for one session relaying to `member`. Resolving them is eight label-set lookups
    /// (a hash and two strings each), about a tenth of what boltgate spends on a whole
    /// connection, so each member's are resolved once and shared by its sessions.
    pub fn session(&self, member: &str) -> Arc<SessionMetrics> {
        let cache = &self.inner.sessions;
        if let Some(found) = cache.read().unwrap_or_else(|e| e.into_inner()).get(member) {
            return found.clone();
        }
        let resolved = Arc::new(self.resolve_session(member));
        let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
        // Members come from the configuration and the servers' routing tables; the bound only
        // keeps a server announcing ever new addresses from growing it without end.
        if cache.len() < MAX_CACHED_MEMBERS {
            cache.insert(member.to_string(), resolved.clone());
        }
        resolved
    }

    fn resolve_session(&self, member: &str) -> SessionMetrics {
        let i = &self.inner;
        let dir = |family: &Family<L2, Counter>, d: &str| {
            family
                .get_or_create(&[("direction", d.to_string()), ("member", member.to_string())])
                .clone()
        };
        let mode = |family: &Family<L2, Counter>, m: &str| {
            family
                .get_or_create(&[("member", member.to_string()), ("mode", m.to_string())])
                .clone()
        };
        SessionMetrics {
            to_upstream: (
                dir(&i.messages, "client_to_upstream"),
                dir(&i.bytes, "client_to_upstream"),
            ),
            to_client: (
                dir(&i.messages, "upstream_to_client"),
                dir(&i.bytes, "upstream_to_client"),
            ),
            queries: [mode(&i.queries, "read"), mode(&i.queries, "write")],
            transactions: [
                mode(&i.transactions, "read"),
                mode(&i.transactions, "write"),
            ],
            connect_seconds: std::sync::OnceLock::new(),
        }
    }

    // --- routing ---

    /// At most `n` databases get their own `db` label (`boltgate.routing.max_databases`).
    pub fn set_max_databases(&self, n: usize) {
        self.inner
            .max_db_labels
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The `db` label for `db`: its name once it has had a valid table (`valid`), while fewer
    /// than the maximum have one; else `other`. Any client can name any database: names that
    /// never resolved must not become series, or /metrics grows with every typo and attack.
    fn db_label(&self, db: &str, valid: bool) -> String {
        let mut known = lock(&self.inner.db_labels);
        if known.contains(db) {
            return db.to_string();
        }
        let max = self
            .inner
            .max_db_labels
            .load(std::sync::atomic::Ordering::Relaxed);
        if valid && known.len() < max {
            known.insert(db.to_string());
            return db.to_string();
        }
        OTHER_DB.to_string()
    }

    /// A routing table refresh for `db` ended; on success its age restarts from zero.
    pub fn routing_refreshed(&self, db: &str, ok: bool) {
        let label = self.db_label(db, ok);
        self.inner
            .routing_refreshes
            .get_or_create(&[("db", label.clone()), ("result", result(ok))])
            .inc();
        if ok && label != OTHER_DB {
            lock(&self.inner.routing_refreshed_at).insert(label, Instant::now());
        }
    }

    /// `db`'s table was dropped (least recently used beyond `boltgate.routing.max_databases`):
    /// its age is no longer reported.
    pub fn routing_forgotten(&self, db: &str) {
        if lock(&self.inner.routing_refreshed_at).remove(db).is_some() {
            self.inner.routing_age.remove(&[("db", db.to_string())]);
        }
    }

    /// Every router failed and `db`'s expired table was used (stale-table fallback).
    pub fn routing_stale_table_used(&self, db: &str) {
        let label = self.db_label(db, true);
        self.inner
            .routing_stale
            .get_or_create(&[("db", label)])
            .inc();
    }

    /// `member` was banned (not already banned) after a failed connect or a loss.
    pub fn routing_member_banned(&self, member: &str) {
        self.inner
            .member_bans
            .get_or_create(&[("member", member.to_string())])
            .inc();
    }

    /// Track `member` for health probes and `/ready` (routing adds members as tables arrive).
    pub fn upstream_member(&self, member: &str) {
        self.inner.health.track(member);
    }

    /// What a health check of `member` found (routing's own checks; the admin probe calls it too).
    pub fn upstream_health(&self, member: &str, result: Result<(), String>) {
        self.inner.health.report(member, result);
    }

    // --- TLS material and reload ---

    /// The certificate chain now served (or presented) by `scope`; records the leaf's expiry.
    pub fn certificate(&self, scope: Scope, chain: &[CertificateDer<'_>]) {
        let Some(leaf) = chain.first() else { return };
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf.as_ref()) else {
            return;
        };
        self.inner
            .cert_expiry
            .get_or_create(&[("scope", scope.to_string())])
            .set(cert.validity().not_after.timestamp() as f64);
    }

    /// The OCSP response stapled for `scope` was produced (`thisUpdate`) at `this_update`; None
    /// when no staple is served any more (the age series is then removed).
    pub fn ocsp_staple(&self, scope: Scope, this_update: Option<SystemTime>) {
        let mut produced = lock(&self.inner.ocsp_produced);
        match this_update {
            Some(t) => {
                produced.insert(scope, t);
            }
            None => {
                produced.remove(&scope);
                self.inner.ocsp_age.remove(&[("scope", scope.to_string())]);
            }
        }
    }

    /// A reload (SIGHUP, file change, or POST /reload) ended.
    pub fn reload(&self, ok: bool) {
        self.inner
            .reloads
            .get_or_create(&[("result", result(ok))])
            .inc();
    }
}

fn result(ok: bool) -> String {
    if ok { "ok" } else { "failed" }.to_string()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Decrements the open-connections gauge when the connection ends.
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One session's counters, resolved for its upstream member. Record per batch, not per message.
#[derive(Clone, Debug)]
pub struct SessionMetrics {
    to_upstream: (Counter, Counter),
    to_client: (Counter, Counter),
    queries: [Counter; 2],
    transactions: [Counter; 2],
    /// The member's connect-time histogram, created by its first connect.
    connect_seconds: std::sync::OnceLock<Histogram>,
}

impl SessionMetrics {
    /// `messages` messages of `bytes` payload went client → upstream.
    pub fn to_upstream(&self, messages: u64, bytes: u64) {
        self.to_upstream.0.inc_by(messages);
        self.to_upstream.1.inc_by(bytes);
    }

    /// `messages` messages of `bytes` payload went upstream → client.
    pub fn to_client(&self, messages: u64, bytes: u64) {
        self.to_client.0.inc_by(messages);
        self.to_client.1.inc_by(bytes);
    }

    pub fn query(&self, mode: AccessMode) {
        self.queries[mode_index(mode)].inc();
    }

    pub fn transaction(&self, mode: AccessMode) {
        self.transactions[mode_index(mode)].inc();
    }
}

fn mode_index(mode: AccessMode) -> usize {
    match mode {
        AccessMode::Read => 0,
        AccessMode::Write => 1,
    }
}

#[cfg(test)]
mod tests;

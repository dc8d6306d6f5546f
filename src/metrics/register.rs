//! The registrations of every metric in the registry `/metrics` renders, kept apart from
//! [`Metrics`](super::Metrics)' recording API so that each reads as a table: one function per
//! group of [`Inner`]'s fields, each entry the metric's name (after the `boltgate_` prefix), its
//! help text as Prometheus shows it, and the field it reads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::{connect_histogram, FloatGauge, Inner, UpstreamHealth, DEFAULT_MAX_DB_LABELS};

impl Inner {
    /// Every metric at zero, not yet in a registry.
    pub(super) fn unregistered() -> Inner {
        Inner {
            registry: Registry::default(),
            started: Instant::now(),
            health: UpstreamHealth::default(),
            conn_open: Gauge::default(),
            conn_accepted: Counter::default(),
            conn_refused: Family::default(),
            tls_ok: Family::default(),
            tls_failed: Family::default(),
            bolt_versions: Family::default(),
            bolt_version_counters: Default::default(),
            messages: Family::default(),
            bytes: Family::default(),
            queries: Family::default(),
            transactions: Family::default(),
            connect_seconds: Family::new_with_constructor(connect_histogram),
            connect_failures: Family::default(),
            upstream_up: Family::default(),
            ready: Gauge::default(),
            routing_refreshes: Family::default(),
            routing_age: Family::default(),
            routing_refreshed_at: Mutex::new(HashMap::new()),
            sessions: std::sync::RwLock::new(HashMap::default()),
            db_labels: Mutex::new(HashSet::new()),
            max_db_labels: AtomicUsize::new(DEFAULT_MAX_DB_LABELS),
            routing_stale: Family::default(),
            member_bans: Family::default(),
            cert_expiry: Family::default(),
            ocsp_age: Family::default(),
            ocsp_produced: Mutex::new(HashMap::new()),
            reloads: Family::default(),
            uptime: FloatGauge::default(),
            pool: super::PoolFamilies::default(),
        }
    }

    /// The process itself: what runs, for how long, and whether it is ready.
    pub(super) fn register_process(&self, r: &mut Registry) {
        r.register(
            "build",
            "boltgate's version",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register_with_unit(
            "uptime",
            "Time since boltgate started",
            Unit::Seconds,
            self.uptime.clone(),
        );
        r.register(
            "ready",
            "1 when /ready answers 200 (serving, not draining, an upstream usable), else 0",
            self.ready.clone(),
        );
    }

    /// Client side: connections, TLS handshakes, negotiated Bolt versions.
    pub(super) fn register_client(&self, r: &mut Registry) {
        r.register(
            "client_connections_open",
            "Client connections open now",
            self.conn_open.clone(),
        );
        r.register(
            "client_connections_accepted",
            "Client connections accepted (within boltgate.client.max_connections)",
            self.conn_accepted.clone(),
        );
        r.register(
            "client_connections_refused",
            "Client connections closed before their session started, by reason",
            self.conn_refused.clone(),
        );
        r.register(
            "tls_handshakes",
            "Completed TLS handshakes by scope (bolt, https), version and cipher suite",
            self.tls_ok.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "Failed TLS handshakes by scope and reason",
            self.tls_failed.clone(),
        );
        r.register(
            "bolt_sessions",
            "Bolt sessions started, by negotiated protocol version",
            self.bolt_versions.clone(),
        );
    }

    /// Traffic through the relay.
    pub(super) fn register_traffic(&self, r: &mut Registry) {
        r.register(
            "bolt_messages",
            "Bolt messages relayed, by direction (client_to_upstream, upstream_to_client) and member",
            self.messages.clone(),
        );
        r.register_with_unit(
            "bolt_message",
            "Bolt message payload relayed (chunk headers excluded), by direction and member",
            Unit::Bytes,
            self.bytes.clone(),
        );
        r.register(
            "queries",
            "RUN messages, by upstream member and access mode (read, write)",
            self.queries.clone(),
        );
        r.register(
            "transactions",
            "BEGIN messages (explicit transactions), by upstream member and access mode",
            self.transactions.clone(),
        );
    }

    /// Upstream members: connects and reachability.
    pub(super) fn register_upstream(&self, r: &mut Registry) {
        r.register_with_unit(
            "upstream_connect",
            "Time to connect to an upstream member (TCP, TLS and Bolt handshake), successful connects",
            Unit::Seconds,
            self.connect_seconds.clone(),
        );
        r.register(
            "upstream_connect_failures",
            "Failed connects to an upstream member, by reason",
            self.connect_failures.clone(),
        );
        r.register(
            "upstream_up",
            "1 when the upstream member is reachable (last probe or connect succeeded), else 0",
            self.upstream_up.clone(),
        );
    }

    /// Routing tables and member bans (cluster mode).
    pub(super) fn register_routing(&self, r: &mut Registry) {
        r.register(
            "routing_table_refreshes",
            "Routing table refreshes by database and result (ok, failed)",
            self.routing_refreshes.clone(),
        );
        r.register_with_unit(
            "routing_table_age",
            "Time since the routing table of a database was last refreshed",
            Unit::Seconds,
            self.routing_age.clone(),
        );
        r.register(
            "routing_stale_table_uses",
            "Units of work placed with an expired routing table because no router answered, by database",
            self.routing_stale.clone(),
        );
        r.register(
            "routing_member_bans",
            "Cluster members left out of routing for boltgate.routing.ban_time after a failed connect or a loss, by member",
            self.member_bans.clone(),
        );
    }

    /// TLS material: certificate expiry, OCSP staples, reloads.
    pub(super) fn register_tls_material(&self, r: &mut Registry) {
        r.register_with_unit(
            "certificate_expiry_timestamp",
            "Unix time at which the leaf certificate of an SSL policy scope expires",
            Unit::Seconds,
            self.cert_expiry.clone(),
        );
        r.register_with_unit(
            "ocsp_staple_age",
            "Age of the stapled OCSP response (since its thisUpdate), by scope",
            Unit::Seconds,
            self.ocsp_age.clone(),
        );
        r.register(
            "reloads",
            "Certificate and configuration reloads, by result (ok, failed)",
            self.reloads.clone(),
        );
    }
}

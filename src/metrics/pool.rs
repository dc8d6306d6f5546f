//! Transaction pooling's metrics (`boltgate_pool_*`), one series per upstream member (label
//! `member`: the single upstream's address, or each cluster member's with routing). Each
//! member's pool records into its own handles ([`PoolMetrics`], cloned out of the families by
//! [`PoolFamilies::member`]), so the hot path is an atomic update, never a map lookup. The
//! label set is bounded by the topology: a member's series go when its pool does
//! ([`PoolFamilies::forget`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::L1;

/// Acquire wait buckets, seconds: 100 µs to 30 s (acquire_timeout is 5 s by default).
const WAIT_BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0,
];

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

/// What one member's pool records (see the README's "Metrics").
#[derive(Clone, Debug)]
pub struct PoolMetrics {
    /// Server connections the pool counts (idle, lent, being dialled or closed).
    pub size: Gauge,
    pub in_use: Gauge,
    pub idle: Gauge,
    /// Units of work waiting for a connection.
    pub waiting: Gauge,
    pub acquire_wait: Histogram,
    pub acquire_timeouts: Counter,
    /// Logins of new server connections (each an authentication against the server).
    pub logins: Counter,
    pub login_failures: Counter,
    /// Idle connections of one identity closed for another's (a re-authentication by
    /// reconnecting: identities are never switched on one connection).
    pub reauthentications: Counter,
}

/// Unregistered handles (a pool in a unit test).
impl Default for PoolMetrics {
    fn default() -> Self {
        PoolMetrics {
            size: Gauge::default(),
            in_use: Gauge::default(),
            idle: Gauge::default(),
            waiting: Gauge::default(),
            acquire_wait: wait_histogram(),
            acquire_timeouts: Counter::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            reauthentications: Counter::default(),
        }
    }
}

/// The registered families, one series per member.
#[derive(Clone, Debug)]
pub struct PoolFamilies {
    size: Family<L1, Gauge>,
    in_use: Family<L1, Gauge>,
    idle: Family<L1, Gauge>,
    waiting: Family<L1, Gauge>,
    acquire_wait: Family<L1, Histogram, fn() -> Histogram>,
    acquire_timeouts: Family<L1, Counter>,
    logins: Family<L1, Counter>,
    login_failures: Family<L1, Counter>,
    reauthentications: Family<L1, Counter>,
}

impl Default for PoolFamilies {
    fn default() -> Self {
        PoolFamilies {
            size: Family::default(),
            in_use: Family::default(),
            idle: Family::default(),
            waiting: Family::default(),
            acquire_wait: Family::new_with_constructor(wait_histogram),
            acquire_timeouts: Family::default(),
            logins: Family::default(),
            login_failures: Family::default(),
            reauthentications: Family::default(),
        }
    }
}

fn label(member: &str) -> L1 {
    [("member", member.to_string())]
}

impl PoolFamilies {
    /// The handles of `member`'s pool (its series appear now, at zero).
    pub fn member(&self, member: &str) -> PoolMetrics {
        let l = label(member);
        PoolMetrics {
            size: self.size.get_or_create(&l).clone(),
            in_use: self.in_use.get_or_create(&l).clone(),
            idle: self.idle.get_or_create(&l).clone(),
            waiting: self.waiting.get_or_create(&l).clone(),
            acquire_wait: self.acquire_wait.get_or_create(&l).clone(),
            acquire_timeouts: self.acquire_timeouts.get_or_create(&l).clone(),
            logins: self.logins.get_or_create(&l).clone(),
            login_failures: self.login_failures.get_or_create(&l).clone(),
            reauthentications: self.reauthentications.get_or_create(&l).clone(),
        }
    }

    /// `member`'s pool is gone (no connection, nobody waiting): its series go too.
    pub fn forget(&self, member: &str) {
        let l = label(member);
        self.size.remove(&l);
        self.in_use.remove(&l);
        self.idle.remove(&l);
        self.waiting.remove(&l);
        self.acquire_wait.remove(&l);
        self.acquire_timeouts.remove(&l);
        self.logins.remove(&l);
        self.login_failures.remove(&l);
        self.reauthentications.remove(&l);
    }

    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "pool_connections",
            "Server connections in the member's transaction pool (idle, in use, being opened or closed)",
            self.size.clone(),
        );
        r.register(
            "pool_connections_in_use",
            "Pooled server connections lent to a unit of work (or being opened for one)",
            self.in_use.clone(),
        );
        r.register(
            "pool_connections_idle",
            "Pooled server connections idle",
            self.idle.clone(),
        );
        r.register(
            "pool_waiting_clients",
            "Units of work waiting for a pooled connection to the member",
            self.waiting.clone(),
        );
        r.register_with_unit(
            "pool_acquire_wait",
            "Time a unit of work waited for a pooled connection (those that got one)",
            Unit::Seconds,
            self.acquire_wait.clone(),
        );
        r.register(
            "pool_acquire_timeouts",
            "Units of work that got no pooled connection within boltgate.pool.acquire_timeout",
            self.acquire_timeouts.clone(),
        );
        r.register(
            "pool_logins",
            "New pooled server connections logged in with a client's credentials",
            self.logins.clone(),
        );
        r.register(
            "pool_login_failures",
            "Logins the server refused (the connection is closed, never pooled)",
            self.login_failures.clone(),
        );
        r.register(
            "pool_reauthentications",
            "Idle pooled connections of one identity closed to open one for another",
            self.reauthentications.clone(),
        );
    }
}

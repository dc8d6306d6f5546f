//! Transaction pooling's metrics (`boltgate_pool_*`): the handles the pool records into
//! directly ([`PoolMetrics`], cloned out of the registry), and their registration.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Acquire wait buckets, seconds: 100 µs to 30 s (acquire_timeout is 5 s by default).
const WAIT_BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0,
];

/// What the pool records (see the README's "Metrics").
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

impl Default for PoolMetrics {
    fn default() -> Self {
        PoolMetrics {
            size: Gauge::default(),
            in_use: Gauge::default(),
            idle: Gauge::default(),
            waiting: Gauge::default(),
            acquire_wait: Histogram::new(WAIT_BUCKETS),
            acquire_timeouts: Counter::default(),
            logins: Counter::default(),
            login_failures: Counter::default(),
            reauthentications: Counter::default(),
        }
    }
}

impl PoolMetrics {
    pub(super) fn register(&self, r: &mut Registry) {
        r.register(
            "pool_connections",
            "Server connections in the transaction pool (idle, in use, being opened or closed)",
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
            "Units of work waiting for a pooled connection",
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

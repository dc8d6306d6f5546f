//! Transaction pooling (`boltgate.pool.mode=transaction`): server connections shared by every
//! client session, each lent to one unit of work at a time (an explicit transaction, or an
//! auto-commit query and its results).
//!
//! One [`Pool`] per upstream member ([`members`]: the single upstream, or each cluster member
//! with routing); `max_size` is per member.
//!
//! [`core`] decides (idle list, waiters, `max_size`, lifetimes) without I/O; this file holds it
//! under a lock and does the rest: waiting up to `acquire_timeout`, handing connections to
//! waiters through channels, closing what the core gives up, and the counters for the metrics.
//! What a connection is (a socket with its Bolt session state) is the caller's type `C`: this
//! module knows nothing of sessions or Bolt, so the session layer uses it and not the reverse.
//!
//! A connection lent out carries a [`Ticket`]: released with it ([`Ticket::release`]) it goes
//! back to the pool; dropped (the connection failed, its login failed, the client left
//! mid-unit) its place is freed for the next waiter. So a failed login never leaves a
//! connection in the pool, and a connection lost on the way is never counted twice.

pub mod core;
pub mod members;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::metrics::PoolMetrics;
use tokio::sync::oneshot;

use self::core::{Acquire, Core, Decisions, WaiterId};
pub use self::core::{Grant, Limits, Stats};
pub use self::members::Members;

/// How often idle connections are checked for `idle_timeout` and `max_lifetime`.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// A pooled connection closes itself gracefully: the pool frees its place once the returned
/// future is done, so the server has seen it go before another connection takes its place.
pub trait Closing: Send + 'static {
    fn close(self) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// Tests' connections close at once.
impl Closing for u32 {
    fn close(self) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(std::future::ready(()))
    }
}

/// Why a unit of work got no connection.
#[derive(Debug, Error)]
pub enum PoolError {
    #[error("boltgate's connection pool for {member} is exhausted: no server connection came free within {waited:?} (boltgate.pool.acquire_timeout); {in_use} of {max_size} in use (boltgate.pool.max_size, per member), {waiting} other transactions waiting")]
    Exhausted {
        member: String,
        waited: Duration,
        in_use: usize,
        max_size: usize,
        waiting: usize,
    },
}

impl PoolError {
    /// The error without the server's address, for a client that has not logged in yet.
    pub fn anonymous(&self) -> String {
        match self {
            PoolError::Exhausted {
                waited,
                in_use,
                max_size,
                ..
            } => format!(
                "boltgate's connection pool is exhausted: no server connection came free within \
                 {waited:?} (boltgate.pool.acquire_timeout); {in_use} of {max_size} in use \
                 (boltgate.pool.max_size)"
            ),
        }
    }
}

struct Inner<K, C> {
    core: Core<K, C>,
    waiters: HashMap<WaiterId, (K, oneshot::Sender<Grant<C>>)>,
}

/// A pool of server connections of type `C`, keyed by `K` (what may not be mixed on one).
pub struct Pool<K, C> {
    /// The member's address, for errors.
    member: String,
    inner: Mutex<Inner<K, C>>,
    limits: Limits,
    acquire_timeout: Duration,
    pub metrics: PoolMetrics,
}

/// What a unit of work got: an idle connection, or the right to dial one; with its ticket.
pub struct Lent<K: Eq + Clone + Send + 'static, C: Closing> {
    pub grant: Grant<C>,
    pub ticket: Ticket<K, C>,
    /// How long the unit waited for it.
    pub waited: Duration,
}

/// A place in the pool, held by the connection lent out (see the module docs).
pub struct Ticket<K: Eq + Clone + Send + 'static, C: Closing> {
    pool: Arc<Pool<K, C>>,
    key: K,
    born: Instant,
    done: bool,
}

impl<K: Eq + Clone + Send + 'static, C: Closing> Ticket<K, C> {
    /// Gives the connection back: `reusable` when healthy and at a state the next unit can
    /// start from (else it is closed and its place freed).
    pub fn release(mut self, conn: C, reusable: bool) {
        self.done = true;
        let now = Instant::now();
        let d =
            self.lock_pool(|core| core.release(self.key.clone(), conn, self.born, reusable, now));
        self.pool.deliver(d);
    }

    /// When the connection was opened (for `max_lifetime`).
    pub fn born(&self) -> Instant {
        self.born
    }

    fn lock_pool<T>(&self, f: impl FnOnce(&mut Core<K, C>) -> T) -> T {
        f(&mut self.pool.lock().core)
    }
}

impl<K: Eq + Clone + Send + 'static, C: Closing> Drop for Ticket<K, C> {
    fn drop(&mut self) {
        if !self.done {
            let d = self.pool.lock().core.closed(Instant::now());
            self.pool.deliver(d);
        }
    }
}

impl<K: Eq + Clone + Send + 'static, C: Closing> Pool<K, C> {
    pub fn new(
        member: &str,
        limits: Limits,
        acquire_timeout: Duration,
        metrics: PoolMetrics,
    ) -> Arc<Pool<K, C>> {
        let pool = Arc::new(Pool {
            member: member.to_string(),
            inner: Mutex::new(Inner {
                core: Core::new(limits),
                waiters: HashMap::new(),
            }),
            limits,
            acquire_timeout,
            metrics,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(reaper(Arc::downgrade(&pool)));
        }
        pool
    }

    /// The gauges, from the core's counts.
    fn show(&self) {
        self.show_stats(self.stats());
    }

    fn show_stats(&self, stats: Stats) {
        self.metrics.size.set(stats.open as i64);
        self.metrics.idle.set(stats.idle as i64);
        self.metrics.in_use.set(stats.in_use() as i64);
        self.metrics.waiting.set(stats.waiting as i64);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, C>> {
        // A panic while holding the lock cannot leave the core half-updated in a way that
        // matters more than stopping every session would: carry on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stats(&self) -> Stats {
        self.lock().core.stats()
    }

    pub fn max_size(&self) -> usize {
        self.limits.max_size
    }

    /// A connection (or the right to dial one) for a unit of work of `key`, waiting up to
    /// `acquire_timeout` for one.
    pub async fn acquire(self: &Arc<Self>, key: &K) -> Result<Lent<K, C>, PoolError> {
        let started = Instant::now();
        let mut close = Vec::new();
        let (waiting, stats) = {
            let mut inner = self.lock();
            let waiting = match inner.core.acquire(key, started, &mut close) {
                Acquire::Now(grant) => Ok(grant),
                Acquire::Wait(id) => {
                    let (tx, rx) = oneshot::channel();
                    inner.waiters.insert(id, (key.clone(), tx));
                    Err((id, rx))
                }
            };
            (waiting, inner.core.stats())
        };
        drop(close);
        // Counted under the lock already taken: no second lock per unit of work.
        self.show_stats(stats);
        let waited_for_it = waiting.is_err();
        let grant = match waiting {
            Ok(grant) => grant,
            Err((id, mut rx)) => match tokio::time::timeout(self.acquire_timeout, &mut rx).await {
                Ok(Ok(grant)) => grant,
                _ => {
                    let mut inner = self.lock();
                    inner.waiters.remove(&id);
                    if inner.core.cancel(id) {
                        let stats = inner.core.stats();
                        drop(inner);
                        self.metrics.acquire_timeouts.inc();
                        return Err(PoolError::Exhausted {
                            member: self.member.clone(),
                            waited: started.elapsed(),
                            in_use: stats.in_use(),
                            max_size: self.limits.max_size,
                            waiting: stats.waiting,
                        });
                    }
                    drop(inner);
                    // Granted just as the time ran out (sent under the lock, so it is there).
                    match rx.try_recv() {
                        Ok(grant) => grant,
                        Err(_) => {
                            return Err(PoolError::Exhausted {
                                member: self.member.clone(),
                                waited: started.elapsed(),
                                in_use: self.limits.max_size,
                                max_size: self.limits.max_size,
                                waiting: 0,
                            })
                        }
                    }
                }
            },
        };
        if waited_for_it {
            self.show();
        }
        let waited = started.elapsed();
        self.metrics.acquire_wait.observe(waited.as_secs_f64());
        let born = match &grant {
            Grant::Ready { born, .. } => *born,
            Grant::Dial { evicted } => {
                if evicted.is_some() {
                    self.metrics.reauthentications.inc();
                }
                Instant::now()
            }
        };
        Ok(Lent {
            grant,
            ticket: Ticket {
                pool: self.clone(),
                key: key.clone(),
                born,
                done: false,
            },
            waited,
        })
    }

    /// Hands grants to their waiters (a waiter that went away gives its grant back) and closes
    /// what the core gave up, outside the lock.
    fn deliver(self: &Arc<Self>, mut d: Decisions<C>) {
        let mut close = Vec::new();
        loop {
            close.append(&mut d.close);
            if d.grants.is_empty() {
                break;
            }
            let mut inner = self.lock();
            let mut back = Decisions::default();
            for (id, grant) in d.grants.drain(..) {
                let Some((key, tx)) = inner.waiters.remove(&id) else {
                    // Cancelled between the decision and now: not possible under one lock,
                    // but a grant is never lost.
                    give_back(&mut inner.core, None, grant, &mut back);
                    continue;
                };
                if let Err(grant) = tx.send(grant) {
                    give_back(&mut inner.core, Some(key), grant, &mut back);
                }
            }
            d = back;
        }
        self.show();
        for conn in close {
            let pool = self.clone();
            let closing = async move {
                conn.close().await;
                let d = pool.lock().core.closed(Instant::now());
                pool.deliver(d);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(closing)),
                // No runtime (a test's plain thread): nothing async to wait for.
                Err(_) => futures_util::FutureExt::now_or_never(closing).map_or((), drop),
            }
        }
    }

    /// Closes every idle connection (a draining boltgate: no new unit will need them), and
    /// returns once each is closed.
    pub async fn close_idle(self: &Arc<Self>) {
        let idle = self.lock().core.take_idle();
        let closing = idle.into_iter().map(|c| c.close());
        let closed = futures_util::future::join_all(closing).await;
        for () in closed {
            let d = self.lock().core.closed(Instant::now());
            self.deliver(d);
        }
    }
}

/// A grant whose waiter is gone goes back into the pool.
fn give_back<K: Eq + Clone, C>(
    core: &mut Core<K, C>,
    key: Option<K>,
    grant: Grant<C>,
    out: &mut Decisions<C>,
) {
    let now = Instant::now();
    let mut more = match (grant, key) {
        (Grant::Ready { conn, born, .. }, Some(key)) => core.release(key, conn, born, true, now),
        (Grant::Ready { conn, .. }, None) => {
            out.close.push(conn);
            Decisions::default()
        }
        // The evicted connection's close frees the place; without one, it is free now.
        (
            Grant::Dial {
                evicted: Some(conn),
            },
            _,
        ) => {
            out.close.push(conn);
            Decisions::default()
        }
        (Grant::Dial { evicted: None }, _) => core.closed(now),
    };
    out.grants.append(&mut more.grants);
    out.close.append(&mut more.close);
}

async fn reaper<K: Eq + Clone + Send + 'static, C: Closing>(pool: Weak<Pool<K, C>>) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let d = pool.lock().core.reap(Instant::now());
        pool.deliver(d);
    }
}

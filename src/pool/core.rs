//! The pool's decisions, without I/O: which idle connection a unit of work gets, when a new one
//! may be dialled, who waits and in what order, and which connections are closed (too old, idle
//! too long, or evicted for another identity). The I/O half ([`super::Pool`]) holds this under a
//! lock, dials, hands connections over and closes them; this half is unit-tested with plain
//! numbers for connections and explicit instants for the clock.
//!
//! Accounting: `open` counts every connection the pool answers for (idle, lent out, being
//! dialled, or being closed), and never exceeds `max_size`. A connection the core gives up
//! (in `close`) keeps its place until the caller reports it closed ([`Core::closed`]): the
//! server must have seen it go before another takes its place, or it would briefly see more
//! than `max_size`. An evicted connection's place goes straight to the unit that evicted it,
//! which closes it before dialling. A connection is keyed by what may not be mixed on it
//! (the principal and the HELLO-level state, [`super::Key`]); a unit of work only ever gets a
//! connection of its own key. When the pool is full and the connection a unit needs is not
//! there, an idle connection of another key is closed to make room for a new one (an eviction):
//! identities are never switched on a connection, so a failed login can never leave one behind.
//!
//! Fairness: waiters are served first come, first served, except that a connection released
//! with a key some later waiter needs goes to that waiter rather than being closed to dial one
//! for the first (a reconnect saved; the first still gets the next free place).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The limits a pool enforces (`boltgate.pool.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_size: usize,
    pub min_idle: usize,
    pub idle_timeout: Option<Duration>,
    pub max_lifetime: Option<Duration>,
}

/// A waiter's number, to hand it what it waited for or to take it out of the queue.
pub type WaiterId = u64;

/// What a unit of work gets from [`Core::acquire`], or a waiter later ([`Grant`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Grant<C> {
    /// An idle connection of its key, opened at `born`, idle for `idle_for`.
    Ready {
        conn: C,
        born: Instant,
        idle_for: Duration,
    },
    /// A place in the pool: dial a new connection (and log it in). `evicted`: an idle
    /// connection of another key that had to go to make the room, for the caller to close.
    Dial { evicted: Option<C> },
}

#[derive(Debug, PartialEq, Eq)]
pub enum Acquire<C> {
    Now(Grant<C>),
    /// No room: wait for [`Core::release`] or [`Core::closed`] to grant this waiter something.
    Wait(WaiterId),
}

/// What a release or a close decided: connections given to waiters, connections to close.
#[derive(Debug, PartialEq, Eq)]
pub struct Decisions<C> {
    pub grants: Vec<(WaiterId, Grant<C>)>,
    pub close: Vec<C>,
}

impl<C> Default for Decisions<C> {
    fn default() -> Self {
        Decisions {
            grants: Vec::new(),
            close: Vec::new(),
        }
    }
}

struct Idle<K, C> {
    key: K,
    conn: C,
    born: Instant,
    since: Instant,
}

/// Counts for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Connections open or being dialled.
    pub open: usize,
    pub idle: usize,
    pub waiting: usize,
}

impl Stats {
    /// Lent out to a unit of work (or being dialled for one).
    pub fn in_use(&self) -> usize {
        self.open - self.idle
    }
}

pub struct Core<K, C> {
    limits: Limits,
    open: usize,
    /// Oldest release first: the most recently used connection of a key is taken (warm), the
    /// oldest one is evicted or reaped.
    idle: Vec<Idle<K, C>>,
    waiters: VecDeque<(WaiterId, K)>,
    next_waiter: WaiterId,
}

impl<K: Eq + Clone, C> Core<K, C> {
    pub fn new(limits: Limits) -> Core<K, C> {
        Core {
            limits,
            open: 0,
            idle: Vec::new(),
            waiters: VecDeque::new(),
            next_waiter: 0,
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            open: self.open,
            idle: self.idle.len(),
            waiting: self.waiters.len(),
        }
    }

    /// A connection for a unit of work of `key`. Idle connections past their lifetime are
    /// closed on the way (returned in `close`).
    pub fn acquire(&mut self, key: &K, now: Instant, close: &mut Vec<C>) -> Acquire<C> {
        if self.waiters.is_empty() {
            close.extend(self.expire(now));
            if let Some(grant) = self.grant_for(key, now) {
                return Acquire::Now(grant);
            }
        }
        let id = self.next_waiter;
        self.next_waiter += 1;
        self.waiters.push_back((id, key.clone()));
        Acquire::Wait(id)
    }

    /// The first of: an idle connection of `key`; room to dial; an idle connection of another
    /// key evicted to make room.
    fn grant_for(&mut self, key: &K, now: Instant) -> Option<Grant<C>> {
        if let Some(i) = self.idle.iter().rposition(|c| c.key == *key) {
            let c = self.idle.remove(i);
            return Some(Grant::Ready {
                conn: c.conn,
                born: c.born,
                idle_for: now.saturating_duration_since(c.since),
            });
        }
        if self.open < self.limits.max_size {
            self.open += 1;
            return Some(Grant::Dial { evicted: None });
        }
        if !self.idle.is_empty() {
            let oldest = self.idle.remove(0);
            return Some(Grant::Dial {
                evicted: Some(oldest.conn),
            });
        }
        None
    }

    /// A waiter gave up (its acquire timeout). False when it was not waiting any more: it was
    /// granted something meanwhile, which the caller must take back ([`Core::release`] or
    /// [`Core::closed`]).
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|(w, _)| *w != id);
        self.waiters.len() != before
    }

    /// A lent connection comes back. `reusable`: it is healthy and in a state the next unit
    /// may start from (after a RESET the caller owes it when it is not).
    pub fn release(
        &mut self,
        key: K,
        conn: C,
        born: Instant,
        reusable: bool,
        now: Instant,
    ) -> Decisions<C> {
        let mut out = Decisions::default();
        let too_old = self
            .limits
            .max_lifetime
            .is_some_and(|l| now.saturating_duration_since(born) >= l);
        if !reusable || too_old {
            // Its place is freed once the caller has closed it (`closed`).
            out.close.push(conn);
            return out;
        }
        // A waiter for this key gets it as it is.
        if let Some(i) = self.waiters.iter().position(|(_, k)| *k == key) {
            let (id, _) = self.waiters.remove(i).expect("position is in range");
            out.grants.push((
                id,
                Grant::Ready {
                    conn,
                    born,
                    idle_for: Duration::ZERO,
                },
            ));
            return out;
        }
        self.idle.push(Idle {
            key,
            conn,
            born,
            since: now,
        });
        self.serve(now, &mut out);
        out
    }

    /// A connection the pool counted is gone: it failed, its dial or login failed, or the
    /// caller closed one the core gave up. Its place goes to the first waiter.
    pub fn closed(&mut self, now: Instant) -> Decisions<C> {
        self.open = self.open.saturating_sub(1);
        let mut out = Decisions::default();
        self.serve(now, &mut out);
        out
    }

    /// Grants to waiters, first come first served, while there is something to grant.
    fn serve(&mut self, now: Instant, out: &mut Decisions<C>) {
        while let Some((_, key)) = self.waiters.front() {
            let key = key.clone();
            let Some(grant) = self.grant_for(&key, now) else {
                break;
            };
            let (id, _) = self.waiters.pop_front().expect("front exists");
            out.grants.push((id, grant));
        }
    }

    /// The periodic check: idle connections to close ([`Core::expire`]); their places are
    /// freed as each is reported closed.
    pub fn reap(&mut self, now: Instant) -> Decisions<C> {
        Decisions {
            grants: Vec::new(),
            close: self.expire(now),
        }
    }

    /// Idle connections past `max_lifetime`, or idle longer than `idle_timeout` beyond the
    /// `min_idle` most recently used: taken out of the pool for the caller to close (each
    /// keeps its place until [`Core::closed`]).
    fn expire(&mut self, now: Instant) -> Vec<C> {
        let limits = self.limits;
        let count = self.idle.len();
        let mut gone = Vec::new();
        let mut kept = Vec::with_capacity(count);
        for (i, c) in std::mem::take(&mut self.idle).into_iter().enumerate() {
            let old = limits
                .max_lifetime
                .is_some_and(|l| now.saturating_duration_since(c.born) >= l);
            // Oldest first: the last `min_idle` entries are the ones kept regardless.
            let spare = i + limits.min_idle < count;
            let stale = spare
                && limits
                    .idle_timeout
                    .is_some_and(|t| now.saturating_duration_since(c.since) >= t);
            if old || stale {
                gone.push(c.conn);
            } else {
                kept.push(c);
            }
        }
        self.idle = kept;
        gone
    }

    /// Every idle connection, for a pool that stops (a draining boltgate).
    pub fn take_idle(&mut self) -> Vec<C> {
        self.idle.drain(..).map(|c| c.conn).collect()
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

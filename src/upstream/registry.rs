//! The routing tables, one per database, shared by every session.
//!
//! - A static topology (`boltgate.routing.members`) is one table for every database that never
//!   expires; bans take the place of forgetting members.
//! - A `neo4j*` upstream URI: tables are fetched from the routers with ROUTE (the routing context
//!   from the URI's query string), per database, through a [`Fetch`] the asking session provides
//!   (it replays its own HELLO/LOGON, so boltgate holds no credentials of its own).
//!   - One refresh at a time per database (a per-entry async mutex: the others wait for its
//!     result rather than sending their own ROUTE).
//!   - Refreshed in the background once 80% of the TTL has passed, so the request path rarely
//!     waits.
//!   - If every router fails, a stale table that still has a member for the mode is used, with
//!     a warning (stale-table fallback); otherwise the error goes to the client.
//!   - The drivers' rules for dropping a member apply (see [`RoutingTable::forget`]).
//!   - Bounded, since any logged-in client can name any database: a name longer than Neo4j's
//!     own limit ([`MAX_DB_NAME`]) is refused without a lookup, a lookup that fails leaves no
//!     entry behind, and beyond `boltgate.routing.max_databases` tables the least recently used
//!     one is dropped (it is fetched again when next asked for).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use boltgate_proto::message::{AccessMode, RoutingTable as RouteAnswer};
use dashmap::DashMap;

use super::balance::Balancer;
use super::routing_table::RoutingTable;
use crate::config::members::Member;
use crate::metrics::Metrics;

/// Asks one router for a database's table: `(router address, db, bookmarks)`.
pub trait Fetch: Send + Sync {
    fn fetch<'a>(
        &'a self,
        router: &'a str,
        db: Option<&'a str>,
        bookmarks: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<RouteAnswer, String>> + Send + 'a>>;
}

/// The `db` label and log field of a table: the database as clients name it, `<home>` for the
/// home database (asked for without a name).
fn db_label(key: &str) -> &str {
    if key.is_empty() {
        "<home>"
    } else {
        key
    }
}

/// Neo4j's longest database name is 63 characters; a composite database's constituent is named
/// `composite.alias`, so two of those and the dot. Anything longer names no database.
pub const MAX_DB_NAME: usize = 2 * 63 + 1;

/// Neo4j's code for a database that does not exist (not transient: drivers do not retry it).
pub use crate::status::DATABASE_NOT_FOUND;

/// Why no table could be had.
#[derive(Debug, Clone, thiserror::Error)]
#[error("no routing table for database `{db}`: {problem}")]
pub struct RoutingError {
    pub db: String,
    pub problem: String,
    /// The database cannot exist (its name is too long): no lookup was made.
    pub not_found: bool,
}

impl RoutingError {
    /// The Neo4j status code a client gets for it.
    pub fn code(&self) -> &'static str {
        if self.not_found {
            DATABASE_NOT_FOUND
        } else {
            crate::status::DATABASE_UNAVAILABLE
        }
    }
}

#[derive(Debug)]
enum Source {
    Static(Arc<RoutingTable>),
    Routers { initial: Vec<String> },
}

#[derive(Debug, Default)]
struct Entry {
    /// Shared with the sessions placing work by it: a unit of work takes a pointer, not a copy.
    table: RwLock<Option<Arc<RoutingTable>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
    /// When it was last asked for (a tick of [`Registry::clock`]), for least-recently-used
    /// eviction.
    used: AtomicU64,
}

#[derive(Debug)]
pub struct Registry {
    source: Source,
    tables: DashMap<String, Arc<Entry>>,
    pub balancer: Balancer,
    metrics: Option<Metrics>,
    /// `boltgate.routing.max_databases`.
    max_tables: usize,
    clock: AtomicU64,
}

/// `boltgate.routing.max_databases`'s default.
pub const DEFAULT_MAX_TABLES: usize = 1000;

impl Registry {
    pub fn with_members(members: &[Member], ban_time: Duration) -> Registry {
        Registry {
            source: Source::Static(Arc::new(RoutingTable::from_members(
                members,
                Instant::now(),
            ))),
            tables: DashMap::new(),
            balancer: Balancer::new(ban_time),
            metrics: None,
            max_tables: DEFAULT_MAX_TABLES,
            clock: AtomicU64::new(0),
        }
    }

    /// `initial`: the router(s) of the upstream URI, `host:port`.
    pub fn with_routers(initial: Vec<String>, ban_time: Duration) -> Registry {
        Registry {
            source: Source::Routers { initial },
            tables: DashMap::new(),
            balancer: Balancer::new(ban_time),
            metrics: None,
            max_tables: DEFAULT_MAX_TABLES,
            clock: AtomicU64::new(0),
        }
    }

    /// Keeps at most `n` tables (`boltgate.routing.max_databases`), dropping the least recently
    /// used beyond it.
    pub fn with_max_tables(mut self, n: usize) -> Registry {
        self.max_tables = n.max(1);
        self
    }

    /// How many tables are kept now.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// Records refreshes, table ages, stale-table use and bans into `metrics`; a static
    /// topology's members are tracked for health probes and `/ready` from the start.
    pub fn with_metrics(mut self, metrics: Metrics) -> Registry {
        if let Source::Static(t) = &self.source {
            for m in t.writers.iter().chain(&t.readers) {
                metrics.upstream_member(m);
            }
        }
        self.metrics = Some(metrics);
        self
    }

    /// A refresh of `key`'s table ended. The members it names are not tracked for health here:
    /// a member tracked mid-run stays "unknown" until the next probe, and `/ready` reads an
    /// unknown member as "the first probe has not finished"; the sessions' connects report them.
    fn refreshed(&self, key: &str, result: Result<&RoutingTable, &str>) {
        if let Some(m) = &self.metrics {
            m.routing_refreshed(db_label(key), result.is_ok());
        }
    }

    pub fn is_static(&self) -> bool {
        matches!(self.source, Source::Static(_))
    }

    /// The address the session dials first, to negotiate the Bolt version: the initial router,
    /// or for a static topology the first writer (then any member) that is not banned.
    pub fn bootstrap_candidates(&self) -> Vec<String> {
        match &self.source {
            Source::Routers { initial } => initial.clone(),
            Source::Static(t) => {
                let now = Instant::now();
                let mut all: Vec<String> = t.writers.iter().chain(&t.readers).cloned().collect();
                all.dedup();
                // Members not banned first; banned ones still last, in case all are.
                all.sort_by_key(|a| self.balancer.is_banned(a, now));
                all
            }
        }
    }

    fn entry(&self, db: &str) -> Arc<Entry> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(e) = self.tables.get(db) {
            e.used.store(tick, Ordering::Relaxed);
            return e.clone();
        }
        while self.tables.len() >= self.max_tables {
            let oldest = self
                .tables
                .iter()
                .min_by_key(|e| e.used.load(Ordering::Relaxed))
                .map(|e| e.key().clone());
            let Some(oldest) = oldest else { break };
            self.tables.remove(&oldest);
            if let Some(m) = &self.metrics {
                m.routing_forgotten(db_label(&oldest));
            }
            tracing::debug!(
                db = db_label(&oldest),
                "routing table dropped: boltgate.routing.max_databases reached"
            );
        }
        let e = self.tables.entry(db.to_string()).or_default().clone();
        e.used.store(tick, Ordering::Relaxed);
        e
    }

    /// Drops `entry` unless it holds a table: a failed lookup is not kept.
    fn forget_if_empty(&self, key: &str, entry: &Arc<Entry>) {
        self.tables.remove_if(key, |_, e| {
            Arc::ptr_eq(e, entry) && e.table.read().expect("table lock").is_none()
        });
    }

    /// The table for `db` (None = home database) usable for `mode`, refreshing it first when
    /// it is stale.
    pub async fn table(
        self: &Arc<Self>,
        db: Option<&str>,
        mode: AccessMode,
        bookmarks: &[String],
        fetch: impl FnOnce() -> Arc<dyn Fetch>,
    ) -> Result<Arc<RoutingTable>, RoutingError> {
        let Source::Routers { initial } = &self.source else {
            let Source::Static(t) = &self.source else {
                unreachable!()
            };
            return Ok(t.clone());
        };
        let key = db.unwrap_or("").to_string();
        if key.len() > MAX_DB_NAME {
            return Err(RoutingError {
                db: format!(
                    "{}...",
                    &key[..(0..=32)
                        .rev()
                        .find(|&i| key.is_char_boundary(i))
                        .unwrap_or(0)]
                ),
                problem: format!(
                    "the name is {} bytes long; Neo4j database names have at most 63 characters",
                    key.len()
                ),
                not_found: true,
            });
        }
        let entry = self.entry(&key);
        let now = Instant::now();
        if let Some(t) = entry.table.read().expect("table lock").clone() {
            if !t.is_stale_for(mode, now) {
                if t.wants_early_refresh(now) {
                    self.refresh_in_background(key, entry.clone(), fetch());
                }
                return Ok(t);
            }
        }
        let _single = entry.refresh.lock().await;
        // Someone else may have refreshed it while this one waited.
        let current = entry.table.read().expect("table lock").clone();
        if let Some(t) = &current {
            if !t.is_stale_for(mode, Instant::now()) {
                return Ok(t.clone());
            }
        }
        let fetch = fetch();
        match self
            .fetch_from_routers(current.as_deref(), initial, db, bookmarks, fetch.as_ref())
            .await
        {
            Ok(t) => {
                self.refreshed(&key, Ok(&t));
                let t = Arc::new(t);
                *entry.table.write().expect("table lock") = Some(t.clone());
                Ok(t)
            }
            Err(problem) => match current {
                Some(stale) if !stale.members_for(mode).is_empty() => {
                    self.refreshed(&key, Err(&problem));
                    if let Some(m) = &self.metrics {
                        m.routing_stale_table_used(db_label(&key));
                    }
                    tracing::warn!(
                        db = db_label(&key),
                        %problem,
                        "routing table refresh failed; using the stale table"
                    );
                    Ok(stale)
                }
                _ => {
                    self.refreshed(&key, Err(&problem));
                    self.forget_if_empty(&key, &entry);
                    Err(RoutingError {
                        db: db_label(&key).to_string(),
                        problem,
                        not_found: false,
                    })
                }
            },
        }
    }

    fn refresh_in_background(
        self: &Arc<Self>,
        key: String,
        entry: Arc<Entry>,
        fetch: Arc<dyn Fetch>,
    ) {
        let Ok(guard) = entry.refresh.clone().try_lock_owned() else {
            return; // A refresh is already running.
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let Source::Routers { initial } = &this.source else {
                return;
            };
            let current = entry.table.read().expect("table lock").clone();
            let db = (!key.is_empty()).then_some(key.as_str());
            match this
                .fetch_from_routers(current.as_deref(), initial, db, &[], fetch.as_ref())
                .await
            {
                Ok(t) => {
                    tracing::debug!(
                        db = db_label(&key),
                        "routing table refreshed in the background before its TTL ran out"
                    );
                    this.refreshed(&key, Ok(&t));
                    *entry.table.write().expect("table lock") = Some(Arc::new(t));
                }
                Err(problem) => {
                    this.refreshed(&key, Err(&problem));
                    tracing::warn!(db = db_label(&key), %problem, "background routing table refresh failed")
                }
            }
        });
    }

    async fn fetch_from_routers(
        &self,
        current: Option<&RoutingTable>,
        initial: &[String],
        db: Option<&str>,
        bookmarks: &[String],
        fetch: &dyn Fetch,
    ) -> Result<RoutingTable, String> {
        let now = Instant::now();
        let mut routers: Vec<String> = current.map(|t| t.routers.clone()).unwrap_or_default();
        for r in initial {
            if !routers.contains(r) {
                routers.push(r.clone());
            }
        }
        // Banned routers last, not skipped: a ban is a hint, the table is a necessity.
        routers.sort_by_key(|a| self.balancer.is_banned(a, now));
        let mut problems = Vec::new();
        for router in &routers {
            match fetch.fetch(router, db, bookmarks).await {
                Ok(answer) => match RoutingTable::from_answer(&answer, Instant::now()) {
                    Ok(t) => {
                        tracing::debug!(
                            router,
                            db = db.unwrap_or("<home>"),
                            writers = ?t.writers,
                            readers = ?t.readers,
                            "routing table fetched"
                        );
                        return Ok(t);
                    }
                    Err(e) => problems.push(format!("{router}: {e}")),
                },
                Err(e) => problems.push(format!("{router}: {e}")),
            }
        }
        Err(problems.join("; "))
    }

    /// A member failed (refused, closed, DatabaseUnavailable): banned, and forgotten in every
    /// table.
    pub fn on_member_failure(&self, address: &str) {
        if self.balancer.ban(address) {
            if let Some(m) = &self.metrics {
                m.routing_member_banned(address);
            }
        }
        for e in self.tables.iter() {
            if let Some(t) = e.table.write().expect("table lock").as_mut() {
                // Sessions holding the old table keep it; the next ones get this one.
                Arc::make_mut(t).forget(address);
            }
        }
    }

    /// A member refused a write (NotALeader, ForbiddenOnReadOnlyDatabase): forgotten as a
    /// writer of `db`, so the next write work refreshes that table.
    pub fn on_write_refused(&self, db: Option<&str>, address: &str) {
        if let Some(e) = self.tables.get(db.unwrap_or("")) {
            if let Some(t) = e.table.write().expect("table lock").as_mut() {
                Arc::make_mut(t).forget_writer(address);
            }
        }
    }
}

//! One database's routing table as boltgate keeps it: routers, readers and writers, when it was
//! fetched and for how long it holds, and the drivers' rules for forgetting a member
//! (bolt-reference §6.3).

use std::time::{Duration, Instant};

use boltgate_proto::message::{AccessMode, RoutingTable as RouteAnswer};

use crate::config::members::{normalise_address, Member, Role};

/// A table is refreshed in the background once this fraction of its TTL has passed, so a busy
/// database never waits for a refresh on the request path.
const EARLY_REFRESH_FRACTION: f64 = 0.8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingTable {
    /// The database the cluster said the table is for (4.4+), when it said.
    pub db: Option<String>,
    pub routers: Vec<String>,
    pub readers: Vec<String>,
    pub writers: Vec<String>,
    /// None for a static topology: it never expires.
    pub ttl: Option<Duration>,
    pub fetched_at: Instant,
}

/// Why a ROUTE answer was not accepted as a table (the drivers' rules: try the next router).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("the routing table lists no routers")]
    NoRouters,
    #[error("the routing table lists no readers")]
    NoReaders,
    #[error("the routing table has an unusable address `{0}`")]
    BadAddress(String),
}

impl RoutingTable {
    /// From a ROUTE answer. Addresses are normalised (`host:port`, port 7687 by default) so the
    /// same member always has the same key.
    pub fn from_answer(rt: &RouteAnswer, now: Instant) -> Result<RoutingTable, TableError> {
        let mut table = RoutingTable {
            db: rt.db.clone(),
            routers: Vec::new(),
            readers: Vec::new(),
            writers: Vec::new(),
            // A TTL under a second is raised to one, as Neo4j's minimum for dbms.routing_ttl.
            ttl: Some(Duration::from_secs(rt.ttl.max(1) as u64)),
            fetched_at: now,
        };
        for servers in &rt.servers {
            let list = match servers.role.as_str() {
                "ROUTE" => &mut table.routers,
                "READ" => &mut table.readers,
                "WRITE" => &mut table.writers,
                // An unknown role is ignored, as the drivers do.
                _ => continue,
            };
            for a in &servers.addresses {
                let a = normalise_address(a).map_err(|_| TableError::BadAddress(a.clone()))?;
                if !list.contains(&a) {
                    list.push(a);
                }
            }
        }
        if table.routers.is_empty() {
            return Err(TableError::NoRouters);
        }
        if table.readers.is_empty() {
            return Err(TableError::NoReaders);
        }
        Ok(table)
    }

    /// A static topology: never expires; every member is also a "router" only in name.
    pub fn from_members(members: &[Member], now: Instant) -> RoutingTable {
        let pick = |role| {
            members
                .iter()
                .filter(|m| m.role == role)
                .map(|m| m.address.clone())
                .collect::<Vec<_>>()
        };
        RoutingTable {
            db: None,
            routers: Vec::new(),
            readers: pick(Role::Reader),
            writers: pick(Role::Writer),
            ttl: None,
            fetched_at: now,
        }
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        match self.ttl {
            None => false,
            Some(ttl) => now >= self.fetched_at + ttl,
        }
    }

    /// Stale for work of `mode`, as the drivers judge it: expired, no routers left, or no
    /// member for the mode (no writer for write work; no reader for read work).
    pub fn is_stale_for(&self, mode: AccessMode, now: Instant) -> bool {
        if self.ttl.is_none() {
            return false;
        }
        self.is_expired(now)
            || self.routers.is_empty()
            || match mode {
                AccessMode::Read => self.readers.is_empty(),
                AccessMode::Write => self.writers.is_empty(),
            }
    }

    /// Past [`EARLY_REFRESH_FRACTION`] of its TTL: refresh in the background.
    pub fn wants_early_refresh(&self, now: Instant) -> bool {
        match self.ttl {
            None => false,
            Some(ttl) => now >= self.fetched_at + ttl.mul_f64(EARLY_REFRESH_FRACTION),
        }
    }

    /// The members that serve `mode`.
    pub fn members_for(&self, mode: AccessMode) -> &[String] {
        match mode {
            AccessMode::Read => &self.readers,
            AccessMode::Write => &self.writers,
        }
    }

    /// A member failed (connection refused or lost, DatabaseUnavailable): forget it in every
    /// role (drivers' `deactivate`). A static topology keeps its members: bans cover it there.
    pub fn forget(&mut self, address: &str) {
        if self.ttl.is_none() {
            return;
        }
        self.routers.retain(|a| a != address);
        self.readers.retain(|a| a != address);
        self.writers.retain(|a| a != address);
    }

    /// A member refused a write (NotALeader, ForbiddenOnReadOnlyDatabase): forget it as a
    /// writer of this database only (drivers' `on_write_failure`).
    pub fn forget_writer(&mut self, address: &str) {
        if self.ttl.is_none() {
            return;
        }
        self.writers.retain(|a| a != address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::message::RoutingServers;

    fn answer(ttl: i64, servers: &[(&str, &[&str])]) -> RouteAnswer {
        RouteAnswer {
            ttl,
            db: Some("movies".into()),
            servers: servers
                .iter()
                .map(|(role, a)| RoutingServers {
                    role: role.to_string(),
                    addresses: a.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn parses_roles_and_normalises_addresses() {
        let now = Instant::now();
        let t = RoutingTable::from_answer(
            &answer(
                300,
                &[
                    ("WRITE", &["a:1"]),
                    ("READ", &["b:2", "c"]),
                    ("ROUTE", &["a:1", "b:2", "c:7687"]),
                    ("OTHER", &["z:1"]),
                ],
            ),
            now,
        )
        .unwrap();
        assert_eq!(t.writers, ["a:1"]);
        assert_eq!(t.readers, ["b:2", "c:7687"]);
        assert_eq!(t.routers, ["a:1", "b:2", "c:7687"]);
        assert_eq!(t.db.as_deref(), Some("movies"));
        assert!(!t.is_stale_for(AccessMode::Write, now));
        assert!(t.is_stale_for(AccessMode::Read, now + Duration::from_secs(300)));
        assert!(t.wants_early_refresh(now + Duration::from_secs(241)));
        assert!(!t.wants_early_refresh(now + Duration::from_secs(100)));
    }

    #[test]
    fn drivers_rules_for_bad_tables_and_forgetting() {
        let now = Instant::now();
        assert_eq!(
            RoutingTable::from_answer(&answer(1, &[("READ", &["b:2"])]), now),
            Err(TableError::NoRouters)
        );
        assert_eq!(
            RoutingTable::from_answer(&answer(1, &[("ROUTE", &["b:2"])]), now),
            Err(TableError::NoReaders)
        );
        let mut t = RoutingTable::from_answer(
            &answer(
                10,
                &[
                    ("WRITE", &["a:1"]),
                    ("READ", &["a:1", "b:2"]),
                    ("ROUTE", &["a:1"]),
                ],
            ),
            now,
        )
        .unwrap();
        t.forget_writer("a:1");
        assert!(t.writers.is_empty() && t.readers.len() == 2);
        assert!(t.is_stale_for(AccessMode::Write, now));
        assert!(!t.is_stale_for(AccessMode::Read, now));
        t.forget("a:1");
        assert!(t.routers.is_empty() && t.readers == ["b:2"]);
        assert!(t.is_stale_for(AccessMode::Read, now));
    }

    #[test]
    fn a_static_topology_never_goes_stale() {
        let m = crate::config::members::parse_members(&["writer=a:1".into(), "reader=b:2".into()])
            .unwrap();
        let mut t = RoutingTable::from_members(&m, Instant::now());
        t.forget("a:1");
        assert_eq!(t.writers, ["a:1"]);
        assert!(!t.is_stale_for(
            AccessMode::Write,
            Instant::now() + Duration::from_secs(1 << 30)
        ));
    }
}

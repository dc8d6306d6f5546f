//! Choosing a member: least outstanding work, round-robin among ties, and temporary bans for
//! members that refused a connection or died (pgcat's `ban_time`).
//!
//! "Outstanding work" is the number of units of work (explicit transactions and auto-commit
//! queries) currently running on a member across all client connections; a [`Lease`] counts one
//! and gives it back when dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

#[derive(Debug, Default)]
struct MemberStats {
    outstanding: AtomicUsize,
    banned_until: Mutex<Option<Instant>>,
}

/// Shared by every session.
#[derive(Debug)]
pub struct Balancer {
    members: DashMap<String, Arc<MemberStats>>,
    next: AtomicUsize,
    ban_time: Duration,
}

/// One unit of work running on a member; dropping it ends the unit.
#[derive(Debug)]
pub struct Lease {
    stats: Arc<MemberStats>,
    address: String,
}

impl Lease {
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stats.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Balancer {
    pub fn new(ban_time: Duration) -> Balancer {
        Balancer {
            members: DashMap::new(),
            next: AtomicUsize::new(0),
            ban_time,
        }
    }

    fn stats(&self, address: &str) -> Arc<MemberStats> {
        if let Some(s) = self.members.get(address) {
            return s.clone();
        }
        self.members.entry(address.to_string()).or_default().clone()
    }

    /// How long a member that failed stays banned (`boltgate.routing.ban_time`).
    pub fn ban_time(&self) -> Duration {
        self.ban_time
    }

    pub fn is_banned(&self, address: &str, now: Instant) -> bool {
        self.members.get(address).is_some_and(|s| {
            s.banned_until
                .lock()
                .expect("ban lock")
                .is_some_and(|until| now < until)
        })
    }

    /// Leaves `address` out of routing for the ban time; true when the member was not banned
    /// already (a new ban, logged).
    pub fn ban(&self, address: &str) -> bool {
        if self.ban_time.is_zero() {
            return false;
        }
        let stats = self.stats(address);
        let mut until = stats.banned_until.lock().expect("ban lock");
        let now = Instant::now();
        let fresh = !matches!(*until, Some(u) if u > now);
        if fresh {
            tracing::warn!(
                member = address,
                ban_time = ?self.ban_time,
                "cluster member banned: it refused a connection or failed"
            );
        }
        *until = Some(now + self.ban_time);
        fresh
    }

    /// Lifts a ban at once (the member served a connection again).
    pub fn unban(&self, address: &str) {
        if let Some(s) = self.members.get(address) {
            *s.banned_until.lock().expect("ban lock") = None;
        }
    }

    /// Work in progress on `address`.
    pub fn outstanding(&self, address: &str) -> usize {
        self.members
            .get(address)
            .map_or(0, |s| s.outstanding.load(Ordering::Relaxed))
    }

    /// The member of `candidates` (not in `exclude`, not banned) with the least outstanding
    /// work; ties go round-robin. None when every candidate is excluded or banned.
    pub fn pick(&self, candidates: &[String], exclude: &[String]) -> Option<String> {
        let now = Instant::now();
        let open: Vec<&String> = candidates
            .iter()
            .filter(|a| !exclude.contains(a) && !self.is_banned(a, now))
            .collect();
        if open.is_empty() {
            return None;
        }
        let loads: Vec<usize> = open.iter().map(|a| self.outstanding(a)).collect();
        let least = *loads.iter().min().expect("not empty");
        let tied: Vec<&String> = open
            .iter()
            .zip(&loads)
            .filter(|(_, l)| **l == least)
            .map(|(a, _)| *a)
            .collect();
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        Some(tied[turn % tied.len()].clone())
    }

    /// Counts one unit of work on `address` until the lease is dropped.
    pub fn lease(&self, address: &str) -> Lease {
        let stats = self.stats(address);
        stats.outstanding.fetch_add(1, Ordering::Relaxed);
        Lease {
            stats,
            address: address.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ties_go_round_robin() {
        let b = Balancer::new(Duration::from_secs(30));
        let c = addrs(&["a:1", "b:1", "c:1"]);
        let picks: Vec<String> = (0..6).map(|_| b.pick(&c, &[]).unwrap()).collect();
        for a in &c {
            assert_eq!(picks.iter().filter(|p| *p == a).count(), 2, "{picks:?}");
        }
    }

    #[test]
    fn least_outstanding_wins() {
        let b = Balancer::new(Duration::from_secs(30));
        let c = addrs(&["a:1", "b:1"]);
        let _l1 = b.lease("a:1");
        for _ in 0..4 {
            assert_eq!(b.pick(&c, &[]).unwrap(), "b:1");
        }
        let l2 = b.lease("b:1");
        let _l3 = b.lease("b:1");
        assert_eq!(b.pick(&c, &[]).unwrap(), "a:1");
        drop(l2);
        assert_eq!(b.outstanding("b:1"), 1);
    }

    #[test]
    fn banned_and_excluded_members_are_skipped() {
        let b = Balancer::new(Duration::from_secs(30));
        let c = addrs(&["a:1", "b:1"]);
        b.ban("a:1");
        assert!(b.is_banned("a:1", Instant::now()));
        for _ in 0..3 {
            assert_eq!(b.pick(&c, &[]).unwrap(), "b:1");
        }
        assert_eq!(b.pick(&c, &addrs(&["b:1"])), None);
        b.unban("a:1");
        assert_eq!(b.pick(&c, &addrs(&["b:1"])).unwrap(), "a:1");
        // A zero ban time bans nothing.
        let z = Balancer::new(Duration::ZERO);
        z.ban("a:1");
        assert!(!z.is_banned("a:1", Instant::now()));
    }
}

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

use crate::fasthash::BuildFastHasher;

#[derive(Debug, Default)]
struct MemberStats {
    outstanding: AtomicUsize,
    banned_until: Mutex<Option<Instant>>,
}

impl MemberStats {
    fn banned(&self, now: Instant) -> bool {
        self.banned_until
            .lock()
            .expect("ban lock")
            .is_some_and(|until| now < until)
    }
}

/// Shared by every session.
#[derive(Debug)]
pub struct Balancer {
    /// By address, hashed fast: looked up two or three times per unit of work (`fasthash`).
    members: DashMap<String, Arc<MemberStats>, BuildFastHasher>,
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
            members: DashMap::default(),
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
        self.members.get(address).is_some_and(|s| s.banned(now))
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
        // Every unit of work passes here: two passes over the few candidates, one lookup each
        // per pass, and no allocation but the answer.
        let now = Instant::now();
        let load = |a: &String| -> Option<usize> {
            if exclude.contains(a) {
                return None;
            }
            match self.members.get(a.as_str()) {
                None => Some(0),
                Some(s) => (!s.banned(now)).then(|| s.outstanding.load(Ordering::Relaxed)),
            }
        };
        let (mut least, mut tied) = (usize::MAX, 0usize);
        for a in candidates {
            match load(a) {
                Some(l) if l < least => (least, tied) = (l, 1),
                Some(l) if l == least => tied += 1,
                _ => {}
            }
        }
        if tied == 0 {
            return None;
        }
        let mut turn = self.next.fetch_add(1, Ordering::Relaxed) % tied;
        for a in candidates {
            if load(a) == Some(least) {
                if turn == 0 {
                    return Some(a.clone());
                }
                turn -= 1;
            }
        }
        // A load changed between the passes (another session's lease): any open one will do.
        candidates.iter().find(|a| load(a).is_some()).cloned()
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

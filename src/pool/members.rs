//! A pool per upstream member (`boltgate.pool.max_size` is per member): the single upstream has
//! one, and with routing each cluster member a unit of work is placed on gets its own, made
//! when first needed. Each pool has its own limits, waiters and metric series (label `member`),
//! so a member that is down or slow never takes places from another.
//!
//! Bounded by the topology: a `neo4j://` cluster can name new addresses over time, so once
//! [`MAX_POOLS`] exist, the pools nothing uses any more (no connection, nobody waiting, no
//! session holding it) are dropped with their series ([`unused`], the decision, unit-tested).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Closing, Limits, Pool, Stats};
use crate::metrics::PoolFamilies;

/// Pools kept before unused ones are dropped: far beyond any cluster's member count, so a
/// pool in use is never at risk, and small enough that a table naming addresses at random
/// cannot grow the map (or the metrics) without end.
pub const MAX_POOLS: usize = 64;

/// One pool per member address, all with the same limits.
pub struct Members<K, C> {
    pools: Mutex<HashMap<String, Arc<Pool<K, C>>>>,
    limits: Limits,
    acquire_timeout: Duration,
    metrics: PoolFamilies,
}

impl<K: Eq + Clone + Send + 'static, C: Closing> Members<K, C> {
    pub fn new(limits: Limits, acquire_timeout: Duration, metrics: PoolFamilies) -> Members<K, C> {
        Members {
            pools: Mutex::new(HashMap::new()),
            limits,
            acquire_timeout,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Pool<K, C>>>> {
        // The map is only inserted into and pruned; a panic elsewhere cannot leave it torn.
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `member`'s pool, made on first use.
    pub fn pool(&self, member: &str) -> Arc<Pool<K, C>> {
        let mut pools = self.lock();
        if let Some(p) = pools.get(member) {
            return p.clone();
        }
        if pools.len() >= MAX_POOLS {
            let seen: Vec<(String, usize, Stats)> = pools
                .iter()
                .map(|(m, p)| (m.clone(), Arc::strong_count(p), p.stats()))
                .collect();
            for m in unused(&seen) {
                pools.remove(&m);
                self.metrics.forget(&m);
            }
        }
        let p = Pool::new(
            member,
            self.limits,
            self.acquire_timeout,
            self.metrics.member(member),
        );
        pools.insert(member.to_string(), p.clone());
        p
    }

    /// Each member's counts, by address.
    pub fn stats(&self) -> Vec<(String, Stats)> {
        let mut out: Vec<_> = self
            .lock()
            .iter()
            .map(|(m, p)| (m.clone(), p.stats()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Closes every member's idle connections (a draining boltgate).
    pub async fn close_idle(&self) {
        let pools: Vec<_> = self.lock().values().cloned().collect();
        for p in pools {
            p.close_idle().await;
        }
    }
}

/// The pools that may go: `(member, holders, stats)` where `holders` counts the handles to it
/// (1: only the map; each lent connection and each waiting session holds another), with no
/// connection open and nobody waiting.
pub fn unused(pools: &[(String, usize, Stats)]) -> Vec<String> {
    pools
        .iter()
        .filter(|(_, holders, s)| *holders <= 1 && s.open == 0 && s.waiting == 0)
        .map(|(m, _, _)| m.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::Grant;

    fn limits(max_size: usize) -> Limits {
        Limits {
            max_size,
            min_idle: 0,
            idle_timeout: None,
            max_lifetime: None,
        }
    }

    /// `max_size` is per member: one member's full pool leaves another's places alone.
    #[tokio::test]
    async fn each_member_has_its_own_max_size() {
        let members: Members<u8, u32> = Members::new(
            limits(2),
            Duration::from_millis(50),
            PoolFamilies::default(),
        );
        let a = members.pool("a:1");
        let mut held = Vec::new();
        for _ in 0..2 {
            let lent = a.acquire(&1).await.expect("a place on a");
            assert!(matches!(lent.grant, Grant::Dial { evicted: None }));
            held.push(lent.ticket);
        }
        assert!(a.acquire(&1).await.is_err(), "a is full");
        let b = members.pool("b:1");
        let lent = b.acquire(&1).await.expect("b has its own places");
        assert!(matches!(lent.grant, Grant::Dial { evicted: None }));
        assert!(Arc::ptr_eq(&a, &members.pool("a:1")), "one pool per member");
        let stats = members.stats();
        assert_eq!(stats[0].0, "a:1");
        assert_eq!(stats[0].1.open, 2);
        assert_eq!(stats[1].1.open, 1);
    }

    #[test]
    fn only_pools_nobody_uses_are_dropped() {
        let open = Stats {
            open: 1,
            idle: 1,
            waiting: 0,
        };
        let waiting = Stats {
            open: 0,
            idle: 0,
            waiting: 1,
        };
        let seen = vec![
            ("idle-conn".to_string(), 1, open),
            ("waiter".to_string(), 1, waiting),
            ("held".to_string(), 2, Stats::default()),
            ("empty".to_string(), 1, Stats::default()),
        ];
        assert_eq!(unused(&seen), vec!["empty".to_string()]);
    }

    #[tokio::test]
    async fn beyond_the_cap_unused_pools_make_room_and_used_ones_stay() {
        let members: Members<u8, u32> = Members::new(
            limits(1),
            Duration::from_millis(50),
            PoolFamilies::default(),
        );
        let busy = members.pool("busy:1");
        let lent = busy.acquire(&1).await.expect("a place");
        drop(busy);
        for i in 1..MAX_POOLS {
            members.pool(&format!("m{i}:1"));
        }
        assert_eq!(members.stats().len(), MAX_POOLS);
        members.pool("new:1");
        let names: Vec<String> = members.stats().into_iter().map(|(m, _)| m).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"busy:1".to_string()));
        assert!(names.contains(&"new:1".to_string()));
        drop(lent);
    }
}

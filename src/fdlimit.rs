//! The file-descriptor limit: raised at start-up as far as the OS allows, and a warning when it
//! is still too low for `boltgate.client.max_connections`.
//!
//! Why: every session holds two descriptors (client and upstream), and most systems start a
//! process with a soft limit of 1024 while allowing far more (the hard limit). Without raising
//! it, boltgate would refuse connections with EMFILE at about 500 clients, long before the
//! configured connection limit. Only the soft limit is raised (to the hard limit): raising the
//! hard limit is the operator's decision (`ulimit -Hn`, systemd `LimitNOFILE=`).

/// Descriptors boltgate holds besides sessions: listeners, admin endpoint, the log, the
/// runtime's own, certificate reloads, a few being accepted or dialled.
const RESERVED: u64 = 64;

/// What the limit was and became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit before boltgate changed it.
    pub before: u64,
    /// Soft limit now.
    pub now: u64,
    /// The hard limit: the most the soft limit may be raised to without privileges.
    pub hard: u64,
}

impl FdLimit {
    /// Descriptors needed for `max_connections` sessions at two each, plus the reserve.
    pub fn needed(max_connections: usize) -> u64 {
        (max_connections as u64)
            .saturating_mul(2)
            .saturating_add(RESERVED)
    }

    /// True when `max_connections` sessions fit in the current soft limit.
    pub fn fits(&self, max_connections: usize) -> bool {
        FdLimit::needed(max_connections) <= self.now
    }
}

/// The most sessions that fit in `limit` descriptors.
pub fn connections_within(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(RESERVED) / 2)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// What to do about `boltgate.client.max_connections` once the limit is known: the default
/// (10000, which needs about 20064 descriptors) is lowered to what fits, with an info line, so
/// an ordinary machine (a hard limit of 4096, or Docker's 20000...) starts without a warning; a
/// value the operator wrote is kept, with a warning when it cannot be met.
pub fn fit(limit: &FdLimit, max_connections: usize, configured: bool) -> usize {
    if limit.fits(max_connections) {
        return max_connections;
    }
    if !configured {
        let fitting = connections_within(limit.now);
        tracing::info!(
            limit = limit.now,
            "boltgate.client.max_connections is not set: its default {max_connections} is \
             lowered to {fitting}, what the file descriptor limit allows (set it, and raise the \
             limit with ulimit -Hn or systemd LimitNOFILE=, for more)"
        );
        return fitting;
    }
    tracing::warn!(
        limit = limit.now,
        needed = FdLimit::needed(max_connections),
        "boltgate.client.max_connections={max_connections} needs about two file descriptors \
         per connection, more than the limit allows: clients past about {} connections will \
         be refused by the OS; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or \
         lower boltgate.client.max_connections",
        connections_within(limit.now)
    );
    max_connections
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and logs the result at info. Errors are
/// logged, never fatal: a proxy with a low limit still serves the clients it can.
pub fn raise() -> Option<FdLimit> {
    let (before, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the file descriptor limit (RLIMIT_NOFILE)");
            return None;
        }
    };
    // An unlimited hard limit still stops at the kernel's per-process maximum (nr_open).
    let target = if hard == rlimit::INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    let now = if before < target {
        match rlimit::increase_nofile_limit(target) {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(error = %e, soft = before, hard,
                    "cannot raise the file descriptor limit (RLIMIT_NOFILE)");
                before
            }
        }
    } else {
        before
    };
    let limit = FdLimit { before, now, hard };
    if now > before {
        tracing::info!(
            limit = now,
            was = before,
            "file descriptor limit raised to the hard limit"
        );
    } else {
        tracing::info!(limit = now, hard, "file descriptor limit");
    }
    Some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_descriptors_per_connection_plus_a_reserve() {
        assert_eq!(FdLimit::needed(10_000), 20_064);
        let l = FdLimit {
            before: 1024,
            now: 20_000,
            hard: 20_000,
        };
        assert!(l.fits(9_000));
        assert!(!l.fits(10_000));
    }

    #[test]
    fn the_default_is_lowered_to_fit_and_a_configured_value_is_kept() {
        let l = FdLimit {
            before: 1024,
            now: 4096,
            hard: 4096,
        };
        assert_eq!(fit(&l, 10_000, false), 2016);
        assert!(l.fits(2016));
        assert_eq!(fit(&l, 10_000, true), 10_000);
        assert_eq!(fit(&l, 100, false), 100);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise().expect("getrlimit works on Linux");
        assert!(limit.now == limit.hard || limit.hard == rlimit::INFINITY);
        assert!(limit.now >= limit.before);
    }
}

//! Which sessions are translated, and what the server is offered for them.
//!
//! boltgate does not know the server's versions before dialling it, so it decides from the
//! server's answers: the client's own offer is tried first (a server that speaks one of the
//! client's versions needs no translation); only when the server refuses it (`00 00 00 00`,
//! or, as FalkorDB does, a close) are the [`TARGETS`] offered, one per connection.
//!
//! One per connection because FalkorDB 4.16 closes a connection whose first proposal has major
//! 4 instead of reading on (measured: `4.4, 5.1` is closed, `5.1` alone is answered `5.1`), so
//! 4.4 and 5.1 cannot share a handshake. 4.4 first: a Neo4j 5+ server keeps it, and a 4.x
//! client translated to 4.4 differs in almost nothing (its answers keep the fast path). 5.1
//! next: the lowest 5.x with LOGON (5.0 is rare and not translated to), without the manifest,
//! and before the notification filters, `bolt_agent` and the GQL errors of later 5.x.
//! The target that worked is remembered per upstream ([`Learned`]) and tried first next time.

use std::sync::atomic::{AtomicUsize, Ordering};

use boltgate_proto::Version;

/// The server versions boltgate translates to, in the order tried.
pub const TARGETS: &[Version] = &[Version::V4_4, Version::V5_1];

/// Whether boltgate translates from this client version: Bolt 3 and 4.x.
pub fn translates_from(v: Version) -> bool {
    v == Version::V3 || v.major == 4
}

/// The client version a translated session runs on: the best of the client's candidates that
/// boltgate translates from, if any.
pub fn client_version(candidates: &[Version]) -> Option<Version> {
    candidates
        .iter()
        .copied()
        .filter(|v| translates_from(*v))
        .max()
}

/// The translation target that last worked for an upstream.
#[derive(Debug, Default)]
pub struct Learned(AtomicUsize);

impl Learned {
    /// The [`TARGETS`] in the order to try them: the one that worked last first.
    pub fn order(&self) -> Vec<Version> {
        let first = self.0.load(Ordering::Relaxed).min(TARGETS.len() - 1);
        let mut order = vec![TARGETS[first]];
        order.extend(TARGETS.iter().copied().filter(|t| *t != TARGETS[first]));
        order
    }

    pub fn worked(&self, target: Version) {
        if let Some(i) = TARGETS.iter().position(|t| *t == target) {
            self.0.store(i, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bolt_3_and_4_are_translated_from_5_is_not() {
        assert!(translates_from(Version::V3));
        assert!(translates_from(Version::V4_0));
        assert!(translates_from(Version::V4_4));
        assert!(!translates_from(Version::V5_1));
        assert_eq!(
            client_version(&[Version::V4_2, Version::V4_1, Version::V3]),
            Some(Version::V4_2)
        );
        assert_eq!(client_version(&[Version::V5_4]), None);
    }

    #[test]
    fn the_target_that_worked_is_tried_first() {
        let learned = Learned::default();
        assert_eq!(learned.order(), vec![Version::V4_4, Version::V5_1]);
        learned.worked(Version::V5_1);
        assert_eq!(learned.order(), vec![Version::V5_1, Version::V4_4]);
        learned.worked(Version::new(9, 9));
        assert_eq!(learned.order(), vec![Version::V5_1, Version::V4_4]);
    }
}

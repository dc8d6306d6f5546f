//! The Pool policy's decisions on taking a connection from a member's pool, without I/O: what
//! one attempt came to ([`Take`]) means for the unit of work ([`Next`]). The relay
//! (`relay/pool_take.rs`) acquires, checks, dials, and asks.
//!
//! The rules, so that pooling changes nothing a client sees about a member's failures:
//! - an idle connection found closed (a restart) frees its place and the member is asked again:
//!   at most `max_size` idle connections can be found closed before a place to dial comes up,
//!   so a member that came back is never given up on for the dead connections it left behind;
//! - a member that cannot be dialled is what the Cluster policy calls unreachable: with routing,
//!   the member is banned and another one tried (nothing was sent yet); alone, the unit gets
//!   boltgate's `DatabaseUnavailable` (retryable) as any unreachable upstream gives;
//! - a login the server refused, or a pool with no place free in time, answers the unit: another
//!   member would not accept the credentials either, and a busy member is not a dead one.

/// What one attempt at a member's pool came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A live connection, lent to the unit.
    Lent,
    /// The idle connection taken was closed by the server; its place is freed.
    FoundClosed,
    /// No connection could be opened to the member (dial, handshake or login exchange failed).
    Unreachable,
    /// The server refused the credentials on a new connection.
    Refused,
    /// No place came free within `acquire_timeout`.
    Exhausted,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The unit has its connection.
    Placed,
    /// Ask the same member's pool again.
    Again,
    /// Ban the member and place the unit on another (routing only).
    Another,
    /// The unit gets a FAILURE: the server's own (refused) or boltgate's.
    Answer,
}

/// One unit's attempts at one member.
#[derive(Debug)]
pub struct Taking {
    closed_found: usize,
    /// Closed connections found before the member is given up on: one more than the pool's
    /// `max_size` (each found frees a place; other sessions may give back more meanwhile, so
    /// the bound is what makes the loop end).
    limit: usize,
}

impl Taking {
    pub fn new(max_size: usize) -> Taking {
        Taking {
            closed_found: 0,
            limit: max_size + 1,
        }
    }

    /// `routed`: other members may take the unit.
    pub fn next(&mut self, take: Take, routed: bool) -> Next {
        let elsewhere = if routed { Next::Another } else { Next::Answer };
        match take {
            Take::Lent => Next::Placed,
            Take::FoundClosed => {
                self.closed_found += 1;
                if self.closed_found < self.limit {
                    Next::Again
                } else {
                    elsewhere
                }
            }
            Take::Unreachable => elsewhere,
            Take::Refused | Take::Exhausted => Next::Answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_idle_connections_are_replaced_a_bounded_number_of_times() {
        for routed in [false, true] {
            // A pool of 4 may hold 4 dead idle connections after a restart: all are replaced.
            let mut t = Taking::new(4);
            for _ in 0..4 {
                assert_eq!(t.next(Take::FoundClosed, routed), Next::Again);
            }
            let last = t.next(Take::FoundClosed, routed);
            assert_eq!(last, if routed { Next::Another } else { Next::Answer });
        }
    }

    #[test]
    fn an_unreachable_member_moves_a_routed_unit_and_fails_a_lone_upstreams() {
        assert_eq!(Taking::new(4).next(Take::Unreachable, true), Next::Another);
        assert_eq!(Taking::new(4).next(Take::Unreachable, false), Next::Answer);
    }

    #[test]
    fn refused_logins_and_full_pools_answer_the_unit_where_it_is() {
        for routed in [false, true] {
            assert_eq!(Taking::new(4).next(Take::Refused, routed), Next::Answer);
            assert_eq!(Taking::new(4).next(Take::Exhausted, routed), Next::Answer);
            assert_eq!(Taking::new(4).next(Take::Lent, routed), Next::Placed);
        }
    }
}

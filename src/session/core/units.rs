//! The Cluster policy's decisions, without I/O: what a client request means for its units of
//! work (an explicit transaction, BEGIN … COMMIT/ROLLBACK, or an auto-commit RUN and its PULLs),
//! where it goes (a new placement, the member of the current unit, the control member) and what
//! boltgate answers itself. The relay (`relay/requests.rs`) asks, then does the I/O: placement
//! (registry, balancer, dialling), forwarding, queueing answers.
//!
//! Kept here rather than in the relay so that each rule is a unit test on plain values, as
//! quinn-proto keeps its state machine apart from its sockets; the relay's fuzz targets (`session`,
//! `routed`) then drive the same decisions with the I/O around them.

use boltgate_proto::message::RequestKind;

/// Where one client request goes in a routed session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not yet: it starts a new unit of work, which is placed only once every earlier answer has
    /// reached the client (so the placement knows whether the session is FAILED or in a
    /// transaction, and a unit never races its predecessor on another member).
    Stall,
    /// HELLO, to the control member (kept for replaying on members opened later).
    Hello,
    /// LOGON, to the control member (kept for replaying).
    Logon,
    /// LOGOFF: other members' connections are closed (they would stay logged on).
    Logoff,
    /// RESET ends everything open on every member; boltgate answers SUCCESS itself.
    Reset,
    /// ROUTE, answered by boltgate with the table naming itself (IGNORED when FAILED).
    Route { ignored: bool },
    /// TELEMETRY, answered by boltgate (IGNORED when FAILED).
    Telemetry { ignored: bool },
    /// The RUN of a routing procedure (`dbms.routing.getRoutingTable` and kin), answered by
    /// boltgate; its PULL or DISCARD gets [`Decision::ProcedureResult`].
    ProcedureRun { ignored: bool },
    /// The result of a routing procedure boltgate answered: the table record and summary for a
    /// PULL, the summary alone for a DISCARD.
    ProcedureResult { pull: bool },
    /// A new unit of work (BEGIN, or a RUN outside a transaction): place it on a member, or
    /// answer IGNORED when the session is FAILED (as a server would).
    StartUnit { ignored: bool },
    /// RUN, PULL, DISCARD, COMMIT, ROLLBACK of the current unit: to its member.
    ToCurrent,
    /// Anything else (unknown, connection-level): to the control member.
    ToControl,
}

/// A member connection of the session closed; what that means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// It owed the client answers: those it sent go out, then the client's connection closes
    /// as the member's own close would have looked direct (the outcome is unknown).
    WithWork,
    /// It ran the client's open transaction, between requests: the next request of that
    /// transaction ends the session the same way.
    InTransaction,
    /// Idle: nothing was lost; it is reopened when needed.
    Idle,
}

/// The client's units of work in a routed session.
#[derive(Debug, Default)]
pub struct Units {
    in_tx: bool,
    /// The backend running the current unit.
    current: Option<u64>,
    /// A routing procedure's RUN was answered; its PULL gets the table.
    local_result: bool,
    /// boltgate answered the current unit with a FAILURE itself: what follows is IGNORED.
    local_failed: bool,
}

impl Units {
    /// What `kind` means. `routing_procedure`: the message is a RUN of a routing procedure;
    /// `answers_pending`: earlier requests have not all been answered to the client yet;
    /// `failed`: the session's state is FAILED before this request.
    ///
    /// A [`Decision::Stall`] changes nothing: the same request is decided again later.
    pub fn decide(
        &mut self,
        kind: RequestKind,
        routing_procedure: bool,
        answers_pending: bool,
        failed: bool,
    ) -> Decision {
        let starts_unit = match kind {
            RequestKind::Begin => true,
            RequestKind::Run => !self.in_tx && !routing_procedure,
            _ => false,
        };
        if starts_unit && answers_pending {
            return Decision::Stall;
        }
        match kind {
            RequestKind::Hello => Decision::Hello,
            RequestKind::Logon => Decision::Logon,
            RequestKind::Logoff => Decision::Logoff,
            RequestKind::Reset => {
                *self = Units::default();
                Decision::Reset
            }
            RequestKind::Route => Decision::Route { ignored: failed },
            RequestKind::Telemetry => Decision::Telemetry { ignored: failed },
            RequestKind::Run if !self.in_tx && routing_procedure => {
                self.local_result = !failed;
                Decision::ProcedureRun { ignored: failed }
            }
            RequestKind::Pull | RequestKind::Discard if self.local_result => {
                self.local_result = false;
                Decision::ProcedureResult {
                    pull: kind == RequestKind::Pull,
                }
            }
            RequestKind::Begin | RequestKind::Run if starts_unit => {
                if kind == RequestKind::Begin {
                    self.in_tx = true;
                }
                self.current = None;
                self.local_failed = failed;
                Decision::StartUnit { ignored: failed }
            }
            RequestKind::Commit | RequestKind::Rollback => {
                self.in_tx = false;
                Decision::ToCurrent
            }
            RequestKind::Run | RequestKind::Pull | RequestKind::Discard => Decision::ToCurrent,
            _ => Decision::ToControl,
        }
    }

    /// The unit was placed on backend `id`.
    pub fn placed(&mut self, id: u64) {
        self.current = Some(id);
    }

    /// boltgate answered the unit's first request with a FAILURE of its own (it could not be
    /// read or placed): the unit's later requests are IGNORED.
    pub fn refused(&mut self) {
        self.local_failed = true;
    }

    /// A request of the current unit has no member to go to (none was placed, or it is gone).
    /// `true`: this is the first, and gets boltgate's FAILURE; `false`: IGNORED, as a server
    /// answers everything after a FAILURE.
    pub fn fail_without_member(&mut self, failed: bool) -> bool {
        if self.local_failed || failed {
            return false;
        }
        self.local_failed = true;
        true
    }

    /// Backend `id` closed; `owed`: it still owed the client answers.
    pub fn on_closed(&mut self, id: u64, owed: bool) -> Loss {
        if owed {
            return Loss::WithWork;
        }
        if self.current == Some(id) {
            if self.in_tx {
                return Loss::InTransaction;
            }
            self.current = None;
        }
        Loss::Idle
    }

    /// The Pool policy gave the unit's connection back (its last answer reached the client):
    /// no unit is open and no member is current.
    pub fn released(&mut self) {
        self.current = None;
        self.in_tx = false;
    }

    pub fn in_tx(&self) -> bool {
        self.in_tx
    }

    pub fn current(&self) -> Option<u64> {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestKind::*;

    fn decide(u: &mut Units, kind: RequestKind) -> Decision {
        u.decide(kind, false, false, false)
    }

    #[test]
    fn a_unit_starts_only_once_earlier_answers_are_out_and_a_stall_changes_nothing() {
        let mut u = Units::default();
        assert_eq!(u.decide(Begin, false, true, false), Decision::Stall);
        assert!(!u.in_tx(), "a stalled BEGIN is decided again later");
        assert_eq!(u.decide(Run, false, true, false), Decision::Stall);
        assert_eq!(
            u.decide(Begin, false, false, false),
            Decision::StartUnit { ignored: false }
        );
        assert!(u.in_tx());
        // Inside the transaction a RUN belongs to it: pipelined, never stalled.
        assert_eq!(u.decide(Run, false, true, false), Decision::ToCurrent);
        assert_eq!(u.decide(Pull, false, true, false), Decision::ToCurrent);
    }

    #[test]
    fn an_auto_commit_run_is_a_unit_and_its_pulls_follow_it() {
        let mut u = Units::default();
        assert_eq!(decide(&mut u, Run), Decision::StartUnit { ignored: false });
        u.placed(3);
        assert!(!u.in_tx());
        assert_eq!(u.current(), Some(3));
        assert_eq!(decide(&mut u, Pull), Decision::ToCurrent);
        assert_eq!(decide(&mut u, Discard), Decision::ToCurrent);
        // The next RUN outside a transaction is a new unit, placed afresh.
        assert_eq!(decide(&mut u, Run), Decision::StartUnit { ignored: false });
        assert_eq!(u.current(), None);
    }

    #[test]
    fn commit_and_rollback_end_the_transaction_on_its_member() {
        for end in [Commit, Rollback] {
            let mut u = Units::default();
            decide(&mut u, Begin);
            u.placed(1);
            assert_eq!(decide(&mut u, end), Decision::ToCurrent);
            assert!(!u.in_tx());
            assert_eq!(
                u.current(),
                Some(1),
                "{end:?} still goes to the transaction's member"
            );
        }
    }

    #[test]
    fn a_failed_session_ignores_new_units_and_boltgates_own_answers() {
        let mut u = Units::default();
        assert_eq!(
            u.decide(Begin, false, false, true),
            Decision::StartUnit { ignored: true }
        );
        // What follows an IGNORED unit start is IGNORED too, not boltgate's FAILURE.
        assert!(!u.fail_without_member(false));
        assert_eq!(
            u.decide(Route, false, false, true),
            Decision::Route { ignored: true }
        );
        assert_eq!(
            u.decide(Telemetry, false, false, true),
            Decision::Telemetry { ignored: true }
        );
    }

    #[test]
    fn the_first_request_without_a_member_fails_and_the_rest_are_ignored() {
        let mut u = Units::default();
        decide(&mut u, Run);
        assert!(u.fail_without_member(false), "the first gets the FAILURE");
        assert!(!u.fail_without_member(false), "then IGNORED");
        let mut u = Units::default();
        decide(&mut u, Run);
        assert!(
            !u.fail_without_member(true),
            "a session FAILED already answers IGNORED"
        );
    }

    #[test]
    fn a_unit_boltgate_refused_ignores_its_later_requests_until_the_next_unit() {
        let mut u = Units::default();
        decide(&mut u, Run);
        u.refused();
        assert!(!u.fail_without_member(false));
        decide(&mut u, Run);
        assert!(u.fail_without_member(false), "a new unit starts clean");
    }

    #[test]
    fn routing_procedures_are_answered_by_boltgate_outside_transactions_only() {
        let mut u = Units::default();
        assert_eq!(
            u.decide(Run, true, true, false),
            Decision::ProcedureRun { ignored: false },
            "not a unit of work: no stall behind earlier answers"
        );
        assert_eq!(
            decide(&mut u, Pull),
            Decision::ProcedureResult { pull: true }
        );
        assert_eq!(decide(&mut u, Pull), Decision::ToCurrent, "answered once");
        u.decide(Run, true, false, false);
        assert_eq!(
            decide(&mut u, Discard),
            Decision::ProcedureResult { pull: false }
        );
        // Inside a transaction the server runs it (it is part of the client's transaction).
        decide(&mut u, Begin);
        assert_eq!(u.decide(Run, true, false, false), Decision::ToCurrent);
    }

    #[test]
    fn a_failed_routing_procedure_run_leaves_no_result_to_answer() {
        let mut u = Units::default();
        assert_eq!(
            u.decide(Run, true, false, true),
            Decision::ProcedureRun { ignored: true }
        );
        assert_eq!(decide(&mut u, Pull), Decision::ToCurrent);
    }

    #[test]
    fn reset_forgets_the_transaction_the_unit_and_boltgates_failure() {
        let mut u = Units::default();
        decide(&mut u, Begin);
        u.placed(2);
        u.refused();
        u.decide(Run, true, false, false);
        assert_eq!(decide(&mut u, Reset), Decision::Reset);
        assert!(!u.in_tx());
        assert_eq!(u.current(), None);
        assert_eq!(
            decide(&mut u, Pull),
            Decision::ToCurrent,
            "no procedure result left"
        );
        assert!(u.fail_without_member(false), "boltgate's FAILURE forgotten");
    }

    #[test]
    fn a_released_unit_leaves_no_transaction_and_no_member() {
        let mut u = Units::default();
        decide(&mut u, Begin);
        u.placed(4);
        u.released();
        assert!(!u.in_tx());
        assert_eq!(u.current(), None);
        assert_eq!(decide(&mut u, Run), Decision::StartUnit { ignored: false });
    }

    #[test]
    fn connection_level_messages_go_to_the_control_member() {
        let mut u = Units::default();
        assert_eq!(decide(&mut u, Hello), Decision::Hello);
        assert_eq!(decide(&mut u, Logon), Decision::Logon);
        assert_eq!(decide(&mut u, Logoff), Decision::Logoff);
        assert_eq!(decide(&mut u, Unknown(0x7F)), Decision::ToControl);
    }

    #[test]
    fn a_closed_member_means_lost_work_a_lost_transaction_or_nothing() {
        let mut u = Units::default();
        decide(&mut u, Begin);
        u.placed(1);
        assert_eq!(u.on_closed(1, true), Loss::WithWork);
        assert_eq!(u.on_closed(1, false), Loss::InTransaction);
        assert_eq!(u.on_closed(2, false), Loss::Idle);
        decide(&mut u, Commit);
        assert_eq!(u.on_closed(1, false), Loss::Idle);
        assert_eq!(u.current(), None, "an idle current member is forgotten");
    }
}

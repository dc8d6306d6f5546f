//! The Bolt server state machine (bolt-reference §5) as pure transitions, and a [`Tracker`] that
//! follows a pipelined connection from the requests the client sent and the summaries the server
//! returned, so the proxy knows when a session is idle or inside a transaction.
//!
//! One function covers every version family: v3 (no second RUN in a transaction stream), v4.x
//! (`has_more`, several open results, ROUTE from 4.3), v5.0, and v5.1+ (NEGOTIATION →
//! AUTHENTICATION → READY with LOGON/LOGOFF). Nothing here panics: an impossible combination is a
//! [`Violation`] value, and DEFUNCT is final.

use std::collections::VecDeque;

use thiserror::Error;

use crate::message::{sig, MessageError, RawMessage, RequestKind, Summary};
use crate::Version;

/// Where the server side of a Bolt connection stands. `Negotiation` is also the v3–5.0 CONNECTED
/// state (renamed in 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerState {
    Negotiation,
    Authentication,
    Ready,
    Streaming,
    TxReady,
    TxStreaming,
    Failed,
    Interrupted,
    Defunct,
}

/// How the server answered one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success {
        has_more: bool,
    },
    Failure,
    Ignored,
    /// No answer at all: only GOODBYE.
    NoResponse,
}

impl Outcome {
    /// The outcome a summary reports; `None` for RECORD (detail, not a summary).
    pub fn of(summary: &Summary) -> Option<Outcome> {
        match summary {
            Summary::Success { has_more, .. } => Some(Outcome::Success {
                has_more: *has_more,
            }),
            Summary::Failure { .. } => Some(Outcome::Failure),
            Summary::Ignored => Some(Outcome::Ignored),
            Summary::Record => None,
        }
    }

    /// The outcome of a response as it came off the wire: a SUCCESS is read for `has_more` only,
    /// anything else through [`RawMessage::summary`]. `None` for RECORD.
    pub fn of_message(raw: &RawMessage) -> Result<Option<Outcome>, MessageError> {
        match raw.signature() {
            sig::SUCCESS => Ok(Some(Outcome::Success {
                has_more: raw.success_has_more()?,
            })),
            _ => Ok(Outcome::of(&raw.summary()?)),
        }
    }
}

/// A request/outcome pair the protocol does not allow in a state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("Bolt {version}: {request:?} answered {outcome:?} in state {state:?}: {reason}")]
pub struct Violation {
    pub version: Version,
    pub state: ServerState,
    pub request: RequestKind,
    pub outcome: Outcome,
    pub reason: &'static str,
}

/// The state after the server answered `request` with `outcome` in `state`.
///
/// Requests a state does not allow, answered with FAILURE, lead to FAILED (DEFUNCT before
/// authentication completes), which is what servers do; answered with SUCCESS they are a violation.
/// Unknown requests (extensions) keep the state on SUCCESS.
pub fn transition(
    version: Version,
    state: ServerState,
    request: RequestKind,
    outcome: Outcome,
) -> Result<ServerState, Violation> {
    use Outcome::{Failure, Ignored, NoResponse, Success};
    use RequestKind as K;
    use ServerState::*;

    let err = |reason| {
        Err(Violation {
            version,
            state,
            request,
            outcome,
            reason,
        })
    };
    if state == Defunct {
        return err("the connection is defunct");
    }
    if request == K::Goodbye {
        return match outcome {
            NoResponse => Ok(Defunct),
            _ => err("GOODBYE is never answered"),
        };
    }
    if outcome == NoResponse {
        return err("every request but GOODBYE gets a summary");
    }
    let v4 = version.major >= 4;
    let v51 = version >= Version::V5_1;

    match (state, request) {
        (Interrupted, K::Reset) => match outcome {
            Success { .. } => Ok(Ready),
            Failure => Ok(Defunct),
            _ => err("RESET is answered SUCCESS or FAILURE"),
        },
        (Interrupted, _) => match outcome {
            Ignored => Ok(Interrupted),
            _ => err("after a RESET interrupt, queued requests are IGNORED"),
        },
        (Negotiation, K::Hello) => match outcome {
            Success { .. } if v51 => Ok(Authentication),
            Success { .. } => Ok(Ready),
            Failure => Ok(Defunct),
            _ => err("HELLO is answered SUCCESS or FAILURE"),
        },
        (Negotiation | Authentication, _) if outcome == Failure => Ok(Defunct),
        (Authentication, K::Logon) => match outcome {
            Success { .. } => Ok(Ready),
            _ => err("LOGON is answered SUCCESS or FAILURE"),
        },
        (Negotiation, _) => err("only HELLO is allowed before the connection is initialised"),
        (Authentication, _) => err("only LOGON is allowed while authenticating"),
        (_, K::Reset) => match outcome {
            Success { .. } => Ok(Ready),
            Failure => Ok(Defunct),
            _ => err("RESET is never IGNORED"),
        },
        (Failed, _) => match outcome {
            Ignored => Ok(Failed),
            Failure => Ok(Failed),
            _ => err("in FAILED every request but RESET is IGNORED"),
        },
        (_, _) if outcome == Ignored => err("IGNORED only happens in FAILED or INTERRUPTED"),
        (_, _) if outcome == Failure => Ok(Failed),
        // From here on the outcome is SUCCESS.
        (s, K::Unknown(_)) => Ok(s),
        (Ready, K::Run) => Ok(Streaming),
        (Ready, K::Begin) => Ok(TxReady),
        (Ready, K::Route) if version >= Version::V4_3 => Ok(Ready),
        (Ready, K::Telemetry) if version >= Version::V5_4 => Ok(Ready),
        (Ready, K::Logoff) if v51 => Ok(Authentication),
        (Streaming, K::Pull | K::Discard) => Ok(if has_more(outcome) { Streaming } else { Ready }),
        (TxReady, K::Run) => Ok(TxStreaming),
        (TxReady, K::Commit | K::Rollback) => Ok(Ready),
        (TxStreaming, K::Run) if v4 => Ok(TxStreaming),
        (TxStreaming, K::Pull | K::Discard) => Ok(if has_more(outcome) {
            TxStreaming
        } else {
            TxReady
        }),
        _ => err("this request is not allowed in this state"),
    }
}

fn has_more(o: Outcome) -> bool {
    matches!(o, Outcome::Success { has_more: true })
}

/// Follows one pipelined connection: requests are queued as the client sends them, and each summary
/// is applied to the oldest outstanding request.
///
/// RESET is special (bolt-reference §5.3): on arrival it interrupts, so the tracker is INTERRUPTED at
/// once; requests queued before it may still come back with any answer (they may have finished
/// before the interrupt landed) and leave it INTERRUPTED; the RESET's own SUCCESS makes it READY.
/// A violation makes the tracker DEFUNCT: the proxy can no longer tell where the session stands.
#[derive(Debug, Clone)]
pub struct Tracker {
    version: Version,
    state: ServerState,
    outstanding: VecDeque<RequestKind>,
    pending_resets: usize,
    /// Results opened by RUN inside the transaction and not yet fully consumed (4.0+ allows several).
    open_results: usize,
    /// A transaction was begun and not yet committed, rolled back or reset.
    tx_open: bool,
    violation: Option<Violation>,
}

impl Tracker {
    /// A fresh connection, after the handshake, before HELLO.
    pub fn new(version: Version) -> Self {
        Tracker {
            version,
            state: ServerState::Negotiation,
            outstanding: VecDeque::new(),
            pending_resets: 0,
            open_results: 0,
            tx_open: false,
            violation: None,
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Requests sent and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// READY with nothing outstanding: the moment a graceful shutdown may close the session.
    pub fn is_idle(&self) -> bool {
        self.state == ServerState::Ready && self.outstanding.is_empty()
    }

    /// Inside an explicit transaction (including one that failed and awaits RESET).
    pub fn in_transaction(&self) -> bool {
        match self.state {
            ServerState::TxReady | ServerState::TxStreaming => true,
            ServerState::Failed | ServerState::Interrupted => self.tx_open,
            _ => false,
        }
    }

    pub fn is_defunct(&self) -> bool {
        self.state == ServerState::Defunct
    }

    /// The violation that made the tracker DEFUNCT, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// The client sent `kind`.
    pub fn on_request(&mut self, kind: RequestKind) {
        if self.state == ServerState::Defunct {
            return;
        }
        self.outstanding.push_back(kind);
        if kind == RequestKind::Reset {
            self.pending_resets += 1;
            if !matches!(
                self.state,
                ServerState::Negotiation | ServerState::Authentication
            ) {
                self.state = ServerState::Interrupted;
            }
        }
        self.drain_goodbyes();
    }

    /// The server sent a message summarised as `summary`. RECORDs change nothing.
    pub fn on_response(&mut self, summary: &Summary) -> Result<ServerState, Violation> {
        self.on_outcome(Outcome::of(summary))
    }

    /// [`Tracker::on_response`] for an outcome already read ([`Outcome::of_message`]); `None`
    /// is a RECORD.
    pub fn on_outcome(&mut self, outcome: Option<Outcome>) -> Result<ServerState, Violation> {
        let Some(outcome) = outcome else {
            return match self.outstanding.front() {
                Some(_) => Ok(self.state),
                None => self.fail(
                    RequestKind::Unknown(0x71),
                    Outcome::Ignored,
                    "RECORD with no request outstanding",
                ),
            };
        };
        if self.state == ServerState::Defunct {
            return self.fail(
                RequestKind::Unknown(0),
                outcome,
                "response after the connection became defunct",
            );
        }
        let Some(kind) = self.outstanding.pop_front() else {
            return self.fail(
                RequestKind::Unknown(0),
                outcome,
                "summary with no request outstanding",
            );
        };
        let result = if kind == RequestKind::Reset {
            self.pending_resets = self.pending_resets.saturating_sub(1);
            self.open_results = 0;
            self.tx_open = false;
            transition(self.version, ServerState::Interrupted, kind, outcome).map(|s| {
                if s == ServerState::Ready && self.pending_resets > 0 {
                    ServerState::Interrupted
                } else {
                    s
                }
            })
        } else if self.pending_resets > 0 {
            // Queued before a RESET: whatever it got, the interrupt wins.
            Ok(ServerState::Interrupted)
        } else {
            transition(self.version, self.state, kind, outcome)
                .map(|s| self.track_results(kind, outcome, s))
        };
        match result {
            Ok(s) => {
                self.state = s;
                if matches!(
                    s,
                    ServerState::Ready | ServerState::Defunct | ServerState::Authentication
                ) {
                    self.tx_open = false;
                    self.open_results = 0;
                }
                self.drain_goodbyes();
                Ok(self.state)
            }
            Err(v) => {
                self.state = ServerState::Defunct;
                self.outstanding.clear();
                self.violation = Some(v.clone());
                Err(v)
            }
        }
    }

    /// Count open results inside a transaction, so a PULL that finishes one of several keeps the
    /// state TX_STREAMING.
    fn track_results(
        &mut self,
        kind: RequestKind,
        outcome: Outcome,
        next: ServerState,
    ) -> ServerState {
        match (self.state, kind, next) {
            (ServerState::Ready, RequestKind::Begin, ServerState::TxReady) => {
                self.tx_open = true;
                self.open_results = 0;
                next
            }
            (
                ServerState::TxReady | ServerState::TxStreaming,
                RequestKind::Run,
                ServerState::TxStreaming,
            ) => {
                self.open_results += 1;
                next
            }
            (ServerState::TxStreaming, RequestKind::Pull | RequestKind::Discard, _)
                if !has_more(outcome) && outcome != Outcome::Failure =>
            {
                self.open_results = self.open_results.saturating_sub(1);
                if self.open_results > 0 {
                    ServerState::TxStreaming
                } else {
                    ServerState::TxReady
                }
            }
            _ => next,
        }
    }

    /// GOODBYE is never answered: once it is the oldest outstanding request, it has taken effect.
    fn drain_goodbyes(&mut self) {
        while self.outstanding.front() == Some(&RequestKind::Goodbye) {
            self.outstanding.pop_front();
            self.state = ServerState::Defunct;
        }
        if self.state == ServerState::Defunct {
            self.outstanding.clear();
        }
    }

    fn fail(
        &mut self,
        request: RequestKind,
        outcome: Outcome,
        reason: &'static str,
    ) -> Result<ServerState, Violation> {
        let v = Violation {
            version: self.version,
            state: self.state,
            request,
            outcome,
            reason,
        };
        self.state = ServerState::Defunct;
        self.outstanding.clear();
        self.violation = Some(v.clone());
        Err(v)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

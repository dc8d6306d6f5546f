//! The client's answers, in order ([`super::Slot`]): moved into the client's queue as they
//! become due, read on the way for the session's state and for what a member's FAILURE says
//! about it; and the requests forwarded to a member or answered by boltgate itself.

use std::sync::Arc;

use boltgate_proto::chunk::Frame;
use boltgate_proto::message::{sig, RawMessage, RequestKind, Response, Summary};
use boltgate_proto::state::{Outcome, ServerState};
use bytes::Bytes;

use super::{MemberError, Session, Slot, CLIENT_QUEUE_HIGH, FORBIDDEN_ON_READ_ONLY, NOT_A_LEADER};
use crate::session::core::{Expect, Step};
use crate::session::failure::REQUEST_INVALID;
use crate::session::work::count_work;
use crate::session::SessionError;

impl Session<'_> {
    /// Moves the answers that are due into the client's queue, in order, until it holds
    /// [`CLIENT_QUEUE_HIGH`]; the loop writes them.
    pub(super) fn drain(&mut self) -> Result<(), SessionError> {
        while let Some(slot) = self.slots.front_mut() {
            if self.c_tx.queued() >= CLIENT_QUEUE_HIGH {
                break;
            }
            match slot {
                Slot::Local(messages) => {
                    let messages = std::mem::take(messages);
                    self.slots.pop_front();
                    for m in messages {
                        self.observe(&m, None);
                        self.c_tx.push_frame(Frame::Message(m));
                    }
                }
                Slot::Backend(id) => {
                    let id = *id;
                    // A backend with answers owed is kept until they are given (below), so this
                    // is not expected; if it were, it is a lost member, not a panic.
                    let Some(b) = self.backends.get_mut(&id) else {
                        return Err(
                            self.lost(format!("upstream #{id}"), Arc::new(MemberError::Closed))
                        );
                    };
                    match b.owed.next_for_client(self.version) {
                        Step::Wait => break,
                        Step::Lost(cause) => {
                            // What was relayed goes out (the bounded close writes what is
                            // queued), then the session ends as a connection loss: no FAILURE,
                            // the outcome is unknown, so the driver must not be told it may
                            // retry (`session::failure`).
                            let who = b.owed.who().to_string();
                            return Err(self.lost(who, cause));
                        }
                        Step::Forward {
                            wire,
                            messages,
                            payload,
                            summary,
                        } => {
                            b.count_to_client(messages, payload);
                            if let Some(summary) = summary {
                                self.slots.pop_front();
                                self.observe(&summary, Some(id));
                            }
                            self.c_tx.push(wire);
                        }
                        Step::Local(m) => {
                            self.slots.pop_front();
                            self.observe(&m, None);
                            self.c_tx.push_frame(Frame::Message(m));
                        }
                    }
                }
            }
        }
        for b in self.backends.values_mut() {
            b.flush_counts();
        }
        // Dead backends with nothing left to report are dropped.
        self.backends
            .retain(|_, b| b.is_alive() || b.owed.is_owed());
        Ok(())
    }

    /// A summary on its way to the client: the session's state follows it, and a member's
    /// FAILURE (from backend `from`) may say something about the member.
    pub(super) fn observe(&mut self, m: &Bytes, from: Option<u64>) {
        if m.get(1) == Some(&sig::RECORD) {
            return;
        }
        let outcome = RawMessage::new(m.clone()).and_then(|raw| {
            if raw.signature() != sig::FAILURE {
                // Every SUCCESS passes here: it is read for `has_more` only.
                return Outcome::of_message(&raw);
            }
            let summary = raw.summary()?;
            if let (Summary::Failure { code, .. }, Some(id)) = (&summary, from) {
                if let Some(address) = self.backends.get(&id).map(|b| b.address.clone()) {
                    self.on_member_failure_code(code, &address);
                }
            }
            Ok(Outcome::of(&summary))
        });
        match outcome {
            Ok(outcome) => {
                if let Err(v) = self.tracker.on_outcome(outcome) {
                    tracing::debug!(violation = %v, "response outside boltgate's model of the session");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "unreadable message from a member, forwarded as is")
            }
        }
    }

    /// The session's error for an upstream connection lost with the client's work on it: as
    /// the plain relay always said it for a server that closed (`UpstreamClosed`), else which
    /// connection and why.
    fn lost(&self, who: String, cause: Arc<MemberError>) -> SessionError {
        if self.routing.is_none() && matches!(*cause, MemberError::Closed) {
            return SessionError::UpstreamClosed {
                outstanding: self.tracker.outstanding(),
            };
        }
        SessionError::UpstreamLost {
            upstream: who,
            cause,
        }
    }

    pub(super) fn on_member_failure_code(&mut self, code: &str, address: &str) {
        let Some(routing) = self.routing else {
            return;
        };
        match code {
            NOT_A_LEADER | FORBIDDEN_ON_READ_ONLY => {
                tracing::info!(
                    member = address,
                    code,
                    "write refused; the routing table will be refreshed"
                );
                routing
                    .registry
                    .on_write_refused(self.unit_db.as_deref(), address);
            }
            crate::status::DATABASE_UNAVAILABLE => {
                routing.registry.on_member_failure(address);
            }
            _ => {}
        }
    }

    pub(super) fn local(&mut self, messages: Vec<RawMessage>) {
        let messages = messages.into_iter().map(RawMessage::into_bytes).collect();
        self.slots.push_back(Slot::Local(messages));
    }

    /// A client request to member `id`: counted as the plain relay counts (messages, bytes,
    /// queries and transactions by mode), against the member.
    pub(super) fn forward(&mut self, id: u64, raw: RawMessage) {
        let kind = RequestKind::of(self.version, raw.signature());
        let Some(b) = self.backends.get_mut(&id) else {
            // Not expected (a Direct session ends once its upstream is gone; members are
            // chosen among those open), but an answer, not a panic.
            return self.answer_without_member();
        };
        if b.translator.is_some() {
            return self.forward_translated(id, raw, kind);
        }
        b.metrics.to_upstream(1, raw.as_bytes().len() as u64);
        count_work(&raw, kind, &mut self.tx_mode, &b.metrics);
        b.send(raw.into_bytes(), Expect::Client);
        self.slots.push_back(Slot::Backend(id));
    }

    /// A client request to a translated session's upstream: as the server's version spells it,
    /// or, when it has no faithful translation, refused by boltgate with a FAILURE naming what
    /// and the versions; what the client pipelined after it is IGNORED until its RESET, as a
    /// server would (the server never saw the request, so it is not FAILED itself).
    fn forward_translated(&mut self, id: u64, raw: RawMessage, kind: RequestKind) {
        if self.refused && !matches!(kind, RequestKind::Reset | RequestKind::Goodbye) {
            return self.local(vec![Response::ignored()]);
        }
        self.refused = false;
        let Some(b) = self.backends.get_mut(&id) else {
            return self.answer_without_member();
        };
        let Some(t) = b.translator.as_mut() else {
            return self.answer_without_member();
        };
        match t.request(&raw) {
            Ok(messages) => {
                let bytes: usize = messages.iter().map(Bytes::len).sum();
                b.metrics.to_upstream(messages.len() as u64, bytes as u64);
                count_work(&raw, kind, &mut self.tx_mode, &b.metrics);
                b.send_translated(messages, Expect::Client);
                self.slots.push_back(Slot::Backend(id));
            }
            Err(e) => {
                let why = t.refusal(&e);
                tracing::debug!(message = sig::name(raw.signature()), error = %e, "request not translatable; refused");
                self.refused = true;
                self.local(vec![Response::failure(self.version, REQUEST_INVALID, &why)]);
            }
        }
    }

    /// To the member running the current unit of work.
    pub(super) fn send_current(&mut self, raw: RawMessage) {
        match self
            .units
            .current()
            .filter(|id| self.backends.contains_key(id))
        {
            Some(id) => self.forward(id, raw),
            None => self.answer_without_member(),
        }
    }

    pub(super) fn answer_without_member(&mut self) {
        let failed = self.tracker.state() == ServerState::Failed;
        if !self.units.fail_without_member(failed) {
            self.local(vec![Response::ignored()]);
        } else {
            self.local(vec![Response::failure(
                self.version,
                REQUEST_INVALID,
                "boltgate: no transaction or result is open on any cluster member",
            )]);
        }
    }
}

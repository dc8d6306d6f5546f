//! What one upstream connection owes the client, decided without I/O: the answers the session
//! expects from it, in order ([`Expect`]), the runs of wire bytes it sent that the client has
//! not had yet, and, once it is gone, why ([`Death`]). The session feeds it what the connection
//! read ([`Owed::arrived`]) and asks for the client's next step ([`Owed::next_for_client`]):
//! forward a slice of a run, answer locally for a request the connection will never answer, wait,
//! or end the client's connection as the server's loss would have.
//!
//! Forwarding copies nothing: a member's messages stay in the run they arrived in, and what the
//! client is owed from it goes out as one slice of that run per step ([`Step::Forward`]: every
//! RECORD up to and including the summary that ends the request).

use std::collections::VecDeque;
use std::sync::Arc;

use boltgate_proto::chunk::ChunkError;
use boltgate_proto::message::{sig, RawMessage, Response, Summary};
use boltgate_proto::scan::{frame_at, Span};
use boltgate_proto::Version;
use bytes::Bytes;
use thiserror::Error;

use crate::status::DATABASE_UNAVAILABLE;

/// An upstream connection that ended while the session still had it.
#[derive(Debug, Error)]
pub enum MemberError {
    #[error("closed the connection")]
    Closed,
    #[error("reading its answers failed: {0}")]
    Read(#[source] ChunkError),
    #[error("writing to it failed: {0}")]
    Write(#[source] std::io::Error),
}

impl MemberError {
    /// What a client is told for a request that never reached the server (the only time
    /// boltgate answers for a lost connection: nothing ran, so a retry is safe).
    pub fn code(&self) -> &'static str {
        DATABASE_UNAVAILABLE
    }
}

/// Whole messages a member sent, in one run of wire bytes, and how far the client has had them
/// (walked again with [`frame_at`] rather than keeping a span per message).
pub struct Inbound {
    run: Bytes,
    next: usize,
}

impl From<Bytes> for Inbound {
    fn from(run: Bytes) -> Self {
        Inbound { run, next: 0 }
    }
}

impl Inbound {
    fn peek(&self) -> Option<Span> {
        frame_at(&self.run, self.next)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The answer goes to the client.
    Client,
    /// boltgate's own request (a replayed HELLO/LOGON, a RESET to another member): consumed.
    Swallow(&'static str),
    /// A client request that never reached the member (its connection was already gone): the
    /// one case where boltgate answers for the member, with a FAILURE whose retry is safe.
    Unsent,
}

/// Why a backend can take no more of the client's requests.
pub struct Death {
    pub why: Why,
    /// The client was told (one FAILURE; what follows it is IGNORED, as a server does).
    pub reported: bool,
}

pub enum Why {
    /// The connection was lost: a client request in flight on it ends the client's connection.
    Lost(Arc<MemberError>),
    /// The member refused boltgate's replayed HELLO/LOGON: the client gets the member's reason.
    Refused { code: &'static str, message: String },
}

impl Death {
    /// The FAILURE the client gets for a request this backend will never answer.
    fn failure(&self, version: Version, who: &str) -> RawMessage {
        match &self.why {
            Why::Lost(e) => {
                Response::failure(version, e.code(), &format!("boltgate lost {who}: {e}"))
            }
            Why::Refused { code, message } => Response::failure(version, code, message),
        }
    }
}

/// What one upstream connection owes the client (see the module docs).
pub struct Owed {
    /// Who, for boltgate's own FAILURE messages ("cluster member host:port").
    who: String,
    expect: VecDeque<Expect>,
    inbox: VecDeque<Inbound>,
    dead: Option<Death>,
}

pub enum Step {
    /// Wire bytes for the client: `messages` messages of `payload` bytes, RECORDs (and NOOPs)
    /// then, when it came, the `summary` ending the request (its payload, for the session to
    /// read).
    Forward {
        wire: Bytes,
        messages: u64,
        payload: u64,
        summary: Option<Bytes>,
    },
    /// A summary boltgate answers for the member (a FAILURE or IGNORED), unchunked.
    Local(Bytes),
    Wait,
    /// The member's connection was lost with this client request in flight: the client's
    /// connection ends too, as it would have direct (the outcome is unknown).
    Lost(Arc<MemberError>),
}

impl Owed {
    pub fn new(who: String) -> Owed {
        Owed {
            who,
            expect: VecDeque::new(),
            inbox: VecDeque::new(),
            dead: None,
        }
    }

    /// Who, as boltgate's messages name the connection.
    pub fn who(&self) -> &str {
        &self.who
    }

    /// A request went to the connection (`sent`), or would have but it was already gone.
    pub fn expect(&mut self, expect: Expect, sent: bool) {
        self.expect.push_back(match expect {
            Expect::Client if !sent => Expect::Unsent,
            other => other,
        });
    }

    /// Answers are still owed (to the client or to boltgate).
    pub fn is_owed(&self) -> bool {
        !self.expect.is_empty()
    }

    /// Whole messages the connection sent.
    pub fn arrived(&mut self, run: Inbound) {
        self.inbox.push_back(run);
    }

    pub fn is_alive(&self) -> bool {
        self.dead.is_none()
    }

    pub fn death(&self) -> Option<&Death> {
        self.dead.as_ref()
    }

    /// The connection was lost (the first cause counts).
    pub fn die(&mut self, why: MemberError) {
        if self.dead.is_none() {
            self.dead = Some(Death {
                why: Why::Lost(Arc::new(why)),
                reported: false,
            });
        }
    }

    /// The next span in the inbox, dropping runs already consumed.
    fn peek(&mut self) -> Option<Span> {
        while let Some(front) = self.inbox.front() {
            match front.peek() {
                Some(span) => return Some(span),
                None => {
                    self.inbox.pop_front();
                }
            }
        }
        None
    }

    /// Consumes `span`, which [`Owed::peek`] returned; its payload.
    fn take(&mut self, span: Span) -> Bytes {
        let front = self.inbox.front_mut().expect("peeked");
        front.next = span.end;
        span.payload(&front.run)
    }

    /// What the client gets next from this backend, consuming boltgate's own answers on the way.
    pub fn next_for_client(&mut self, version: Version) -> Step {
        loop {
            match self.expect.front().copied() {
                Some(Expect::Swallow(what)) => {
                    let Some(span) = self.peek() else {
                        if self.dead.is_some() {
                            self.expect.pop_front();
                            continue;
                        }
                        return Step::Wait;
                    };
                    let payload = self.take(span);
                    if span.is_noop() || span.signature == sig::RECORD {
                        continue;
                    }
                    self.expect.pop_front();
                    let summary = RawMessage::new(payload).and_then(|r| r.summary());
                    if let Ok(Summary::Failure { code, message }) = summary {
                        tracing::debug!(upstream = %self.who, what, %code, "member refused boltgate's own request");
                        self.inbox.clear();
                        if self.dead.is_none() {
                            // A replayed HELLO/LOGON refused: the client sees the member's reason.
                            self.dead = Some(Death {
                                why: Why::Refused {
                                    code: crate::status::known(&code),
                                    message,
                                },
                                reported: false,
                            });
                        }
                    }
                }
                Some(Expect::Client) => {
                    if self.peek().is_some() {
                        return self.forward();
                    }
                    let Some(death) = self.dead.as_mut() else {
                        return Step::Wait;
                    };
                    if let Why::Lost(e) = &death.why {
                        return Step::Lost(e.clone());
                    }
                    self.expect.pop_front();
                    let raw = if death.reported {
                        Response::ignored()
                    } else {
                        death.reported = true;
                        death.failure(version, &self.who)
                    };
                    return Step::Local(raw.into_bytes());
                }
                Some(Expect::Unsent) => {
                    self.expect.pop_front();
                    // Unsent only when the backend was already dead (`send`).
                    let raw = match self.dead.as_mut() {
                        Some(d) if d.reported => Response::ignored(),
                        Some(d) => {
                            d.reported = true;
                            d.failure(version, &self.who)
                        }
                        None => Response::failure(
                            version,
                            DATABASE_UNAVAILABLE,
                            "boltgate: the request did not reach the cluster member",
                        ),
                    };
                    return Step::Local(raw.into_bytes());
                }
                None => return Step::Wait,
            }
        }
    }

    /// The client's answer from the front run: every RECORD (and NOOP) up to and including the
    /// first summary, which ends the request, as one slice of the run.
    fn forward(&mut self) -> Step {
        let front = self.inbox.front_mut().expect("peeked");
        let first = front.next;
        let (mut messages, mut payload, mut summary) = (0u64, 0u64, None);
        while let Some(span) = front.peek() {
            front.next = span.end;
            if span.is_noop() {
                continue;
            }
            messages += 1;
            payload += span.payload_len as u64;
            if span.signature != sig::RECORD {
                summary = Some(span.payload(&front.run));
                break;
            }
        }
        let wire = front.run.slice(first..front.next);
        if summary.is_some() {
            self.expect.pop_front();
        }
        Step::Forward {
            wire,
            messages,
            payload,
            summary,
        }
    }
}

#[cfg(test)]
#[path = "owed_tests.rs"]
mod tests;

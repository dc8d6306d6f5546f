//! What one upstream connection owes the client, decided without I/O: the answers the session
//! expects from it, in order ([`Expect`]), the runs of wire bytes it sent that the client has
//! not had yet, and, once it is gone, why ([`Death`]). The session feeds it what the connection
//! read ([`Owed::arrived`]) and asks for the client's next step ([`Owed::next_for_client`]):
//! forward a slice of a run, answer locally for a request the connection will never answer, wait,
//! or end the client's connection as the server's loss would have.
//!
//! Forwarding copies nothing and walks no RECORD: a member's messages stay in the run they
//! arrived in, and what the client is owed from it goes out as one slice of that run per step
//! ([`Step::Forward`]: every RECORD up to and including the summary that ends the request),
//! found from the run's marks ([`boltgate_proto::scan::Mark`]), which the scanner made as it read.

use std::collections::VecDeque;
use std::sync::Arc;

use boltgate_proto::chunk::ChunkError;
use boltgate_proto::message::{RawMessage, Response, Summary};
use boltgate_proto::scan::Run;
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

/// Whole messages a member sent, in one run of wire bytes, and how far the client has had them.
pub struct Inbound {
    run: Run,
    /// Offset of the first byte not yet taken.
    next: usize,
    /// The next mark not yet taken.
    mark: usize,
    /// Messages and payload bytes taken so far.
    messages: u64,
    payload: u64,
}

impl From<Run> for Inbound {
    fn from(run: Run) -> Self {
        Inbound {
            run,
            next: 0,
            mark: 0,
            messages: 0,
            payload: 0,
        }
    }
}

/// Tests hand runs over as plain bytes.
#[cfg(test)]
impl From<Bytes> for Inbound {
    fn from(wire: Bytes) -> Self {
        Run::scan(wire, usize::MAX)
            .expect("a test run of whole frames")
            .into()
    }
}

/// What [`Inbound::take`] took: every frame up to and including the next summary, or to the
/// end of the run when it has none.
struct Taken {
    wire: Bytes,
    messages: u64,
    payload: u64,
    summary: Option<Bytes>,
}

impl Inbound {
    fn is_done(&self) -> bool {
        self.next >= self.run.wire.len()
    }

    fn take(&mut self) -> Taken {
        let first = self.next;
        let (end, messages, payload, summary) = match self.run.marks.get(self.mark) {
            Some(m) => {
                self.mark += 1;
                (
                    m.span.end,
                    m.messages_before + 1,
                    m.payload_before + m.span.payload_len as u64,
                    Some(m.span.payload(&self.run.wire)),
                )
            }
            None => (
                self.run.wire.len(),
                self.run.messages,
                self.run.payload,
                None,
            ),
        };
        let taken = Taken {
            wire: self.run.wire.slice(first..end),
            messages: messages - self.messages,
            payload: payload - self.payload,
            summary,
        };
        (self.next, self.messages, self.payload) = (end, messages, payload);
        taken
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
    /// Who, for boltgate's own FAILURE messages ("cluster member host:port"). Shared: a plain
    /// session's name is made once for the upstream, not formatted per connection.
    who: Arc<str>,
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
    pub fn new(who: Arc<str>) -> Owed {
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

    /// The run at the front of the inbox with something left in it, dropping runs consumed.
    fn front(&mut self) -> Option<&mut Inbound> {
        while self.inbox.front().is_some_and(Inbound::is_done) {
            self.inbox.pop_front();
        }
        self.inbox.front_mut()
    }

    /// What the client gets next from this backend, consuming boltgate's own answers on the way.
    pub fn next_for_client(&mut self, version: Version) -> Step {
        loop {
            match self.expect.front().copied() {
                Some(Expect::Swallow(what)) => {
                    let Some(front) = self.front() else {
                        if self.dead.is_some() {
                            self.expect.pop_front();
                            continue;
                        }
                        return Step::Wait;
                    };
                    // RECORDs (and NOOPs) before the summary are boltgate's too: dropped.
                    let Some(payload) = front.take().summary else {
                        continue;
                    };
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
                    if let Some(front) = self.front() {
                        let taken = front.take();
                        if taken.summary.is_some() {
                            self.expect.pop_front();
                        }
                        return Step::Forward {
                            wire: taken.wire,
                            messages: taken.messages,
                            payload: taken.payload,
                            summary: taken.summary,
                        };
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
}

#[cfg(test)]
#[path = "owed_tests.rs"]
mod tests;

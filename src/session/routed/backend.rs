//! One backend connection of a routed session: the member's socket (its reader and writer), the
//! queue of answers the session expects from it, and its counters.
//!
//! No task per member: the session's one loop drives every member connection of the session
//! ([`Backend::poll_write`], [`Backend::poll_read`]), as it drives its client.
//!
//! Backpressure, member side: requests are queued for the member's socket without waiting
//! ([`Backend::send`]); once a member has [`MEMBER_QUEUE_BYTES`] unwritten, the session stops
//! reading its client until the member has taken some ([`Event::Room`]), so a client that
//! outpaces a member is slowed down by TCP, as in the plain relay. The session keeps reading
//! the members meanwhile: a member blocked writing its answers would otherwise never read again.
//!
//! The other way is bounded too: a member is read a run at a time (one read of at most the read
//! buffer's size, [`crate::session::wire`]) and only while the client's queue has room, so an
//! [`Backend::inbox`] holds about one run (units of work never overlap, so only the current
//! member has much to say).
//!
//! Forwarding copies nothing: a member's messages stay in the run they arrived in, and what the
//! client is owed from it goes out as one slice of that run per step ([`Step::Forward`]: every
//! RECORD up to and including the summary that ends the request).

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use crate::session::wire::{WireReader, WireWriter};
use boltgate_proto::chunk::Frame;
use boltgate_proto::message::{sig, RawMessage, Response, Summary};
use boltgate_proto::scan::{frame_at, Span};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use tokio::io::{ReadHalf, WriteHalf};

use super::super::failure::DATABASE_UNAVAILABLE;
use super::error::MemberError;
use crate::metrics::SessionMetrics;
use crate::net::Stream;

const UPSTREAM_READ_CAPACITY: usize = 64 * 1024;
/// Unwritten bytes queued for one member before the session stops reading its client.
pub const MEMBER_QUEUE_BYTES: usize = 64 * 1024;

/// What a member connection did ([`Backend::poll_write`], [`Backend::poll_read`]).
pub enum Event {
    Run(Inbound),
    Closed(MemberError),
    /// A member the client was waiting for took enough of its queue: read the client again.
    Room,
}

/// Whole messages a member sent, in one run of wire bytes, and how far the client has had them
/// (walked again with [`frame_at`] rather than keeping a span per message).
pub struct Inbound {
    run: Bytes,
    next: usize,
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
    fn failure(&self, version: Version, address: &str) -> RawMessage {
        match &self.why {
            Why::Lost(e) => Response::failure(
                version,
                e.code(),
                &format!("boltgate lost cluster member {address}: {e}"),
            ),
            Why::Refused { code, message } => Response::failure(version, code, message),
        }
    }
}

pub struct Backend {
    pub address: String,
    rx: WireReader<ReadHalf<Stream>>,
    tx: WireWriter<WriteHalf<Stream>>,
    /// The member's side ended (clean close or error): nothing more will be read.
    read_done: bool,
    pub expect: VecDeque<Expect>,
    pub inbox: VecDeque<Inbound>,
    pub dead: Option<Death>,
    pub metrics: SessionMetrics,
    /// Messages and bytes sent to the client since the counters were last updated.
    to_client: (u64, u64),
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.flush_counts();
    }
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

impl Backend {
    /// A backend on the connection to `address` (`rest`: bytes already read past the handshake).
    pub fn new(
        address: String,
        stream: Stream,
        rest: BytesMut,
        max_message_size: usize,
        metrics: SessionMetrics,
    ) -> Backend {
        let (r, w) = tokio::io::split(stream);
        Backend {
            address,
            rx: WireReader::new(r, rest, max_message_size, UPSTREAM_READ_CAPACITY),
            tx: WireWriter::new(w),
            read_done: false,
            expect: VecDeque::new(),
            inbox: VecDeque::new(),
            dead: None,
            metrics,
            to_client: (0, 0),
        }
    }

    /// Queues `message` for the member without waiting (see the module docs).
    pub fn send(&mut self, message: Bytes, expect: Expect) {
        let queued = self.dead.is_none();
        if queued {
            self.tx.push_frame(Frame::Message(message));
        }
        self.expect.push_back(match expect {
            Expect::Client if !queued => Expect::Unsent,
            other => other,
        });
    }

    /// Whether the member has so much unwritten that the client must wait.
    pub fn is_blocked(&self) -> bool {
        self.dead.is_none() && self.tx.queued() >= MEMBER_QUEUE_BYTES
    }

    /// Writes what is queued for the member. Ready only for what the session must act on: the
    /// connection failed, or the client may be read again ([`Event::Room`]).
    pub fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.dead.is_some() || self.tx.queued() == 0 {
            return Poll::Pending;
        }
        let blocked = self.is_blocked();
        if let Poll::Ready(Err(e)) = self.tx.poll_flush(cx) {
            return Poll::Ready(Event::Closed(MemberError::Write(e)));
        }
        if blocked && !self.is_blocked() {
            return Poll::Ready(Event::Room);
        }
        Poll::Pending
    }

    /// The member's next run, or how its side ended. A member whose writes failed is still
    /// read: what it sent before it went (a FAILURE saying why) reaches the client.
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.read_done {
            return Poll::Pending;
        }
        let ended = match ready!(self.rx.poll_next_run(cx, || {})) {
            Ok(Some(run)) => return Poll::Ready(Event::Run(Inbound { run, next: 0 })),
            Ok(None) => MemberError::Closed,
            Err(e) => MemberError::Read(e),
        };
        self.read_done = true;
        Poll::Ready(Event::Closed(ended))
    }

    /// Writes what is queued (GOODBYE included) and shuts the connection down: the end of the
    /// session (bounded by the caller).
    pub async fn close(&mut self) {
        if self.dead.is_none() {
            let _ = self.tx.flush().await;
        }
        let _ = self.tx.shutdown().await;
    }

    pub fn die(&mut self, why: MemberError) {
        if self.dead.is_none() {
            self.dead = Some(Death {
                why: Why::Lost(Arc::new(why)),
                reported: false,
            });
        }
    }

    pub fn is_alive(&self) -> bool {
        self.dead.is_none()
    }

    /// `messages` messages of `bytes` payload went from this member to the client (counted in
    /// batches).
    pub fn count_to_client(&mut self, messages: u64, bytes: u64) {
        self.to_client.0 += messages;
        self.to_client.1 += bytes;
    }

    pub fn flush_counts(&mut self) {
        let (messages, bytes) = std::mem::take(&mut self.to_client);
        if messages > 0 {
            self.metrics.to_client(messages, bytes);
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

    /// Consumes `span`, which [`Backend::peek`] returned; its payload.
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
                        tracing::debug!(member = %self.address, what, %code, "member refused boltgate's own request");
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
                        death.failure(version, &self.address)
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
                            d.failure(version, &self.address)
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
mod tests {
    use super::*;
    use boltgate_proto::chunk::ChunkCodec;
    use futures_util::StreamExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::FramedRead;

    /// A member that does not read: its queue fills past [`MEMBER_QUEUE_BYTES`] and the backend
    /// says the client must wait; once the member reads, the backend says so ([`Event::Room`])
    /// and everything arrives, in order.
    #[tokio::test(flavor = "current_thread")]
    async fn a_member_that_does_not_read_blocks_the_backend_then_gets_everything_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (member, _) = accepted.unwrap();
        let metrics = crate::metrics::Metrics::new().session("m:1");
        let mut b = Backend::new(
            "m:1".into(),
            Stream::Plain(client.unwrap()),
            BytesMut::new(),
            1 << 20,
            metrics,
        );
        // Far more than the socket buffers hold, so the member's not reading shows.
        let total = 20_000;
        for i in 0..total {
            let m = Response::failure(Version::V5_4, "X.Y", &format!("{i:0>200}")).into_bytes();
            b.send(m, Expect::Client);
        }
        // Write what the sockets take; the rest stays queued while the member does not read.
        let progress = std::future::poll_fn(|cx| match b.poll_write(cx) {
            Poll::Ready(Event::Closed(e)) => panic!("{e}"),
            Poll::Ready(_) => Poll::Pending,
            Poll::Pending => Poll::Ready(()),
        });
        progress.await;
        assert!(
            b.is_blocked(),
            "a member that does not read blocks the client"
        );

        let reader = tokio::spawn(async move {
            let mut rx = FramedRead::new(member, ChunkCodec::new(1 << 20));
            let mut got = Vec::new();
            while got.len() < total {
                match rx.next().await {
                    Some(Ok(Frame::Message(m))) => got.push(m),
                    Some(Ok(Frame::Noop)) => {}
                    other => panic!("{other:?}"),
                }
            }
            got
        });
        // The backend says when the client may be read again, then the rest goes out.
        let event = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            std::future::poll_fn(|cx| b.poll_write(cx)),
        )
        .await
        .expect("room once the member reads");
        assert!(matches!(event, Event::Room), "room, not an end");
        assert!(!b.is_blocked());
        b.tx.flush().await.unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("every message arrives")
            .unwrap();
        for (i, m) in got.iter().enumerate() {
            let summary = RawMessage::new(m.clone()).unwrap().summary().unwrap();
            let Summary::Failure { message, .. } = summary else {
                panic!("{summary:?}")
            };
            assert_eq!(message, format!("{i:0>200}"), "in order");
        }
    }
}

//! One backend connection of a routed session: a reader task and a writer task around the
//! member's socket, the queue of answers the session expects from it, and its counters.
//!
//! Backpressure, member side: the writer task takes frames from a bounded channel
//! ([`MEMBER_QUEUE`] messages). [`Backend::send`] never waits (the session is one loop and must
//! keep taking the members' answers while a member is slow to read, or a member blocked writing
//! its answers would never read again: a deadlock); a message the channel has no room for goes to
//! [`Backend::overflow`], and while any backend has overflow the session stops reading the
//! client and waits for room instead ([`Backend::room`]). So what one client can queue for a
//! member is at most the channel plus one batch of the client's already-read messages, and a
//! client that outpaces a member is slowed down by TCP, as in the plain relay.
//!
//! The other way is bounded too: readers hand over runs of whole messages, each one read of at
//! most the read buffer's size ([`crate::session::wire`]), through a bounded channel, and the
//! session writes what it can to the client before it takes the next, so an [`Backend::inbox`]
//! holds about one run (units of work never overlap, so only the current member has much to say).
//!
//! Forwarding copies nothing: a member's messages stay in the run they arrived in, and what the
//! client is owed from it goes out as one slice of that run per step ([`Step::Forward`]: every
//! RECORD up to and including the summary that ends the request).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::session::buffers;
use crate::session::wire::WireReader;
use boltgate_proto::chunk::{ChunkCodec, Frame};
use boltgate_proto::message::{sig, RawMessage, Response, Summary};
use boltgate_proto::scan::{frame_at, Span};
use boltgate_proto::Version;
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;

use super::super::failure::DATABASE_UNAVAILABLE;
use super::error::MemberError;
use crate::metrics::SessionMetrics;
use crate::net::Stream;

/// As in the plain relay: fewer, fuller writes.
const WRITE_BOUNDARY: usize = 64 * 1024;
const UPSTREAM_READ_CAPACITY: usize = 64 * 1024;
/// Messages queued for one member's writer before the session stops reading its client.
pub const MEMBER_QUEUE: usize = 256;

/// Room for one message in a writer's channel, or the writer is gone.
pub type Permit = Result<mpsc::OwnedPermit<Frame>, mpsc::error::SendError<()>>;
pub type Room = Pin<Box<dyn Future<Output = Permit> + Send>>;

pub enum Event {
    Run(u64, Inbound),
    Closed(u64, MemberError),
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
    tx: mpsc::Sender<Frame>,
    /// Messages the writer's channel had no room for, in order (see the module docs).
    overflow: VecDeque<Frame>,
    pub expect: VecDeque<Expect>,
    pub inbox: VecDeque<Inbound>,
    pub dead: Option<Death>,
    reader: tokio::task::AbortHandle,
    pub metrics: SessionMetrics,
    /// Messages and bytes sent to the client since the counters were last updated.
    to_client: (u64, u64),
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.flush_counts();
        // The writer task ends (and shuts the socket down) when `tx` is dropped.
        self.reader.abort();
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
    /// Starts the reader and writer tasks of a connection to `address` (`rest`: bytes already
    /// read past the handshake).
    pub fn spawn(
        id: u64,
        address: String,
        stream: Stream,
        rest: BytesMut,
        max_message_size: usize,
        events: mpsc::Sender<Event>,
        metrics: SessionMetrics,
    ) -> Backend {
        let codec = || ChunkCodec::new(max_message_size);
        let (r, w) = tokio::io::split(stream);
        let mut rx = WireReader::new(r, rest, max_message_size, UPSTREAM_READ_CAPACITY);
        let mut wtx = buffers::lazy(FramedWrite::new(w, codec()));
        wtx.set_backpressure_boundary(WRITE_BOUNDARY);
        let reader_events = events.clone();
        let reader = tokio::spawn(async move {
            let events = reader_events;
            loop {
                let event = match rx.next_run(|| {}).await {
                    Ok(Some(run)) => Event::Run(id, Inbound { run, next: 0 }),
                    Ok(None) => Event::Closed(id, MemberError::Closed),
                    Err(e) => Event::Closed(id, MemberError::Read(e)),
                };
                let last = matches!(event, Event::Closed(..));
                if events.send(event).await.is_err() || last {
                    return;
                }
            }
        })
        .abort_handle();
        let (tx, mut wrx) = mpsc::channel::<Frame>(MEMBER_QUEUE);
        tokio::spawn(async move {
            let mut idle = buffers::Idle::new();
            while let Some(f) =
                buffers::or_idle(wrx.recv(), &mut idle, || buffers::release_write(&mut wtx)).await
            {
                let mut result = wtx.feed(f).await;
                while result.is_ok() {
                    match wrx.try_recv() {
                        Ok(f) => result = wtx.feed(f).await,
                        Err(_) => break,
                    }
                }
                if result.is_ok() {
                    result = SinkExt::<Frame>::flush(&mut wtx).await;
                }
                if let Err(e) = result {
                    let _ = events.send(Event::Closed(id, MemberError::Write(e))).await;
                    return;
                }
            }
            let _ = wtx.get_mut().shutdown().await;
        });
        Backend {
            address,
            tx,
            overflow: VecDeque::new(),
            expect: VecDeque::new(),
            inbox: VecDeque::new(),
            dead: None,
            reader,
            metrics,
            to_client: (0, 0),
        }
    }

    /// Queues `message` for the member without waiting (see the module docs).
    pub fn send(&mut self, message: Bytes, expect: Expect) {
        let mut queued = false;
        if self.dead.is_none() {
            let frame = Frame::Message(message);
            if !self.overflow.is_empty() {
                self.overflow.push_back(frame);
                queued = true;
            } else {
                match self.tx.try_send(frame) {
                    Ok(()) => queued = true,
                    Err(mpsc::error::TrySendError::Full(frame)) => {
                        self.overflow.push_back(frame);
                        queued = true;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        self.die(MemberError::WriterStopped)
                    }
                }
            }
        }
        self.expect.push_back(match expect {
            Expect::Client if !queued => Expect::Unsent,
            other => other,
        });
    }

    /// Whether messages wait for room in the writer's channel.
    pub fn is_blocked(&self) -> bool {
        self.dead.is_none() && !self.overflow.is_empty()
    }

    /// A future that resolves when the writer's channel has room (for [`Backend::on_room`]).
    pub fn room(&self) -> Room {
        Box::pin(self.tx.clone().reserve_owned())
    }

    /// The writer's channel has room: move what waits in the overflow into it.
    pub fn on_room(&mut self, permit: Permit) {
        let Ok(permit) = permit else {
            self.overflow.clear();
            self.die(MemberError::WriterStopped);
            return;
        };
        let Some(first) = self.overflow.pop_front() else {
            return;
        };
        permit.send(first);
        while let Some(frame) = self.overflow.pop_front() {
            if let Err(e) = self.tx.try_send(frame) {
                match e {
                    mpsc::error::TrySendError::Full(frame) => {
                        self.overflow.push_front(frame);
                        return;
                    }
                    mpsc::error::TrySendError::Closed(_) => {
                        self.overflow.clear();
                        self.die(MemberError::WriterStopped);
                        return;
                    }
                }
            }
        }
    }

    pub fn die(&mut self, why: MemberError) {
        if self.dead.is_none() {
            self.overflow.clear();
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

    /// A member that does not read: the channel takes [`MEMBER_QUEUE`] messages, the rest wait
    /// in the overflow (the session then stops reading its client); once the member reads,
    /// everything arrives, in order.
    #[tokio::test(flavor = "current_thread")]
    async fn a_member_that_does_not_read_blocks_the_backend_then_gets_everything_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (member, _) = accepted.unwrap();
        let (events, _events_rx) = mpsc::channel(8);
        let metrics = crate::metrics::Metrics::new().session("m:1");
        let mut b = Backend::spawn(
            0,
            "m:1".into(),
            Stream::Plain(client.unwrap()),
            BytesMut::new(),
            1 << 20,
            events,
            metrics,
        );
        let total = MEMBER_QUEUE + 50;
        // No await in between: the writer task has not run, so nothing has left the channel.
        for i in 0..total {
            let m = Response::failure(Version::V5_4, "X.Y", &i.to_string()).into_bytes();
            b.send(m, Expect::Client);
        }
        assert!(b.is_blocked(), "the 257th message waits in the overflow");
        assert_eq!(b.overflow.len(), total - MEMBER_QUEUE);

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
        while b.is_blocked() {
            let permit = b.room().await;
            b.on_room(permit);
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("every message arrives")
            .unwrap();
        for (i, m) in got.iter().enumerate() {
            let summary = RawMessage::new(m.clone()).unwrap().summary().unwrap();
            let Summary::Failure { message, .. } = summary else {
                panic!("{summary:?}")
            };
            assert_eq!(message, i.to_string(), "in order");
        }
    }
}

//! One backend connection of a routed session: the member's socket (its reader and writer),
//! what it owes the client ([`Owed`], the decisions, in `session::core`), and its counters.
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
//! buffer's size, [`crate::session::wire`]) and only while the client's queue has room, so what a
//! member's [`Owed`] holds is about one run (units of work never overlap, so only the current
//! member has much to say).

use std::task::{ready, Context, Poll};

use boltgate_proto::chunk::Frame;
use bytes::{Bytes, BytesMut};

use super::pool_policy::Key;
use crate::metrics::SessionMetrics;
use crate::net::split::{ReadHalf, WriteHalf};
use crate::net::Stream;
use crate::pool::Ticket;
use crate::session::core::{Expect, Inbound, MemberError, Owed};
use crate::session::translate::Translator;
use crate::session::wire::{WireReader, WireWriter};
use std::sync::Arc;

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

pub struct Backend {
    pub address: String,
    rx: WireReader<ReadHalf>,
    tx: WireWriter<WriteHalf>,
    /// The member's side ended (clean close or error): nothing more will be read.
    read_done: bool,
    /// What this connection owes the client (the decisions, without I/O).
    pub owed: Owed,
    pub metrics: Arc<SessionMetrics>,
    /// Messages and bytes sent to the client since the counters were last updated.
    to_client: (u64, u64),
    /// Set for a translated session (`session::translate`): the member's runs are rewritten
    /// for the client before [`Owed`] sees them, and the session translates requests
    /// ([`Backend::send_translated`]). `None` keeps the byte-forwarding fast path.
    pub translator: Option<Translator>,
    /// Pool policy: the connection's place in the pool while a unit of work has it.
    pub pooled: Option<Ticket<Key, Box<Backend>>>,
    /// Pool policy: the last unit ended outside READY; RESET before the next one.
    pub dirty: bool,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.flush_counts();
    }
}

impl Backend {
    /// A backend on the connection to `address` (`rest`: bytes already read past the handshake).
    pub fn new(
        who: Arc<str>,
        address: String,
        stream: Stream,
        rest: BytesMut,
        max_message_size: usize,
        metrics: Arc<SessionMetrics>,
    ) -> Backend {
        let (r, w) = stream.into_split();
        Backend {
            owed: Owed::new(who),
            address,
            rx: WireReader::new(r, rest, max_message_size, UPSTREAM_READ_CAPACITY),
            tx: WireWriter::new(w),
            read_done: false,
            metrics,
            to_client: (0, 0),
            translator: None,
            pooled: None,
            dirty: false,
        }
    }

    /// One client request translated into `messages` (HELLO + LOGON for one HELLO, say), which
    /// owe the client one answer: the translator merges the server's answers into one.
    pub fn send_translated(&mut self, messages: Vec<Bytes>, expect: Expect) {
        let sent = self.owed.is_alive();
        if sent {
            for m in messages {
                self.tx.push_frame(Frame::Message(m));
            }
        }
        self.owed.expect(expect, sent);
    }

    /// Queues `message` for the member without waiting (see the module docs).
    pub fn send(&mut self, message: Bytes, expect: Expect) {
        let sent = self.owed.is_alive();
        if sent {
            self.tx.push_frame(Frame::Message(message));
        }
        self.owed.expect(expect, sent);
    }

    /// A NOOP (a client's keep-alive), which expects no answer.
    pub fn send_noop(&mut self) {
        if self.owed.is_alive() {
            self.tx.push_frame(Frame::Noop);
        }
    }

    /// Whether the member has so much unwritten that the client must wait.
    pub fn is_blocked(&self) -> bool {
        self.owed.is_alive() && self.tx.queued() >= MEMBER_QUEUE_BYTES
    }

    /// Writes what is queued for the member. Ready only for what the session must act on: the
    /// connection failed, or the client may be read again ([`Event::Room`]).
    pub fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if !self.owed.is_alive() || self.tx.is_flushed() {
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
        let ended = match ready!(self.rx.poll_next_run(cx)) {
            Ok(Some(run)) => match self.translator.as_mut() {
                None => return Poll::Ready(Event::Run(run.into())),
                Some(t) => match t.answers(run) {
                    Ok(run) => return Poll::Ready(Event::Run(run.into())),
                    Err(e) => MemberError::Read(e),
                },
            },
            Ok(None) => MemberError::Closed,
            Err(e) => MemberError::Read(e),
        };
        self.read_done = true;
        Poll::Ready(Event::Closed(ended))
    }

    /// Writes what is queued (GOODBYE included) and shuts the connection down: the end of the
    /// session (bounded by the caller).
    pub async fn close(&mut self) {
        self.flush().await;
        let _ = self.tx.shutdown().await;
    }

    /// Writes what is queued, errors ignored (the session is ending; a broken connection is
    /// closed next either way).
    pub async fn flush(&mut self) {
        if self.owed.is_alive() {
            let _ = self.tx.flush().await;
        }
    }

    /// After a GOODBYE the caller queued and flushed ([`Backend::flush`]): waits (up to
    /// `within`) for the server to close first, then closes. Whichever side closes first keeps
    /// the connection in TIME_WAIT for a minute, and on the connecting side that holds a local
    /// port for the server's address: closing first, boltgate would hold one port per session
    /// ended and run out of ports to an upstream (about 28,000 in Linux's default range, with no
    /// reuse off loopback) at a few hundred sessions a second. Neo4j closes on GOODBYE, and its
    /// TIME_WAIT holds no port.
    pub async fn close_after_server(&mut self, within: std::time::Duration) {
        if self.owed.is_alive() {
            let _ = tokio::time::timeout(within, self.until_server_closes()).await;
        }
        let _ = self.tx.shutdown().await;
    }

    /// Reads (and drops) what the server still sends until its side of the connection ends.
    async fn until_server_closes(&mut self) {
        while !self.read_done {
            if let Event::Closed(_) = std::future::poll_fn(|cx| self.poll_read(cx)).await {
                break;
            }
        }
    }

    /// The client reset its connection: pass the reset on to this one (`SO_LINGER` 0, no FIN),
    /// as a blind relay does, when it owes nothing and has nothing unwritten (a reset drops
    /// what the socket has not sent). Neither side then keeps the connection in TIME_WAIT. True
    /// when the connection ends with a reset once the session drops it.
    pub fn reset_if_idle(&mut self) -> bool {
        if self.owed.is_owed() || !self.tx.is_flushed() {
            return false;
        }
        self.tx.io_mut().reset()
    }

    /// Pool policy: [`Backend::close`], then waits (up to `within`) for the server to close
    /// its side (its TCP FIN under TLS too), so the server has seen this connection go before
    /// another takes its place.
    pub async fn close_and_wait(&mut self, within: std::time::Duration) {
        let wait = async {
            self.close().await;
            self.until_server_closes().await;
            std::future::poll_fn(|cx| self.rx.io_mut().poll_transport_eof(cx)).await;
        };
        let _ = tokio::time::timeout(within, wait).await;
    }

    pub fn is_alive(&self) -> bool {
        self.owed.is_alive()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::chunk::ChunkCodec;
    use boltgate_proto::message::{RawMessage, Response, Summary};
    use boltgate_proto::Version;
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
            "cluster member m:1".into(),
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

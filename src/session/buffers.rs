//! Buffers that are large while data flows and given back when a connection goes quiet.
//!
//! Why: a relay reads the upstream side into a 64 KiB buffer and lets a client's write buffer
//! grow to 64 KiB, so a result streams in few, full writes. Kept for the life of a session,
//! that is over 128 KiB resident for every connection that ever streamed a large result, while
//! most of a driver's pooled connections sit idle. So a read side that has had no data for a
//! whole [`RELEASE_AFTER`] period releases its read buffer (and, through its caller, the write
//! buffer its data goes to) when they hold no data, and the read buffer gets its full size back
//! as soon as data returns. The cost is one small extra read after each idle period.
//!
//! The clock ([`Idle`]) is one timer per read loop, checked once a period while data flows and
//! disarmed once the buffers are released, not a timer per wait: arming a fresh timer on every
//! wait costs a timer-wheel insertion (and often a wake-up of the parked runtime thread) per
//! request, which showed as latency.

use std::future::Future;
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::time::{Instant, Sleep};
use tokio_util::codec::{Decoder, FramedRead};

/// How long a read side must have had no data before its buffers count as idle (it is released
/// between one and two periods after the last data). Long against the gaps inside a stream, short
/// against a pooled connection's idle time.
pub const RELEASE_AFTER: Duration = Duration::from_millis(500);

/// Read buffer for a client connection while it sends: tokio-util's default.
pub const CLIENT_READ_CAPACITY: usize = 8 * 1024;

/// A client's first read buffer: requests are small, and most connections of a driver's pool
/// only log in and wait. It grows as the client needs (the codec reserves as messages demand),
/// and after an idle release comes back at [`CLIENT_READ_CAPACITY`] when data arrives.
pub const CLIENT_FIRST_READ: usize = 512;

/// The idle clock of one read loop.
pub struct Idle {
    sleep: Pin<Box<Sleep>>,
    /// The timer runs (it is disarmed once the buffers are released).
    armed: bool,
    /// Data arrived during the current period.
    active: bool,
    /// The read buffer was released and must get its size back when data arrives.
    released: bool,
    /// The waker the timer holds since a poll left it pending. Polled again with it, the timer
    /// has nothing new to register, so whether it fired is one atomic load
    /// ([`Sleep::is_elapsed`]) instead of a poll through the timer: a read loop looks at its
    /// clock each time its read is pending, about four times per query.
    waiting: Option<Waker>,
}

impl Idle {
    pub fn new() -> Idle {
        Idle {
            sleep: Box::pin(tokio::time::sleep(RELEASE_AFTER)),
            armed: true,
            active: false,
            released: false,
            waiting: None,
        }
    }

    fn rearm(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + RELEASE_AFTER);
        self.armed = true;
        self.active = false;
        self.waiting = None;
    }

    /// Data arrived: the period counts as active (a disarmed clock starts again).
    pub fn data(&mut self) {
        if self.armed {
            self.active = true;
        } else {
            self.rearm();
        }
    }

    /// Whether the clock runs (select on [`Idle::tick`] only then).
    pub fn armed(&self) -> bool {
        self.armed
    }

    /// Ready at the end of the current period; then call [`Idle::fired`].
    pub fn poll_tick(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if let Some(waker) = &self.waiting {
            if waker.will_wake(cx.waker()) {
                return match self.sleep.is_elapsed() {
                    true => Poll::Ready(()),
                    false => Poll::Pending,
                };
            }
        }
        let polled = self.sleep.as_mut().poll(cx);
        self.waiting = polled.is_pending().then(|| cx.waker().clone());
        polled
    }

    /// The period ended: true when it had no data, the caller then releases its buffers (the
    /// clock stops until data returns); false starts another period.
    pub fn fired(&mut self) -> bool {
        if self.active {
            self.rearm();
            false
        } else {
            self.armed = false;
            self.waiting = None;
            true
        }
    }
}

impl Default for Idle {
    fn default() -> Self {
        Idle::new()
    }
}

/// The next item from `rx`. When a whole [`RELEASE_AFTER`] period passes without data, `rx`'s
/// read buffer is released if empty and `on_idle` runs (tests observe the release through it);
/// the read buffer gets `capacity` again when data arrives.
pub async fn next<R, C>(
    rx: &mut FramedRead<R, C>,
    capacity: usize,
    idle: &mut Idle,
    mut on_idle: impl FnMut(),
) -> Option<Result<C::Item, C::Error>>
where
    R: AsyncRead + Unpin,
    C: Decoder,
{
    loop {
        let tick = std::future::poll_fn(|cx| {
            if let Poll::Ready(next) = rx.poll_next_unpin(cx) {
                return Poll::Ready(Some(next));
            }
            match idle.armed && idle.poll_tick(cx).is_ready() {
                true => Poll::Ready(None),
                false => Poll::Pending,
            }
        })
        .await;
        match tick {
            Some(next) => {
                if idle.released {
                    restore(rx.read_buffer_mut(), capacity);
                    idle.released = false;
                }
                idle.data();
                return next;
            }
            None => {
                if idle.fired() {
                    idle.released = release(rx.read_buffer_mut());
                    on_idle();
                }
            }
        }
    }
}

/// Replaces an empty buffer that holds an allocation by one that holds none.
fn release(buf: &mut BytesMut) -> bool {
    if buf.is_empty() {
        *buf = BytesMut::new();
        return true;
    }
    false
}

/// Gives a released read buffer its working size again, keeping what it holds. A fresh
/// allocation rather than `reserve`: `BytesMut` sizes later allocations by the capacity it was
/// created with, and a released buffer was created with none.
fn restore(buf: &mut BytesMut, capacity: usize) {
    if buf.capacity() >= capacity {
        return;
    }
    let mut fresh = BytesMut::with_capacity(capacity.max(buf.len()));
    fresh.extend_from_slice(buf);
    *buf = fresh;
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::chunk::{ChunkCodec, Frame};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake};
    use tokio::io::AsyncWriteExt;

    #[derive(Default)]
    struct Woken(AtomicBool);

    impl Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// The clock skips the timer when polled again by the task it already wakes; polled by
    /// another (a pooled connection's reader lent to another session), it must wake that one.
    #[tokio::test(start_paused = true)]
    async fn the_clock_wakes_the_task_that_polled_it_last() {
        let (first, second) = (Arc::new(Woken::default()), Arc::new(Woken::default()));
        let (w1, w2) = (Waker::from(first.clone()), Waker::from(second.clone()));
        let mut idle = Idle::new();
        assert!(idle.poll_tick(&mut Context::from_waker(&w1)).is_pending());
        assert!(idle.poll_tick(&mut Context::from_waker(&w1)).is_pending());
        assert!(idle.poll_tick(&mut Context::from_waker(&w2)).is_pending());
        tokio::time::sleep(RELEASE_AFTER * 2).await;
        assert!(second.0.load(Ordering::SeqCst), "the last poller is woken");
        assert!(!first.0.load(Ordering::SeqCst), "the earlier one is not");
        assert!(idle.poll_tick(&mut Context::from_waker(&w2)).is_ready());
        assert!(idle.fired(), "no data came: the period ends idle");
    }

    #[tokio::test]
    async fn an_idle_read_releases_its_buffer_and_gets_it_back_with_data() {
        let (client, mut server) = tokio::io::duplex(256 * 1024);
        let mut rx = FramedRead::with_capacity(client, ChunkCodec::default(), 64 * 1024);
        let big = vec![0xB0u8; 40_000];
        let mut out = BytesMut::new();
        boltgate_proto::chunk::encode_message(&big, &mut out).unwrap();
        server.write_all(&out).await.unwrap();
        let mut released = false;
        let mut idle = Idle::new();
        let got = next(&mut rx, 64 * 1024, &mut idle, || released = true).await;
        assert!(matches!(got, Some(Ok(Frame::Message(m))) if m.len() == 40_000));
        assert!(!released, "data was there: nothing is released");

        // Nothing more arrives: after RELEASE_AFTER the buffer goes, and comes back with data.
        let (tx, rx_done) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(async move {
            let mut idled = false;
            let got = next(&mut rx, 64 * 1024, &mut idle, || idled = true).await;
            let _ = tx.send(());
            (got, idled, rx)
        });
        tokio::time::sleep(RELEASE_AFTER * 3).await;
        server.write_all(&[0, 1, 0xB0, 0, 0]).await.unwrap();
        rx_done.await.unwrap();
        let (got, idle, rx) = reader.await.unwrap();
        assert!(idle);
        assert!(matches!(got, Some(Ok(Frame::Message(m))) if m.as_ref() == [0xB0]));
        assert!(rx.read_buffer().capacity() >= 32 * 1024, "full size again");
    }
}

//! Keeping runtime workers awake, so that an arriving packet finds one polling instead of
//! asleep in `epoll_wait`. Waking a sleeping CPU is what a proxied round trip mostly costs where
//! wake-ups are slow (a VM's idle vCPU): on this project's 2-vCPU machine, pinned, a 1-row
//! result's first RECORD took 112 µs through boltgate against 18 µs direct, and 66 µs with busy
//! polling (README, Performance).
//!
//! Two ways, both tasks that yield: a yielded task is run again after its worker has polled the
//! I/O driver without waiting, so a worker holding one does not sleep.
//! - `boltgate.runtime.busy_polling=true`: a spinner per worker, always (HAProxy's
//!   `busy-polling`). A CPU per worker, always busy.
//! - `boltgate.runtime.busy_polling_window=<duration>`: a spinner per worker that runs only for
//!   that long after a session last wrote to a socket (a request forwarded, an answer sent),
//!   and then waits for the next write. An answer that comes back within the window finds the
//!   workers awake, as Linux's `net.core.busy_poll` does for a socket read; an idle proxy
//!   sleeps. The price is up to the window in CPU, per worker, per write that is not followed
//!   by more work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// `boltgate.runtime.busy_polling`: a task per worker that does nothing but yield. (Work
/// stealing may leave two spinners on one worker for a while; each still keeps its worker
/// polling.)
pub fn always(workers: usize) {
    for _ in 0..workers {
        tokio::spawn(async {
            loop {
                tokio::task::yield_now().await;
            }
        });
    }
    tracing::info!(
        workers,
        "busy polling: the runtime's workers poll for I/O without sleeping, a CPU each \
         (boltgate.runtime.busy_polling=true)"
    );
}

/// The windowed spinners' state, shared by every session of the process.
struct Window {
    /// The window, in nanoseconds.
    length: u64,
    /// Nanoseconds since `epoch` until which the spinners run.
    until: AtomicU64,
    /// Set when a spinner waits on `wake`, so that the next write wakes them all (a busy proxy
    /// pays an atomic load per write, not a notification).
    waiting: AtomicBool,
    wake: Notify,
    epoch: Instant,
}

static WINDOW: OnceLock<Window> = OnceLock::new();

impl Window {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// `boltgate.runtime.busy_polling_window`: starts a spinner per worker (a zero window starts
/// nothing). Call once, inside the runtime. Every worker spins during the window, not one: a
/// worker asleep in `epoll_wait` holds tokio's I/O driver, and a spinning worker that cannot
/// take the driver polls nothing, so the arriving answer would wake the sleeper after all.
pub fn windowed(length: Duration, workers: usize) {
    if length.is_zero() {
        return;
    }
    let window = WINDOW.get_or_init(|| Window {
        length: length.as_nanos() as u64,
        until: AtomicU64::new(0),
        waiting: AtomicBool::new(false),
        wake: Notify::new(),
        epoch: Instant::now(),
    });
    for _ in 0..workers {
        tokio::spawn(spin(window));
    }
    tracing::info!(
        window = ?length,
        workers,
        "busy polling after every write to a socket, for the window \
         (boltgate.runtime.busy_polling_window)"
    );
}

async fn spin(window: &'static Window) {
    loop {
        while window.now() < window.until.load(Ordering::Relaxed) {
            tokio::task::yield_now().await;
        }
        // Registered before `waiting` is set and `until` looked at again, so a write in
        // between (whose `notify_waiters` wakes only registered waiters) is not missed.
        let notified = window.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        window.waiting.store(true, Ordering::SeqCst);
        if window.now() < window.until.load(Ordering::SeqCst) {
            continue;
        }
        notified.await;
    }
}

/// A session wrote to a socket: an answer or the next request may follow soon. Keeps the
/// spinners running for the window from now (nothing when no window is set).
#[inline]
pub fn wrote() {
    if let Some(window) = WINDOW.get() {
        // SeqCst with a spinner's store of `waiting` and load of `until`: each side sees the
        // other's store, so a write never leaves the spinners asleep inside its window.
        window
            .until
            .store(window.now() + window.length, Ordering::SeqCst);
        if window.waiting.load(Ordering::SeqCst) && window.waiting.swap(false, Ordering::SeqCst) {
            window.wake.notify_waiters();
        }
    }
}

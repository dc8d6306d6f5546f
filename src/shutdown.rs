//! Graceful shutdown, in observable phases.
//!
//! `Running → Draining → Closing → Stopped`. Draining stops the accept loop and asks every
//! session to close at its next idle moment (READY, nothing outstanding: between transactions,
//! never mid-stream). When the grace period ends, Closing closes whatever is still open.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Draining,
    Closing,
    Stopped,
}

/// Shared by the listener and every session; cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    drain: CancellationToken,
    close: CancellationToken,
    /// Set just before `drain` and `close` are cancelled: read without a lock by
    /// [`PhaseWatch`] (a token's own `is_cancelled` locks a mutex every session shares).
    drain_flag: Arc<AtomicBool>,
    close_flag: Arc<AtomicBool>,
    tracker: TaskTracker,
    phase: Arc<watch::Sender<Phase>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown {
            drain: CancellationToken::new(),
            close: CancellationToken::new(),
            drain_flag: Arc::new(AtomicBool::new(false)),
            close_flag: Arc::new(AtomicBool::new(false)),
            tracker: TaskTracker::new(),
            phase: Arc::new(watch::channel(Phase::Running).0),
        }
    }

    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// A receiver that sees every phase change (for readiness reporting).
    pub fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Where sessions are spawned, so shutdown can wait for them.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Resolves when draining has begun: stop accepting; close sessions once idle.
    pub async fn draining(&self) {
        self.drain.cancelled().await
    }

    pub fn is_draining(&self) -> bool {
        self.drain_flag.load(Ordering::Acquire)
    }

    /// Resolves when every session must close now, idle or not.
    pub async fn closing(&self) {
        self.close.cancelled().await
    }

    /// [`Shutdown::draining`] for a loop that waits on it at every turn (a session's `select!`).
    pub fn watch_draining(&self) -> PhaseWatch {
        PhaseWatch::new(&self.drain, &self.drain_flag)
    }

    /// [`Shutdown::closing`] for a loop that waits on it at every turn.
    pub fn watch_closing(&self) -> PhaseWatch {
        PhaseWatch::new(&self.close, &self.close_flag)
    }

    fn set(&self, phase: Phase) {
        self.phase.send_replace(phase);
        tracing::info!(?phase, "shutdown phase");
    }

    /// Begin draining (idempotent).
    pub fn begin_drain(&self) {
        if !self.drain.is_cancelled() {
            self.set(Phase::Draining);
            self.drain_flag.store(true, Ordering::Release);
            self.drain.cancel();
        }
    }

    /// Close every session now (idempotent); implies draining.
    pub fn close_now(&self) {
        self.begin_drain();
        if !self.close.is_cancelled() {
            self.set(Phase::Closing);
            self.close_flag.store(true, Ordering::Release);
            self.close.cancel();
        }
    }

    /// The whole sequence: drain, wait up to `grace` for sessions to finish, then close the
    /// rest and wait for them to go (bounded: a session that ignores close is not waited for
    /// forever).
    pub async fn drain_and_wait(&self, grace: Duration) {
        self.begin_drain();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::info!(
                open = self.tracker.len(),
                grace_secs = grace.as_secs_f64(),
                "grace period over; closing the remaining sessions"
            );
            self.close_now();
            let _ = tokio::time::timeout(Duration::from_secs(5), self.tracker.wait()).await;
        }
        self.set(Phase::Stopped);
    }
}

/// A shutdown phase awaited at every turn of a busy loop. `cancelled()` made afresh at each turn
/// registers with the token's waiter list and leaves it again, and even a kept one locks that
/// list at each poll (so does `is_cancelled`): one mutex every session shares, taken several
/// times per forwarded query. This one registers once, and afterwards reads an atomic flag set
/// before the token is cancelled while the waker stays the same (a task's waker does), so a
/// turn of the loop takes no lock.
pub struct PhaseWatch {
    flag: Arc<AtomicBool>,
    wait: Pin<Box<WaitForCancellationFutureOwned>>,
    registered: Option<Waker>,
}

impl PhaseWatch {
    fn new(token: &CancellationToken, flag: &Arc<AtomicBool>) -> PhaseWatch {
        PhaseWatch {
            wait: Box::pin(token.clone().cancelled_owned()),
            flag: flag.clone(),
            registered: None,
        }
    }
}

impl Future for PhaseWatch {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let polled = self.wait.as_mut().poll(cx);
        self.registered = Some(cx.waker().clone());
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_sessions_end_within_grace_busy_ones_are_closed() {
        let shutdown = Shutdown::new();
        let mut phases = shutdown.watch();
        // A session that leaves as soon as draining starts.
        let s = shutdown.clone();
        shutdown.tracker().spawn(async move { s.draining().await });
        // A session that only leaves when told to close.
        let s = shutdown.clone();
        shutdown.tracker().spawn(async move { s.closing().await });
        assert_eq!(shutdown.phase(), Phase::Running);
        shutdown.drain_and_wait(Duration::from_millis(50)).await;
        assert_eq!(shutdown.phase(), Phase::Stopped);
        assert!(shutdown.tracker().is_empty());
        assert!(phases.has_changed().unwrap());
        assert_eq!(*phases.borrow_and_update(), Phase::Stopped);
    }

    #[tokio::test]
    async fn a_phase_watch_polled_at_every_turn_wakes_its_task_when_the_phase_comes() {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let (seen, mut events) = tokio::sync::mpsc::unbounded_channel::<&str>();
        let session = tokio::spawn(async move {
            let mut draining = s.watch_draining();
            let mut closing = s.watch_closing();
            let mut drained = false;
            loop {
                tokio::select! {
                    _ = &mut closing => return,
                    _ = &mut draining, if !drained => {
                        drained = true;
                        let _ = seen.send("draining");
                    }
                    // Other work wakes the task: the watches are polled again without it.
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {
                        let _ = seen.send("turn");
                    }
                }
            }
        });
        for _ in 0..5 {
            assert_eq!(events.recv().await, Some("turn"));
        }
        shutdown.begin_drain();
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while events.recv().await != Some("draining") {}
        });
        waited.await.expect("the session saw draining");
        assert!(!session.is_finished(), "draining does not close");
        shutdown.close_now();
        tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("the session saw closing")
            .unwrap();
        while let Ok(e) = events.try_recv() {
            assert_eq!(e, "turn", "draining is seen once");
        }
    }

    #[tokio::test]
    async fn a_phase_watch_alone_wakes_an_idle_task() {
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let session = tokio::spawn(async move { s.watch_closing().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!session.is_finished());
        shutdown.close_now();
        tokio::time::timeout(Duration::from_secs(5), session)
            .await
            .expect("woken")
            .unwrap();
    }
}

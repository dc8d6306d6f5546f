//! Graceful shutdown, in observable phases.
//!
//! `Running → Draining → Closing → Stopped`. Draining stops the accept loop and asks every
//! session to close at its next idle moment (READY, nothing outstanding: between transactions,
//! never mid-stream). When the grace period ends, Closing closes whatever is still open.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
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
        self.drain.is_cancelled()
    }

    /// Resolves when every session must close now, idle or not.
    pub async fn closing(&self) {
        self.close.cancelled().await
    }

    fn set(&self, phase: Phase) {
        self.phase.send_replace(phase);
        tracing::info!(?phase, "shutdown phase");
    }

    /// Begin draining (idempotent).
    pub fn begin_drain(&self) {
        if !self.drain.is_cancelled() {
            self.set(Phase::Draining);
            self.drain.cancel();
        }
    }

    /// Close every session now (idempotent); implies draining.
    pub fn close_now(&self) {
        self.begin_drain();
        if !self.close.is_cancelled() {
            self.set(Phase::Closing);
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
}

//! Shutdown state shared by the server loop and the handlers: whether the listener is draining
//! (then `/ready` answers 503 so endpoints stop routing here), and how many events are in
//! flight (so the drain can wait for them). Upstream's sink has neither: Go's
//! `http.Server.Shutdown` waits for open connections only, and a goroutine left running after a
//! client hung up is cut when the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Cheap handle (an `Arc`) on the drain state; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// Woken when `in_flight` drops to zero.
    idle: Notify,
}

impl Drain {
    /// Marks the listener as draining: from now on [`Drain::is_draining`] is true (`/ready`
    /// answers 503). Events are still served.
    pub fn start(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Whether a shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Events being processed now (body read, triggers running, answer not yet produced),
    /// including those whose sender has hung up.
    pub fn events_in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// Counts one event in flight until the returned guard is dropped.
    pub(crate) fn event(&self) -> EventGuard {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        EventGuard {
            drain: self.clone(),
        }
    }

    /// Completes when no event is in flight.
    pub async fn events_finished(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a guard dropped in between still wakes us.
            notified.as_mut().enable();
            if self.events_in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One event in flight; see [`Drain::event`].
#[derive(Debug)]
pub(crate) struct EventGuard {
    drain: Drain,
}

impl Drop for EventGuard {
    fn drop(&mut self) {
        if self.drain.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.drain.inner.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_finished_waits_for_the_last_guard() {
        let drain = Drain::default();
        let first = drain.event();
        let second = drain.event();
        assert_eq!(drain.events_in_flight(), 2);
        let waiter = tokio::spawn({
            let drain = drain.clone();
            async move { drain.events_finished().await }
        });
        drop(first);
        assert!(!waiter.is_finished());
        drop(second);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken in time")
            .expect("no panic");
        assert_eq!(drain.events_in_flight(), 0);
    }

    #[test]
    fn start_marks_draining() {
        let drain = Drain::default();
        assert!(!drain.is_draining());
        drain.clone().start();
        assert!(drain.is_draining());
    }
}

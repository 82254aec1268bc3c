//! Budgets for work in flight, decided before a body is read: a cap on events in flight
//! (`--max-inflight-events`) and on the body bytes they hold (`--max-inflight-body-bytes`).
//! Upstream has neither (reference §11 item 7): a few large bodies could take the pod's memory.
//!
//! A declared `Content-Length` is reserved whole before the first byte is read; a chunked body
//! is counted as its chunks arrive. Past either budget the request is refused at once (503 with
//! `Retry-After`), never queued: a sender retries later, and memory stays bounded by the budget
//! (plus the trees built for authenticated events, see [`crate::event::Event::body`]).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default `--max-inflight-events`.
pub const DEFAULT_MAX_INFLIGHT_EVENTS: usize = 1024;
/// Default `--max-inflight-body-bytes`: 100 MiB.
pub const DEFAULT_MAX_INFLIGHT_BODY_BYTES: usize = 100 * 1024 * 1024;

/// Which budget refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Overloaded {
    /// `--max-inflight-events` events are in flight.
    #[error("too many events in flight ({0}); retry later")]
    Events(usize),
    /// The bodies in flight would exceed `--max-inflight-body-bytes`.
    #[error("too many body bytes in flight (budget {0} bytes); retry later")]
    BodyBytes(usize),
}

/// The shared budgets; cheap to clone.
#[derive(Debug, Clone)]
pub struct InflightLimits {
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_events: usize,
    max_bytes: usize,
}

impl Default for InflightLimits {
    /// [`DEFAULT_MAX_INFLIGHT_EVENTS`] and [`DEFAULT_MAX_INFLIGHT_BODY_BYTES`].
    fn default() -> Self {
        Self::new(DEFAULT_MAX_INFLIGHT_EVENTS, DEFAULT_MAX_INFLIGHT_BODY_BYTES)
    }
}

impl InflightLimits {
    /// Budgets of `max_events` events and `max_bytes` body bytes (each at least 1; at most
    /// tokio's semaphore limit, `usize::MAX >> 3`).
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        let max_events = max_events.clamp(1, Semaphore::MAX_PERMITS);
        let max_bytes = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            events: Arc::new(Semaphore::new(max_events)),
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_events,
            max_bytes,
        }
    }

    /// Events in flight now.
    pub fn events_in_flight(&self) -> usize {
        self.max_events - self.events.available_permits()
    }

    /// Admits one event whose body declares `declared` bytes (`None`: chunked, counted as it
    /// arrives with [`Admission::reserve`]).
    ///
    /// # Errors
    /// [`Overloaded`] when either budget is spent.
    pub fn admit(&self, declared: Option<u64>) -> Result<Admission, Overloaded> {
        let event = Arc::clone(&self.events)
            .try_acquire_owned()
            .map_err(|_| Overloaded::Events(self.max_events))?;
        let mut admission = Admission {
            _event: event,
            bytes: None,
            reserved: 0,
            limits: self.clone(),
        };
        if let Some(declared) = declared {
            let declared = usize::try_from(declared).map_err(|_| self.too_many_bytes())?;
            admission.reserve(declared)?;
        }
        Ok(admission)
    }

    fn too_many_bytes(&self) -> Overloaded {
        Overloaded::BodyBytes(self.max_bytes)
    }
}

/// One admitted event: its place in the event budget and the body bytes reserved for it, all
/// given back when dropped (when the event has finished).
#[derive(Debug)]
pub struct Admission {
    _event: OwnedSemaphorePermit,
    bytes: Option<OwnedSemaphorePermit>,
    reserved: usize,
    limits: InflightLimits,
}

impl Admission {
    /// Makes sure `total` body bytes are reserved for this event (no-op when they already are).
    ///
    /// # Errors
    /// [`Overloaded::BodyBytes`] when the byte budget cannot cover them.
    pub fn reserve(&mut self, total: usize) -> Result<(), Overloaded> {
        if total <= self.reserved {
            return Ok(());
        }
        let more =
            u32::try_from(total - self.reserved).map_err(|_| self.limits.too_many_bytes())?;
        let permit = Arc::clone(&self.limits.bytes)
            .try_acquire_many_owned(more)
            .map_err(|_| self.limits.too_many_bytes())?;
        match &mut self.bytes {
            Some(held) => held.merge(permit),
            None => self.bytes = Some(permit),
        }
        self.reserved = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_past_the_cap_are_refused_until_one_ends() {
        let limits = InflightLimits::new(2, 1000);
        let a = limits.admit(Some(10)).unwrap();
        let _b = limits.admit(None).unwrap();
        assert_eq!(limits.events_in_flight(), 2);
        assert_eq!(limits.admit(Some(1)).unwrap_err(), Overloaded::Events(2));
        drop(a);
        assert!(limits.admit(Some(1)).is_ok());
    }

    #[test]
    fn bytes_are_reserved_declared_or_as_they_arrive() {
        let limits = InflightLimits::new(10, 100);
        let declared = limits.admit(Some(60)).unwrap();
        assert_eq!(
            limits.admit(Some(41)).unwrap_err(),
            Overloaded::BodyBytes(100)
        );
        let mut chunked = limits.admit(None).unwrap();
        chunked.reserve(30).unwrap();
        chunked.reserve(40).unwrap();
        assert_eq!(chunked.reserve(41).unwrap_err(), Overloaded::BodyBytes(100));
        drop(declared);
        chunked.reserve(100).unwrap();
        drop(chunked);
        assert!(limits.admit(Some(100)).is_ok(), "everything given back");
    }
}

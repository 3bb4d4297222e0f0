//! The client's clock: milliseconds since the client was made, from `tokio::time`, so the
//! pure policies of `tc_core::transport` get a monotonic [`MonotonicMillis`] and tests may pause time.
//!
//! Token lifetimes are counted on this clock from the moment the creation request was sent,
//! never from the server's `created_at`: a skewed wall clock on either side cannot make the
//! client use a token the server considers expired.

use crate::config::duration;
use tc_core::transport::MonotonicMillis;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> MonotonicMillis {
        self.millis_at(Instant::now())
    }

    pub fn millis_at(&self, instant: Instant) -> MonotonicMillis {
        let elapsed = instant.saturating_duration_since(self.start);
        MonotonicMillis::from_millis(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn instant_at(&self, at: MonotonicMillis) -> Instant {
        self.start + duration(at.as_millis())
    }
}

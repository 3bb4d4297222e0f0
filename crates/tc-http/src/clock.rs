//! The client's clock: milliseconds since the client was made, from `tokio::time`, so the
//! pure policies of `tc_core::transport` get a monotonic [`MonotonicMillis`] and tests may pause time.
//!
//! Token lifetimes are counted on this clock from the moment the creation request was sent,
//! never from the server's `created_at`: a skewed wall clock on either side cannot make the
//! client use a token the server considers expired.
//!
//! Processes that share an account through a coordinator need one clock between them: the
//! wall clock, read once at the start and carried forward by the monotonic clock, so it follows
//! paused time in tests and never jumps while the client runs.

use crate::config::duration;
use std::time::SystemTime;
use tc_core::transport::MonotonicMillis;
use tc_core::EpochMillis;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct CallClock {
    start: Instant,
    /// The wall clock at `start`, in milliseconds since 1970.
    wall_start: i64,
}

impl CallClock {
    pub fn start() -> CallClock {
        let wall_start = EpochMillis::try_from(SystemTime::now()).map_or(0, EpochMillis::as_i64);
        CallClock {
            start: Instant::now(),
            wall_start,
        }
    }

    /// The wall-clock time of `at`, for a coordinator; the earliest representable time if the
    /// machine's clock is set before 1973.
    pub fn wall_at(&self, at: MonotonicMillis) -> EpochMillis {
        EpochMillis::try_from(self.wall_start.saturating_add(at.as_millis()))
            .unwrap_or(EpochMillis::MIN)
    }

    /// The instant of this clock at wall-clock time `at`.
    pub fn monotonic_at(&self, at: EpochMillis) -> MonotonicMillis {
        MonotonicMillis::from_millis(at.as_i64().saturating_sub(self.wall_start))
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

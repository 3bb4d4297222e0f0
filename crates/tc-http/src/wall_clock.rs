//! The wall clock of the push and the relay: a [`Clock`] they are given, so tests can drive it.
//! (The client's own calls run on tokio's monotonic clock, `clock.rs`.)

use tc_core::EpochMillis;

/// Tells the push or the relay what time it is. They read wall time through nothing else:
/// records are validated and checked for expiry against it, and the journal's and the store's
/// timestamps come from it.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> EpochMillis;
}

/// The computer's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> EpochMillis {
        // A computer whose clock reads a time before 1973 is broken beyond what a push can
        // work around; reading it as the earliest time a record can hold makes every window
        // look open, and the API, whose clock is right, answers for each record.
        EpochMillis::try_from(std::time::SystemTime::now()).unwrap_or(EpochMillis::MIN)
    }
}

/// Tokio's clock, read as wall time: the time it started at, plus how far the clock of the
/// runtime it was made in has moved since.
///
/// In a test that pauses time (`#[tokio::test(start_paused = true)]`) the engine then sees the
/// virtual time that `tc-http` and `tc-sim` see: a rate-limit wait, a token's lifetime and a
/// record's window all pass on one clock, and a push through an hour of traffic takes
/// milliseconds. Outside paused time it is a monotonic clock that starts at `origin`.
///
/// ```
/// use std::time::Duration;
/// use tc_core::EpochMillis;
/// use tc_http::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = TokioClock::starting_at(EpochMillis::try_from(1_900_000_000_000).unwrap())?;
/// tokio::time::sleep(Duration::from_secs(90)).await;
/// assert_eq!(clock.now(), EpochMillis::try_from(1_900_000_090_000).unwrap());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: EpochMillis,
    started: tokio::time::Instant,
    runtime: tokio::runtime::Handle,
}

impl TokioClock {
    /// A clock that reads `origin` now and follows the current runtime's clock; an error
    /// outside a Tokio runtime. `TokioClock::starting_at(SystemClock.now())` starts at the wall
    /// time, so that records valid for the wall clock are valid for this one too.
    pub fn starting_at(origin: EpochMillis) -> Result<TokioClock, tokio::runtime::TryCurrentError> {
        let runtime = tokio::runtime::Handle::try_current()?;
        Ok(TokioClock {
            origin,
            started: tokio::time::Instant::now(),
            runtime,
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> EpochMillis {
        // The engine reads the clock on its reader thread too, outside the runtime, where tokio
        // would answer with the computer's clock: entering the runtime makes it answer with its
        // own, paused or not.
        let _inside = self.runtime.enter();
        let moved = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.origin.plus(moved)
    }
}

/// Any `Fn() -> EpochMillis` is a clock: `|| EpochMillis::try_from(1_900_000_000_000).unwrap()` in a test.
impl<F> Clock for F
where
    F: Fn() -> EpochMillis + Send + Sync + 'static,
{
    fn now(&self) -> EpochMillis {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_reader_thread_sees_the_runtimes_virtual_time() {
        let clock =
            TokioClock::starting_at(EpochMillis::try_from(1_900_000_000_000).unwrap()).unwrap();
        tokio::time::sleep(Duration::from_millis(86_400_001)).await;
        let on_thread = clock.clone();
        let seen = std::thread::spawn(move || on_thread.now()).join().unwrap();
        assert_eq!(seen, EpochMillis::try_from(1_900_086_400_001).unwrap());
        assert_eq!(clock.now(), seen);
    }

    #[test]
    fn outside_a_runtime_there_is_no_tokio_clock() {
        assert!(TokioClock::starting_at(EpochMillis::MIN).is_err());
    }
}

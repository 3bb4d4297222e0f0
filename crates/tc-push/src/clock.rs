//! The one way the engine learns the time: a [`Clock`] it is given, so tests can drive it.

use tc_core::Millis;

/// Tells the engine what time it is. The engine reads time through nothing else: records are
/// validated and checked for expiry against it, and the journal's timestamps come from it.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The computer's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Any `Fn() -> Millis` is a clock: `|| Millis(1_900_000_000_000)` in a test.
impl<F> Clock for F
where
    F: Fn() -> Millis + Send + Sync + 'static,
{
    fn now(&self) -> Millis {
        self()
    }
}

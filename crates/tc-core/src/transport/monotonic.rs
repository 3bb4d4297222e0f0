//! The transport's time: a monotonic millisecond count that a driver starts where it likes.

use std::fmt;

/// A point on a monotonic clock, in milliseconds since an origin the driver chose (`tc-http`
/// counts from its own start; a test counts from zero).
///
/// It is a different type from [`EpochMillis`](crate::EpochMillis), the wall-clock time of call
/// records, so that the one can never be handed where the other is meant: the transport's
/// machines need a clock that never jumps, the rules need the calendar.
///
/// ```
/// use tc_core::transport::MonotonicMillis;
///
/// let sent = MonotonicMillis::from_millis(1_000);
/// assert_eq!(sent.plus(60_000).as_millis(), 61_000);
/// assert_eq!(sent.plus(60_000).millis_since(sent), 60_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MonotonicMillis(pub(crate) i64);

impl MonotonicMillis {
    /// The driver's origin.
    pub const ZERO: MonotonicMillis = MonotonicMillis(0);

    /// The instant `ms` milliseconds after the driver's origin.
    pub const fn from_millis(ms: i64) -> MonotonicMillis {
        MonotonicMillis(ms)
    }

    /// Milliseconds since the driver's origin.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// `self + ms` (`ms` may be negative), saturating instead of overflowing.
    pub const fn plus(self, ms: i64) -> MonotonicMillis {
        MonotonicMillis(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`; negative when `earlier` is later.
    pub const fn millis_since(self, earlier: MonotonicMillis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for MonotonicMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

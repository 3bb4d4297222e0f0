//! What the engine tells its caller while it works, for progress displays and tests.

use crate::codes::OutcomeStatus;
use serde::Serialize;
use tc_core::Code;

/// One thing that happened during a push. Sent to the [`Observer`] as it happens; every batch
/// event comes after the journal line that records it is on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A row passed validation and waits for its batch.
    Valid { row: u64 },
    /// A row is invalid and will not be sent.
    Rejected { row: u64, line: u64, code: Code },
    /// A valid row's window closed while it waited for the rate limit: not sent.
    Expired { row: u64, line: u64 },
    /// A batch is in the journal, synced. Its request leaves once it has a token and its
    /// place in the rate window: until [`Event::BatchLeaving`], nothing of it was sent.
    BatchJournaled { seq: u64, rows: usize },
    /// A batch's request is about to leave, and the journal says so, synced: from here on the
    /// batch may be stored.
    BatchLeaving { seq: u64 },
    /// A batch's outcome is in the journal, synced.
    BatchAnswered {
        seq: u64,
        rows: usize,
        status: OutcomeStatus,
    },
    /// The push stops after the requests in flight.
    Stopping { reason: StopReason },
}

/// Why a push stops before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// [`crate::StopHandle::stop`] was called (Ctrl-C, SIGTERM).
    Asked,
    /// A failure every later batch would meet too (see [`tc_engine::CallFailure::halt`]).
    EveryBatchWouldFail,
}

/// Receives the engine's events. Called from the engine's tasks and its reader thread: keep it
/// quick. Any `Fn(&Event) + Send + Sync` closure is an observer, and `()` ignores everything.
pub trait Observer: Send + Sync + 'static {
    fn on_event(&self, event: &Event);
}

impl<F> Observer for F
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event) {
        self(event)
    }
}

impl Observer for () {
    fn on_event(&self, _event: &Event) {}
}

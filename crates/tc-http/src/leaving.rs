//! [`Leaving`]: the caller is told the moment before a create call's request first leaves, the
//! one moment after which its batch may be stored. A caller that journals its batches writes
//! it down there, so that after a crash it knows which batches never left (and may be sent
//! again whatever the guarantee) from those that may be stored.

use crate::stop::StopSignal;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What [`Leaving::about_to_leave`] returns.
pub type LeavingFuture<'a> = Pin<Box<dyn Future<Output = Departure> + Send + 'a>>;

/// Told once per call, just before its first request leaves: after its token is had and its
/// place in the rate window (and in a coordinator's shared window) is taken, with nothing left
/// to wait for. The request waits for the returned future. Token requests are not announced:
/// they cannot store a batch.
pub trait Leaving: Send + Sync {
    /// The call's first request is about to leave. [`Departure::Cancel`] ends the call
    /// instead, as its [`StopSignal`] would: nothing of it was sent.
    fn about_to_leave(&self) -> LeavingFuture<'_>;
}

/// Whether an announced request may leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Departure {
    /// Send it.
    Go,
    /// Do not send it (the caller could not write down that it leaves); the call ends with
    /// the error a stopped call ends with.
    Cancel,
}

/// How a call to [`crate::Client::create_call_records_with`] goes: the latest instant a request
/// may leave, the caller's stop signal, and whom to tell before the first request leaves. The
/// default waits as long as the rate limit needs, cannot be stopped and tells no one.
///
/// ```
/// use std::time::Duration;
/// use tc_http::{CreateOptions, StopSignal};
///
/// let stop = StopSignal::new();
/// let options = CreateOptions::new()
///     .send_by(Duration::from_secs(600))
///     .stop(&stop);
/// # drop(options);
/// ```
#[derive(Clone, Default)]
pub struct CreateOptions {
    pub(crate) send_by: Option<Duration>,
    pub(crate) stop: Option<StopSignal>,
    pub(crate) leaving: Option<Arc<dyn Leaving>>,
}

impl CreateOptions {
    /// The defaults: no deadline, no stop signal, no one told.
    pub fn new() -> CreateOptions {
        CreateOptions::default()
    }

    /// No attempt leaves later than `send_by` from the call's start: past it the call ends
    /// with [`crate::Error::SendByPassed`]. Give the time until the batch's earliest `ends_at`.
    pub fn send_by(mut self, send_by: Duration) -> CreateOptions {
        self.send_by = Some(send_by);
        self
    }

    /// Once `stop` is given, the call ends at once if it is still waiting.
    pub fn stop(mut self, stop: &StopSignal) -> CreateOptions {
        self.stop = Some(stop.clone());
        self
    }

    /// `leaving` is told before the call's first request leaves, and the request waits for it.
    pub fn on_leaving(mut self, leaving: Arc<dyn Leaving>) -> CreateOptions {
        self.leaving = Some(leaving);
        self
    }
}

impl fmt::Debug for CreateOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateOptions")
            .field("send_by", &self.send_by)
            .field("stop", &self.stop.as_ref().map(StopSignal::is_stopped))
            .field("leaving", &self.leaving.is_some())
            .finish()
    }
}

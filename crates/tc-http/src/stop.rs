//! [`StopSignal`]: ends a caller's calls that are still waiting, when the caller stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Tells the calls made with it ([`Client::create_call_records_until`]) that their caller is
/// stopping. A call still waiting (for a token, its rate window, a backoff or the coordinator)
/// then ends at once with an error that says nothing of it was sent, unless an earlier attempt
/// may have been stored; a request already on the wire is answered first. Cheap to clone;
/// clones share the signal, and once stopped it stays stopped.
///
/// [`Client::create_call_records_until`]: crate::Client::create_call_records_until
#[derive(Debug, Clone, Default)]
pub struct StopSignal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    notify: Notify,
}

impl StopSignal {
    /// A signal not yet given.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Gives the signal: every waiting call made with it ends, and so does every later one.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether the signal was given.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Completes once the signal is given.
    pub(crate) async fn stopped(&self) {
        let notified = self.inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_stopped() {
            return;
        }
        notified.await;
    }
}

//! Ctrl-C (SIGINT) and SIGTERM stop the push the same way: after the requests in flight, with
//! the journal and the report written. A second signal quits at once: every batch in flight is
//! journaled, so a resumed push re-sends it, flagged.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use tc_push::StopHandle;

/// Which signal stopped the push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Interrupt,
    Terminate,
}

/// Listens for the signals until disarmed.
pub struct Listener {
    task: tokio::task::JoinHandle<()>,
    received: Arc<AtomicU8>,
}

const NONE: u8 = 0;
const INTERRUPT: u8 = 1;
const TERMINATE: u8 = 2;

/// Starts listening. The handlers are installed before this returns, so a signal that comes
/// as soon as the push starts is not lost.
pub fn stop_on_signal(stop: StopHandle) -> Listener {
    let received = Arc::new(AtomicU8::new(NONE));
    let signals = Signals::install();
    let task = tokio::spawn(listen(signals, stop, received.clone()));
    Listener { task, received }
}

impl Listener {
    /// Stops listening: a later signal is ignored (the push is over, the report being written).
    pub fn disarm(&self) {
        self.task.abort();
    }

    pub fn received(&self) -> Option<Received> {
        match self.received.load(Ordering::SeqCst) {
            INTERRUPT => Some(Received::Interrupt),
            TERMINATE => Some(Received::Terminate),
            _ => None,
        }
    }
}

async fn listen(mut signals: Signals, stop: StopHandle, received: Arc<AtomicU8>) {
    let first = signals.next().await;
    received.store(first, Ordering::SeqCst);
    eprintln!("\ntcbatch: stopping after the requests in flight (Ctrl-C again to quit at once)");
    stop.stop();
    let second = signals.next().await;
    std::process::exit(if second == TERMINATE {
        super::EXIT_TERMINATED
    } else {
        super::EXIT_INTERRUPTED
    });
}

/// SIGINT and SIGTERM streams. One that cannot be installed is waited on forever.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    #[cfg(not(unix))]
    fn install() -> Signals {
        Signals {}
    }

    #[cfg(unix)]
    async fn next(&mut self) -> u8 {
        async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = recv(&mut self.interrupt) => INTERRUPT,
            () = recv(&mut self.terminate) => TERMINATE,
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> u8 {
        match tokio::signal::ctrl_c().await {
            Ok(()) => INTERRUPT,
            Err(_) => std::future::pending().await,
        }
    }
}

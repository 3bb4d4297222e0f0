//! Stopping a server (`serve`, `mock`) on Ctrl-C or SIGTERM.

use std::future::Future;

/// Completes on Ctrl-C or SIGTERM, printing `message`. The handlers are installed when this is
/// called, not when it is first awaited: a server calls it before it says it is ready, so a
/// signal sent as soon as that line is read stops it cleanly instead of killing it.
pub fn stop_signal(message: &'static str) -> impl Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
    };
    async move {
        #[cfg(unix)]
        match handlers {
            Ok((mut terminate, mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        eprintln!("tcbatch: {message}");
    }
}

//! [`Simulator`]: a running simulator on a local socket, and how to stop it.

use crate::config::SimConfig;
use crate::routes;
use crate::state::{Account, Counters, StoredRecord};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`Simulator::shutdown`] lets in-flight requests finish before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A simulator serving on a local port. Dropping it stops the server too, without waiting.
pub struct Simulator {
    shared: Arc<Account>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Simulator {
    /// Serves on `127.0.0.1` on a free port; see [`Simulator::base_url`].
    pub async fn start(config: SimConfig) -> io::Result<Simulator> {
        Self::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Serves on `addr` (port 0 picks a free port). Refuses a config whose limits or fault
    /// rates make no sense, rather than behaving oddly later.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> io::Result<Simulator> {
        check(&config).map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Account::new(config));
        let app = routes::router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender stops the server as well as a sent signal.
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "simulator listening");
        Ok(Simulator {
            shared,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Every record stored so far, in arrival order, duplicates included.
    pub fn stored_records(&self) -> Vec<StoredRecord> {
        self.shared.stored_records()
    }

    /// The number of records stored so far (duplicates included), as a `watch` that changes
    /// after every stored batch: a test waits for a store as an event instead of polling.
    pub fn watch_stored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.watch_stored()
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), then returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// Serves until Ctrl-C (or SIGTERM on Unix), then shuts down; returns early if the server
    /// fails.
    pub async fn serve_forever(self) {
        self.serve_until(stop_signal()).await;
    }

    /// Serves until `stop` completes, then shuts down; returns early if the server fails. A
    /// program that announces it is ready passes a stop future whose signal handlers are already
    /// installed, so a signal sent right after the announcement stops it cleanly.
    pub async fn serve_until(mut self, stop: impl std::future::Future<Output = ()>) {
        let Some(mut task) = self.task.take() else {
            return;
        };
        tokio::select! {
            result = &mut task => {
                if let Ok(Err(err)) = result {
                    tracing::error!(%err, "simulator stopped");
                }
                return;
            }
            _ = stop => tracing::info!("stop signal received, shutting down"),
        }
        self.task = Some(task);
        self.shutdown().await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn check(config: &SimConfig) -> Result<(), String> {
    for (name, rate) in [
        ("fail_rate", config.fail_rate),
        ("drop_rate", config.drop_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return Err(format!("{name} is a probability from 0 to 1, got {rate}"));
        }
    }
    if config.rate_per_minute == 0 || config.token_creations_per_window == 0 {
        return Err("rate_per_minute and token_creations_per_window must be at least 1".to_owned());
    }
    let windows = [
        config.rate_window,
        config.token_creation_window,
        config.token_ttl,
    ];
    if windows.iter().any(Duration::is_zero) {
        return Err(
            "rate_window, token_creation_window and token_ttl must be longer than 0".to_owned(),
        );
    }
    Ok(())
}

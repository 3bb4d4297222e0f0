//! [`Relay`]: the store, the group-commit writer, the batch sender and the delivery poller,
//! started together and stopped together.

use crate::config::RelayConfig;
use crate::error::Error;
use crate::health::{Health, LogNow, Reason, RepeatedError};
use crate::metrics::Metrics;
use crate::status::{RecordId, TrackedRecord};
use crate::store::{Committed, Lease, Post, RecordChange, Recovered, Reply, Sharing, Store};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tc_core::transport::{MonotonicMillis, WindowLimit};
use tc_core::{RawRecord, Validator};
use tc_engine::batcher::Queued;
use tc_engine::{Batcher, BatcherConfig, Halt};
use tc_http::Clock;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Records one group commit takes at most; the rest wait for the next fsync.
const MAX_GROUP_RECORDS: usize = 50_000;

/// Posts waiting for the writer; past it, handlers wait for room (the queue limit applies
/// before this matters).
const PENDING_POSTS: usize = 4096;

pub(crate) struct Job {
    pub post: Post,
    pub reply: oneshot::Sender<Result<Reply, Error>>,
}

/// What the HTTP handlers, the writer, the sender and the poller share.
pub(crate) struct Shared {
    pub config: RelayConfig,
    pub client: tc_http::Client,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn Store>,
    /// The queued records in memory, and when the next batch is due (tc-engine's).
    pub batcher: Mutex<Batcher<crate::status::RecordId>>,
    /// Woken when records join the queue, or sending halts.
    pub queue_changed: Notify,
    /// Records of posts handed to the writer and not yet committed.
    pub pending: AtomicUsize,
    pub posts: mpsc::Sender<Job>,
    pub stopping: AtomicBool,
    /// Given when the relay stops: calls still waiting for a token, a window or the API end
    /// at once, their records left queued; a request already out is answered first.
    pub stop: tc_http::StopSignal,
    pub metrics: Metrics,
    /// Whether the last group commit failed, and whether sending is paused and why.
    pub health: Health,
    /// Group commits failing one after another (a full disk): logged once, then counted.
    pub commit_errors: RepeatedError,
    /// The same for batches whose move in the store failed.
    pub batch_errors: RepeatedError,
    /// How this relay shares the account with the other relays of its store.
    pub sharing: Sharing,
    /// Where the relay's monotonic clock starts: tokio's, so a paused test drives it.
    origin: Instant,
}

impl Shared {
    pub fn batcher(&self) -> MutexGuard<'_, Batcher<crate::status::RecordId>> {
        // A panic while the lock was held cannot leave the queue half-changed.
        self.batcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The relay's monotonic clock at `instant`.
    pub fn monotonic(&self, instant: Instant) -> MonotonicMillis {
        let elapsed = instant.saturating_duration_since(self.origin).as_millis();
        MonotonicMillis::from_millis(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    /// The instant of the relay's monotonic clock `at`.
    pub fn instant_at(&self, at: MonotonicMillis) -> Instant {
        self.origin + Duration::from_millis(u64::try_from(at.as_millis()).unwrap_or(0))
    }

    /// Holds sending back as a failure every batch would meet asks, for `reason`.
    pub fn halt(&self, halt: Halt, reason: Reason) {
        self.health.pause(reason);
        self.metrics.error(reason);
        let until = Instant::now() + Duration::from_millis(halt.retry_after_ms());
        self.batcher().hold_until(self.monotonic(until));
        self.queue_changed.notify_one();
    }

    /// Why sending is paused, if it is: a halt no batch has lifted yet while records wait (with
    /// nothing queued, a halt holds nothing back), or the coordinator not answering (nothing
    /// leaves then, not even a batch already cut).
    pub fn sending_paused(&self) -> Option<Reason> {
        let coordinator_down = self.client.coordinator_down();
        if self.health.coordinator(coordinator_down) {
            self.metrics.error(Reason::CoordinatorUnreachable);
        }
        let halted = self.health.snapshot().paused;
        let halted = halted.filter(|_| !self.batcher().is_empty());
        halted.or(coordinator_down.then_some(Reason::CoordinatorUnreachable))
    }

    /// Drops every queued record from memory: they are another relay's now. How many.
    pub fn forget_queue(&self) -> usize {
        let forgotten = self.batcher().clear();
        self.metrics.queue_depth(0);
        forgotten
    }

    /// Records acknowledged or being committed and not yet in a batch.
    pub fn backlog(&self) -> usize {
        self.batcher().len() + self.pending.load(Ordering::Relaxed)
    }

    /// Puts records back in the queue (a batch that must be sent again), keeping their order.
    pub fn requeue(&self, records: Vec<Queued<crate::status::RecordId>>) {
        let mut batcher = self.batcher();
        batcher.requeue(records);
        self.metrics.queue_depth(batcher.len());
        drop(batcher);
        self.queue_changed.notify_one();
    }
}

/// A running relay. Its HTTP side is [`Relay::router`]; [`Relay::serve`] runs it on a
/// listener until a shutdown signal.
pub struct Relay {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    recovered: Recovered,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("config", &self.shared.config)
            .field("recovered", &self.recovered)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Opens the store (creating or migrating it if needed), joins the relays that share it,
    /// takes over what a stopped relay left (its batches in flight by the engine's rule for
    /// unknown outcomes, [`tc_engine::Guarantee`]), loads the queue and starts sending.
    ///
    /// # Errors
    /// The store cannot be opened, is held by another relay (SQLite), was written by a newer
    /// relay, or cannot be read; or other relays send from it and this one would not share the
    /// account with them ([`Error::UnsharedAccount`]).
    pub async fn start(
        config: RelayConfig,
        client: tc_http::Client,
        clock: Arc<dyn Clock>,
    ) -> Result<Relay, Error> {
        let store = crate::store::open(config.store()).await?;
        let sharing = config
            .sharing()
            .unwrap_or(match client.config().coordinator() {
                Some(_) => Sharing::Coordinator,
                None => Sharing::Alone,
            });
        join(store.as_ref(), lease(&config, clock.as_ref()), sharing).await?;
        let change = RecordChange::resumed(config.guarantee());
        let taken = store.take_over(change, clock.now()).await?;
        let (posts, jobs) = mpsc::channel(PENDING_POSTS);
        let batcher = Batcher::new(batcher_config(&config, &client));
        let shared = Arc::new(Shared {
            config,
            client,
            clock,
            store,
            batcher: Mutex::new(batcher),
            queue_changed: Notify::new(),
            pending: AtomicUsize::new(0),
            posts,
            stopping: AtomicBool::new(false),
            stop: tc_http::StopSignal::new(),
            metrics: Metrics::new(),
            health: Health::default(),
            commit_errors: RepeatedError::default(),
            batch_errors: RepeatedError::default(),
            origin: Instant::now(),
            sharing,
        });
        let recovered = taken.recovered;
        load_queue(&shared, taken.queued).await?;
        if !recovered.is_empty() {
            tracing::warn!(
                requeued = recovered.requeued,
                unknown = recovered.unknown,
                "batches were in flight when a relay stopped: their outcome is unknown"
            );
        }
        let (stop, stopped) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(write_posts(Arc::clone(&shared), jobs, stopped.clone())),
            tokio::spawn(crate::sender::run(Arc::clone(&shared), stopped.clone())),
            tokio::spawn(crate::delivery::run(Arc::clone(&shared), stopped.clone())),
            tokio::spawn(crate::lease::run(Arc::clone(&shared), stopped)),
        ];
        Ok(Relay {
            shared,
            stop,
            tasks,
            recovered,
        })
    }

    /// What resuming the store did with the batches the last run left in flight.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// The relay's HTTP API, to serve on a listener of the caller's choosing.
    pub fn router(&self) -> axum::Router {
        crate::api::router(Arc::clone(&self.shared))
    }

    /// Records queued and not yet in a batch.
    pub fn queue_depth(&self) -> usize {
        self.shared.batcher().len()
    }

    /// What the relay knows about one record.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn status(&self, id: RecordId) -> Result<Option<TrackedRecord>, Error> {
        let tracked = self.shared.store.status(id).await?;
        Ok(tracked.map(|tracked| tracked.record))
    }

    /// Serves the API on `listener` until `shutdown` completes; then answers posts and
    /// `/readyz` `503` for the drain ([`RelayConfig::with_drain`]), closes the listener,
    /// finishes the requests in progress and the batches in flight, and returns. What is still
    /// queued stays in the store for the next start.
    ///
    /// `listener` is a tokio `TcpListener` for plain HTTP or a [`crate::TlsListener`] for
    /// HTTPS; both take the same path, so shutdown is the same.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve<L>(
        self,
        listener: L,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error>
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        let shared = Arc::clone(&self.shared);
        let router = self.router();
        // axum stops accepting the moment this future completes, and a refused connection
        // tells a load balancer nothing until its next health check fails. So the relay keeps
        // its listener for the drain, answering 503 to posts and /readyz, before it closes.
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                shared.stopping.store(true, Ordering::SeqCst);
                let drain = shared.config.drain();
                tracing::info!(
                    drain_ms = u64::try_from(drain.as_millis()).unwrap_or(u64::MAX),
                    "stopping: posts and /readyz answer 503 for the drain, then the listener \
                     closes and the requests in progress finish"
                );
                tokio::time::sleep(drain).await;
            })
            .await;
        self.shutdown().await;
        served.map_err(Error::Io)
    }

    /// Stops sending: batches in flight finish, nothing new leaves. Queued records stay in
    /// the store.
    pub async fn shutdown(mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.stop.stop();
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
        // Another relay of the store sends what is still queued without waiting for the
        // lease to lapse.
        if let Err(error) = self.shared.store.leave().await {
            tracing::warn!(%error, "the queue could not be given back; other relays take it when the lease lapses");
        }
    }
}

/// A relay dropped without [`Relay::shutdown`] stops at once, as if the process died: the
/// batches in flight keep no answer, and the next start resumes them as unknown outcomes.
impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Joins the relays of the store, unless this one would not share the account with them.
async fn join(store: &dyn Store, lease: Lease, sharing: Sharing) -> Result<(), Error> {
    let peers = store.join(lease, sharing).await?;
    if !peers.is_empty() && sharing == Sharing::Alone {
        store.leave().await?;
        return Err(Error::UnsharedAccount { peers: peers.len() });
    }
    if let Some(peer) = peers.iter().find(|p| p.sharing != sharing) {
        tracing::warn!(
            relay = peer.relay,
            "another relay of this store shares the account differently ({:?}, this one \
             {:?}): give every relay the same --coordinator, or each its own --tokens",
            peer.sharing,
            sharing
        );
    }
    Ok(())
}

/// This relay's lease from now, as long as configured.
pub(crate) fn lease(config: &RelayConfig, clock: &dyn Clock) -> Lease {
    let now = clock.now();
    let length = i64::try_from(config.lease().as_millis()).unwrap_or(i64::MAX);
    Lease {
        now,
        until: now.plus(length),
    }
}

/// How the relay's batcher cuts: within every token's window together (only partial batches
/// wait for it; a full batch is as good as a request can be and queues in the client), after
/// the configured linger.
fn batcher_config(config: &RelayConfig, client: &tc_http::Client) -> BatcherConfig {
    let client = client.config();
    let tokens = u32::try_from(client.tokens().max(1)).unwrap_or(u32::MAX);
    let rate = client.rate_limit();
    let room = WindowLimit::new(rate.limit.saturating_mul(tokens), rate.window_ms);
    let linger = i64::try_from(config.linger().as_millis()).unwrap_or(i64::MAX);
    BatcherConfig::new(room).with_linger_ms(linger)
}

/// Fills the in-memory queue from the store at start. The stored record is the validated one
/// in E.164; validating it again (at the time it was received) gives back the `CallRecord`.
pub(crate) async fn load_queue(
    shared: &Arc<Shared>,
    stored: Vec<crate::store::Stored>,
) -> Result<(), Error> {
    let now = shared.monotonic(Instant::now());
    let mut unreadable = Vec::new();
    {
        let mut batcher = shared.batcher();
        for stored in stored {
            let record = serde_json::from_str::<RawRecord>(&stored.record)
                .map_err(|e| e.to_string())
                .and_then(|raw| {
                    Validator::new(stored.received_at)
                        .validate(&raw)
                        .map_err(|problems| format!("{problems:?}"))
                });
            match record {
                Ok(record) => batcher.offer(stored.id, record, now),
                Err(reason) => unreadable.push((stored.id, reason)),
            }
        }
        shared.metrics.queue_depth(batcher.len());
    }
    shared.queue_changed.notify_one();
    if !unreadable.is_empty() {
        tracing::error!(
            records = unreadable.len(),
            "queued records in the store can no longer be read; they are marked failed"
        );
        shared
            .store
            .change(unreadable, RecordChange::unreadable())
            .await?;
    }
    Ok(())
}

/// The group commit: takes every post waiting, commits them in one transaction (one fsync),
/// then answers each. While one commit runs, the next group gathers.
async fn write_posts(
    shared: Arc<Shared>,
    mut jobs: mpsc::Receiver<Job>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut group = Vec::new();
    let mut closed = false;
    loop {
        let received = tokio::select! {
            received = jobs.recv_many(&mut group, PENDING_POSTS) => received,
            // On shutdown, take no more posts but commit the ones already handed over.
            _ = stopped.changed(), if !closed => {
                jobs.close();
                closed = true;
                continue;
            }
        };
        if received == 0 {
            return;
        }
        let mut records: usize = group.iter().map(|j| j.post.records.len()).sum();
        while records < MAX_GROUP_RECORDS {
            match jobs.try_recv() {
                Ok(job) => {
                    records += job.post.records.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let (posts, replies): (Vec<Post>, Vec<_>) =
            group.drain(..).map(|job| (job.post, job.reply)).unzip();
        let now = shared.clock.now();
        let started = Instant::now();
        let committed = shared.store.commit_posts(posts, now).await;
        shared.metrics.commit(started.elapsed(), replies.len());
        shared.pending.fetch_sub(records, Ordering::Relaxed);
        match committed {
            Ok(committed) => {
                commit_succeeded(&shared);
                answer(&shared, committed, replies);
            }
            Err(error) => {
                commit_failed(&shared, &error);
                let message = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(Error::Worker(message.clone())));
                }
            }
        }
    }
}

/// A full disk fails every group commit, several a millisecond under load: the first failure
/// is logged, then one line per interval says how many more there were.
fn commit_failed(shared: &Shared, error: &Error) {
    shared.health.commit_failed();
    shared.metrics.error(Reason::Store);
    match shared.commit_errors.occurred(&error.to_string()) {
        LogNow::First => {
            tracing::error!(%error, "a group commit failed; its posts are answered 503");
        }
        LogNow::Again { more } => tracing::error!(
            %error,
            more,
            "group commits keep failing ({more} more since the last line); their posts are \
             answered 503"
        ),
        LogNow::Quiet => {}
    }
}

/// A group commit (or a probe of the store) succeeded: the store takes writes.
pub(crate) fn commit_succeeded(shared: &Shared) {
    if shared.health.commit_succeeded() {
        let unlogged = shared.commit_errors.ended();
        tracing::warn!(
            unlogged,
            "group commits succeed again: posts are acknowledged"
        );
    }
}

fn answer(
    shared: &Shared,
    committed: Vec<Committed>,
    replies: Vec<oneshot::Sender<Result<Reply, Error>>>,
) {
    let acked = shared.monotonic(Instant::now());
    {
        let mut batcher = shared.batcher();
        for post in &committed {
            for (id, record) in &post.queued {
                batcher.offer(*id, record.clone(), acked);
            }
        }
        shared.metrics.queue_depth(batcher.len());
    }
    shared.queue_changed.notify_one();
    for (post, reply) in committed.into_iter().zip(replies) {
        let _ = reply.send(Ok(post.reply));
    }
}

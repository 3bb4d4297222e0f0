//! Micro-batching: a batch leaves as soon as 500 records are queued, or when the oldest queued
//! record has waited the linger and the account has room in its rate window for another
//! request; several batches are in flight at once (`DEFAULT_IN_FLIGHT_PER_TOKEN` per token by default), and the client's
//! rate limiter keeps each token within its limit.
//!
//! A batch's records are marked in flight in the store, synced, before its request leaves, and
//! its outcome is synced after the answer, so a crash at any moment leaves each record queued,
//! in flight (an unknown outcome, resumed by tc-push's rules) or settled.

use crate::relay::{Shared, Waiting};
use crate::status::RecordId;
use crate::store::Settle;
use std::sync::Arc;
use std::time::Duration;
use tc_core::transport::MonotonicMillis;
use tc_core::transport::{SlidingWindow, WindowLimit};
use tc_core::{Batch, MAX_BATCH_RECORDS};
use tc_push::Guarantee;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How long sending pauses after a failure every batch would meet (credentials, a spent
/// budget, the API unreachable), before the queue is tried again.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// When the next batch may be cut.
enum Due {
    Now,
    At(Instant),
    WhenQueued,
}

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let config = shared.client.config();
    let tokens = config.tokens().max(1);
    let in_flight = match shared.config.in_flight() {
        0 => crate::config::DEFAULT_IN_FLIGHT_PER_TOKEN * tokens,
        n => n,
    };
    let permits = Arc::new(Semaphore::new(in_flight));
    let rate = config.rate_limit();
    // The account's room: every token's window together. Only partial batches wait for it; a
    // full batch is as good as a request can be and queues in the client.
    let mut window = SlidingWindow::new(WindowLimit::new(
        rate.limit.saturating_mul(tokens as u32),
        rate.window_ms,
    ));
    let origin = Instant::now();
    let mut sends = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
        if !wait_until_due(&shared, &mut window, origin, &mut stopped).await {
            break;
        }
        let batch = take_batch(&shared);
        if batch.is_empty() {
            continue;
        }
        window.record(since(origin, Instant::now()));
        sends.spawn(send(Arc::clone(&shared), batch, permit));
        while sends.try_join_next().is_some() {}
    }
    // Batches in flight finish: their answers are worth recording.
    while sends.join_next().await.is_some() {}
}

/// Waits until a batch is due; `false` when the relay stops first.
async fn wait_until_due(
    shared: &Shared,
    window: &mut SlidingWindow,
    origin: Instant,
    stopped: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        let changed = shared.queue_changed.notified();
        let due = due(shared, window, origin);
        let paused = *shared.paused_until();
        let due = match (due, paused) {
            (Due::WhenQueued, _) => Due::WhenQueued,
            (_, Some(until)) if until > Instant::now() => Due::At(until),
            (due, _) => due,
        };
        match due {
            Due::Now => return true,
            Due::At(at) => tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = changed => {}
                _ = stopped.changed() => return false,
            },
            Due::WhenQueued => tokio::select! {
                _ = changed => {}
                _ = stopped.changed() => return false,
            },
        }
    }
}

fn due(shared: &Shared, window: &SlidingWindow, origin: Instant) -> Due {
    let queue = shared.queue();
    let Some((_, oldest)) = queue.first_key_value() else {
        return Due::WhenQueued;
    };
    if queue.len() >= MAX_BATCH_RECORDS {
        return Due::Now;
    }
    let now = Instant::now();
    let lingered = oldest.acked + shared.config.linger();
    let room =
        origin + Duration::from_millis(window.earliest(since(origin, now)).as_millis() as u64);
    let at = lingered.max(room);
    if at <= now {
        Due::Now
    } else {
        Due::At(at)
    }
}

fn since(origin: Instant, at: Instant) -> MonotonicMillis {
    MonotonicMillis::from_millis(
        i64::try_from(at.duration_since(origin).as_millis()).unwrap_or(i64::MAX),
    )
}

/// The oldest queued records, up to a full batch.
fn take_batch(shared: &Shared) -> Vec<(RecordId, Waiting)> {
    let mut queue = shared.queue();
    let mut batch = Vec::with_capacity(MAX_BATCH_RECORDS.min(queue.len()));
    while batch.len() < MAX_BATCH_RECORDS {
        match queue.pop_first() {
            Some(entry) => batch.push(entry),
            None => break,
        }
    }
    shared.metrics.queue_depth(queue.len());
    batch
}

/// Sends one batch and records its outcome; records that must be sent again go back to the
/// queue.
async fn send(
    shared: Arc<Shared>,
    records: Vec<(RecordId, Waiting)>,
    _permit: OwnedSemaphorePermit,
) {
    let now = shared.clock.now();
    let (open, expired): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|(_, waiting)| waiting.record.check_still_open(now).is_ok());
    let expired: Vec<(RecordId, String)> = expired
        .into_iter()
        .filter_map(|(id, waiting)| Some((id, waiting.record.check_still_open(now).err()?.message)))
        .collect();
    let ids: Vec<RecordId> = open.iter().map(|(id, _)| *id).collect();
    let rejected = expired.len();
    let begun = shared
        .with_store(move |store| store.begin_attempt(&ids, &expired, now))
        .await;
    let attempt = match begun {
        Ok(Some(attempt)) => attempt,
        Ok(None) => {
            shared.metrics.records("rejected", rejected);
            return;
        }
        Err(error) => {
            tracing::error!(%error, "a batch could not be recorded; its records stay queued");
            shared.pause(PAUSE_AFTER_FAILURE);
            shared.requeue(open);
            return;
        }
    };
    shared.metrics.records("rejected", rejected);
    let leaving = Instant::now();
    for (_, waiting) in &open {
        shared
            .metrics
            .ack_to_send(leaving.duration_since(waiting.acked));
    }
    let send_by = open
        .iter()
        .map(|(_, w)| w.record.ends_at().as_i64())
        .min()
        .unwrap_or(now.as_i64())
        .saturating_sub(now.as_i64())
        .max(0);
    let (ids, records): (Vec<RecordId>, Vec<_>) = open
        .iter()
        .map(|(id, waiting)| (*id, waiting.record.clone()))
        .unzip();
    let result = match Batch::new(records) {
        Ok(batch) => {
            shared
                .client
                .create_call_records_by(&batch, Duration::from_millis(send_by as u64))
                .await
        }
        Err(error) => {
            tracing::error!(%error, "a batch could not be built");
            return;
        }
    };
    let settle = settle(&shared, attempt, result);
    record_outcome(&shared, attempt, ids.len(), settle, open).await;
}

/// What the client's answer means for the batch's records.
fn settle(
    shared: &Shared,
    attempt: i64,
    result: Result<tc_http::Created, tc_http::Error>,
) -> Settle {
    let error = match result {
        Ok(created) => {
            return Settle::Sent {
                batch_id: created.batch_id.into(),
                possibly_duplicated: created.possibly_duplicated,
            }
        }
        Err(error) => error,
    };
    let possibly_stored = error.outcome_unknown();
    tracing::warn!(
        attempt,
        status = error.status(),
        possibly_stored,
        "a batch was not accepted"
    );
    if possibly_stored && shared.config.guarantee() == Guarantee::AtMostOnce {
        return Settle::Unknown {
            message: error.to_string(),
        };
    }
    match &error {
        tc_http::Error::Final { status, slug, .. } if !tc_push::fails_every_batch(&error) => {
            Settle::Failed {
                code: if slug.is_empty() {
                    format!("http_{status}")
                } else {
                    slug.clone()
                },
                message: error.to_string(),
            }
        }
        tc_http::Error::SendByPassed { .. } => Settle::Requeued { possibly_stored },
        tc_http::Error::TokenBudgetExhausted { retry_after, .. } => {
            shared.pause(*retry_after);
            Settle::Requeued { possibly_stored }
        }
        _ => {
            shared.pause(PAUSE_AFTER_FAILURE);
            Settle::Requeued { possibly_stored }
        }
    }
}

async fn record_outcome(
    shared: &Arc<Shared>,
    attempt: i64,
    records: usize,
    settle: Settle,
    open: Vec<(RecordId, Waiting)>,
) {
    let status = match &settle {
        Settle::Sent { .. } => "sent",
        Settle::Requeued { .. } => "requeued",
        Settle::Failed { .. } => "failed",
        Settle::Unknown { .. } => "unknown",
    };
    let requeue = matches!(settle, Settle::Requeued { .. });
    let stored = shared
        .with_store(move |store| store.settle(attempt, &settle))
        .await;
    if let Err(error) = stored {
        // The records stay in flight in the store: the next start resumes them as unknown
        // outcomes. Sending them again now could only add duplicates the store cannot flag.
        tracing::error!(%error, attempt, "a batch's outcome could not be recorded");
        return;
    }
    shared.metrics.records(status, records);
    if requeue {
        shared.requeue(open);
    }
}

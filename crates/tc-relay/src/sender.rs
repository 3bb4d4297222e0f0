//! Micro-batching: `tc-engine`'s [`Batcher`](tc_engine::Batcher) decides when a batch is cut
//! (500 records queued, or the oldest waited the linger and the account has room in its rate
//! window); this loop sleeps until then, and several batches are in flight at once
//! (`DEFAULT_IN_FLIGHT_PER_TOKEN` per token by default) while the client's rate limiter keeps
//! each token within its limit.
//!
//! A batch's records are marked in flight in the store, durably, before its request leaves,
//! and its outcome (`tc_engine::BatchOutcome`) is stored after the answer, so a crash at any
//! moment leaves each record queued, in flight (an unknown outcome, resumed by the engine's
//! rule) or settled.

use crate::health::{LogNow, Reason};
use crate::relay::Shared;
use crate::status::RecordId;
use crate::store::RecordChange;
use std::sync::Arc;
use std::time::Duration;
use tc_core::Batch;
use tc_engine::batcher::{send_within, Cut, Queued};
use tc_engine::{BatchOutcome, Halt, RecordState};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let tokens = shared.client.config().tokens().max(1);
    let in_flight = match shared.config.in_flight() {
        0 => crate::config::DEFAULT_IN_FLIGHT_PER_TOKEN * tokens,
        n => n,
    };
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut sends = JoinSet::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
        let Some(cut) = next_cut(&shared, &mut stopped).await else {
            break;
        };
        shared.metrics.queue_depth(shared.batcher().len());
        sends.spawn(send(Arc::clone(&shared), cut, permit));
        while sends.try_join_next().is_some() {}
    }
    // Batches in flight finish: their answers are worth recording.
    while sends.join_next().await.is_some() {}
}

/// Waits until the batcher cuts a batch; `None` when the relay stops first.
async fn next_cut(shared: &Shared, stopped: &mut watch::Receiver<bool>) -> Option<Cut<RecordId>> {
    loop {
        let changed = shared.queue_changed.notified();
        let now = Instant::now();
        let due = {
            let mut batcher = shared.batcher();
            let mono = shared.monotonic(now);
            if let Some(cut) = batcher.poll(mono, shared.clock.now()) {
                return Some(cut);
            }
            batcher.poll_timeout(mono).map(|at| shared.instant_at(at))
        };
        match due {
            Some(at) => tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = changed => {}
                _ = stopped.changed() => return None,
            },
            None => tokio::select! {
                _ = changed => {}
                _ = stopped.changed() => return None,
            },
        }
    }
}

/// Sends one batch and stores its outcome; records that must be sent again go back to the
/// queue.
async fn send(shared: Arc<Shared>, cut: Cut<RecordId>, _permit: OwnedSemaphorePermit) {
    let now = shared.clock.now();
    let Cut { at, open, expired } = cut;
    let rejected = expired.len();
    let expired: Vec<(RecordId, String)> = expired
        .into_iter()
        .map(|(queued, problem)| (queued.key, problem.message))
        .collect();
    let ids: Vec<RecordId> = open.iter().map(|q| q.key).collect();
    let (attempt, open) = match shared.store.begin_attempt(ids, expired, now).await {
        Ok(Some(begun)) => (begun.attempt, still_ours(open, &begun.sent)),
        Ok(None) => {
            if !open.is_empty() {
                // Every record was taken over by another relay meanwhile: nothing leaves.
                shared.batcher().unsent(at);
            }
            shared
                .metrics
                .records(RecordState::Rejected.as_str(), rejected);
            return;
        }
        Err(error) => {
            batch_error(
                &shared,
                &error,
                "a batch could not be recorded; its records stay queued",
            );
            shared.batcher().unsent(at);
            shared.halt(Halt::default(), Reason::Store);
            shared.requeue(open);
            return;
        }
    };
    shared
        .metrics
        .records(RecordState::Rejected.as_str(), rejected);
    let leaving = shared.monotonic(Instant::now());
    for queued in &open {
        let waited = leaving.as_millis().saturating_sub(queued.since.as_millis());
        let waited = Duration::from_millis(u64::try_from(waited).unwrap_or(0));
        shared.metrics.ack_to_send(waited);
    }
    let records = open.iter().map(|q| q.record.clone()).collect();
    let result = match Batch::new(records) {
        Ok(batch) => {
            let send_by = send_within(open.iter().map(|q| &q.record), now);
            let client = &shared.client;
            client
                .create_call_records_until(&batch, send_by, &shared.stop)
                .await
        }
        Err(error) => {
            tracing::error!(%error, "a batch could not be built");
            return;
        }
    };
    let answered = shared.monotonic(Instant::now());
    shared.batcher().answered(at, answered);
    let outcome = outcome_of(&shared, attempt, result);
    record_outcome(&shared, attempt, outcome, open).await;
}

/// The records of a cut that moved in flight: the others were taken over by another relay
/// (this one's lease had lapsed) and are that relay's to send.
fn still_ours(open: Vec<Queued<RecordId>>, sent: &[RecordId]) -> Vec<Queued<RecordId>> {
    if open.len() == sent.len() {
        return open;
    }
    let sent: std::collections::HashSet<RecordId> = sent.iter().copied().collect();
    open.into_iter().filter(|q| sent.contains(&q.key)).collect()
}

/// What the call's result means for the batch (tc-engine decides), halting sending when every
/// later batch would meet the same failure.
fn outcome_of(
    shared: &Shared,
    attempt: crate::store::AttemptId,
    result: Result<tc_http::Created, tc_http::Error>,
) -> BatchOutcome {
    let error = match result {
        Ok(created) => {
            shared.health.resume();
            return BatchOutcome::Accepted {
                batch_id: created.batch_id,
                possibly_duplicated: created.possibly_duplicated,
            };
        }
        Err(error) => error,
    };
    let failure = error.failure();
    // The error's own words name the cause: a 429 on token creation (the account's budget
    // spent, and until when), a wrong key, an API that does not answer.
    tracing::warn!(
        attempt = attempt.0,
        status = failure.status(),
        possibly_stored = failure.is_possibly_stored(),
        error = %error.message_with_causes(),
        "a batch was not accepted"
    );
    match failure.halt() {
        Some(halt) => shared.halt(halt, Reason::of_halt(&failure)),
        // The API answered, or the network failed this once: sending is not held back.
        None => shared.health.resume(),
    }
    BatchOutcome::of_failure(&failure, shared.config.guarantee())
}

async fn record_outcome(
    shared: &Arc<Shared>,
    attempt: crate::store::AttemptId,
    outcome: BatchOutcome,
    open: Vec<Queued<RecordId>>,
) {
    let state = outcome.record_state();
    let change = RecordChange::of_outcome(&outcome);
    if let Err(error) = shared.store.settle(attempt, change).await {
        // The records stay in flight in the store: the next start resumes them as unknown
        // outcomes. Sending them again now could only add duplicates the store cannot flag.
        shared.metrics.error(Reason::Store);
        batch_error(shared, &error, "a batch's outcome could not be recorded");
        return;
    }
    let label = match state {
        RecordState::Queued => "requeued",
        state => state.as_str(),
    };
    shared.metrics.records(label, open.len());
    if state == RecordState::Queued {
        shared.requeue(open);
    }
}

/// Logs a store failure of a batch: the first, then one line per interval with how many more.
fn batch_error(shared: &Shared, error: &crate::Error, what: &'static str) {
    match shared.batch_errors.occurred(&error.to_string()) {
        LogNow::First => tracing::error!(%error, "{what}"),
        LogNow::Again { more } => {
            tracing::error!(%error, more, "{what} ({more} more store failures since the last line)")
        }
        LogNow::Quiet => {}
    }
}

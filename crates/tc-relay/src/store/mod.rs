//! The relay's queue: where acknowledged records wait, and the lifecycle they move through
//! (`tc_engine::lifecycle`). [`Store`] is what a backend implements, and nothing more: the
//! relay decides every move (with `tc-engine`), a store carries it out durably. SQLite
//! ([`SqliteStore`]) is the embedded backend; the columns a backend writes for the engine's
//! types are named once, in `columns`.

mod columns;
mod sqlite;

pub(crate) use sqlite::SqliteStore;

use crate::error::Error;
use crate::intake::Problem;
use crate::status::{RecordId, TrackedRecord};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use tc_core::{BatchId, CallRecord, EpochMillis};
use tc_engine::delivery::Pairing;
use tc_engine::{answer, BatchOutcome, EarlierAttempts, Guarantee, RecordState, ReportCode};

/// What a store's operation returns.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The relay's durable queue. Every write is durable when its future completes: the relay
/// acknowledges a post, and lets a batch's request leave, only after that.
pub(crate) trait Store: Send + Sync + 'static {
    /// Queues the valid records of every post, in one durable commit (the group commit),
    /// honouring `Idempotency-Key` and `external_id`.
    fn commit_posts(&self, posts: Vec<Post>, now: EpochMillis) -> StoreFuture<'_, Vec<Committed>>;

    /// Moves every record in flight (left by a relay that stopped) as `change` says.
    fn resume(&self, change: RecordChange) -> StoreFuture<'_, u64>;

    /// Every queued record, oldest first.
    fn queued(&self) -> StoreFuture<'_, Vec<Stored>>;

    /// Moves the records named, each with its own message, as `change` says.
    fn change(&self, records: Vec<(RecordId, String)>, change: RecordChange)
        -> StoreFuture<'_, ()>;

    /// Moves `sent` in flight under a new attempt and `expired` to rejected
    /// (`window_expired`), durably, before the request leaves. The attempt, if any was sent.
    fn begin_attempt(
        &self,
        sent: Vec<RecordId>,
        expired: Vec<(RecordId, String)>,
        now: EpochMillis,
    ) -> StoreFuture<'_, Option<AttemptId>>;

    /// Moves the records of `attempt` still in flight as `change` says.
    fn settle(&self, attempt: AttemptId, change: RecordChange) -> StoreFuture<'_, ()>;

    /// Everything the store knows about one record.
    fn status(&self, id: RecordId) -> StoreFuture<'_, Option<TrackedRecord>>;

    /// Accepted batches whose deliveries are not all settled, least recently asked first.
    fn awaiting_delivery(&self, limit: usize) -> StoreFuture<'_, Vec<(AttemptId, BatchId)>>;

    /// The accepted records of an attempt, with their receivers (E.164), in id order.
    fn receivers(&self, attempt: AttemptId) -> StoreFuture<'_, Vec<(RecordId, String)>>;

    /// Writes the deliveries a status answer gave an attempt's records; a settled pairing
    /// closes the attempt's polling.
    fn record_deliveries(
        &self,
        attempt: AttemptId,
        pairing: Pairing<RecordId>,
        now: EpochMillis,
    ) -> StoreFuture<'_, ()>;

    /// Records per state.
    fn counts(&self) -> StoreFuture<'_, Vec<(RecordState, u64)>>;

    /// Forgets idempotency keys and external ids older than `before`, and the records settled
    /// before it whose delivery is known or will never be.
    fn purge(&self, before: EpochMillis) -> StoreFuture<'_, ()>;
}

/// One attempt at sending a batch: the records it carried share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct AttemptId(pub i64);

/// A move of records to a state, with what the store keeps about it. Built from the engine's
/// decisions only ([`RecordChange::of_outcome`], [`RecordChange::resumed`],
/// [`RecordChange::unreadable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordChange {
    pub state: RecordState,
    /// The state instead, for a record already flagged possibly duplicated (an earlier attempt
    /// may have stored it): `tc_engine::answer` never lets such a record end `failed`.
    pub state_if_possibly_duplicated: RecordState,
    pub batch_id: Option<BatchId>,
    pub code: Option<ReportCode>,
    pub message: Option<String>,
    /// Raise the possibly-duplicated flag (it is never lowered).
    pub possibly_duplicated: bool,
}

impl RecordChange {
    /// What a batch's outcome does to its records.
    pub fn of_outcome(outcome: &BatchOutcome) -> RecordChange {
        let (batch_id, possibly_duplicated) = match outcome {
            BatchOutcome::Accepted {
                batch_id,
                possibly_duplicated,
            } => (Some(batch_id.clone()), *possibly_duplicated),
            BatchOutcome::Resumable {
                possibly_stored, ..
            } => (None, *possibly_stored),
            _ => (None, false),
        };
        let requeued = outcome.record_state() == RecordState::Queued;
        let stored_before = answer(Some(outcome), EarlierAttempts::MayHaveStored).state;
        RecordChange {
            state: outcome.record_state(),
            state_if_possibly_duplicated: if requeued {
                RecordState::Queued
            } else {
                stored_before
            },
            batch_id,
            // A record back in the queue keeps no reason: it is on its way again.
            code: outcome.code().filter(|_| !requeued),
            message: outcome.message().filter(|_| !requeued).map(str::to_owned),
            possibly_duplicated,
        }
    }

    /// What a restart does to the records a stopped relay left in flight: their batches may be
    /// stored.
    pub fn resumed(guarantee: Guarantee) -> RecordChange {
        let state = RecordState::resumed_from_flight(guarantee);
        let unknown = state == RecordState::Unknown;
        RecordChange {
            state,
            state_if_possibly_duplicated: state,
            batch_id: None,
            code: unknown.then_some(ReportCode::OutcomeUnknown),
            message: unknown.then(|| {
                "the relay stopped while this record's batch awaited its answer; at most once, \
                 it is not sent again"
                    .to_owned()
            }),
            possibly_duplicated: !unknown,
        }
    }

    /// Queued records that can no longer be read back: failed, each with its reason.
    pub fn unreadable() -> RecordChange {
        RecordChange {
            state: RecordState::Failed,
            // Never sent, whatever an earlier run flagged: nothing of it can reach the API now.
            state_if_possibly_duplicated: RecordState::Failed,
            batch_id: None,
            code: Some(ReportCode::Rule(tc_core::Code::RecordUnreadable)),
            message: None,
            possibly_duplicated: false,
        }
    }
}

/// A valid record of a post, on its way into the store.
#[derive(Debug, Clone)]
pub(crate) struct NewRecord {
    /// Its place in the post, from 1.
    pub number: usize,
    pub record: CallRecord,
    pub external_id: Option<String>,
}

/// One post for the group commit.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    pub idempotency_key: Option<String>,
    pub records: Vec<NewRecord>,
    pub problems: Vec<Problem>,
    pub ignored_keys: Vec<String>,
}

/// The answer to a post: what was queued under which id, and what was wrong with the rest.
/// Stored with the post's `Idempotency-Key`, so a retried post gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct PostAnswer {
    pub accepted: Vec<Accepted>,
    pub problems: Vec<Problem>,
    /// Keys of the records that name no field and were ignored.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub ignored_keys: Vec<String>,
    /// This is the stored answer of an earlier post with the same `Idempotency-Key`: nothing
    /// was queued this time.
    #[serde(default)]
    pub replayed: bool,
}

/// A record of a post that is durably queued (or was already, under its external id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct Accepted {
    /// Its place in the post, from 1.
    pub record: usize,
    #[schema(value_type = String, example = "r17")]
    pub id: RecordId,
    /// An earlier post queued a record with the same `external_id`: this one was not queued
    /// again, and `id` is the earlier record's.
    pub deduplicated: bool,
}

/// What a commit of one post did: the answer, and the records it newly queued.
#[derive(Debug)]
pub(crate) struct Committed {
    pub answer: PostAnswer,
    pub queued: Vec<(RecordId, CallRecord)>,
}

/// A queued record read back from the store.
#[derive(Debug)]
pub(crate) struct Stored {
    pub id: RecordId,
    pub received_at: EpochMillis,
    pub record: String,
}

/// What resuming a store did with the batches that were in flight when the relay stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// Records queued again and flagged possibly duplicated (at least once).
    pub requeued: u64,
    /// Records marked unknown (at most once).
    pub unknown: u64,
}

#[cfg(test)]
mod tests;

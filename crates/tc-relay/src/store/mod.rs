//! The relay's queue: where acknowledged records wait, and the lifecycle they move through
//! (`tc_engine::lifecycle`). [`Store`] is what a backend implements, and nothing more: the
//! relay decides every move (with `tc-engine`), a store carries it out durably. SQLite
//! ([`SqliteStore`]) is the embedded backend; the columns a backend writes for the engine's
//! types are named once, in `columns`.

mod columns;
mod location;
mod postgres;
mod postgres_tls;
mod sqlite;

pub use location::{InvalidStoreLocation, PostgresUrl, StoreLocation};
pub(crate) use postgres::PostgresStore;
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

/// Opens the store at `location`, creating or migrating its tables.
pub(crate) async fn open(location: &StoreLocation) -> Result<std::sync::Arc<dyn Store>, Error> {
    Ok(match location {
        StoreLocation::Sqlite(path) => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || SqliteStore::open(&path))
                .await
                .map_err(|e| Error::Worker(e.to_string()))??;
            std::sync::Arc::new(store)
        }
        StoreLocation::Postgres(url) => std::sync::Arc::new(PostgresStore::open(url).await?),
    })
}

/// What a store's operation returns.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The relay's durable queue, which one relay or several share. Every write is durable when
/// its future completes: the relay acknowledges a post, and lets a batch's request leave, only
/// after that.
///
/// Several relays on one store each hold a lease, which they renew; the records a relay queued
/// or took are its own to send while its lease holds. Once a lease lapses (the relay died, or
/// lost the store for longer than the lease), any other relay takes its records over: queued
/// ones to send, and those in flight as the engine's rule for a restart says. An embedded store
/// has one relay: the one that opened it, whose lease holds until it exits.
pub(crate) trait Store: Send + Sync + 'static {
    /// Starts this relay's lease, until `lease.until`, and says which other relays hold one.
    fn join(&self, lease: Lease, sharing: Sharing) -> StoreFuture<'_, Vec<Peer>>;

    /// Extends this relay's lease. [`Held::Lost`]: another relay took this one's records over
    /// (its lease had lapsed); the relay joins again and sends only what it takes.
    fn renew(&self, lease: Lease) -> StoreFuture<'_, Held>;

    /// Takes over what relays whose lease lapsed before `now` left, and what no relay holds:
    /// records in flight move as `change` says (a restart's rule), and every queued record
    /// among them (with those `change` queues again) becomes this relay's, returned oldest
    /// first.
    fn take_over(&self, change: RecordChange, now: EpochMillis) -> StoreFuture<'_, TakenOver>;

    /// Ends this relay's lease and gives its queued records back, so another relay sends them
    /// at once. Its records in flight, if any are left, are taken over as after a lapse.
    fn leave(&self) -> StoreFuture<'_, ()>;

    /// Writes one small change durably and commits it, changing nothing anyone reads: whether
    /// the store takes writes again after group commits failed (a full disk, a database
    /// that went read-only), while no post comes to show it.
    fn probe(&self) -> StoreFuture<'_, ()>;

    /// Queues the valid records of every post as this relay's, in one durable commit (the
    /// group commit), honouring `Idempotency-Key` and `external_id` across every relay.
    fn commit_posts(&self, posts: Vec<Post>, now: EpochMillis) -> StoreFuture<'_, Vec<Committed>>;

    /// Moves the records named, each with its own message, as `change` says.
    fn change(&self, records: Vec<(RecordId, String)>, change: RecordChange)
        -> StoreFuture<'_, ()>;

    /// Moves `sent` in flight under a new attempt and `expired` to rejected
    /// (`window_expired`), durably, before the request leaves; only records still queued and
    /// this relay's move. The attempt and the records it holds, if any moved.
    fn begin_attempt(
        &self,
        sent: Vec<RecordId>,
        expired: Vec<(RecordId, String)>,
        now: EpochMillis,
    ) -> StoreFuture<'_, Option<Begun>>;

    /// Moves the records of `attempt` still in flight as `change` says.
    fn settle(&self, attempt: AttemptId, change: RecordChange) -> StoreFuture<'_, ()>;

    /// Everything the store knows about one record, and the producer that posted it.
    fn status(&self, id: RecordId) -> StoreFuture<'_, Option<Tracked>>;

    /// Claims the accepted batch whose deliveries are not all settled and that was asked least
    /// recently, marking it asked at `now`, so no other relay asks about it at the same time.
    fn next_to_poll(&self, now: EpochMillis) -> StoreFuture<'_, Option<(AttemptId, BatchId)>>;

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

    /// Records per state, across every relay of the store.
    fn counts(&self) -> StoreFuture<'_, Vec<(RecordState, u64)>>;

    /// Forgets idempotency keys and external ids older than `before`, and the records settled
    /// before it whose delivery is known or will never be.
    fn purge(&self, before: EpochMillis) -> StoreFuture<'_, ()>;
}

/// A relay's lease on the store: from `now` until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lease {
    pub now: EpochMillis,
    pub until: EpochMillis,
}

/// Whether a relay still held its lease when it renewed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    Yes,
    Lost,
}

/// How a relay shares the account with the other relays of its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sharing {
    /// Tokens, windows and the creation budget through a coordinator all relays use.
    Coordinator,
    /// Each relay its own share of the account's tokens, as its operator split them.
    SplitTokens,
    /// The whole account: no other relay may send from the same store.
    Alone,
}

/// Another relay holding a lease on the same store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The store's number for it.
    pub relay: i64,
    pub sharing: Sharing,
    pub lease_until: EpochMillis,
}

/// What a take-over found.
#[derive(Debug, Default)]
pub(crate) struct TakenOver {
    /// What happened to records that were in flight.
    pub recovered: Recovered,
    /// The queued records now this relay's, oldest first.
    pub queued: Vec<Stored>,
}

/// A batch's records, in flight under an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Begun {
    pub attempt: AttemptId,
    /// The records of the batch that moved: those another relay took over meanwhile did not.
    pub sent: Vec<RecordId>,
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

/// A post's `Idempotency-Key`, with the digest of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyKey {
    pub key: String,
    pub body: BodyDigest,
}

/// The SHA-256 of a post's body, in hex: a key sent again with other bytes names another
/// post, which is refused rather than answered with the first one's ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BodyDigest(String);

impl BodyDigest {
    pub fn of(body: &[u8]) -> BodyDigest {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(body);
        BodyDigest(digest.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// A digest as a store wrote it.
    pub fn stored(text: String) -> BodyDigest {
        BodyDigest(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An earlier post under an `Idempotency-Key`, as the store kept it.
#[derive(Debug, Clone)]
pub(crate) struct EarlierPost {
    /// Its answer; `None` if it cannot be read back.
    pub answer: Option<PostAnswer>,
    /// Its body's digest; `None` in a store written before digests were kept.
    pub body: Option<BodyDigest>,
}

impl EarlierPost {
    /// What a post under the same key gets: the earlier answer, replayed, when the bodies are
    /// the same (or the earlier one's is unknown); a refusal naming the key when they differ.
    /// `None`: the earlier answer cannot be read, and the post is queued as a new one.
    pub fn reply_to(self, key: &IdempotencyKey) -> Option<Reply> {
        if self.body.as_ref().is_some_and(|body| *body != key.body) {
            return Some(Reply::KeyReused {
                key: key.key.clone(),
            });
        }
        self.answer.map(|answer| {
            Reply::Answer(PostAnswer {
                replayed: true,
                ..answer
            })
        })
    }
}

/// What the group commit says to one post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Its records are queued, or it repeats an earlier post whose answer this is.
    Answer(PostAnswer),
    /// Its `Idempotency-Key` was used before for a different body: nothing was queued.
    KeyReused { key: String },
}

/// A record as the store tracks it: what a producer may read, and who posted it.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub record: TrackedRecord,
    /// `None` for a record posted while the relay took posts without keys.
    pub producer: Option<crate::keys::Producer>,
}

impl Tracked {
    /// Whether `reader` may read the record: every record when the relay takes anyone, else
    /// the records its producer posted (and those posted while it took anyone).
    pub fn readable_by(&self, reader: Option<&crate::keys::Producer>) -> bool {
        match (reader, &self.producer) {
            (Some(reader), Some(producer)) => reader == producer,
            _ => true,
        }
    }
}

/// One post for the group commit.
#[derive(Debug, Clone)]
pub(crate) struct Post {
    /// The producer that posted it, when the relay asks for keys.
    pub producer: Option<crate::keys::Producer>,
    pub idempotency_key: Option<IdempotencyKey>,
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
    #[schema(value_type = String, example = "r17-9f86d081884c7d65")]
    pub id: RecordId,
    /// An earlier post queued a record with the same `external_id`: this one was not queued
    /// again, and `id` is the earlier record's.
    pub deduplicated: bool,
}

/// What a commit of one post did: the reply, and the records it newly queued.
#[derive(Debug)]
pub(crate) struct Committed {
    pub reply: Reply,
    pub queued: Vec<(RecordId, CallRecord)>,
}

/// A queued record read back from the store.
#[derive(Debug)]
pub(crate) struct Stored {
    pub id: RecordId,
    pub received_at: EpochMillis,
    pub record: String,
}

/// What taking over a stopped relay's records did with the batches it left in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovered {
    /// Records queued again and flagged possibly duplicated (at least once).
    pub requeued: u64,
    /// Records marked unknown (at most once).
    pub unknown: u64,
}

impl Recovered {
    /// What moving `moved` records in flight as `change` says comes to.
    pub(crate) fn of(change: &RecordChange, moved: u64) -> Recovered {
        match change.state {
            RecordState::Queued => Recovered {
                requeued: moved,
                unknown: 0,
            },
            _ => Recovered {
                requeued: 0,
                unknown: moved,
            },
        }
    }

    /// Whether nothing was in flight.
    pub fn is_empty(&self) -> bool {
        *self == Recovered::default()
    }
}

impl std::ops::AddAssign for Recovered {
    fn add_assign(&mut self, other: Recovered) {
        self.requeued += other.requeued;
        self.unknown += other.unknown;
    }
}

#[cfg(test)]
mod tests;

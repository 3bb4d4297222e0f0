//! The suite every backend of [`Store`] passes: the lifecycle's moves as the relay makes them,
//! and a relay's records taken over by another once its lease lapsed (for SQLite, the next
//! start). Each backend runs it on a store of its own: SQLite in a temporary file, PostgreSQL
//! in a database made for the test on the server of `TC_POSTGRES_URL`.

use super::*;
use std::sync::Arc;
use tc_core::wire::BatchStatusResponse;
use tc_core::{RawRecord, Validator};
use tc_engine::delivery::pair;

const NOW: i64 = 1_900_000_000_000;

/// The lease the tests' relays take.
const LEASE_MS: i64 = 15_000;

fn now() -> EpochMillis {
    EpochMillis::try_from(NOW).unwrap()
}

fn record(receiver: &str) -> CallRecord {
    let raw = RawRecord::from_text_fields([
        ("caller_number", "+919876543210"),
        ("receiver_number", receiver),
        ("dynamic_label_name", "Centro Bank"),
        ("starts_at", &NOW.to_string()),
        ("ends_at", &(NOW + 3_600_000).to_string()),
    ]);
    Validator::new(now()).validate(&raw).unwrap()
}

fn post(receivers: &[&str], idempotency_key: Option<&str>) -> Post {
    Post {
        producer: None,
        // The body: its receivers, so the same receivers are the same post.
        idempotency_key: idempotency_key.map(|key| IdempotencyKey {
            key: key.to_owned(),
            body: BodyDigest::of(receivers.join(",").as_bytes()),
        }),
        records: receivers
            .iter()
            .enumerate()
            .map(|(i, receiver)| NewRecord {
                number: i + 1,
                record: record(receiver),
                external_id: Some(format!("ext-{receiver}")),
            })
            .collect(),
        problems: Vec::new(),
        ignored_keys: Vec::new(),
    }
}

async fn state(store: &dyn Store, id: RecordId) -> TrackedRecord {
    store
        .status(id)
        .await
        .unwrap()
        .expect("a stored record")
        .record
}

fn accepted(batch: &str) -> BatchOutcome {
    BatchOutcome::Accepted {
        batch_id: batch.parse().unwrap(),
        possibly_duplicated: false,
    }
}

fn at(ms_after: i64) -> EpochMillis {
    now().plus(ms_after)
}

fn lease(ms_after: i64) -> Lease {
    Lease {
        now: at(ms_after),
        until: at(ms_after + LEASE_MS),
    }
}

/// A relay's store, joined at `ms_after`, having taken over what was left as `guarantee` says.
async fn joined(
    store: Arc<dyn Store>,
    ms_after: i64,
    guarantee: Guarantee,
) -> (Arc<dyn Store>, TakenOver) {
    store
        .join(lease(ms_after), Sharing::Coordinator)
        .await
        .unwrap();
    let taken = store
        .take_over(RecordChange::resumed(guarantee), at(ms_after))
        .await
        .unwrap();
    (store, taken)
}

fn ids_of(stored: &[Stored]) -> Vec<RecordId> {
    stored.iter().map(|s| s.id).collect()
}

/// Opens a store on the backend under test: a second call is a second relay (PostgreSQL) or
/// the next start (SQLite, once the first is dropped).
type Open = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>>>>>;

/// The answer a commit gave a post, which was not refused.
fn answer(committed: &Committed) -> &PostAnswer {
    match &committed.reply {
        Reply::Answer(answer) => answer,
        Reply::KeyReused { key } => panic!("the key {key} was refused as used before"),
    }
}

/// Posts are queued in order, once: a retried post and a repeated `external_id` queue nothing.
async fn posts_are_queued_once(store: &dyn Store) -> Vec<RecordId> {
    let first = post(&["+919876543211", "+919876543212"], Some("k1"));
    let committed = store
        .commit_posts(vec![first.clone()], now())
        .await
        .unwrap();
    let ids: Vec<RecordId> = committed[0].queued.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "ids follow the order of arrival");
    let again = store.commit_posts(vec![first], now()).await.unwrap();
    assert!(answer(&again[0]).replayed && again[0].queued.is_empty());
    assert_eq!(answer(&again[0]).accepted, answer(&committed[0]).accepted);
    // The same key for another body is refused, and queues nothing.
    let other = post(&["+919876543219"], Some("k1"));
    let refused = store.commit_posts(vec![other], now()).await.unwrap();
    assert_eq!(refused[0].reply, Reply::KeyReused { key: "k1".into() });
    assert!(refused[0].queued.is_empty());
    let same_external = store
        .commit_posts(vec![post(&["+919876543211", "+919876543213"], None)], now())
        .await
        .unwrap();
    let accepted = &answer(&same_external[0]).accepted;
    assert!(accepted[0].deduplicated && accepted[0].id == ids[0]);
    assert!(!accepted[1].deduplicated);
    let mut all = ids.clone();
    all.extend(same_external[0].queued.iter().map(|(id, _)| *id));
    all
}

/// Within one group commit: a key twice, and an external id twice, queue once.
async fn a_group_repeats_nothing(store: &dyn Store) {
    let first = post(&["+919876543231"], Some("g1"));
    let mut twin = post(&["+919876543232"], None);
    twin.records[0].external_id = Some("ext-+919876543231".into());
    let reused = post(&["+919876543233"], Some("g1"));
    let committed = store
        .commit_posts(vec![first.clone(), first, twin, reused], now())
        .await
        .unwrap();
    assert_eq!(committed[3].reply, Reply::KeyReused { key: "g1".into() });
    assert_eq!(committed[0].queued.len(), 1);
    assert!(answer(&committed[1]).replayed && committed[1].queued.is_empty());
    assert_eq!(
        answer(&committed[1]).accepted,
        answer(&committed[0]).accepted
    );
    let repeated = &answer(&committed[2]).accepted[0];
    // The producer of a post is kept with its records, for reads to be checked against.
    let mut theirs = post(&["+919876543234"], None);
    theirs.producer = Some(crate::keys::Producer::stored("p1".into()));
    let kept = store.commit_posts(vec![theirs], now()).await.unwrap();
    let id = kept[0].queued[0].0;
    let tracked = store.status(id).await.unwrap().unwrap();
    assert_eq!(
        tracked.producer,
        Some(crate::keys::Producer::stored("p1".into()))
    );
    assert_eq!(
        tracked.record.id.to_string(),
        id.to_string(),
        "read back with its tag"
    );
    assert!(repeated.deduplicated && repeated.id == committed[0].queued[0].0);
}

async fn suite(open: Open) {
    let (first, taken) = joined(open().await, 0, Guarantee::AtLeastOnce).await;
    assert!(taken.queued.is_empty() && taken.recovered.is_empty());
    let ids = posts_are_queued_once(first.as_ref()).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    first
        .probe()
        .await
        .expect("a store that takes writes answers a probe");
    assert_eq!(state(first.as_ref(), a).await.state, RecordState::Queued);

    // A batch: two records in flight, one expired.
    let begun = first
        .begin_attempt(vec![a, b], vec![(c, "closed".into())], now())
        .await
        .unwrap()
        .expect("an attempt");
    assert_eq!(begun.sent, [a, b]);
    assert_eq!(state(first.as_ref(), a).await.state, RecordState::InFlight);
    let expired = state(first.as_ref(), c).await;
    assert_eq!(expired.state, RecordState::Rejected);
    assert_eq!(
        expired.code,
        Some(ReportCode::Rule(tc_core::Code::WindowExpired))
    );

    // The relay dies; the next one (after the lease) takes its batch back, at least once:
    // queued again, flagged, and its to send.
    drop(first);
    let (store, taken) = joined(open().await, LEASE_MS + 1, Guarantee::AtLeastOnce).await;
    assert_eq!(taken.recovered.requeued, 2);
    assert_eq!(ids_of(&taken.queued), [a, b]);
    let store = store.as_ref();
    let requeued = state(store, a).await;
    assert_eq!(requeued.state, RecordState::Queued);
    assert!(requeued.possibly_duplicated);
    // The earlier attempt no longer owns them.
    let stale = RecordChange::of_outcome(&accepted("b-stale"));
    store.settle(begun.attempt, stale).await.unwrap();
    assert_eq!(state(store, a).await.state, RecordState::Queued);

    // Sent again and refused: a record an earlier attempt may have stored is unknown, never
    // failed (tc_engine::answer).
    let again = store
        .begin_attempt(vec![a], Vec::new(), now())
        .await
        .unwrap()
        .unwrap();
    let refused = BatchOutcome::Refused {
        code: ReportCode::Slug("invalid-input".into()),
        message: "refused".into(),
    };
    store
        .settle(again.attempt, RecordChange::of_outcome(&refused))
        .await
        .unwrap();
    let answered = state(store, a).await;
    assert_eq!(answered.state, RecordState::Unknown);
    assert_eq!(
        answered.code,
        Some(ReportCode::Slug("invalid-input".into()))
    );
    deliveries_settle_a_batch(store, b).await;

    let mut counts = store.counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            (RecordState::Accepted, 1),
            (RecordState::Rejected, 1),
            (RecordState::Unknown, 1)
        ]
    );
    a_group_repeats_nothing(store).await;
}

/// Accepted, then its deliveries: settled once every record has its final delivery.
async fn deliveries_settle_a_batch(store: &dyn Store, b: RecordId) {
    let third = store
        .begin_attempt(vec![b], Vec::new(), now())
        .await
        .unwrap()
        .unwrap()
        .attempt;
    store
        .settle(third, RecordChange::of_outcome(&accepted("b-3")))
        .await
        .unwrap();
    let accepted_b = state(store, b).await;
    assert_eq!(accepted_b.state, RecordState::Accepted);
    assert_eq!(accepted_b.batch_id, Some("b-3".parse().unwrap()));
    let claimed = store.next_to_poll(at(1)).await.unwrap();
    assert_eq!(claimed, Some((third, "b-3".parse().unwrap())));
    let receivers = store.receivers(third).await.unwrap();
    assert_eq!(receivers, [(b, "+919876543212".to_owned())]);
    let status: BatchStatusResponse = serde_json::from_value(serde_json::json!({"data": [
        {"receiver_number": "919876543212", "status_info": {"status": "success"}}
    ]}))
    .unwrap();
    let pairing = pair(receivers.iter().map(|(id, r)| (*id, r.as_str())), &status);
    store
        .record_deliveries(third, pairing, at(2))
        .await
        .unwrap();
    assert_eq!(store.next_to_poll(at(3)).await.unwrap(), None);
    assert_eq!(
        state(store, b).await.delivery,
        Some(tc_core::wire::DeliveryStatus::Success)
    );
}

async fn at_most_once_a_restart_ends_records_in_flight_unknown(open: Open) {
    let (first, _) = joined(open().await, 0, Guarantee::AtMostOnce).await;
    let ids = posts_are_queued_once(first.as_ref()).await;
    first
        .begin_attempt(ids.clone(), Vec::new(), now())
        .await
        .unwrap();
    drop(first);
    let (store, taken) = joined(open().await, LEASE_MS + 1, Guarantee::AtMostOnce).await;
    assert_eq!(taken.recovered.unknown, 3);
    assert!(taken.queued.is_empty());
    let status = state(store.as_ref(), ids[0]).await;
    assert_eq!(status.state, RecordState::Unknown);
    assert_eq!(status.code, Some(ReportCode::OutcomeUnknown));
    assert!(!status.possibly_duplicated);
}

fn sqlite(dir: &tempfile::TempDir) -> Open {
    let path = dir.path().join("relay.db");
    Box::new(move || {
        let path = path.clone();
        Box::pin(async move {
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
            store
        })
    })
}

#[tokio::test(start_paused = true)]
async fn the_sqlite_store_keeps_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    suite(sqlite(&dir)).await;
}

#[tokio::test(start_paused = true)]
async fn at_most_once_a_sqlite_restart_ends_records_in_flight_unknown() {
    let dir = tempfile::tempdir().unwrap();
    at_most_once_a_restart_ends_records_in_flight_unknown(sqlite(&dir)).await;
}

mod postgres;

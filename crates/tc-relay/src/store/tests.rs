//! The suite every backend of [`Store`] passes: the lifecycle's moves as the relay makes them.
//! A backend is a function from a fresh, empty store to this suite (SQLite here).

use super::*;
use tc_core::wire::BatchStatusResponse;
use tc_core::{RawRecord, Validator};
use tc_engine::delivery::pair;

const NOW: i64 = 1_900_000_000_000;

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
        idempotency_key: idempotency_key.map(str::to_owned),
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
    store.status(id).await.unwrap().expect("a stored record")
}

fn accepted(batch: &str) -> BatchOutcome {
    BatchOutcome::Accepted {
        batch_id: batch.parse().unwrap(),
        possibly_duplicated: false,
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
    let again = store.commit_posts(vec![first], now()).await.unwrap();
    assert!(again[0].answer.replayed && again[0].queued.is_empty());
    let same_external = store
        .commit_posts(vec![post(&["+919876543211", "+919876543213"], None)], now())
        .await
        .unwrap();
    assert!(same_external[0].answer.accepted[0].deduplicated);
    let mut all = ids.clone();
    all.extend(same_external[0].queued.iter().map(|(id, _)| *id));
    let queued: Vec<RecordId> = store.queued().await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(queued, all);
    all
}

async fn suite(store: &dyn Store) {
    let ids = posts_are_queued_once(store).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);

    // A batch: two records in flight, one expired.
    let attempt = store
        .begin_attempt(vec![a, b], vec![(c, "closed".into())], now())
        .await
        .unwrap()
        .expect("an attempt");
    assert_eq!(state(store, a).await.state, RecordState::InFlight);
    let expired = state(store, c).await;
    assert_eq!(expired.state, RecordState::Rejected);
    assert_eq!(
        expired.code,
        Some(ReportCode::Rule(tc_core::Code::WindowExpired))
    );

    // A restart at least once: back in the queue, flagged.
    let moved = store
        .resume(RecordChange::resumed(Guarantee::AtLeastOnce))
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let requeued = state(store, a).await;
    assert_eq!(requeued.state, RecordState::Queued);
    assert!(requeued.possibly_duplicated);
    // The earlier attempt no longer owns them.
    let stale = RecordChange::of_outcome(&accepted("b-stale"));
    store.settle(attempt, stale).await.unwrap();
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
        .settle(again, RecordChange::of_outcome(&refused))
        .await
        .unwrap();
    let answered = state(store, a).await;
    assert_eq!(answered.state, RecordState::Unknown);
    assert_eq!(
        answered.code,
        Some(ReportCode::Slug("invalid-input".into()))
    );

    // Accepted, then its deliveries: settled once every record has its final delivery.
    let third = store
        .begin_attempt(vec![b], Vec::new(), now())
        .await
        .unwrap()
        .unwrap();
    store
        .settle(third, RecordChange::of_outcome(&accepted("b-3")))
        .await
        .unwrap();
    let accepted_b = state(store, b).await;
    assert_eq!(accepted_b.state, RecordState::Accepted);
    assert_eq!(accepted_b.batch_id, Some("b-3".parse().unwrap()));
    let waiting = store.awaiting_delivery(10).await.unwrap();
    assert_eq!(waiting, [(third, "b-3".parse().unwrap())]);
    let receivers = store.receivers(third).await.unwrap();
    assert_eq!(receivers, [(b, "+919876543212".to_owned())]);
    let status: BatchStatusResponse = serde_json::from_value(serde_json::json!({"data": [
        {"receiver_number": "919876543212", "status_info": {"status": "success"}}
    ]}))
    .unwrap();
    let pairing = pair(receivers.iter().map(|(id, r)| (*id, r.as_str())), &status);
    store
        .record_deliveries(third, pairing, now())
        .await
        .unwrap();
    assert!(store.awaiting_delivery(10).await.unwrap().is_empty());
    assert_eq!(
        state(store, b).await.delivery,
        Some(tc_core::wire::DeliveryStatus::Success)
    );

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
}

#[tokio::test(start_paused = true)]
async fn the_sqlite_store_keeps_the_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    suite(&store).await;
}

#[tokio::test(start_paused = true)]
async fn at_most_once_a_restart_ends_records_in_flight_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("relay.db")).unwrap();
    let ids = posts_are_queued_once(&store).await;
    store
        .begin_attempt(ids.clone(), Vec::new(), now())
        .await
        .unwrap();
    let moved = store
        .resume(RecordChange::resumed(Guarantee::AtMostOnce))
        .await
        .unwrap();
    assert_eq!(moved, 3);
    let status = state(&store, ids[0]).await;
    assert_eq!(status.state, RecordState::Unknown);
    assert_eq!(status.code, Some(ReportCode::OutcomeUnknown));
    assert!(!status.possibly_duplicated);
}

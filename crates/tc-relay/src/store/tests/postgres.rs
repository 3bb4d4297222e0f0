//! The suite on PostgreSQL, and what only a shared store does: relays side by side, each
//! sending its own records, taking over a dead one's, and never both moving one record.

use super::*;
use crate::store::PostgresStore;

#[path = "../../../tests/support/database.rs"]
mod database;

use database::TestDatabase;

fn postgres(database: &TestDatabase) -> Open {
    let url: PostgresUrl = database.url().parse().unwrap();
    Box::new(move || {
        let url = url.clone();
        Box::pin(async move {
            let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&url).await.unwrap());
            store
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn the_postgres_store_keeps_the_lifecycle() {
    let database = TestDatabase::create().await;
    suite(postgres(&database)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn at_most_once_a_postgres_take_over_ends_records_in_flight_unknown() {
    let database = TestDatabase::create().await;
    at_most_once_a_restart_ends_records_in_flight_unknown(postgres(&database)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn a_live_relay_keeps_its_records_and_a_dead_ones_are_taken_once() {
    let database = TestDatabase::create().await;
    let open = postgres(&database);
    let (a, _) = joined(open().await, 0, Guarantee::AtLeastOnce).await;
    let (b, _) = joined(open().await, 1, Guarantee::AtLeastOnce).await;
    let (c, _) = joined(open().await, 2, Guarantee::AtLeastOnce).await;
    let queued = a
        .commit_posts(vec![post(&["+919876543241", "+919876543242"], None)], now())
        .await
        .unwrap();
    let ids: Vec<RecordId> = queued[0].queued.iter().map(|(id, _)| *id).collect();
    // Within a's lease, nobody takes its records.
    let change = RecordChange::resumed(Guarantee::AtLeastOnce);
    let early = b.take_over(change.clone(), at(LEASE_MS - 1)).await.unwrap();
    assert!(early.queued.is_empty());
    // b renews, a does not: after a's lease, b and c race for its records; one takes them all.
    b.renew(lease(LEASE_MS)).await.unwrap();
    c.renew(lease(LEASE_MS)).await.unwrap();
    let (by_b, by_c) = tokio::join!(
        b.take_over(change.clone(), at(LEASE_MS + 1)),
        c.take_over(change.clone(), at(LEASE_MS + 1)),
    );
    let mut taken = ids_of(&by_b.unwrap().queued);
    taken.extend(ids_of(&by_c.unwrap().queued));
    taken.sort();
    assert_eq!(taken, ids, "each record taken by exactly one relay");
    // a, cut off, still queues a post before it learns its lease is gone: nobody owns those
    // records, so they are neither stranded nor sent by a alone.
    let late = a
        .commit_posts(vec![post(&["+919876543243"], None)], now())
        .await
        .unwrap();
    let late_id = late[0].queued[0].0;
    let begun_late = a.begin_attempt(vec![late_id], Vec::new(), now()).await;
    assert_eq!(begun_late.unwrap(), None);
    let taken_late = b.take_over(change.clone(), at(LEASE_MS + 2)).await.unwrap();
    assert_eq!(ids_of(&taken_late.queued), [late_id]);
    // a comes back: its lease is lost, and what it still holds in memory it cannot send.
    assert_eq!(a.renew(lease(LEASE_MS + 2)).await.unwrap(), Held::Lost);
    let begun = a
        .begin_attempt(ids.clone(), Vec::new(), now())
        .await
        .unwrap();
    assert_eq!(
        begun, None,
        "another relay's records never leave from this one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn a_relay_that_leaves_gives_its_queue_to_the_others_at_once() {
    let database = TestDatabase::create().await;
    let open = postgres(&database);
    let (a, _) = joined(open().await, 0, Guarantee::AtLeastOnce).await;
    let (b, _) = joined(open().await, 1, Guarantee::AtLeastOnce).await;
    let queued = a
        .commit_posts(vec![post(&["+919876543251"], None)], now())
        .await
        .unwrap();
    a.leave().await.unwrap();
    let change = RecordChange::resumed(Guarantee::AtLeastOnce);
    let taken = b.take_over(change, at(2)).await.unwrap();
    assert_eq!(ids_of(&taken.queued), [queued[0].queued[0].0]);
    assert!(taken.recovered.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn a_post_retried_on_another_relay_queues_nothing_twice() {
    let database = TestDatabase::create().await;
    let open = postgres(&database);
    let (a, _) = joined(open().await, 0, Guarantee::AtLeastOnce).await;
    let (b, _) = joined(open().await, 1, Guarantee::AtLeastOnce).await;
    // The same post on both relays at the same moment, over and over: one queues it, the
    // other replays its answer; external ids hold across relays too.
    for round in 0..20 {
        let key = format!("retry-{round}");
        let receivers = [format!("+9198765{:05}", round)];
        let receivers: Vec<&str> = receivers.iter().map(String::as_str).collect();
        let one = post(&receivers, Some(&key));
        let (on_a, on_b) = tokio::join!(
            a.commit_posts(vec![one.clone()], now()),
            b.commit_posts(vec![one], now())
        );
        let (on_a, on_b) = (on_a.unwrap(), on_b.unwrap());
        let queued = on_a[0].queued.len() + on_b[0].queued.len();
        assert_eq!(queued, 1, "round {round}: queued once");
        // And the same key with another body, on either relay, is refused.
        let other = post(&["+919876599999"], Some(&key));
        let refused = b.commit_posts(vec![other], now()).await.unwrap();
        assert_eq!(refused[0].reply, Reply::KeyReused { key: key.clone() });
        let (on_a, on_b) = (answer(&on_a[0]), answer(&on_b[0]));
        assert_eq!(on_a.accepted, on_b.accepted);
        assert!(on_a.replayed != on_b.replayed);
    }
    let counts = a.counts().await.unwrap();
    assert_eq!(counts, [(RecordState::Queued, 20)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn two_relays_never_ask_about_one_batch_together() {
    let database = TestDatabase::create().await;
    let open = postgres(&database);
    let (a, _) = joined(open().await, 0, Guarantee::AtLeastOnce).await;
    let (b, _) = joined(open().await, 1, Guarantee::AtLeastOnce).await;
    let queued = a
        .commit_posts(vec![post(&["+919876543261", "+919876543262"], None)], now())
        .await
        .unwrap();
    for (n, (id, _)) in queued[0].queued.iter().enumerate() {
        let begun = a
            .begin_attempt(vec![*id], Vec::new(), now())
            .await
            .unwrap()
            .unwrap();
        let outcome = accepted(&format!("b-{n}"));
        a.settle(begun.attempt, RecordChange::of_outcome(&outcome))
            .await
            .unwrap();
    }
    let (on_a, on_b) = tokio::join!(a.next_to_poll(at(5)), b.next_to_poll(at(5)));
    let (on_a, on_b) = (on_a.unwrap().unwrap(), on_b.unwrap().unwrap());
    assert_ne!(on_a.0, on_b.0, "each batch is claimed by one relay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(tc_postgres),
    ignore = "needs PostgreSQL: set TC_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres"
)]
async fn a_store_of_a_newer_relay_is_refused() {
    let database = TestDatabase::create().await;
    let url: PostgresUrl = database.url().parse().unwrap();
    drop(PostgresStore::open(&url).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&database.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE tc_relay.schema_version SET version = version + 1",
            &[],
        )
        .await
        .unwrap();
    let refused = PostgresStore::open(&url).await.err().expect("refused");
    assert!(matches!(refused, Error::StoreSchema { .. }), "{refused}");
}

#[tokio::test(start_paused = true)]
async fn a_database_that_does_not_answer_is_named_with_the_reason() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let url: PostgresUrl = "postgres://relay:hunter2@127.0.0.1:1/queue"
        .parse()
        .unwrap();
    let error = PostgresStore::open(&url).await.err().expect("refused");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot connect to the store: "),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

//! `Client::wait_for_batch`: polled until every delivery is settled, or until the timeout, in
//! paused time against a scripted status server and against the simulator.

mod common;

use common::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tc_core::wire::DeliveryStatus;
use tc_http::{Client, Error, Setting, Settlement};
use tc_sim::Simulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// What the scripted server answers to the `n`th status request (from 0): the records'
/// `status_info.status` values.
type Statuses = fn(u32) -> Vec<&'static str>;

/// A loopback server that mints a token and answers status requests per `statuses`; it counts
/// the status requests.
async fn status_server(statuses: Statuses) -> (Client, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let polls = Arc::new(AtomicU32::new(0));
    let counter = polls.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // Requests here are bodiless GETs or a small token POST: one read holds them.
                let mut buf = vec![0u8; 8192];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let body = if head.contains("/token ") {
                    r#"{"token":"t0k","created_at":"2030-01-01T00:00:00Z"}"#.to_owned()
                } else {
                    status_body(&statuses(counter.fetch_add(1, Ordering::SeqCst)))
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}"))
        .client_account_id("acct")
        .key_id("key")
        .api_key("secret".to_owned())
        .request_timeout(Duration::from_secs(3_600))
        .build()
        .unwrap();
    (client, polls)
}

fn status_body(statuses: &[&str]) -> String {
    let records: Vec<String> = statuses
        .iter()
        .enumerate()
        .map(|(n, status)| {
            format!(
                r#"{{"caller_number":"919876543210","receiver_number":"91987654321{n}","status_info":{{"status":"{status}"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"client_account_id":"acct","batch_id":"b-1","data":[{}]}}"#,
        records.join(",")
    )
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_polled_until_every_delivery_is_settled() {
    let (client, polls) = status_server(|n| match n {
        0 => vec!["pending", "pending"],
        1 => vec!["processing", "success"],
        2 => vec!["queued", "success"],
        _ => vec!["not_truecaller_user", "success"],
    })
    .await;
    let started = Instant::now();
    let waited = client
        .wait_for_batch(&batch_id(), Duration::from_secs(2), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(waited.settlement, Settlement::Settled);
    assert!(waited.is_settled());
    assert_eq!((waited.polls, polls.load(Ordering::SeqCst)), (4, 4));
    assert_eq!(waited.unsettled().count(), 0);
    let deliveries: Vec<DeliveryStatus> = waited
        .status
        .data
        .iter()
        .map(|r| r.status_info.delivery())
        .collect();
    assert_eq!(
        deliveries,
        [DeliveryStatus::NotTruecallerUser, DeliveryStatus::Success]
    );
    // Three waits of the poll interval, in virtual time.
    assert_eq!(started.elapsed().as_secs(), 6);
}

#[tokio::test(start_paused = true)]
async fn the_wait_ends_before_a_poll_would_pass_the_timeout_with_the_last_status() {
    let (client, polls) = status_server(|n| {
        if n % 2 == 0 {
            vec!["success", "pending"]
        } else {
            vec!["success", "queued"]
        }
    })
    .await;
    let started = Instant::now();
    let waited = client
        .wait_for_batch(&batch_id(), Duration::from_secs(2), Duration::from_secs(7))
        .await
        .unwrap();
    // Polls at 0, 2, 4 and 6 s; one at 8 s would be past the 7 s allowed.
    assert_eq!(waited.settlement, Settlement::TimedOut);
    assert_eq!((waited.polls, polls.load(Ordering::SeqCst)), (4, 4));
    assert_eq!(started.elapsed().as_secs(), 6);
    let unsettled: Vec<DeliveryStatus> = waited
        .unsettled()
        .map(|r| r.status_info.delivery())
        .collect();
    assert_eq!(unsettled, [DeliveryStatus::Queued]);
}

#[tokio::test(start_paused = true)]
async fn a_batch_with_no_record_listed_yet_is_not_settled() {
    let (client, _) = status_server(|n| if n == 0 { vec![] } else { vec!["push_failed"] }).await;
    let waited = client
        .wait_for_batch(&batch_id(), Duration::from_secs(1), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!((waited.settlement, waited.polls), (Settlement::Settled, 2));

    let (client, _) = status_server(|_| vec![]).await;
    let waited = client
        .wait_for_batch(&batch_id(), Duration::from_secs(1), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((waited.settlement, waited.polls), (Settlement::TimedOut, 1));
}

#[tokio::test(start_paused = true)]
async fn a_zero_poll_interval_is_refused_before_anything_is_sent() {
    let (client, polls) = status_server(|_| vec!["pending"]).await;
    let error = client
        .wait_for_batch(&batch_id(), Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error}");
    assert_eq!(
        error.config_error().unwrap().settings(),
        [Setting::PollInterval]
    );
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert_eq!(client.stats().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn a_batch_created_on_the_simulator_settles_with_the_simulated_deliveries() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let client = client(client_config(&sim));
    let batch = &batches(77, 1, 5)[0];
    let created = client.create_call_records(batch).await.unwrap();
    let waited = client
        .wait_for_batch(
            &created.batch_id,
            Duration::from_secs(2),
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    // The simulator decides every delivery at once.
    assert_eq!((waited.settlement, waited.polls), (Settlement::Settled, 1));
    assert_eq!(waited.status.data.len(), 5);
    for record in &waited.status.data {
        assert_eq!(
            record.status_info.delivery(),
            DeliveryStatus::parse(tc_sim::expected_status(&record.receiver_number)),
        );
    }
    sim.shutdown().await;
}

fn batch_id() -> tc_core::BatchId {
    "b-1".parse().expect("a batch id")
}

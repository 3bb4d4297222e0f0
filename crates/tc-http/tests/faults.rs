//! Server errors, lost answers and at-most-once over real HTTP, in paused time: every batch stored exactly once
//! when that is knowable, and every possible duplicate flagged when it is not.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tc_http::{Error, RetryConfig};
use tc_sim::Simulator;

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_until_every_batch_is_stored_once() {
    let config = tc_sim::SimConfig {
        fail_rate: 0.3,
        seed: 3,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    // 30% failures need ~43% extra requests: more than the default 20% budget allows.
    let retry = RetryConfig::default()
        .with_max_attempts(12)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .with_budget(2.0, 10);
    let client = client(client_config(&sim).retry(retry));
    let results = send_all(&client, batches(30, 40, 5)).await;
    assert_all_created_once(&results);
    let counters = sim.counters();
    let stats = client.stats();
    assert!(
        status_count(&sim, 500) >= 5,
        "the faults must fire: {counters:?}"
    );
    assert_eq!(
        stats.responses_by_status.get(&500).copied(),
        Some(status_count(&sim, 500))
    );
    assert_eq!(stats.retries, status_count(&sim, 500));
    assert_eq!(counters.batches_stored, 40);
    assert_eq!(counters.duplicate_records, 0);
    let stored = stored_by_receiver(&sim);
    assert_eq!(stored.len(), 200);
    assert!(stored.values().all(|&n| n == 1));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_retry_budget_stops_a_run_against_a_failing_server() {
    let config = tc_sim::SimConfig {
        fail_rate: 0.6,
        seed: 5,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let retry = RetryConfig::default()
        .with_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .with_budget(0.2, 4);
    let client = client(client_config(&sim).retry(retry));
    let results = send_all(&client, batches(31, 40, 1)).await;
    let gave_up = results
        .iter()
        .filter(|r| matches!(r, Err(Error::GaveUp { reason, possibly_stored: false, .. }) if reason.contains("budget")))
        .count();
    assert!(gave_up > 0, "{results:?}");
    // At most 4 + 20% of 40 = 12 retries over the whole run.
    let counters = sim.counters();
    assert!(counters.create_requests <= 40 + 12, "{counters:?}");
    assert_eq!(client.stats().retries, counters.create_requests - 40);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn lost_answers_are_resent_and_every_possible_duplicate_is_flagged() {
    let config = tc_sim::SimConfig {
        drop_rate: 0.3,
        seed: 11,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let retry = RetryConfig::default()
        .with_max_attempts(10)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .with_budget(2.0, 10);
    let client = client(client_config(&sim).retry(retry));
    let batches = batches(32, 40, 4);
    let receivers: Vec<Vec<String>> = batches
        .iter()
        .map(|b| {
            b.records()
                .iter()
                .map(|r| r.receiver_number().as_str().to_owned())
                .collect()
        })
        .collect();
    let results = send_all(&client, batches).await;
    let mut flagged_receivers = HashSet::new();
    let mut lost_answers = 0u64;
    let mut expected_duplicates = 0u64;
    for (result, receivers) in results.iter().zip(&receivers) {
        let created = result.as_ref().expect("every batch is created in the end");
        // Only drops are injected, so every failed attempt stored the batch once more.
        let extra = u64::from(created.attempts - 1);
        assert_eq!(created.possibly_duplicated, extra > 0);
        if created.possibly_duplicated {
            flagged_receivers.extend(receivers.iter().cloned());
        }
        lost_answers += extra;
        expected_duplicates += extra * receivers.len() as u64;
    }
    let counters = sim.counters();
    let stats = client.stats();
    assert!(
        counters.responses_dropped >= 5,
        "the faults must fire: {counters:?}"
    );
    assert_eq!(counters.responses_dropped, lost_answers);
    assert_eq!(counters.duplicate_records, expected_duplicates);
    assert_eq!(
        stats.possibly_duplicated_batches,
        results
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|c| c.possibly_duplicated))
            .count() as u64
    );
    assert_eq!(
        stats.records_possibly_duplicated,
        flagged_receivers.len() as u64
    );
    for (receiver, times) in stored_by_receiver(&sim) {
        assert!(
            times == 1 || flagged_receivers.contains(&receiver),
            "{receiver} stored {times} times, not flagged"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn at_most_once_never_resends_a_batch_whose_answer_was_lost() {
    let config = tc_sim::SimConfig {
        drop_rate: 0.5,
        seed: 13,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(client_config(&sim).guarantee(tc_http::Guarantee::AtMostOnce));
    let results = send_all(&client, batches(33, 30, 2)).await;
    let unknown = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(Error::outcome_unknown))
        .count();
    for result in &results {
        match result {
            Ok(created) => assert!(!created.possibly_duplicated && created.attempts == 1),
            Err(error @ Error::OutcomeUnknown { attempts: 1, .. }) => {
                assert!(
                    error
                        .to_string()
                        .contains("may or may not have been stored"),
                    "{error}"
                )
            }
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    let counters = sim.counters();
    assert!(unknown > 0, "the faults must fire");
    assert_eq!(counters.create_requests, 30, "nothing sent twice");
    assert_eq!(counters.responses_dropped, unknown as u64);
    assert_eq!(
        counters.batches_stored, 30,
        "the lost answers' batches were stored"
    );
    assert_eq!(counters.duplicate_records, 0);
    assert_eq!(client.stats().outcome_unknown_batches, unknown as u64);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_timeout_after_sending_is_an_unknown_outcome() {
    // A server that reads the request and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = requests.clone();
    let server = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            open.push(socket);
        }
    });
    let config = tc_http::Client::builder()
        .base_url(format!("http://{addr}"))
        .client_account_id("acct")
        .key_id("key")
        .api_key("secret".to_owned())
        .request_timeout(std::time::Duration::from_millis(300))
        .retry(
            RetryConfig::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(5), RetryConfig::default().max_delay()),
        );
    let client = config.build().unwrap();
    // The token request itself times out: safe to repeat, so it is retried, then reported as
    // given up without a stored batch.
    let error = client.labels().await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::GaveUp {
                attempts: 3,
                last: tc_http::AttemptFailure::Timeout,
                possibly_stored: false,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 3);
    server.abort();
}

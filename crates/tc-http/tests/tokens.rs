//! Tokens over real loopback HTTP: cached, created once for a crowd, refreshed before expiry,
//! recovered after a 401 without a storm, and never created beyond the account's budget.

mod common;

use common::*;
use std::time::{Duration, Instant};
use tc_http::Error;
use tc_sim::Simulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_of_concurrent_sends_creates_one_token() {
    let sim = Simulator::start(sim_config()).await.unwrap();
    let client = client(client_config(&sim));
    let results = send_all(&client, batches(1, 1000, 1)).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    // And the cached token serves later calls too.
    client
        .create_call_records(&batches(2, 1, 1)[0])
        .await
        .unwrap();
    assert_eq!(sim.counters().tokens_created, 1);
    assert_eq!(client.stats().tokens_created, 1);
    assert_eq!(sim.counters().batches_stored, 1001);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_are_refreshed_before_they_expire() {
    let config = tc_sim::SimConfig {
        token_ttl: Duration::from_secs(2),
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    // Refresh margin 0.5 s of a 2 s life: a new token every ~1.5 s.
    let client = client(client_config(&sim));
    let started = Instant::now();
    let mut sent = 0u32;
    while started.elapsed() < Duration::from_millis(4_500) {
        client
            .create_call_records(&batches(3, 1, 1)[0])
            .await
            .unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counters = sim.counters();
    assert_eq!(
        status_count(&sim, 401),
        0,
        "no request may race the expiry: {counters:?}"
    );
    assert!((3..=5).contains(&counters.tokens_created), "{counters:?}");
    assert_eq!(counters.batches_stored, u64::from(sent));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_401_storm_causes_one_refresh_not_one_per_caller() {
    // The server's tokens die after 1 s but the client believes the documented 60 minutes, so
    // every caller in flight gets 401 at once when the token dies.
    let config = tc_sim::SimConfig {
        token_ttl: Duration::from_secs(1),
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(
        client_config(&sim)
            .with_token_ttl(Duration::from_secs(3600))
            .with_refresh_margin(Duration::from_secs(60)),
    );
    client
        .create_call_records(&batches(4, 1, 1)[0])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let results = send_all(&client, batches(5, 100, 1)).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().find(|r| r.is_err())
    );
    let counters = sim.counters();
    assert_eq!(
        counters.tokens_created, 2,
        "one refresh for the whole crowd: {counters:?}"
    );
    assert_eq!(counters.batches_stored, 101);
    let stats = client.stats();
    assert!(
        stats.unauthorized >= 1 && stats.unauthorized <= 100,
        "{stats:?}"
    );
    assert_eq!(status_count(&sim, 401), stats.unauthorized);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_creation_budget_is_never_exceeded_under_a_401_storm() {
    // 3 creations per 30 minutes, tokens that die after 300 ms: the client must stop at 3 and
    // say when it can go on, never provoke the server's 429 on the token endpoint.
    let config = tc_sim::SimConfig {
        token_ttl: Duration::from_millis(300),
        token_creations_per_window: 3,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(
        client_config(&sim)
            .with_token_ttl(Duration::from_secs(3600))
            .with_refresh_margin(Duration::from_secs(60))
            .with_max_token_wait(Duration::from_secs(1)),
    );
    let mut budget_errors = 0;
    for round in 0..8 {
        let results = send_all(&client, batches(6 + round, 20, 1)).await;
        for result in results {
            match result {
                Ok(_) => {}
                Err(Error::TokenBudgetExhausted { retry_after, .. }) => {
                    assert!(
                        retry_after > Duration::from_secs(25 * 60),
                        "{retry_after:?}"
                    );
                    budget_errors += 1;
                }
                // A caller holding an old token may meet the dead token twice.
                Err(Error::Unauthorized { status: 401, .. }) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    let counters = sim.counters();
    assert_eq!(counters.tokens_created, 3, "{counters:?}");
    assert_eq!(
        status_count(&sim, 429),
        0,
        "the server never had to refuse a creation: {counters:?}"
    );
    assert!(budget_errors > 0, "the storm must outlast the budget");
    assert_eq!(client.stats().token_requests, 3);
    sim.shutdown().await;
}

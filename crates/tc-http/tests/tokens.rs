//! Tokens over real loopback HTTP, in paused time: cached, created once for a crowd, refreshed before expiry,
//! recovered after a 401 without a storm, and never created beyond the account's budget.

mod common;

use common::*;
use std::time::Duration;
use tc_http::Error;
use tc_sim::Simulator;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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
    // Created at 0 s, then refreshed at 1.5 s and 3 s; the next is due at 4.5 s, when the
    // loop stops.
    assert_eq!(counters.tokens_created, 3, "{counters:?}");
    assert_eq!(sent, 90, "one batch every 50 ms for 4.5 s");
    assert_eq!(counters.batches_stored, u64::from(sent));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
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
            .token_ttl(Duration::from_secs(3600))
            .refresh_margin(Duration::from_secs(60)),
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
    // Time is virtual: the 100 callers all went out on the dead token before the first 401
    // came back, and each was retried once on the one fresh token.
    assert_eq!((stats.unauthorized, stats.retries), (100, 100), "{stats:?}");
    assert_eq!(status_count(&sim, 401), stats.unauthorized);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
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
            .token_ttl(Duration::from_secs(3600))
            .refresh_margin(Duration::from_secs(60))
            .max_token_wait(Duration::from_secs(1)),
    );
    // Per round: (created, refused for the spent budget).
    let mut rounds = Vec::new();
    for round in 0..8 {
        let results = send_all(&client, batches(6 + round, 20, 1)).await;
        let mut outcome = (0, 0);
        for result in results {
            match result {
                Ok(_) => outcome.0 += 1,
                Err(Error::TokenBudgetExhausted { retry_after, .. }) => {
                    assert!(
                        retry_after > Duration::from_secs(25 * 60),
                        "{retry_after:?}"
                    );
                    outcome.1 += 1;
                }
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        rounds.push(outcome);
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
    // Each round finds the token dead: rounds 1 and 2 refresh it, the budget's last two
    // creations; from round 3 on every call fails at once, saying when to go on.
    let mut expected = vec![(20, 0); 3];
    expected.extend([(0, 20); 5]);
    assert_eq!(rounds, expected);
    let counters = sim.counters();
    assert_eq!(counters.tokens_created, 3, "{counters:?}");
    assert_eq!(
        status_count(&sim, 429),
        0,
        "the server never had to refuse a creation: {counters:?}"
    );
    assert_eq!(client.stats().token_requests, 3);
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_token_creation_cancelled_mid_request_leaves_no_slot_stuck() {
    // Every answer takes 1 s, so the first call can be dropped while its token request is out.
    let config = tc_sim::SimConfig {
        latency: Duration::from_secs(1),
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(client_config(&sim));
    let first = {
        let client = client.clone();
        let batch = batches(90, 1, 1).remove(0);
        tokio::spawn(async move { client.create_call_records(&batch).await })
    };
    // Triggered by the event, not by a guess at timing: the token request has left.
    for _ in 0..1_000 {
        if client.stats().token_requests == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(client.stats().token_requests, 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // The next call is not left waiting for a creation nobody finishes.
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        client.create_call_records(&batches(91, 1, 1)[0]),
    )
    .await
    .expect("the slot was released");
    assert!(second.is_ok(), "{second:?}");
    let stats = client.stats();
    assert_eq!(
        (stats.token_requests, stats.tokens_created),
        (2, 1),
        "{stats:?}"
    );
    assert_eq!(sim.counters().batches_stored, 1);
    sim.shutdown().await;
}

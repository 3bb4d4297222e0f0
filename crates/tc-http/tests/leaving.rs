//! A create call's `Leaving` is told once, after the token and before the first request leaves,
//! and a cancel ends the call with nothing sent: what a journal needs to know that a batch
//! written down never left.

mod common;

use common::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tc_http::{Client, CreateOptions, Departure, Leaving, LeavingFuture, MemoryCoordinator};
use tc_sim::{SimConfig, Simulator};

/// Counts its calls, and the client's tokens and create requests at each.
struct Counting {
    client: Client,
    calls: AtomicU64,
    tokens_seen: AtomicU64,
    requests_seen: AtomicU64,
    departure: Departure,
}

impl Counting {
    fn new(client: &Client, departure: Departure) -> Arc<Counting> {
        Arc::new(Counting {
            client: client.clone(),
            calls: AtomicU64::new(0),
            tokens_seen: AtomicU64::new(0),
            requests_seen: AtomicU64::new(0),
            departure,
        })
    }
}

impl Leaving for Counting {
    fn about_to_leave(&self) -> LeavingFuture<'_> {
        let stats = self.client.stats();
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.tokens_seen
            .store(stats.tokens_created, Ordering::SeqCst);
        self.requests_seen
            .store(stats.requests - stats.token_requests, Ordering::SeqCst);
        Box::pin(async move { self.departure })
    }
}

#[tokio::test(start_paused = true)]
async fn leaving_is_told_once_per_call_after_the_token_and_before_its_first_request() {
    // Half the creates fail with a 500: most calls take several requests.
    let sim = Simulator::start(SimConfig {
        fail_rate: 0.5,
        ..sim_config()
    })
    .await
    .unwrap();
    let client = client(client_config(&sim));
    let mut requests_before = 0;
    for (i, batch) in batches(1, 12, 3).into_iter().enumerate() {
        let leaving = Counting::new(&client, Departure::Go);
        let options = CreateOptions::new().on_leaving(leaving.clone());
        let created = client.create_call_records_with(&batch, options).await;
        assert!(created.is_ok(), "{created:?}");
        assert_eq!(leaving.calls.load(Ordering::SeqCst), 1, "call {i}: once");
        assert_eq!(
            leaving.tokens_seen.load(Ordering::SeqCst),
            1,
            "after the token"
        );
        let seen = leaving.requests_seen.load(Ordering::SeqCst);
        assert_eq!(seen, requests_before, "call {i}: before its first request");
        let stats = client.stats();
        requests_before = stats.requests - stats.token_requests;
    }
    let creates = sim.counters().create_requests;
    assert!(creates > 12, "some calls were retried: {creates} requests");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_departure_sends_nothing_and_stores_nothing() {
    for coordinated in [false, true] {
        let sim = Simulator::start(sim_config()).await.unwrap();
        let mut config = client_config(&sim);
        if coordinated {
            config = config.coordinator(Arc::new(MemoryCoordinator::new()));
        }
        let client = client(config);
        let leaving = Counting::new(&client, Departure::Cancel);
        let batch = batches(2, 1, 3).remove(0);
        let options = CreateOptions::new().on_leaving(leaving.clone());
        let error = client
            .create_call_records_with(&batch, options)
            .await
            .expect_err("cancelled");
        assert!(!error.outcome_unknown(), "nothing left: {error}");
        assert_eq!(leaving.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            sim.counters().create_requests,
            0,
            "coordinated: {coordinated}"
        );
        // The place it held is given back: the next call goes at once.
        let created = client.create_call_records(&batch).await;
        assert!(created.is_ok(), "{created:?}");
        sim.shutdown().await;
    }
}

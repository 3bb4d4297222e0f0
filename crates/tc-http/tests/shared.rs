//! Clients sharing one account through an in-memory coordinator, in virtual time shared by the
//! clients, the coordinator's answers and the simulator: the account's limits hold for the
//! clients together, and a claim its holder abandoned is taken over when its lease ends.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tc_core::transport::WindowLimit;
use tc_core::EpochMillis;
use tc_http::{
    Claim, Client, Coordinator, CoordinatorFuture, MemoryCoordinator, Place, Reached, Reservation,
    SharedToken, TokenClaim, TokenTerms,
};
use tc_sim::Simulator;
use tokio::time::Instant;

/// The API's limit on one token: 60 requests in any 60 seconds.
fn api_limits() -> tc_sim::SimConfig {
    tc_sim::SimConfig {
        rate_per_minute: 60,
        rate_window: Duration::from_secs(60),
        ..sim_config()
    }
}

fn shared_client(sim: &Simulator, coordinator: Arc<dyn Coordinator>) -> Client {
    client(
        client_config(sim)
            .tokens(1)
            .coordinator(coordinator)
            .connect_timeout(Duration::from_secs(2)),
    )
}

#[tokio::test(start_paused = true)]
async fn two_clients_on_one_memory_coordinator_share_one_token_and_its_window() {
    let sim = Simulator::start(api_limits()).await.unwrap();
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::new());
    let clients = [
        shared_client(&sim, coordinator.clone()),
        shared_client(&sim, coordinator.clone()),
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        tasks.extend(spawn_creations(
            client,
            batches(40 + c as u32, 75, 2),
            started,
        ));
    }
    let done = creation_times(tasks).await;
    let counters = sim.counters();
    assert_eq!(status_count(&sim, 429), 0, "{counters:?}");
    assert_eq!(counters.batches_stored, 150);
    assert_eq!(counters.duplicate_records, 0);
    assert_eq!(
        counters.tokens_created, 1,
        "one token between the two clients"
    );
    // Together at the token's limit, never over it.
    assert_eq!(counters.fullest_create_window, 60, "{counters:?}");
    let shared: u64 = clients.iter().map(|c| c.stats().shared_tokens).sum();
    assert_eq!(
        shared, 1,
        "the client that did not create the token took it"
    );
    // 150 requests at 60 per window: the last 30 leave once two windows have passed since
    // the first 60 and then the next 60 were answered (plus the 30 ms guard, twice).
    let third_window = done
        .iter()
        .filter(|d| **d >= Duration::from_secs(120))
        .count();
    assert_eq!(third_window, 30, "{done:?}");
    sim.shutdown().await;
}

/// What the coordinator was asked and answered, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Token(EpochMillis, &'static str),
    Publish,
}

/// A memory coordinator where, before the client first asks, another process (gone since)
/// claimed slot 0 at the same time: it never publishes nor releases.
#[derive(Debug, Default)]
struct AbandonedClaim {
    inner: MemoryCoordinator,
    asked: Mutex<Vec<Asked>>,
}

impl Coordinator for AbandonedClaim {
    fn token<'a>(
        &'a self,
        slot: usize,
        now: EpochMillis,
        terms: &'a TokenTerms,
    ) -> CoordinatorFuture<'a, TokenClaim> {
        Box::pin(async move {
            if self.asked.lock().unwrap().is_empty() {
                let vanished = self.inner.token(slot, now, terms).await?;
                assert!(matches!(vanished, TokenClaim::Claimed(_)));
            }
            let answer = self.inner.token(slot, now, terms).await?;
            let kind = match &answer {
                TokenClaim::Shared(_) => "shared",
                TokenClaim::Claimed(_) => "claimed",
                TokenClaim::Busy { .. } => "busy",
                TokenClaim::BudgetUntil(_) => "budget",
            };
            self.asked.lock().unwrap().push(Asked::Token(now, kind));
            Ok(answer)
        })
    }

    fn publish<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        token: &'a SharedToken,
    ) -> CoordinatorFuture<'a, ()> {
        self.asked.lock().unwrap().push(Asked::Publish);
        self.inner.publish(slot, claim, token)
    }

    fn release<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        reached: Reached,
    ) -> CoordinatorFuture<'a, ()> {
        self.inner.release(slot, claim, reached)
    }

    fn retire(&self, slot: usize, token_id: u64) -> CoordinatorFuture<'_, ()> {
        self.inner.retire(slot, token_id)
    }

    fn reserve(
        &self,
        slot: usize,
        now: EpochMillis,
        limit: WindowLimit,
    ) -> CoordinatorFuture<'_, Reservation> {
        self.inner.reserve(slot, now, limit)
    }

    fn send_finished<'a>(
        &'a self,
        slot: usize,
        place: &'a Place,
        at: EpochMillis,
    ) -> CoordinatorFuture<'a, ()> {
        self.inner.send_finished(slot, place, at)
    }
}

#[tokio::test(start_paused = true)]
async fn a_claim_its_holder_abandoned_is_taken_over_when_its_lease_ends() {
    let sim = Simulator::start(api_limits()).await.unwrap();
    let coordinator = Arc::new(AbandonedClaim::default());
    // The lease is the connect timeout (2 s) plus the request timeout (5 s).
    let client = shared_client(&sim, coordinator.clone());
    let started = Instant::now();
    let batch = batches(50, 1, 1).remove(0);
    client
        .create_call_records(&batch)
        .await
        .expect("created once the lease ended");
    assert_eq!(started.elapsed(), Duration::from_secs(7));
    let asked = coordinator.asked.lock().unwrap().clone();
    let Some(Asked::Token(first, "busy")) = asked.first().cloned() else {
        panic!("{asked:?}");
    };
    // Asked again every 100 ms while the lease ran, then claimed at its end exactly.
    let mut expected: Vec<_> = (0..70)
        .map(|k| Asked::Token(first.plus(k * 100), "busy"))
        .collect();
    expected.push(Asked::Token(first.plus(7_000), "claimed"));
    expected.push(Asked::Publish);
    assert_eq!(asked, expected);
    assert_eq!(sim.counters().tokens_created, 1);
    sim.shutdown().await;
}

/// A shared token the API no longer knows (the API restarted, or revoked it) is retired at its
/// first 401, and a fresh one is created: a later process is not locked out by the tokens an
/// earlier one left with the coordinator.
#[tokio::test(start_paused = true)]
async fn a_shared_token_the_api_forgot_is_replaced_not_a_credentials_refusal() {
    let coordinator: Arc<dyn Coordinator> = Arc::new(MemoryCoordinator::new());
    let first = Simulator::start(api_limits()).await.unwrap();
    let addr = first.local_addr();
    let earlier = shared_client(&first, coordinator.clone());
    earlier
        .create_call_records(&batches(70, 1, 2).remove(0))
        .await
        .expect("stored");
    first.shutdown().await;

    let restarted = Simulator::start_on(api_limits(), addr).await.unwrap();
    // Four calls at once on the one token: each meets the 401, and none may take the old
    // token back from the coordinator before it is retired there.
    let later = shared_client(&restarted, coordinator.clone());
    let mut calls = Vec::new();
    for batch in batches(71, 4, 2) {
        let later = later.clone();
        calls.push(tokio::spawn(async move {
            later.create_call_records(&batch).await
        }));
    }
    for call in calls {
        let created = call.await.expect("the call ran");
        assert!(created.is_ok(), "{created:?}");
    }
    assert_eq!(restarted.counters().tokens_created, 1);
    restarted.shutdown().await;
}

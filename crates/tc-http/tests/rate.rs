//! The rate limit over real HTTP, in virtual time shared by client and simulator: as fast as the server allows and never faster, and 429 storms
//! ridden out with nothing lost.

mod common;

use common::*;
use std::time::Duration;
use tc_sim::Simulator;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn sends_at_the_limit_without_a_single_429() {
    // 10 requests per 2 s per token, as the server counts them. Time is virtual and shared by
    // client and simulator, so the schedule is exact: no guard is needed against clock jitter.
    let window = Duration::from_secs(2);
    let config = tc_sim::SimConfig {
        rate_per_minute: 10,
        rate_window: window,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(client_config(&sim).rate_guard(Duration::ZERO));
    let started = Instant::now();
    let tasks = spawn_creations(&client, batches(20, 35, 2), started);
    let done = creation_times(tasks).await;
    let counters = sim.counters();
    assert_eq!(status_count(&sim, 429), 0, "{counters:?}");
    assert_eq!(counters.batches_stored, 35);
    // The fastest legal schedule answers request k (from 0) at floor(k / 10) windows: 10 at
    // 0 s, 10 at 2 s, 10 at 4 s and the last 5 at exactly 6 s.
    let per_window: Vec<usize> = (0..4)
        .map(|w| done.iter().filter(|d| d.as_millis() / 2_000 == w).count())
        .collect();
    assert_eq!(per_window, [10, 10, 10, 5], "{done:?}");
    assert_eq!(*done.last().unwrap(), window * 3, "{done:?}");
    println!(
        "rate: 35 batches at 10 per {window:?}: last answered after {:?} of virtual time, the \
         ideal (100% of the limit); 429s: 0",
        done.last().unwrap()
    );
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_429_storm_loses_nothing_and_sends_nothing_twice() {
    // Every 3rd create answers 429 with Retry-After: 1.
    let config = tc_sim::SimConfig {
        storm_every: 3,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(client_config(&sim).tokens(2));
    let results = send_all(&client, batches(21, 24, 3)).await;
    assert_all_created_once(&results);
    let counters = sim.counters();
    let stats = client.stats();
    // Every 3rd create request is refused: 24 stored take 35 requests, the 3rd, 6th, ...
    // 33rd of them answered 429.
    assert_eq!(status_count(&sim, 429), 11, "{counters:?}");
    assert_eq!(counters.create_requests, 35, "{counters:?}");
    assert_eq!(stats.rate_limited, status_count(&sim, 429));
    assert_eq!(counters.batches_stored, 24);
    assert_eq!(counters.records_stored, 72);
    assert_eq!(counters.duplicate_records, 0);
    assert!(stored_by_receiver(&sim).values().all(|&n| n == 1));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_calls_waiting_for_the_window_unsent_and_lets_the_sent_one_finish() {
    let config = tc_sim::SimConfig {
        rate_per_minute: 1,
        rate_window: Duration::from_secs(60),
        latency: Duration::from_millis(500),
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let client = client(client_config(&sim).rate_limit(1, Duration::from_secs(60)));
    let stop = tc_http::StopSignal::new();
    let week = Duration::from_secs(7 * 24 * 3600);
    let started = Instant::now();
    let calls: Vec<_> = batches(21, 3, 2)
        .into_iter()
        .map(|batch| {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let result = client.create_call_records_until(&batch, week, &stop).await;
                (result, started.elapsed())
            })
        })
        .collect();
    // The token is answered at 500 ms, the first request then takes 500 ms on the wire; at
    // 700 ms it is out, and the other two wait for the window.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.stop();
    let mut results = Vec::new();
    for call in calls {
        results.push(call.await.unwrap());
    }
    let created: Vec<Duration> = results
        .iter()
        .filter(|(r, _)| r.is_ok())
        .map(|(_, ended)| *ended)
        .collect();
    // Virtual time, shared with the simulator: the sent call ends when its answer comes, at
    // exactly 1 s; the waiting ones end at the stop, 700 ms, not when the window frees (60 s).
    assert_eq!(
        created,
        [Duration::from_millis(1_000)],
        "the request on the wire is answered: {results:?}"
    );
    for (error, ended) in results
        .iter()
        .filter_map(|(r, ended)| r.as_ref().err().map(|e| (e, ended)))
    {
        assert!(
            !error.outcome_unknown(),
            "nothing of a waiting call was sent: {error}"
        );
        assert_eq!(
            *ended,
            Duration::from_millis(700),
            "a waiting call ends at the stop: {error}"
        );
    }
    assert_eq!(sim.counters().create_requests, 1);
    sim.shutdown().await;
}

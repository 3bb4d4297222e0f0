//! Rate limits, token limits and expiry, and every injected fault, over real loopback HTTP, in
//! paused time: the simulator reads tokio's clock, so windows and waits are exact.

mod common;

use common::{error_body, record, Harness};
use std::time::Duration;
use tc_sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_request_past_the_limit_in_a_window_gets_429_with_retry_after() {
    let config = SimConfig {
        rate_per_minute: 5,
        rate_window: Duration::from_secs(2),
        ..SimConfig::demo()
    };
    let h = Harness::start(config).await;
    let token = h.token().await;
    let start = Instant::now();
    for n in 0..5 {
        assert_eq!(
            h.create(&token, &[record(n)]).await.status(),
            200,
            "request {n}"
        );
    }
    let refused = h.create(&token, &[record(5)]).await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no time passes in one window"
    );
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    assert_eq!(wait, 2, "the first slot frees in 2 s");
    assert_eq!(error_body(refused).await.1, "too-many-requests");
    // Another token has its own window.
    let other = h.token().await;
    assert_eq!(h.create(&other, &[record(6)]).await.status(), 200);
    // Waiting as told frees a slot.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(h.create(&token, &[record(7)]).await.status(), 200);
    let counters = h.sim.counters();
    assert_eq!(
        (counters.requests_by_status[&429], counters.records_stored),
        (1, 7)
    );
    // The pace: never more than 5 admitted in one window; request 7 (the 6th admitted on the
    // first token) came one Retry-After after the 1st, at least a window later.
    assert_eq!(counters.fullest_create_window, 5);
    assert_eq!(counters.create_window_gaps, 1);
    assert_eq!(counters.create_window_gap_total_ms, 2_000);
}

#[tokio::test(start_paused = true)]
async fn sixty_first_request_in_a_minute_is_refused() {
    let h = Harness::start(SimConfig::demo()).await;
    let token = h.token().await;
    for n in 0..60 {
        assert_eq!(
            h.create(&token, &[record(n)]).await.status(),
            200,
            "request {n}"
        );
    }
    let refused = h.create(&token, &[record(60)]).await;
    assert_eq!(refused.status(), 429);
    assert!((55..=60).contains(&retry_after(&refused)));
}

#[tokio::test(start_paused = true)]
async fn eleventh_token_in_the_creation_window_is_refused() {
    let h = Harness::start(SimConfig::demo()).await;
    for _ in 0..10 {
        h.token().await;
    }
    let refused = h.token_response().await;
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    assert!((1790..=1800).contains(&wait), "Retry-After {wait}");
    let (_, slug, message) = error_body(refused).await;
    assert_eq!(slug, "too-many-requests");
    assert!(
        message.contains("10 tokens") && message.contains("30 min"),
        "{message}"
    );
    assert_eq!(h.sim.counters().tokens_created, 10);
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_must_log_in_again() {
    let h = Harness::start(SimConfig {
        token_ttl: Duration::from_secs(1),
        ..SimConfig::demo()
    })
    .await;
    let token = h.token().await;
    assert_eq!(h.create(&token, &[record(1)]).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = h.create(&token, &[record(2)]).await;
    assert_eq!(
        error_body(expired).await,
        (
            401,
            "authorization-error".into(),
            "please login again".into()
        )
    );
    assert_eq!(h.create(&h.token().await, &[record(2)]).await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn fail_rate_one_answers_500_and_stores_nothing() {
    let h = Harness::start(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::demo()
    })
    .await;
    let token = h.token().await;
    for n in 0..3 {
        let (status, slug, _) = error_body(h.create(&token, &[record(n)]).await).await;
        assert_eq!((status, slug.as_str()), (500, "internal-error"));
    }
    let counters = h.sim.counters();
    assert_eq!(
        (
            counters.create_requests,
            counters.records_stored,
            counters.batches_stored
        ),
        (3, 0, 0)
    );
    assert_eq!(counters.requests_by_status[&500], 3);
    assert!(h.sim.stored_records().is_empty());
}

#[tokio::test(start_paused = true)]
async fn drop_rate_one_stores_the_batch_and_gives_the_client_no_answer() {
    let h = Harness::start(SimConfig {
        drop_rate: 1.0,
        ..SimConfig::demo()
    })
    .await;
    let token = h.token().await;
    let err = match h
        .http
        .post(h.url(&h.records_path()))
        .bearer_auth(&token)
        .json(&serde_json::json!({"call_records": [record(1), record(2)]}))
        .send()
        .await
    {
        Ok(response) => panic!("expected no answer, got {}", response.status()),
        Err(err) => err,
    };
    assert!(!err.is_timeout() && !err.is_status(), "{err:?}");
    let mut chain = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = source {
        chain.push(e.to_string());
        source = e.source();
    }
    let text = chain.join(": ");
    assert!(
        text.contains("connection closed before message completed"),
        "{text}"
    );

    // At the socket: not one byte of a response, then the connection closes.
    let mut socket = tokio::net::TcpStream::connect(h.sim.local_addr())
        .await
        .unwrap();
    let body = serde_json::json!({"call_records": [record(3)]}).to_string();
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        h.records_path(),
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the connection must close, not hang");
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );

    let counters = h.sim.counters();
    assert_eq!(
        (
            counters.records_stored,
            counters.batches_stored,
            counters.responses_dropped
        ),
        (3, 2, 2)
    );
    assert_eq!(
        counters.requests_by_status.get(&200),
        Some(&1),
        "only the token was answered"
    );
}

#[tokio::test(start_paused = true)]
async fn storm_every_third_create_request_is_a_429_that_stores_nothing() {
    let h = Harness::start(SimConfig {
        storm_every: 3,
        ..SimConfig::demo()
    })
    .await;
    let token = h.token().await;
    let mut statuses = Vec::new();
    for n in 0..7 {
        let response = h.create(&token, &[record(n)]).await;
        if response.status() == 429 {
            assert_eq!(retry_after(&response), 1);
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429, 200]);
    assert_eq!(h.sim.counters().records_stored, 5);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_request() {
    let h = Harness::start(SimConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::demo()
    })
    .await;
    let start = Instant::now();
    let token = h.token().await;
    assert_eq!(h.create(&token, &[record(1)]).await.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_millis(300), "two requests");
}

#[tokio::test(start_paused = true)]
async fn same_seed_same_faults_and_ids() {
    async fn run() -> (Vec<u16>, Vec<String>) {
        let h = Harness::start(SimConfig {
            fail_rate: 0.4,
            seed: 7,
            ..SimConfig::demo()
        })
        .await;
        let token = h.token().await;
        let mut statuses = Vec::new();
        for n in 0..12 {
            statuses.push(h.create(&token, &[record(n)]).await.status().as_u16());
        }
        let ids = h
            .sim
            .stored_records()
            .into_iter()
            .map(|r| r.batch_id)
            .collect();
        (statuses, ids)
    }
    let (first, second) = (run().await, run().await);
    assert_eq!(first, second);
    assert!(
        first.0.contains(&500) && first.0.contains(&200),
        "{:?}",
        first.0
    );
}

#[tokio::test(start_paused = true)]
async fn nonsense_configs_are_refused_at_start() {
    for config in [
        SimConfig {
            fail_rate: 1.5,
            ..SimConfig::demo()
        },
        SimConfig {
            drop_rate: f64::NAN,
            ..SimConfig::demo()
        },
        SimConfig {
            rate_per_minute: 0,
            ..SimConfig::demo()
        },
        SimConfig {
            token_ttl: Duration::ZERO,
            ..SimConfig::demo()
        },
    ] {
        let err = tc_sim::Simulator::start(config)
            .await
            .err()
            .expect("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

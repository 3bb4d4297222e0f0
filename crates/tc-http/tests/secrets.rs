//! Secrets stay secret: a whole faulty run captured at TRACE level, every dependency included,
//! and the Debug and Display of the client, its configuration and its errors, contain neither
//! the API key nor any token.
//!
//! One test in this binary: it installs the process-wide subscriber.

mod common;

use common::*;
use std::time::Duration;
use tc_http::RetryConfig;
use tc_sim::Simulator;

/// The longest run of hex digits: the simulator's tokens are 64 of them, UUIDs at most 12.
fn longest_hex_run(text: &str) -> usize {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn no_secret_in_logs_debug_or_errors() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    assert_eq!(longest_hex_run("id 5b0e7a52-3c1d x ab12"), 8);

    // Every path that touches a token: creation, refresh after 401 (tokens die after 1 s),
    // 429s, 500s, lost answers, at-most-once, and bad credentials.
    let config = tc_sim::SimConfig {
        token_ttl: Duration::from_secs(1),
        fail_rate: 0.15,
        drop_rate: 0.15,
        storm_every: 7,
        ..sim_config()
    };
    let sim = Simulator::start(config).await.unwrap();
    let api_key = sim.config().api_key.clone();
    let retry = RetryConfig::default()
        .with_max_attempts(10)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .with_budget(5.0, 10);
    let config = client_config(&sim)
        .retry(retry)
        .token_ttl(Duration::from_secs(3600))
        .refresh_margin(Duration::from_secs(60))
        .tokens(2);
    let client = config.clone().build().unwrap();
    let mut texts = vec![
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{:?}", client.stats()),
    ];
    for round in 0..3 {
        for result in send_all(&client, batches(50 + round, 15, 2)).await {
            if let Err(error) = result {
                texts.push(format!("{error} {error:?}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(1_050)).await;
    }
    let once = config
        .clone()
        .guarantee(tc_http::Guarantee::AtMostOnce)
        .build()
        .unwrap();
    for result in send_all(&once, batches(60, 10, 1)).await {
        if let Err(error) = result {
            texts.push(format!("{error} {error:?}"));
        }
    }
    let wrong = config.api_key(format!("{api_key}-wrong")).build().unwrap();
    let error = wrong.labels().await.unwrap_err();
    texts.push(format!("{error} {error:?}"));

    let counters = sim.counters();
    assert!(
        counters.tokens_created >= 3,
        "refreshes happened: {counters:?}"
    );
    assert!(
        status_count(&sim, 401) > 0 && status_count(&sim, 429) > 0 && status_count(&sim, 500) > 0,
        "{counters:?}"
    );
    assert!(counters.responses_dropped > 0, "{counters:?}");
    sim.shutdown().await;

    let logs = capture.text();
    for needle in [
        "creating a token",
        "status=401",
        "retrying",
        "answered",
        "status=429",
    ] {
        assert!(
            logs.contains(needle),
            "the capture must hold the whole run; missing `{needle}`"
        );
    }
    texts.push(logs);
    for text in &texts {
        assert!(!text.contains(&api_key), "the API key leaked");
        assert!(longest_hex_run(text) < 32, "a token-like string leaked");
        assert!(!text.contains("Bearer "), "an Authorization header leaked");
    }
    println!(
        "secrets: {} bytes of TRACE output and {} Debug/Display texts checked",
        texts.last().map_or(0, String::len),
        texts.len() - 1
    );
}

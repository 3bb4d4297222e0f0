//! A token the API refuses to create is said in the log at once, with its status and how long
//! the API asks to wait: a spent creation budget (10 per 30 minutes) otherwise shows only as
//! calls that wait (issue 26, item 2).
//!
//! One test in this binary: it installs the process-wide subscriber.

mod common;

use common::*;
use std::time::Duration;
use tc_sim::Simulator;

#[tokio::test(start_paused = true)]
async fn a_refused_token_creation_is_logged_with_its_status() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the only subscriber of this test binary");

    // The account allows one creation; a second process that does not share it asks again.
    let sim = Simulator::start(tc_sim::SimConfig {
        token_creations_per_window: 1,
        ..sim_config()
    })
    .await
    .unwrap();
    let first = client(client_config(&sim));
    first.labels().await.expect("the one creation");
    let second = client(client_config(&sim).max_token_wait(Duration::from_secs(1)));
    let refused = second.labels().await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(status_count(&sim, 429) >= 1, "{:?}", sim.counters());

    let logs = capture.text();
    let line = logs
        .lines()
        .find(|l| l.contains("the token endpoint refused to create a token"))
        .unwrap_or_else(|| panic!("no line names the refusal:\n{logs}"));
    assert!(
        line.contains("WARN") && line.contains("status=429"),
        "{line}"
    );
    assert!(line.contains("retry_after_ms="), "{line}");
    sim.shutdown().await;
}

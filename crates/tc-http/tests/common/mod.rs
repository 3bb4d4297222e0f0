//! Shared by the integration tests: a simulator with test-sized limits, a client matched to it,
//! and batches of valid records with distinct receivers.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tc_core::{Batch, EpochMillis, RawRecord, Validator};
use tc_http::{Client, ClientBuilder, RetryConfig};
use tc_sim::{SimConfig, Simulator};

/// A simulator with the documented limits but room for fast tests: generous rate and creation
/// limits unless a test narrows them.
pub fn sim_config() -> SimConfig {
    SimConfig {
        rate_per_minute: 100_000,
        rate_window: Duration::from_secs(60),
        token_creations_per_window: 1_000,
        seed: 42,
        ..SimConfig::demo()
    }
}

/// A client configured with the simulator's credentials and limits, short backoffs and a seed.
pub fn client_config(sim: &Simulator) -> ClientBuilder {
    let sc = sim.config();
    Client::builder()
        .base_url(sim.base_url())
        .client_account_id(sc.client_account_id.as_str())
        .key_id(sc.key_id.as_str())
        .api_key(sc.api_key.clone())
        .rate_limit(sc.rate_per_minute, sc.rate_window)
        .rate_guard(Duration::from_millis(30))
        .creation_limit(sc.token_creations_per_window, sc.token_creation_window)
        .token_ttl(sc.token_ttl)
        .refresh_margin(sc.token_ttl / 4)
        .request_timeout(Duration::from_secs(5))
        .retry(
            RetryConfig::default()
                .with_backoff(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .seed(7)
}

pub fn client(config: ClientBuilder) -> Client {
    config.build().expect("valid test configuration")
}

pub fn epoch_now() -> EpochMillis {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    EpochMillis::try_from(since.as_millis() as i64).expect("the clock reads a time after 1973")
}

/// `count` batches of `size` records; every receiver number is distinct across all batches of
/// one `run`, so a record stored twice shows up as a duplicate in the simulator.
pub fn batches(run: u32, count: usize, size: usize) -> Vec<Batch> {
    batches_at(epoch_now(), run, count, size)
}

/// Like [`batches`], validated as if it were `now` (a past `now` makes records the server
/// finds expired).
pub fn batches_at(now: EpochMillis, run: u32, count: usize, size: usize) -> Vec<Batch> {
    let validator = Validator::new(now);
    let starts = now.to_string();
    let ends = now.plus(3_600_000).to_string();
    (0..count)
        .map(|b| {
            let records = (0..size)
                .map(|r| {
                    let n = (run as usize * 10_000) + b * size + r;
                    let receiver = format!("+9198{:08}", n);
                    let raw = RawRecord::from_text_fields([
                        ("caller_number", "+919876543210"),
                        ("receiver_number", receiver.as_str()),
                        ("dynamic_label_name", "Centro Bank"),
                        ("dynamic_call_reason", "Calling about your KYC update"),
                        ("starts_at", starts.as_str()),
                        ("ends_at", ends.as_str()),
                    ]);
                    validator
                        .validate(&raw)
                        .unwrap_or_else(|d| panic!("test record {receiver}: {d:?}"))
                })
                .collect();
            Batch::new(records).expect("1 to 500 records")
        })
        .collect()
}

/// How many times each receiver number was stored.
pub fn stored_by_receiver(sim: &Simulator) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for stored in sim.stored_records() {
        *counts.entry(stored.record.receiver_number).or_insert(0) += 1;
    }
    counts
}

/// Runs every batch on its own task against one client; results in batch order.
pub async fn send_all(
    client: &Client,
    batches: Vec<Batch>,
) -> Vec<Result<tc_http::Created, tc_http::Error>> {
    let tasks: Vec<_> = batches
        .into_iter()
        .map(|batch| {
            let client = client.clone();
            tokio::spawn(async move { client.create_call_records(&batch).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("send task panicked"));
    }
    results
}

pub fn status_count(sim: &Simulator, status: u16) -> u64 {
    sim.counters()
        .requests_by_status
        .get(&status)
        .copied()
        .unwrap_or(0)
}

/// Every call created its batch, and none may have been stored twice.
pub fn assert_all_created_once(results: &[Result<tc_http::Created, tc_http::Error>]) {
    for result in results {
        assert!(
            result.as_ref().is_ok_and(|c| !c.possibly_duplicated),
            "{result:?}"
        );
    }
}

/// Creates each batch on `client` in a task of its own; each task answers how long after
/// `started` its batch was created.
pub fn spawn_creations(
    client: &Client,
    batches: Vec<Batch>,
    started: tokio::time::Instant,
) -> Vec<tokio::task::JoinHandle<Result<Duration, tc_http::Error>>> {
    batches
        .into_iter()
        .map(|batch| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .create_call_records(&batch)
                    .await
                    .map(|_| started.elapsed())
            })
        })
        .collect()
}

/// When each batch of `tasks` was created, earliest first; every batch must be.
pub async fn creation_times(
    tasks: Vec<tokio::task::JoinHandle<Result<Duration, tc_http::Error>>>,
) -> Vec<Duration> {
    let mut done = Vec::with_capacity(tasks.len());
    for task in tasks {
        done.push(task.await.unwrap().expect("every batch is created"));
    }
    done.sort();
    done
}

/// Every line a tracing subscriber writes, kept for inspection (give the subscriber a clone).
#[derive(Clone, Default)]
pub struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

//! `cargo xtask bench`'s relay figures: the release `tcbatch serve` against `tcbatch mock` on
//! loopback, driven by a small load generator of concurrent producers. Three runs, each on a
//! fresh relay, store and simulator: durable ingestion (records acknowledged per second), the
//! time from acknowledgement to the batch leaving at a paced arrival rate, and the share of the
//! rate limit used when producers post faster than the limit carries.

use super::bench::TableRow;
use super::bench_submit::{demo_credentials, free_loopback_port, sim_counters, wait_for};
use crate::target_dir;
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PRODUCERS: usize = 50;
/// How long each ingestion run posts.
pub(crate) const INGEST_TIME: Duration = Duration::from_secs(8);
/// A ceiling on each producer's posts, so a run ends even if the clock misbehaves.
const MAX_POSTS_PER_PRODUCER: u64 = 200_000;
const INGEST_TARGET_PER_SECOND: f64 = 20_000.0;
/// The latency run: one record every 5 ms for 10 s.
const ARRIVAL_PER_SECOND: u64 = 200;
const ARRIVAL_TIME: Duration = Duration::from_secs(10);
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// The latency target: the linger plus 100 ms, a bucket bound of the relay's histogram.
const LATENCY_TARGET_SECONDS: f64 = 1.1;
/// The saturation runs' scaled limit: 40 requests per token in any 2-second window carry
/// 10,000 records/s. The client places each request in its window at the time its answer came
/// back (an answer's time is the latest the API can have counted it), which costs one round
/// trip per window: 2 s rather than 1 s halves that cost of scaling the API's minute down, as
/// the submit and shared benches do.
const SATURATION_LIMIT: u32 = 40;
const SATURATION_WINDOW_MS: u64 = 2_000;
const SATURATION_TIME: Duration = Duration::from_secs(20);
/// The saturated run's arrival: 100-record posts at twice what the limit carries, so the queue
/// grows all the time and every window can be full, while the load generator leaves the machine
/// to the relay and the simulator.
const SATURATION_POSTS_PER_SECOND: u64 = 200;
const RATIO_TARGET: f64 = 0.98;
/// Ceiling for waiting on the relay to start or to send what it acknowledged.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

pub fn relay_rows() -> Result<Vec<TableRow>> {
    super::bench::build_tcbatch()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let mut rows = runtime.block_on(ingestion())?;
    rows.push(runtime.block_on(large_post())?);
    rows.push(runtime.block_on(latency())?);
    rows.push(runtime.block_on(saturation(Pressure::Paced))?);
    rows.push(runtime.block_on(saturation(Pressure::Flood))?);
    Ok(rows)
}

/// A `tcbatch mock` and a `tcbatch serve` sending to it, both killed when this is dropped, so
/// an error anywhere in a run leaves no process behind.
struct Stack {
    // Declared first so it is dropped, and stopped, before the simulator it sends to.
    relay: Relay,
    mock: Mock,
}

/// The simulator's limit for a run: requests per token per window of milliseconds.
#[derive(Clone, Copy)]
pub(crate) struct RateLimit {
    pub requests: u32,
    pub window_ms: u64,
}

impl RateLimit {
    /// The hidden flags that hold the client to this limit: `--rate-limit N --rate-window-ms MS`.
    pub fn client_flags(self) -> [String; 4] {
        [
            "--rate-limit".to_owned(),
            self.requests.to_string(),
            "--rate-window-ms".to_owned(),
            self.window_ms.to_string(),
        ]
    }
}

/// The API's own limit: 60 requests per token per minute.
pub(crate) const REAL_LIMIT: RateLimit = RateLimit {
    requests: 60,
    window_ms: 60_000,
};

impl Stack {
    async fn start(name: &str, limit: RateLimit) -> Result<Stack> {
        let mock = Mock::start(limit, Stdio::null())?;
        let alone = ALONE.map(String::from);
        let relay = Relay::start(name, mock.addr, limit, &alone).await?;
        Ok(Stack { relay, mock })
    }
}

/// The release `tcbatch` the bench runs; [`crate::bench::build_tcbatch`] builds it.
pub(crate) fn tcbatch() -> PathBuf {
    target_dir().join("release").join("tcbatch")
}

/// The folder for the bench's generated inputs, stores and logs (under target/, never
/// committed).
pub(crate) fn bench_dir() -> Result<PathBuf> {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The state directory every tcbatch the bench starts is given (`TCBATCH_STATE_DIR`), so no
/// run writes into the operator's own: under the bench's folder.
pub(crate) fn bench_state_dir() -> Result<PathBuf> {
    Ok(bench_dir()?.join("state"))
}

/// The flags of a run that measures one process on its own: no coordinator. The benches
/// compress the API's minute into milliseconds, where the local coordinator's fixed cost per
/// request (a synced write before it leaves and after its answer) would weigh as it never
/// does at the API's pace; the shared-account run measures coordination by itself.
pub(crate) const ALONE: [&str; 2] = ["--coordinator", "none"];

/// A `tcbatch mock` on a fresh loopback port, held to `limit`, killed when dropped.
pub(crate) struct Mock {
    child: Child,
    pub addr: SocketAddr,
}

impl Mock {
    /// Starts the simulator, its log (a line per request) going to `log`, and waits until it
    /// takes connections.
    pub fn start(limit: RateLimit, log: Stdio) -> Result<Mock> {
        let addr = free_loopback_port()?;
        let child = Command::new(tcbatch())
            .args(["mock", "--listen", &addr.to_string()])
            .args(["--rate-per-minute", &limit.requests.to_string()])
            .args(["--rate-window-ms", &limit.window_ms.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting tcbatch mock")?;
        let mock = Mock { child, addr };
        wait_for(addr)?;
        Ok(mock)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tcbatch serve` on a fresh loopback port and a fresh store, sending to a simulator with the
/// demo credentials; killed when dropped.
pub(crate) struct Relay {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Relay {
    /// Starts the relay named `name` (its store and log are named after it) with `extra`
    /// arguments, and waits until it is ready.
    pub async fn start(
        name: &str,
        mock_addr: SocketAddr,
        limit: RateLimit,
        extra: &[String],
    ) -> Result<Relay> {
        let store = bench_dir()?.join(format!("relay-{name}.db"));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
        }
        Relay::start_on(name, store.as_os_str(), mock_addr, limit, extra).await
    }

    /// [`Relay::start`] on a store of the caller's: a file or a PostgreSQL URL.
    pub async fn start_on(
        name: &str,
        store: &std::ffi::OsStr,
        mock_addr: SocketAddr,
        limit: RateLimit,
        extra: &[String],
    ) -> Result<Relay> {
        let dir = bench_dir()?;
        let credentials = demo_credentials(&dir.join("relay.credentials"))?;
        let addr = free_loopback_port()?;
        let log = dir.join(format!("relay-{name}.stderr"));
        let child = Command::new(tcbatch())
            .args(["serve", "--listen", &addr.to_string()])
            .env("TCBATCH_STATE_DIR", bench_state_dir()?)
            .arg("--store")
            .arg(store)
            .args(["--base-url", &format!("http://{mock_addr}")])
            .arg("--credentials")
            .arg(&credentials)
            .args(["--linger", &format!("{}ms", LINGER.as_millis())])
            .args(limit.client_flags())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .context("starting tcbatch serve")?;
        let mut relay = Relay {
            child,
            url: format!("http://{addr}"),
            log,
        };
        relay.wait_ready().await?;
        Ok(relay)
    }

    /// Polls `/readyz` until the relay takes posts, failing early if it exited.
    async fn wait_ready(&mut self) -> Result<()> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("tcbatch serve ended with {status}: {}", self.last_words());
            }
            let ready = client
                .get(format!("{}/readyz", self.url))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success());
            if ready {
                return Ok(());
            }
            ensure!(
                started.elapsed() < SETTLE_LIMIT,
                "tcbatch serve was not ready within {SETTLE_LIMIT:?}: {}",
                self.last_words()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the relay with SIGKILL, as a machine's loss would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn last_words(&self) -> String {
        super::bench::tail(&self.log, 10)
    }

    pub async fn metrics(&self, client: &reqwest::Client) -> Result<String> {
        let answer = client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .context("asking the relay for /metrics")?;
        Ok(answer.text().await?)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Receivers numbered from one counter, so no two records in a run are the same call.
pub(crate) struct Records {
    pub next: AtomicU64,
}

impl Records {
    /// `count` records, each showing from now until an hour from now.
    pub fn body(&self, count: usize) -> serde_json::Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let first = self.next.fetch_add(count as u64, Ordering::Relaxed);
        let records: Vec<serde_json::Value> = (first..first + count as u64)
            .map(|n| {
                serde_json::json!({
                    "caller_number": "+919876543210",
                    "receiver_number": format!("+9198{:08}", n % 100_000_000),
                    "dynamic_label_name": "Centro Bank",
                    "dynamic_call_reason": "Calling about your home loan",
                    "starts_at": now,
                    "ends_at": now + 3_600_000,
                })
            })
            .collect();
        match <[serde_json::Value; 1]>::try_from(records) {
            Ok([one]) => one,
            Err(many) => serde_json::json!({ "call_records": many }),
        }
    }
}

/// What the producers of one run saw.
#[derive(Default)]
pub(crate) struct Posted {
    pub acknowledged: AtomicU64,
    pub posts: AtomicU64,
    /// Answers other than 202, and posts that got no answer.
    pub refused: AtomicU64,
}

/// Posts `records` records, counting those a 202 acknowledged.
pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    records: &Records,
    count: usize,
    posted: &Posted,
) {
    posted.posts.fetch_add(1, Ordering::Relaxed);
    let answer = client.post(url).json(&records.body(count)).send().await;
    let accepted = match answer {
        Ok(answer) if answer.status() == reqwest::StatusCode::ACCEPTED => answer
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| body["accepted"].as_array().map(Vec::len)),
        _ => None,
    };
    match accepted {
        Some(n) => posted.acknowledged.fetch_add(n as u64, Ordering::Relaxed),
        None => posted.refused.fetch_add(1, Ordering::Relaxed),
    };
}

/// The load a run puts on one relay: `producers` concurrent producers, each posting `per_post`
/// records per request, one request at a time, until `time` has passed.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    pub producers: usize,
    pub per_post: usize,
    pub time: Duration,
    /// The number of the first receiver, so that loads on several relays post different calls.
    pub first_receiver: u64,
}

impl Load {
    /// [`PRODUCERS`] producers posting `per_post` records for `time`.
    fn new(per_post: usize, time: Duration) -> Load {
        Load {
            producers: PRODUCERS,
            per_post,
            time,
            first_receiver: 0,
        }
    }
}

/// Puts `load` on the relay at `relay_url`. Returns the wall time the run took.
pub(crate) async fn flood(relay_url: &str, load: Load, posted: &Arc<Posted>) -> Duration {
    let client = reqwest::Client::new();
    let url = format!("{relay_url}/v1/call-records");
    let records = Arc::new(Records {
        next: AtomicU64::new(load.first_receiver),
    });
    let started = Instant::now();
    let producers: Vec<_> = (0..load.producers)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            let (records, posted) = (Arc::clone(&records), Arc::clone(posted));
            tokio::spawn(async move {
                for _ in 0..MAX_POSTS_PER_PRODUCER {
                    if started.elapsed() >= load.time {
                        break;
                    }
                    post(&client, &url, &records, load.per_post, &posted).await;
                }
            })
        })
        .collect();
    for producer in producers {
        let _ = producer.await;
    }
    started.elapsed()
}

/// Records acknowledged per second with 1 and with 100 records per post.
async fn ingestion() -> Result<Vec<TableRow>> {
    let mut rows = Vec::new();
    for per_post in [1, 100] {
        let stack = Stack::start(&format!("ingest-{per_post}"), REAL_LIMIT).await?;
        println!(
            "==> relay ingestion: {PRODUCERS} producers posting {per_post} record(s) per request for {INGEST_TIME:?}"
        );
        let posted = Arc::new(Posted::default());
        let wall = flood(&stack.relay.url, Load::new(per_post, INGEST_TIME), &posted).await;
        let acknowledged = posted.acknowledged.load(Ordering::Relaxed);
        let refused = posted.refused.load(Ordering::Relaxed);
        let posts = posted.posts.load(Ordering::Relaxed);
        let per_second = acknowledged as f64 / wall.as_secs_f64();
        println!(
            "relay ingestion: {acknowledged} records acknowledged in {posts} posts ({refused} not 202) in {:.2} s: {per_second:.0} records/s",
            wall.as_secs_f64()
        );
        rows.push(TableRow {
            measurement:
                "`tcbatch serve`: durable ingestion, records acknowledged (202) per second",
            input: format!(
                "{PRODUCERS} concurrent producers, {per_post} record(s) per post, {:.1} s",
                wall.as_secs_f64()
            ),
            result: format!(
                "{per_second:.0} records/s ({acknowledged} records in {posts} posts; {refused} \
                 posts not answered 202)"
            ),
            target: if per_post == 1 {
                "none: the one-record comparison"
            } else {
                ">= 20,000 records/s"
            },
            met: refused == 0 && (per_post == 1 || per_second >= INGEST_TARGET_PER_SECOND),
        });
    }
    Ok(rows)
}

/// Records in the largest post the bench sends: as many as fit under the relay's 8 MiB body
/// limit without a call reason.
const LARGE_POST_RECORDS: usize = 50_000;
/// The time a large post may take to be answered; linear intake does it in about a second.
const LARGE_POST_LIMIT: Duration = Duration::from_secs(120);

/// One post of [`LARGE_POST_RECORDS`] records: the time to its `202`, which grew with the
/// square of the post's size when each record's line was counted from the body's start.
async fn large_post() -> Result<TableRow> {
    let stack = Stack::start("large-post", REAL_LIMIT).await?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let records: Vec<serde_json::Value> = (0..LARGE_POST_RECORDS as u64)
        .map(|n| {
            serde_json::json!({
                "caller_number": "+919876543210",
                "receiver_number": format!("+9198{:08}", n),
                "dynamic_label_name": "Centro Bank",
                "starts_at": now,
                "ends_at": now + 3_600_000,
            })
        })
        .collect();
    let body = serde_json::to_vec(&serde_json::json!({ "call_records": records }))?;
    let megabytes = body.len() as f64 / 1e6;
    println!("==> relay: one post of {LARGE_POST_RECORDS} records ({megabytes:.1} MB)");
    let client = reqwest::Client::builder()
        .timeout(LARGE_POST_LIMIT)
        .build()?;
    let started = Instant::now();
    let answer = client
        .post(format!("{}/v1/call-records", stack.relay.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .context("posting the large post")?;
    let status = answer.status();
    let accepted = answer
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|b| b["accepted"].as_array().map(Vec::len))
        .unwrap_or(0);
    let seconds = started.elapsed().as_secs_f64();
    println!("relay: {status} for {accepted} records in {seconds:.2} s");
    Ok(TableRow {
        measurement: "`tcbatch serve`: one large post acknowledged (linear intake)",
        input: format!("{LARGE_POST_RECORDS} records in one post, {megabytes:.1} MB"),
        result: format!("{status} with {accepted} records acknowledged in {seconds:.2} s"),
        target: "202 for every record; time linear in the post (was 99 s)",
        met: status == reqwest::StatusCode::ACCEPTED && accepted == LARGE_POST_RECORDS,
    })
}

/// One record every 5 ms; then, once the relay has sent them all, its histogram of the time
/// from acknowledgement to the batch leaving.
async fn latency() -> Result<TableRow> {
    let stack = Stack::start("latency", REAL_LIMIT).await?;
    println!(
        "==> relay latency: {ARRIVAL_PER_SECOND} one-record posts per second for {ARRIVAL_TIME:?}, linger {LINGER:?}"
    );
    let client = reqwest::Client::new();
    let posted = Arc::new(Posted::default());
    let total = ARRIVAL_PER_SECOND * ARRIVAL_TIME.as_secs();
    let urls = [stack.relay.url.clone()];
    paced(&urls, 1, ARRIVAL_PER_SECOND, ARRIVAL_TIME, &posted).await;
    let acknowledged = posted.acknowledged.load(Ordering::Relaxed);
    let histogram = settled_histogram(&stack, &client, acknowledged).await?;
    let p50 = histogram.quantile_bound(0.50);
    let p99 = histogram.quantile_bound(0.99);
    let within = histogram.share_within(LATENCY_TARGET_SECONDS);
    println!(
        "relay latency: {} records sent of {acknowledged} acknowledged; p50 <= {p50} s, p99 <= {p99} s; {:.2}% within {LATENCY_TARGET_SECONDS} s",
        histogram.count,
        within * 100.0
    );
    Ok(TableRow {
        measurement: "`tcbatch serve`: acknowledgement to the batch leaving, at a paced arrival",
        input: format!(
            "{total} one-record posts at {ARRIVAL_PER_SECOND}/s, linger {} ms, 1 token",
            LINGER.as_millis()
        ),
        result: format!(
            "p50 <= {p50} s, p99 <= {p99} s (upper bounds of the relay's \
             `tc_relay_ack_to_send_seconds` buckets); {:.2}% within {LATENCY_TARGET_SECONDS} s; \
             {} of {acknowledged} acknowledged records left",
            within * 100.0,
            histogram.count
        ),
        target: "p99 <= linger + 100 ms",
        met: within >= 0.99 && histogram.count == acknowledged,
    })
}

/// The relay's ack-to-send histogram once it counts `expected` records, or after
/// [`SETTLE_LIMIT`] (the row then says how many left).
async fn settled_histogram(
    stack: &Stack,
    client: &reqwest::Client,
    expected: u64,
) -> Result<Histogram> {
    let started = Instant::now();
    loop {
        let histogram = Histogram::parse(
            &stack.relay.metrics(client).await?,
            "tc_relay_ack_to_send_seconds",
        )?;
        if histogram.count >= expected || started.elapsed() > SETTLE_LIMIT {
            return Ok(histogram);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A Prometheus histogram: cumulative counts per upper bound, in seconds.
pub(crate) struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
}

impl Histogram {
    pub fn parse(text: &str, name: &str) -> Result<Histogram> {
        let bucket_prefix = format!("{name}_bucket{{le=\"");
        let mut buckets = Vec::new();
        let mut count = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket_prefix) {
                let (bound, value) = rest
                    .split_once("\"} ")
                    .with_context(|| format!("an unreadable bucket line `{line}`"))?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse()?
                };
                buckets.push((bound, value.trim().parse()?));
            } else if let Some(value) = line.strip_prefix(&format!("{name}_count ")) {
                count = Some(value.trim().parse()?);
            }
        }
        Ok(Histogram {
            buckets,
            // The relay renders no histogram at all before its first batch leaves.
            count: count.unwrap_or(0),
        })
    }

    /// The smallest bucket bound at or below which a share `q` of the observations lie.
    pub fn quantile_bound(&self, q: f64) -> f64 {
        let wanted = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= wanted)
            .map_or(f64::INFINITY, |(bound, _)| *bound)
    }

    /// The share of observations at or below `bound`, which must be one of the buckets'.
    pub fn share_within(&self, bound: f64) -> f64 {
        let n = self
            .buckets
            .iter()
            .find(|(b, _)| (b - bound).abs() < 1e-9)
            .map_or(0, |(_, n)| *n);
        n as f64 / self.count.max(1) as f64
    }
}

/// How the saturation runs put records on the relay.
#[derive(Clone, Copy)]
enum Pressure {
    /// [`SATURATION_POSTS_PER_SECOND`] posts of 100 records a second: twice what the limit carries.
    Paced,
    /// [`PRODUCERS`] producers posting 100 records at a time as fast as they are answered: the
    /// load generator, the relay's ingestion and the simulator then share the two cores, and the
    /// round trips that the answer-time rule charges once per window grow.
    Flood,
}

/// Producers posting faster than the scaled limit carries: the simulator's own timing of each
/// admitted request against the one `limit` before it gives the share of the limit used.
async fn saturation(pressure: Pressure) -> Result<TableRow> {
    let limit = RateLimit {
        requests: SATURATION_LIMIT,
        window_ms: SATURATION_WINDOW_MS,
    };
    let stack = Stack::start("saturation", limit).await?;
    let load = match pressure {
        Pressure::Paced => format!(
            "100-record posts at {SATURATION_POSTS_PER_SECOND}/s (twice what the limit carries)"
        ),
        Pressure::Flood => format!("{PRODUCERS} producers x 100-record posts, as fast as answered"),
    };
    println!(
        "==> relay saturation: {load} for {SATURATION_TIME:?}, {SATURATION_LIMIT} requests per \
         {SATURATION_WINDOW_MS} ms"
    );
    let posted = Arc::new(Posted::default());
    match pressure {
        Pressure::Paced => {
            let urls = [stack.relay.url.clone()];
            paced(
                &urls,
                100,
                SATURATION_POSTS_PER_SECOND,
                SATURATION_TIME,
                &posted,
            )
            .await;
        }
        Pressure::Flood => {
            flood(&stack.relay.url, Load::new(100, SATURATION_TIME), &posted).await;
        }
    }
    // Read while the queue is still full: the drain that follows is not saturated.
    let counters = sim_counters(stack.mock.addr)?;
    let queued = metric_value(
        &stack.relay.metrics(&reqwest::Client::new()).await?,
        "tc_relay_queue_depth",
    );
    let requests = counters["create_requests"].as_u64().unwrap_or(0);
    let too_many = counters["requests_by_status"]["429"].as_u64().unwrap_or(0);
    let gaps = counters["create_window_gaps"].as_u64().unwrap_or(0);
    let gap_total_ms = counters["create_window_gap_total_ms"].as_u64().unwrap_or(0);
    let fullest = counters["fullest_create_window"]
        .as_u64()
        .unwrap_or(u64::MAX);
    ensure!(gaps > 0, "the run was too short to span two rate windows");
    let ratio = SATURATION_WINDOW_MS as f64 / (gap_total_ms as f64 / gaps as f64);
    println!(
        "relay saturation: {requests} create requests, {too_many} answered 429, at most {fullest} in one window, \
         ratio {ratio:.3}, {queued:.0} records still queued"
    );
    let within_limit = fullest <= u64::from(SATURATION_LIMIT) && too_many == 0;
    Ok(TableRow {
        measurement: match pressure {
            Pressure::Paced => {
                "`tcbatch serve` against `tcbatch mock`, rate achieved / limit, saturated"
            }
            Pressure::Flood => "the same, flooded: the load generator competes for the two cores",
        },
        input: format!(
            "{load} for {} s, 1 token, {SATURATION_LIMIT} requests per {SATURATION_WINDOW_MS} ms",
            SATURATION_TIME.as_secs()
        ),
        result: format!(
            "{ratio:.3}; at most {fullest} requests in any window; {requests} create requests; \
             {too_many} answered 429; {queued:.0} records still queued at the end"
        ),
        target: match pressure {
            Pressure::Paced => ">= 0.98, never above the limit, zero 429",
            Pressure::Flood => "never above the limit, zero 429 (the share is for comparison)",
        },
        met: within_limit && (matches!(pressure, Pressure::Flood) || ratio >= RATIO_TARGET),
    })
}

/// 100-record posts at [`SATURATION_POSTS_PER_SECOND`] for `time`, each on its own task so a
/// Posts `per_post`-record posts at `per_second` for `time`, taking `urls` in turn (several
/// relays behind a load balancer), each on its own task so a slow answer never delays the
/// next arrival.
pub(crate) async fn paced(
    urls: &[String],
    per_post: usize,
    per_second: u64,
    time: Duration,
    posted: &Arc<Posted>,
) {
    let client = reqwest::Client::new();
    let records = Arc::new(Records {
        next: AtomicU64::new(0),
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second as u32);
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..per_second * time.as_secs() {
        tick.tick().await;
        let url = format!("{}/v1/call-records", urls[n as usize % urls.len()]);
        let (client, records, posted) = (client.clone(), Arc::clone(&records), Arc::clone(posted));
        posts.spawn(async move { post(&client, &url, &records, per_post, &posted).await });
    }
    while posts.join_next().await.is_some() {}
}

/// The value of an unlabelled metric in Prometheus text, or NaN when absent.
pub(crate) fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE tc_relay_ack_to_send_seconds histogram\n\
        tc_relay_ack_to_send_seconds_bucket{le=\"0.5\"} 40\n\
        tc_relay_ack_to_send_seconds_bucket{le=\"1\"} 98\n\
        tc_relay_ack_to_send_seconds_bucket{le=\"1.1\"} 99\n\
        tc_relay_ack_to_send_seconds_bucket{le=\"+Inf\"} 100\n\
        tc_relay_ack_to_send_seconds_sum 70.5\n\
        tc_relay_ack_to_send_seconds_count 100\n\
        tc_relay_queue_depth 7\n";

    #[test]
    fn quantiles_are_the_bucket_bounds_that_hold_them() {
        let histogram = Histogram::parse(TEXT, "tc_relay_ack_to_send_seconds").unwrap();
        assert_eq!(histogram.count, 100);
        assert_eq!(histogram.quantile_bound(0.5), 1.0);
        assert_eq!(histogram.quantile_bound(0.99), 1.1);
        assert_eq!(histogram.quantile_bound(1.0), f64::INFINITY);
        assert_eq!(histogram.share_within(1.1), 0.99);
        assert_eq!(metric_value(TEXT, "tc_relay_queue_depth"), 7.0);
    }

    #[test]
    fn one_record_is_posted_bare_and_many_in_the_api_shape() {
        let records = Records {
            next: AtomicU64::new(0),
        };
        assert!(records.body(1)["receiver_number"].is_string());
        let many = records.body(3);
        assert_eq!(many["call_records"].as_array().map(Vec::len), Some(3));
        assert_eq!(many["call_records"][0]["receiver_number"], "+919800000001");
    }
}

//! `cargo xtask bench`'s shared-queue figures (issue 22): two release `tcbatch serve` relays on
//! ONE PostgreSQL queue, sharing the account through ONE Redis, against `tcbatch mock`, with
//! producers spread over both as behind a load balancer. Four runs, each on a database of its
//! own (created, then dropped): durable ingestion, acknowledgement to send at a paced arrival,
//! the share of the limit at saturation, and the time from `kill -9` of one relay to the other
//! sending the records the dead one held.

use super::bench::TableRow;
use super::bench_relay::{
    flood, paced, Histogram, Load, Mock, Posted, RateLimit, Relay, INGEST_TIME, LINGER, REAL_LIMIT,
};
use super::bench_shared::clear_namespace;
use super::bench_submit::sim_counters;
use anyhow::{ensure, Context, Result};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Producers in all, half on each relay.
const PRODUCERS: usize = 50;
const INGEST_TARGET_PER_SECOND: f64 = 20_000.0;
/// The latency run: one-record posts, 200 a second over both relays, for 10 s.
const ARRIVAL_PER_SECOND: u64 = 200;
const ARRIVAL_TIME: Duration = Duration::from_secs(10);
const LATENCY_TARGET_SECONDS: f64 = 1.1;
/// The saturation run's scaled limit, as the one-relay bench's: 40 requests per 2 s, 1 token
/// the two relays share.
const SATURATION: RateLimit = RateLimit {
    requests: 40,
    window_ms: 2_000,
};
const SATURATION_TIME: Duration = Duration::from_secs(20);
/// 100-record posts a second over both relays: twice what the limit carries.
const SATURATION_POSTS_PER_SECOND: u64 = 200;
const SHARE_TARGET: f64 = 0.95;
/// The kill run: load for this long, then `kill -9` of one relay.
const BEFORE_KILL: Duration = Duration::from_secs(6);
/// The lease the kill run's relays hold (the default).
const LEASE: Duration = Duration::from_secs(15);
/// Ceiling on waiting for the survivor; reached only when something is broken.
const TAKE_OVER_LIMIT: Duration = Duration::from_secs(120);
/// Ceiling on waiting for the relays to send what they acknowledged.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

pub fn postgres_rows(redis_url: &str, postgres_url: &str) -> Result<Vec<TableRow>> {
    super::bench::build_tcbatch()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        rows.push(ingestion(redis_url, postgres_url).await?);
        rows.push(latency(redis_url, postgres_url).await?);
        rows.push(saturation(redis_url, postgres_url).await?);
        rows.push(kill(redis_url, postgres_url).await?);
        Ok(rows)
    })
}

/// A database of the run's own on the server of `server`, dropped with it.
struct Database {
    server: String,
    name: String,
}

impl Database {
    async fn create(server: &str, run: &str) -> Result<Database> {
        let name = format!("tc_relay_bench_{run}_{}", std::process::id());
        execute(
            server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await?;
        execute(server, &format!("CREATE DATABASE {name}")).await?;
        Ok(Database {
            server: server.to_owned(),
            name,
        })
    }

    fn url(&self) -> String {
        let (base, query) = match self.server.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.server.as_str(), String::new()),
        };
        let start = base.find("://").map_or(0, |at| at + 3);
        let end = base[start..].find('/').map_or(base.len(), |at| start + at);
        format!("{}/{}{query}", &base[..end], self.name)
    }

    async fn client(&self) -> Result<tokio_postgres::Client> {
        let (client, connection) = tokio_postgres::connect(&self.url(), tokio_postgres::NoTls)
            .await
            .context("connecting to the bench's database")?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn drop_database(self) -> Result<()> {
        execute(
            &self.server,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await
    }
}

async fn execute(server: &str, statement: &str) -> Result<()> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls)
        .await
        .with_context(|| {
            format!("cannot reach PostgreSQL at {server}; start it or pass --postgres URL")
        })?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(statement)
        .await
        .with_context(|| format!("`{statement}`"))?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// A simulator, a database and two relays on it sharing the account through Redis.
struct Pair {
    relays: [Relay; 2],
    mock: Mock,
    database: Database,
}

impl Pair {
    async fn start(run: &str, limit: RateLimit, redis_url: &str, server: &str) -> Result<Pair> {
        let mock = Mock::start(limit, Stdio::null())?;
        clear_namespace(redis_url, &mock.base_url())?;
        let database = Database::create(server, run).await?;
        let url = database.url();
        let extra: Vec<String> = ["--tokens", "1", "--coordinator", redis_url]
            .into_iter()
            .chain(["--lease", "15s"])
            .map(str::to_owned)
            .collect();
        let first = Relay::start_on(
            &format!("pg-{run}-1"),
            url.as_ref(),
            mock.addr,
            limit,
            &extra,
        )
        .await?;
        let second = Relay::start_on(
            &format!("pg-{run}-2"),
            url.as_ref(),
            mock.addr,
            limit,
            &extra,
        )
        .await?;
        Ok(Pair {
            relays: [first, second],
            mock,
            database,
        })
    }

    async fn stop(self, redis_url: &str) -> Result<()> {
        let Pair {
            relays,
            mock,
            database,
        } = self;
        drop(relays);
        clear_namespace(redis_url, &mock.base_url())?;
        drop(mock);
        database.drop_database().await
    }

    /// Both relays' acknowledgement-to-send histograms, added up.
    async fn histogram(&self, client: &reqwest::Client) -> Result<Histogram> {
        let mut sum = Histogram {
            buckets: Vec::new(),
            count: 0,
        };
        for relay in &self.relays {
            let one = Histogram::parse(
                &relay.metrics(client).await?,
                "tc_relay_ack_to_send_seconds",
            )?;
            sum.count += one.count;
            if sum.buckets.is_empty() {
                sum.buckets = one.buckets;
            } else {
                for ((_, total), (_, n)) in sum.buckets.iter_mut().zip(one.buckets) {
                    *total += n;
                }
            }
        }
        Ok(sum)
    }
}

/// Records acknowledged per second by both relays, 100-record posts.
async fn ingestion(redis_url: &str, server: &str) -> Result<TableRow> {
    let pair = Pair::start("ingest", REAL_LIMIT, redis_url, server).await?;
    println!(
        "==> shared queue ingestion: {PRODUCERS} producers over 2 relays, 100 records per post, {INGEST_TIME:?}"
    );
    let posted = Arc::new(Posted::default());
    let loads = pair.relays.iter().enumerate().map(|(n, relay)| {
        let load = Load {
            producers: PRODUCERS / 2,
            per_post: 100,
            time: INGEST_TIME,
            first_receiver: n as u64 * 50_000_000,
        };
        let (url, posted) = (relay.url.clone(), Arc::clone(&posted));
        tokio::spawn(async move { flood(&url, load, &posted).await })
    });
    let mut wall = Duration::ZERO;
    for load in loads.collect::<Vec<_>>() {
        wall = wall.max(load.await?);
    }
    let acknowledged = posted
        .acknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    let refused = posted.refused.load(std::sync::atomic::Ordering::Relaxed);
    let posts = posted.posts.load(std::sync::atomic::Ordering::Relaxed);
    let per_second = acknowledged as f64 / wall.as_secs_f64();
    println!("shared queue ingestion: {acknowledged} records in {posts} posts ({refused} not 202): {per_second:.0} records/s");
    pair.stop(redis_url).await?;
    Ok(TableRow {
        measurement:
            "2 relays on one PostgreSQL queue: durable ingestion, records acknowledged per second",
        input: format!(
            "{PRODUCERS} producers spread over both, 100 records per post, {:.1} s",
            wall.as_secs_f64()
        ),
        result: format!(
            "{per_second:.0} records/s ({acknowledged} records in {posts} posts; {refused} posts \
             not answered 202)"
        ),
        target: ">= 20,000 records/s",
        met: refused == 0 && per_second >= INGEST_TARGET_PER_SECOND,
    })
}

/// One-record posts at a paced rate over both relays; then both histograms of the time from
/// acknowledgement to the batch leaving.
async fn latency(redis_url: &str, server: &str) -> Result<TableRow> {
    let pair = Pair::start("latency", REAL_LIMIT, redis_url, server).await?;
    println!(
        "==> shared queue latency: {ARRIVAL_PER_SECOND} one-record posts per second over 2 relays for {ARRIVAL_TIME:?}"
    );
    let urls: Vec<String> = pair.relays.iter().map(|r| r.url.clone()).collect();
    let posted = Arc::new(Posted::default());
    paced(&urls, 1, ARRIVAL_PER_SECOND, ARRIVAL_TIME, &posted).await;
    let acknowledged = posted
        .acknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let histogram = loop {
        let histogram = pair.histogram(&client).await?;
        if histogram.count >= acknowledged || started.elapsed() > SETTLE_LIMIT {
            break histogram;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (p50, p99) = (
        histogram.quantile_bound(0.5),
        histogram.quantile_bound(0.99),
    );
    let within = histogram.share_within(LATENCY_TARGET_SECONDS);
    println!(
        "shared queue latency: {} of {acknowledged} sent; p50 <= {p50} s, p99 <= {p99} s",
        histogram.count
    );
    pair.stop(redis_url).await?;
    Ok(TableRow {
        measurement:
            "2 relays on one PostgreSQL queue: acknowledgement to the batch leaving, paced",
        input: format!(
            "{} one-record posts at {ARRIVAL_PER_SECOND}/s over both, linger {} ms, 1 shared token",
            ARRIVAL_PER_SECOND * ARRIVAL_TIME.as_secs(),
            LINGER.as_millis()
        ),
        result: format!(
            "p50 <= {p50} s, p99 <= {p99} s (bucket bounds, both relays); {:.2}% within \
             {LATENCY_TARGET_SECONDS} s; {} of {acknowledged} acknowledged records left",
            within * 100.0,
            histogram.count
        ),
        target: "p99 <= linger + 100 ms",
        met: within >= 0.99 && histogram.count == acknowledged,
    })
}

/// Both relays fed twice what the shared token carries: the simulator's timing of each
/// admitted request against the one `limit` before it gives the share of the limit used.
async fn saturation(redis_url: &str, server: &str) -> Result<TableRow> {
    let pair = Pair::start("saturation", SATURATION, redis_url, server).await?;
    println!(
        "==> shared queue saturation: 100-record posts at {SATURATION_POSTS_PER_SECOND}/s over 2 relays, {} requests per {} ms, 1 shared token",
        SATURATION.requests, SATURATION.window_ms
    );
    let urls: Vec<String> = pair.relays.iter().map(|r| r.url.clone()).collect();
    let posted = Arc::new(Posted::default());
    paced(
        &urls,
        100,
        SATURATION_POSTS_PER_SECOND,
        SATURATION_TIME,
        &posted,
    )
    .await;
    let counters = sim_counters(pair.mock.addr)?;
    let requests = counters["create_requests"].as_u64().unwrap_or(0);
    let too_many = counters["requests_by_status"]["429"].as_u64().unwrap_or(0);
    let gaps = counters["create_window_gaps"].as_u64().unwrap_or(0);
    let gap_total_ms = counters["create_window_gap_total_ms"].as_u64().unwrap_or(0);
    let fullest = counters["fullest_create_window"]
        .as_u64()
        .unwrap_or(u64::MAX);
    ensure!(gaps > 0, "the run was too short to span two rate windows");
    let ratio = SATURATION.window_ms as f64 / (gap_total_ms as f64 / gaps as f64);
    println!(
        "shared queue saturation: {requests} create requests, {too_many} answered 429, at most {fullest} in one window, ratio {ratio:.3}"
    );
    pair.stop(redis_url).await?;
    Ok(TableRow {
        measurement: "2 relays on one PostgreSQL queue, one Redis: rate achieved / limit, saturated",
        input: format!(
            "100-record posts at {SATURATION_POSTS_PER_SECOND}/s over both for {} s, 1 token shared, \
             {} requests per {} ms",
            SATURATION_TIME.as_secs(),
            SATURATION.requests,
            SATURATION.window_ms
        ),
        result: format!(
            "{ratio:.3}; at most {fullest} requests in any window; {requests} create requests; \
             {too_many} answered 429"
        ),
        target: ">= 0.95, never above the limit, zero 429",
        met: ratio >= SHARE_TARGET && fullest <= u64::from(SATURATION.requests) && too_many == 0,
    })
}

/// Waits until the records `held` by the relay `dead` (killed at `killed`) were taken over and
/// sent: the time to each.
async fn until_sent(
    db: &tokio_postgres::Client,
    held: &[i64],
    dead: i64,
    killed: Instant,
) -> Result<(Duration, Duration)> {
    let mut taken_after = None;
    loop {
        let rows = db
            .query_one(
                "SELECT count(*) FILTER (WHERE owner = $2), \
                        count(*) FILTER (WHERE state IN ('queued', 'in_flight')) \
                 FROM tc_relay.records WHERE id = ANY($1)",
                &[&held, &dead],
            )
            .await?;
        let (still_dead, unsent): (i64, i64) = (rows.get(0), rows.get(1));
        if still_dead == 0 && taken_after.is_none() {
            taken_after = Some(killed.elapsed());
        }
        if unsent == 0 {
            let sent_after = killed.elapsed();
            return Ok((taken_after.unwrap_or(sent_after), sent_after));
        }
        ensure!(
            killed.elapsed() < TAKE_OVER_LIMIT,
            "{unsent} of the {} records the dead relay held were not sent within {TAKE_OVER_LIMIT:?}",
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Saturating load over both relays; `kill -9` of the first; the time until the second has
/// taken over and sent every record the first held queued or in flight.
async fn kill(redis_url: &str, server: &str) -> Result<TableRow> {
    let mut pair = Pair::start("kill", SATURATION, redis_url, server).await?;
    println!(
        "==> shared queue kill: saturating load over 2 relays for {BEFORE_KILL:?}, then kill -9 of one (lease {LEASE:?})"
    );
    let urls: Vec<String> = pair.relays.iter().map(|r| r.url.clone()).collect();
    let posted = Arc::new(Posted::default());
    paced(
        &urls,
        100,
        SATURATION_POSTS_PER_SECOND,
        BEFORE_KILL,
        &posted,
    )
    .await;
    let db = pair.database.client().await?;
    let dead: i64 = db
        .query_one("SELECT min(relay) FROM tc_relay.relays", &[])
        .await?
        .get(0);
    pair.relays[0].kill();
    let killed = Instant::now();
    // What the dead relay held at its death: nothing of it can move until another takes it.
    let held: Vec<i64> = db
        .query(
            "SELECT id FROM tc_relay.records WHERE owner = $1 AND state IN ('queued', 'in_flight')",
            &[&dead],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let (taken_after, sent_after) = until_sent(&db, &held, dead, killed).await?;
    let acknowledged = posted
        .acknowledged
        .load(std::sync::atomic::Ordering::Relaxed);
    let stored: i64 = db
        .query_one("SELECT count(*) FROM tc_relay.records", &[])
        .await?
        .get(0);
    let flagged: i64 = db
        .query_one(
            "SELECT count(*) FROM tc_relay.records WHERE id = ANY($1) AND possibly_duplicated",
            &[&held],
        )
        .await?
        .get(0);
    let lost = acknowledged.saturating_sub(u64::try_from(stored).unwrap_or(0));
    let bound = LEASE + LEASE / 3 + Duration::from_millis(SATURATION.window_ms);
    println!(
        "shared queue kill: {} records held by the dead relay; taken over after {:.1} s, all sent after {:.1} s; {flagged} flagged; {lost} acknowledged records missing from the store",
        held.len(),
        taken_after.as_secs_f64(),
        sent_after.as_secs_f64()
    );
    drop(db);
    pair.stop(redis_url).await?;
    Ok(TableRow {
        measurement: "2 relays on one PostgreSQL queue: kill -9 of one under load, until the other sent what it held",
        input: format!(
            "saturating load for {} s, then SIGKILL; lease {} s, {} requests per {} ms",
            BEFORE_KILL.as_secs(),
            LEASE.as_secs(),
            SATURATION.requests,
            SATURATION.window_ms
        ),
        result: format!(
            "{} records held (queued or in flight); taken over after {:.1} s, all sent after \
             {:.1} s; {flagged} flagged possibly duplicated; {lost} acknowledged records lost",
            held.len(),
            taken_after.as_secs_f64(),
            sent_after.as_secs_f64()
        ),
        target: "0 lost; all sent within the lease + a third + one window",
        met: lost == 0 && sent_after <= bound,
    })
}

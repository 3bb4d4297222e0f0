//! `cargo xtask bench`'s shared-account figures (issue 12): two `tcbatch submit` pushes and two
//! `tcbatch serve` relays on ONE account, 10 tokens each, against ONE `tcbatch mock`, first
//! sharing the account through Redis (`--coordinator`), then each on its own. The simulator's
//! counters say whether the four stayed inside the account's limits together, and how much of
//! the account's rate they used while every one of them had work.

use super::bench::TableRow;
use super::bench_relay::{
    bench_dir, flood, metric_value, tcbatch, Load, Mock, Posted, RateLimit, Relay,
};
use super::bench_submit::{demo_credentials, sim_counters, write_valid_csv, DEMO_ACCOUNT};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The simulator's and the clients' limit: 10 requests per token in any 2 seconds, so the
/// account's 10 tokens carry 50 requests (25,000 records) a second. That is what this 2-core
/// machine can feed while it also runs the four processes, the simulator, Redis and the
/// relays' producers (one `submit` alone pushes about that many); a higher rate would measure
/// the machine, not the coordination. The client places each request in its window at the
/// time its answer came back, which costs one request's latency per window: 2 s rather than
/// 1 s halves that cost of scaling the API's 60-second window down.
const LIMIT: RateLimit = RateLimit {
    requests: 10,
    window_ms: 2_000,
};
const TOKENS: u64 = 10;
/// The API's budget of token creations per account (10 per 30 minutes); the simulator keeps
/// the real 30 minutes, far longer than any run.
const CREATION_BUDGET: u64 = 10;
/// Rows per submit file: 60% of the account's rate for the whole run, so even a submit that
/// gets every request the relays and the other push leave over is still sending when the
/// counters are read (each so far got at most 55%).
const SUBMIT_ROWS: usize = 800_000;
/// From the last process started to the first reading: tokens created, windows full.
const WARM_UP: Duration = Duration::from_secs(5);
/// Between the two readings of the counters: 20 windows, so that where the readings fall in a
/// window moves the count of requests between them by a few percent at most.
const STEADY: Duration = Duration::from_secs(40);
/// Producers per relay; each posts 100 records at a time, more than the relay's share sends.
const PRODUCERS_PER_RELAY: usize = 8;
/// After the processes are stopped, answers still in flight arrive within this.
const SETTLE: Duration = Duration::from_secs(2);
const SHARE_TARGET: f64 = 0.95;
/// How long a push may take to stop after SIGTERM: its requests in flight are answered in
/// milliseconds, and the report of all its rows, sent or not, takes a few seconds.
const STOP_LIMIT: Duration = Duration::from_secs(45);
/// A ceiling on the SCAN calls that list one run's keys.
const MAX_SCAN_CALLS: usize = 100_000;

/// Both runs, with and without the coordinator at `redis_url`, as table rows; prints them side
/// by side as well.
pub fn shared_rows(redis_url: &str) -> Result<Vec<TableRow>> {
    super::bench::build_tcbatch()?;
    // Written first, so that the four processes of a run start within moments of each other;
    // each run has its own simulator, so both runs can push the same rows.
    let dir = bench_dir()?;
    let mut inputs = Vec::new();
    for n in 0..2 {
        let csv = dir.join(format!("shared-{n}.csv"));
        write_valid_csv(&csv, n * SUBMIT_ROWS..(n + 1) * SUBMIT_ROWS)?;
        inputs.push(csv);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let shared = runtime.block_on(run("shared", Some(redis_url), &inputs))?;
    let alone = runtime.block_on(run("alone", None, &inputs))?;
    print_side_by_side(&shared, &alone);
    Ok(vec![shared.row(), alone.row()])
}

/// What the simulator and the bench saw in one run.
struct Figures {
    coordinated: bool,
    /// The most create requests any token had admitted in any window.
    fullest: u64,
    tokens_created: u64,
    /// Token requests the simulator refused (429): creations above the account's budget.
    refused_creations: u64,
    /// 429 answers to create requests.
    create_429: u64,
    /// Create requests admitted per second in the steady interval, over the account's limit.
    share: f64,
    /// The tokens' pace in the steady interval: the window over the mean time from an admitted
    /// request to the `limit`-th admitted before it on its token (1.0 = exactly the limit).
    pace: f64,
    steady: Duration,
    records_per_second: f64,
    /// Which of the four processes had no work left at the second reading, if any.
    idle: Vec<String>,
    /// Each process's own account of what it did.
    own_counts: Vec<String>,
    /// Batches each process had accepted in the steady interval.
    sent: Vec<String>,
}

/// One run: the simulator, Redis's keys for it cleared, two relays under load and two pushes,
/// the counters read twice while all four work, then everything stopped and counted.
async fn run(name: &str, coordinator: Option<&str>, inputs: &[PathBuf]) -> Result<Figures> {
    let dir = bench_dir()?;
    let mock_log = dir.join(format!("shared-{name}-mock.stderr"));
    let mock = Mock::start(LIMIT, Stdio::from(File::create(&mock_log)?))?;
    let mut extra = vec!["--tokens".to_owned(), TOKENS.to_string()];
    if let Some(url) = coordinator {
        let stale = clear_namespace(url, &mock.base_url())?;
        println!("==> {name}: {stale} keys of an earlier run on this port removed from Redis");
        extra.extend(["--coordinator".to_owned(), url.to_owned()]);
    } else {
        // Each on its own: not even the machine-local coordinator, the default.
        extra.extend(crate::bench_relay::ALONE.map(String::from));
    }
    println!(
        "==> shared account, {name}: 2 submits + 2 relays, {TOKENS} tokens each, {} requests per \
         {} ms per token{}",
        LIMIT.requests,
        LIMIT.window_ms,
        coordinator.map_or(String::new(), |url| format!(", through {url}"))
    );
    let relays = [
        Relay::start(&format!("shared-{name}-1"), mock.addr, LIMIT, &extra).await?,
        Relay::start(&format!("shared-{name}-2"), mock.addr, LIMIT, &extra).await?,
    ];
    let producers = load(&relays);
    let mut submits = Vec::new();
    for (n, csv) in inputs.iter().enumerate() {
        let files = dir.join(format!("shared-{name}-{n}"));
        submits.push(Submit::start(csv, &files, mock.addr, &extra)?);
        println!("    submit {} pushing {}", n + 1, csv.display());
    }
    let steady = measure_steady(&mock, &relays, &mut submits).await;
    let own_counts = own_counts(&relays, &mut submits).await;
    for producer in producers {
        producer.abort();
    }
    drop((submits, relays));
    tokio::time::sleep(SETTLE).await;
    let (steady, own_counts) = (steady?, own_counts?);
    let counters = sim_counters(mock.addr)?;
    if let Some(url) = coordinator {
        clear_namespace(url, &mock.base_url())?;
    }
    let mut figures = Figures::from_counters(coordinator.is_some(), &counters, &steady, &mock_log)?;
    figures.own_counts = own_counts;
    Ok(figures)
}

/// What each process says it did, to tell which of them met the 429s: a relay's `/metrics`,
/// and a push's last line, printed when SIGTERM stops it after its requests in flight.
async fn own_counts(relays: &[Relay], submits: &mut [Submit]) -> Result<Vec<String>> {
    let client = reqwest::Client::new();
    let mut counts = Vec::new();
    for (n, relay) in relays.iter().enumerate() {
        let metrics = relay.metrics(&client).await?;
        counts.push(format!(
            "relay {}: {} batches created, {} tokens created, {} answers 429",
            n + 1,
            metric_value(&metrics, "tc_relay_api_batches_created"),
            metric_value(&metrics, "tc_relay_api_tokens_created"),
            metric_value(&metrics, "tc_relay_api_rate_limited")
        ));
    }
    for submit in submits.iter_mut() {
        submit.terminate()?;
    }
    for (n, submit) in submits.iter_mut().enumerate() {
        counts.push(format!("submit {}: {}", n + 1, submit.counts().await?));
    }
    Ok(counts)
}

/// Starts [`PRODUCERS_PER_RELAY`] producers on each relay, posting different calls, for as
/// long as the run measures.
fn load(relays: &[Relay]) -> Vec<tokio::task::JoinHandle<Duration>> {
    let posted = Arc::new(Posted::default());
    relays
        .iter()
        .enumerate()
        .map(|(n, relay)| {
            let load = Load {
                producers: PRODUCERS_PER_RELAY,
                per_post: 100,
                time: WARM_UP + STEADY + SETTLE,
                first_receiver: 50_000_000 + 10_000_000 * n as u64,
            };
            let (url, posted) = (relay.url.clone(), Arc::clone(&posted));
            tokio::spawn(async move { flood(&url, load, &posted).await })
        })
        .collect()
}

/// Deletes Redis's keys of the demo account on the simulator at `base_url` (the coordinator
/// scopes them by account and API); returns how many there were.
pub(crate) fn clear_namespace(redis_url: &str, base_url: &str) -> Result<usize> {
    let client = redis::Client::open(redis_url).context("--redis is not a Redis URL")?;
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .with_context(|| {
            format!("cannot reach Redis at {redis_url}; start it, pass --redis URL or --no-shared")
        })?;
    let pattern = format!("tc:{{{DEMO_ACCOUNT}@{base_url}}}:*");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    // SCAN visits every key once per full pass; the bound only stops a server that never ends
    // its cursor.
    for _ in 0..MAX_SCAN_CALLS {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query(&mut connection)
            .context("listing the run's keys in Redis")?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .exec(&mut connection)
            .context("deleting the run's keys in Redis")?;
    }
    Ok(keys.len())
}

/// A `tcbatch submit` of its own generated file, killed when dropped.
struct Submit {
    child: Child,
    log: PathBuf,
    journal: PathBuf,
}

/// The outcomes a push's journal holds so far.
struct Outcomes {
    accepted: u64,
    other: u64,
}

impl Submit {
    /// Starts pushing `csv`, its journal, report and log at `files` with their own extensions.
    fn start(
        csv: &Path,
        files: &Path,
        mock_addr: std::net::SocketAddr,
        extra: &[String],
    ) -> Result<Submit> {
        let dir = files.parent().context("the run's files have a folder")?;
        let beside = |suffix: &str| files.with_extension(suffix);
        let journal = beside("journal");
        let _ = std::fs::remove_file(&journal);
        let log = beside("stderr");
        let child = Command::new(tcbatch())
            .env("TCBATCH_STATE_DIR", crate::bench_relay::bench_state_dir()?)
            .arg("submit")
            .arg(csv)
            .args(["--base-url", &format!("http://{mock_addr}")])
            .arg("--credentials")
            .arg(demo_credentials(&dir.join("shared.credentials"))?)
            .arg("--journal")
            .arg(&journal)
            .arg("--report")
            .arg(beside("report.csv"))
            .args(LIMIT.client_flags())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log)?)
            .spawn()
            .context("starting tcbatch submit")?;
        Ok(Submit {
            child,
            log,
            journal,
        })
    }

    /// Asks the push to stop with SIGTERM: after its requests in flight, with its report.
    fn terminate(&mut self) -> Result<()> {
        if self.child.try_wait()?.is_none() {
            // SAFETY: signalling our own child, which try_wait just found not yet reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        Ok(())
    }

    /// Waits for the push to end after [`Submit::terminate`] and returns its counts line
    /// (`batches: ...`). One still stopping after [`STOP_LIMIT`] gets a second SIGTERM, which
    /// ends it at once without counts: its journal says what it did.
    async fn counts(&mut self) -> Result<String> {
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > STOP_LIMIT {
                self.terminate()?;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let outcomes = self.journal_outcomes()?;
                return Ok(format!(
                    "still stopping {STOP_LIMIT:?} after SIGTERM (quit with a second one); its \
                     journal: {} batches accepted, {} not",
                    outcomes.accepted, outcomes.other
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Ok(log
            .lines()
            .find(|line| line.starts_with("batches:"))
            .unwrap_or("printed no counts")
            .to_owned())
    }

    fn journal_outcomes(&self) -> Result<Outcomes> {
        journal_outcomes(&self.journal)
    }

    /// Whether it is still pushing; an exit this early is an error (it had rows for longer).
    fn still_working(&mut self) -> Result<bool> {
        match self.child.try_wait()? {
            None => Ok(true),
            Some(status) if status.success() => Ok(false),
            Some(status) => bail!(
                "tcbatch submit ended with {status}: {}",
                super::bench::tail(&self.log, 10)
            ),
        }
    }
}

/// The batch outcomes in a push's journal (one JSON object a line, `"t":"outcome"`).
fn journal_outcomes(journal: &Path) -> Result<Outcomes> {
    let text = std::fs::read_to_string(journal)
        .with_context(|| format!("reading {}", journal.display()))?;
    let mut outcomes = Outcomes {
        accepted: 0,
        other: 0,
    };
    // The last line may be half written; it is skipped like any line that does not parse.
    let entries = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok());
    for entry in entries.filter(|entry| entry["t"] == "outcome") {
        if entry["status"] == "accepted" {
            outcomes.accepted += 1;
        } else {
            outcomes.other += 1;
        }
    }
    Ok(outcomes)
}

impl Drop for Submit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The counters at the two readings of the steady interval, and who was idle at the second.
struct Steady {
    first: serde_json::Value,
    second: serde_json::Value,
    elapsed: Duration,
    idle: Vec<String>,
    /// Batches each process had accepted between the readings, as "relay 1 120".
    sent: Vec<String>,
}

/// Waits out the warm-up, reads the counters, waits [`STEADY`], reads them again, and notes any
/// process that was not busy: one that sent nothing in between, a push that ended, a relay
/// whose queue ran dry.
async fn measure_steady(mock: &Mock, relays: &[Relay], submits: &mut [Submit]) -> Result<Steady> {
    let client = reqwest::Client::new();
    tokio::time::sleep(WARM_UP).await;
    let started = Instant::now();
    let first = sim_counters(mock.addr)?;
    let sent_before = progress(&client, relays, submits).await?;
    tokio::time::sleep(STEADY).await;
    let elapsed = started.elapsed();
    let second = sim_counters(mock.addr)?;
    let sent_after = progress(&client, relays, submits).await?;
    let mut idle = Vec::new();
    let mut sent = Vec::new();
    for (n, (before, after)) in sent_before.iter().zip(&sent_after).enumerate() {
        let name = process_name(n, relays.len());
        if after <= before {
            idle.push(format!("{name} sent nothing"));
        }
        sent.push(format!("{name} {}", after - before));
    }
    for (n, submit) in submits.iter_mut().enumerate() {
        if !submit.still_working()? {
            idle.push(format!("submit {} had ended", n + 1));
        }
    }
    for (n, relay) in relays.iter().enumerate() {
        let queued = metric_value(&relay.metrics(&client).await?, "tc_relay_queue_depth");
        // NaN (no such metric) counts as idle too: the bench could not tell.
        if queued.is_nan() || queued <= 0.0 {
            idle.push(format!("relay {}'s queue was empty ({queued})", n + 1));
        }
    }
    Ok(Steady {
        first,
        second,
        elapsed,
        idle,
        sent,
    })
}

/// "relay 1", "relay 2", "submit 1", ...: the order of [`progress`].
fn process_name(n: usize, relays: usize) -> String {
    if n < relays {
        format!("relay {}", n + 1)
    } else {
        format!("submit {}", n - relays + 1)
    }
}

/// Batches each process has had accepted so far, relays first: a relay's
/// `tc_relay_api_batches_created`, a push's accepted outcomes in its journal.
async fn progress(
    client: &reqwest::Client,
    relays: &[Relay],
    submits: &[Submit],
) -> Result<Vec<u64>> {
    let mut accepted = Vec::new();
    for relay in relays {
        let metrics = relay.metrics(client).await?;
        accepted.push(metric_value(&metrics, "tc_relay_api_batches_created").max(0.0) as u64);
    }
    for submit in submits {
        accepted.push(submit.journal_outcomes()?.accepted);
    }
    Ok(accepted)
}

/// A counter of the simulator's snapshot, 0 when absent.
fn counter(counters: &serde_json::Value, name: &str) -> u64 {
    counters[name].as_u64().unwrap_or(0)
}

impl Figures {
    fn from_counters(
        coordinated: bool,
        counters: &serde_json::Value,
        steady: &Steady,
        mock_log: &Path,
    ) -> Result<Figures> {
        let token_429 = token_refusals(mock_log)?;
        let all_429 = counters["requests_by_status"]["429"].as_u64().unwrap_or(0);
        // Every admitted create request stores one batch (all rows are valid), so batches
        // stored count the requests the account's windows admitted.
        let delta =
            |name: &str| counter(&steady.second, name).saturating_sub(counter(&steady.first, name));
        let seconds = steady.elapsed.as_secs_f64();
        let account_per_second =
            (TOKENS * u64::from(LIMIT.requests)) as f64 * 1000.0 / LIMIT.window_ms as f64;
        Ok(Figures {
            coordinated,
            fullest: counter(counters, "fullest_create_window"),
            tokens_created: counter(counters, "tokens_created"),
            refused_creations: token_429,
            create_429: all_429.saturating_sub(token_429),
            share: delta("batches_stored") as f64 / seconds / account_per_second,
            pace: LIMIT.window_ms as f64
                / (delta("create_window_gap_total_ms") as f64
                    / delta("create_window_gaps").max(1) as f64),
            steady: steady.elapsed,
            records_per_second: delta("records_stored") as f64 / seconds,
            idle: steady.idle.clone(),
            own_counts: Vec::new(),
            sent: steady.sent.clone(),
        })
    }

    fn busy_text(&self) -> String {
        if self.idle.is_empty() {
            "all four busy through the steady interval".to_owned()
        } else {
            format!("NOT all busy: {}", self.idle.join(", "))
        }
    }

    fn row(&self) -> TableRow {
        let (measurement, target, met) = if self.coordinated {
            (
                "2 `submit` + 2 `serve` on one account through Redis (`--coordinator`)",
                ">= 0.95 of the account's limit while all four are busy; never above the limit; \
                 <= 10 creations; zero 429",
                self.share >= SHARE_TARGET
                    && self.idle.is_empty()
                    && self.fullest <= u64::from(LIMIT.requests)
                    && self.tokens_created <= CREATION_BUDGET
                    && self.refused_creations + self.create_429 == 0,
            )
        } else {
            (
                "the same 4 processes without `--coordinator`, each on its own",
                "none: the comparison",
                true,
            )
        };
        TableRow {
            measurement,
            input: format!(
                "{TOKENS} tokens each, {} requests per {} ms per token (account: {} per window), \
                 one `tcbatch mock`; steady interval {:.1} s",
                LIMIT.requests,
                LIMIT.window_ms,
                TOKENS * u64::from(LIMIT.requests),
                self.steady.as_secs_f64()
            ),
            result: format!(
                "{:.3} of the account's limit ({:.0} records/s; each token's pace {:.3}), {}; at \
                 most {} requests in any token's window; {} tokens created, {} creations \
                 refused; {} create requests answered 429",
                self.share,
                self.records_per_second,
                self.pace,
                self.busy_text(),
                self.fullest,
                self.tokens_created,
                self.refused_creations,
                self.create_429
            ),
            target,
            met,
        }
    }
}

/// Token requests the simulator answered 429, from its log of every answer: the counters hold
/// 429s of every endpoint together.
fn token_refusals(mock_log: &Path) -> Result<u64> {
    let log = std::fs::read_to_string(mock_log)
        .with_context(|| format!("reading the simulator's log {}", mock_log.display()))?;
    Ok(log
        .lines()
        .filter(|line| line.contains("/token ") && line.contains("status=429"))
        .count() as u64)
}

fn print_side_by_side(shared: &Figures, alone: &Figures) {
    let both = |label: &str, value: &dyn Fn(&Figures) -> String| {
        println!("| {label} | {} | {} |", value(shared), value(alone));
    };
    println!("\n| shared account, 2 submits + 2 relays | with `--coordinator` | without |");
    println!("|---|---|---|");
    both(
        &format!(
            "most requests in any token's window (limit {})",
            LIMIT.requests
        ),
        &|f| f.fullest.to_string(),
    );
    both("tokens created (budget 10 per 30 min)", &|f| {
        f.tokens_created.to_string()
    });
    both("creations refused by the simulator (429)", &|f| {
        f.refused_creations.to_string()
    });
    both("create requests answered 429", &|f| {
        f.create_429.to_string()
    });
    both("share of the account's limit, steady interval", &|f| {
        format!("{:.3}", f.share)
    });
    both("the tokens' pace while sending (window / mean gap)", &|f| {
        format!("{:.3}", f.pace)
    });
    both("records stored per second, steady interval", &|f| {
        format!("{:.0}", f.records_per_second)
    });
    both("all four processes busy", &|f| f.busy_text());
    both(
        "batches each process had accepted in the steady interval",
        &|f| f.sent.join(", "),
    );
    both("each process's own counts", &|f| f.own_counts.join("; "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refused_token_requests_count_as_refused_creations() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("mock.stderr");
        std::fs::write(
            &log,
            "T INFO answered method=POST path=/clients/a/token status=200\n\
             T INFO answered method=POST path=/clients/a/token status=429\n\
             T INFO answered method=POST path=/v2/clients/a/dynamic_call_records status=429\n\
             T INFO answered method=POST path=/clients/a/token status=429\n",
        )
        .unwrap();
        assert_eq!(token_refusals(&log).unwrap(), 2);
    }

    #[test]
    fn a_journal_counts_accepted_outcomes_and_skips_a_half_written_line() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("push.journal");
        std::fs::write(
            &journal,
            "{\"t\":\"start\"}\n{\"t\":\"batch\",\"seq\":1}\n\
             {\"t\":\"outcome\",\"seq\":1,\"status\":\"accepted\"}\n\
             {\"t\":\"outcome\",\"seq\":2,\"status\":\"failed\"}\n\
             {\"t\":\"outcome\",\"seq\":3,\"sta",
        )
        .unwrap();
        let outcomes = journal_outcomes(&journal).unwrap();
        assert_eq!((outcomes.accepted, outcomes.other), (1, 1));
    }
}

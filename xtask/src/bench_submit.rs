//! `cargo xtask bench`'s submit figures: the real `tcbatch submit` against `tcbatch mock` on
//! loopback with the rate window shortened so a million rows take seconds, and the time the
//! same rate decisions take at the API's real limit, computed in virtual time.

use super::bench::{path_str, tail, wait_measured, TableRow};
use super::bench_relay::{bench_dir, tcbatch, Mock, RateLimit};
use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tc_core::transport::MonotonicMillis;
use tc_core::transport::{Decision, PoolConfig, TokenPool, WindowLimit};

/// The simulator's and the client's limit for the loopback run: 100 requests per token in any
/// 2-second window, so 2,000 requests take about 40 s instead of 33 minutes. A window's burst
/// of 100 takes this machine a small share of the window to send, as 60 do of the API's minute.
const LIMIT: u32 = 100;
const WINDOW_MS: u64 = 2_000;
const RUN_TIME_LIMIT: Duration = Duration::from_secs(300);
const RATIO_TARGET: f64 = 0.98;
const RSS_TARGET_MIB: f64 = 64.0;
/// The first request leaves within this of the start, however big the input.
const FIRST_REQUEST_TARGET: Duration = Duration::from_secs(1);
/// The whole run, start to exit, takes at most this much more than the ideal.
const WALL_TARGET_RATIO: f64 = 1.03;
/// How often the bench asks the simulator whether a create request has arrived yet.
const FIRST_REQUEST_POLL: Duration = Duration::from_millis(2);

pub fn submit_rows(rows: usize) -> Result<Vec<TableRow>> {
    let csv = bench_dir()?.join(format!("submit-{rows}.csv"));
    write_valid_csv(&csv, 0..rows)?;
    super::bench::build_tcbatch()?;
    let limit = RateLimit {
        requests: LIMIT,
        window_ms: WINDOW_MS,
    };
    let mock = Mock::start(limit, Stdio::null())?;
    run_submit(&tcbatch(), &csv, mock.addr, rows)
}

fn run_submit(
    tcbatch: &std::path::Path,
    csv: &std::path::Path,
    addr: SocketAddr,
    rows: usize,
) -> Result<Vec<TableRow>> {
    let dir = csv.parent().context("the CSV has a folder")?;
    let journal = dir.join("submit.journal");
    let report = dir.join("submit.report.csv");
    let _ = std::fs::remove_file(&journal);
    let credentials = demo_credentials(&dir.join("submit.credentials"))?;
    let stdout_path = dir.join("tcbatch-submit.stdout");
    let stderr_path = dir.join("tcbatch-submit.stderr");
    let base_url = format!("http://{addr}");
    println!("==> tcbatch submit {} ({rows} rows) against tcbatch mock at {LIMIT} requests per {WINDOW_MS} ms", csv.display());
    let child = Command::new(tcbatch)
        .env("TCBATCH_STATE_DIR", crate::bench_relay::bench_state_dir()?)
        .args([
            "submit",
            path_str(csv)?,
            "--base-url",
            &base_url,
            "--output",
            "json",
        ])
        .args(["--credentials", path_str(&credentials)?])
        .args([
            "--journal",
            path_str(&journal)?,
            "--report",
            path_str(&report)?,
        ])
        .args([
            "--rate-limit",
            &LIMIT.to_string(),
            "--rate-window-ms",
            &WINDOW_MS.to_string(),
        ])
        .args(crate::bench_relay::ALONE)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(&stderr_path)?)
        .spawn()
        .context("starting tcbatch submit")?;
    let spawned = Instant::now();
    let ended = Arc::new(AtomicBool::new(false));
    let probe_ended = Arc::clone(&ended);
    let first_request =
        std::thread::spawn(move || first_request_after(addr, spawned, &probe_ended));
    let run = wait_measured(child, RUN_TIME_LIMIT);
    ended.store(true, Ordering::Relaxed);
    let run = run?;
    let first_request = first_request
        .join()
        .map_err(|_| anyhow::anyhow!("the first-request probe panicked"))?;
    if run.exit_code != Some(0) {
        bail!(
            "tcbatch submit ended with {}; its last words:\n{}",
            run.describe_exit(),
            tail(&stderr_path, 10)
        );
    }
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stdout_path)?)
        .context("reading tcbatch submit's JSON summary")?;
    let counters = sim_counters(addr)?;
    let accepted = summary["accepted"].as_u64().unwrap_or(0);
    let send_seconds = summary["send_seconds"].as_f64().unwrap_or(f64::NAN);
    let requests = counters["create_requests"].as_u64().unwrap_or(0);
    let too_many = counters["requests_by_status"]["429"].as_u64().unwrap_or(0);
    let expected_requests = (rows as u64).div_ceil(500);
    ensure!(
        accepted == rows as u64,
        "only {accepted} of {rows} rows were accepted"
    );
    // The simulator times every admitted request against the LIMIT-th before it on the same
    // token: at exactly the limit that gap is one window, so window / mean gap is the share of
    // the limit achieved in steady state, whatever the machine needs to push one window's burst.
    let gaps = counters["create_window_gaps"].as_u64().unwrap_or(0);
    let gap_total_ms = counters["create_window_gap_total_ms"].as_u64().unwrap_or(0);
    let fullest = counters["fullest_create_window"]
        .as_u64()
        .unwrap_or(u64::MAX);
    ensure!(gaps > 0, "the run was too short to span two rate windows");
    let ratio = WINDOW_MS as f64 / (gap_total_ms as f64 / gaps as f64);
    let ideal =
        (expected_requests.div_ceil(u64::from(LIMIT)) - 1) as f64 * WINDOW_MS as f64 / 1000.0;
    // The ideal for the whole run: every request after the first window's worth waits
    // its turn, `(requests - limit) / limit x window`.
    let ideal_wall = expected_requests.saturating_sub(u64::from(LIMIT)) as f64 / f64::from(LIMIT)
        * WINDOW_MS as f64
        / 1000.0;
    let wall = run.wall.as_secs_f64();
    let first_text = first_request.map_or_else(
        || "none seen".to_owned(),
        |at| format!("{:.3} s", at.as_secs_f64()),
    );
    let rss_mib = run.peak_rss_kib as f64 / 1024.0;
    println!(
        "tcbatch submit: {requests} create requests ({expected_requests} expected), {too_many} answered 429, \
         at most {fullest} in one window, {send_seconds:.2} s sending (ideal {ideal:.2} s), peak RSS {rss_mib:.1} MiB"
    );
    Ok(vec![
        TableRow {
            measurement: "`tcbatch submit` against `tcbatch mock`, rate achieved / limit",
            input: format!("{rows} valid rows, 1 token, {LIMIT} requests per {WINDOW_MS} ms"),
            result: format!(
                "{ratio:.3}; at most {fullest} requests in any window; {requests} requests for \
                 {expected_requests} batches; {too_many} answered 429; {send_seconds:.2} s sending \
                 (floor {ideal:.2} s)"
            ),
            target: ">= 0.98, never above the limit, zero 429, requests = ceil(rows / 500)",
            met: ratio >= RATIO_TARGET
                && fullest <= u64::from(LIMIT)
                && too_many == 0
                && requests == expected_requests,
        },
        TableRow {
            measurement: "`tcbatch submit`: first request, and the whole run against the ideal",
            input: format!("{rows} valid rows, 1 token, {LIMIT} requests per {WINDOW_MS} ms"),
            result: format!(
                "first create request at the simulator {first_text} after start (polled every \
                 {} ms); {wall:.2} s wall, ideal {ideal_wall:.2} s: {:.3}x",
                FIRST_REQUEST_POLL.as_millis(),
                wall / ideal_wall
            ),
            target:
                "first request within 1 s; wall within 3% of (requests - limit) / limit x window",
            met: first_request.is_some_and(|at| at <= FIRST_REQUEST_TARGET)
                && wall <= ideal_wall * WALL_TARGET_RATIO,
        },
        TableRow {
            measurement: "`tcbatch submit` peak memory",
            input: format!("{rows} rows"),
            result: format!(
                "{rss_mib:.1} MiB peak RSS ({:.2} s wall)",
                run.wall.as_secs_f64()
            ),
            target: "< 64 MiB",
            met: rss_mib < RSS_TARGET_MIB,
        },
    ])
}

/// How long 1,000,000 records take at the API's real limit (60 per minute per token, plus the
/// client's 250 ms guard), with `tokens` tokens: the pool's own decisions, replayed in virtual
/// time. Request latency is left out: senders overlap it with the wait for the window.
pub fn virtual_time(tokens: usize) -> TableRow {
    let requests = 2_000u32;
    let mut pool: TokenPool<u64> = TokenPool::new(PoolConfig {
        tokens,
        rate: WindowLimit::new(60, 60_000 + 250),
        ..PoolConfig::default()
    });
    let (mut now, mut sent, mut created, mut last) = (
        MonotonicMillis::from_millis(0),
        0,
        0,
        MonotonicMillis::from_millis(0),
    );
    while sent < requests {
        match pool.pick(now) {
            Decision::Send { slot, at, .. } => {
                pool.reserve_send(slot, at);
                now = now.max(at);
                last = at;
                sent += 1;
            }
            Decision::Create { slot, at } => {
                now = now.max(at);
                if pool.begin_creation(slot, now).is_ok() {
                    pool.creation_succeeded(slot, created, now);
                    created += 1;
                }
            }
            // One caller here, so nobody else can be creating: the replay would be wrong.
            Decision::WaitForCreation { .. } => break,
        }
    }
    let minutes = last.as_millis() as f64 / 60_000.0;
    // The floor: each token's share of the requests, LIMIT per (window + guard), the first
    // window's worth at once.
    let per_token = requests.div_ceil(tokens as u32);
    let floor = f64::from((per_token - 1) / 60) * 60_250.0 / 60_000.0;
    TableRow {
        measurement: "time to submit 1,000,000 records at 60 requests/min/token (virtual time)",
        input: format!("2,000 full batches, {tokens} token(s)"),
        result: format!(
            "{minutes:.2} min (floor {floor:.2} min), {sent} requests, {created} token(s) created"
        ),
        target: "the exact-window floor",
        met: sent == requests && (minutes - floor).abs() < 0.01,
    }
}

/// Rows that are all valid now, so the run measures sending, not rejecting; one per receiver
/// number in `receivers`, so files written with different ranges hold different calls.
pub(crate) fn write_valid_csv(path: &std::path::Path, receivers: Range<usize>) -> Result<()> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let (start, end) = (now, now + 6 * 3_600_000);
    let mut out =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(
        out,
        "caller_number,receiver_number,dynamic_label_name,dynamic_call_reason,starts_at,ends_at"
    )?;
    for i in receivers {
        writeln!(
            out,
            "+91 98765 43210,+91 98{:08},Centro Bank,Calling about your home loan,{start},{end}",
            i % 100_000_000
        )?;
    }
    out.flush()?;
    Ok(())
}

/// How long after `spawned` the simulator counted its first create request, asking it every
/// [`FIRST_REQUEST_POLL`]; `None` when none came before the run `ended`.
fn first_request_after(addr: SocketAddr, spawned: Instant, ended: &AtomicBool) -> Option<Duration> {
    while !ended.load(Ordering::Relaxed) && spawned.elapsed() < RUN_TIME_LIMIT {
        let seen = sim_counters(addr)
            .ok()
            .and_then(|counters| counters["create_requests"].as_u64())
            .is_some_and(|n| n > 0);
        if seen {
            return Some(spawned.elapsed());
        }
        std::thread::sleep(FIRST_REQUEST_POLL);
    }
    None
}

/// The simulator's demo account id.
pub(crate) const DEMO_ACCOUNT: &str = "5b0e7a52-3c1d-4f6e-9a8b-0c1d2e3f4a5b";

/// Writes the simulator's demo credentials, which `tcbatch mock` prints at start, to `path`.
pub(crate) fn demo_credentials(path: &std::path::Path) -> Result<std::path::PathBuf> {
    std::fs::write(
        path,
        format!(
            "TRUECALLER_CLIENT_ACCOUNT_ID={DEMO_ACCOUNT}\n\
         TRUECALLER_KEY_ID=9f8e7d6c-5b4a-4321-8fed-cba987654321\n\
         TRUECALLER_API_KEY=de5ec7e7-0000-4000-8000-00000000c0de\n"
        ),
    )
    .with_context(|| format!("writing {}", path.display()))?;
    Ok(path.to_owned())
}

pub(crate) fn free_loopback_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

pub(crate) fn wait_for(addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        ensure!(
            started.elapsed() < Duration::from_secs(10),
            "tcbatch mock did not start on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// `GET /__sim/counters`, over a plain socket: the bench needs no HTTP client for one request.
pub(crate) fn sim_counters(addr: SocketAddr) -> Result<serde_json::Value> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET /__sim/counters HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .context("no HTTP body")?;
    serde_json::from_str(body).context("reading the simulator's counters")
}

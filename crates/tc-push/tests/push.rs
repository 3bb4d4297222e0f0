//! The engine as a library user drives it: records from a plain `Vec`, pushed to the simulator
//! on loopback with faults, resumed until done. Every record is answered exactly once and every
//! extra copy the API stored is flagged.
//!
//! Time is virtual: the simulator runs in the test's own paused runtime and the engine reads
//! the same clock through `TokioClock`, so a token's lifetime, the rate limit and a record's
//! window pass on one clock. The engine's reader thread works outside the runtime, and while
//! the runtime waits for it tokio moves its clock on to the next timer, so virtual time here is
//! not the same from run to run: the tests assert what holds whatever it is, and never put a
//! `tokio::time::timeout` around a push (it would fire while the reader validates).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tc_core::{EpochMillis, RawRecord};
use tc_push::{
    Clock, Destination, Error, Event, Fingerprint, PushConfig, PushEnd, Pusher, ReportRow,
    RowStatus, SendOptions, Start, SystemClock, TokioClock,
};
use tc_sim::{SimConfig, Simulator};

/// The longest window the API accepts: the records stay open however far virtual time moves
/// in a test, and the simulator, which checks `ends_at` against the wall clock, agrees.
const WINDOW_MS: i64 = 86_400_000;

/// Runs of the push before the faults test gives up on finishing.
const MAX_RUNS: u32 = 9;

/// Indian mobiles that tc-core accepts, deterministic for a seed.
fn receivers(n: usize, seed: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    while out.len() < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let candidate = format!("+919{:09}", (x >> 20) % 1_000_000_000);
        if tc_core::E164::normalize(&candidate, None).is_ok() && !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// `valid` records open from `now` for [`WINDOW_MS`], every 50th followed by one with a broken
/// receiver number.
fn records(valid: usize, now: EpochMillis) -> Vec<RawRecord> {
    let (starts, ends) = (now.to_string(), now.plus(WINDOW_MS).to_string());
    let mut out = Vec::new();
    for (i, receiver) in receivers(valid, 5).into_iter().enumerate() {
        if i % 50 == 7 {
            out.push(record("+91 98765 4321O", &starts, &ends));
        }
        out.push(record(&receiver, &starts, &ends));
    }
    out
}

fn record(receiver: &str, starts: &str, ends: &str) -> RawRecord {
    RawRecord::from_text_fields([
        ("caller_number", "+919876543210"),
        ("receiver_number", receiver),
        ("dynamic_label_name", "Centro Bank"),
        ("dynamic_call_reason", "Calling about your loan"),
        ("starts_at", starts),
        ("ends_at", ends),
    ])
}

fn client(sim: &Simulator) -> tc_http::Client {
    let account = sim.config();
    tc_http::Client::builder()
        .base_url(sim.base_url())
        .client_account_id(account.client_account_id.as_str())
        .key_id(account.key_id.as_str())
        .api_key(account.api_key.clone())
        .seed(3)
        .build()
        .unwrap()
}

fn config(sim: &Simulator, journal: &std::path::Path, start: Start) -> PushConfig {
    let options = SendOptions::new(
        Destination::Api {
            base_url: sim.base_url(),
        },
        sim.config().client_account_id.clone(),
    );
    let fingerprint = Fingerprint::from_reader(&b"faults test input"[..]).unwrap();
    PushConfig::new(journal, fingerprint, options)
        .with_start(start)
        .with_in_flight(3)
}

/// A clock that follows the test's virtual time from the wall time now.
fn virtual_clock() -> TokioClock {
    TokioClock::starting_at(SystemClock.now()).expect("inside the test's runtime")
}

/// Pushes `input` until a run finishes, opening the journal again for each resume as
/// `tcbatch submit --resume` does. The first run is asked to stop once `interrupt_after`
/// batches are answered, so a resume always happens; retries can also run out under many
/// faults, and the push then stops with its rows resumable. Returns the runs it took and their
/// virtual time in total.
async fn push_until_finished(
    sim: &Simulator,
    journal: &Path,
    clock: &TokioClock,
    input: &[RawRecord],
    interrupt_after: u64,
) -> (u32, Duration) {
    let client = client(sim);
    let mut elapsed = Duration::ZERO;
    for run in 1..=MAX_RUNS {
        let start = if run == 1 { Start::New } else { Start::Resume };
        let mut pusher = Pusher::open(config(sim, journal, start), clock.clone()).unwrap();
        let stop = pusher.stop_handle();
        let answered = AtomicU64::new(0);
        let observer = move |event: &Event| {
            if let Event::BatchAnswered { .. } = event {
                if answered.fetch_add(1, Ordering::SeqCst) + 1 == interrupt_after && run == 1 {
                    stop.stop();
                }
            }
        };
        let live = live_report_path(journal, run);
        let report = pusher.start_report(&live).unwrap();
        let pushed = pusher
            .push(input.to_vec(), &client, observer)
            .await
            .unwrap();
        elapsed += pushed.elapsed;
        report.finish(input.len() as u64).unwrap();
        check_the_live_report_is_the_journals(journal, &live, input.len() as u64);
        match pushed.end {
            PushEnd::Finished { input_rows } if run > 1 => {
                assert_eq!(input_rows, input.len() as u64);
                return (run, elapsed);
            }
            PushEnd::Interrupted if run == 1 => {}
            PushEnd::Stopped { .. } => {}
            end => panic!("run {run} ended {end:?}"),
        }
    }
    panic!("still not finished after {MAX_RUNS} runs")
}

/// Where run `run` writes its report as it pushes: CSV and JSON Lines in turn.
fn live_report_path(journal: &Path, run: u32) -> std::path::PathBuf {
    let extension = if run % 2 == 1 { "csv" } else { "jsonl" };
    journal.with_file_name(format!("live-{run}.{extension}"))
}

/// The report written while the push ran is the one written from its journal after it.
fn check_the_live_report_is_the_journals(journal: &Path, live: &Path, input_rows: u64) {
    let after = live.with_file_name(format!(
        "after-{}",
        live.file_name().unwrap().to_string_lossy()
    ));
    tc_push::write_report(journal, &after, input_rows).unwrap();
    let (live_bytes, after_bytes) = (std::fs::read(live).unwrap(), std::fs::read(&after).unwrap());
    assert!(
        live_bytes == after_bytes,
        "{} differs from the report written after the push",
        live.display()
    );
}

fn read_report(path: &Path) -> Vec<ReportRow> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// How many times the simulator stored each receiver number.
fn copies_stored(sim: &Simulator) -> HashMap<String, u64> {
    let mut stored = HashMap::new();
    for s in sim.stored_records() {
        *stored.entry(s.record.receiver_number).or_default() += 1;
    }
    stored
}

/// Checks every accepted row reached the API and every one stored more than once is flagged;
/// returns how many rows were stored more than once.
fn check_copies_flagged(rows: &[ReportRow], input: &[RawRecord], sim: &Simulator) -> u64 {
    let stored = copies_stored(sim);
    let mut stored_again = 0;
    for (row, raw) in rows.iter().zip(input) {
        if row.status != RowStatus::Accepted {
            continue;
        }
        let Some(tc_core::Scalar::Text(receiver)) = raw.get(tc_core::Field::ReceiverNumber) else {
            panic!("row {} has no receiver", row.row)
        };
        let copies = stored.get(receiver).copied().unwrap_or(0);
        assert!(copies >= 1, "row {} never reached the API", row.row);
        if copies > 1 {
            assert!(
                row.possibly_duplicated,
                "row {} stored {copies} times, not flagged",
                row.row
            );
            stored_again += 1;
        }
    }
    stored_again
}

#[tokio::test(start_paused = true)]
async fn faults_every_record_answered_once_and_extra_copies_flagged() {
    let sim = Simulator::start(SimConfig {
        fail_rate: 0.2,
        drop_rate: 0.25,
        latency: Duration::from_millis(100),
        token_ttl: Duration::from_secs(1),
        seed: 21,
        ..SimConfig::demo()
    })
    .await
    .unwrap();
    let clock = virtual_clock();
    let input = records(10_000, clock.now());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let (runs, elapsed) = push_until_finished(&sim, &journal, &clock, &input, 5).await;
    assert!(
        elapsed.as_millis() < WINDOW_MS as u128,
        "{runs} runs took {elapsed:?} of virtual time: records could expire"
    );

    let report = dir.path().join("report.jsonl");
    let tally = tc_push::write_report(&journal, &report, input.len() as u64).unwrap();
    let rows = read_report(&report);
    let numbers: Vec<u64> = rows.iter().map(|r| r.row).collect();
    assert_eq!(numbers, (1..=input.len() as u64).collect::<Vec<_>>());
    assert_eq!(tally.rejected, (input.len() - 10_000) as u64);
    assert_eq!(tally.accepted, 10_000, "{tally:?}");
    let stored_again = check_copies_flagged(&rows, &input, &sim);

    let counters = sim.counters();
    assert_eq!(copies_stored(&sim).len(), 10_000, "{counters:?}");
    // Every copy beyond a receiver's first is a duplicate, and only those are.
    assert_eq!(
        counters.records_stored,
        10_000 + counters.duplicate_records,
        "{counters:?}"
    );
    assert!(
        counters.responses_dropped > 0 && counters.requests_by_status.contains_key(&500),
        "the faults were exercised: {counters:?}"
    );
    assert!(stored_again > 0, "dropped answers made duplicates");
    assert!(
        counters.tokens_created > 1,
        "the short token lifetime was exercised: {counters:?}"
    );
    // The client and the simulator read one clock, so the client's own limits are the
    // server's: it never exceeded the request rate or the token creation budget.
    assert_eq!(counters.requests_by_status.get(&429), None, "{counters:?}");
    assert!(counters.fullest_create_window <= 60, "{counters:?}");
    let budget_windows = 1 + elapsed.as_secs() / (30 * 60);
    assert!(
        counters.tokens_created <= 10 * budget_windows,
        "{counters:?} in {elapsed:?}"
    );
    sim.shutdown().await;
}

/// Issue 13, item 2: a second push on a journal in use is refused, and the lock goes with the
/// push that held it. A journal with no start entry is never resumed (item 9).
#[tokio::test(start_paused = true)]
async fn a_second_push_on_a_journal_in_use_is_refused() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let clock = virtual_clock();
    let first = Pusher::open(config(&sim, &journal, Start::New), clock.clone()).unwrap();
    let second = Pusher::open(config(&sim, &journal, Start::Resume), clock.clone());
    assert!(
        matches!(second, Err(Error::JournalLocked { .. })),
        "{second:?}"
    );
    drop(first);
    // Unlocked now; but nothing was ever written in it, so there is nothing to resume from.
    let again = Pusher::open(config(&sim, &journal, Start::Resume), clock);
    let Err(err) = again else {
        panic!("a journal without a start entry was resumed")
    };
    assert!(matches!(err, Error::JournalNotStarted { .. }), "{err}");
    assert!(err.to_string().contains("no start entry"), "{err}");
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_run_leaves_the_pusher_ready_to_resume() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let clock = virtual_clock();
    let input = records(1_200, clock.now());
    let client = client(&sim);
    let mut pusher = Pusher::open(config(&sim, &journal, Start::New), clock).unwrap();
    // Asked between runs, the stop ends the next run before anything is sent.
    pusher.stop_handle().stop();
    let first = pusher.push(input.clone(), &client, ()).await.unwrap();
    assert!(matches!(first.end, PushEnd::Interrupted), "{:?}", first.end);
    assert_eq!(sim.counters().create_requests, 0);
    // The same pusher, called again, resumes: the stop was for the run that ended.
    let rows = input.len() as u64;
    let second = pusher.push(input, &client, ()).await.unwrap();
    assert!(
        matches!(second.end, PushEnd::Finished { input_rows } if input_rows == rows),
        "{:?}",
        second.end
    );
    let tally = pusher
        .write_report(&dir.path().join("report.csv"), rows)
        .unwrap();
    assert_eq!((tally.accepted, tally.rows()), (1_200, rows));
    sim.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_the_rate_limit_holds_past_its_window_is_rejected_never_sent_late() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = virtual_clock();
    let now = clock.now();
    // 600 records whose window closes in 30 s, on a client allowed one request a minute: the
    // first batch of 500 leaves at once, the second could only leave after the window closed.
    let (starts, ends) = (now.to_string(), now.plus(30_000).to_string());
    let input: Vec<RawRecord> = receivers(600, 9)
        .iter()
        .map(|receiver| record(receiver, &starts, &ends))
        .collect();
    let account = sim.config();
    let client = tc_http::Client::builder()
        .base_url(sim.base_url())
        .client_account_id(account.client_account_id.as_str())
        .key_id(account.key_id.as_str())
        .api_key(account.api_key.clone())
        .rate_limit(1, Duration::from_secs(60))
        .build()
        .unwrap();
    let journal = dir.path().join("journal");
    let mut pusher = Pusher::open(config(&sim, &journal, Start::New), clock).unwrap();
    let pushed = pusher.push(input, &client, ()).await.unwrap();
    assert!(matches!(pushed.end, PushEnd::Finished { input_rows: 600 }));
    let report = dir.path().join("report.jsonl");
    let tally = pusher.write_report(&report, 600).unwrap();
    assert_eq!((tally.accepted, tally.rejected), (500, 100), "{tally:?}");
    let late = read_report(&report);
    assert!(late[500..]
        .iter()
        .all(|r| r.code.as_ref().map(ToString::to_string).as_deref() == Some("window_expired")));
    assert_eq!(
        sim.counters().create_requests,
        1,
        "the late batch never left"
    );
    assert_eq!(sim.counters().records_stored, 500);
    sim.shutdown().await;
}

//! The engine as a library user drives it: records from a plain `Vec`, pushed to the simulator
//! on loopback with faults, resumed until done. Every record is answered exactly once and every
//! extra copy the API stored is flagged.
//!
//! These run on the real clock: the simulator reads `std::time::Instant` until it moves to an
//! injectable clock; the engine's own time comes from the clock the test hands it.

use std::collections::HashMap;
use std::time::Duration;
use tc_core::{Millis, RawRecord};
use tc_push::{
    Clock, Destination, Error, Fingerprint, PushConfig, PushEnd, Pusher, ReportRow, RowStatus,
    SendOptions, Start, SystemClock,
};
use tc_sim::{SimConfig, Simulator};

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

/// `valid` records, every 50th followed by one with a broken receiver number.
fn records(valid: usize, now: Millis) -> Vec<RawRecord> {
    let (starts, ends) = (now.0.to_string(), (now.0 + 3 * 3_600_000).to_string());
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
    let config = tc_http::ClientConfig::new(
        sim.base_url(),
        account.client_account_id.clone(),
        account.key_id.clone(),
        account.api_key.clone(),
    )
    .with_seed(3);
    tc_http::Client::new(config).unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let started = SystemClock.now();
    // The engine's clock stands still at the start: no record can expire mid-test.
    let clock = move || started;
    let input = records(10_000, started);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let client = client(&sim);
    let mut pusher = Pusher::open(config(&sim, &journal, Start::New), clock).unwrap();
    let mut runs = 0;
    // Retries can run out under this many faults: the push stops, and pushing again resumes.
    loop {
        runs += 1;
        let pushed = pusher.push(input.clone(), &client, ()).await.unwrap();
        match pushed.end {
            PushEnd::Finished { .. } => break,
            end => assert!(runs < 8, "still not finished after {runs} runs: {end:?}"),
        }
    }
    let report = dir.path().join("report.jsonl");
    let tally = pusher.write_report(&report, input.len() as u64).unwrap();
    let rows: Vec<ReportRow> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let numbers: Vec<u64> = rows.iter().map(|r| r.row).collect();
    assert_eq!(numbers, (1..=input.len() as u64).collect::<Vec<_>>());
    assert_eq!(tally.rejected, (input.len() - 10_000) as u64);
    assert_eq!(tally.accepted, 10_000, "{tally:?}");

    let mut stored: HashMap<String, u32> = HashMap::new();
    for s in sim.stored_records() {
        *stored.entry(s.record.receiver_number).or_default() += 1;
    }
    let mut flagged_copies = 0;
    for (row, raw) in rows.iter().zip(&input) {
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
            flagged_copies += 1;
        }
    }
    let counters = sim.counters();
    assert!(
        counters.responses_dropped > 0 && counters.requests_by_status.contains_key(&500),
        "the faults were exercised: {counters:?}"
    );
    assert!(
        flagged_copies > 0,
        "dropped answers made duplicates: {counters:?}"
    );
    assert!(
        counters.tokens_created > 1,
        "the short token lifetime was exercised"
    );
    sim.shutdown().await;
}

/// Issue 13, item 2: a second push on a journal in use is refused, and the lock goes with the
/// push that held it. A journal with no start entry is never resumed (item 9).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_push_on_a_journal_in_use_is_refused() {
    let sim = Simulator::start(SimConfig::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let first = Pusher::open(config(&sim, &journal, Start::New), SystemClock).unwrap();
    let second = Pusher::open(config(&sim, &journal, Start::Resume), SystemClock);
    assert!(
        matches!(second, Err(Error::JournalLocked { .. })),
        "{second:?}"
    );
    drop(first);
    // Unlocked now; but nothing was ever written in it, so there is nothing to resume from.
    let again = Pusher::open(config(&sim, &journal, Start::Resume), SystemClock);
    let Err(err) = again else {
        panic!("a journal without a start entry was resumed")
    };
    assert!(matches!(err, Error::JournalNotStarted { .. }), "{err}");
    assert!(err.to_string().contains("no start entry"), "{err}");
    sim.shutdown().await;
}

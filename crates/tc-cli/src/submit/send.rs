//! The push itself: a reader thread validates rows and packs full batches; one task per token
//! sends them. Every batch is journaled and synced before its request leaves.

use super::journal::{self, BatchStatus, Entry, JournalWriter, JOURNAL_VERSION};
use super::progress::Progress;
use super::state::Ledger;
use crate::read::{self, Format, InputRecord};
use crate::validate::system_now as now;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tc_core::{BatchPlanner, CallRecord, Diagnostic, Millis, Region, Validator, MAX_BATCH_RECORDS};
use tokio::sync::mpsc;

pub struct Plan {
    pub file: PathBuf,
    pub format: Format,
    pub region: Option<Region>,
    pub journal: PathBuf,
    pub fingerprint: String,
    pub resume: bool,
    pub tokens: usize,
    /// Requests per second one token may send (60 per minute on the API).
    pub requests_per_second: f64,
}

#[derive(Debug, Default)]
pub struct Sent {
    pub batches: u64,
    /// Ctrl-C: the operator stopped the push.
    pub interrupted: bool,
    /// The push stopped itself: the API or the network kept failing, or the credentials were
    /// refused. Sending more would only burn requests and token creations.
    pub stopped: Option<String>,
    /// How many records the input holds, when reading got to its end.
    pub input_rows: Option<u64>,
    /// From the first row read to the last answer.
    pub elapsed: std::time::Duration,
}

/// Requests in flight per token. One at a time would cap a token at 60 per minute only while an
/// answer takes under a second; the client's rate limiter, not this number, keeps every token
/// within its limit. It is also the most batches a crash can leave unanswered per token.
const IN_FLIGHT_PER_TOKEN: usize = 4;

/// A valid row on its way to a batch.
struct Queued {
    row: u64,
    line: u64,
    record: CallRecord,
    maybe_sent: bool,
}

struct Shared {
    journal: Mutex<JournalWriter>,
    next_seq: AtomicU64,
    batches: AtomicU64,
    stop: AtomicBool,
    stopped: Mutex<Option<String>>,
    progress: Progress,
}

impl Shared {
    fn journal(&self, entries: &[Entry], sync: bool) -> Result<()> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        for entry in entries {
            journal.write(entry)?;
        }
        if sync {
            journal.sync()?;
        }
        Ok(())
    }
}

pub async fn push(plan: &Plan, client: &tc_http::Client) -> Result<Sent> {
    let resuming = plan.resume && journal::matches_input(&plan.journal, &plan.fingerprint)?;
    let (state, mut writer) = if resuming {
        let state = Ledger::load(&plan.journal)?;
        eprintln!(
            "tcbatch: resuming: {} rows already settled, {} rows of unanswered batches to send again",
            state.settled.len(),
            state.maybe_sent.len()
        );
        (state, JournalWriter::append(&plan.journal)?)
    } else if plan.resume && plan.journal.exists() {
        // Killed before its first line reached the disk: nothing was sent, start over.
        (Ledger::empty(), JournalWriter::append(&plan.journal)?)
    } else {
        (Ledger::empty(), JournalWriter::create(&plan.journal)?)
    };
    let run = state.next_run;
    writer.write(&Entry::Start {
        version: JOURNAL_VERSION,
        run,
        fingerprint: plan.fingerprint.clone(),
        input: plan.file.display().to_string(),
        at: now().0,
    })?;
    writer.sync()?;

    let shared = Arc::new(Shared {
        journal: Mutex::new(writer),
        next_seq: AtomicU64::new(state.next_seq),
        batches: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stopped: Mutex::new(None),
        progress: Progress::start(
            plan.requests_per_second * plan.tokens as f64,
            read::estimate_rows(&plan.file),
        ),
    });
    let interrupt = tokio::spawn(stop_on_ctrl_c(shared.clone()));
    let started = std::time::Instant::now();

    let in_flight = plan.tokens * IN_FLIGHT_PER_TOKEN;
    let (tx, rx) = mpsc::channel::<Vec<Queued>>(in_flight);
    let reader = {
        let shared = shared.clone();
        let (file, format, region) = (plan.file.clone(), plan.format, plan.region);
        std::thread::spawn(move || read_and_plan(&file, format, region, &state, &shared, tx))
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        senders.spawn(send_loop(rx.clone(), shared.clone(), client.clone()));
    }
    let mut first_error = None;
    while let Some(done) = senders.join_next().await {
        if let Err(e) = done.context("a sender task failed").and_then(|r| r) {
            shared.stop.store(true, Ordering::SeqCst);
            first_error.get_or_insert(e);
        }
    }
    drop(rx);
    let read_result = tokio::task::spawn_blocking(move || reader.join())
        .await
        .context("the reader thread failed")?
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
    interrupt.abort();
    shared.progress.finish();

    let stopped = shared
        .stopped
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let interrupted = shared.stop.load(Ordering::SeqCst) && stopped.is_none();
    let unfinished = interrupted || stopped.is_some();
    shared.journal(
        &[Entry::End {
            run,
            at: now().0,
            interrupted: unfinished,
        }],
        true,
    )?;
    if let Some(e) = first_error {
        return Err(e);
    }
    let rows_read = read_result?;
    Ok(Sent {
        batches: shared.batches.load(Ordering::SeqCst),
        interrupted,
        stopped,
        input_rows: rows_read.filter(|_| !unfinished),
        elapsed: started.elapsed(),
    })
}

async fn stop_on_ctrl_c(shared: Arc<Shared>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!(
            "\ntcbatch: stopping after the requests in flight (Ctrl-C again to quit at once)"
        );
        shared.stop.store(true, Ordering::SeqCst);
        if tokio::signal::ctrl_c().await.is_ok() {
            // Every batch in flight is journaled: --resume will re-send it, flagged.
            std::process::exit(super::EXIT_INTERRUPTED);
        }
    }
}

/// Runs on its own thread: parsing and validation are CPU work, and the bounded channel keeps
/// memory flat by making this thread wait while the senders are at the rate limit.
fn read_and_plan(
    file: &std::path::Path,
    format: Format,
    region: Option<Region>,
    state: &Ledger,
    shared: &Shared,
    tx: mpsc::Sender<Vec<Queued>>,
) -> Result<Option<u64>> {
    let mut planner = BatchPlanner::new();
    let mut records = read::open(Some(file), format)?;
    let mut rows = 0;
    for input in records.by_ref() {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let InputRecord {
            record: row,
            line,
            raw,
        } = input;
        let (row, line) = (row as u64, line as u64);
        rows = row;
        if state.settled.contains(row) {
            continue;
        }
        shared.progress.read();
        let maybe_sent = state.maybe_sent.contains(row);
        let mut validator = Validator::new(now());
        if let Some(region) = region {
            validator = validator.with_default_region(region);
        }
        let checked = raw
            .map_err(|d| vec![d])
            .and_then(|raw| validator.validate(&raw));
        match checked {
            Ok(record) => {
                shared.progress.valid();
                if let Some(batch) = planner.push(Queued {
                    row,
                    line,
                    record,
                    maybe_sent,
                }) {
                    if tx.blocking_send(batch).is_err() {
                        return Ok(None);
                    }
                }
            }
            Err(problems) => {
                shared.progress.invalid();
                shared.journal(&[rejected(row, line, &problems, maybe_sent)], false)?;
            }
        }
    }
    records.finish()?;
    if let Some(batch) = planner.finish() {
        if tx.blocking_send(batch).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(rows))
}

async fn send_loop(
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Queued>>>>,
    shared: Arc<Shared>,
    client: tc_http::Client,
) -> Result<()> {
    loop {
        let Some(queued) = rx.lock().await.recv().await else {
            return Ok(());
        };
        if shared.stop.load(Ordering::SeqCst) {
            // Not journaled, so not settled: --resume sends these rows.
            return Ok(());
        }
        let (ready, expired) = split_expired(queued, now());
        shared.progress.expired(expired.len() as u64);
        shared.journal(&expired, false)?;
        if ready.is_empty() {
            continue;
        }
        debug_assert!(ready.len() <= MAX_BATCH_RECORDS);
        let seq = shared.next_seq.fetch_add(1, Ordering::SeqCst);
        let intent = Entry::Batch {
            seq,
            rows: ready.iter().map(|q| q.row).collect(),
            lines: ready.iter().map(|q| q.line).collect(),
            receivers: ready
                .iter()
                .map(|q| q.record.receiver_number().to_string())
                .collect(),
            maybe_sent: ready
                .iter()
                .filter(|q| q.maybe_sent)
                .map(|q| q.row)
                .collect(),
        };
        shared.journal(&[intent], true)?;
        let count = ready.len() as u64;
        let batch = tc_core::Batch::new(ready.into_iter().map(|q| q.record).collect())?;
        let outcome = match client.create_call_records(&batch).await {
            Ok(created) => Entry::Outcome {
                seq,
                status: BatchStatus::Accepted,
                batch_id: Some(created.batch_id),
                code: None,
                message: None,
                attempts: created.attempts,
                possibly_duplicated: created.possibly_duplicated,
                maybe_stored: false,
                retryable: false,
            },
            Err(error) => {
                if stops_the_push(&error) {
                    shared.stop.store(true, Ordering::SeqCst);
                    let mut stopped = shared.stopped.lock().unwrap_or_else(|e| e.into_inner());
                    stopped.get_or_insert_with(|| error.to_string());
                }
                Entry::Outcome {
                    seq,
                    status: if error.outcome_unknown() {
                        BatchStatus::Unknown
                    } else {
                        BatchStatus::Failed
                    },
                    batch_id: None,
                    code: Some(error_code(&error)),
                    message: Some(error.to_string()),
                    attempts: error.attempts(),
                    possibly_duplicated: false,
                    maybe_stored: error.outcome_unknown(),
                    retryable: error.is_retryable_later(),
                }
            }
        };
        let accepted = matches!(
            outcome,
            Entry::Outcome {
                status: BatchStatus::Accepted,
                ..
            }
        );
        shared.journal(&[outcome], true)?;
        shared.batches.fetch_add(1, Ordering::SeqCst);
        shared.progress.sent(count, accepted);
    }
}

/// Failures that every later batch would meet too: the retries or the token budget are spent, or
/// the account's credentials are refused. A refused *batch* (400) is that batch's problem only.
fn stops_the_push(error: &tc_http::Error) -> bool {
    error.is_retryable_later()
        || matches!(
            error,
            tc_http::Error::Unauthorized { .. } | tc_http::Error::Config { .. }
        )
}

/// The report's code for a batch the API did not accept: its slug, or the HTTP status.
fn error_code(error: &tc_http::Error) -> String {
    match (error.slug(), error.status()) {
        (Some(slug), _) => slug.to_owned(),
        (None, Some(status)) => format!("http_{status}"),
        (None, None) if error.outcome_unknown() => "outcome_unknown".to_owned(),
        (None, None) => "not_sent".to_owned(),
    }
}

/// One journal line for a rejected row: the first problem's field and code, every message.
fn rejected(row: u64, line: u64, problems: &[Diagnostic], maybe_sent: bool) -> Entry {
    let message = problems
        .iter()
        .map(|d| match d.field {
            Some(field) => format!("{field}: {} [{}]", d.message, d.code),
            None => format!("{} [{}]", d.message, d.code),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let first = problems.first();
    Entry::Rejected {
        row,
        line,
        field: first
            .and_then(|d| d.field)
            .map(|f| f.wire_name().to_owned()),
        code: first
            .map_or("record_unreadable", |d| d.code.as_str())
            .to_owned(),
        message,
        maybe_sent,
    }
}

/// A record valid when read may have expired while it waited for the rate limit: those go to
/// the report as rejected, with the code `window_expired`, and are not sent.
fn split_expired(queued: Vec<Queued>, now: Millis) -> (Vec<Queued>, Vec<Entry>) {
    let mut expired = Vec::new();
    let mut ready = Vec::with_capacity(queued.len());
    for q in queued {
        match q.record.check_still_open(now) {
            Ok(()) => ready.push(q),
            Err(problem) => expired.push(rejected(q.row, q.line, &[problem], q.maybe_sent)),
        }
    }
    (ready, expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc_core::RawRecord;

    fn queued(row: u64, ends_at: i64) -> Queued {
        let raw = RawRecord::from_text_fields([
            ("caller_number", "+919876543210"),
            ("receiver_number", "+919876543211"),
            ("dynamic_label_name", "Centro Bank"),
            ("starts_at", "1900000000000"),
            ("ends_at", &ends_at.to_string()),
        ]);
        let record = Validator::new(Millis(1_900_000_000_000))
            .validate(&raw)
            .unwrap();
        Queued {
            row,
            line: row + 1,
            record,
            maybe_sent: false,
        }
    }

    #[test]
    fn records_that_expired_while_queued_are_rejected_not_sent() {
        let end = 1_900_000_060_000;
        let batch = vec![queued(1, end), queued(2, end + 1), queued(3, end - 1)];
        let (ready, expired) = split_expired(batch, Millis(end));
        assert_eq!(
            ready.iter().map(|q| q.row).collect::<Vec<_>>(),
            [1, 2],
            "ends_at == now is still open"
        );
        let [Entry::Rejected { row, code, .. }] = expired.as_slice() else {
            panic!("{expired:?}")
        };
        assert_eq!((*row, code.as_str()), (3, "window_expired"));
    }
}

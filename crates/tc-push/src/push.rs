//! The push itself: a reader thread reads rows, workers validate them, the rows come back in
//! input order and are packed into full batches; sender tasks send them. Every batch is journaled and synced before its request leaves.

use crate::codes::OutcomeStatus;
use crate::error::Error;
use crate::events::{Event, Observer, StopReason};
use crate::input::IntoRow;
use crate::journal::{check_start, Entry, JournalWriter, SharedJournal, Sync, JOURNAL_VERSION};
use crate::ledger::Ledger;
use crate::options::{Fingerprint, SendOptions};
use crate::ordered::{map_ordered, Jobs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tc_core::{
    BatchPlanner, CallRecord, CallerMemo, Diagnostic, EpochMillis, ValidationErrors, Validator,
};
use tc_engine::batcher::send_within;
use tc_engine::BatchOutcome;
use tc_http::Clock;
use tokio::sync::mpsc;

/// Whether the journal is new or continues an earlier push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Start {
    /// A new push: the journal must not exist yet.
    New,
    /// Continue the push of this journal; with no journal yet, start one (nothing can have been
    /// sent without it).
    Resume,
}

/// The push's guarantee: what it does with a batch that may have reached the API unanswered.
/// [`Guarantee::AtMostOnce`] never sends it again, not even on resume: its rows are reported
/// `unknown`. Build the client with the same choice ([`tc_http::ClientBuilder::guarantee`]).
pub use tc_http::Guarantee;

/// Everything a push needs besides its input, client and clock.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PushConfig {
    pub journal: PathBuf,
    pub fingerprint: Fingerprint,
    /// A name for the input, written in the journal for messages (a file path, say).
    pub input_name: String,
    pub options: SendOptions,
    pub start: Start,
    pub guarantee: Guarantee,
    /// Requests in flight at once: the most batches a crash can leave unanswered.
    pub in_flight: usize,
    /// Threads that validate the rows; the batches are the same whatever the number.
    pub jobs: Jobs,
}

impl PushConfig {
    /// A new push, at least once, four requests in flight, validating on every core.
    pub fn new(
        journal: impl Into<PathBuf>,
        fingerprint: Fingerprint,
        options: SendOptions,
    ) -> Self {
        PushConfig {
            journal: journal.into(),
            fingerprint,
            input_name: String::new(),
            options,
            start: Start::New,
            guarantee: Guarantee::AtLeastOnce,
            in_flight: 4,
            jobs: Jobs::beside_the_reader(),
        }
    }

    pub fn with_input_name(mut self, name: impl Into<String>) -> Self {
        self.input_name = name.into();
        self
    }

    pub fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    pub fn with_guarantee(mut self, guarantee: Guarantee) -> Self {
        self.guarantee = guarantee;
        self
    }

    /// At least 1.
    pub fn with_in_flight(mut self, in_flight: usize) -> Self {
        self.in_flight = in_flight.max(1);
        self
    }

    pub fn with_jobs(mut self, jobs: Jobs) -> Self {
        self.jobs = jobs;
        self
    }
}

/// What the journal said when a push was resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resumed {
    /// Rows with a final answer: skipped.
    pub settled: u64,
    /// Rows that may be stored and have no final answer: sent again, flagged (at least once).
    pub to_send_again: u64,
    /// The same rows under at-most-once: never sent again, reported `unknown`.
    pub not_sent_again: u64,
}

/// Batches by how they ended in this run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BatchCounts {
    pub accepted: u64,
    pub failed: u64,
    pub unknown: u64,
}

impl BatchCounts {
    pub fn total(&self) -> u64 {
        self.accepted + self.failed + self.unknown
    }
}

/// How a run of the push ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PushEnd {
    /// Every row of the input was read and handled.
    Finished { input_rows: u64 },
    /// [`StopHandle::stop`] was called: the requests in flight were answered, the rest not sent.
    Interrupted,
    /// A failure every later batch would meet too; the rows not answered stay resumable.
    Stopped { error: tc_http::Error },
}

/// The result of [`Pusher::push`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pushed {
    pub batches: BatchCounts,
    pub end: PushEnd,
    /// From the start of the run to the last answer, by the engine's clock.
    pub elapsed: std::time::Duration,
}

/// Asks a running push to stop after the requests in flight; asked between runs, it stops the
/// next run before it sends. Batches still waiting for a token, their rate window or the
/// coordinator end at once, unsent and resumable: only requests on the wire are waited for. A
/// run that ends clears it, so calling `push` again resumes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<Mutex<tc_http::StopSignal>>);

impl StopHandle {
    pub fn stop(&self) {
        lock(&self.0).stop();
    }

    pub fn is_stopped(&self) -> bool {
        lock(&self.0).is_stopped()
    }

    /// The signal the run's calls are made with.
    fn signal(&self) -> tc_http::StopSignal {
        lock(&self.0).clone()
    }

    fn reset(&self) {
        *lock(&self.0) = tc_http::StopSignal::new();
    }
}

/// A push on one journal: holds the journal's lock from [`Pusher::open`] until it is dropped.
pub struct Pusher {
    config: PushConfig,
    clock: Arc<dyn Clock>,
    journal: Arc<SharedJournal>,
    ledger: Option<Ledger>,
    resumed: Option<Resumed>,
    stop: StopHandle,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("config", &self.config)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

impl Pusher {
    /// Creates or resumes the journal and takes its lock. A resumed journal must have a start
    /// entry with this input's fingerprint and these options.
    pub fn open(config: PushConfig, clock: impl Clock) -> Result<Pusher, Error> {
        let path = config.journal.as_path();
        let resuming = config.start == Start::Resume && path.exists();
        let (writer, ledger) = if resuming {
            let mut writer = JournalWriter::append(path)?;
            check_start(path, &config.fingerprint, &config.options)?;
            writer.end_torn_line()?;
            (writer, Ledger::load(path)?)
        } else {
            (JournalWriter::create(path)?, Ledger::empty())
        };
        let resumed = resuming.then(|| {
            let again = ledger.unsettled_possibly_stored();
            let at_most_once = config.guarantee == Guarantee::AtMostOnce;
            Resumed {
                settled: ledger.settled.len(),
                to_send_again: if at_most_once { 0 } else { again },
                not_sent_again: if at_most_once { again } else { 0 },
            }
        });
        Ok(Pusher {
            config,
            clock: Arc::new(clock),
            journal: Arc::new(SharedJournal::new(writer)?),
            ledger: Some(ledger),
            resumed,
            stop: StopHandle::default(),
        })
    }

    /// What the journal held, when the push was resumed.
    pub fn resumed(&self) -> Option<Resumed> {
        self.resumed
    }

    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    pub fn journal_path(&self) -> &Path {
        &self.config.journal
    }

    /// Validates, packs and sends every row of `input` the journal has not settled, and journals
    /// each batch before its request leaves. Calling it again runs the push again as a resume.
    ///
    /// `input` is turned into its iterator on the engine's reader thread, so only `input`
    /// itself must be `Send`: a type whose `into_iter` opens a file works as well as a `Vec`.
    pub async fn push<I>(
        &mut self,
        input: I,
        client: &tc_http::Client,
        observer: impl Observer,
    ) -> Result<Pushed, Error>
    where
        I: IntoIterator + Send + 'static,
        I::Item: IntoRow,
    {
        let ledger = match self.ledger.take() {
            Some(ledger) => ledger,
            None => Ledger::load(&self.config.journal)?,
        };
        let run = ledger.next_run;
        let started = self.clock.now();
        let shared = Arc::new(Run {
            journal: self.journal.clone(),
            clock: self.clock.clone(),
            observer: Box::new(observer),
            next_seq: AtomicU64::new(ledger.next_seq),
            turns: Turns::starting_at(ledger.next_seq),
            counts: Mutex::new(BatchCounts::default()),
            stop: self.stop.clone(),
            stopped: Mutex::new(None),
            guarantee: self.config.guarantee,
        });
        shared
            .journal
            .append_now(vec![self.start_entry(run, started)])
            .await?;
        let reading = self.spawn_reader(input, ledger, shared.clone());
        let senders = spawn_senders(&shared, reading.batches, self.config.in_flight, client);
        let sent = join_senders(senders, &shared).await;
        let read = tokio::task::spawn_blocking(move || reading.thread.join())
            .await
            .map_err(|e| Error::Task {
                detail: e.to_string(),
            })?
            .map_err(|_| Error::Task {
                detail: "the reader thread panicked".to_owned(),
            });
        let end = read.and_then(|read| shared.end(read, sent));
        // The stop asked of this run has taken effect: calling `push` again resumes afresh.
        self.stop.reset();
        let end = end?;
        let finished = self.clock.now();
        let interrupted = !matches!(end, PushEnd::Finished { .. });
        shared
            .journal
            .append_now(vec![end_entry(run, finished, interrupted)])
            .await?;
        let batches = *lock(&shared.counts);
        Ok(Pushed {
            batches,
            end,
            elapsed: std::time::Duration::from_millis(
                u64::try_from(finished.as_i64() - started.as_i64()).unwrap_or(0),
            ),
        })
    }

    fn start_entry(&self, run: u32, at: EpochMillis) -> Entry {
        Entry::Start {
            version: JOURNAL_VERSION,
            run,
            fingerprint: self.config.fingerprint.clone(),
            input: self.config.input_name.clone(),
            at: at.as_i64(),
            options: Some(self.config.options.clone()),
        }
    }

    fn spawn_reader<I>(&self, input: I, ledger: Ledger, shared: Arc<Run>) -> Reading
    where
        I: IntoIterator + Send + 'static,
        I::Item: IntoRow,
    {
        let (tx, rx) = mpsc::channel::<Vec<Queued>>(self.config.in_flight);
        let plan = ReadPlan {
            ledger,
            guarantee: self.config.guarantee,
            region: self.config.options.region,
            jobs: self.config.jobs,
        };
        let thread = std::thread::spawn(move || plan.read(input.into_iter(), &shared, tx));
        Reading {
            thread,
            batches: Arc::new(tokio::sync::Mutex::new(rx)),
        }
    }

    /// Polls the delivery of every accepted batch that has none yet, every [`crate::POLL_EVERY`],
    /// until each is settled or `timeout` passes, and journals what each answered.
    pub async fn poll_deliveries(
        &mut self,
        client: &tc_http::Client,
        timeout: std::time::Duration,
    ) -> Result<crate::delivery::Polled, Error> {
        crate::delivery::poll(&self.config.journal, &self.journal, client, timeout).await
    }

    /// Starts writing the report of this journal to `path` (CSV, or JSON Lines when it ends in
    /// `.jsonl`) while the push runs, so that little is left to write when it ends: call it
    /// before [`Pusher::push`], and [`crate::LiveReport::finish`] after. The report is the one
    /// [`Pusher::write_report`] would write then.
    ///
    /// # Errors
    ///
    /// [`Error::Report`] when the report's partial file cannot be created, or another push is
    /// writing the same report; [`Error::Journal`] when the journal cannot be read.
    pub fn start_report(&self, path: &Path) -> Result<crate::LiveReport, Error> {
        crate::LiveReport::start(
            self.journal.clone(),
            &self.config.journal,
            path,
            crate::ReportFormat::of_path(path),
        )
    }

    /// Writes the report of this journal: see [`crate::write_report`].
    pub fn write_report(&self, path: &Path, input_rows: u64) -> Result<crate::Tally, Error> {
        crate::report::write_report(&self.config.journal, path, input_rows)
    }
}

fn end_entry(run: u32, at: EpochMillis, interrupted: bool) -> Entry {
    Entry::End {
        run,
        at: at.as_i64(),
        interrupted,
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A valid row on its way to a batch.
struct Queued {
    row: u64,
    line: u64,
    record: CallRecord,
    stored_before: bool,
}

type Batches = Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Queued>>>>;

struct Reading {
    thread: std::thread::JoinHandle<Result<Option<u64>, Error>>,
    batches: Batches,
}

/// What one run of the push shares between its reader thread and its senders: the journal, the
/// clock, the observer, the turns, the counts and how the run is to stop.
struct Run {
    journal: Arc<SharedJournal>,
    clock: Arc<dyn Clock>,
    observer: Box<dyn Observer>,
    next_seq: AtomicU64,
    /// Batches reach the client in the order they were read: see [`Turns`].
    turns: Turns,
    counts: Mutex<BatchCounts>,
    stop: StopHandle,
    stopped: Mutex<Option<tc_http::Error>>,
    guarantee: Guarantee,
}

impl Run {
    fn stop_for(&self, error: &tc_http::Error) {
        let mut stopped = lock(&self.stopped);
        if stopped.is_none() {
            *stopped = Some(error.clone());
            self.stop.stop();
            self.observer.on_event(&Event::Stopping {
                reason: StopReason::EveryBatchWouldFail,
            });
        }
    }

    /// How the run ended, from what the reader and the senders report.
    fn end(
        &self,
        read: Result<Option<u64>, Error>,
        sent: Result<(), Error>,
    ) -> Result<PushEnd, Error> {
        sent?;
        let rows = read?;
        if let Some(error) = lock(&self.stopped).take() {
            return Ok(PushEnd::Stopped { error });
        }
        Ok(match rows {
            Some(input_rows) if !self.stop.is_stopped() => PushEnd::Finished { input_rows },
            _ => PushEnd::Interrupted,
        })
    }
}

struct ReadPlan {
    ledger: Ledger,
    guarantee: Guarantee,
    region: Option<tc_core::Region>,
    jobs: Jobs,
}

impl ReadPlan {
    /// Runs on its own thread: parsing is CPU work, and the bounded channel keeps memory flat by
    /// making this thread wait while the senders are at the rate limit. Validation runs on
    /// `jobs` more threads, and the rows come back in input order, so batches hold the same
    /// rows and the journal the same entries whatever the number of jobs.
    /// `Some(rows)` when it read the whole input.
    fn read(
        self,
        input: impl Iterator<Item = impl IntoRow>,
        shared: &Run,
        tx: mpsc::Sender<Vec<Queued>>,
    ) -> Result<Option<u64>, Error> {
        let mut rows = 0;
        let mut stopped = false;
        let unsettled = (1u64..)
            .zip(input)
            .map(|(position, item)| item.into_row(position))
            .take_while(|_| {
                stopped = shared.stop.is_stopped();
                !stopped
            })
            .inspect(|row| rows = rows.max(row.row))
            .filter(|row| !self.skips(row.row));
        let region = self.region;
        let validate = || {
            let mut memo = CallerMemo::new();
            move |row: crate::InputRow| {
                let mut validator = Validator::new(shared.clock.now());
                if let Some(region) = region {
                    validator = validator.with_default_region(region);
                }
                let checked = row
                    .record
                    .map_err(ValidationErrors::from)
                    .and_then(|raw| validator.validate_with_memo(&raw, &mut memo));
                (row.row, row.line, checked)
            }
        };
        let all_sent = map_ordered(unsettled, self.jobs, validate, |checked| {
            self.pack(checked, shared, &tx)
        })?;
        Ok((all_sent && !stopped).then_some(rows))
    }

    /// Settled rows are never touched again; under at-most-once, neither is a row that may be
    /// stored.
    fn skips(&self, row: u64) -> bool {
        self.ledger.settled.contains(row)
            || (self.guarantee == Guarantee::AtMostOnce
                && self.ledger.possibly_stored.contains(row))
    }

    /// Journals the rejected rows and packs the valid ones into full batches, in input order.
    /// `false` when the senders have gone.
    fn pack(
        &self,
        checked: impl Iterator<Item = Checked>,
        shared: &Run,
        tx: &mpsc::Sender<Vec<Queued>>,
    ) -> Result<bool, Error> {
        let mut planner = BatchPlanner::new();
        for (row, line, checked) in checked {
            if shared.stop.is_stopped() {
                return Ok(false);
            }
            if let Some(queued) = self.check(row, line, checked, shared)? {
                if let Some(batch) = planner.push(queued) {
                    if tx.blocking_send(batch).is_err() {
                        return Ok(false);
                    }
                }
            }
        }
        if let Some(batch) = planner.finish() {
            if tx.blocking_send(batch).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn check(
        &self,
        row: u64,
        line: u64,
        checked: Result<CallRecord, ValidationErrors>,
        shared: &Run,
    ) -> Result<Option<Queued>, Error> {
        let stored_before = self.ledger.possibly_stored.contains(row);
        match checked {
            Ok(record) => {
                shared.observer.on_event(&Event::Valid { row });
                Ok(Some(Queued {
                    row,
                    line,
                    record,
                    stored_before,
                }))
            }
            Err(problems) => {
                let entry = rejected(row, line, &problems, stored_before);
                shared
                    .journal
                    .append(std::slice::from_ref(&entry), Sync::Later)?;
                if let Entry::Rejected { code, .. } = entry {
                    shared
                        .observer
                        .on_event(&Event::Rejected { row, line, code });
                }
                Ok(None)
            }
        }
    }
}

/// A row's number, line and verdict, as a validation worker hands it back.
type Checked = (u64, u64, Result<CallRecord, ValidationErrors>);

fn spawn_senders(
    shared: &Arc<Run>,
    batches: Batches,
    in_flight: usize,
    client: &tc_http::Client,
) -> tokio::task::JoinSet<Result<(), Error>> {
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        senders.spawn(send_loop(batches.clone(), shared.clone(), client.clone()));
    }
    senders
}

async fn join_senders(
    mut senders: tokio::task::JoinSet<Result<(), Error>>,
    shared: &Run,
) -> Result<(), Error> {
    let mut first_error = None;
    while let Some(done) = senders.join_next().await {
        let result = done.map_err(|e| Error::Task {
            detail: e.to_string(),
        });
        if let Err(e) = result.and_then(|r| r) {
            shared.stop.stop();
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn send_loop(
    batches: Batches,
    shared: Arc<Run>,
    client: tc_http::Client,
) -> Result<(), Error> {
    loop {
        let (ready, turn) = {
            let mut receiver = batches.lock().await;
            let Some(queued) = receiver.recv().await else {
                return Ok(());
            };
            if shared.stop.is_stopped() {
                // Not journaled, so not settled: a resumed push sends these rows.
                return Ok(());
            }
            let ready = reject_expired(queued, &shared)?;
            if ready.is_empty() {
                continue;
            }
            // Numbered as read, so the turns follow the input.
            (ready, Turn::take(&shared))
        };
        let mut pending = send_batch(turn, ready, &shared, &client).await?;
        // A batch the rate limit held past a record's window comes back unsent: its rows are
        // checked against the clock again, and the open ones go out in a batch of their own.
        while !pending.is_empty() {
            let ready = reject_expired(pending, &shared)?;
            if ready.is_empty() {
                break;
            }
            pending = send_batch(Turn::take(&shared), ready, &shared, &client).await?;
        }
    }
}

/// The order batches reach the client in. Journal syncs run side by side, so a batch read
/// later can be durable first; when the rate limit has room for one request only, the earlier
/// rows must still go. Each batch waits for its turn (every earlier one has reached the client
/// and taken its place in a window, or given up), then passes it on.
struct Turns {
    next: tokio::sync::watch::Sender<u64>,
    /// Sequence numbers that passed before their turn came.
    passed: Mutex<std::collections::BTreeSet<u64>>,
}

impl Turns {
    fn starting_at(seq: u64) -> Turns {
        Turns {
            next: tokio::sync::watch::Sender::new(seq),
            passed: Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    async fn wait_for(&self, seq: u64) {
        let mut next = self.next.subscribe();
        // The sender lives in `Run`, as long as any batch waits.
        let _ = next.wait_for(|next| *next >= seq).await;
    }

    fn pass(&self, seq: u64) {
        let mut passed = lock(&self.passed);
        passed.insert(seq);
        self.next.send_modify(|next| {
            while passed.remove(next) {
                *next += 1;
            }
        });
    }
}

/// A batch's sequence number and its turn, passed on when dropped, whatever happened: a
/// sender that fails never holds up the others.
struct Turn<'a> {
    seq: u64,
    turns: &'a Turns,
}

impl Turn<'_> {
    fn take(shared: &Run) -> Turn<'_> {
        Turn {
            seq: shared.next_seq.fetch_add(1, Ordering::SeqCst),
            turns: &shared.turns,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.turns.pass(self.seq);
    }
}

/// Journals the rows whose window has closed as `window_expired`; returns the others.
fn reject_expired(queued: Vec<Queued>, shared: &Run) -> Result<Vec<Queued>, Error> {
    let (ready, expired) = split_expired(queued, shared.clock.now());
    shared.journal.append(&expired, Sync::Later)?;
    notify_expired(shared, &expired);
    Ok(ready)
}

fn notify_expired(shared: &Run, expired: &[Entry]) {
    for entry in expired {
        if let Entry::Rejected { row, line, .. } = entry {
            let (row, line) = (*row, *line);
            shared.observer.on_event(&Event::Expired { row, line });
        }
    }
}

/// Journals and sends one batch; returns its rows if the request could not leave before a
/// record's window closed (nothing of it was sent), else nothing.
async fn send_batch(
    turn: Turn<'_>,
    ready: Vec<Queued>,
    shared: &Arc<Run>,
    client: &tc_http::Client,
) -> Result<Vec<Queued>, Error> {
    let seq = turn.seq;
    let rows = ready.len();
    shared.journal.append_now(vec![intent(seq, &ready)]).await?;
    shared
        .observer
        .on_event(&Event::BatchJournaled { seq, rows });
    let batch =
        tc_core::Batch::new(ready.iter().map(|q| q.record.clone()).collect()).map_err(|e| {
            Error::Task {
                detail: format!("batch {seq}: {e}"),
            }
        })?;
    let stop = shared.stop.signal();
    let leaving = Arc::new(JournalLeaving::new(seq, shared));
    let call = Call {
        batch: &batch,
        stop: &stop,
        leaving: Arc::clone(&leaving) as Arc<dyn tc_http::Leaving>,
    };
    let sent = call_in_turn(turn, call, &ready, shared, client).await;
    if let Some(error) = leaving.failed() {
        // Its request never left: the journal's own failure ends the push.
        return Err(error);
    }
    let (outcome, attempts) = match sent {
        Ok(created) => (
            BatchOutcome::Accepted {
                batch_id: created.batch_id,
                possibly_duplicated: created.possibly_duplicated,
            },
            created.attempts,
        ),
        Err(error) => {
            let failure = error.failure();
            let outcome = BatchOutcome::of_failure(&failure, shared.guarantee);
            if let (BatchOutcome::Resumable { .. }, None) = (&outcome, failure.halt()) {
                // The request could not leave in time: the batch is sent again in this run.
                let entry = Entry::outcome(seq, &outcome, error.attempts());
                shared.journal.append_now(vec![entry]).await?;
                return resend_late(ready, &outcome, &error, shared);
            }
            // A call the stop itself ended is the stop's doing, not a failure every batch meets.
            if failure.halt().is_some() && !stop.is_stopped() {
                shared.stop_for(&error);
            }
            (outcome, error.attempts())
        }
    };
    record_answer(seq, rows, &outcome, attempts, shared).await?;
    Ok(Vec::new())
}

/// The batch's entry, journaled before its request may leave.
fn intent(seq: u64, ready: &[Queued]) -> Entry {
    Entry::Batch {
        seq,
        rows: ready.iter().map(|q| q.row).collect(),
        lines: ready.iter().map(|q| q.line).collect(),
        receivers: ready
            .iter()
            .map(|q| q.record.receiver_number().to_string())
            .collect(),
        stored_before: ready
            .iter()
            .filter(|q| q.stored_before)
            .map(|q| q.row)
            .collect(),
        marks_leaving: true,
    }
}

/// Writes a batch's [`Entry::Leaving`] down, synced, the moment before its request leaves:
/// a batch journaled and never marked so never left, and a resume sends it whatever the
/// guarantee.
struct JournalLeaving {
    seq: u64,
    run: Arc<Run>,
    failed: Mutex<Option<Error>>,
}

impl JournalLeaving {
    fn new(seq: u64, run: &Arc<Run>) -> JournalLeaving {
        JournalLeaving {
            seq,
            run: Arc::clone(run),
            failed: Mutex::new(None),
        }
    }

    /// The journal's error, if writing the mark failed (and so the request did not leave).
    fn failed(&self) -> Option<Error> {
        lock(&self.failed).take()
    }
}

impl tc_http::Leaving for JournalLeaving {
    fn about_to_leave(&self) -> tc_http::LeavingFuture<'_> {
        Box::pin(async move {
            let seq = self.seq;
            match self
                .run
                .journal
                .append_now(vec![Entry::Leaving { seq }])
                .await
            {
                Ok(()) => {
                    self.run.observer.on_event(&Event::BatchLeaving { seq });
                    tc_http::Departure::Go
                }
                Err(error) => {
                    *lock(&self.failed) = Some(error);
                    tc_http::Departure::Cancel
                }
            }
        })
    }
}

/// One batch's create call, as [`call_in_turn`] makes it.
struct Call<'a> {
    batch: &'a tc_core::Batch,
    stop: &'a tc_http::StopSignal,
    leaving: Arc<dyn tc_http::Leaving>,
}

/// Sends the batch once its turn comes, and gives the turn up as soon as the call holds its
/// place in a window (or its place in the line for a token): from then on the next batch may
/// go.
async fn call_in_turn(
    turn: Turn<'_>,
    call: Call<'_>,
    ready: &[Queued],
    shared: &Run,
    client: &tc_http::Client,
) -> Result<tc_http::Created, tc_http::Error> {
    shared.turns.wait_for(turn.seq).await;
    let deadline = send_within(ready.iter().map(|q| &q.record), shared.clock.now());
    let options = tc_http::CreateOptions::new()
        .send_by(deadline)
        .stop(call.stop)
        .on_leaving(call.leaving);
    let call = client.create_call_records_with(call.batch, options);
    tokio::pin!(call);
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(call.as_mut(), cx))
    })
    .await;
    drop(turn);
    match first {
        std::task::Poll::Ready(sent) => sent,
        std::task::Poll::Pending => call.await,
    }
}

/// Journals a batch's answer and counts it.
async fn record_answer(
    seq: u64,
    rows: usize,
    outcome: &BatchOutcome,
    attempts: u32,
    shared: &Run,
) -> Result<(), Error> {
    let status = OutcomeStatus::of(outcome);
    shared
        .journal
        .append_now(vec![Entry::outcome(seq, outcome, attempts)])
        .await?;
    {
        let mut counts = lock(&shared.counts);
        match status {
            OutcomeStatus::Accepted => counts.accepted += 1,
            OutcomeStatus::Failed => counts.failed += 1,
            OutcomeStatus::Unknown => counts.unknown += 1,
        }
    }
    shared
        .observer
        .on_event(&Event::BatchAnswered { seq, rows, status });
    Ok(())
}

/// The rows of a batch whose request could not leave before a record's window closed: those
/// whose window closes before it could leave are rejected `window_expired` (the earliest one
/// at least, whatever the two clocks say, so trying again always ends), the others go back to
/// be sent again.
fn resend_late(
    ready: Vec<Queued>,
    outcome: &BatchOutcome,
    error: &tc_http::Error,
    shared: &Run,
) -> Result<Vec<Queued>, Error> {
    let wait = match error {
        tc_http::Error::SendByPassed { wait, .. } => *wait,
        _ => std::time::Duration::ZERO,
    };
    let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    let earliest = ready.iter().map(|q| q.record.ends_at()).min();
    let leaves_at = earliest.map_or(EpochMillis::MAX, |e| e.plus(1));
    let leaves_at = leaves_at.max(shared.clock.now().plus(wait));
    let stored = outcome.may_be_stored();
    let ready = ready.into_iter().map(|q| Queued {
        stored_before: q.stored_before || stored,
        ..q
    });
    let (open, late) = split_expired(ready.collect(), leaves_at);
    shared.journal.append(&late, Sync::Later)?;
    notify_expired(shared, &late);
    Ok(open)
}

/// One journal line for a rejected row: the first problem's field and code, every message.
fn rejected(row: u64, line: u64, problems: &[Diagnostic], stored_before: bool) -> Entry {
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
        field: first.and_then(|d| d.field),
        code: first.map_or(tc_core::Code::RecordUnreadable, |d| d.code),
        message,
        stored_before,
    }
}

/// A record valid when read may have expired while it waited for the rate limit: those go to
/// the report as rejected, with the code `window_expired`, and are not sent.
fn split_expired(queued: Vec<Queued>, now: EpochMillis) -> (Vec<Queued>, Vec<Entry>) {
    let mut expired = Vec::new();
    let mut ready = Vec::with_capacity(queued.len());
    for q in queued {
        match q.record.check_still_open(now) {
            Ok(()) => ready.push(q),
            Err(problem) => expired.push(rejected(q.row, q.line, &[problem], q.stored_before)),
        }
    }
    (ready, expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::ReportCode;
    use tc_core::RawRecord;

    fn queued(row: u64, ends_at: i64) -> Queued {
        let raw = RawRecord::from_text_fields([
            ("caller_number", "+919876543210"),
            ("receiver_number", "+919876543211"),
            ("dynamic_label_name", "Centro Bank"),
            ("starts_at", "1900000000000"),
            ("ends_at", &ends_at.to_string()),
        ]);
        let record = Validator::new(EpochMillis::try_from(1_900_000_000_000).unwrap())
            .validate(&raw)
            .unwrap();
        Queued {
            row,
            line: row + 1,
            record,
            stored_before: false,
        }
    }

    #[test]
    fn records_that_expired_while_queued_are_rejected_not_sent() {
        let end = 1_900_000_060_000;
        let batch = vec![queued(1, end), queued(2, end + 1), queued(3, end - 1)];
        let (ready, expired) = split_expired(batch, EpochMillis::try_from(end).unwrap());
        assert_eq!(
            ready.iter().map(|q| q.row).collect::<Vec<_>>(),
            [1, 2],
            "ends_at == now is still open"
        );
        let [Entry::Rejected { row, code, .. }] = expired.as_slice() else {
            panic!("{expired:?}")
        };
        assert_eq!((*row, *code), (3, tc_core::Code::WindowExpired));
    }

    #[test]
    fn a_redirect_stops_the_push_and_leaves_its_rows_resumable() {
        let error = tc_http::Error::Redirected {
            endpoint: "create call records",
            status: 307,
            location: "http://127.0.0.1:9/collect".into(),
            attempts: 1,
        };
        assert!(error.failure().halt().is_some());
        let Entry::Outcome {
            status, retryable, ..
        } = failed_entry(&error, Guarantee::AtLeastOnce)
        else {
            panic!("an outcome")
        };
        assert_eq!((status, retryable), (OutcomeStatus::Failed, true));
    }

    #[test]
    fn an_unreadable_success_is_reported_outcome_unknown_not_http_200() {
        let error = tc_http::Error::InvalidResponse {
            endpoint: "create call records",
            status: 200,
            detail: "not the documented JSON".into(),
            attempts: 1,
            possibly_stored: true,
            cause: None,
        };
        let Entry::Outcome {
            status,
            code,
            possibly_stored,
            retryable,
            ..
        } = failed_entry(&error, Guarantee::AtLeastOnce)
        else {
            panic!("an outcome")
        };
        assert_eq!(status, OutcomeStatus::Unknown);
        assert_eq!(code, Some(ReportCode::OutcomeUnknown));
        assert!(
            possibly_stored,
            "a 200 was processed: the rows may be stored"
        );
        assert!(
            !retryable,
            "sent again, a processed batch would be stored twice"
        );
    }

    #[test]
    fn an_answer_with_an_empty_slug_is_reported_by_its_status() {
        // The relay always said `http_NNN` here and the push wrote an empty code: one rule now.
        let error = tc_http::Error::Final {
            endpoint: "create call records",
            status: 422,
            slug: String::new(),
            message: "unprocessable".into(),
            attempts: 1,
        };
        let Entry::Outcome { status, code, .. } = failed_entry(&error, Guarantee::AtLeastOnce)
        else {
            panic!("an outcome")
        };
        assert_eq!(status, OutcomeStatus::Failed);
        assert_eq!(code, Some(ReportCode::Http(422)));
    }

    fn failed_entry(error: &tc_http::Error, guarantee: Guarantee) -> Entry {
        let outcome = BatchOutcome::of_failure(&error.failure(), guarantee);
        Entry::outcome(7, &outcome, error.attempts())
    }
}

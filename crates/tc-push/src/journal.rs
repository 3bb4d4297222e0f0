//! The journal: an append-only JSON Lines file that records the fate of every row, so a push
//! killed at any moment can be resumed without losing a record or re-sending an acknowledged one.
//!
//! A batch is written down ([`Entry::Batch`]) and synced to disk *before* its request leaves,
//! and its outcome ([`Entry::Outcome`]) after the answer. The writer holds an exclusive lock on
//! the file for as long as it lives; the operating system releases it when the process dies.

use crate::codes::{OutcomeStatus, ReportCode};
use crate::error::Error;
use crate::options::{Fingerprint, SendOptions};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tc_core::wire::DeliveryStatus;
use tc_core::{Code, Field};
use tc_engine::BatchOutcome;

/// The journal format this engine writes. It reads every version up to this one: version 2
/// added [`Entry::Leaving`], which version 1 engines cannot read.
pub const JOURNAL_VERSION: u32 = 2;

/// Whether this engine reads journals of `version`.
pub(crate) fn readable_version(version: u32) -> bool {
    (1..=JOURNAL_VERSION).contains(&version)
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Entry {
    /// First line of every run. A resumed run checks `fingerprint` and `options` against its own.
    Start {
        version: u32,
        run: u32,
        fingerprint: Fingerprint,
        input: String,
        at: i64,
        /// Absent in journals written before options were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<SendOptions>,
    },
    /// A row that will not be sent, with the first problem's field and code, and every message.
    Rejected {
        row: u64,
        line: u64,
        field: Option<Field>,
        code: Code,
        message: String,
        /// An earlier attempt may have stored the row.
        #[serde(default, alias = "maybe_sent", skip_serializing_if = "is_false")]
        stored_before: bool,
    },
    /// A batch about to be sent.
    Batch {
        seq: u64,
        rows: Vec<u64>,
        lines: Vec<u64>,
        receivers: Vec<String>,
        /// Rows an earlier attempt may have stored.
        #[serde(default, alias = "maybe_sent", skip_serializing_if = "Vec::is_empty")]
        stored_before: Vec<u64>,
        /// A [`Entry::Leaving`] is written before its request leaves: without one, it never
        /// left. (Journals of earlier releases wrote none: their batches may have left as soon
        /// as they were written down.)
        #[serde(default, skip_serializing_if = "is_false")]
        marks_leaving: bool,
    },
    /// The batch's request is about to leave, with nothing left to wait for: from here on it
    /// may be stored. Synced before the request leaves.
    Leaving { seq: u64 },
    /// What became of a batch.
    Outcome {
        seq: u64,
        status: OutcomeStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_id: Option<tc_core::BatchId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<ReportCode>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        attempts: u32,
        /// Accepted, but an attempt's answer was lost and the batch was sent again.
        #[serde(default, skip_serializing_if = "is_false")]
        possibly_duplicated: bool,
        /// Not accepted, but an attempt may have been stored all the same. (Journals written
        /// before the glossary settled on "possibly stored" call it `maybe_stored`.)
        #[serde(default, alias = "maybe_stored", skip_serializing_if = "is_false")]
        possibly_stored: bool,
        /// Sending again later may succeed: a resumed push sends these rows again.
        #[serde(default, skip_serializing_if = "is_false")]
        retryable: bool,
    },
    /// Per-record delivery results of an accepted batch, from the status endpoint.
    Delivery { seq: u64, records: Vec<DeliveryRow> },
    /// Last line of a run that finished or was interrupted cleanly.
    End {
        run: u32,
        at: i64,
        interrupted: bool,
    },
}

impl Entry {
    /// The journal's entry for a batch's outcome (`tc-engine` decided it), in the words of the
    /// journal's first format: a status, and whether the batch may be stored and is resumable.
    /// [`Entry::batch_outcome`] reads it back.
    pub fn outcome(seq: u64, outcome: &BatchOutcome, attempts: u32) -> Entry {
        let (batch_id, possibly_duplicated) = match outcome {
            BatchOutcome::Accepted {
                batch_id,
                possibly_duplicated,
            } => (Some(batch_id.clone()), *possibly_duplicated),
            _ => (None, false),
        };
        let accepted = matches!(outcome, BatchOutcome::Accepted { .. });
        Entry::Outcome {
            seq,
            status: OutcomeStatus::of(outcome),
            batch_id,
            code: outcome.code(),
            message: outcome.message().map(str::to_owned),
            attempts,
            possibly_duplicated,
            possibly_stored: outcome.may_be_stored() && !accepted,
            retryable: matches!(outcome, BatchOutcome::Resumable { .. }),
        }
    }

    /// The batch and its outcome, for an outcome entry: what [`Entry::outcome`] wrote, and what
    /// journals of earlier releases wrote in the same words.
    pub fn batch_outcome(self) -> Option<(u64, BatchOutcome)> {
        let Entry::Outcome {
            seq,
            status,
            batch_id,
            code,
            message,
            possibly_duplicated,
            possibly_stored,
            retryable,
            ..
        } = self
        else {
            return None;
        };
        let message = message.unwrap_or_default();
        let possibly_stored = possibly_stored || status == OutcomeStatus::Unknown;
        let code = || code.clone().unwrap_or(ReportCode::NotSent);
        let outcome = match (status, batch_id) {
            (OutcomeStatus::Accepted, Some(batch_id)) => BatchOutcome::Accepted {
                batch_id,
                possibly_duplicated,
            },
            _ if retryable => BatchOutcome::Resumable {
                code: code(),
                message,
                possibly_stored,
            },
            _ if possibly_stored => BatchOutcome::Unknown { message },
            _ => BatchOutcome::Refused {
                code: code(),
                message,
            },
        };
        Some((seq, outcome))
    }
}

/// One record's delivery in an [`Entry::Delivery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub row: u64,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Reads one journal line. The entries are internally tagged, which serde reads by first
/// buffering every value of the line; for a batch's three arrays of 500 values that took most
/// of the time a million-row report spent. The tag is always written first, so a batch or
/// delivery line is read straight into its fields (the tag is then an unknown field, ignored),
/// and every other line the derived way.
pub(crate) fn parse_entry(line: &str) -> serde_json::Result<Entry> {
    if line.starts_with(r#"{"t":"batch","#) {
        let BatchFields {
            seq,
            rows,
            lines,
            receivers,
            stored_before,
            marks_leaving,
        } = serde_json::from_str(line)?;
        return Ok(Entry::Batch {
            seq,
            rows,
            lines,
            receivers,
            stored_before,
            marks_leaving,
        });
    }
    if line.starts_with(r#"{"t":"delivery","#) {
        let DeliveryFields { seq, records } = serde_json::from_str(line)?;
        return Ok(Entry::Delivery { seq, records });
    }
    serde_json::from_str(line)
}

/// [`Entry::Batch`]'s fields, with the same names and defaults.
#[derive(Deserialize)]
struct BatchFields {
    seq: u64,
    rows: Vec<u64>,
    lines: Vec<u64>,
    receivers: Vec<String>,
    #[serde(default, alias = "maybe_sent")]
    stored_before: Vec<u64>,
    #[serde(default)]
    marks_leaving: bool,
}

/// [`Entry::Delivery`]'s fields.
#[derive(Deserialize)]
struct DeliveryFields {
    seq: u64,
    records: Vec<DeliveryRow>,
}

/// Syncs a journal's flushed lines to disk (see [`JournalWriter::sync_handle`]).
#[derive(Debug)]
struct JournalSync {
    file: File,
    path: PathBuf,
}

impl JournalSync {
    /// Everything flushed before this call is on disk when it returns.
    fn sync(&self) -> Result<(), Error> {
        self.file
            .sync_data()
            .map_err(|e| Error::journal(&self.path, e))
    }
}

/// Whether an append must be on disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sync {
    Now,
    Later,
}

/// A journal written by several tasks at once (a push's reader and senders, its delivery
/// polling). Appends take a lock; the disk is waited for outside it, and one sync covers every
/// append flushed before it began, so writers that need durability at the same time share one
/// (group commit) while others go on appending.
#[derive(Debug)]
pub(crate) struct SharedJournal {
    writer: Mutex<JournalWriter>,
    /// Appends flushed so far, and how many of them are on disk.
    flushed: AtomicU64,
    synced: Mutex<u64>,
    syncer: JournalSync,
    /// Counts the flushes, for readers that follow the file as it grows.
    growth: Mutex<u64>,
    grew: Condvar,
}

impl SharedJournal {
    pub(crate) fn new(writer: JournalWriter) -> Result<SharedJournal, Error> {
        let syncer = writer.sync_handle()?;
        Ok(SharedJournal {
            writer: Mutex::new(writer),
            flushed: AtomicU64::new(0),
            synced: Mutex::new(0),
            syncer,
            growth: Mutex::new(0),
            grew: Condvar::new(),
        })
    }

    /// Appends `entries`; with [`Sync::Now`], returns once they are on disk. It blocks: async
    /// code calls [`SharedJournal::append_now`].
    pub(crate) fn append(&self, entries: &[Entry], sync: Sync) -> Result<(), Error> {
        let flushed = {
            let mut writer = crate::push::lock(&self.writer);
            for entry in entries {
                writer.write(entry)?;
            }
            if sync == Sync::Later {
                return Ok(());
            }
            writer.flush()?;
            // Counted under the writer's lock, so the count's order is the file's order.
            self.flushed.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.wake_followers();
        let mut synced = crate::push::lock(&self.synced);
        if *synced >= flushed {
            return Ok(());
        }
        let covered = self.flushed.load(Ordering::SeqCst);
        self.syncer.sync()?;
        *synced = covered;
        Ok(())
    }

    /// [`SharedJournal::append`] with [`Sync::Now`], on tokio's blocking threads: a sync takes
    /// milliseconds, and on the runtime's own threads it would hold up the answers and timers
    /// of every other request (the answer's time places a request in its window, so a late
    /// answer costs a push throughput).
    pub(crate) async fn append_now(self: &Arc<Self>, entries: Vec<Entry>) -> Result<(), Error> {
        let journal = Arc::clone(self);
        tokio::task::spawn_blocking(move || journal.append(&entries, Sync::Now))
            .await
            .map_err(|e| Error::Task {
                detail: format!("writing the journal: {e}"),
            })?
    }

    /// How many times the file has grown (or followers were woken) so far.
    pub(crate) fn growth(&self) -> u64 {
        *crate::push::lock(&self.growth)
    }

    /// Waits until the file has grown past `seen` (a [`SharedJournal::growth`]), or
    /// [`SharedJournal::wake_followers`] is called.
    pub(crate) fn wait_to_grow(&self, seen: u64) {
        let mut growth = crate::push::lock(&self.growth);
        while *growth == seen {
            growth = self.grew.wait(growth).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes every reader waiting in [`SharedJournal::wait_to_grow`].
    pub(crate) fn wake_followers(&self) {
        *crate::push::lock(&self.growth) += 1;
        self.grew.notify_all();
    }

    /// Appends flushed and synced so far: for tests of the group commit.
    #[cfg(test)]
    pub(crate) fn synced(&self) -> u64 {
        *crate::push::lock(&self.synced)
    }
}

/// Appends entries, holding the journal's lock. [`JournalWriter::sync`] makes them durable.
#[derive(Debug)]
pub struct JournalWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl JournalWriter {
    /// Creates a new journal; refuses to overwrite one (that would forget what was sent).
    pub fn create(path: &Path) -> Result<JournalWriter, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::JournalExists {
                    path: path.to_owned(),
                },
                _ => Error::journal(path, e),
            })?;
        lock(&file, path)?;
        Ok(JournalWriter {
            out: BufWriter::new(file),
            path: path.to_owned(),
        })
    }

    /// Opens an existing journal to append to it. Check it is one (see [`check_start`]) before
    /// [`JournalWriter::end_torn_line`] and the first write: nothing is changed until then.
    pub fn append(path: &Path) -> Result<JournalWriter, Error> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::journal(path, e))?;
        lock(&file, path)?;
        Ok(JournalWriter {
            out: BufWriter::new(file),
            path: path.to_owned(),
        })
    }

    /// Buffers one entry; it reaches the disk at the next [`JournalWriter::sync`].
    pub fn write(&mut self, entry: &Entry) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, entry)
            .map_err(std::io::Error::other)
            .and_then(|()| self.out.write_all(b"\n"))
            .map_err(|e| Error::journal(&self.path, e))
    }

    /// Hands everything written so far to the operating system, without waiting for the disk:
    /// a [`JournalSync`] made earlier then makes it durable.
    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| Error::journal(&self.path, e))
    }

    /// A handle that syncs this journal to disk while others go on appending to it.
    fn sync_handle(&self) -> Result<JournalSync, Error> {
        let file = self
            .out
            .get_ref()
            .try_clone()
            .map_err(|e| Error::journal(&self.path, e))?;
        Ok(JournalSync {
            file,
            path: self.path.clone(),
        })
    }

    /// Everything written so far is on disk when this returns.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_data())
            .map_err(|e| Error::journal(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A run killed mid-line leaves a torn last line: start the next entry on a fresh one.
    pub fn end_torn_line(&mut self) -> Result<(), Error> {
        self.sync()?;
        end_torn_line(self.out.get_mut()).map_err(|e| Error::journal(&self.path, e))
    }
}

/// Deletes the journal at `path`, unless a push holds it: a journal in use is never pulled
/// from under its push. Nothing to do when there is none.
///
/// # Errors
/// [`Error::JournalLocked`] while a push holds it; [`Error::Journal`] when it cannot be opened
/// or removed.
pub fn remove_unused(path: &Path) -> Result<(), Error> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::journal(path, e)),
    };
    // Held while the file is removed, so no push can take it in between.
    lock(&file, path)?;
    std::fs::remove_file(path).map_err(|e| Error::journal(path, e))
}

/// An exclusive advisory lock for the life of the file handle: a second push on the same
/// journal is refused instead of interleaving its batches with ours.
fn lock(file: &File, path: &Path) -> Result<(), Error> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::JournalLocked {
            path: path.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::journal(path, e)),
    }
}

/// Ends the file with a line break if it does not.
fn end_torn_line(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Where an entry stands in the journal: its line, for messages, and the byte offset of its
/// start, for reading it again with [`read_entry_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub offset: u64,
}

/// Whether more may still be written to a journal being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// A push is writing it: a line without its line break is still being written, and waits.
    Growing,
    /// Nothing more will be written: what follows the last line break is a last line (the torn
    /// line a killed push leaves).
    Final,
}

/// A journal's lines with their positions (the first line is line 1), read in chunks. Read to
/// the end of what is written, it can be read again later for what was written since: a
/// [`crate::LiveReport`] follows a push's journal that way, and [`read_entries`] reads it once.
#[derive(Debug)]
pub(crate) struct JournalLines {
    file: File,
    path: PathBuf,
    /// Bytes read and not handed on yet start at `start`.
    buf: Vec<u8>,
    start: usize,
    /// The position of the next line.
    next: Position,
}

impl JournalLines {
    const CHUNK_BYTES: usize = 64 * 1024;

    pub(crate) fn open(path: &Path) -> Result<JournalLines, Error> {
        let file = File::open(path).map_err(|e| Error::journal(path, e))?;
        Ok(JournalLines {
            file,
            path: path.to_owned(),
            buf: Vec::with_capacity(Self::CHUNK_BYTES),
            start: 0,
            next: Position { line: 1, offset: 0 },
        })
    }

    /// The next line, its line break trimmed; `None` at the end of what is written.
    pub(crate) fn next_line(&mut self, end: LineEnd) -> Result<Option<(Position, &str)>, Error> {
        loop {
            if let Some(at) = memchr::memchr(b'\n', &self.buf[self.start..]) {
                return self.hand_on(at + 1).map(Some);
            }
            self.buf.drain(..self.start);
            self.start = 0;
            if self.read_more()? == 0 {
                return match end {
                    LineEnd::Final if !self.buf.is_empty() => {
                        self.hand_on(self.buf.len()).map(Some)
                    }
                    _ => Ok(None),
                };
            }
        }
    }

    /// Appends what the file holds next to `buf`, a chunk at most; how many bytes (0 at its end).
    fn read_more(&mut self) -> Result<usize, Error> {
        (&mut self.file)
            .take(Self::CHUNK_BYTES as u64)
            .read_to_end(&mut self.buf)
            .map_err(|e| Error::journal(&self.path, e))
    }

    /// Hands on the next `len` bytes as a line.
    fn hand_on(&mut self, len: usize) -> Result<(Position, &str), Error> {
        let here = self.next;
        self.next.line += 1;
        self.next.offset += len as u64;
        let bytes = &self.buf[self.start..self.start + len];
        self.start += len;
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::journal(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok((here, text.trim_end_matches(['\n', '\r'])))
    }
}

/// Reads a journal entry by entry. A torn line (the process died mid-write) is skipped when it
/// is the last line or the last line of a run: what it would have recorded was never synced, so
/// nothing depended on it. A damaged line anywhere else is an error.
pub fn read_entries(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(Position, Entry), Error>>, Error> {
    let mut lines = JournalLines::open(path)?;
    let mut judge = LineJudge::new(path);
    Ok(std::iter::from_fn(move || loop {
        let (at, line) = match lines.next_line(LineEnd::Final) {
            Ok(line) => line?,
            Err(e) => return Some(Err(e)),
        };
        match judge.entry(at, line) {
            Ok(Some(entry)) => return Some(Ok((at, entry))),
            Ok(None) => continue,
            Err(e) => return Some(Err(e)),
        }
    }))
}

/// Turns journal lines, in order, into entries, deciding whether a line that cannot be read is
/// torn (skipped) or damaged (an error): the one place [`read_entries`] and a reader that
/// follows a growing journal decide it. An unreadable line is torn when nothing follows it
/// or the next line starts a run; the line after it decides, so it is judged then.
#[derive(Debug)]
pub(crate) struct LineJudge {
    path: PathBuf,
    /// An unreadable line waiting for the next one: where it is, and the parser's words.
    unreadable: Option<(Position, String)>,
}

impl LineJudge {
    pub(crate) fn new(path: &Path) -> LineJudge {
        LineJudge {
            path: path.to_owned(),
            unreadable: None,
        }
    }

    /// The entry on `line` (none for a blank or unreadable one), once the unreadable line
    /// before it, if any, is judged torn.
    pub(crate) fn entry(&mut self, at: Position, line: &str) -> Result<Option<Entry>, Error> {
        if let Some((unreadable, detail)) = self.unreadable.take() {
            if !matches!(parse_entry(line), Ok(Entry::Start { .. })) {
                return Err(Error::JournalDamaged {
                    path: self.path.clone(),
                    line: unreadable.line,
                    detail,
                });
            }
        }
        if line.trim().is_empty() {
            return Ok(None);
        }
        match parse_entry(line) {
            Ok(entry) => Ok(Some(entry)),
            Err(e) => {
                self.unreadable = Some((at, e.to_string()));
                Ok(None)
            }
        }
    }
}

/// Reads the entry that starts at `offset` (a [`Position::offset`] from [`read_entries`]).
pub fn read_entry_at(journal: &mut BufReader<File>, offset: u64) -> std::io::Result<Entry> {
    journal.seek(SeekFrom::Start(offset))?;
    let mut line = String::new();
    journal.read_line(&mut line)?;
    parse_entry(&line).map_err(std::io::Error::other)
}

/// Checks that a journal belongs to this input and these options before it is resumed: its
/// first start entry must exist, be of this version and carry this fingerprint; the options the
/// latest run recorded must be these, except that where the rows go may change while nothing of
/// the push can be stored (see [`SendOptions::refused_changes`]).
pub fn check_start(
    path: &Path,
    fingerprint: &Fingerprint,
    options: &SendOptions,
) -> Result<(), Error> {
    let mut first = None;
    let mut latest_options = None;
    for entry in read_entries(path)? {
        if let Entry::Start {
            version,
            fingerprint,
            input,
            options,
            ..
        } = entry?.1
        {
            first.get_or_insert((version, fingerprint, input));
            latest_options = options.or(latest_options);
        }
    }
    let Some((version, theirs, input)) = first else {
        return Err(Error::JournalNotStarted {
            path: path.to_owned(),
        });
    };
    if !readable_version(version) {
        return Err(Error::JournalVersion {
            path: path.to_owned(),
            version,
        });
    }
    if &theirs != fingerprint {
        return Err(Error::OtherInput {
            path: path.to_owned(),
            input,
        });
    }
    let Some(journaled) = latest_options else {
        return Ok(());
    };
    if options.differences(&journaled).is_empty() {
        return Ok(());
    }
    let stored = crate::Ledger::load(path)?.stored_so_far();
    let differences = options.refused_changes(&journaled, stored);
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::OtherOptions {
        path: path.to_owned(),
        differences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derived(line: &str) -> Entry {
        serde_json::from_str(line).expect("the derived reader takes the line")
    }

    #[test]
    fn batch_and_delivery_lines_read_the_same_as_the_derived_reader() {
        let lines = [
            r#"{"t":"batch","seq":3,"rows":[1,2],"lines":[2,3],"receivers":["+919876543210","+447700900123"]}"#,
            r#"{"t":"batch","seq":4,"rows":[5],"lines":[6],"receivers":["+919876543210"],"stored_before":[5]}"#,
            // Journals written before the glossary settled say `maybe_sent`.
            r#"{"t":"batch","seq":4,"rows":[5],"lines":[6],"receivers":["+919876543210"],"maybe_sent":[5]}"#,
            r#"{"t":"delivery","seq":3,"records":[{"row":1,"status":"success"},{"row":2,"status":"not_truecaller_user","message":"no app"}]}"#,
            r#"{"t":"batch","seq":5,"rows":[6],"lines":[7],"receivers":["+919876543210"],"marks_leaving":true}"#,
            r#"{"t":"leaving","seq":5}"#,
            r#"{"t":"outcome","seq":3,"status":"accepted","attempts":1}"#,
        ];
        for line in lines {
            assert_eq!(parse_entry(line).unwrap(), derived(line), "{line}");
        }
        let written = Entry::Batch {
            seq: 9,
            rows: vec![7, 8],
            lines: vec![8, 10],
            receivers: vec!["+919876543210".into(), "+12025550143".into()],
            stored_before: vec![8],
            marks_leaving: true,
        };
        let line = serde_json::to_string(&written).unwrap();
        assert!(line.starts_with(r#"{"t":"batch","#), "{line}");
        assert_eq!(parse_entry(&line).unwrap(), written);
    }

    #[test]
    fn a_damaged_batch_line_is_still_an_error() {
        for line in [
            r#"{"t":"batch","seq":3,"rows":[1,2],"lines":[2,3],"receivers":["+91"#,
            r#"{"t":"batch","seq":3,"rows":[1,2],"lines":[2,3]}"#,
            r#"{"t":"delivery","seq":3}"#,
        ] {
            assert!(parse_entry(line).is_err(), "{line}");
        }
    }

    #[test]
    fn a_line_with_its_tag_elsewhere_is_read_the_derived_way() {
        let line = r#"{"seq":3,"t":"batch","rows":[1],"lines":[2],"receivers":["+919876543210"]}"#;
        assert_eq!(parse_entry(line).unwrap(), derived(line));
    }

    /// Group commit must never let a writer return before its own entry is in the file, whether
    /// it synced or found another writer's sync covering it.
    #[test]
    fn every_durable_append_is_in_the_journal_when_it_returns_however_many_append_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("push.journal");
        let journal = SharedJournal::new(JournalWriter::create(&path).unwrap()).unwrap();
        std::thread::scope(|scope| {
            for writer in 0..8u64 {
                let (journal, path) = (&journal, path.clone());
                scope.spawn(move || {
                    for n in 0..25 {
                        let seq = writer * 1000 + n;
                        let entry = Entry::Delivery {
                            seq,
                            records: Vec::new(),
                        };
                        journal.append(&[entry], Sync::Now).unwrap();
                        let text = std::fs::read_to_string(&path).unwrap();
                        assert!(
                            text.contains(&format!(r#""seq":{seq},"#)),
                            "entry {seq} not in the journal when its durable append returned"
                        );
                    }
                });
            }
        });
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 200);
        assert_eq!(journal.synced(), 200, "the last sync covered every append");
    }
}

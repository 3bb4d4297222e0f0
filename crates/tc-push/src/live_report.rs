//! The report written while the push runs. A push at the rate limit spends most of its time
//! waiting for its next window; a million-row report written after the last answer added most
//! of a second to the push. A [`LiveReport`] follows the journal as it grows, through the same
//! fold and the same rows as [`crate::write_report`], and writes each row as soon as nothing
//! can change it any more: when the push ends, only the rows of its last answers are left.

use crate::error::Error;
use crate::journal::{Entry, JournalLines, LineEnd, LineJudge, Position, SharedJournal};
use crate::ledger::Fold;
use crate::report::{report_dir, report_row, write_report_as, ReportFormat, Sink, Tally};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A report being written while its push runs: made by [`crate::Pusher::start_report`],
/// completed by [`LiveReport::finish`] once the push has ended.
///
/// Its rows go to a file named after the report with a leading dot and a `.partial` suffix, in
/// the report's directory, locked while it is written and renamed over the report when
/// complete; a process killed meanwhile leaves that file, which the next push to the same
/// report takes over. Dropped unfinished, it removes the file.
///
/// The report is the one [`crate::write_report`] would write from the journal when
/// [`LiveReport::finish`] is called, byte for byte. A row is written once its last word is
/// final (rejected, or answered for good); should the journal then say more about a written
/// row (delivery results from [`crate::Pusher::poll_deliveries`]), `finish` writes the whole
/// report again from the journal.
pub struct LiveReport {
    journal: Arc<SharedJournal>,
    finishing: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<Follower, Error>>>,
}

impl std::fmt::Debug for LiveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveReport").finish_non_exhaustive()
    }
}

impl LiveReport {
    pub(crate) fn start(
        journal: Arc<SharedJournal>,
        journal_path: &Path,
        path: &Path,
        format: ReportFormat,
    ) -> Result<LiveReport, Error> {
        let follower = Follower::open(journal_path, path, format)?;
        let finishing = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("tc-push report".to_owned())
            .spawn({
                let journal = journal.clone();
                let finishing = finishing.clone();
                move || follow(follower, &journal, &finishing)
            })
            .map_err(|e| Error::Task {
                detail: format!("starting the report's thread: {e}"),
            })?;
        Ok(LiveReport {
            journal,
            finishing,
            thread: Some(thread),
        })
    }

    /// Writes the rows left, with `input_rows` as [`crate::write_report`] takes it, and
    /// renames the report into place. Call it once the push has ended: what the journal says
    /// then is what the report says.
    ///
    /// # Errors
    ///
    /// [`Error::Report`] when the report cannot be written, [`Error::Journal`] or
    /// [`Error::JournalDamaged`] when the journal cannot be read.
    pub fn finish(mut self, input_rows: u64) -> Result<Tally, Error> {
        self.stop_following()?.finish(input_rows)
    }

    fn stop_following(&mut self) -> Result<Follower, Error> {
        self.finishing.store(true, Ordering::SeqCst);
        self.journal.wake_followers();
        let thread = self.thread.take().ok_or_else(|| Error::Task {
            detail: "the report was finished twice".to_owned(),
        })?;
        thread.join().map_err(|_| Error::Task {
            detail: "the report's thread panicked".to_owned(),
        })?
    }
}

impl Drop for LiveReport {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // The follower's partial file goes with it.
            let _ = self.stop_following();
        }
    }
}

/// The report's thread: catches up with the journal each time it grows, until told to finish
/// (the caller then catches up once more, after the push's last entry).
fn follow(
    mut follower: Follower,
    journal: &SharedJournal,
    finishing: &AtomicBool,
) -> Result<Follower, Error> {
    loop {
        let seen = journal.growth();
        if finishing.load(Ordering::SeqCst) {
            return Ok(follower);
        }
        follower.catch_up(LineEnd::Growing)?;
        journal.wait_to_grow(seen);
    }
}

/// The journal read so far, and the report written from it.
struct Follower {
    lines: JournalLines,
    rows: Rows,
}

/// Everything of a [`Follower`] but the file it reads: the journal folded so far and the report
/// written from it (apart, so the reader can hand lines to it).
struct Rows {
    journal: PathBuf,
    report: PathBuf,
    format: ReportFormat,
    judge: LineJudge,
    fold: Fold,
    /// The entries the rows not written yet may need, by their [`crate::Ledger::last_word`] key:
    /// rejections, and batches without the receivers.
    kept: BTreeMap<u64, Entry>,
    /// The first row not written yet.
    next_row: u64,
    sink: Sink<File>,
    tally: Tally,
    partial: Partial,
    /// The journal said more about a row already written: the report is written again.
    stale: bool,
}

impl Follower {
    fn open(journal: &Path, report: &Path, format: ReportFormat) -> Result<Follower, Error> {
        let partial = Partial::open(report)?;
        let out = partial.file.try_clone().map_err(|e| Error::Report {
            path: report.to_owned(),
            source: e,
        })?;
        Ok(Follower {
            lines: JournalLines::open(journal)?,
            rows: Rows {
                journal: journal.to_owned(),
                report: report.to_owned(),
                format,
                judge: LineJudge::new(journal),
                fold: Fold::default(),
                kept: BTreeMap::new(),
                next_row: 1,
                sink: Sink::new(out, format),
                tally: Tally::default(),
                partial,
                stale: false,
            },
        })
    }

    /// Reads what the journal holds past what was read, and writes the rows that became final.
    fn catch_up(&mut self, end: LineEnd) -> Result<(), Error> {
        // A stale report is written again from the journal: reading on is no use.
        while !self.rows.stale {
            let Some((at, line)) = self.lines.next_line(end)? else {
                break;
            };
            self.rows.line(at, line)?;
        }
        Ok(())
    }

    fn finish(mut self, input_rows: u64) -> Result<Tally, Error> {
        self.catch_up(LineEnd::Final)?;
        self.rows.finish(input_rows)
    }
}

impl Rows {
    fn line(&mut self, at: Position, line: &str) -> Result<(), Error> {
        let Some(mut entry) = self.judge.entry(at, line)? else {
            return Ok(());
        };
        self.stale = self.says_more_about_written_rows(&entry);
        let key = at.offset + 1;
        if let Entry::Batch { receivers, .. } = &mut entry {
            // Neither the fold nor the report reads them: not worth keeping.
            *receivers = Vec::new();
        }
        if matches!(entry, Entry::Batch { .. } | Entry::Rejected { .. }) {
            self.kept.insert(key, entry.clone());
        }
        self.fold.apply(key, entry);
        self.write_final_rows()
    }

    /// Whether `entry` could change a row already written. The push never does that (a row
    /// answered for good is never sent again); delivery results do.
    fn says_more_about_written_rows(&self, entry: &Entry) -> bool {
        let written = |row: u64| row < self.next_row;
        match entry {
            Entry::Rejected { row, .. } => written(*row),
            Entry::Batch { rows, .. } => rows.iter().copied().any(written),
            Entry::Outcome { seq, .. } => self.fold.ledger().outcomes.contains_key(seq),
            Entry::Delivery { records, .. } => records.iter().any(|r| written(r.row)),
            _ => false,
        }
    }

    /// Writes the rows from the first not written, as long as their last word is final.
    fn write_final_rows(&mut self) -> Result<(), Error> {
        let first = self.next_row;
        while self.is_final(self.next_row) {
            self.write_row(self.next_row)?;
            self.next_row += 1;
        }
        if self.next_row > first {
            let next_row = self.next_row;
            self.kept.retain(|_, entry| last_row(entry) >= next_row);
        }
        Ok(())
    }

    /// Settled rows are never sent again, so nothing later in the journal changes them.
    fn is_final(&self, row: u64) -> bool {
        let ledger = self.fold.ledger();
        ledger.last_word(row) != 0 && ledger.settled.contains(row)
    }

    fn write_row(&mut self, row: u64) -> Result<(), Error> {
        let ledger = self.fold.ledger();
        let last_word = match ledger.last_word(row) {
            0 => None,
            key => Some((
                key,
                self.kept.get(&key).ok_or_else(|| Error::Task {
                    detail: format!("the report lost the journal entry at byte {}", key - 1),
                })?,
            )),
        };
        let report = report_row(&self.journal, ledger, row, last_word)?;
        self.tally.count(&report);
        self.sink.write(&report).map_err(|source| Error::Report {
            path: self.report.clone(),
            source,
        })
    }

    fn finish(mut self, input_rows: u64) -> Result<Tally, Error> {
        if self.stale {
            drop(self.partial);
            return write_report_as(&self.journal, &self.report, self.format, input_rows);
        }
        let last = input_rows.max(self.fold.ledger().highest_row());
        for row in self.next_row..=last {
            self.write_row(row)?;
        }
        let report_error = |source| Error::Report {
            path: self.report.clone(),
            source,
        };
        self.sink.finish().map_err(report_error)?;
        self.partial.persist(&self.report).map_err(report_error)?;
        Ok(self.tally)
    }
}

/// The highest row an entry kept for the report is about.
fn last_row(entry: &Entry) -> u64 {
    match entry {
        Entry::Rejected { row, .. } => *row,
        Entry::Batch { rows, .. } => rows.last().copied().unwrap_or(0),
        _ => 0,
    }
}

/// The file a live report is written to, named after the report: a push killed while writing it
/// leaves one file, which the next push to the same report truncates and takes over.
struct Partial {
    file: File,
    /// Removes the file when dropped unpersisted.
    path: tempfile::TempPath,
}

impl Partial {
    fn open(report: &Path) -> Result<Partial, Error> {
        let refuse = |source| Error::Report {
            path: report.to_owned(),
            source,
        };
        // Absolute, so that making it a `TempPath` once the lock is ours cannot fail: a
        // `TempPath` removes its file when dropped, and the file locked by another push is not
        // ours to remove.
        let path = std::path::absolute(partial_path(report)).map_err(refuse)?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(refuse)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(refuse(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "another push is writing this report now; give another report path",
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(refuse(e)),
        }
        // Only once the lock is ours: the file may be the leftover of a killed push.
        file.set_len(0).map_err(refuse)?;
        let path = tempfile::TempPath::try_from_path(path).map_err(refuse)?;
        Ok(Partial { file, path })
    }

    /// Makes the rows durable, then renames the file over `report`.
    fn persist(self, report: &Path) -> std::io::Result<()> {
        self.file.sync_data()?;
        self.path.persist(report).map_err(|e| e.error)
    }
}

/// `dir/.NAME.partial` for the report `dir/NAME`.
fn partial_path(report: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(report.file_name().unwrap_or("report".as_ref()));
    name.push(".partial");
    report_dir(report).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::OutcomeStatus;
    use crate::journal::{DeliveryRow, JournalWriter};
    use crate::{DeliveryStatus, Fingerprint};

    fn start(run: u32) -> Entry {
        Entry::Start {
            version: 1,
            run,
            fingerprint: Fingerprint::from_reader(&b"input"[..]).unwrap(),
            input: "x".into(),
            at: 0,
            options: None,
        }
    }

    fn batch(seq: u64, rows: &[u64]) -> Entry {
        Entry::Batch {
            seq,
            rows: rows.to_vec(),
            lines: rows.iter().map(|r| r + 1).collect(),
            receivers: rows.iter().map(|r| format!("+9198765432{r:02}")).collect(),
            stored_before: Vec::new(),
            marks_leaving: false,
        }
    }

    fn outcome(seq: u64, status: OutcomeStatus, retryable: bool) -> Entry {
        Entry::Outcome {
            seq,
            status,
            batch_id: (status == OutcomeStatus::Accepted)
                .then(|| format!("b{seq}").parse().expect("a batch id")),
            code: None,
            message: None,
            attempts: 1,
            possibly_duplicated: false,
            possibly_stored: status == OutcomeStatus::Unknown,
            retryable,
        }
    }

    fn rejected(row: u64) -> Entry {
        Entry::Rejected {
            row,
            line: row + 1,
            field: Some(tc_core::Field::ReceiverNumber),
            code: tc_core::Code::PhoneInvalid,
            message: "not a phone number".into(),
            stored_before: false,
        }
    }

    fn append(writer: &mut JournalWriter, entries: &[Entry]) {
        for entry in entries {
            writer.write(entry).unwrap();
        }
        writer.sync().unwrap();
    }

    /// The report [`crate::write_report_as`] writes from the journal now.
    fn from_the_journal(journal: &Path, format: ReportFormat, rows: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expected");
        write_report_as(journal, &path, format, rows).unwrap();
        std::fs::read(path).unwrap()
    }

    #[test]
    fn rows_are_written_once_final_and_the_report_is_the_journals() {
        for format in [ReportFormat::Csv, ReportFormat::JsonLines] {
            let dir = tempfile::tempdir().unwrap();
            let journal = dir.path().join("journal");
            let report = dir.path().join("report");
            let mut writer = JournalWriter::create(&journal).unwrap();
            append(&mut writer, &[start(1), rejected(1), batch(1, &[2, 3])]);
            let mut follower = Follower::open(&journal, &report, format).unwrap();
            follower.catch_up(LineEnd::Growing).unwrap();
            assert_eq!(follower.rows.next_row, 2, "the rejected row is final");

            append(&mut writer, &[batch(2, &[4, 6]), rejected(5)]);
            append(&mut writer, &[outcome(2, OutcomeStatus::Accepted, false)]);
            follower.catch_up(LineEnd::Growing).unwrap();
            assert_eq!(
                follower.rows.next_row, 2,
                "row 2 waits for its batch's answer"
            );
            append(&mut writer, &[outcome(1, OutcomeStatus::Accepted, false)]);
            follower.catch_up(LineEnd::Growing).unwrap();
            assert_eq!(follower.rows.next_row, 7, "rows 2 to 6 followed");
            assert_eq!(follower.rows.kept.len(), 0, "nothing left to keep");

            // A batch the rate limit held past a window: its rows go again in another.
            append(
                &mut writer,
                &[
                    batch(3, &[7, 8]),
                    outcome(3, OutcomeStatus::Failed, true),
                    batch(4, &[7, 8]),
                    batch(5, &[9]),
                ],
            );
            follower.catch_up(LineEnd::Growing).unwrap();
            assert_eq!(follower.rows.next_row, 7, "a retryable answer is not final");
            drop(writer);
            let tally = follower.finish(10).unwrap();
            assert_eq!(
                std::fs::read(&report).unwrap(),
                from_the_journal(&journal, format, 10),
                "{format:?}"
            );
            assert_eq!((tally.accepted, tally.rejected, tally.unknown), (4, 2, 3));
            assert_eq!(tally.failed, 1, "row 10 was never sent");
            assert!(!partial_path(&report).exists());
        }
    }

    #[test]
    fn deliveries_after_the_rows_were_written_rewrite_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let report = dir.path().join("report.csv");
        let mut writer = JournalWriter::create(&journal).unwrap();
        append(
            &mut writer,
            &[
                start(1),
                batch(1, &[1, 2]),
                outcome(1, OutcomeStatus::Accepted, false),
            ],
        );
        let mut follower = Follower::open(&journal, &report, ReportFormat::Csv).unwrap();
        follower.catch_up(LineEnd::Growing).unwrap();
        assert_eq!(follower.rows.next_row, 3);
        let delivered = DeliveryRow {
            row: 2,
            status: DeliveryStatus::NotTruecallerUser,
            message: None,
        };
        append(
            &mut writer,
            &[Entry::Delivery {
                seq: 1,
                records: vec![delivered],
            }],
        );
        follower.finish(2).unwrap();
        let written = std::fs::read(&report).unwrap();
        assert_eq!(written, from_the_journal(&journal, ReportFormat::Csv, 2));
        assert!(String::from_utf8(written)
            .unwrap()
            .contains("not_truecaller_user"));
    }

    #[test]
    fn a_torn_line_of_an_earlier_run_is_skipped_as_the_journal_reader_skips_it() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let report = dir.path().join("report.csv");
        let mut writer = JournalWriter::create(&journal).unwrap();
        append(&mut writer, &[start(1), batch(1, &[1, 2])]);
        drop(writer);
        let mut file = OpenOptions::new().append(true).open(&journal).unwrap();
        std::io::Write::write_all(&mut file, b"{\"t\":\"outcome\",\"se\n").unwrap();
        let mut writer = JournalWriter::append(&journal).unwrap();
        let mut follower = Follower::open(&journal, &report, ReportFormat::Csv).unwrap();
        follower.catch_up(LineEnd::Growing).unwrap();
        append(
            &mut writer,
            &[
                start(2),
                batch(2, &[1, 2]),
                outcome(2, OutcomeStatus::Accepted, false),
            ],
        );
        follower.catch_up(LineEnd::Growing).unwrap();
        assert_eq!(follower.rows.next_row, 3);
        follower.finish(2).unwrap();
        assert_eq!(
            std::fs::read(&report).unwrap(),
            from_the_journal(&journal, ReportFormat::Csv, 2)
        );

        // In the middle of a run, the same line is damage, as it is to the journal reader.
        append(&mut writer, &[start(3)]);
        drop(writer);
        let mut file = OpenOptions::new().append(true).open(&journal).unwrap();
        std::io::Write::write_all(
            &mut file,
            b"GARBAGE\n{\"t\":\"end\",\"run\":3,\"at\":0,\"interrupted\":false}\n",
        )
        .unwrap();
        let mut follower = Follower::open(&journal, &report, ReportFormat::Csv).unwrap();
        let err = follower.catch_up(LineEnd::Growing).unwrap_err();
        assert!(matches!(err, Error::JournalDamaged { .. }), "{err}");
        let by_the_ledger = crate::Ledger::load(&journal).unwrap_err();
        assert_eq!(
            err.to_string(),
            by_the_ledger.to_string(),
            "the same line named"
        );
    }

    #[test]
    fn a_second_writer_of_one_report_is_refused_and_a_leftover_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let report = dir.path().join("report.csv");
        let mut writer = JournalWriter::create(&journal).unwrap();
        append(&mut writer, &[start(1)]);
        // What a push killed while writing its report leaves.
        std::fs::write(partial_path(&report), "rows of a killed push\n").unwrap();

        let first = Follower::open(&journal, &report, ReportFormat::Csv).unwrap();
        assert_eq!(std::fs::read(partial_path(&report)).unwrap(), b"");
        let err = Follower::open(&journal, &report, ReportFormat::Csv)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("another push"), "{err}");
        assert!(
            partial_path(&report).exists(),
            "the refused writer leaves the first one's file alone"
        );
        drop(first);
        assert!(
            !partial_path(&report).exists(),
            "dropped unfinished: removed"
        );
    }
}

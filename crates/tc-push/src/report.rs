//! The report: exactly one row per input record, in input order, rebuilt from the journal, so it
//! is complete and consistent however many times the push was interrupted and resumed. Each row
//! is reported as the journal entry with the last word on it says, and a row that may be stored
//! is never reported as if it were not.

use crate::codes::{OutcomeStatus, ReportCode, RowStatus};
use crate::error::Error;
use crate::journal::{read_entry_at, Entry};
use crate::ledger::Ledger;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use tc_core::wire::DeliveryStatus;
use tc_engine::{BatchOutcome, EarlierAttempts, RecordState};

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    pub row: u64,
    /// The line the record starts on; 0 for a row the push never read.
    pub line: u64,
    pub status: RowStatus,
    pub batch_id: String,
    pub code: Option<ReportCode>,
    pub message: String,
    /// The row may be stored more than once: an earlier attempt may have stored it too.
    pub possibly_duplicated: bool,
    pub delivery_status: Option<DeliveryStatus>,
    pub delivery_message: String,
}

/// Counts of report rows by status, and of the reasons behind rows not accepted or not
/// delivered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Tally {
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
    pub unknown: u64,
    pub possibly_duplicated: u64,
    pub delivered: u64,
    pub not_delivered: u64,
    pub by_code: BTreeMap<ReportCode, u64>,
    pub by_delivery_status: BTreeMap<DeliveryStatus, u64>,
}

impl Tally {
    /// Rows in the report.
    pub fn rows(&self) -> u64 {
        self.accepted + self.rejected + self.failed + self.unknown
    }

    pub(crate) fn count(&mut self, row: &ReportRow) {
        match row.status {
            RowStatus::Accepted => self.accepted += 1,
            RowStatus::Rejected => self.rejected += 1,
            RowStatus::Failed => self.failed += 1,
            RowStatus::Unknown => self.unknown += 1,
        }
        self.possibly_duplicated += u64::from(row.possibly_duplicated);
        if let Some(code) = &row.code {
            *self.by_code.entry(code.clone()).or_default() += 1;
        }
        match &row.delivery_status {
            None => {}
            Some(status) if status.is_delivered() => self.delivered += 1,
            Some(status) => {
                self.not_delivered += 1;
                *self.by_delivery_status.entry(status.clone()).or_default() += 1;
            }
        }
    }
}

const RESUME_HINT: &str = "; resume the push (tcbatch submit --resume) to send it again";
const STORED_BEFORE: &str = "; an earlier attempt may have stored it, so it is reported unknown";

/// A row's status and duplicate flag from its batch's outcome (`None`: never answered) and
/// whether an earlier attempt may have stored it: `tc_engine::answer` decides it.
fn verdict(outcome: Option<&BatchOutcome>, stored_before: bool) -> (RowStatus, bool) {
    let earlier = if stored_before {
        EarlierAttempts::MayHaveStored
    } else {
        EarlierAttempts::StoredNothing
    };
    let answer = tc_engine::answer(outcome, earlier);
    let status = match answer.state {
        RecordState::Accepted => RowStatus::Accepted,
        RecordState::Failed => RowStatus::Failed,
        RecordState::Rejected => RowStatus::Rejected,
        // An answer is never queued or in flight; a row whose answer is not final is unknown.
        RecordState::Unknown | RecordState::Queued | RecordState::InFlight => RowStatus::Unknown,
    };
    (status, answer.possibly_duplicated)
}

/// How report rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportFormat {
    /// A header, then one line per row.
    Csv,
    /// One JSON object per row and line.
    JsonLines,
}

impl ReportFormat {
    /// JSON Lines for a path ending in `.jsonl`, CSV for any other: what [`write_report`] writes.
    pub fn of_path(path: &Path) -> ReportFormat {
        if path.extension().is_some_and(|e| e == "jsonl") {
            ReportFormat::JsonLines
        } else {
            ReportFormat::Csv
        }
    }
}

/// Writes the report of the journal at `journal` to `path` (CSV, or JSON Lines when it ends in
/// `.jsonl`), one row per input record in input order, atomically: a temporary file in the same
/// directory, renamed over `path` when complete. `input_rows` is how many records the input
/// holds: rows the journal never mentions are reported `failed` with code `not_sent`.
pub fn write_report(journal: &Path, path: &Path, input_rows: u64) -> Result<Tally, Error> {
    write_report_as(journal, path, ReportFormat::of_path(path), input_rows)
}

/// As [`write_report`], in `format` whatever the path's extension.
pub fn write_report_as(
    journal: &Path,
    path: &Path,
    format: ReportFormat,
    input_rows: u64,
) -> Result<Tally, Error> {
    let report_error = |source| Error::Report {
        path: path.to_owned(),
        source,
    };
    let dir = report_dir(path);
    let temp = temporary_report(dir).map_err(report_error)?;
    let file = temp.reopen().map_err(report_error)?;
    let tally = write_rows(journal, file, format, input_rows, path)?;
    temp.as_file().sync_data().map_err(report_error)?;
    temp.persist(path).map_err(|e| report_error(e.error))?;
    Ok(tally)
}

/// Writes the report's rows to `out`; `name` is what a write error calls the destination.
pub(crate) fn write_rows(
    journal: &Path,
    out: impl Write,
    format: ReportFormat,
    input_rows: u64,
    name: &Path,
) -> Result<Tally, Error> {
    let ledger = Ledger::load(journal)?;
    let mut entries = EntryCache::open(journal)?;
    let report_error = |source| Error::Report {
        path: name.to_owned(),
        source,
    };
    let mut sink = Sink::new(out, format);
    let mut tally = Tally::default();
    for row in 1..=input_rows.max(ledger.highest_row()) {
        let report = match ledger.last_word(row) {
            0 => report_row(journal, &ledger, row, None)?,
            key => report_row(journal, &ledger, row, Some((key, entries.get(key - 1)?)))?,
        };
        tally.count(&report);
        sink.write(&report).map_err(report_error)?;
    }
    sink.finish().map_err(report_error)?;
    Ok(tally)
}

/// The file a report is written to before it is renamed into place: beside it, so the rename
/// is atomic, and made as any new file would be (mode 0666 less the umask), not private to its
/// owner as temporary files are by default: the report replaces what the operator would have
/// got writing it directly.
pub(crate) fn temporary_report(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tcbatch-report-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

/// The directory a report is written in (the current one for a bare file name).
pub(crate) fn report_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The report row of `row`, from the journal entry with the last word on it (with its
/// [`Ledger::last_word`] key), none when the journal never mentions the row.
pub(crate) fn report_row(
    journal: &Path,
    ledger: &Ledger,
    row: u64,
    last_word: Option<(u64, &Entry)>,
) -> Result<ReportRow, Error> {
    let stored_before = ledger.stored_before_last_word.contains(row);
    let Some((key, entry)) = last_word else {
        return Ok(not_sent(row, 0, stored_before));
    };
    Ok(match entry {
        Entry::Rejected {
            line,
            code,
            message,
            ..
        } => rejected_row(row, *line, *code, message, stored_before),
        Entry::Batch {
            seq, rows, lines, ..
        } => {
            // A batch's rows are in read order, so ascending.
            let line = rows
                .binary_search(&row)
                .ok()
                .and_then(|i| lines.get(i).copied())
                .unwrap_or(0);
            if ledger.never_left.contains(seq) {
                return Ok(not_sent(row, line, stored_before));
            }
            let outcome = ledger.outcomes.get(seq);
            let delivery = ledger.deliveries.get(seq).and_then(|d| d.get(&row));
            batch_row(row, line, outcome, stored_before, delivery)
        }
        other => {
            return Err(Error::JournalDamaged {
                path: journal.to_owned(),
                line: 0,
                detail: format!("the entry at byte {} is not about rows: {other:?}", key - 1),
            })
        }
    })
}

/// A row the push stopped before sending (by the entry with the last word on it; an earlier
/// attempt may have stored it all the same).
fn not_sent(row: u64, line: u64, stored_before: bool) -> ReportRow {
    let mut message = "the push stopped before this row was sent; resume the push (tcbatch \
                       submit --resume) to send it"
        .to_owned();
    let unsent = BatchOutcome::Resumable {
        code: ReportCode::NotSent,
        message: message.clone(),
        possibly_stored: false,
    };
    let (status, _) = verdict(Some(&unsent), stored_before);
    if stored_before {
        message.push_str(STORED_BEFORE);
    }
    ReportRow {
        row,
        line,
        status,
        batch_id: String::new(),
        code: Some(ReportCode::NotSent),
        message,
        possibly_duplicated: false,
        delivery_status: None,
        delivery_message: String::new(),
    }
}

fn rejected_row(
    row: u64,
    line: u64,
    code: tc_core::Code,
    message: &str,
    stored_before: bool,
) -> ReportRow {
    let (status, message) = if stored_before {
        (RowStatus::Unknown, format!("{message}{STORED_BEFORE}"))
    } else {
        (RowStatus::Rejected, message.to_owned())
    };
    ReportRow {
        row,
        line,
        status,
        batch_id: String::new(),
        code: Some(ReportCode::Rule(code)),
        message,
        possibly_duplicated: false,
        delivery_status: None,
        delivery_message: String::new(),
    }
}

fn batch_row(
    row: u64,
    line: u64,
    outcome: Option<&BatchOutcome>,
    stored_before: bool,
    delivery: Option<&crate::journal::DeliveryRow>,
) -> ReportRow {
    let (status, possibly_duplicated) = verdict(outcome, stored_before);
    let Some(o) = outcome else {
        // Sent, and the push died before the answer.
        return ReportRow {
            row,
            line,
            status,
            batch_id: String::new(),
            code: Some(ReportCode::Interrupted),
            message: "the push stopped after this row's request left and before the API \
                      answered: it may be stored. A resumed push (tcbatch submit --resume) sends \
                      it again, flagged possibly duplicated, unless it runs --at-most-once, \
                      which never sends it again"
                .to_owned(),
            possibly_duplicated,
            delivery_status: None,
            delivery_message: String::new(),
        };
    };
    let mut message = o.message().unwrap_or_default().to_owned();
    if matches!(o, BatchOutcome::Resumable { .. }) {
        message.push_str(RESUME_HINT);
    }
    if OutcomeStatus::of(o) == OutcomeStatus::Failed && stored_before {
        message.push_str(STORED_BEFORE);
    }
    ReportRow {
        row,
        line,
        status,
        batch_id: match o {
            BatchOutcome::Accepted { batch_id, .. } => batch_id.to_string(),
            _ => String::new(),
        },
        code: o.code(),
        message,
        possibly_duplicated,
        delivery_status: delivery.map(|d| d.status.clone()),
        delivery_message: delivery.and_then(|d| d.message.clone()).unwrap_or_default(),
    }
}

/// The journal entries the report needs, read by offset. Rows in input order mostly come from
/// one batch at a time, with rejected rows in between: a few recent entries are all it keeps.
struct EntryCache {
    path: std::path::PathBuf,
    journal: BufReader<File>,
    recent: VecDeque<(u64, Entry)>,
}

impl EntryCache {
    const KEEP: usize = 16;

    fn open(path: &Path) -> Result<EntryCache, Error> {
        let file = File::open(path).map_err(|e| Error::journal(path, e))?;
        Ok(EntryCache {
            path: path.to_owned(),
            journal: BufReader::new(file),
            recent: VecDeque::with_capacity(Self::KEEP),
        })
    }

    fn get(&mut self, offset: u64) -> Result<&Entry, Error> {
        let index = match self.recent.iter().position(|(at, _)| *at == offset) {
            Some(index) => index,
            None => {
                let entry = read_entry_at(&mut self.journal, offset)
                    .map_err(|e| Error::journal(&self.path, e))?;
                if self.recent.len() == Self::KEEP {
                    self.recent.pop_front();
                }
                self.recent.push_back((offset, entry));
                self.recent.len() - 1
            }
        };
        Ok(&self.recent[index].1)
    }
}

pub(crate) enum Sink<W: Write> {
    Csv(Box<CsvSink<W>>),
    Jsonl(BufWriter<W>),
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(out: W, format: ReportFormat) -> Sink<W> {
        match format {
            ReportFormat::JsonLines => Sink::Jsonl(BufWriter::new(out)),
            ReportFormat::Csv => Sink::Csv(Box::new(CsvSink::new(out))),
        }
    }

    pub(crate) fn write(&mut self, row: &ReportRow) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.write(row),
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, row)?;
                w.write_all(b"\n")
            }
        }
    }

    pub(crate) fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.finish(),
            Sink::Jsonl(mut w) => w.flush(),
        }
    }
}

/// The report as CSV. The rows of one batch differ only in their row and line numbers, so a
/// row like the one before it is written as its two numbers and the rest of that row's CSV:
/// serialising every field of a million rows took about a third of the report's time. The bytes
/// are the `csv` crate's: numbers are never quoted, and a field's quoting depends on it alone.
pub(crate) struct CsvSink<W: Write> {
    out: BufWriter<W>,
    /// The last row serialised, and its CSV after the row and line numbers and their commas;
    /// none before the first row, which the header goes before.
    last: Option<(ReportRow, Vec<u8>)>,
}

impl<W: Write> CsvSink<W> {
    fn new(out: W) -> CsvSink<W> {
        CsvSink {
            out: BufWriter::new(out),
            last: None,
        }
    }

    fn write(&mut self, row: &ReportRow) -> std::io::Result<()> {
        let same_rest = self
            .last
            .as_ref()
            .is_some_and(|(last, _)| same_but_numbers(last, row));
        if !same_rest {
            let first = self.last.is_none();
            let mut bytes = to_csv(row, first)?;
            if first {
                // The header's names hold no newline: its line ends at the first one.
                let header_end = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(0, |at| at + 1);
                self.out.write_all(&bytes[..header_end])?;
                bytes.drain(..header_end);
            }
            let rest = bytes
                .iter()
                .enumerate()
                .filter(|&(_, &b)| b == b',')
                .nth(1)
                .map_or(bytes.len(), |(at, _)| at + 1);
            self.last = Some((row.clone(), bytes.split_off(rest)));
        }
        write!(self.out, "{},{},", row.row, row.line)?;
        if let Some((_, rest)) = &self.last {
            self.out.write_all(rest)?;
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Room for one row's CSV, most of the time (a longer one grows it).
const ROW_BUFFER_BYTES: usize = 512;

/// One row as the `csv` crate writes it, after the header line when `with_header`.
fn to_csv(row: &ReportRow, with_header: bool) -> std::io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(with_header)
        .buffer_capacity(ROW_BUFFER_BYTES)
        .from_writer(Vec::with_capacity(ROW_BUFFER_BYTES));
    writer.serialize(row).map_err(std::io::Error::other)?;
    writer.into_inner().map_err(|e| e.into_error())
}

/// Whether two rows are the same in every field but the row and line numbers.
fn same_but_numbers(a: &ReportRow, b: &ReportRow) -> bool {
    a.status == b.status
        && a.possibly_duplicated == b.possibly_duplicated
        && a.batch_id == b.batch_id
        && a.code == b.code
        && a.message == b.message
        && a.delivery_status == b.delivery_status
        && a.delivery_message == b.delivery_message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(row: u64, batch: &str, message: &str) -> ReportRow {
        ReportRow {
            row,
            line: row + 1,
            status: RowStatus::Accepted,
            batch_id: batch.to_owned(),
            code: None,
            message: message.to_owned(),
            possibly_duplicated: false,
            delivery_status: None,
            delivery_message: String::new(),
        }
    }

    /// The report's CSV is byte for byte what the `csv` crate writes for the same rows, whether
    /// a row repeats the one before it but for its numbers or not.
    #[test]
    fn csv_rows_are_the_csv_crates_bytes() {
        let mut rows = Vec::new();
        for n in 1..=4 {
            rows.push(row(n, "b-1", ""));
        }
        rows.push(row(5, "b-2", "refused, \"quoted\"\nacross lines"));
        rows.push(row(6, "b-2", "refused, \"quoted\"\nacross lines"));
        let mut rejected = row(7, "", "a, b");
        rejected.status = RowStatus::Rejected;
        rejected.code = Some(ReportCode::Rule(tc_core::Code::PhoneHasLetters));
        rows.push(rejected.clone());
        rejected.row = 8;
        rejected.possibly_duplicated = true;
        rows.push(rejected);
        rows.push(row(9, "b-3", " leading space"));
        rows.push(row(10, "b-3", " leading space"));

        let mut expected = csv::Writer::from_writer(Vec::new());
        for r in &rows {
            expected.serialize(r).unwrap();
        }
        let expected = expected.into_inner().unwrap();
        let mut got = Vec::new();
        let mut sink = Sink::new(&mut got, ReportFormat::Csv);
        for r in &rows {
            sink.write(r).unwrap();
        }
        sink.finish().unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn a_csv_report_of_no_rows_is_empty() {
        let mut got = Vec::new();
        Sink::new(&mut got, ReportFormat::Csv).finish().unwrap();
        let mut expected = csv::Writer::from_writer(Vec::new());
        expected.flush().unwrap();
        assert_eq!(got, expected.into_inner().unwrap());
    }
}

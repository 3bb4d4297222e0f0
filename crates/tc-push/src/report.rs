//! The report: exactly one row per input record, in input order, rebuilt from the journal, so it
//! is complete and consistent however many times the push was interrupted and resumed. Each row
//! is reported as the journal entry with the last word on it says, and a row that may be stored
//! is never reported as if it were not.

use crate::codes::{BatchStatus, ReportCode, RowStatus};
use crate::error::Error;
use crate::journal::{read_entry_at, Entry};
use crate::ledger::{Ledger, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use tc_core::wire::DeliveryStatus;

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

    fn count(&mut self, row: &ReportRow) {
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
/// whether an earlier attempt may have stored it. The one place that decides it: a row that may
/// be stored is never `failed` or `rejected`, and an accepted row that may be stored twice is
/// flagged.
pub fn verdict(outcome: Option<&Outcome>, stored_before: bool) -> (RowStatus, bool) {
    let Some(o) = outcome else {
        return (RowStatus::Unknown, stored_before);
    };
    match o.status {
        BatchStatus::Accepted => (RowStatus::Accepted, o.possibly_duplicated || stored_before),
        BatchStatus::Failed if !stored_before && !o.possibly_stored => (RowStatus::Failed, false),
        BatchStatus::Failed => (RowStatus::Unknown, stored_before && o.possibly_stored),
        BatchStatus::Unknown => (RowStatus::Unknown, stored_before),
    }
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
        let report = report_row(journal, &ledger, &mut entries, row)?;
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

fn report_row(
    journal: &Path,
    ledger: &Ledger,
    entries: &mut EntryCache,
    row: u64,
) -> Result<ReportRow, Error> {
    let key = ledger.last_word(row);
    let stored_before = ledger.stored_before_last_word.contains(row);
    if key == 0 {
        return Ok(ReportRow {
            row,
            line: 0,
            status: RowStatus::Failed,
            batch_id: String::new(),
            code: Some(ReportCode::NotSent),
            message: "the push stopped before this row was sent; resume the push (tcbatch submit \
                      --resume) to send it"
                .to_owned(),
            possibly_duplicated: false,
            delivery_status: None,
            delivery_message: String::new(),
        });
    }
    Ok(match entries.get(key - 1)? {
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
    outcome: Option<&Outcome>,
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
            message: "the push stopped before the API answered; it may be stored; resume the \
                      push (tcbatch submit --resume) to settle this row"
                .to_owned(),
            possibly_duplicated,
            delivery_status: None,
            delivery_message: String::new(),
        };
    };
    let mut message = o.message.clone();
    if o.retryable {
        message.push_str(RESUME_HINT);
    }
    if o.status == BatchStatus::Failed && stored_before {
        message.push_str(STORED_BEFORE);
    }
    ReportRow {
        row,
        line,
        status,
        batch_id: o
            .batch_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        code: o.code.clone(),
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

enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(BufWriter<W>),
}

impl<W: Write> Sink<W> {
    fn new(out: W, format: ReportFormat) -> Sink<W> {
        match format {
            ReportFormat::JsonLines => Sink::Jsonl(BufWriter::new(out)),
            ReportFormat::Csv => Sink::Csv(Box::new(csv::Writer::from_writer(out))),
        }
    }

    fn write(&mut self, row: &ReportRow) -> std::io::Result<()> {
        match self {
            Sink::Csv(w) => w.serialize(row).map_err(std::io::Error::other),
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, row)?;
                w.write_all(b"\n")
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Csv(mut w) => w.flush(),
            Sink::Jsonl(mut w) => w.flush(),
        }
    }
}

//! Readers of the files call records come in (CSV, JSON Lines, JSON and spreadsheets), for
//! Truecaller's Call Personalisation Batch v2 API: each record as a [`RawRecord`] with its record
//! number and line, ready for tc-core's `Validator`, and a diagnostic for each row that cannot be
//! read.
//!
//! These are the readers of `tcbatch validate` and `tcbatch submit`, for any program that reads
//! the same files the same way: an export of a CRM or a dialer with its own headers
//! ([`map::ColumnMap`]), local times in an IANA time zone and windows derived from one call time
//! ([`local_time`]), separated by commas, `;` or tabs, saved from a spreadsheet or as one.
//!
//! ```
//! use tc_core::{Code, EpochMillis, Validator};
//! use tc_input::{Format, ReadOptions};
//!
//! let csv = "caller_number,receiver_number,dynamic_label_name,starts_at,ends_at\n\
//!            +919876543210,+91 98765 43211,Centro Bank,1753248600000,1753257600000\n\
//!            +919876543210,+919876543212,Centro Bank\n";
//! let mut records = tc_input::from_reader(
//!     csv.as_bytes(),
//!     "`calls.csv`",
//!     Format::Csv,
//!     &ReadOptions::default(),
//! )?;
//!
//! let first = records.next().expect("a first record");
//! assert_eq!((first.record, first.line), (1, 2));
//! let raw = first.raw.expect("a row that can be read");
//! let validator = Validator::new(EpochMillis::try_from(1_753_246_800_000).unwrap());
//! let record = validator.validate(&raw).expect("a valid record");
//! assert_eq!(record.receiver_number().as_str(), "+919876543211");
//!
//! // A row that cannot be read is that row's diagnostic, and reading goes on.
//! let second = records.next().expect("a second record");
//! assert_eq!((second.record, second.line), (2, 3));
//! let problem = second.raw.expect_err("a row of three fields");
//! assert_eq!(problem.code, Code::RecordUnreadable);
//! assert!(problem.field.is_none(), "the whole row");
//!
//! assert!(records.next().is_none());
//! records.finish()?; // the I/O error that ended reading early, if one did
//! # Ok::<(), tc_input::ReadError>(())
//! ```
//!
//! [`open_with`] opens a file the caller names (or standard input) and reads it in the format its
//! extension names, or the one [`ReadOptions`] give; [`from_reader`] reads any `BufRead`. Both
//! give [`Records`], an iterator of [`InputRecord`]s. They are the crate's only I/O: it reads no
//! clock, starts no thread and prints nothing.
//!
//! Every reader yields [`InputRecord`]s in file order, each with its 1-based record position and
//! the line it starts on. A row that cannot be read at all becomes a `record_unreadable`
//! diagnostic and reading goes on with the next row: a broken row never costs its neighbours.
//! Memory stays flat whatever the file size: one record (capped at [`MAX_RECORD_BYTES`]) is held
//! at a time.
//!
//! Problems with the file as a whole (it does not exist, it is empty or UTF-16 text, a CSV header
//! lacks a required column, a JSON file holds no array of records) are [`ReadError`]s, reported
//! before any record, the same way in every format. Field names are matched the same way in
//! every format too ([`field_named`]), and names that match no field get a warning
//! ([`Records::warnings`]).
//!
//! With the `clap` feature, [`Format`] is a `clap::ValueEnum`, for a flag that names it.

#![warn(missing_docs)]

mod csv;
mod error;
mod json;
mod jsonl;
pub mod lines;
pub mod local_time;
pub mod map;
mod open;
pub mod options;
mod spreadsheet;
#[cfg(test)]
mod tests;

pub use error::{ReadError, SettingError, Unopenable};
pub use open::{estimate_rows, from_reader, open_with};
pub use options::ReadOptions;
use std::fmt;
use std::io::{self, BufRead};
use std::path::Path;
use tc_core::diagnostic::excerpt;
use tc_core::{Code, Diagnostic, Field, RawRecord, Scalar};

/// The most bytes one record (a CSV row with its quoted line breaks, a JSON Lines line, a JSON
/// array element) may take. Far above any real record; it bounds memory on a corrupt file.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The formats `tcbatch` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Format {
    /// Comma-separated, with a header row of wire field names.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// A JSON array of records, or the API body `{"call_records": [...]}`.
    Json,
    /// A spreadsheet workbook: .xlsx, .xlsm, .xlsb, .xls or .ods (one sheet, see --sheet).
    Spreadsheet,
}

impl Format {
    /// The format to read: the one given, else the one the file's extension names. Standard
    /// input (no file, or `-`) has no extension, so it needs the format given.
    pub fn resolve<P>(given: Option<Format>, file: Option<&P>) -> Result<Format, ReadError>
    where
        P: AsRef<Path> + ?Sized,
    {
        if let Some(format) = given {
            return Ok(format);
        }
        let Some(path) = file.map(AsRef::as_ref).filter(|p| !is_stdin(Some(p))) else {
            return Err(ReadError::NoFormat);
        };
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("jsonl" | "ndjson") => Ok(Format::Jsonl),
            Some("json") => Ok(Format::Json),
            Some(other) if spreadsheet::EXTENSIONS.contains(&other) => Ok(Format::Spreadsheet),
            _ => Err(ReadError::UnknownExtension {
                path: path.to_owned(),
            }),
        }
    }
}

/// One record as read, before validation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InputRecord {
    /// 1-based position of the record in the input (a CSV header and blank lines do not count).
    pub record: usize,
    /// 1-based line on which the record starts.
    pub line: usize,
    /// The record, or a `record_unreadable` diagnostic saying why it could not be read.
    pub raw: Result<RawRecord, Diagnostic>,
    /// The value of the key [`ReadOptionsBuilder::keep_key`] names, when the record is a JSON
    /// object that has it and could be read (`None` in every other format).
    ///
    /// [`ReadOptionsBuilder::keep_key`]: options::ReadOptionsBuilder::keep_key
    pub kept: Option<Scalar>,
}

type Source = Box<dyn BufRead>;

pub(crate) fn is_stdin(file: Option<&Path>) -> bool {
    file.is_none_or(|p| p == Path::new("-"))
}

/// The field a CSV column or JSON key names. Both are matched the same way: surrounding white
/// space and ASCII letter case do not matter (`Caller_Number ` is `caller_number`).
pub fn field_named(name: &str) -> Option<Field> {
    Field::from_wire_name(&name.trim().to_ascii_lowercase())
}

/// The records of one input, in order, their local times placed in the time zone. After the
/// loop, call [`Records::finish`]: an I/O error stops reading, and `finish` returns it (the last
/// record yielded then says where it stopped).
pub struct Records {
    parsed: Parsed,
    times: local_time::TimeReading,
    /// Whether records go through `times` (not when it would leave every record as it is).
    shape: bool,
}

enum Parsed {
    /// Boxed: the CSV parser's state tables make it much larger than the others.
    Csv(Box<csv::CsvRecords<Source>>),
    Jsonl(jsonl::JsonlRecords<Source>),
    Json(json::JsonRecords<Source>),
    Sheet(Box<spreadsheet::SheetRecords>),
}

impl Records {
    fn new(parsed: Parsed, options: &ReadOptions, format: Format) -> Records {
        Records {
            parsed,
            times: options.times.clone(),
            // A sheet's date cells are local times even when no time flag was given.
            shape: options.times.is_active() || format == Format::Spreadsheet,
        }
    }

    /// Things worth telling the user that do not stop reading: unknown CSV columns, unknown
    /// JSON keys, a second records array. Unknown keys are only known once read, so ask again
    /// after the last record.
    pub fn warnings(&self) -> Vec<String> {
        match &self.parsed {
            Parsed::Csv(r) => r.warnings().to_vec(),
            Parsed::Jsonl(r) => r.warnings(),
            Parsed::Json(r) => r.warnings(),
            Parsed::Sheet(r) => r.warnings().to_vec(),
        }
    }

    /// The keys of the JSON records read so far that name no field (nor the kept key), each
    /// once, quoted as the warnings quote them (escaped, cut short), at most twenty: the list
    /// behind the warning, for a program that answers with it. Empty for CSV and spreadsheets,
    /// whose unknown columns [`Records::warnings`] names.
    pub fn unknown_keys(&self) -> Vec<String> {
        match &self.parsed {
            Parsed::Jsonl(r) => r.unknown_keys(),
            Parsed::Json(r) => r.unknown_keys(),
            Parsed::Csv(_) | Parsed::Sheet(_) => Vec::new(),
        }
    }

    /// Whether the input is the API's request body `{"call_records": [...]}`.
    pub fn is_api_body(&self) -> bool {
        matches!(&self.parsed, Parsed::Json(r) if r.is_api_body())
    }

    /// Hands the placing of local times to the caller, to be done with [`TimeReading::apply`]
    /// on the threads that validate rather than on the one that reads: `None` when records need
    /// none. The records yielded from then on have their times as written.
    ///
    /// [`TimeReading::apply`]: local_time::TimeReading::apply
    pub fn take_time_reading(&mut self) -> Option<local_time::TimeReading> {
        std::mem::take(&mut self.shape).then(|| self.times.clone())
    }

    /// The I/O error that ended reading early, if any.
    pub fn finish(&mut self) -> Result<(), ReadError> {
        match &mut self.parsed {
            Parsed::Csv(r) => r.finish(),
            Parsed::Jsonl(r) => r.finish(),
            Parsed::Json(r) => r.finish(),
            Parsed::Sheet(_) => Ok(()),
        }
    }
}

/// A record read but perhaps not yet made into a [`RawRecord`]: see [`Records::next_unbuilt`].
#[derive(Debug, Clone, PartialEq)]
pub struct Unbuilt(UnbuiltKind);

#[derive(Debug, Clone, PartialEq)]
enum UnbuiltKind {
    /// Boxed: a record is a few hundred bytes, a CSV row's fields a few dozen, and every row is
    /// moved into a chunk, through a channel and out again on its way to a validating thread.
    Built(Box<InputRecord>),
    Csv(csv::UnbuiltRow),
}

impl Unbuilt {
    /// The record, built the way its reader would have built it, in `spare` when it is a
    /// CSV row: a record built earlier and done with, whose strings' room is reused (seven
    /// strings a row allocated and freed cost a validating thread about a tenth of its time).
    /// Pass `RawRecord::default()` when there is none.
    pub fn build(self, builder: &RecordBuilder, spare: RawRecord) -> InputRecord {
        match self.0 {
            UnbuiltKind::Built(input) => *input,
            UnbuiltKind::Csv(row) => row.build(&builder.columns, spare),
        }
    }
}

/// What [`Unbuilt::build`] needs from the reader: a CSV header's columns.
#[derive(Debug, Clone, Default)]
pub struct RecordBuilder {
    columns: Box<[map::Column]>,
}

impl Records {
    /// What a validating thread needs to build the records [`Records::next_unbuilt`] yields.
    pub fn record_builder(&self) -> RecordBuilder {
        match &self.parsed {
            Parsed::Csv(r) => RecordBuilder {
                columns: r.columns().into(),
            },
            _ => RecordBuilder::default(),
        }
    }

    /// The next record, as [`Iterator::next`] gives it, except that a CSV row comes as its
    /// fields: making them into a record (a UTF-8 check and a string per field) costs about as
    /// much as reading them, and is left to the threads that validate, through
    /// [`Unbuilt::build`]. Once [`Records::take_time_reading`] has been called, build the record
    /// and then place its times, in that order.
    pub fn next_unbuilt(&mut self) -> Option<Unbuilt> {
        match &mut self.parsed {
            Parsed::Csv(r) if !self.shape => {
                r.next_unbuilt().map(|row| Unbuilt(UnbuiltKind::Csv(row)))
            }
            _ => self
                .next()
                .map(|input| Unbuilt(UnbuiltKind::Built(Box::new(input)))),
        }
    }
}

impl Iterator for Records {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        let mut input = match &mut self.parsed {
            Parsed::Csv(r) => r.next(),
            Parsed::Jsonl(r) => r.next(),
            Parsed::Json(r) => r.next(),
            Parsed::Sheet(r) => r.next(),
        }?;
        if self.shape {
            if let Ok(raw) = &mut input.raw {
                if let Err(problem) = self.times.apply(raw) {
                    input.raw = Err(problem);
                }
            }
        }
        Some(input)
    }
}

/// The record at which an I/O error stopped reading. Yielded as a last, unreadable record (as
/// well as returned by [`Records::finish`]), so that no consumer can take a cut-short read for
/// the whole input.
fn stopped(record: usize, line: usize, err: &io::Error) -> InputRecord {
    InputRecord {
        record,
        line,
        kept: None,
        raw: Err(unreadable(format!(
            "reading stopped here: {err}; the rest of the input was not read"
        ))),
    }
}

fn unreadable(message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(None, Code::RecordUnreadable, message)
}

/// Parses one JSON object into a record. `line` and `column` place the first byte of `bytes` in
/// the file, so an error points at the exact spot. `multi_line` says whether to name the line in
/// the message (a JSON Lines record is on the line the report already names). Keys that name no
/// field are noted in `unknown`.
fn parse_json_record(
    bytes: &[u8],
    (line, column): (usize, usize),
    multi_line: bool,
    unknown: &mut UnknownKeys,
    (keep, kept): (Option<&str>, &mut Option<Scalar>),
) -> Result<RawRecord, Diagnostic> {
    let place = |err_line: usize, err_column: usize| {
        let column = if err_line <= 1 {
            column + err_column.saturating_sub(1)
        } else {
            err_column
        };
        if multi_line {
            format!(
                "line {}, column {column}",
                line + err_line.saturating_sub(1)
            )
        } else {
            format!("column {column}")
        }
    };
    let first = bytes.iter().position(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|at| bytes[at] != b'{') {
        // Not an object: say what it is, or why it is not JSON at all.
        return Err(match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => unreadable(format!(
                "expected a JSON object {{\"caller_number\": ...}}, found {}",
                json_kind(&value)
            )),
            Err(err) => json_error(&err, place(err.line(), err.column())),
        });
    }
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut raw = serde::de::DeserializeSeed::deserialize(
        RecordSeed {
            unknown: &mut keys,
            keep,
            kept,
        },
        &mut de,
    )
    .and_then(|raw| de.end().map(|()| raw))
    .map_err(|err| json_error(&err, place(err.line(), err.column())))?;
    for key in keys {
        unknown.note(key, line);
    }
    blank_is_absent(&mut raw);
    Ok(raw)
}

/// Reads a JSON object into a [`RawRecord`], matching keys to fields as CSV headers are matched
/// ([`field_named`]) and keeping the keys that name no field.
struct RecordSeed<'a> {
    unknown: &'a mut Vec<String>,
    /// The key whose value is kept aside, not a field and not unknown, and where it goes.
    keep: Option<&'a str>,
    kept: &'a mut Option<Scalar>,
}

impl<'de> serde::de::DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = RawRecord;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<RawRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RecordSeed<'_> {
    type Value = RawRecord;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of call record fields")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawRecord, A::Error> {
        let mut raw = RawRecord::default();
        let mut seen: [Option<String>; Field::ALL.len()] = Default::default();
        while let Some(key) = map.next_key::<String>()? {
            if self
                .keep
                .is_some_and(|keep| key.trim().eq_ignore_ascii_case(keep))
            {
                *self.kept = map.next_value::<Option<Scalar>>()?;
                continue;
            }
            let Some(field) = field_named(&key) else {
                map.next_value::<serde::de::IgnoredAny>()?;
                self.unknown.push(key);
                continue;
            };
            let at = Field::ALL.iter().position(|f| *f == field).unwrap_or(0);
            let slot = &mut seen[at];
            if let Some(before) = slot {
                return Err(serde::de::Error::custom(format!(
                    "the record has `{field}` twice (as `{}` and `{}`); keep one",
                    excerpt(before),
                    excerpt(&key)
                )));
            }
            *slot = Some(key);
            raw.set(field, map.next_value::<Option<Scalar>>()?);
        }
        Ok(raw)
    }
}

/// Keys of JSON records that name no field, each with the line it was first seen on: told once,
/// as a warning, the way unknown CSV columns are.
#[derive(Debug, Default)]
pub(crate) struct UnknownKeys {
    keys: Vec<(String, usize)>,
    more: bool,
}

/// Distinct unknown keys a warning names; past it, the warning says there are more.
const MAX_UNKNOWN_KEYS: usize = 20;

impl UnknownKeys {
    fn keys(&self) -> Vec<String> {
        self.keys.iter().map(|(key, _)| key.clone()).collect()
    }

    fn note(&mut self, key: String, line: usize) {
        // Kept as quoted, escaped and cut short: twenty huge keys cannot fill memory.
        let key = excerpt(&key);
        if self.keys.iter().any(|(known, _)| *known == key) {
            return;
        }
        if self.keys.len() < MAX_UNKNOWN_KEYS {
            self.keys.push((key, line));
        } else {
            self.more = true;
        }
    }

    /// The warning for `name` (the input as messages call it), if any key was unknown.
    fn warning(&self, name: &str) -> Option<String> {
        if self.keys.is_empty() {
            return None;
        }
        let list: Vec<String> = self
            .keys
            .iter()
            .map(|(key, line)| match likely_field(key) {
                Some(field) => format!("`{}` (line {line}; did you mean `{field}`?)", excerpt(key)),
                None => format!("`{}` (line {line})", excerpt(key)),
            })
            .collect();
        Some(format!(
            "{name}: ignoring key(s) that are not call record fields: {}{}",
            list.join(", "),
            if self.more { ", and more" } else { "" }
        ))
    }
}

/// The field a misspelt name most likely means: one within two edits of it.
fn likely_field(name: &str) -> Option<Field> {
    let name = name.trim().to_ascii_lowercase();
    Field::ALL
        .into_iter()
        .find(|f| edit_distance(&name, f.wire_name()) <= 2)
}

/// Levenshtein distance, for spotting misspelt column names and keys.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn json_error(err: &serde_json::Error, place: String) -> Diagnostic {
    // serde_json ends its message with "at line 1 column N", relative to the record, not the file.
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let reason = text.strip_suffix(&suffix).unwrap_or(&text);
    unreadable(format!(
        "invalid JSON: {reason} at {place}; fix the JSON syntax of this record"
    ))
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A JSON record may hold `""` where a CSV cell is empty: both mean the field is absent, so
/// both inputs get the same diagnostics (`missing_field`, not `timestamp_invalid`).
fn blank_is_absent(raw: &mut RawRecord) {
    for field in Field::ALL {
        if matches!(raw.get(field), Some(Scalar::Text(text)) if text.trim().is_empty()) {
            raw.set(field, None);
        }
    }
}

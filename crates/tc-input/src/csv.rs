//! CSV: a header row of wire field names, then one record per row.
//!
//! Rows are framed line by line and parsed with `csv-core`, so a row that goes wrong can be
//! re-read: a stray `"` at the start of a field opens a quoted field that would otherwise swallow
//! every following row up to the next `"`. When a row spans several lines and does not come out
//! with the header's number of fields, or its quote never closes, the row's first line is
//! reported unreadable and the lines after it are read again as rows of their own.

use super::lines::{Line, Lines};
use super::map::{Column, Layout};
use super::{stopped, unreadable, InputRecord, ReadError, MAX_RECORD_BYTES};
use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use std::io::{self, BufRead};
use tc_core::{Diagnostic, Field, RawRecord};

/// A quoted field may hold line breaks, but never this many: past it the quote is a stray one.
const MAX_ROW_LINES: usize = 100;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The separators tried, in this order, when the header does not split on commas.
const OTHER_DELIMITERS: [u8; 2] = [b';', b'\t'];

const UNCLOSED_QUOTE: &str =
    "a quoted field that starts on this line is never closed (a stray `\"` at \
     the start of a field); the lines after it were read as rows of their own. Close the quote, or \
     double it (\"\") if it is part of the text";

pub struct CsvRecords<R> {
    name: String,
    lines: Lines<R>,
    parser: Reader,
    /// The separator `parser` splits on.
    delimiter: u8,
    /// What each column feeds, by position.
    columns: Vec<Column>,
    /// The current row's bytes as read, and where each of its lines starts in them.
    raw: Vec<u8>,
    line_starts: Vec<usize>,
    /// The current row's unquoted field contents, end to end, and where each field ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
    field_count: usize,
    /// Where rows handed to other threads are copied.
    arena: RowArena,
    next_record: usize,
    warnings: Vec<String>,
    error: Option<ReadError>,
    done: bool,
}

enum Row {
    /// Parsed into `fields`/`ends`.
    Parsed {
        line: usize,
    },
    Broken {
        line: usize,
        message: String,
    },
}

impl<R: BufRead> CsvRecords<R> {
    /// Reads the header row of a comma-separated input whose headers are the wire names.
    #[cfg(test)]
    pub fn new(reader: R, name: String) -> Result<Self, ReadError> {
        Self::with_layout(reader, name, &Layout::default(), Some(b','))
    }

    /// Reads the header row, and works out from it which column feeds which field. Without a
    /// `delimiter`, a header that does not split on commas but does on `;` or a tab is read
    /// that way. A missing or unreadable header, or a required field no column feeds, is an
    /// error: no row could be checked without it.
    pub fn with_layout(
        reader: R,
        name: String,
        layout: &Layout,
        delimiter: Option<u8>,
    ) -> Result<Self, ReadError> {
        let mut this = CsvRecords {
            name,
            lines: Lines::new(reader),
            parser: parser(delimiter.unwrap_or(b',')),
            delimiter: delimiter.unwrap_or(b','),
            columns: Vec::new(),
            raw: Vec::with_capacity(512),
            line_starts: Vec::with_capacity(4),
            fields: vec![0; 1024],
            ends: vec![0; 16],
            field_count: 0,
            arena: RowArena::default(),
            next_record: 1,
            warnings: Vec::new(),
            error: None,
            done: false,
        };
        let mut header = this
            .read_row(None)
            .map_err(|err| ReadError::io(&this.name, err))?;
        if let (None, Some(Row::Parsed { line })) = (delimiter, &header) {
            if let Some(other) = this.other_delimiter() {
                // Read the header again, split the way it does split.
                let line = *line;
                let raw = std::mem::take(&mut this.raw);
                this.lines.unread(&raw, line);
                this.parser = parser(other);
                this.delimiter = other;
                header = this
                    .read_row(None)
                    .map_err(|err| ReadError::io(&this.name, err))?;
            }
        }
        let name = &this.name;
        match header {
            None => Err(ReadError::malformed(format!(
                "{name} is empty: a CSV file starts with a header row naming its columns, such as {}",
                Field::ALL.map(Field::wire_name).join(",")
            ))),
            Some(Row::Broken { message, .. }) => {
                Err(ReadError::malformed(format!(
                    "cannot read the header row of {name}: {message}"
                )))
            }
            Some(Row::Parsed { .. }) => {
                let names: Vec<String> = (0..this.field_count)
                    .map(|i| {
                        let text = String::from_utf8_lossy(this.field(i));
                        text.trim_start_matches('\u{feff}').trim().to_owned()
                    })
                    .collect();
                let (columns, warning) = layout.columns(&this.name, &names)?;
                this.columns = columns;
                this.warnings.extend(warning);
                Ok(this)
            }
        }
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn finish(&mut self) -> Result<(), ReadError> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// The separator the header row splits on, when it does not split on commas: the header
    /// just read is one field, and holds exactly one of the other separators.
    fn other_delimiter(&self) -> Option<u8> {
        if self.field_count != 1 {
            return None;
        }
        let header = self.field(0);
        let mut found = OTHER_DELIMITERS.into_iter().filter(|d| header.contains(d));
        match (found.next(), found.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.fields[start..self.ends[i]]
    }

    /// Reads the next non-blank row into `fields`/`ends`. With `expected` (the header's width),
    /// a row spanning lines that comes out with another width is taken for a stray quote.
    fn read_row(&mut self, expected: Option<usize>) -> io::Result<Option<Row>> {
        self.raw.clear();
        self.line_starts.clear();
        let first = loop {
            let Some(line) = self.lines.read_line(&mut self.raw)? else {
                return Ok(None);
            };
            if line.overlong {
                return Ok(Some(Row::Broken {
                    line: line.number,
                    message: overlong_message(),
                }));
            }
            let content = self.raw.strip_prefix(BOM).unwrap_or(&self.raw);
            if content.iter().all(u8::is_ascii_whitespace) {
                self.raw.clear();
                continue;
            }
            break line;
        };
        self.line_starts.push(0);
        if let Some(count) =
            split_plain(&self.raw, self.delimiter, &mut self.fields, &mut self.ends)
        {
            self.field_count = count;
            return Ok(Some(Row::Parsed { line: first.number }));
        }
        self.parser.reset();
        let mut last: Line = first;
        let (mut at, mut nout, mut nend) = (0, 0, 0);
        let mut end_of_input = false;
        loop {
            let input = if end_of_input {
                &[][..]
            } else {
                &self.raw[at..]
            };
            let (result, nin, o, e) =
                self.parser
                    .read_record(input, &mut self.fields[nout..], &mut self.ends[nend..]);
            at += nin;
            nout += o;
            nend += e;
            match result {
                ReadRecordResult::OutputFull => self.fields.resize(self.fields.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record | ReadRecordResult::End => break,
                ReadRecordResult::InputEmpty if end_of_input => break,
                // The file's last line has no line break: the row ends with the input.
                ReadRecordResult::InputEmpty if !last.terminated => end_of_input = true,
                // A line ended inside a quoted field: the row goes on with the next line.
                ReadRecordResult::InputEmpty => {
                    if self.line_starts.len() >= MAX_ROW_LINES || self.raw.len() >= MAX_RECORD_BYTES
                    {
                        return Ok(Some(self.unclosed_quote(first.number)));
                    }
                    let start = self.raw.len();
                    match self.lines.read_line(&mut self.raw)? {
                        Some(line) if !line.overlong => {
                            self.line_starts.push(start);
                            last = line;
                        }
                        _ => {
                            self.line_starts.push(start);
                            return Ok(Some(self.unclosed_quote(first.number)));
                        }
                    }
                }
            }
        }
        self.field_count = nend;
        if self.line_starts.len() > 1 && expected.is_some_and(|width| width != nend) {
            return Ok(Some(self.unclosed_quote(first.number)));
        }
        // A lone `\r` ends a row too; whatever follows it on the line is the next row.
        let rest = &self.raw[at..];
        if rest.iter().any(|&b| b != b'\r' && b != b'\n') {
            self.lines.unread(rest, last.number);
        }
        Ok(Some(Row::Parsed { line: first.number }))
    }

    /// Gives back every line of the current row after its first, to be read again as rows.
    fn unclosed_quote(&mut self, first: usize) -> Row {
        if let Some(&second) = self.line_starts.get(1) {
            if second < self.raw.len() {
                self.lines.unread(&self.raw[second..], first + 1);
            }
        }
        Row::Broken {
            line: first,
            message: UNCLOSED_QUOTE.to_owned(),
        }
    }

    /// The current row's fields, as the header's columns read them.
    fn current(&self) -> FieldsRef<'_> {
        FieldsRef::of(&self.fields, &self.ends[..self.field_count])
    }

    /// The header's columns, by position: what [`UnbuiltRow::build`] needs.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The next row with its fields copied out but not yet made into a record: the UTF-8
    /// checks and a string per field are left to [`UnbuiltRow::build`], on another thread.
    pub fn next_unbuilt(&mut self) -> Option<UnbuiltRow> {
        let (record, line, row) = self.next_row()?;
        Some(UnbuiltRow {
            record,
            line,
            fields: row.map(|()| {
                let current = FieldsRef::of(&self.fields, &self.ends[..self.field_count]);
                self.arena.hand_over(current)
            }),
        })
    }

    /// The next row's place, and its fields left in `fields`/`ends`, or why it is unreadable.
    fn next_row(&mut self) -> Option<(usize, usize, Result<(), Diagnostic>)> {
        if self.done {
            return None;
        }
        let row = match self.read_row(Some(self.columns.len())) {
            Ok(Some(row)) => row,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(err) => {
                let stopped = stopped(self.next_record, self.lines.next_number(), &err);
                self.error = Some(ReadError::io(&self.name, err));
                self.done = true;
                return Some((stopped.record, stopped.line, stopped.raw.map(|_| ())));
            }
        };
        let record = self.next_record;
        self.next_record += 1;
        Some(match row {
            Row::Parsed { line } => (record, line, Ok(())),
            Row::Broken { line, message } => (record, line, Err(unreadable(message))),
        })
    }
}

/// A row's unquoted field contents end to end, and where each field ends.
#[derive(Debug, Clone, Copy)]
struct FieldsRef<'a> {
    bytes: &'a [u8],
    ends: &'a [usize],
}

impl<'a> FieldsRef<'a> {
    /// The fields of a row parsed into `fields` and `ends`, `ends` cut to the row's fields.
    fn of(fields: &'a [u8], ends: &'a [usize]) -> FieldsRef<'a> {
        let len = ends.last().copied().unwrap_or(0);
        FieldsRef {
            bytes: &fields[..len],
            ends,
        }
    }
}

/// A row's fields, owned: what the reading thread hands to a validating one. The field bytes,
/// then where each field ends as 4 little-endian bytes (a row is far shorter than 4 GiB: see
/// [`MAX_RECORD_BYTES`]), in a slice of a buffer many rows share ([`RowArena`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFields {
    data: bytes::Bytes,
    /// Where the field bytes end and the ends begin.
    len: usize,
}

/// Where the reading thread puts the rows it hands over: a buffer of many rows, each row a
/// counted share of it. A row allocated by the reader and freed by a validating thread cost
/// the allocator more than the row's copy; the buffer goes when its last row has been built.
#[derive(Debug, Default)]
struct RowArena(bytes::BytesMut);

impl RowArena {
    /// Room for about two thousand rows of an export.
    const BYTES: usize = 256 * 1024;

    fn hand_over(&mut self, row: FieldsRef<'_>) -> CsvFields {
        let needed = row.bytes.len() + 4 * row.ends.len();
        if self.0.capacity() < needed {
            // The rows handed over keep the old buffer alive; this one starts afresh.
            self.0 = bytes::BytesMut::with_capacity(Self::BYTES.max(needed));
        }
        self.0.extend_from_slice(row.bytes);
        for &end in row.ends {
            let end = u32::try_from(end).unwrap_or(u32::MAX);
            self.0.extend_from_slice(&end.to_le_bytes());
        }
        CsvFields {
            data: self.0.split().freeze(),
            len: row.bytes.len(),
        }
    }
}

impl CsvFields {
    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }

    fn ends(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.data[self.len..]
            .chunks_exact(4)
            .map(|end| end.try_into().map_or(0, u32::from_le_bytes) as usize)
    }
}

/// A CSV row read and split into fields, not yet made into a record.
#[derive(Debug, Clone, PartialEq)]
pub struct UnbuiltRow {
    pub record: usize,
    pub line: usize,
    pub fields: Result<CsvFields, Diagnostic>,
}

impl UnbuiltRow {
    /// The row as a record, read through the header's `columns`, in `spare` (a record of an
    /// earlier row, whose strings' room is reused; what it held does not matter).
    pub fn build(self, columns: &[Column], spare: RawRecord) -> InputRecord {
        let raw = self
            .fields
            .and_then(|fields| to_record(columns, fields.bytes(), fields.ends(), spare));
        InputRecord {
            record: self.record,
            line: self.line,
            raw,
            kept: None,
        }
    }
}

/// A row as a record, or why it cannot be one, in `raw`: every field the columns give is set
/// (or left absent), and every other one is cleared, so what `raw` held before does not matter.
fn to_record(
    columns: &[Column],
    row: &[u8],
    ends: impl ExactSizeIterator<Item = usize>,
    mut raw: RawRecord,
) -> Result<RawRecord, Diagnostic> {
    if ends.len() != columns.len() {
        return Err(unreadable(format!(
            "the row has {} fields but the header has {}; a value that holds a comma must be \
             in double quotes",
            ends.len(),
            columns.len()
        )));
    }
    // One UTF-8 check for the whole row: field boundaries fall on the row's separators, so a
    // valid row slices into valid fields (a field that cuts a character is checked alone).
    let row_text = simdutf8::basic::from_utf8(row).ok();
    for field in Field::ALL {
        if !columns.iter().any(|column| column.sets(field)) {
            raw.set(field, None);
        }
    }
    let mut start = 0;
    for (column, end) in columns.iter().zip(ends) {
        let range = start..end;
        start = end;
        let field = match *column {
            Column::Field(field) => field,
            Column::CallTime => Field::StartsAt,
            Column::Ignored => continue,
        };
        let bytes = row.get(range.clone()).unwrap_or_default();
        let text = row_text.and_then(|text| text.get(range));
        match text.map_or_else(|| std::str::from_utf8(bytes), Ok) {
            Ok(text) if *column == Column::CallTime => {
                raw.set_text(Field::StartsAt, text);
                raw.set_text(Field::EndsAt, text);
            }
            Ok(text) => raw.set_text(field, text),
            Err(err) => {
                return Err(unreadable(format!(
                    "the {field} column is not valid UTF-8 (byte 0x{:02X} at position {}); save \
                     the file as UTF-8",
                    bytes[err.valid_up_to()],
                    err.valid_up_to() + 1
                )))
            }
        }
    }
    Ok(raw)
}

impl<R: BufRead> Iterator for CsvRecords<R> {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        let (record, line, row) = self.next_row()?;
        Some(InputRecord {
            record,
            line,
            kept: None,
            raw: row.and_then(|()| {
                let current = self.current();
                let ends = current.ends.iter().copied();
                to_record(&self.columns, current.bytes, ends, RawRecord::default())
            }),
        })
    }
}

fn overlong_message() -> String {
    format!(
        "the line is longer than {} MiB, far more than any call record; check that the file is a \
         CSV file with one record per line",
        MAX_RECORD_BYTES >> 20
    )
}

/// The fields of a row on one line that holds no quote and no carriage return but in its line
/// break, split on `delimiter` into `fields` and `ends` as the CSV parser would split them (the
/// bytes between separators, as they are): most rows of an export, read with a few vectorised
/// searches instead of the parser's state machine, which was an eighth of `validate`'s time.
/// `None`, touching nothing, for any other line; the parser reads it.
fn split_plain(
    line: &[u8],
    delimiter: u8,
    fields: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> Option<usize> {
    let content = line.strip_suffix(b"\n").unwrap_or(line);
    let content = content.strip_suffix(b"\r").unwrap_or(content);
    // The parser skips an empty line; `read_row` never asks about one.
    if content.is_empty() || memchr::memchr3(b'"', b'\r', b'\n', content).is_some() {
        return None;
    }
    if fields.len() < content.len() {
        fields.resize(content.len(), 0);
    }
    let (mut count, mut out, mut start) = (0, 0, 0);
    for at in memchr::memchr_iter(delimiter, content).chain([content.len()]) {
        let field = &content[start..at];
        fields[out..out + field.len()].copy_from_slice(field);
        out += field.len();
        if count == ends.len() {
            ends.resize(ends.len() * 2 + 1, 0);
        }
        ends[count] = out;
        count += 1;
        start = at + 1;
    }
    Some(count)
}

fn parser(delimiter: u8) -> Reader {
    ReaderBuilder::new().delimiter(delimiter).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields the CSV parser makes of `line`.
    fn by_the_parser(line: &[u8], delimiter: u8) -> Vec<Vec<u8>> {
        let mut reader = parser(delimiter);
        let (mut fields, mut ends) = (vec![0; 4096], vec![0; 512]);
        let (mut at, mut nout, mut nend) = (0, 0, 0);
        loop {
            let input = &line[at.min(line.len())..];
            let (result, nin, o, e) =
                reader.read_record(input, &mut fields[nout..], &mut ends[nend..]);
            (at, nout, nend) = (at + nin, nout + o, nend + e);
            match result {
                ReadRecordResult::InputEmpty if input.is_empty() => break,
                ReadRecordResult::InputEmpty => {}
                _ => break,
            }
        }
        split_at_ends(&fields, &ends[..nend])
    }

    fn split_at_ends(fields: &[u8], ends: &[usize]) -> Vec<Vec<u8>> {
        let mut start = 0;
        ends.iter()
            .map(|&end| {
                let field = fields[start..end].to_vec();
                start = end;
                field
            })
            .collect()
    }

    #[test]
    fn plain_lines_split_as_the_parser_splits_them() {
        let alphabet: &[&[u8]] = &[
            b"a",
            b"9",
            b" ",
            b",",
            b";",
            b"\t",
            b"\"",
            b"\r",
            "é".as_bytes(),
            "🏦".as_bytes(),
            b"+",
        ];
        let mut x: u64 = 7;
        let mut split = 0;
        for _ in 0..50_000 {
            let mut line = Vec::new();
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for _ in 0..(x >> 59) {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                line.extend_from_slice(alphabet[(x >> 33) as usize % alphabet.len()]);
            }
            line.extend_from_slice(match x % 3 {
                0 => &b"\n"[..],
                1 => b"\r\n",
                _ => b"",
            });
            for delimiter in [b',', b';', b'\t'] {
                let (mut fields, mut ends) = (vec![0; 2], vec![0; 1]);
                if let Some(count) = split_plain(&line, delimiter, &mut fields, &mut ends) {
                    split += 1;
                    assert_eq!(
                        split_at_ends(&fields, &ends[..count]),
                        by_the_parser(&line, delimiter),
                        "{:?}",
                        String::from_utf8_lossy(&line)
                    );
                }
            }
        }
        assert!(split > 10_000, "only {split} lines were plain");
    }
}

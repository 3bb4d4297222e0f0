//! JSON: an array of records, or the API body `{"call_records": [...]}` (other keys allowed).
//!
//! Streamed, never loaded whole: a byte-level scanner finds each element of the records array
//! (tracking strings, escapes and nesting) and serde_json parses that element alone, so a broken
//! element costs only itself. A line break inside a string cannot be valid JSON; the scanner
//! takes it for an unclosed string and picks up again at the next line that starts a record.

use super::{parse_json_record, stopped, unreadable, InputRecord, ReadError, MAX_RECORD_BYTES};
use std::io::{self, BufRead};
use tc_core::Field;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Right after `[` (or after skipping a broken record): a record or `]` comes next.
    First,
    /// After a record: `,` or `]` comes next.
    AfterElement,
    Done,
}

/// How a scanned value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scanned {
    Complete,
    EndOfInput,
    LineBreakInString,
}

pub struct JsonRecords<R> {
    name: String,
    cur: Cursor<R>,
    api_body: bool,
    state: State,
    next_record: usize,
    error: Option<ReadError>,
}

impl<R: BufRead> JsonRecords<R> {
    /// Reads up to the start of the records array; a file with no such array is an error.
    pub fn new(reader: R, name: String) -> Result<Self, ReadError> {
        let mut this = JsonRecords {
            name,
            cur: Cursor {
                reader,
                line: 1,
                column: 1,
                keep: false,
                kept: Vec::new(),
                overlong: false,
            },
            api_body: false,
            state: State::First,
            next_record: 1,
            error: None,
        };
        match this.find_array() {
            Ok(Ok(())) => Ok(this),
            Ok(Err(message)) => Err(ReadError::new(format!("{}: {message}", this.name))),
            Err(err) => Err(ReadError::io(&this.name, &err)),
        }
    }

    pub fn is_api_body(&self) -> bool {
        self.api_body
    }

    pub fn finish(&mut self) -> Result<(), ReadError> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Moves past the `[` that opens the records: the first byte, or the value of the body's
    /// `call_records` key.
    fn find_array(&mut self) -> io::Result<Result<(), String>> {
        self.cur.skip_bom()?;
        match self.cur.skip_ws()? {
            Some(b'[') => {
                self.cur.bump(b'[');
                return Ok(Ok(()));
            }
            Some(b'{') => self.cur.bump(b'{'),
            None => return Ok(Err(NO_ARRAY.to_owned() + " (the file is empty)")),
            Some(_) => {
                return Ok(Err(format!(
                    "{NO_ARRAY} (it starts with something else at line {})",
                    self.cur.line
                )))
            }
        }
        let mut looks_like_a_record = false;
        loop {
            let line = self.cur.line;
            match self.cur.skip_ws()? {
                Some(b'"') => {}
                Some(b'}') => break,
                None => return Ok(Err(format!("the file ends at line {line} before any `call_records` array; it looks cut short"))),
                Some(_) => return Ok(Err(format!("expected a key in double quotes at line {line}; {NO_ARRAY}"))),
            }
            self.cur.start_keeping();
            let scanned = self.cur.scan_value()?;
            let key_bytes = self.cur.stop_keeping().0;
            let key = match scanned {
                Scanned::Complete => {
                    serde_json::from_slice::<String>(&key_bytes).unwrap_or_default()
                }
                _ => {
                    return Ok(Err(format!(
                        "a key on line {line} is never closed; {NO_ARRAY}"
                    )))
                }
            };
            if self.cur.skip_ws()? != Some(b':') {
                return Ok(Err(format!(
                    "expected `:` after the key `{key}` on line {line}"
                )));
            }
            self.cur.bump(b':');
            let value_line = self.cur.line;
            if key == "call_records" {
                return Ok(match self.cur.skip_ws()? {
                    Some(b'[') => {
                        self.cur.bump(b'[');
                        self.api_body = true;
                        Ok(())
                    }
                    _ => Err(format!(
                        "`call_records` on line {value_line} is not an array of records"
                    )),
                });
            }
            looks_like_a_record |= Field::from_wire_name(&key).is_some();
            self.cur.skip_ws()?;
            if self.cur.scan_value()? != Scanned::Complete {
                return Ok(Err(format!(
                    "the value of `{key}` on line {value_line} is malformed or cut short"
                )));
            }
            match self.cur.skip_ws()? {
                Some(b',') => self.cur.bump(b','),
                Some(b'}') => break,
                _ => {
                    return Ok(Err(format!(
                        "expected `,` or `}}` after the value of `{key}` (line {})",
                        self.cur.line
                    )))
                }
            }
        }
        Ok(Err(if looks_like_a_record {
            "the file holds a single call record object, not a list of them: put the records in an \
             array [...] or in the API body {\"call_records\": [...]}; for one object per line, use \
             --format jsonl"
                .to_owned()
        } else {
            format!("{NO_ARRAY} (the object has no `call_records` key)")
        }))
    }

    fn step(&mut self) -> io::Result<Option<InputRecord>> {
        let mut missing_comma = false;
        match self.state {
            State::Done => return Ok(None),
            State::First => match self.cur.skip_ws()? {
                Some(b']') => return Ok(self.close()),
                None => return Ok(Some(self.cut_short())),
                Some(_) => {}
            },
            State::AfterElement => match self.cur.skip_ws()? {
                Some(b',') => {
                    self.cur.bump(b',');
                    match self.cur.skip_ws()? {
                        // A trailing comma loses nothing: tolerate it.
                        Some(b']') => return Ok(self.close()),
                        None => return Ok(Some(self.cut_short())),
                        Some(_) => {}
                    }
                }
                Some(b']') => return Ok(self.close()),
                None => return Ok(Some(self.cut_short())),
                Some(_) => missing_comma = true,
            },
        }
        let (line, column) = (self.cur.line, self.cur.column);
        let record = self.next_record;
        self.cur.start_keeping();
        let scanned = self.cur.scan_value()?;
        self.next_record += 1;
        let (kept, overlong) = self.cur.stop_keeping();
        self.state = State::AfterElement;
        let raw = match scanned {
            Scanned::EndOfInput => {
                self.state = State::Done;
                Err(unreadable(format!(
                    "the file ends inside this record (it starts at line {line}, column {column}); \
                     the file looks cut short"
                )))
            }
            Scanned::LineBreakInString => {
                let at = self.cur.line;
                self.resync()?;
                Err(unreadable(format!(
                    "a string is not closed before the end of line {at}; close its quote (a line \
                     break inside a string is written \\n)"
                )))
            }
            Scanned::Complete if overlong => Err(unreadable(format!(
                "the record is larger than {} MiB, far more than any call record",
                MAX_RECORD_BYTES >> 20
            ))),
            Scanned::Complete if missing_comma => Err(unreadable(format!(
                "a `,` is missing before this record (line {line}, column {column}); records in \
                 an array are separated by commas"
            ))),
            Scanned::Complete => parse_json_record(&kept, line, column, true),
        };
        self.cur.kept = kept;
        Ok(Some(InputRecord { record, line, raw }))
    }

    fn close(&mut self) -> Option<InputRecord> {
        self.cur.bump(b']');
        self.state = State::Done;
        None
    }

    /// The input ended where a record or the closing `]` should be. Reported as one more
    /// unreadable record, so a cut-short file never passes as complete.
    fn cut_short(&mut self) -> InputRecord {
        self.state = State::Done;
        let record = self.next_record;
        self.next_record += 1;
        InputRecord {
            record,
            line: self.cur.line,
            raw: Err(unreadable(
                "the file ends before the `]` that closes the array of records; it looks cut short, \
                 so records may be missing",
            )),
        }
    }

    /// After an unclosed string: skips to the next line that starts a record (`{`) or ends
    /// the array (`]`).
    fn resync(&mut self) -> io::Result<()> {
        loop {
            while let Some(b) = self.cur.peek()? {
                self.cur.bump(b);
                if b == b'\n' {
                    break;
                }
            }
            while let Some(b @ (b' ' | b'\t' | b'\r')) = self.cur.peek()? {
                self.cur.bump(b);
            }
            match self.cur.peek()? {
                Some(b'{') => {
                    self.state = State::First;
                    return Ok(());
                }
                Some(b']') => {
                    self.close();
                    return Ok(());
                }
                None => {
                    self.state = State::Done;
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}

const NO_ARRAY: &str = "expected a JSON array of call records [...] or the API body \
     {\"call_records\": [...]}; for one object per line, use --format jsonl";

impl<R: BufRead> Iterator for JsonRecords<R> {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        match self.step() {
            Ok(record) => record,
            Err(err) => {
                self.error = Some(ReadError::io(&self.name, &err));
                self.state = State::Done;
                Some(stopped(self.next_record, self.cur.line, &err))
            }
        }
    }
}

/// A byte cursor over the input that knows its line and column and can keep the bytes it passes.
struct Cursor<R> {
    reader: R,
    line: usize,
    column: usize,
    keep: bool,
    kept: Vec<u8>,
    overlong: bool,
}

impl<R: BufRead> Cursor<R> {
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.reader.fill_buf() {
                Ok(bytes) => return Ok(bytes.first().copied()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }

    /// Moves past `b`, the byte [`Cursor::peek`] just returned.
    fn bump(&mut self, b: u8) {
        self.reader.consume(1);
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        if self.keep {
            if self.kept.len() < MAX_RECORD_BYTES {
                self.kept.push(b);
            } else {
                self.overlong = true;
            }
        }
    }

    fn start_keeping(&mut self) {
        self.kept.clear();
        self.keep = true;
        self.overlong = false;
    }

    /// The bytes kept since [`Cursor::start_keeping`], and whether some had to be dropped.
    fn stop_keeping(&mut self) -> (Vec<u8>, bool) {
        self.keep = false;
        (std::mem::take(&mut self.kept), self.overlong)
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        let buf = self.reader.fill_buf()?;
        if buf.starts_with(b"\xEF\xBB\xBF") {
            self.reader.consume(3);
        }
        Ok(())
    }

    /// Skips JSON whitespace; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                return Ok(Some(b));
            }
            self.bump(b);
        }
        Ok(None)
    }

    /// Moves past one JSON value: an object or array (to its matching close), a string, or a
    /// bare scalar. Never consumes nothing, so a stray byte cannot stall the caller.
    fn scan_value(&mut self) -> io::Result<Scanned> {
        let Some(first) = self.peek()? else {
            return Ok(Scanned::EndOfInput);
        };
        self.bump(first);
        match first {
            b'{' | b'[' => self.scan_nested(),
            b'"' => self.scan_string(),
            _ => {
                while let Some(b) = self.peek()? {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.bump(b);
                }
                Ok(Scanned::Complete)
            }
        }
    }

    /// After an opening `{` or `[`: to its matching close, skipping brackets inside strings.
    fn scan_nested(&mut self) -> io::Result<Scanned> {
        let mut depth = 1usize;
        while let Some(b) = self.peek()? {
            self.bump(b);
            match b {
                b'"' => match self.scan_string()? {
                    Scanned::Complete => {}
                    other => return Ok(other),
                },
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(Scanned::Complete);
                    }
                }
                _ => {}
            }
        }
        Ok(Scanned::EndOfInput)
    }

    /// After an opening `"`: to the closing one, past escapes. Stops before a raw line break.
    fn scan_string(&mut self) -> io::Result<Scanned> {
        let mut escaped = false;
        while let Some(b) = self.peek()? {
            if b == b'\n' {
                return Ok(Scanned::LineBreakInString);
            }
            self.bump(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                return Ok(Scanned::Complete);
            }
        }
        Ok(Scanned::EndOfInput)
    }
}

//! JSON: an array of records, or the API body `{"call_records": [...]}` (other keys allowed).
//!
//! Streamed, never loaded whole: a byte-level scanner finds each element of the records array
//! (tracking strings, escapes and nesting) and serde_json parses that element alone, so a broken
//! element costs only itself. A line break inside a string cannot be valid JSON; the scanner
//! takes it for an unclosed string and picks up again at the next line that starts a record.

use super::{
    field_named, parse_json_record, stopped, unreadable, InputRecord, ReadError, UnknownKeys,
    MAX_RECORD_BYTES,
};
use std::io::{self, BufRead};
use tc_core::diagnostic::excerpt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Right after `[` (or after skipping a broken record): a record or `]` comes next.
    First,
    /// After a record: `,` or `]` comes next.
    AfterElement,
    /// After the `]` that closes a records array: the rest of the API body, then nothing but
    /// white space (or, in files joined together, another array or body).
    AfterArray,
    Done,
}

/// What the members of an object led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Members {
    /// A `call_records` key whose array is now open.
    Records,
    /// The object closed without (another) `call_records` key; whether one of its keys is a
    /// call record field.
    End { looks_like_a_record: bool },
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
    /// Inside an API body whose records array has closed: its other keys may follow.
    in_body: bool,
    /// Records arrays opened so far; more than one is worth a warning.
    arrays: usize,
    state: State,
    next_record: usize,
    warnings: Vec<String>,
    unknown: UnknownKeys,
    /// The key whose value each record keeps aside (`ReadOptionsBuilder::keep_key`).
    keep: Option<Box<str>>,
    error: Option<ReadError>,
}

impl<R: BufRead> JsonRecords<R> {
    /// Reads up to the start of the records array; a file with no such array is an error.
    pub fn new(reader: R, name: String, keep: Option<Box<str>>) -> Result<Self, ReadError> {
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
            in_body: false,
            arrays: 0,
            state: State::First,
            next_record: 1,
            warnings: Vec::new(),
            unknown: UnknownKeys::default(),
            keep,
            error: None,
        };
        match this.find_array() {
            Ok(Ok(())) => Ok(this),
            Ok(Err(message)) => Err(ReadError::malformed(format!("{}: {message}", this.name))),
            Err(err) => Err(ReadError::io(&this.name, err)),
        }
    }

    pub fn is_api_body(&self) -> bool {
        self.api_body
    }

    /// Things worth telling the user that did not stop reading: a second records array, keys
    /// of the records read so far that name no field.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        warnings.extend(self.unknown.warning(&self.name));
        warnings
    }

    pub fn unknown_keys(&self) -> Vec<String> {
        self.unknown.keys()
    }

    pub fn finish(&mut self) -> Result<(), ReadError> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Moves past the `[` that opens the records: the first byte, or the value of the body's
    /// `call_records` key.
    fn find_array(&mut self) -> io::Result<Result<(), String>> {
        self.cur.skip_bom()?;
        if self.cur.skip_ws()?.is_none() {
            return Ok(Err(NO_ARRAY.to_owned() + " (the file is empty)"));
        }
        self.open_value()
    }

    /// At a JSON value that should hold records: opens its records array.
    fn open_value(&mut self) -> io::Result<Result<(), String>> {
        match self.cur.skip_ws()? {
            Some(b'[') => {
                self.cur.bump(b'[');
                self.arrays += 1;
                return Ok(Ok(()));
            }
            Some(b'{') => self.cur.bump(b'{'),
            None => {
                return Ok(Err(format!(
                    "the file ends at line {} where a value was expected; it looks cut short",
                    self.cur.line
                )))
            }
            Some(_) => {
                return Ok(Err(format!(
                    "{NO_ARRAY} (it starts with something else at line {})",
                    self.cur.line
                )))
            }
        }
        Ok(match self.members()? {
            Ok(Members::Records) => Ok(()),
            Ok(Members::End {
                looks_like_a_record: true,
            }) => Err(ONE_RECORD.to_owned()),
            Ok(Members::End { .. }) => {
                Err(format!("{NO_ARRAY} (the object has no `call_records` key)"))
            }
            Err(message) => Err(message),
        })
    }

    /// Reads the keys of an open object, skipping their values, up to a `call_records` key
    /// (whose array it opens) or the object's end.
    fn members(&mut self) -> io::Result<Result<Members, String>> {
        let mut looks_like_a_record = false;
        loop {
            let line = self.cur.line;
            match self.cur.skip_ws()? {
                Some(b'"') => {}
                Some(b'}') => {
                    self.cur.bump(b'}');
                    return Ok(Ok(Members::End {
                        looks_like_a_record,
                    }));
                }
                None => {
                    return Ok(Err(format!(
                        "the file ends at line {line} inside an object; it looks cut short"
                    )))
                }
                Some(_) => {
                    return Ok(Err(format!(
                        "expected a key in double quotes at line {line}; {NO_ARRAY}"
                    )))
                }
            }
            let key = match self.key(line)? {
                Ok(key) => key,
                Err(message) => return Ok(Err(message)),
            };
            let shown = excerpt(&key);
            let value_line = self.cur.line;
            // Matched as field names are: surrounding white space and ASCII case do not matter.
            if key.trim().eq_ignore_ascii_case("call_records") {
                return self.open_records(value_line);
            }
            looks_like_a_record |= field_named(&key).is_some();
            self.cur.skip_ws()?;
            if self.cur.scan_value()? != Scanned::Complete {
                return Ok(Err(format!(
                    "the value of `{shown}` on line {value_line} is malformed or cut short"
                )));
            }
            match self.cur.skip_ws()? {
                Some(b',') => self.cur.bump(b','),
                Some(b'}') => {
                    self.cur.bump(b'}');
                    return Ok(Ok(Members::End {
                        looks_like_a_record,
                    }));
                }
                _ => {
                    return Ok(Err(format!(
                        "expected `,` or `}}` after the value of `{shown}` (line {})",
                        self.cur.line
                    )))
                }
            }
        }
    }

    /// At the `"` that opens a key: reads the key and the `:` after it.
    fn key(&mut self, line: usize) -> io::Result<Result<String, String>> {
        self.cur.start_keeping();
        let scanned = self.cur.scan_value()?;
        let key_bytes = self.cur.stop_keeping().0;
        if scanned != Scanned::Complete {
            return Ok(Err(format!(
                "a key on line {line} is never closed; {NO_ARRAY}"
            )));
        }
        let key = serde_json::from_slice::<String>(&key_bytes).unwrap_or_default();
        if self.cur.skip_ws()? != Some(b':') {
            return Ok(Err(format!(
                "expected `:` after the key `{}` on line {line}",
                excerpt(&key)
            )));
        }
        self.cur.bump(b':');
        Ok(Ok(key))
    }

    /// After a `call_records` key and its `:`: opens its array.
    fn open_records(&mut self, line: usize) -> io::Result<Result<Members, String>> {
        if self.cur.skip_ws()? != Some(b'[') {
            return Ok(Err(format!(
                "`call_records` on line {line} is not an array of records"
            )));
        }
        self.cur.bump(b'[');
        // Told once, however many arrays follow: the warnings stay bounded.
        if self.arrays == 1 {
            self.warnings.push(format!(
                "{}: another records array starts on line {line} (a second `call_records` key, \
                 or JSON files joined together); the records of every array were read, in order",
                self.name
            ));
        }
        self.arrays += 1;
        self.api_body = true;
        self.in_body = true;
        Ok(Ok(Members::Records))
    }

    fn step(&mut self) -> io::Result<Option<InputRecord>> {
        let mut missing_comma = false;
        match self.state {
            State::Done => return Ok(None),
            State::AfterArray => return self.after_array(),
            State::First => match self.cur.skip_ws()? {
                Some(b']') => return self.close(),
                None => return Ok(Some(self.cut_short())),
                Some(_) => {}
            },
            State::AfterElement => match self.cur.skip_ws()? {
                Some(b',') => {
                    self.cur.bump(b',');
                    match self.cur.skip_ws()? {
                        // A trailing comma loses nothing: tolerate it.
                        Some(b']') => return self.close(),
                        None => return Ok(Some(self.cut_short())),
                        Some(_) => {}
                    }
                }
                Some(b']') => return self.close(),
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
        let mut kept_value = None;
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
            Scanned::Complete => {
                let keep = (self.keep.as_deref(), &mut kept_value);
                parse_json_record(&kept, (line, column), true, &mut self.unknown, keep)
            }
        };
        self.cur.kept = kept;
        Ok(Some(InputRecord {
            record,
            line,
            kept: kept_value.filter(|_| raw.is_ok()),
            raw,
        }))
    }

    /// At the `]` that closes a records array: what follows is read by the next step.
    fn close(&mut self) -> io::Result<Option<InputRecord>> {
        self.cur.bump(b']');
        self.state = State::AfterArray;
        Ok(None)
    }

    /// After a records array: the rest of its API body, then the end of the input. Another
    /// records array or body (files joined together) is read too, with a warning; anything else
    /// is reported as one more unreadable record, so nothing after the array passes unseen.
    fn after_array(&mut self) -> io::Result<Option<InputRecord>> {
        let outcome = if self.in_body {
            self.rest_of_body()?
        } else {
            self.next_value()?
        };
        Ok(match outcome {
            Ok(true) => {
                self.state = State::First;
                None
            }
            Ok(false) => {
                self.state = State::Done;
                None
            }
            Err(message) => Some(self.trailing(message)),
        })
    }

    /// The keys after a body's records array; `Ok(true)` when another records array opened.
    fn rest_of_body(&mut self) -> io::Result<Result<bool, String>> {
        let line = self.cur.line;
        match self.cur.skip_ws()? {
            Some(b'}') => self.cur.bump(b'}'),
            Some(b',') => {
                self.cur.bump(b',');
                match self.members()? {
                    Ok(Members::Records) => return Ok(Ok(true)),
                    Ok(Members::End { .. }) => {}
                    Err(message) => return Ok(Err(message)),
                }
            }
            None => {
                return Ok(Err(format!(
                    "the file ends at line {line} before the `}}` that closes the API body; it \
                     looks cut short, so records may be missing"
                )))
            }
            Some(_) => {
                return Ok(Err(format!(
                    "expected `,` or `}}` after the `call_records` array (line {line})"
                )))
            }
        }
        self.in_body = false;
        self.next_value()
    }

    /// After a whole top-level value: the end of the input, or another value that holds records
    /// (`Ok(true)`, its array now open).
    fn next_value(&mut self) -> io::Result<Result<bool, String>> {
        let next = self.cur.skip_ws()?;
        let (line, column) = (self.cur.line, self.cur.column);
        match next {
            None => Ok(Ok(false)),
            Some(b'[' | b'{') => {
                let opened = self.open_value()?;
                // A body's array was warned of when its key was read; told once.
                if opened.is_ok() && !self.in_body && self.arrays == 2 {
                    self.warnings.push(format!(
                        "{}: another JSON value starts on line {} after the records array (JSON \
                         files joined together?); the records of every array were read, in order",
                        self.name, line
                    ));
                }
                Ok(opened.map(|()| true).map_err(|message| {
                    if message == ONE_RECORD {
                        format!(
                            "a call record object on line {line} is outside the records array, \
                             so it would not be read; move it inside the array, before its `]`"
                        )
                    } else {
                        format!("after the records array, on line {line}: {message}")
                    }
                }))
            }
            Some(b) => Ok(Err(format!(
                "unexpected `{}` at line {line}, column {column} after the end of the records \
                 array; everything after the closing `]` must be removed, or put inside the array",
                excerpt(&char::from(b).to_string()),
            ))),
        }
    }

    /// Something after the records that is not records: one more unreadable record, and the
    /// end of reading.
    fn trailing(&mut self, message: String) -> InputRecord {
        self.state = State::Done;
        let record = self.next_record;
        self.next_record += 1;
        InputRecord {
            record,
            line: self.cur.line,
            raw: Err(unreadable(message)),
            kept: None,
        }
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
            kept: None,
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
                    // What follows the array is read by the next step.
                    self.cur.bump(b']');
                    self.state = State::AfterArray;
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

const ONE_RECORD: &str = "the file holds a single call record object, not a list of them: put the \
     records in an array [...] or in the API body {\"call_records\": [...]}; for one object per \
     line, use --format jsonl";

const NO_ARRAY: &str = "expected a JSON array of call records [...] or the API body \
     {\"call_records\": [...]}; for one object per line, use --format jsonl";

impl<R: BufRead> Iterator for JsonRecords<R> {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        loop {
            return match self.step() {
                // A step that closed or opened an array yields nothing; it moved past at least
                // one byte, so this loop ends with the input. A loop, not recursion: a file of
                // a million `[]` cannot exhaust the stack.
                Ok(None) if self.state != State::Done => continue,
                Ok(record) => record,
                Err(err) => {
                    let stopped = stopped(self.next_record, self.cur.line, &err);
                    self.error = Some(ReadError::io(&self.name, err));
                    self.state = State::Done;
                    Some(stopped)
                }
            };
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

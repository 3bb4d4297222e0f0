//! JSON Lines: one JSON object per line. Blank lines are skipped and are not records.

use super::lines::Lines;
use super::{
    parse_json_record, stopped, unreadable, InputRecord, ReadError, UnknownKeys, MAX_RECORD_BYTES,
};
use std::io::BufRead;

const BOM: &[u8] = b"\xEF\xBB\xBF";

pub struct JsonlRecords<R> {
    name: String,
    lines: Lines<R>,
    buf: Vec<u8>,
    next_record: usize,
    unknown: UnknownKeys,
    /// The key whose value each record keeps aside (`ReadOptionsBuilder::keep_key`).
    keep: Option<Box<str>>,
    error: Option<ReadError>,
    done: bool,
}

impl<R: BufRead> JsonlRecords<R> {
    pub fn new(reader: R, name: String, keep: Option<Box<str>>) -> Self {
        JsonlRecords {
            name,
            lines: Lines::new(reader),
            buf: Vec::with_capacity(512),
            next_record: 1,
            unknown: UnknownKeys::default(),
            keep,
            error: None,
            done: false,
        }
    }

    /// Keys of the records read so far that name no field.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown.warning(&self.name).into_iter().collect()
    }

    pub fn unknown_keys(&self) -> Vec<String> {
        self.unknown.keys()
    }

    pub fn finish(&mut self) -> Result<(), ReadError> {
        self.error.take().map_or(Ok(()), Err)
    }
}

impl<R: BufRead> Iterator for JsonlRecords<R> {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        while !self.done {
            self.buf.clear();
            let line = match self.lines.read_line(&mut self.buf) {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(err) => {
                    let stopped = stopped(self.next_record, self.lines.next_number(), &err);
                    self.error = Some(ReadError::io(&self.name, err));
                    self.done = true;
                    return Some(stopped);
                }
            };
            let text = match self.buf.strip_prefix(BOM) {
                Some(rest) if line.number == 1 => rest,
                _ => &self.buf[..],
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record = self.next_record;
            self.next_record += 1;
            let mut kept = None;
            let raw = if line.overlong {
                Err(unreadable(format!(
                    "the line is longer than {} MiB, far more than any call record; check that the \
                     file has one JSON object per line",
                    MAX_RECORD_BYTES >> 20
                )))
            } else {
                let keep = (self.keep.as_deref(), &mut kept);
                parse_json_record(text, (line.number, 1), false, &mut self.unknown, keep)
            };
            return Some(InputRecord {
                record,
                line: line.number,
                kept: kept.filter(|_| raw.is_ok()),
                raw,
            });
        }
        self.done = true;
        None
    }
}

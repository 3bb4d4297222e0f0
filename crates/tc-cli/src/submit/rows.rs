//! The input file as the push engine's rows: opened on the engine's reader thread (the readers
//! are not `Send`), numbered as the readers number them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tc_input::ReadOptions;
use tc_input::{ReadError, Records};
use tc_push::InputRow;

/// Where the I/O error that ended reading early is left for the command to report.
pub type ErrorSlot = Arc<Mutex<Option<ReadError>>>;

/// Where the readers' warnings are left once the whole input is read: unknown JSON keys and a
/// second records array are only known at the end.
pub type WarningSlot = Arc<Mutex<Vec<String>>>;

/// The rows of one file; iterating opens it.
pub struct FileRows {
    path: PathBuf,
    read: ReadOptions,
    error: ErrorSlot,
    warnings: WarningSlot,
}

impl FileRows {
    pub fn new(path: &Path, read: ReadOptions) -> FileRows {
        FileRows {
            path: path.to_owned(),
            read,
            error: ErrorSlot::default(),
            warnings: WarningSlot::default(),
        }
    }

    pub fn error_slot(&self) -> ErrorSlot {
        self.error.clone()
    }

    pub fn warning_slot(&self) -> WarningSlot {
        self.warnings.clone()
    }
}

/// The error left in `slot`, if any.
pub fn take(slot: &ErrorSlot) -> Option<ReadError> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

impl IntoIterator for FileRows {
    type Item = InputRow;
    type IntoIter = Rows;

    fn into_iter(self) -> Rows {
        let records = tc_input::open_with(Some(&self.path), &self.read);
        let records = match records {
            Ok(records) => Some(records),
            Err(e) => {
                *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                None
            }
        };
        Rows {
            records,
            error: self.error,
            warnings: self.warnings,
        }
    }
}

pub struct Rows {
    records: Option<Records>,
    error: ErrorSlot,
    warnings: WarningSlot,
}

impl Iterator for Rows {
    type Item = InputRow;

    fn next(&mut self) -> Option<InputRow> {
        let records = self.records.as_mut()?;
        match records.next() {
            Some(input) => Some(InputRow {
                row: input.record as u64,
                line: input.line as u64,
                record: input.raw,
            }),
            None => {
                if let Err(e) = records.finish() {
                    *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                }
                *self.warnings.lock().unwrap_or_else(|e| e.into_inner()) = records.warnings();
                self.records = None;
                None
            }
        }
    }
}

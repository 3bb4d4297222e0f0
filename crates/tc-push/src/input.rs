//! What the engine reads: rows numbered in input order, each a record or the reason it could
//! not be read.

use tc_core::{Diagnostic, RawRecord};

/// One input record, numbered. A resumed push must number the same input the same way: the
/// journal knows rows by these numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    /// 1-based position of the record in the input.
    pub row: u64,
    /// The line it starts on, for messages (its position when the input has no lines).
    pub line: u64,
    /// The record, or a diagnostic saying why it could not be read.
    pub record: Result<RawRecord, Diagnostic>,
}

/// Anything the engine can take as a row. `position` is the item's 1-based place in the input,
/// used by items that carry no number of their own: a plain `Vec<RawRecord>` is numbered 1, 2, ...
pub trait IntoRow {
    fn into_row(self, position: u64) -> InputRow;
}

impl IntoRow for InputRow {
    fn into_row(self, _position: u64) -> InputRow {
        self
    }
}

impl IntoRow for RawRecord {
    fn into_row(self, position: u64) -> InputRow {
        InputRow {
            row: position,
            line: position,
            record: Ok(self),
        }
    }
}

impl IntoRow for Result<RawRecord, Diagnostic> {
    fn into_row(self, position: u64) -> InputRow {
        InputRow {
            row: position,
            line: position,
            record: self,
        }
    }
}

/// `(row, line, record)`, as a reader of a file yields them.
impl IntoRow for (u64, u64, Result<RawRecord, Diagnostic>) {
    fn into_row(self, _position: u64) -> InputRow {
        let (row, line, record) = self;
        InputRow { row, line, record }
    }
}

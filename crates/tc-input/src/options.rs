//! How an input is read: the column map, the delimiter, the sheet and the time reading.

use super::local_time::TimeReading;
use super::map::Layout;
use super::{Format, ReadError};
use tc_core::{Diagnostic, Field};

/// Everything about how to read an input, resolved from the flags and the profile.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub format: Option<Format>,
    pub layout: Layout,
    pub delimiter: Option<u8>,
    pub sheet: Option<String>,
    pub times: TimeReading,
}

impl ReadOptions {
    /// Refuses settings that cannot apply to an input of `format`, rather than ignore them.
    pub fn check_fits(&self, format: Format) -> Result<(), ReadError> {
        let json = matches!(format, Format::Json | Format::Jsonl);
        if json && (!self.layout.map.is_empty() || self.layout.call_time.is_some()) {
            return Err(ReadError::options(
                "--map and --call-time name columns of CSV files and spreadsheets; the keys of a \
                 JSON input are the API's field names (rename them, or convert the file to CSV)",
            ));
        }
        if self.delimiter.is_some() && format != Format::Csv {
            return Err(ReadError::options(
                "--delimiter applies to CSV files only; leave it out for this input",
            ));
        }
        if self.sheet.is_some() && format != Format::Spreadsheet {
            return Err(ReadError::options(
                "--sheet applies to spreadsheets (.xlsx, .xls, .ods) only; leave it out for this \
                 input",
            ));
        }
        Ok(())
    }
}

impl ReadOptions {
    /// Where each field comes from when it is not a column of its own name.
    pub fn sources(&self) -> Sources {
        let mut notes: Vec<(Field, String)> = self
            .layout
            .map
            .entries()
            .iter()
            .map(|e| (e.field, format!("column `{}`", e.header)))
            .collect();
        if let Some(window) = &self.times.window {
            let column = &window.call_time;
            notes.push((
                Field::StartsAt,
                format!("column `{column}` less --show-before {}", window.before),
            ));
            notes.push((
                Field::EndsAt,
                format!("column `{column}` plus --show-after {}", window.after),
            ));
        }
        Sources { notes }
    }
}

/// Where the fields of a record came from, for messages about them: a user whose file has a
/// `Customer Mobile` column and no `receiver_number` must still find the cell at fault.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    notes: Vec<(Field, String)>,
}

impl Sources {
    /// Adds to each problem's message the column its field came from, unless the message
    /// names it already.
    pub fn annotate(&self, problems: &mut [Diagnostic]) {
        for problem in problems {
            let Some(field) = problem.field else { continue };
            let Some((_, note)) = self.notes.iter().find(|(f, _)| *f == field) else {
                continue;
            };
            if !problem.message.starts_with("column `") {
                problem.message = format!("{} (from {note})", problem.message);
            }
        }
    }
}

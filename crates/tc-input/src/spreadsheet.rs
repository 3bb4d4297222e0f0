//! Spreadsheets: `.xlsx`, `.xlsm`, `.xlsb`, `.xls` and `.ods` workbooks, read with `calamine`.
//!
//! One sheet is read (`--sheet NAME`, else the first): its first row is the header, matched as a
//! CSV header is ([`super::map::Layout`]). Every message names the row as the spreadsheet shows
//! it (the header is row 1), and a row is its own record whatever its neighbours hold. Cells are
//! taken as the sheet holds them: a phone number stored as a number is its digits, and a date
//! cell is a local date-time, read in the `--timezone` by [`super::local_time`].

use super::map::{Column, Layout};
use super::{unreadable, InputRecord, ReadError};
use calamine::{Data, Ods, Range, Reader, Sheets, Xls, Xlsb, Xlsx};
use std::io::{self, Read, Seek};
use tc_core::diagnostic::excerpt;
use tc_core::{Field, RawRecord};

/// The records of one sheet. The sheet is held in memory: a workbook is a zipped whole that
/// cannot be streamed, and a sheet holds at most about a million rows.
pub struct SheetRecords {
    range: Range<Data>,
    columns: Vec<Column>,
    /// Index into the range's rows of the next row to read.
    next_row: usize,
    next_record: usize,
    /// The sheet row number (1-based, as the spreadsheet shows it) of the range's first row.
    first_row_number: usize,
    warnings: Vec<String>,
}

/// File extensions read as spreadsheets.
pub const EXTENSIONS: [&str; 5] = ["xlsx", "xlsm", "xlsb", "xls", "ods"];

impl SheetRecords {
    /// Reads the workbook `open` gives (a file with the `extension`, or bytes in memory), and
    /// the header of the sheet `sheet` (the first when `None`). A missing sheet is an error
    /// listing the sheets there are.
    pub fn open<RS: Read + Seek>(
        extension: Option<&str>,
        open: impl FnMut() -> io::Result<RS>,
        name: &str,
        sheet: Option<&str>,
        layout: &Layout,
    ) -> Result<SheetRecords, ReadError> {
        let mut workbook = workbook(extension, open).map_err(|err| {
            ReadError::malformed(format!(
                "cannot read {name} as a spreadsheet: {err}; check that it is an .xlsx, .xls or \
                 .ods workbook, or give --format for another format"
            ))
        })?;
        let sheets = workbook.sheet_names();
        let chosen = match sheet {
            Some(wanted) => sheets
                .iter()
                .find(|s| s.as_str() == wanted)
                .or_else(|| sheets.iter().find(|s| s.eq_ignore_ascii_case(wanted)))
                .ok_or_else(|| {
                    ReadError::options(format!(
                        "{name} has no sheet `{}`; its sheets are {}; give one of them with \
                         --sheet",
                        excerpt(wanted),
                        list(&sheets)
                    ))
                })?
                .clone(),
            None => sheets
                .first()
                .ok_or_else(|| ReadError::malformed(format!("{name} has no sheet")))?
                .clone(),
        };
        let range = workbook.worksheet_range(&chosen).map_err(|err| {
            ReadError::malformed(format!(
                "cannot read the sheet `{}` of {name}: {err}",
                excerpt(&chosen)
            ))
        })?;
        let shown = format!("the sheet `{}` of {name}", excerpt(&chosen));
        let Some(header) = range.rows().next() else {
            return Err(ReadError::malformed(format!(
                "{shown} is empty: its first row names the columns, such as {}",
                Field::ALL.map(Field::wire_name).join(", ")
            )));
        };
        let headers: Vec<String> = header
            .iter()
            .map(|c| cell_text(c).trim().to_owned())
            .collect();
        let (columns, warning) = layout.columns(&shown, &headers)?;
        let first_row_number = range.start().map_or(1, |(row, _)| row as usize + 1);
        Ok(SheetRecords {
            range,
            columns,
            next_row: 1,
            next_record: 1,
            first_row_number,
            warnings: warning.into_iter().collect(),
        })
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The cell at `column` of the range's row `row`.
    fn cell(&self, row: usize, column: usize) -> &Data {
        self.range.get((row, column)).unwrap_or(&Data::Empty)
    }

    fn to_record(&self, row: usize) -> Result<RawRecord, tc_core::Diagnostic> {
        let mut raw = RawRecord::default();
        for (at, column) in self.columns.iter().enumerate() {
            let cell = self.cell(row, at);
            let fields: &[Field] = match column {
                Column::Field(field) => std::slice::from_ref(field),
                Column::CallTime => &[Field::StartsAt, Field::EndsAt],
                Column::Ignored => continue,
            };
            if let Data::Error(error) = cell {
                return Err(unreadable(format!(
                    "the {} cell holds the spreadsheet error {error}; fix the formula or the \
                     value in the sheet",
                    fields[0]
                )));
            }
            let text = cell_text(cell);
            for &field in fields {
                raw.set_text(field, &text);
            }
        }
        Ok(raw)
    }
}

impl Iterator for SheetRecords {
    type Item = InputRecord;

    fn next(&mut self) -> Option<InputRecord> {
        let (height, width) = self.range.get_size();
        loop {
            let at = self.next_row;
            if at >= height {
                return None;
            }
            self.next_row += 1;
            if (0..width).all(|c| matches!(self.cell(at, c), Data::Empty)) {
                continue;
            }
            let record = self.next_record;
            self.next_record += 1;
            return Some(InputRecord {
                record,
                line: self.first_row_number + at,
                raw: self.to_record(at),
                kept: None,
            });
        }
    }
}

/// The workbook `open` gives, read as its `extension` says or, without a known one, as the
/// first kind of workbook that reads it: what `calamine::open_workbook_auto` does with a path,
/// from any reader. `open` gives the workbook from its start for each kind tried.
fn workbook<RS: Read + Seek>(
    extension: Option<&str>,
    mut open: impl FnMut() -> io::Result<RS>,
) -> Result<Sheets<RS>, calamine::Error> {
    fn new<W: Reader<RS>, RS: Read + Seek>(
        open: &mut impl FnMut() -> io::Result<RS>,
    ) -> Result<W, W::Error> {
        W::new(open()?)
    }
    Ok(match extension {
        Some("xls" | "xla") => Sheets::Xls(new(&mut open).map_err(calamine::Error::Xls)?),
        Some("xlsx" | "xlsm" | "xlam") => {
            Sheets::Xlsx(new(&mut open).map_err(calamine::Error::Xlsx)?)
        }
        Some("xlsb") => Sheets::Xlsb(new(&mut open).map_err(calamine::Error::Xlsb)?),
        Some("ods") => Sheets::Ods(new(&mut open).map_err(calamine::Error::Ods)?),
        _ => {
            if let Ok(workbook) = new::<Xls<_>, _>(&mut open) {
                Sheets::Xls(workbook)
            } else if let Ok(workbook) = new::<Xlsx<_>, _>(&mut open) {
                Sheets::Xlsx(workbook)
            } else if let Ok(workbook) = new::<Xlsb<_>, _>(&mut open) {
                Sheets::Xlsb(workbook)
            } else if let Ok(workbook) = new::<Ods<_>, _>(&mut open) {
                Sheets::Ods(workbook)
            } else {
                return Err(calamine::Error::Msg("Cannot detect file format"));
            }
        }
    })
}

/// A cell as text. Whole numbers lose the `.0` a float would print (a phone number stored as a
/// number is its digits); a date cell becomes an ISO local date-time for the time zone to place.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(date) => {
            // Days since the workbook's epoch (1900 or 1904) and the fraction of the day.
            let (year, month, day, hour, minute, second, milli) = date.to_ymd_hms_milli();
            let shown = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            match milli {
                0 => shown,
                _ => format!("{shown}.{milli:03}"),
            }
        }
        Data::Error(error) => error.to_string(),
    }
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", excerpt(n))).collect();
    quoted.join(", ")
}

#[cfg(test)]
mod tests {
    use super::cell_text;
    use calamine::{Data, ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn date_cells_are_the_local_time_they_show_in_either_date_system() {
        // Excel shows the serial 47687.4375 as 2030-07-23 10:30 in a workbook of the 1900
        // system; a workbook of the 1904 system counts 1462 days fewer to the same day.
        let cell = |serial: f64, is_1904| {
            cell_text(&Data::DateTime(ExcelDateTime::new(
                serial,
                ExcelDateTimeType::DateTime,
                is_1904,
            )))
        };
        assert_eq!(cell(47687.4375, false), "2030-07-23T10:30:00");
        assert_eq!(cell(47687.4375 - 1462.0, true), "2030-07-23T10:30:00");
        assert_eq!(
            cell(47687.4375 + 0.5 / 86_400.0, false),
            "2030-07-23T10:30:00.500"
        );
    }

    #[test]
    fn number_cells_keep_their_digits() {
        assert_eq!(cell_text(&Data::Float(919876543210.0)), "919876543210");
        assert_eq!(cell_text(&Data::Float(1.5)), "1.5");
        assert_eq!(cell_text(&Data::Int(42)), "42");
    }
}

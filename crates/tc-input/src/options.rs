//! How an input is read ([`ReadOptions`]): its format, the column map, the delimiter, the sheet
//! and the time reading; and where each field of a record came from ([`Sources`]).

use super::local_time::{DateFormat, TimeReading, Window, Zone};
use super::map::{ColumnMap, Layout};
use super::{Format, ReadError};
use tc_core::{Diagnostic, Field};

/// Everything about how to read an input. The default reads a file in the format its
/// extension names, with the API's field names as its headers or keys and its times as
/// tc-core reads them; [`ReadOptions::builder`] changes that.
///
/// ```
/// use tc_input::local_time::{Window, Zone};
/// use tc_input::map::ColumnMap;
/// use tc_input::{Format, ReadOptions};
///
/// let mut map = ColumnMap::default();
/// map.insert("receiver_number=Customer Mobile".parse()?);
/// let options = ReadOptions::builder()
///     .format(Format::Csv)
///     .column_map(map)
///     .time_zone("Asia/Kolkata".parse::<Zone>()?)
///     .window(Window::new("Scheduled (IST)", "15m".parse()?, "2h".parse()?)?)
///     .delimiter(b';')
///     .build();
/// assert_eq!(options.format(), Some(Format::Csv));
/// assert_eq!(options.column_map().entries()[0].header(), "Customer Mobile");
/// # Ok::<(), tc_input::SettingError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub(crate) format: Option<Format>,
    pub(crate) layout: Layout,
    pub(crate) delimiter: Option<u8>,
    pub(crate) sheet: Option<String>,
    pub(crate) times: TimeReading,
    pub(crate) keep: Option<Box<str>>,
}

impl ReadOptions {
    /// Options to change from the default, one setting at a time.
    pub fn builder() -> ReadOptionsBuilder {
        ReadOptionsBuilder::default()
    }

    /// The format to read; `None` for the one the file's extension names.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The column map: which column of a CSV file or sheet holds which field.
    pub fn column_map(&self) -> &ColumnMap {
        &self.layout.map
    }

    /// The CSV separator; `None` for a comma, or `;` or a tab when the header splits only on
    /// that.
    pub fn delimiter(&self) -> Option<u8> {
        self.delimiter
    }

    /// The sheet of a workbook to read; `None` for the first.
    pub fn sheet(&self) -> Option<&str> {
        self.sheet.as_deref()
    }

    /// How local times are read, and the call-time window, if any.
    pub fn time_reading(&self) -> &TimeReading {
        &self.times
    }

    /// Refuses settings that cannot apply to an input of `format`, rather than ignore them.
    pub(crate) fn check_fits(&self, format: Format) -> Result<(), ReadError> {
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
            .map(|e| (e.field(), format!("column `{}`", e.header())))
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

/// Builds [`ReadOptions`]: each setting left out keeps its default.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ReadOptionsBuilder {
    options: ReadOptions,
}

impl ReadOptionsBuilder {
    /// The format to read (`None`: the one the file's extension names). [`from_reader`] takes
    /// its format as an argument instead.
    ///
    /// [`from_reader`]: crate::from_reader
    pub fn format(mut self, format: impl Into<Option<Format>>) -> Self {
        self.options.format = format.into();
        self
    }

    /// Reads the columns the map names as its fields; the other columns are read by their own
    /// names. For CSV files and spreadsheets only: opening a JSON input with a map is an error.
    pub fn column_map(mut self, map: ColumnMap) -> Self {
        self.options.layout.map = map;
        self
    }

    /// Derives `starts_at` and `ends_at` from one call-time column (`None`: each is read from
    /// its own column). For CSV files and spreadsheets only.
    pub fn window(mut self, window: impl Into<Option<Window>>) -> Self {
        let window = window.into();
        self.options.layout.call_time = window.as_ref().map(|w| w.call_time().to_owned());
        self.options.times.window = window;
        self
    }

    /// Reads times without a UTC offset in this time zone (`None`: such a time is an error on
    /// its record).
    pub fn time_zone(mut self, zone: impl Into<Option<Zone>>) -> Self {
        self.options.times.zone = zone.into();
        self
    }

    /// Reads local times written in this form as well as in ISO 8601.
    pub fn date_format(mut self, format: impl Into<Option<DateFormat>>) -> Self {
        self.options.times.date_format = format.into();
        self
    }

    /// The CSV separator (`None`: a comma, or `;` or a tab when the header splits only on
    /// that). For CSV files only.
    pub fn delimiter(mut self, delimiter: impl Into<Option<u8>>) -> Self {
        self.options.delimiter = delimiter.into();
        self
    }

    /// The sheet of a workbook to read, by name (`None`: the first). For spreadsheets only.
    pub fn sheet(mut self, sheet: impl Into<Option<String>>) -> Self {
        self.options.sheet = sheet.into();
        self
    }

    /// A key of JSON records, besides the fields, whose value each record keeps aside in
    /// [`InputRecord::kept`] (matched as field names are, ignoring surrounding white space and
    /// ASCII case); it is neither a field nor an unknown key. For JSON and JSON Lines: the
    /// relay keeps its `external_id` this way.
    ///
    /// [`InputRecord::kept`]: crate::InputRecord::kept
    pub fn keep_key(mut self, key: impl Into<Option<String>>) -> Self {
        self.options.keep = key.into().map(|key| key.trim().into());
        self
    }

    /// The options.
    pub fn build(self) -> ReadOptions {
        self.options
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

//! How an input is read, from the flags `validate` and `submit` share ([`InputArgs`]) and the
//! profile of the config file: the column map, the delimiter, the sheet and the time reading.

use super::local_time::{DateFormat, Span, TimeReading, Zone};
use super::map::{Layout, MapEntry};
use super::{Format, ReadError};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use tc_core::{Diagnostic, Field};

/// The input flags of `validate` and `submit`; a profile's settings fill what they leave out.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Reads the column HEADER as the field FIELD, such as --map receiver_number="Customer
    /// Mobile" (letter case and spaces of HEADER do not matter); repeat for each field.
    #[arg(long = "map", value_name = "FIELD=HEADER")]
    pub map: Vec<MapEntry>,
    /// Reads times without a UTC offset (`2030-07-23 10:30`, date cells) in this IANA time zone.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<Zone>,
    /// A strftime pattern for local times in another form, such as `%d/%m/%Y %H:%M`.
    #[arg(long, value_name = "PATTERN")]
    pub date_format: Option<DateFormat>,
    /// The column of the planned call time: starts_at and ends_at are derived from it with
    /// --show-before and --show-after.
    #[arg(long, value_name = "HEADER")]
    pub call_time: Option<String>,
    /// How long before the call time the caller ID shows, such as 15m.
    #[arg(long, value_name = "DURATION")]
    pub show_before: Option<Span>,
    /// How long after the call time the caller ID shows, such as 2h.
    #[arg(long, value_name = "DURATION")]
    pub show_after: Option<Span>,
    /// The sheet of a spreadsheet to read; default: the first.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// The CSV separator: `,`, `;`, `tab` or `|`. Default: a comma, or `;` or a tab when the
    /// header splits only on that.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<Delimiter>,
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Which profile of which config file applies.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProfileArgs {
    /// The config file; default: tcbatch.toml in the working directory, when there is one.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The profile of the config file whose settings apply (flags override them).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// A CSV field separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(text: &str) -> Result<Delimiter, String> {
        match text {
            "tab" | "\\t" | "\t" => Ok(Delimiter(b'\t')),
            "," | ";" | "|" | ":" => Ok(Delimiter(text.as_bytes()[0])),
            _ => Err(format!(
                "`{}` is not a CSV separator tcbatch reads; give `,`, `;`, `|`, `:` or `tab`",
                tc_core::diagnostic::excerpt(text)
            )),
        }
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\t' => f.write_str("tab"),
            other => write!(f, "{}", other as char),
        }
    }
}

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
            return Err(ReadError::new(
                "--map and --call-time name columns of CSV files and spreadsheets; the keys of a \
                 JSON input are the API's field names (rename them, or convert the file to CSV)",
            ));
        }
        if self.delimiter.is_some() && format != Format::Csv {
            return Err(ReadError::new(
                "--delimiter applies to CSV files only; leave it out for this input",
            ));
        }
        if self.sheet.is_some() && format != Format::Spreadsheet {
            return Err(ReadError::new(
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

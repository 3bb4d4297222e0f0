//! Why an input cannot be read at all ([`ReadError`]), and why a setting given as text cannot be
//! used ([`SettingError`]).
//!
//! The messages are written for the person who runs `tcbatch`: each says what is wrong and what
//! to do, naming the flag to give where there is one. An error with a cause (an I/O error) names
//! what was being done and gives the cause as its [`source`](std::error::Error::source); print
//! the whole chain, `: `-separated, to show it all.

use crate::local_time::Span;
use crate::Format;
use std::fmt;
use std::io;
use std::path::PathBuf;
use tc_core::diagnostic::excerpt;
use tc_core::Field;

/// A problem with the input as a whole: nothing of it can be read (for `tcbatch`, exit
/// status 2). Reported before any record, the same way in every format.
///
/// A problem with one record is never a `ReadError`: it is that record's `record_unreadable`
/// diagnostic, and reading goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Standard input has no file name to tell its format by, and none was given.
    #[error("reading standard input needs --format csv, jsonl or json")]
    NoFormat,

    /// No format was given, and the file's extension names none of the formats.
    #[error(
        "cannot tell the format of `{}` from its extension; give --format csv, jsonl, json or \
         spreadsheet",
        .path.display()
    )]
    UnknownExtension {
        /// The file, as it was named.
        path: PathBuf,
    },

    /// A spreadsheet was to be read from standard input: a workbook is read from a file.
    #[error("a spreadsheet is read from a file, not from standard input: give its path")]
    SpreadsheetFromStdin,

    /// The file cannot be opened, for a reason known before trying: it does not exist, it is a
    /// directory, or it may not be read.
    #[error("cannot open {name}: {why}")]
    CannotOpen {
        /// The file, as messages name it.
        name: String,
        /// Why, with what to do about it.
        why: Unopenable,
    },

    /// Opening the file failed.
    #[error("cannot open {name}")]
    Open {
        /// The file, as messages name it.
        name: String,
        /// What opening it answered.
        #[source]
        source: io::Error,
    },

    /// Reading the input failed. When this ends reading part way, the last record yielded is an
    /// unreadable one saying where reading stopped.
    #[error("cannot read {name}")]
    Io {
        /// The input, as messages name it.
        name: String,
        /// What reading it answered.
        #[source]
        source: io::Error,
    },

    /// The input is text in another encoding than UTF-8: UTF-16 or UTF-32, which spreadsheets
    /// save as "Unicode text".
    #[error(
        "{name} is {encoding} text, and tcbatch reads UTF-8 only: save it as UTF-8 (in a \
         spreadsheet: Save As, \"CSV UTF-8\"; in an editor: the encoding UTF-8) and try again"
    )]
    NotUtf8 {
        /// The input, as messages name it.
        name: String,
        /// The encoding it is in, such as `UTF-16 (little-endian)`.
        encoding: &'static str,
    },

    /// The input holds nothing but white space.
    #[error(
        "{name} is empty, so there is nothing to check or send: {}. Check that the export that \
         wrote it finished",
        expected_in(.format)
    )]
    Empty {
        /// The input, as messages name it.
        name: String,
        /// The format it was to be read in.
        format: Format,
    },

    /// The read options do not fit the input, or each other: a column map for a JSON input, a
    /// delimiter for a spreadsheet, a sheet the workbook does not have.
    #[error("{message}")]
    Options {
        /// What does not fit, and what to do.
        message: String,
    },

    /// The header row does not give what the records need: a mapped column it lacks, a field
    /// that two columns hold, a required field that no column holds.
    #[error("{message}")]
    Header {
        /// What is wrong with the header, with its columns.
        message: String,
    },

    /// The input is not laid out as its format requires: a CSV file with no header row, a JSON
    /// file with no records array, a file that is not a workbook or an empty sheet.
    #[error("{message}")]
    Malformed {
        /// What was found instead, and where.
        message: String,
    },
}

impl ReadError {
    pub(crate) fn io(name: &str, source: io::Error) -> Self {
        ReadError::Io {
            name: name.to_owned(),
            source,
        }
    }

    pub(crate) fn options(message: impl Into<String>) -> Self {
        ReadError::Options {
            message: message.into(),
        }
    }

    pub(crate) fn header(message: impl Into<String>) -> Self {
        ReadError::Header {
            message: message.into(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        ReadError::Malformed {
            message: message.into(),
        }
    }
}

/// What an input of `format` holds, for the message about an empty one.
fn expected_in(format: &Format) -> &'static str {
    match format {
        Format::Csv => {
            "a CSV file starts with a header row naming its columns, such as \
             caller_number,receiver_number,dynamic_label_name,starts_at,ends_at"
        }
        Format::Jsonl => "a JSON Lines file holds one record object per line",
        Format::Json => {
            "a JSON file holds an array of records [...] or the API body \
             {\"call_records\": [...]}"
        }
        Format::Spreadsheet => "a spreadsheet holds a header row and one record per row",
    }
}

/// Why a file cannot be opened, as found before opening it: shown as what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unopenable {
    /// There is no such file.
    NotFound,
    /// The path names a directory.
    Directory,
    /// The file may not be read.
    PermissionDenied,
}

impl fmt::Display for Unopenable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unopenable::NotFound => {
                "no such file; check the path (a relative path starts from the current directory)"
            }
            Unopenable::Directory => "it is a directory; give the file inside it",
            Unopenable::PermissionDenied => "permission denied; check the file's permissions",
        })
    }
}

/// A setting given as text that cannot be used: a time zone, a date format, a length of time, a
/// column map entry, or a call-time window. The messages name the flag (`--show-before`) where
/// one applies; a config file's settings are read the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// Not the name of a time zone of the IANA database.
    #[error(
        "`{}` is not an IANA time zone name; give one such as Asia/Kolkata, Europe/London or \
         America/New_York (UTC for none)",
        excerpt(.given)
    )]
    UnknownZone {
        /// The name given, trimmed.
        given: String,
    },

    /// A date format that cannot read a whole date and time back.
    #[error(
        "`{}` cannot read a whole date and time: a --date-format needs the day (%d), month (%m \
         or %b), year (%Y), hour (%H) and minute (%M), such as `%d/%m/%Y %H:%M` for 23/07/2030 \
         10:30 (seconds, if the file has them, are read either way)",
        excerpt(.given)
    )]
    DateFormat {
        /// The pattern given.
        given: String,
    },

    /// Not a length of time, or a negative one.
    #[error(
        "`{}` is not a length of time; write it as 15m, 2h, 1h30m or 90s (not negative)",
        excerpt(.given)
    )]
    Span {
        /// The text given.
        given: String,
    },

    /// A column map entry that is not `FIELD=HEADER`.
    #[error(
        "expected FIELD=HEADER, such as receiver_number=\"Customer Mobile\"; the fields are {}",
        wire_names()
    )]
    MapEntry,

    /// A name that is not a call record field.
    #[error(
        "`{}` is not a call record field; the fields are {}",
        excerpt(.given),
        wire_names()
    )]
    UnknownField {
        /// The name given.
        given: String,
    },

    /// A column map entry with no header after `FIELD=`.
    #[error("no header after `{field}=`: name the column of the file that holds {field}")]
    NoHeader {
        /// The field named.
        field: Field,
    },

    /// A call-time window of no length at all.
    #[error(
        "--show-before and --show-after are both 0: the window would be empty; give \
         --show-after the time the caller ID shows after the call time"
    )]
    EmptyWindow,

    /// A call-time window longer than the API allows between `starts_at` and `ends_at`.
    #[error(
        "--show-before {before} and --show-after {after} make a window of {length}, and the \
         API allows at most 24 hours between starts_at and ends_at: shorten one of them"
    )]
    WindowTooLong {
        /// How long before the call time the window starts.
        before: Span,
        /// How long after the call time the window ends.
        after: Span,
        /// The window's length.
        length: Span,
    },
}

/// The fields' wire names, comma-separated.
fn wire_names() -> String {
    Field::ALL.map(Field::wire_name).join(", ")
}

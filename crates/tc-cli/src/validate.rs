//! `tcbatch validate`: checks every record of a file against the API's rules and reports every
//! problem, without sending anything. Data path: read -> validate (tc-core) -> report.

use crate::read::{self, Format, ReadError};
use crate::report::{Output, Report};
use std::fmt;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use tc_core::{check_batch_size, EpochMillis, Region, Validator, MAX_BATCH_RECORDS};

/// Exit status when some record is invalid (2 is for usage and I/O errors).
pub const EXIT_INVALID: u8 = 1;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every record is valid, 1 when any record is invalid, \
                  2 on a usage or input error (an input that is empty, not UTF-8 text, or has no \
                  header or records array). A CSV header with no rows, or an empty array, holds \
                  no records and exits 0."
)]
pub struct ValidateArgs {
    /// CSV, JSON Lines or JSON file of call records; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Input format; inferred from the extension (.csv, .jsonl or .ndjson, .json) when not given.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Reads numbers written without + or 00 as national numbers of this region (ISO 3166, e.g. IN).
    #[arg(long, value_name = "CC")]
    pub region: Option<Region>,
    /// The time to check windows against, as epoch milliseconds or RFC 3339; default: now.
    #[arg(long, value_name = "MS|RFC3339")]
    pub now: Option<EpochMillis>,
    /// How to report problems.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// The system clock, as the rules' notion of now.
pub fn system_now() -> EpochMillis {
    // A clock before 1973 is broken; reading it as the earliest time a record can hold leaves
    // the window rules to the API, whose clock is right.
    EpochMillis::try_from(SystemTime::now()).unwrap_or(EpochMillis::MIN)
}

/// Why validation could not run to the end.
#[derive(Debug)]
pub enum ValidateError {
    Input(ReadError),
    Output(io::Error),
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::Input(err) => err.fmt(f),
            ValidateError::Output(err) => write!(f, "cannot write the report: {err}"),
        }
    }
}

/// No `source`: the message already carries the cause, and `main` prints the whole chain.
impl std::error::Error for ValidateError {}

impl From<ReadError> for ValidateError {
    fn from(err: ReadError) -> Self {
        ValidateError::Input(err)
    }
}

impl From<io::Error> for ValidateError {
    fn from(err: io::Error) -> Self {
        ValidateError::Output(err)
    }
}

pub fn run(args: ValidateArgs) -> Result<ExitCode, ValidateError> {
    let mut validator = Validator::new(args.now.unwrap_or_else(system_now));
    if let Some(region) = args.region {
        validator = validator.with_default_region(region);
    }
    let mut records = read::open(args.file.as_deref(), args.format)?;
    let header_warnings = records.warnings();
    for warning in &header_warnings {
        eprintln!("tcbatch: warning: {warning}");
    }
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut report = Report::new(out, args.output);
    let mut count = 0usize;
    for input in records.by_ref() {
        count += 1;
        match input.raw.map(|raw| validator.validate(&raw)) {
            Ok(Ok(_)) => report.valid(),
            Ok(Err(problems)) => report.invalid(input.record, input.line, &problems)?,
            Err(unreadable) => {
                report.invalid(input.record, input.line, std::slice::from_ref(&unreadable))?
            }
        }
    }
    records.finish()?;
    // Unknown JSON keys and a second records array are only known once everything is read.
    for warning in records.warnings().iter().skip(header_warnings.len()) {
        eprintln!("tcbatch: warning: {warning}");
    }
    let mut notes = Vec::new();
    if records.is_api_body() {
        if let Err(err) = check_batch_size(count) {
            notes.push(format!(
                "the input is an API request body, and {err}: `tcbatch submit` sends the records \
                 in requests of at most {MAX_BATCH_RECORDS}"
            ));
        }
    }
    let tally = report.finish(&notes)?;
    Ok(if tally.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}

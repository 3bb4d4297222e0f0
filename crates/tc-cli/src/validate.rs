//! `tcbatch validate`: checks every record of a file against the API's rules and reports every
//! problem, without sending anything. Data path: read -> validate (tc-core, on every core) ->
//! report, in input order.

use crate::report::{Output, Report};
use std::fmt;
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use tc_core::{
    check_batch_size, CallerMemo, Diagnostic, EpochMillis, Region, Validator, MAX_BATCH_RECORDS,
};
use tc_input::local_time::TimeReading;
use tc_input::options::Sources;
use tc_input::{Format, ReadError, RecordBuilder, Unbuilt};
use tc_push::ordered::{map_ordered, Jobs};

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
    #[command(flatten)]
    pub input: crate::input_args::InputArgs,
    /// How to report problems.
    #[arg(long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// Threads that validate; the report is the same whatever the number. Default: one per core but
    /// the one the reading takes, at least one.
    #[arg(long, value_name = "N", default_value_t = Jobs::beside_the_reader())]
    pub jobs: Jobs,
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
    Config(crate::config::ConfigError),
    Output(io::Error),
}

impl fmt::Display for ValidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidateError::Input(err) => err.fmt(f),
            ValidateError::Config(err) => err.fmt(f),
            ValidateError::Output(err) => write!(f, "cannot write the report: {err}"),
        }
    }
}

/// The input's and the config file's errors are shown as they are, so their sources are this
/// error's; the report's I/O error is in the message. `main` prints the whole chain.
impl std::error::Error for ValidateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ValidateError::Input(err) => err.source(),
            ValidateError::Config(err) => err.source(),
            ValidateError::Output(_) => None,
        }
    }
}

impl From<crate::config::ConfigError> for ValidateError {
    fn from(err: crate::config::ConfigError) -> Self {
        ValidateError::Config(err)
    }
}

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
    let settings = crate::config::Settings::load(&args.input.profile)?;
    let options = settings.read_options(&args.input, args.format)?;
    let mut validator = Validator::new(args.now.unwrap_or_else(system_now));
    if let Some(region) = settings.region(args.region) {
        validator = validator.with_default_region(region);
    }
    let mut records = tc_input::open_with(args.file.as_deref(), &options)?;
    let header_warnings = records.warnings();
    for warning in &header_warnings {
        eprintln!("tcbatch: warning: {warning}");
    }
    let time_reading = records.take_time_reading();
    let builder = records.record_builder();
    let mut count = 0usize;
    let counted = std::iter::from_fn(|| records.next_unbuilt()).inspect(|_| count += 1);
    let sources = options.sources();
    let checking = Checking {
        validator,
        builder,
        time_reading,
    };
    let (report, written) = validate_all(counted, checking, args.jobs, (args.output, &sources));
    written?;
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

/// The record with its local times placed, when the reader left that to the validating threads.
fn place_times(
    raw: Result<tc_core::RawRecord, Diagnostic>,
    time_reading: Option<&TimeReading>,
) -> Result<tc_core::RawRecord, Diagnostic> {
    let mut raw = raw?;
    if let Some(time_reading) = time_reading {
        time_reading.apply(&mut raw)?;
    }
    Ok(raw)
}

/// What a validating thread needs besides the records: how to build them, place their times
/// and check them.
struct Checking {
    validator: Validator,
    builder: RecordBuilder,
    time_reading: Option<TimeReading>,
}

/// A record's place in the input and its problems (none when it is valid).
struct Checked {
    record: usize,
    line: usize,
    problems: Vec<Diagnostic>,
}

/// Validates `records` on `jobs` threads and writes each problem to standard output in input
/// order. Gives back the report, to be finished once the reader's own errors are known, and
/// whether writing failed (the reading stops at the first failure).
fn validate_all(
    records: impl Iterator<Item = Unbuilt>,
    checking: Checking,
    jobs: Jobs,
    (output, sources): (Output, &Sources),
) -> (Report<BufWriter<io::Stdout>>, io::Result<()>) {
    let Checking {
        validator,
        builder,
        time_reading,
    } = checking;
    let check = || {
        let mut memo = CallerMemo::new();
        let time_reading = time_reading.clone();
        let builder = &builder;
        let mut spare = tc_core::RawRecord::default();
        move |unbuilt: Unbuilt| {
            let input = unbuilt.build(builder, std::mem::take(&mut spare));
            Checked {
                record: input.record,
                line: input.line,
                problems: match place_times(input.raw, time_reading.as_ref()) {
                    Ok(raw) => {
                        let problems = validator.validate_with_memo(&raw, &mut memo).err();
                        spare = raw;
                        problems.map(Vec::from).unwrap_or_default()
                    }
                    Err(unreadable) => vec![unreadable],
                },
            }
        }
    };
    let mut report = Report::new(BufWriter::with_capacity(1 << 16, io::stdout()), output);
    let written = map_ordered(records, jobs, check, |checked| {
        for row in checked {
            if row.problems.is_empty() {
                report.valid();
            } else {
                let mut problems = row.problems;
                sources.annotate(&mut problems);
                report.invalid(row.record, row.line, &problems)?;
            }
        }
        Ok(())
    });
    (report, written)
}

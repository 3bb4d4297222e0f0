//! A report rebuilt from a journal alone, after the push is over: for an operator who lost the
//! report, wants it in another format, or wants it again after `--resume` polled deliveries.
//! Nothing is sent and the journal is only read.

use crate::error::{Error, FileRole};
use crate::journal::{read_entries, readable_version, Entry};
use crate::paths::{check_outputs, same_file};
use crate::report::{write_report_as, write_rows, ReportFormat, Tally};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where a rebuilt report goes.
#[non_exhaustive]
pub enum ReportOutput<'a> {
    /// A file, written atomically; never the journal or an input of the push.
    File(&'a Path),
    /// A stream such as standard output, written row by row.
    Stream(&'a mut dyn Write),
}

/// What the journal said besides the rows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebuilt {
    /// The report's counts.
    pub tally: Tally,
    /// The inputs the push's runs read, as each run named them, first run first.
    pub inputs: Vec<String>,
    /// Whether the latest run ended cleanly with every row read. When it did not (a crash, an
    /// interrupt, a stop), rows the push never read are not in the journal and so not in the
    /// report: `tcbatch submit --resume` finishes the push.
    pub finished: bool,
}

/// Rebuilds the report of the journal at `journal` through the same fold a resumed push reads,
/// one row per record the journal mentions, in input order.
///
/// # Errors
/// [`Error::Journal`] when the journal cannot be read (missing, say),
/// [`Error::JournalNotStarted`] when it holds no start entry (not a push journal),
/// [`Error::JournalDamaged`] or [`Error::JournalVersion`] when it cannot be read safely,
/// [`Error::SameFile`] when the report path is the journal or one of the push's inputs, and
/// [`Error::Report`] when the report cannot be written.
pub fn rebuild_report(
    journal: &Path,
    output: ReportOutput<'_>,
    format: ReportFormat,
) -> Result<Rebuilt, Error> {
    let (inputs, finished) = read_runs(journal)?;
    let tally = match output {
        ReportOutput::File(path) => {
            check_not_an_input(&inputs, path)?;
            check_outputs(None, journal, path)?;
            write_report_as(journal, path, format, 0)?
        }
        ReportOutput::Stream(out) => write_rows(journal, out, format, 0, Path::new("-"))?,
    };
    Ok(Rebuilt {
        tally,
        inputs,
        finished,
    })
}

/// The inputs the journal's runs read, and whether the latest run ended cleanly.
fn read_runs(journal: &Path) -> Result<(Vec<String>, bool), Error> {
    let mut inputs: Vec<String> = Vec::new();
    let mut finished = false;
    for entry in read_entries(journal)? {
        match entry?.1 {
            Entry::Start { version, input, .. } => {
                if !readable_version(version) {
                    return Err(Error::JournalVersion {
                        path: journal.to_owned(),
                        version,
                    });
                }
                if !inputs.contains(&input) {
                    inputs.push(input);
                }
                finished = false;
            }
            Entry::End { interrupted, .. } => finished = !interrupted,
            _ => {}
        }
    }
    if inputs.is_empty() {
        return Err(Error::JournalNotStarted {
            path: journal.to_owned(),
        });
    }
    Ok((inputs, finished))
}

/// The journal names its inputs as the push was given them: a relative name is taken from the
/// current directory, where the operator usually runs both commands.
fn check_not_an_input(inputs: &[String], report: &Path) -> Result<(), Error> {
    for input in inputs {
        let input = PathBuf::from(input);
        if same_file(&input, report) {
            return Err(Error::SameFile {
                first: FileRole::Input,
                second: FileRole::Report,
                path: report.to_owned(),
            });
        }
    }
    Ok(())
}

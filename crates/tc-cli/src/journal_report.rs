//! `tcbatch report`: the report of a push rebuilt from its journal, without sending anything.
//! The journal is read and folded by `tc_push` alone, as for the push's own report.

use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tc_push::{ReportFormat, ReportOutput};

/// Exit status when some row was not accepted (rejected, failed or unknown), as for `submit`.
pub const EXIT_SOME_ROWS_NOT_ACCEPTED: u8 = 1;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every row of the journal was accepted; 1 when a row \
                        was rejected, failed or has an unknown outcome (as for submit); 2 on a \
                        usage error, a journal that is missing, damaged or not a push journal, \
                        or a report path that is the journal or the push's input."
)]
pub struct ReportArgs {
    /// The journal a push wrote (FILE.journal beside the input unless --journal named another).
    #[arg(long, value_name = "PATH")]
    pub journal: PathBuf,
    /// Where the report goes; `-` for standard output. Default: standard output.
    #[arg(long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,
    /// Report format. Default: JSON Lines for an --output ending in .jsonl, CSV otherwise.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormatArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormatArg {
    /// The columns of submit's report, with a header.
    Csv,
    /// One JSON object per row and line (JSON Lines).
    Json,
}

/// Where `submit` puts a journal, for messages about a wrong --journal.
const WHERE_JOURNALS_ARE: &str =
    "FILE.journal beside the input, unless submit was given --journal PATH";

/// The engine's errors say what is wrong with which file; name the flag that fixes it.
fn with_flag_hint(error: tc_push::Error) -> anyhow::Error {
    let hint = match &error {
        tc_push::Error::SameFile { .. } => {
            "give --output a path of its own, or - for standard output".to_owned()
        }
        tc_push::Error::JournalNotStarted { .. }
        | tc_push::Error::JournalDamaged { .. }
        | tc_push::Error::JournalVersion { .. } => {
            format!("give --journal the journal a push wrote ({WHERE_JOURNALS_ARE})")
        }
        tc_push::Error::Report { .. } => {
            "give --output a file in a directory that exists and that you may write to, or - for \
             standard output"
                .to_owned()
        }
        _ => return error.into(),
    };
    anyhow::Error::new(error).context(hint)
}

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let to_stdout = args.output.as_os_str() == "-";
    let format = match args.format {
        Some(ReportFormatArg::Csv) => ReportFormat::Csv,
        Some(ReportFormatArg::Json) => ReportFormat::JsonLines,
        None if to_stdout => ReportFormat::Csv,
        None => ReportFormat::of_path(&args.output),
    };
    if !args.journal.exists() {
        anyhow::bail!(
            "journal {} does not exist; give --journal the journal a push wrote ({})",
            args.journal.display(),
            WHERE_JOURNALS_ARE
        );
    }
    let rebuilt = if to_stdout {
        let mut stdout = std::io::stdout().lock();
        let rebuilt =
            tc_push::rebuild_report(&args.journal, ReportOutput::Stream(&mut stdout), format);
        stdout.flush()?;
        rebuilt
    } else {
        tc_push::rebuild_report(&args.journal, ReportOutput::File(&args.output), format)
    }
    .map_err(with_flag_hint)?;
    let tally = &rebuilt.tally;
    eprintln!(
        "{} rows: {} accepted, {} rejected, {} failed, {} unknown; delivered {}, not delivered {}",
        tally.rows(),
        tally.accepted,
        tally.rejected,
        tally.failed,
        tally.unknown,
        tally.delivered,
        tally.not_delivered
    );
    if !to_stdout {
        eprintln!("report: {}", args.output.display());
    }
    if !rebuilt.finished {
        eprintln!(
            "note: the push did not finish: rows it never read are not in this report; run \
             tcbatch submit --resume on {} to finish it",
            rebuilt.inputs.join(", ")
        );
    }
    Ok(if tally.rejected + tally.failed + tally.unknown == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SOME_ROWS_NOT_ACCEPTED)
    })
}

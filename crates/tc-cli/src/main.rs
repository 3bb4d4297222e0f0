//! `tcbatch`: checks and normalises call records for Truecaller's Call Personalisation Batch v2
//! API, from the CSV, JSON Lines and JSON files that CRM and dialer exports produce.
//!
//! `main` only dispatches: each subcommand is a module, and the input readers in [`read`] are
//! shared by every subcommand that reads call records.

mod normalize;
mod read;
mod report;
mod validate;

use clap::{Parser, Subcommand};
use std::io;
use std::process::ExitCode;

/// Exit status on a usage or I/O error (clap uses it for usage errors too).
const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "tcbatch",
    version,
    about = "Validate and normalise call records for Truecaller's \
                                              Call Personalisation Batch v2 API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every record of a CSV, JSON Lines or JSON file against the API's rules; nothing is sent.
    Validate(validate::ValidateArgs),
    /// Normalise phone numbers, one per line on standard input, to E.164.
    Normalize(normalize::NormalizeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`tcbatch ... | head`) is the reader's choice, not an error to report.
            if !is_broken_pipe(&err) {
                eprintln!("tcbatch: error: {err}");
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    Ok(match cli.command {
        Command::Validate(args) => validate::run(args)?,
        Command::Normalize(args) => normalize::run(args)?,
    })
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

//! `tcbatch`: checks, normalises and pushes call records to Truecaller's Call Personalisation
//! Batch v2 API, from the CSV, JSON Lines and JSON files that CRM and dialer exports produce.
//!
//! `main` only dispatches: each subcommand is a module, and the input readers (the `tc-input`
//! crate, with the flags of [`input_args`]) are shared by every subcommand that reads call
//! records.

mod check;
mod completions;
mod config;
mod connection;
mod input_args;
mod journal_report;
mod labels;
mod mock;
mod normalize;
mod report;
mod serve;
mod shutdown;
mod status;
mod submit;
mod validate;

use clap::{CommandFactory, Parser, Subcommand};
use std::io::{self, IsTerminal};
use std::process::ExitCode;

/// glibc's malloc took a fifth of `validate`'s processor time with the reader and two workers
/// allocating at once (docs/performance.md); mimalloc's per-thread heaps do not contend.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status on a usage or I/O error (clap uses it for usage errors too).
const EXIT_ERROR: u8 = 2;

/// The log directive that silences the phone library, whose trace lines quote customers' numbers.
const PHONE_LIBRARY_LOGS: &str = "rlibphonenumber=off";

#[derive(Debug, Parser)]
#[command(
    name = "tcbatch",
    version,
    about = "Validate, normalise and push call records to Truecaller's \
             Call Personalisation Batch v2 API",
    after_help = "Exit status: 0 on success; 1 when some record is invalid, not accepted or not \
                  delivered; 2 on a usage, input, credentials or I/O error; each command's \
                  --help gives its own."
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
    /// Push a file to the API: validate, send full batches at the rate limit, journal, report.
    Submit(submit::SubmitArgs),
    /// Serve a local simulator of the API for tests and demos (loopback only by default).
    Mock(mock::MockArgs),
    /// Serve a durable relay: producers post records one by one, the relay stores them and
    /// sends them in full batches (loopback only by default).
    Serve(serve::ServeArgs),
    /// Show what became of each record of one or more batches on the customers' phones.
    Status(status::StatusArgs),
    /// List the account's dynamic labels, every page of them.
    Labels(labels::LabelsArgs),
    /// Check the credentials: create one token (or reuse the one this machine keeps) and show
    /// what the account can see.
    Check(check::CheckArgs),
    /// Rebuild a push's report from its journal, without sending anything.
    Report(journal_report::ReportArgs),
    /// Print a shell's completion script for tcbatch.
    Completions(completions::CompletionsArgs),
    /// Print or write tcbatch's manual pages.
    Man(completions::ManArgs),
    /// The config file's profiles: `config show` prints the settings a command would use.
    Config(config::ConfigArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(cli.command, Command::Mock(_) | Command::Serve(_)));
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`tcbatch ... | head`) is the reader's choice, not an error to report.
            if !is_broken_pipe(&err) {
                eprintln!("tcbatch: error: {}", message_of(&err));
            }
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    Ok(match cli.command {
        Command::Validate(args) => validate::run(args)?,
        Command::Normalize(args) => normalize::run(args)?,
        Command::Submit(args) => ExitCode::from(submit::run(args)? as u8),
        Command::Mock(args) => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(mock::run(args))?;
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            serve::run(args)?;
            ExitCode::SUCCESS
        }
        Command::Status(args) => status::run(args)?,
        Command::Labels(args) => labels::run(args)?,
        Command::Check(args) => check::run(args)?,
        Command::Report(args) => journal_report::run(args)?,
        Command::Completions(args) => {
            completions::completions(args, Cli::command())?;
            ExitCode::SUCCESS
        }
        Command::Man(args) => {
            completions::man(args, Cli::command())?;
            ExitCode::SUCCESS
        }
        Command::Config(args) => {
            config::run(args)?;
            ExitCode::SUCCESS
        }
    })
}

/// Logs go to stderr, filtered by `RUST_LOG`. The simulator logs each request by default; the
/// other commands stay quiet unless asked. No log line ever carries a secret, a token or a
/// customer's phone number.
fn init_logging(serving: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The phone library traces every number it parses, in full. A directive for its target
    // outranks any level `RUST_LOG` sets, so not even `RUST_LOG=trace` lets a number through.
    let filter = match PHONE_LIBRARY_LOGS.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// The runtime the commands that talk to the API (or serve) run on.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The error and its causes on one line, each said once: many errors already quote their
/// source in their own words, and printing the chain after them would say it twice.
fn message_of(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        let io = match e.downcast_ref::<validate::ValidateError>() {
            Some(validate::ValidateError::Output(io)) => Some(io),
            _ => e.downcast_ref::<io::Error>(),
        };
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 26, item 15: a cause an error already quotes is not printed again.
    #[test]
    fn each_cause_is_said_once() {
        let inner = io::Error::other("another push is writing this report now");
        let err = anyhow::Error::new(inner)
            .context("cannot write report r.csv: another push is writing this report now")
            .context("the push stopped");
        assert_eq!(
            message_of(&err),
            "the push stopped: cannot write report r.csv: another push is writing this report now"
        );
    }
}

//! `tcbatch submit`: validate a file, push its valid rows in full batches at the rate limit,
//! journal every batch so a crash loses nothing, and report an answer for every row.
//!
//! The push itself is the `tc_push` engine; this module only parses the arguments, loads the
//! credentials, feeds the engine the file's rows (`rows`), renders its events (`progress`),
//! turns Ctrl-C and SIGTERM into a stop (`signals`), and prints the summary.

pub(crate) mod credentials;
mod dry_run;
mod progress;
mod rows;
mod signals;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tc_push::{Destination, Fingerprint, PushConfig, PushEnd, Pushed, Pusher, SendOptions, Tally};

/// Exit status when every row was accepted (or, with --dry-run, is valid).
pub const EXIT_OK: i32 = 0;
/// Exit status when some rows were rejected, failed, or have an unknown outcome.
pub const EXIT_SOME_ROWS_NOT_ACCEPTED: i32 = 1;
/// Exit status when the push was interrupted by Ctrl-C (SIGINT); resume it with --resume.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Exit status when the push was stopped by SIGTERM; resume it with --resume.
pub const EXIT_TERMINATED: i32 = 143;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when every row was accepted (with --dry-run: every row is \
                        valid); 1 when some rows were rejected, failed or have an unknown outcome \
                        (see the report); 2 on a usage, credentials, input or journal error \
                        (nothing more was sent); 130 when interrupted by Ctrl-C and 143 when \
                        stopped by SIGTERM (run the same command with --resume to finish)."
)]
pub struct SubmitArgs {
    /// The CSV, JSON Lines or JSON file of call records.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Input format; inferred from the file extension when not given.
    #[arg(long, value_enum)]
    pub format: Option<tc_input::Format>,
    /// Default region (ISO 3166, such as IN) for numbers written without + or 00.
    #[arg(long, value_name = "CC")]
    pub region: Option<String>,
    #[command(flatten)]
    pub connection: crate::connection::ConnectionArgs,
    /// Report path: CSV, or JSON Lines when it ends in .jsonl. Default: FILE.report.csv
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Journal path. Default: FILE.journal
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Continue a push that was interrupted, from its journal.
    #[arg(long)]
    pub resume: bool,
    /// Validate and plan batches, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// After sending, poll the status endpoint and add each record's delivery to the report.
    #[arg(long)]
    pub wait: bool,
    /// Which status endpoint --wait polls: the documented /v2, or the /v3 of the newest pages.
    #[arg(long, value_enum, default_value_t = StatusApiArg::V2)]
    pub status_api: StatusApiArg,
    /// Longest time --wait polls, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait_timeout: u64,
    /// Never re-send a batch whose outcome is unknown (no duplicates, but possibly lost records).
    #[arg(long)]
    pub at_most_once: bool,
    /// How phone numbers are written on the wire. Default: the profile's, else e164.
    #[arg(long, value_enum)]
    pub number_format: Option<NumberFormatArg>,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
    /// Threads that validate; the batches are the same whatever the number. Default: one per core but
    /// the one the reading takes, at least one.
    #[arg(long, value_name = "N", default_value_t = tc_push::ordered::Jobs::beside_the_reader())]
    pub jobs: tc_push::ordered::Jobs,
    /// Print each push event as a JSON line on standard error (for tests and scripts).
    #[arg(long, hide = true)]
    pub events: bool,
    #[command(flatten)]
    pub input: crate::input_args::InputArgs,
}

impl SubmitArgs {
    /// Fills what no flag gave from the config file's profile, and says how to read the input.
    fn apply_profile(&mut self) -> Result<tc_input::ReadOptions> {
        let settings = crate::config::Settings::load(&self.input.profile)?;
        self.connection.apply_profile(&settings)?;
        if self.region.is_none() {
            self.region = settings.region(None).map(|r| r.to_string());
        }
        let flag = self.number_format.map(number_format);
        self.number_format = Some(match settings.number_format(flag) {
            tc_core::NumberFormat::Digits => NumberFormatArg::Digits,
            _ => NumberFormatArg::E164,
        });
        let format = tc_input::Format::resolve(self.format, Some(&self.file))?;
        Ok(settings.read_options(&self.input, Some(format))?)
    }

    fn number_format(&self) -> tc_core::NumberFormat {
        number_format(self.number_format.unwrap_or(NumberFormatArg::E164))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NumberFormatArg {
    /// +919876543210
    E164,
    /// 919876543210
    Digits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusApiArg {
    V2,
    V3,
}

impl From<StatusApiArg> for tc_http::StatusApi {
    fn from(arg: StatusApiArg) -> tc_http::StatusApi {
        match arg {
            StatusApiArg::V2 => tc_http::StatusApi::V2,
            StatusApiArg::V3 => tc_http::StatusApi::V3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Human,
    Json,
}

pub fn run(args: SubmitArgs) -> Result<i32> {
    let runtime = crate::runtime()?;
    runtime.block_on(run_async(args))
}

/// The files of one push.
struct Files {
    read: tc_input::ReadOptions,
    journal: PathBuf,
    report: PathBuf,
    /// How many of the readers' warnings were printed before the push began.
    header_warnings: usize,
}

/// Everything checked before anything starts (a simulator, a journal, a request): the three
/// files distinct and writable, no journal overwritten, and, unless a journal is resumed (whose
/// journal it is comes first then: a changed input may not even be readable any more), the
/// input's header read, its warnings printed.
fn check_files(args: &SubmitArgs, read: tc_input::ReadOptions) -> Result<(Files, Fingerprint)> {
    let mut files = Files {
        read,
        journal: args
            .journal
            .clone()
            .unwrap_or_else(|| sibling(&args.file, "journal")),
        report: args
            .report
            .clone()
            .unwrap_or_else(|| sibling(&args.file, "report.csv")),
        header_warnings: 0,
    };
    tc_push::check_outputs(Some(&args.file), &files.journal, &files.report)?;
    let fingerprint = Fingerprint::of_file(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    if args.connection.mock && !args.resume && args.journal.is_none() {
        // A journal of an earlier demo push describes a simulator that is gone: start afresh,
        // unless a demo push still running holds it.
        tc_push::journal::remove_unused(&files.journal).map_err(with_flag_hint)?;
    }
    if !args.resume && files.journal.exists() {
        let path = files.journal.clone();
        return Err(with_flag_hint(tc_push::Error::JournalExists { path }));
    }
    if !(args.resume && files.journal.exists()) {
        files.header_warnings = read_header(&args.file, &files.read)?;
    }
    Ok((files, fingerprint))
}

/// Opens the input and reads its header, printing the readers' warnings; returns how many.
fn read_header(file: &Path, read: &tc_input::ReadOptions) -> Result<usize> {
    let warnings = tc_input::open_with(Some(file), read)?.warnings();
    print_warnings(&warnings);
    Ok(warnings.len())
}

fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        eprintln!("tcbatch: warning: {warning}");
    }
}

async fn run_async(mut args: SubmitArgs) -> Result<i32> {
    if args.file.as_os_str() == "-" {
        anyhow::bail!(
            "submit needs a file, not standard input: its journal is tied to the file's content \
             so that a push can be resumed; save the records to a file first"
        );
    }
    let read = args.apply_profile()?;
    let region = args
        .region
        .as_deref()
        .map(str::parse::<tc_core::Region>)
        .transpose()?;
    if args.dry_run {
        return dry_run::run(&args, &read, region);
    }
    let (mut files, fingerprint) = check_files(&args, read)?;
    let resuming_a_journal = args.resume && files.journal.exists();
    let target = Target::connect(&args).await?;
    let client = target.client(&args)?;
    let options = SendOptions::new(target.destination.clone(), target.client_account_id.clone())
        .with_region(region)
        .with_number_format(args.number_format());
    let config = push_config(&args, &files, fingerprint, options);
    // Opening a journal to resume checks whose it is, before the input is read.
    let pusher = Pusher::open(config, tc_push::SystemClock).map_err(with_flag_hint)?;
    if resuming_a_journal {
        files.header_warnings = read_header(&args.file, &files.read)?;
    }
    let code = push_and_report(&args, &files, pusher, &client).await;
    target.shutdown().await;
    code
}

fn push_config(
    args: &SubmitArgs,
    files: &Files,
    fingerprint: Fingerprint,
    options: SendOptions,
) -> PushConfig {
    PushConfig::new(files.journal.clone(), fingerprint, options)
        .with_input_name(args.file.display().to_string())
        .with_start(if args.resume {
            tc_push::Start::Resume
        } else {
            tc_push::Start::New
        })
        .with_guarantee(if args.at_most_once {
            tc_push::Guarantee::AtMostOnce
        } else {
            tc_push::Guarantee::AtLeastOnce
        })
        .with_in_flight(usize::from(args.connection.tokens()) * IN_FLIGHT_PER_TOKEN)
        .with_jobs(args.jobs)
}

/// Requests in flight per token. One at a time would cap a token at 60 per minute only while an
/// answer takes under a second; the client's rate limiter, not this number, keeps every token
/// within its limit. It is also the most batches a crash can leave unanswered per token.
const IN_FLIGHT_PER_TOKEN: usize = 4;

async fn push_and_report(
    args: &SubmitArgs,
    files: &Files,
    mut pusher: Pusher,
    client: &tc_http::Client,
) -> Result<i32> {
    if let Some(resumed) = pusher.resumed() {
        eprintln!("tcbatch: resuming: {}", resumed_message(&resumed));
    }
    let signal = signals::stop_on_signal(pusher.stop_handle());
    let progress = progress::Progress::start(
        f64::from(args.connection.rate_limit) * 1000.0 / args.connection.rate_window_ms as f64
            * f64::from(args.connection.tokens()),
        tc_input::estimate_rows(&args.file),
        args.events,
    );
    let rows = rows::FileRows::new(&args.file, files.read.clone());
    let read_error = rows.error_slot();
    let read_warnings = rows.warning_slot();
    // Delivery results would change rows already written: with --wait, the report is written
    // once they are in.
    let live_report = if args.wait {
        None
    } else {
        Some(pusher.start_report(&files.report)?)
    };
    let pushed = pusher.push(rows, client, progress.clone()).await?;
    progress.finish();
    let warnings = std::mem::take(&mut *read_warnings.lock().unwrap_or_else(|e| e.into_inner()));
    print_warnings(warnings.get(files.header_warnings..).unwrap_or_default());
    signal.disarm();
    if args.wait && matches!(pushed.end, PushEnd::Finished { .. }) {
        let timeout = Duration::from_secs(args.wait_timeout);
        let polled = pusher.poll_deliveries(client, timeout).await?;
        if polled.unsettled > 0 {
            eprintln!(
                "tcbatch: {} batches not fully processed before --wait-timeout; their rows have \
                 no delivery status",
                polled.unsettled
            );
        }
    }
    let input_rows = match pushed.end {
        PushEnd::Finished { input_rows } => input_rows,
        // The push stopped early: count the input so unsent rows get an answer too.
        _ => tc_input::open_with(Some(&args.file), &files.read)?.count() as u64,
    };
    let tally = match live_report {
        Some(report) => report.finish(input_rows)?,
        None => pusher.write_report(&files.report, input_rows)?,
    };
    drop(pusher);
    if let Some(error) = rows::take(&read_error) {
        return Err(error.into());
    }
    print_summary(args, &pushed, &tally, files, &client.stats());
    Ok(match signal.received() {
        Some(signals::Received::Interrupt) => EXIT_INTERRUPTED,
        Some(signals::Received::Terminate) => EXIT_TERMINATED,
        None if matches!(pushed.end, PushEnd::Interrupted) => EXIT_INTERRUPTED,
        None if tally.rejected + tally.failed + tally.unknown == 0 => EXIT_OK,
        None => EXIT_SOME_ROWS_NOT_ACCEPTED,
    })
}

fn resumed_message(resumed: &tc_push::Resumed) -> String {
    let mut text = format!("{} rows already settled", resumed.settled);
    if resumed.to_send_again > 0 {
        text += &format!(
            ", {} rows of unanswered batches to send again (flagged possibly_duplicated)",
            resumed.to_send_again
        );
    }
    if resumed.not_sent_again > 0 {
        text += &format!(
            ", {} rows of unanswered batches not sent again (--at-most-once: reported unknown)",
            resumed.not_sent_again
        );
    }
    text
}

/// The engine's errors say what to do in the library's words; name the flags that do it.
fn with_flag_hint(error: tc_push::Error) -> anyhow::Error {
    let hint = match &error {
        tc_push::Error::JournalExists { .. } => {
            "add --resume to continue that push, or give another --journal path"
        }
        tc_push::Error::OtherOptions { .. } => {
            "run with the options the push started with (--region, --number-format, --base-url, \
             --client-account-id, --mock), or give another --journal path"
        }
        tc_push::Error::OtherInput { .. } => {
            "resume with the same file, or give another --journal path"
        }
        _ => return error.into(),
    };
    anyhow::Error::new(error).context(hint)
}

fn number_format(arg: NumberFormatArg) -> tc_core::NumberFormat {
    match arg {
        NumberFormatArg::E164 => tc_core::NumberFormat::E164,
        NumberFormatArg::Digits => tc_core::NumberFormat::Digits,
    }
}

/// Where the push goes: the API (or a server at --base-url) with the operator's credentials, or
/// a simulator started inside this process.
struct Target {
    simulator: Option<tc_sim::Simulator>,
    destination: Destination,
    base_url: String,
    client_account_id: String,
    credentials: credentials::Credentials,
}

impl Target {
    async fn connect(args: &SubmitArgs) -> Result<Target> {
        if !args.connection.mock {
            let credentials = args.connection.load_credentials()?;
            return Ok(Target {
                simulator: None,
                destination: Destination::Api {
                    base_url: args.connection.base_url(),
                },
                base_url: args.connection.base_url(),
                client_account_id: credentials.client_account_id.clone(),
                credentials,
            });
        }
        let sim = tc_sim::Simulator::start(tc_sim::SimConfig::demo())
            .await
            .context("cannot start the in-process simulator")?;
        let credentials = credentials::demo(&sim);
        let base_url = sim.base_url();
        eprintln!("tcbatch: pushing to the built-in simulator at {base_url} (demo credentials)");
        Ok(Target {
            simulator: Some(sim),
            destination: Destination::BuiltInSimulator,
            base_url,
            client_account_id: credentials.client_account_id.clone(),
            credentials,
        })
    }

    fn client(&self, args: &SubmitArgs) -> Result<tc_http::Client> {
        let credentials = &self.credentials;
        let guarantee = if args.at_most_once {
            tc_http::Guarantee::AtMostOnce
        } else {
            tc_http::Guarantee::AtLeastOnce
        };
        let client = args
            .connection
            .client_builder(self.base_url.clone(), credentials)?
            .guarantee(guarantee)
            .status_api(args.status_api.into())
            .number_format(args.number_format())
            .build()?;
        Ok(client)
    }

    async fn shutdown(self) {
        if let Some(sim) = self.simulator {
            sim.shutdown().await;
        }
    }
}

fn print_summary(
    args: &SubmitArgs,
    pushed: &Pushed,
    tally: &Tally,
    files: &Files,
    stats: &tc_http::Stats,
) {
    let stopped = match &pushed.end {
        PushEnd::Stopped { error } => Some(error.to_string()),
        _ => None,
    };
    let interrupted = matches!(pushed.end, PushEnd::Interrupted);
    if args.output == OutputArg::Json {
        let summary = serde_json::json!({
            "rows": tally.rows(),
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "failed": tally.failed,
            "unknown": tally.unknown,
            "possibly_duplicated": tally.possibly_duplicated,
            "delivered": tally.delivered,
            "not_delivered": tally.not_delivered,
            "by_code": tally.by_code,
            "by_delivery_status": tally.by_delivery_status,
            "batches_sent": pushed.batches.total(),
            "batches": pushed.batches,
            "send_seconds": (pushed.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "requests": stats.requests,
            "token_requests": stats.token_requests,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "interrupted": interrupted,
            "stopped": stopped,
            "report": files.report.display().to_string(),
            "journal": files.journal.display().to_string(),
        });
        println!("{summary}");
        return;
    }
    print_human_summary(args, pushed, tally, &files.report, stats);
    if let Some(reason) = &stopped {
        eprintln!("stopped early: {reason}");
    }
    if interrupted || stopped.is_some() {
        eprintln!(
            "run the same command with --resume to finish (journal: {})",
            files.journal.display()
        );
    }
}

fn print_human_summary(
    args: &SubmitArgs,
    pushed: &Pushed,
    tally: &Tally,
    report: &Path,
    stats: &tc_http::Stats,
) {
    let mut line = format!(
        "{} rows: {} accepted, {} rejected, {} failed, {} unknown",
        tally.rows(),
        tally.accepted,
        tally.rejected,
        tally.failed,
        tally.unknown
    );
    if tally.possibly_duplicated > 0 {
        line += &format!(" ({} possibly sent twice)", tally.possibly_duplicated);
    }
    if args.wait {
        line += &format!(
            "; delivered {}, not delivered {}",
            tally.delivered, tally.not_delivered
        );
    }
    eprintln!("{line}");
    print_counts("not accepted", &tally.by_code);
    print_counts("not delivered", &tally.by_delivery_status);
    eprintln!(
        "{}; {} HTTP {} ({} for tokens, {} retries, {} answered 429); report: {}",
        batches_phrase(&pushed.batches),
        stats.requests,
        plural(stats.requests, "request", "requests"),
        stats.token_requests,
        stats.retries,
        stats.rate_limited,
        report.display()
    );
}

fn print_counts<K: std::fmt::Display>(label: &str, counts: &std::collections::BTreeMap<K, u64>) {
    if counts.is_empty() {
        return;
    }
    let mut counts: Vec<_> = counts.iter().collect();
    counts.sort_by(|a, b| {
        b.1.cmp(a.1)
            .then_with(|| a.0.to_string().cmp(&b.0.to_string()))
    });
    let list: Vec<String> = counts
        .iter()
        .map(|(code, n)| format!("{n} {code}"))
        .collect();
    eprintln!("  {label}: {}", list.join(", "));
}

/// "no batch sent", or how the batches of this run ended ("batches: 3 accepted, 1 failed"):
/// only what happened is counted, and a batch whose request never left is not called sent.
fn batches_phrase(batches: &tc_push::BatchCounts) -> String {
    if batches.total() == 0 {
        return "no batch sent".to_owned();
    }
    let parts: Vec<String> = [
        (batches.accepted, "accepted"),
        (batches.failed, "failed"),
        (batches.unknown, "unknown"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{n} {word}"))
    .collect();
    format!("batches: {}", parts.join(", "))
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `calls.csv` -> `calls.csv.journal`, beside the input.
fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}"));
    file.with_file_name(name)
}

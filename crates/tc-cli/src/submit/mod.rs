//! `tcbatch submit`: validate a file, push its valid rows in full batches at the rate limit,
//! journal every batch so a crash loses nothing, and report an answer for every row.
//!
//! Data path: read (`crate::read`) -> validate (`tc_core`) -> plan full batches -> one sender task
//! per token (`send`) -> journal (`journal`) -> report (`report`), then `--wait` polls delivery
//! (`wait`). A resumed run (`state`) skips every row the journal has already settled.

mod credentials;
mod dry_run;
mod journal;
mod progress;
mod report;
mod send;
mod state;
mod wait;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use report::Tally;

/// Exit status when every row was accepted (or, with --dry-run, is valid).
pub const EXIT_OK: i32 = 0;
/// Exit status when some rows were rejected, failed, or have an unknown outcome.
pub const EXIT_SOME_ROWS_NOT_ACCEPTED: i32 = 1;
/// Exit status when the push was interrupted (Ctrl-C); resume it with --resume.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The CSV, JSON Lines or JSON file of call records.
    pub file: PathBuf,
    /// Input format; inferred from the file extension when not given.
    #[arg(long, value_enum)]
    pub format: Option<crate::read::Format>,
    /// Default region (ISO 3166, such as IN) for numbers written without + or 00.
    #[arg(long)]
    pub region: Option<String>,
    /// API base URL.
    #[arg(long, default_value = "https://enterprise-portal-noneu.truecaller.com")]
    pub base_url: String,
    /// Client account id; defaults to $TRUECALLER_CLIENT_ACCOUNT_ID.
    #[arg(long)]
    pub client_account_id: Option<String>,
    /// A file of KEY=VALUE lines: TRUECALLER_CLIENT_ACCOUNT_ID, TRUECALLER_KEY_ID, TRUECALLER_API_KEY.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Access tokens to send on in parallel, each held to 60 requests per minute (1 to 10).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub tokens: u8,
    /// Report path: CSV, or JSON Lines when it ends in .jsonl. Default: FILE.report.csv
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Journal path. Default: FILE.journal
    #[arg(long)]
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
    #[arg(long, default_value_t = 900)]
    pub wait_timeout: u64,
    /// Never re-send a batch whose outcome is unknown (no duplicates, but possibly lost records).
    #[arg(long)]
    pub at_most_once: bool,
    /// How phone numbers are written on the wire.
    #[arg(long, value_enum, default_value_t = NumberFormatArg::E164)]
    pub number_format: NumberFormatArg,
    /// Push to a simulator started inside this process, with demo credentials.
    #[arg(long)]
    pub mock: bool,
    /// Requests allowed per token per rate window. Only for a simulator started with another
    /// limit (benchmarks); the API allows 60 per minute.
    #[arg(long, default_value_t = 60, hide = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// Length of the rate window in milliseconds (see --rate-limit).
    #[arg(long, default_value_t = 60_000, hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_ms: u64,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Human,
    Json,
}

pub fn run(args: SubmitArgs) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: SubmitArgs) -> Result<i32> {
    if args.file.as_os_str() == "-" {
        anyhow::bail!(
            "submit needs a file, not standard input: its journal is tied to the file's content \
             so that a push can be resumed; save the records to a file first"
        );
    }
    let format = crate::read::Format::resolve(args.format, Some(&args.file))?;
    let region = args
        .region
        .as_deref()
        .map(tc_core::Region::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if args.dry_run {
        return dry_run::run(&args, format, region);
    }
    let journal_path = args
        .journal
        .clone()
        .unwrap_or_else(|| sibling(&args.file, "journal"));
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| sibling(&args.file, "report.csv"));
    let fingerprint = fingerprint(&args.file)?;
    if args.mock && !args.resume && args.journal.is_none() {
        // A journal of an earlier demo push describes a simulator that is gone: start afresh.
        let _ = std::fs::remove_file(&journal_path);
    }

    let mut simulator = None;
    let (base_url, credentials) = if args.mock {
        let sim = tc_sim::Simulator::start(tc_sim::SimConfig::demo())
            .await
            .context("cannot start the in-process simulator")?;
        let config = sim.config();
        let credentials = credentials::Credentials {
            client_account_id: config.client_account_id.clone(),
            key_id: config.key_id.clone(),
            api_key: config.api_key.clone().into(),
        };
        let url = sim.base_url();
        eprintln!("tcbatch: pushing to the built-in simulator at {url} (demo credentials)");
        simulator = Some(sim);
        (url, credentials)
    } else {
        let creds = credentials::load(
            args.credentials.as_deref(),
            args.client_account_id.as_deref(),
        )?;
        (args.base_url.clone(), creds)
    };

    let config = tc_http::ClientConfig::new(
        base_url,
        credentials.client_account_id,
        credentials.key_id,
        credentials.api_key,
    )
    .with_tokens(usize::from(args.tokens))
    .with_rate_limit(args.rate_limit, Duration::from_millis(args.rate_window_ms))
    // The client's margin on each window (250 ms on the API's minute), kept in proportion
    // when a benchmark shortens the window.
    .with_rate_guard(
        Duration::from_millis(args.rate_window_ms / 240).min(Duration::from_millis(250)),
    )
    .with_at_most_once(args.at_most_once)
    .with_status_api(match args.status_api {
        StatusApiArg::V2 => tc_http::StatusApi::V2,
        StatusApiArg::V3 => tc_http::StatusApi::V3,
    })
    .with_number_format(match args.number_format {
        NumberFormatArg::E164 => tc_core::NumberFormat::E164,
        NumberFormatArg::Digits => tc_core::NumberFormat::Digits,
    });
    let client = tc_http::Client::new(config)?;

    let plan = send::Plan {
        file: args.file.clone(),
        format,
        region,
        journal: journal_path.clone(),
        fingerprint,
        resume: args.resume,
        tokens: usize::from(args.tokens),
        requests_per_second: f64::from(args.rate_limit) * 1000.0 / args.rate_window_ms as f64,
    };
    let sent = send::push(&plan, &client).await?;
    if args.wait && !sent.interrupted && sent.stopped.is_none() {
        wait::poll_deliveries(
            &journal_path,
            &client,
            Duration::from_secs(args.wait_timeout),
        )
        .await?;
    }
    let input_rows = match sent.input_rows {
        Some(rows) => rows,
        // The push stopped early: count the input so unsent rows get an answer too.
        None => crate::read::open(Some(&args.file), format)?.count() as u64,
    };
    let tally = report::write_report(&journal_path, &report_path, input_rows)?;
    if let Some(sim) = simulator {
        sim.shutdown().await;
    }
    print_summary(
        &args,
        &sent,
        &tally,
        &report_path,
        &journal_path,
        &client.stats(),
    );
    Ok(if sent.interrupted {
        EXIT_INTERRUPTED
    } else if tally.rejected + tally.failed + tally.unknown == 0 {
        EXIT_OK
    } else {
        EXIT_SOME_ROWS_NOT_ACCEPTED
    })
}

fn print_summary(
    args: &SubmitArgs,
    sent: &send::Sent,
    tally: &Tally,
    report: &Path,
    journal: &Path,
    stats: &tc_http::Stats,
) {
    let rows = tally.rows();
    if args.output == OutputArg::Json {
        let summary = serde_json::json!({
            "rows": rows,
            "accepted": tally.accepted,
            "rejected": tally.rejected,
            "failed": tally.failed,
            "unknown": tally.unknown,
            "possibly_duplicated": tally.possibly_duplicated,
            "delivered": tally.delivered,
            "not_delivered": tally.not_delivered,
            "by_code": tally.by_code,
            "by_delivery_status": tally.by_delivery_status,
            "batches_sent": sent.batches,
            "send_seconds": (sent.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "requests": stats.requests,
            "token_requests": stats.token_requests,
            "retries": stats.retries,
            "rate_limited": stats.rate_limited,
            "interrupted": sent.interrupted,
            "stopped": sent.stopped,
            "report": report.display().to_string(),
            "journal": journal.display().to_string(),
        });
        println!("{summary}");
        return;
    }
    let mut line = format!(
        "{rows} rows: {} accepted, {} rejected, {} failed, {} unknown",
        tally.accepted, tally.rejected, tally.failed, tally.unknown
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
    for (label, counts) in [
        ("not accepted", &tally.by_code),
        ("not delivered", &tally.by_delivery_status),
    ] {
        if !counts.is_empty() {
            let mut counts: Vec<_> = counts.iter().collect();
            counts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let list: Vec<String> = counts
                .iter()
                .map(|(code, n)| format!("{n} {code}"))
                .collect();
            eprintln!("  {label}: {}", list.join(", "));
        }
    }
    eprintln!(
        "{} {} sent; {} HTTP requests ({} for tokens, {} retries, {} answered 429); report: {}",
        sent.batches,
        if sent.batches == 1 {
            "batch"
        } else {
            "batches"
        },
        stats.requests,
        stats.token_requests,
        stats.retries,
        stats.rate_limited,
        report.display()
    );
    if let Some(reason) = &sent.stopped {
        eprintln!("stopped early: {reason}");
    }
    if sent.interrupted || sent.stopped.is_some() {
        eprintln!(
            "run the same command with --resume to finish (journal: {})",
            journal.display()
        );
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

/// SHA-256 of the input's bytes: a journal is only resumed against the file it was written for.
fn fingerprint(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open {}: check the path", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

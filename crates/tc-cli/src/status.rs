//! `tcbatch status`: what became of each record of one or more batches on the customers' phones,
//! from the status endpoint; with `--wait`, asked again until every record is settled.
//!
//! Whether a delivery is settled or delivered is decided by `tc_core::wire::DeliveryStatus`
//! alone, as for the push's report.

use crate::connection::ConnectionArgs;
use crate::submit::{OutputArg, StatusApiArg};
use anyhow::Result;
use std::process::ExitCode;
use std::time::Duration;
use tc_core::diagnostic::escape_control_characters;
use tc_core::wire::{BatchStatusResponse, RecordStatus};
use tc_core::BatchId;

/// Exit status when a record was not delivered, or is still on its way.
pub const EXIT_NOT_ALL_DELIVERED: u8 = 1;
/// Exit status when a batch's status could not be read (an unknown batch id, refused
/// credentials, an unreachable API).
pub const EXIT_UNREADABLE: u8 = 2;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when every record of every batch was delivered; 1 when a \
                        record was not delivered or is still pending, processing or queued; 2 on \
                        a usage error or when a batch's status could not be read (an unknown \
                        batch id, refused credentials, an unreachable API). The other batches \
                        are still shown."
)]
pub struct StatusArgs {
    /// The batch ids the create answers gave (the report's batch_id column).
    #[arg(value_name = "BATCH_ID", required = true)]
    pub batch_ids: Vec<BatchId>,
    /// Ask again until every record's delivery is settled, or --wait-timeout is up.
    #[arg(long)]
    pub wait: bool,
    /// Longest time --wait asks, in seconds, for each batch.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait_timeout: u64,
    /// Which status endpoint to ask: the documented /v2, or the /v3 of the newest pages.
    #[arg(long, value_enum, default_value_t = StatusApiArg::V2)]
    pub status_api: StatusApiArg,
    /// Human table, or one JSON object per batch on standard output.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    pub output: OutputArg,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub profile: crate::input_args::ProfileArgs,
}

/// One batch as read: its records, or why it could not be read.
struct BatchAnswer {
    batch_id: BatchId,
    read: Result<BatchStatusResponse, tc_http::Error>,
}

pub fn run(mut args: StatusArgs) -> Result<ExitCode> {
    args.connection.apply_profile_of(&args.profile)?;
    let runtime = crate::runtime()?;
    let answers = runtime.block_on(read_all(&args))?;
    let mut out = std::io::stdout().lock();
    for answer in &answers {
        match args.output {
            OutputArg::Human => print_human(&mut out, answer)?,
            OutputArg::Json => print_json(&mut out, answer)?,
        }
    }
    Ok(ExitCode::from(exit_status(&answers)))
}

async fn read_all(args: &StatusArgs) -> Result<Vec<BatchAnswer>> {
    let connection = args
        .connection
        .connect_with(|builder| builder.status_api(args.status_api.into()))
        .await?;
    let timeout = Duration::from_secs(args.wait_timeout);
    let mut answers = Vec::with_capacity(args.batch_ids.len());
    for batch_id in &args.batch_ids {
        let client = &connection.client;
        let read = if args.wait {
            client
                .wait_for_batch(batch_id, tc_push::POLL_EVERY, timeout)
                .await
                .map(|waited| waited.status)
        } else {
            client.batch_status(batch_id).await
        };
        // An unknown id is the operator's typo, not a reason to hide the other batches.
        let read = match read {
            Err(error) if !concerns_one_batch(&error) => {
                connection.close().await;
                return Err(error.into());
            }
            read => read,
        };
        answers.push(BatchAnswer {
            batch_id: batch_id.clone(),
            read,
        });
    }
    connection.close().await;
    Ok(answers)
}

/// Whether an error is about the batch asked for (the API refused that id) rather than about
/// every request (credentials, the network), which would fail the next batch the same way.
fn concerns_one_batch(error: &tc_http::Error) -> bool {
    matches!(error, tc_http::Error::Final { .. })
}

fn exit_status(answers: &[BatchAnswer]) -> u8 {
    let mut status = 0;
    for answer in answers {
        match &answer.read {
            Err(_) => return EXIT_UNREADABLE,
            Ok(read) if !all_delivered(read) => status = EXIT_NOT_ALL_DELIVERED,
            Ok(_) => {}
        }
    }
    status
}

/// An empty list is not "all delivered": the API has not listed the batch's records yet.
fn all_delivered(read: &BatchStatusResponse) -> bool {
    !read.data.is_empty()
        && read
            .data
            .iter()
            .all(|record| record.status_info.delivery().is_delivered())
}

fn print_human(out: &mut impl std::io::Write, answer: &BatchAnswer) -> std::io::Result<()> {
    let read = match &answer.read {
        Ok(read) => read,
        Err(error) => {
            eprintln!("tcbatch: batch {}: {error}", answer.batch_id.as_str());
            return Ok(());
        }
    };
    writeln!(
        out,
        "batch {}: {}",
        answer.batch_id.as_str(),
        headline(read)
    )?;
    for record in &read.data {
        let delivery = record.status_info.delivery();
        let message = record.status_info.message.as_deref().unwrap_or_default();
        let line = format!(
            "  {:<16} {:<26} {}",
            escape_control_characters(&record.receiver_number),
            delivery.as_str(),
            escape_control_characters(message)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `3 records: 2 delivered, 1 not delivered, 0 pending`.
fn headline(read: &BatchStatusResponse) -> String {
    if read.data.is_empty() {
        return "no record listed yet (the API has not processed the batch); ask again later, \
                or add --wait"
            .to_owned();
    }
    let count = |wanted: fn(&RecordStatus) -> bool| read.data.iter().filter(|r| wanted(r)).count();
    let delivered = count(|r| r.status_info.delivery().is_delivered());
    let pending = count(|r| !r.status_info.delivery().is_settled());
    let not_delivered = read.data.len() - delivered - pending;
    format!(
        "{} records: {delivered} delivered, {not_delivered} not delivered, {pending} pending",
        read.data.len()
    )
}

fn print_json(out: &mut impl std::io::Write, answer: &BatchAnswer) -> std::io::Result<()> {
    let line = match &answer.read {
        Ok(read) => serde_json::json!({
            "batch_id": answer.batch_id.as_str(),
            "settled": !read.data.is_empty()
                && read.data.iter().all(|r| r.status_info.delivery().is_settled()),
            "delivered": all_delivered(read),
            "records": read.data.iter().map(record_json).collect::<Vec<_>>(),
        }),
        Err(error) => {
            eprintln!("tcbatch: batch {}: {error}", answer.batch_id.as_str());
            serde_json::json!({
                "batch_id": answer.batch_id.as_str(),
                "error": error.to_string(),
            })
        }
    };
    writeln!(out, "{line}")
}

fn record_json(record: &RecordStatus) -> serde_json::Value {
    let delivery = record.status_info.delivery();
    serde_json::json!({
        "id": record.id,
        "caller_number": record.caller_number,
        "receiver_number": record.receiver_number,
        "delivery_status": delivery.as_str(),
        "settled": delivery.is_settled(),
        "delivered": delivery.is_delivered(),
        "message": record.status_info.message,
    })
}

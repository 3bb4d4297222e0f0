//! `--wait`: after the push, poll each accepted batch's status until every record has one, and
//! journal the per-record delivery so the report can say whether each customer's phone was reached.

use super::journal::{read_entries, BatchStatus, DeliveryRow, Entry, JournalWriter};
use anyhow::Result;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a batch that is not fully processed yet is asked again.
const POLL_EVERY: Duration = Duration::from_secs(2);

pub async fn poll_deliveries(
    journal: &Path,
    client: &tc_http::Client,
    timeout: Duration,
) -> Result<()> {
    // Which batches were accepted and have no delivery yet (this run or an earlier one).
    let mut accepted: HashMap<u64, String> = HashMap::new();
    let mut delivered: HashSet<u64> = HashSet::new();
    for entry in read_entries(journal)? {
        match entry?.1 {
            Entry::Outcome {
                seq,
                status: BatchStatus::Accepted,
                batch_id: Some(id),
                ..
            } => {
                accepted.insert(seq, id);
            }
            Entry::Delivery { seq, .. } => {
                delivered.insert(seq);
            }
            _ => {}
        }
    }
    accepted.retain(|seq, _| !delivered.contains(seq));
    if accepted.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    let mut writer = JournalWriter::append(journal)?;
    // Stream the batch entries again for their rows; one batch is held in memory at a time.
    for entry in read_entries(journal)? {
        let Entry::Batch {
            seq,
            rows,
            receivers,
            ..
        } = entry?.1
        else {
            continue;
        };
        let Some(batch_id) = accepted.remove(&seq) else {
            continue;
        };
        let records = loop {
            let status = client.batch_status(&batch_id).await?;
            if let Some(records) = match_rows(&rows, &receivers, &status) {
                break Some(records);
            }
            if Instant::now() + POLL_EVERY > deadline {
                eprintln!("tcbatch: batch {batch_id} not fully processed before --wait-timeout; its rows have no delivery status");
                break None;
            }
            tokio::time::sleep(POLL_EVERY).await;
        };
        if let Some(records) = records {
            writer.write(&Entry::Delivery { seq, records })?;
            writer.sync()?;
        }
    }
    Ok(())
}

/// Pairs the status entries with the batch's rows by receiver number (in order, so a receiver
/// that appears twice pairs up twice). `None` until every row has a settled status.
fn match_rows(
    rows: &[u64],
    receivers: &[String],
    status: &tc_core::wire::BatchStatusResponse,
) -> Option<Vec<DeliveryRow>> {
    let digits = |n: &str| n.trim_start_matches('+').to_owned();
    let mut pending: HashMap<String, Vec<u64>> = HashMap::new();
    for (row, receiver) in rows.iter().zip(receivers).rev() {
        pending.entry(digits(receiver)).or_default().push(*row);
    }
    let mut out = Vec::with_capacity(rows.len());
    for record in &status.data {
        let settled = !matches!(
            record.status_info.status.as_str(),
            "" | "pending" | "processing" | "queued"
        );
        if !settled {
            return None;
        }
        if let Some(row) = pending
            .get_mut(&digits(&record.receiver_number))
            .and_then(Vec::pop)
        {
            out.push(DeliveryRow {
                row,
                status: record.status_info.status.clone(),
                message: record.status_info.message.clone(),
            });
        }
    }
    (out.len() == rows.len()).then_some(out)
}

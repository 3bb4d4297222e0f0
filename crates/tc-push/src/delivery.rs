//! Delivery polling: after the push, ask the status of each accepted batch until every record
//! has a settled delivery, and journal it so the report can say whether each customer's phone
//! was reached.

use crate::codes::BatchStatus;
use crate::error::Error;
use crate::journal::{read_entries, DeliveryRow, Entry, SharedJournal};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often a batch that is not fully processed yet is asked again.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// What delivery polling got done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Polled {
    /// Batches whose every record now has a settled delivery.
    pub settled: u64,
    /// Batches still not fully processed when the time was up.
    pub unsettled: u64,
}

/// Polls every accepted batch without a delivery entry with [`tc_http::Client::wait_for_batch`],
/// [`POLL_EVERY`] between asks, for at most `timeout` of waiting in all, and journals each
/// batch's deliveries as soon as they are settled. Waits on tokio's timer, so a paused test
/// runtime drives it.
pub(crate) async fn poll(
    path: &Path,
    journal: &Arc<SharedJournal>,
    client: &tc_http::Client,
    timeout: Duration,
) -> Result<Polled, Error> {
    let mut waiting = accepted_without_delivery(path)?;
    let mut polled = Polled::default();
    if waiting.is_empty() {
        return Ok(polled);
    }
    let mut waits_left = timeout.as_millis() / POLL_EVERY.as_millis().max(1);
    // Stream the batch entries again for their rows; one batch is held in memory at a time.
    for entry in read_entries(path)? {
        let Entry::Batch {
            seq,
            rows,
            receivers,
            ..
        } = entry?.1
        else {
            continue;
        };
        let Some(batch_id) = waiting.remove(&seq) else {
            continue;
        };
        let allowed = POLL_EVERY.saturating_mul(u32::try_from(waits_left).unwrap_or(u32::MAX));
        let waited = client
            .wait_for_batch(&batch_id, POLL_EVERY, allowed)
            .await?;
        waits_left = waits_left.saturating_sub(u128::from(waited.polls.saturating_sub(1)));
        // Settled, but with rows the status does not list: not answered either.
        let records = waited
            .is_settled()
            .then(|| match_rows(&rows, &receivers, &waited.status))
            .flatten();
        let Some(records) = records else {
            polled.unsettled += 1;
            continue;
        };
        journal
            .append_now(vec![Entry::Delivery { seq, records }])
            .await?;
        polled.settled += 1;
    }
    Ok(polled)
}

/// Accepted batches (of this run or an earlier one) with no delivery entry yet: seq -> batch id.
fn accepted_without_delivery(path: &Path) -> Result<HashMap<u64, tc_core::BatchId>, Error> {
    let mut accepted = HashMap::new();
    let mut delivered = HashSet::new();
    for entry in read_entries(path)? {
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
    Ok(accepted)
}

/// Pairs the status entries with the batch's rows by receiver number (in order, so a receiver
/// that appears twice pairs up twice). `None` unless every row has a settled status.
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
        let delivery = record.status_info.delivery();
        if !delivery.is_settled() {
            return None;
        }
        if let Some(row) = pending
            .get_mut(&digits(&record.receiver_number))
            .and_then(Vec::pop)
        {
            out.push(DeliveryRow {
                row,
                status: delivery,
                message: record.status_info.message.clone(),
            });
        }
    }
    (out.len() == rows.len()).then_some(out)
}

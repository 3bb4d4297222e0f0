//! Delivery polling: after the push, ask the status of each accepted batch until every record
//! has a settled delivery, and journal it so the report can say whether each customer's phone
//! was reached.

use crate::codes::OutcomeStatus;
use crate::error::Error;
use crate::journal::{read_entries, DeliveryRow, Entry, SharedJournal};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tc_engine::delivery::pair;

/// How often a batch that is not fully processed yet is asked again.
pub const POLL_EVERY: Duration = Duration::from_millis(tc_engine::delivery::POLL_EVERY_MS);

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
        let Some(records) = settled_rows(&rows, &receivers, &waited.status) else {
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
                status: OutcomeStatus::Accepted,
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

/// The deliveries of a batch's rows, once every row has its final one (`tc-engine` pairs them
/// and decides, as it does for the relay); `None` while a row waits.
fn settled_rows(
    rows: &[u64],
    receivers: &[String],
    status: &tc_core::wire::BatchStatusResponse,
) -> Option<Vec<DeliveryRow>> {
    let pairing = pair(
        rows.iter()
            .copied()
            .zip(receivers.iter().map(String::as_str)),
        status,
    );
    pairing.is_settled().then(|| {
        pairing
            .paired
            .into_iter()
            .map(|paired| DeliveryRow {
                row: paired.key,
                status: paired.status,
                message: paired.message,
            })
            .collect()
    })
}

//! Delivery polling in the background: one sent batch at a time, least recently asked first,
//! every `poll_every`, so polling takes a small, fixed share of the client's budget whatever
//! the traffic. A batch leaves the rotation once every record's delivery is settled.
//!
//! A poll takes a place in a token's rate window, the place a batch would otherwise have had.
//! While a full batch is waiting, every place is wanted for sending (a call is about to be
//! placed; its delivery can be told later), so polls then wait [`SATURATED_POLL_WINDOWS`] rate
//! windows between them: sending keeps all but a sliver of the limit, and deliveries still
//! move. Once the queue drains, polling catches up at its own pace.

use crate::relay::Shared;
use crate::status::RecordId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tc_core::wire::{BatchStatusResponse, DeliveryStatus};
use tokio::sync::watch;
use tokio::time::Instant;

/// How often forgotten keys and old settled records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

/// Rate windows between polls while a full batch waits for a place.
pub const SATURATED_POLL_WINDOWS: u32 = 10;

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut purged = Instant::now();
    let window_ms = shared.client.config().rate_limit().window_ms;
    let saturated_gap = Duration::from_millis(u64::try_from(window_ms).unwrap_or(u64::MAX))
        .saturating_mul(SATURATED_POLL_WINDOWS);
    let mut polled: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_every()) => {}
            _ = stopped.changed() => return,
        }
        let saturated = shared.queue().len() >= tc_core::MAX_BATCH_RECORDS;
        if saturated && polled.is_some_and(|at| at.elapsed() < saturated_gap) {
            continue;
        }
        polled = Some(Instant::now());
        if let Err(error) = poll_one(&shared).await {
            tracing::warn!(%error, "delivery polling failed; it is tried again later");
        }
        if purged.elapsed() >= PURGE_EVERY {
            purged = Instant::now();
            let retention =
                i64::try_from(shared.config.key_retention().as_millis()).unwrap_or(i64::MAX);
            let before = shared.clock.now().plus(-retention);
            if let Err(error) = shared.with_store(move |store| store.purge(before)).await {
                tracing::warn!(%error, "old keys could not be purged");
            }
        }
    }
}

/// Asks the status of the batch asked least recently and records what it says.
async fn poll_one(shared: &Arc<Shared>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some((attempt, batch_id)) = shared
        .with_store(|store| store.awaiting_delivery(1))
        .await?
        .pop()
    else {
        return Ok(());
    };
    let status = shared.client.batch_status(&batch_id.parse()?).await?;
    let receivers = shared
        .with_store(move |store| store.receivers(attempt))
        .await?;
    let (deliveries, settled) = match_receivers(&receivers, &status);
    let now = shared.clock.now();
    shared
        .with_store(move |store| store.record_deliveries(attempt, &deliveries, settled, now))
        .await?;
    Ok(())
}

type Delivery = (RecordId, String, Option<String>);

/// Pairs the status entries with the batch's records by receiver number (in order, so a
/// receiver that appears twice pairs up twice). Settled when every record has a settled
/// delivery.
fn match_receivers(
    receivers: &[(RecordId, String)],
    status: &BatchStatusResponse,
) -> (Vec<Delivery>, bool) {
    let digits = |n: &str| n.trim_start_matches('+').to_owned();
    let mut waiting: HashMap<String, Vec<RecordId>> = HashMap::new();
    for (id, receiver) in receivers.iter().rev() {
        waiting.entry(digits(receiver)).or_default().push(*id);
    }
    let mut deliveries = Vec::with_capacity(receivers.len());
    let mut settled = true;
    for record in &status.data {
        let delivery = DeliveryStatus::parse(&record.status_info.status);
        let Some(id) = waiting
            .get_mut(&digits(&record.receiver_number))
            .and_then(Vec::pop)
        else {
            continue;
        };
        settled &= delivery.is_settled();
        deliveries.push((
            id,
            delivery.as_str().to_owned(),
            record.status_info.message.clone(),
        ));
    }
    let every_record = deliveries.len() == receivers.len();
    (deliveries, every_record && settled)
}

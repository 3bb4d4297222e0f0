//! Delivery polling in the background: one accepted batch at a time, least recently asked
//! first (claimed in the store, so relays sharing it never ask about one batch together),
//! every `poll_every`, so polling takes a small, fixed share of the client's budget
//! whatever the traffic. A batch leaves the rotation once every record's delivery is settled.
//! The pairing, the settlement and the pace while a full batch waits are `tc-engine`'s
//! ([`tc_engine::delivery`]), as they are for the push.

use crate::relay::Shared;
use std::sync::Arc;
use std::time::Duration;
use tc_engine::delivery::{pair, PollPacer};
use tokio::sync::watch;
use tokio::time::Instant;

/// How often forgotten keys and old settled records are purged.
const PURGE_EVERY: Duration = Duration::from_secs(10 * 60);

pub use tc_engine::delivery::SATURATED_POLL_WINDOWS;

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut purged = Instant::now();
    let mut pacer = PollPacer::new(shared.client.config().rate_limit().window_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.poll_every()) => {}
            _ = stopped.changed() => return,
        }
        let queued = shared.batcher().len();
        if !pacer.poll_now(shared.monotonic(Instant::now()), queued) {
            continue;
        }
        // A poll waiting for a token or a window must not hold a stopping relay up.
        let polled = tokio::select! {
            polled = poll_one(&shared) => polled,
            _ = stopped.changed() => return,
        };
        if let Err(error) = polled {
            tracing::warn!(%error, "delivery polling failed; it is tried again later");
        }
        if purged.elapsed() >= PURGE_EVERY {
            purged = Instant::now();
            let retention =
                i64::try_from(shared.config.key_retention().as_millis()).unwrap_or(i64::MAX);
            let before = shared.clock.now().plus(-retention);
            if let Err(error) = shared.store.purge(before).await {
                tracing::warn!(%error, "old keys could not be purged");
            }
        }
    }
}

/// Asks the status of the batch asked least recently and stores what it says.
async fn poll_one(shared: &Arc<Shared>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let now = shared.clock.now();
    let Some((attempt, batch_id)) = shared.store.next_to_poll(now).await? else {
        return Ok(());
    };
    let status = shared.client.batch_status(&batch_id).await?;
    let receivers = shared.store.receivers(attempt).await?;
    let pairing = pair(
        receivers
            .iter()
            .map(|(id, receiver)| (*id, receiver.as_str())),
        &status,
    );
    shared
        .store
        .record_deliveries(attempt, pairing, now)
        .await?;
    Ok(())
}

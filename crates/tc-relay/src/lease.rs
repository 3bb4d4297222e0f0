//! The relay's hold on its share of the queue: renews its lease a few times per lease, and
//! takes over what relays whose lease lapsed left, so their queued records are sent and their
//! batches in flight resumed by the engine's rule, as after a restart. At the same pace, while
//! group commits fail, it probes whether the store takes writes again.

use crate::relay::{lease, load_queue, Shared};
use crate::store::{Held, RecordChange};
use std::sync::Arc;
use tokio::sync::watch;

/// Renewals per lease: two may fail in a row before the lease lapses.
const RENEWALS_PER_LEASE: u32 = 3;

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let every = shared.config.lease() / RENEWALS_PER_LEASE;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        if let Err(error) = hold(&shared).await {
            tracing::warn!(%error, "the relay's lease on the store could not be renewed; it tries again");
        }
        probe_if_failing(&shared).await;
    }
}

/// After group commits failed, a write of the relay's own says whether the store takes them
/// again: otherwise a relay not ready (so sent no posts) would never learn it is.
async fn probe_if_failing(shared: &Shared) {
    if !shared.health.snapshot().commit_failing {
        return;
    }
    if shared.store.probe().await.is_ok() {
        crate::relay::commit_succeeded(shared);
    }
}

/// Renews the lease (joining again if it was lost) and takes over what lapsed leases left.
async fn hold(shared: &Arc<Shared>) -> Result<(), crate::Error> {
    let lease = lease(&shared.config, shared.clock.as_ref());
    if shared.store.renew(lease).await? == Held::Lost {
        // Another relay took this one's records while its lease had lapsed: they are that
        // relay's to send now, and nothing here may send them again.
        let forgotten = shared.forget_queue();
        tracing::warn!(
            forgotten,
            "this relay's lease on the store lapsed and another relay took its records over; \
             it joins again"
        );
        shared.store.join(lease, shared.sharing).await?;
    }
    let change = RecordChange::resumed(shared.config.guarantee());
    let taken = shared.store.take_over(change, shared.clock.now()).await?;
    if !taken.recovered.is_empty() {
        tracing::warn!(
            requeued = taken.recovered.requeued,
            unknown = taken.recovered.unknown,
            "a relay of this store stopped with batches in flight: their outcome is unknown"
        );
    }
    if !taken.queued.is_empty() {
        tracing::info!(
            records = taken.queued.len(),
            "took over queued records another relay left"
        );
        load_queue(shared, taken.queued).await?;
    }
    Ok(())
}

//! [`Client::wait_for_batch`]: asking a batch's status again until every record's delivery is
//! settled, or the time is up.

use crate::client::Client;
use crate::error::{ConfigError, Error, Setting};
use std::time::Duration;
use tc_core::wire::{BatchStatusResponse, RecordStatus};
use tc_core::BatchId;
use tokio::time::{sleep_until, Instant};

/// Whether a batch's deliveries settled before the time was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Settlement {
    /// Every record has its final delivery ([`tc_core::wire::DeliveryStatus::is_settled`]).
    Settled,
    /// The time was up with a record still pending, processing or queued, or with no record
    /// listed yet.
    TimedOut,
}

/// What [`Client::wait_for_batch`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchWait {
    /// The last status read.
    pub status: BatchStatusResponse,
    /// Whether every record of it is settled.
    pub settlement: Settlement,
    /// Status requests sent, the first one included.
    pub polls: u32,
}

impl BatchWait {
    /// Whether every record's delivery is settled.
    pub fn is_settled(&self) -> bool {
        self.settlement == Settlement::Settled
    }

    /// The records whose delivery is still on its way in the last status read.
    pub fn unsettled(&self) -> impl Iterator<Item = &RecordStatus> {
        self.status
            .data
            .iter()
            .filter(|record| !record.status_info.delivery().is_settled())
    }
}

/// Every record listed has its final delivery. An empty list is not settled: the API has not
/// listed the batch's records yet.
fn settled(status: &BatchStatusResponse) -> bool {
    !status.data.is_empty()
        && status
            .data
            .iter()
            .all(|record| record.status_info.delivery().is_settled())
}

impl Client {
    /// Reads the status of `batch_id` ([`Client::batch_status`]) every `poll_interval` until
    /// every record's delivery is settled, or until the next read would start later than
    /// `timeout` from now. The first read is immediate; the reads count against the rate limit
    /// like any other request, and the waits run on tokio's timer (so a paused test clock
    /// drives them).
    ///
    /// ```no_run
    /// # async fn example(client: &tc_http::Client, batch_id: &tc_core::BatchId) -> Result<(), tc_http::Error> {
    /// use std::time::Duration;
    /// use tc_http::Settlement;
    ///
    /// let waited = client
    ///     .wait_for_batch(batch_id, Duration::from_secs(2), Duration::from_secs(60))
    ///     .await?;
    /// match waited.settlement {
    ///     Settlement::Settled => println!("every record has its final delivery"),
    ///     _ => println!("{} records still on their way", waited.unsettled().count()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] naming [`Setting::PollInterval`] for a zero `poll_interval`; otherwise
    /// the error of the status read that failed, as [`Client::batch_status`].
    pub async fn wait_for_batch(
        &self,
        batch_id: &BatchId,
        poll_interval: Duration,
        timeout: Duration,
    ) -> Result<BatchWait, Error> {
        if poll_interval.is_zero() {
            return Err(ConfigError::invalid(
                Setting::PollInterval,
                "must be longer than zero: the status would be asked in a busy loop".into(),
            )
            .into());
        }
        // A timeout too long to represent never ends.
        let deadline = Instant::now().checked_add(timeout);
        let mut polls = 0;
        loop {
            let status = self.batch_status(batch_id).await?;
            polls += 1;
            let next = Instant::now() + poll_interval;
            let settlement = if settled(&status) {
                Some(Settlement::Settled)
            } else if deadline.is_some_and(|deadline| next > deadline) {
                Some(Settlement::TimedOut)
            } else {
                None
            };
            if let Some(settlement) = settlement {
                return Ok(BatchWait {
                    status,
                    settlement,
                    polls,
                });
            }
            sleep_until(next).await;
        }
    }
}

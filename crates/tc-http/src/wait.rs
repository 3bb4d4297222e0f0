//! [`Client::wait_for_batch`]: asking a batch's status again until every record's delivery is
//! settled, or the time is up.

use crate::client::Client;
use crate::config::duration;
use crate::error::{ConfigError, Error, Setting};
use std::time::Duration;
use tc_core::transport::MonotonicMillis;
use tc_core::wire::{BatchStatusResponse, RecordStatus};
use tc_core::BatchId;
use tc_engine::delivery::{StatusWait, WaitStep};
use tokio::time::{sleep_until, Instant};

pub use tc_engine::delivery::Settlement;

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
        // The schedule is tc-engine's; this loop only reads and sleeps. A timeout too long to
        // represent never ends.
        let origin = Instant::now();
        let since = |instant: Instant| {
            let elapsed = instant.saturating_duration_since(origin).as_millis();
            MonotonicMillis::from_millis(i64::try_from(elapsed).unwrap_or(i64::MAX))
        };
        let every = i64::try_from(poll_interval.as_millis()).unwrap_or(i64::MAX);
        let timeout = i64::try_from(timeout.as_millis()).ok();
        let wait = StatusWait::new(since(origin), every, timeout);
        let mut polls = 0;
        loop {
            let status = self.batch_status(batch_id).await?;
            polls += 1;
            match wait.after_read(&status, since(Instant::now())) {
                WaitStep::Done(settlement) => {
                    return Ok(BatchWait {
                        status,
                        settlement,
                        polls,
                    })
                }
                WaitStep::AskAt(at) => sleep_until(origin + duration(at.as_millis())).await,
            }
        }
    }
}

//! The batcher: when to cut a batch from a queue of valid records, in the manner of
//! `quinn-proto`: the owner [`offers`](Batcher::offer) records, asks [`poll`](Batcher::poll)
//! whether a batch is due, and sleeps until [`poll_timeout`](Batcher::poll_timeout) or the
//! next offer.
//!
//! A batch is cut as soon as 500 records wait; a partial one once the oldest record has waited
//! the linger and the account's window has room for another request (a partial batch cut while
//! the window is full would only wait in the client while more records could have joined it).
//! Records whose window closed while they waited come out of the cut as expired, never in a
//! batch.

use std::collections::BTreeMap;
use tc_core::transport::{MonotonicMillis, RateLimiter, WindowLimit};
use tc_core::{CallRecord, Diagnostic, EpochMillis, MAX_BATCH_RECORDS};

/// How a [`Batcher`] cuts batches.
///
/// ```
/// use tc_core::transport::WindowLimit;
/// use tc_engine::BatcherConfig;
///
/// // Two tokens of 60 requests a minute; a partial batch waits at most 200 ms.
/// let config = BatcherConfig::new(WindowLimit::new(120, 60_000)).with_linger_ms(200);
/// assert_eq!(config.linger_ms(), 200);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    room: WindowLimit,
    linger_ms: i64,
}

impl BatcherConfig {
    /// Batches cut within the account's window `room` (every token's window together).
    pub fn new(room: WindowLimit) -> BatcherConfig {
        BatcherConfig { room, linger_ms: 0 }
    }

    /// How long the oldest record waits for company before a partial batch is cut.
    #[must_use]
    pub fn with_linger_ms(mut self, linger_ms: i64) -> BatcherConfig {
        self.linger_ms = linger_ms.max(0);
        self
    }

    /// The linger, in milliseconds.
    pub fn linger_ms(&self) -> i64 {
        self.linger_ms
    }
}

/// A record waiting in the batcher, with the key its owner knows it by.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued<K> {
    /// The owner's key; the queue is in the order of the keys.
    pub key: K,
    /// The record.
    pub record: CallRecord,
    /// When it joined the queue: the linger counts from here.
    pub since: MonotonicMillis,
}

/// A batch cut from the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut<K> {
    /// When it was cut: its place in the account's window until its answer comes
    /// ([`Batcher::answered`]).
    pub at: MonotonicMillis,
    /// The records to send, oldest first: 1 to 500 of them, or none when every record taken
    /// had expired.
    pub open: Vec<Queued<K>>,
    /// Records whose window closed while they waited, each with the `window_expired`
    /// diagnostic: rejected, never sent.
    pub expired: Vec<(Queued<K>, Diagnostic)>,
}

/// The queue of records waiting for a batch. See the module documentation.
#[derive(Debug, Clone)]
pub struct Batcher<K> {
    config: BatcherConfig,
    queue: BTreeMap<K, (CallRecord, MonotonicMillis)>,
    room: RateLimiter,
    held_until: Option<MonotonicMillis>,
}

impl<K: Ord + Copy> Batcher<K> {
    /// An empty batcher.
    pub fn new(config: BatcherConfig) -> Batcher<K> {
        Batcher {
            config,
            queue: BTreeMap::new(),
            room: RateLimiter::new(config.room),
            held_until: None,
        }
    }

    /// Queues `record` under `key`, received at `now`.
    pub fn offer(&mut self, key: K, record: CallRecord, now: MonotonicMillis) {
        self.queue.insert(key, (record, now));
    }

    /// Puts records of a batch that must be sent again back in the queue, in their places and
    /// with the time they first joined it.
    pub fn requeue(&mut self, records: impl IntoIterator<Item = Queued<K>>) {
        for queued in records {
            self.queue.insert(queued.key, (queued.record, queued.since));
        }
    }

    /// Holds every cut back until `until` (or longer, if already held longer): sending halted.
    pub fn hold_until(&mut self, until: MonotonicMillis) {
        self.held_until = Some(self.held_until.map_or(until, |held| held.max(until)));
    }

    /// Drops every waiting record (they are no longer this batcher's to send), keeping the
    /// account's window as it is; how many there were.
    pub fn clear(&mut self) -> usize {
        let dropped = self.queue.len();
        self.queue.clear();
        dropped
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no record waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// When the next batch is due, if a record waits: at once for a full batch, else when the
    /// oldest has lingered and the window has room; never before a hold ends. `None`: nothing
    /// is due until a record is offered.
    pub fn poll_timeout(&self, now: MonotonicMillis) -> Option<MonotonicMillis> {
        let due = if self.queue.len() >= MAX_BATCH_RECORDS {
            now
        } else {
            // Fewer than a batch wait, so finding the oldest costs at most 500 steps.
            let (_, since) = self.queue.values().min_by_key(|(_, since)| *since)?;
            let lingered = since.as_millis().saturating_add(self.config.linger_ms);
            MonotonicMillis::from_millis(lingered).max(self.room.earliest_send(now))
        };
        Some(self.held_until.map_or(due, |held| due.max(held)))
    }

    /// Cuts a batch if one is due at `now`: the oldest records, up to 500, with those whose
    /// window has closed by `wall` (the wall clock) set apart as expired. The cut takes a
    /// place in the account's window.
    pub fn poll(&mut self, now: MonotonicMillis, wall: EpochMillis) -> Option<Cut<K>> {
        if self.poll_timeout(now)? > now {
            return None;
        }
        let mut cut = Cut {
            at: now,
            open: Vec::with_capacity(MAX_BATCH_RECORDS.min(self.queue.len())),
            expired: Vec::new(),
        };
        while cut.open.len() < MAX_BATCH_RECORDS {
            let Some((key, (record, since))) = self.queue.pop_first() else {
                break;
            };
            let queued = Queued { key, record, since };
            match queued.record.check_still_open(wall) {
                Ok(()) => cut.open.push(queued),
                Err(problem) => cut.expired.push((queued, problem)),
            }
        }
        if !cut.open.is_empty() {
            self.room.record_send(now);
        }
        Some(cut)
    }

    /// The batch cut at `cut_at` got its answer (or failed) at `answered_at`: its place in the
    /// window moves there, the latest moment the API can have counted it, as tc-core's rate
    /// limiter moves a request's place, so the batcher and the client agree on the room.
    pub fn answered(&mut self, cut_at: MonotonicMillis, answered_at: MonotonicMillis) {
        self.room.send_finished(cut_at, answered_at);
    }

    /// The batch cut at `cut_at` never left (it could not be recorded): it gives its place back.
    pub fn unsent(&mut self, cut_at: MonotonicMillis) {
        self.room.forget_send(cut_at);
    }
}

/// How long a batch's request may wait before it leaves, from `now`: until the earliest
/// `ends_at` of its records, so no request leaves after a record of it stopped being valid,
/// however long the rate limit holds it. Zero for a batch with a window closed already.
pub fn send_within<'a>(
    records: impl IntoIterator<Item = &'a CallRecord>,
    now: EpochMillis,
) -> std::time::Duration {
    let earliest = records.into_iter().map(|r| r.ends_at().as_i64()).min();
    let left = earliest.map_or(0, |e| e.saturating_sub(now.as_i64()));
    std::time::Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tc_core::{RawRecord, Validator};

    const NOW: i64 = 1_900_000_000_000;

    fn record(ends_at: i64) -> CallRecord {
        let raw = RawRecord::from_text_fields([
            ("caller_number", "+919876543210"),
            ("receiver_number", "+919876543211"),
            ("dynamic_label_name", "Centro Bank"),
            ("starts_at", &NOW.to_string()),
            ("ends_at", &ends_at.to_string()),
        ]);
        Validator::new(EpochMillis::try_from(NOW).unwrap())
            .validate(&raw)
            .unwrap()
    }

    fn at(ms: i64) -> MonotonicMillis {
        MonotonicMillis::from_millis(ms)
    }

    fn wall(ms: i64) -> EpochMillis {
        EpochMillis::try_from(NOW + ms).unwrap()
    }

    fn batcher(limit: u32) -> Batcher<u64> {
        Batcher::new(BatcherConfig::new(WindowLimit::new(limit, 60_000)).with_linger_ms(200))
    }

    #[test]
    fn a_partial_batch_waits_the_linger_and_a_full_one_does_not() {
        let mut batcher = batcher(60);
        assert_eq!(batcher.poll_timeout(at(0)), None);
        batcher.offer(1, record(NOW + 3_600_000), at(0));
        assert_eq!(batcher.poll_timeout(at(0)), Some(at(200)));
        assert!(batcher.poll(at(199), wall(199)).is_none());
        for key in 2..=500 {
            batcher.offer(key, record(NOW + 3_600_000), at(50));
        }
        let cut = batcher
            .poll(at(50), wall(50))
            .expect("a full batch is due at once");
        assert_eq!(cut.open.len(), 500);
        assert!(batcher.is_empty());
    }

    #[test]
    fn a_partial_batch_waits_for_room_in_the_window() {
        let mut batcher = batcher(1);
        batcher.offer(1, record(NOW + 3_600_000), at(0));
        assert_eq!(batcher.poll(at(200), wall(200)).unwrap().open.len(), 1);
        batcher.offer(2, record(NOW + 3_600_000), at(300));
        assert_eq!(batcher.poll_timeout(at(500)), Some(at(60_200)));
        assert!(batcher.poll(at(60_199), wall(60_199)).is_none());
        assert!(batcher.poll(at(60_200), wall(60_200)).is_some());
    }

    #[test]
    fn a_batch_holds_its_place_in_the_window_from_its_answer() {
        let mut batcher = batcher(1);
        batcher.offer(1, record(NOW + 3_600_000), at(0));
        let cut = batcher.poll(at(200), wall(200)).unwrap();
        batcher.answered(cut.at, at(1_200));
        batcher.offer(2, record(NOW + 3_600_000), at(300));
        assert_eq!(batcher.poll_timeout(at(500)), Some(at(61_200)));
    }

    #[test]
    fn a_request_may_wait_until_its_earliest_record_closes() {
        let records = [record(NOW + 5_000), record(NOW + 3_000)];
        let within = send_within(&records, wall(1_000));
        assert_eq!(within, std::time::Duration::from_millis(2_000));
        assert_eq!(
            send_within(&records, wall(4_000)),
            std::time::Duration::ZERO
        );
    }

    #[test]
    fn expired_records_are_set_apart_and_never_cut_into_a_batch() {
        let mut batcher = batcher(60);
        batcher.offer(1, record(NOW + 1_000), at(0));
        batcher.offer(2, record(NOW + 3_600_000), at(0));
        let cut = batcher.poll(at(2_000), wall(2_000)).unwrap();
        assert_eq!(cut.open.iter().map(|q| q.key).collect::<Vec<_>>(), [2]);
        assert_eq!(cut.expired.len(), 1);
        assert_eq!(cut.expired[0].1.code, tc_core::Code::WindowExpired);
    }

    #[test]
    fn a_hold_delays_every_cut_and_requeued_records_keep_their_place() {
        let mut batcher = batcher(60);
        for key in 1..=500 {
            batcher.offer(key, record(NOW + 3_600_000), at(0));
        }
        let cut = batcher.poll(at(0), wall(0)).unwrap();
        batcher.offer(501, record(NOW + 3_600_000), at(10));
        batcher.hold_until(at(5_000));
        batcher.requeue(cut.open);
        assert_eq!(batcher.poll_timeout(at(10)), Some(at(5_000)));
        let again = batcher.poll(at(5_000), wall(5_000)).unwrap();
        assert_eq!(
            again.open.first().map(|q| (q.key, q.since)),
            Some((1, at(0)))
        );
        assert_eq!(batcher.len(), 1);
    }
}

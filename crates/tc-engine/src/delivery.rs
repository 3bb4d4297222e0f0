//! Delivery: what the status endpoint says became of each record of a batch on the customer's
//! phone, paired with the records the batch carried, and when to ask again.
//!
//! The push and the relay pair a status answer with their records through [`pair`], decide
//! whether a batch needs asking again through [`Pairing::is_settled`], and pace their questions
//! through [`StatusWait`] (one batch, until it settles or the time is up) and [`PollPacer`] (a
//! rotation of batches beside sending).

use std::collections::HashMap;
use tc_core::transport::MonotonicMillis;
use tc_core::wire::{BatchStatusResponse, DeliveryStatus};

/// One record's delivery, paired with the key its owner knows it by (a row of the input, a
/// record id of the relay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired<K> {
    /// The record's key.
    pub key: K,
    /// Its delivery.
    pub status: DeliveryStatus,
    /// The API's words about it, if any.
    pub message: Option<String>,
}

/// A status answer paired with a batch's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pairing<K> {
    /// The records the answer names, in the answer's order.
    pub paired: Vec<Paired<K>>,
    /// Records of the batch the answer does not name (yet).
    pub unpaired: usize,
    /// Entries of the answer whose receiver is no record of the batch (or one more time than
    /// the batch carries it); they are left out.
    pub strangers: usize,
}

impl<K> Pairing<K> {
    /// Whether every record of the batch has its final delivery, so the batch needs no more
    /// asking. Entries about no record of the batch do not hold it back.
    pub fn is_settled(&self) -> bool {
        self.unpaired == 0 && self.paired.iter().all(|p| p.status.is_settled())
    }
}

/// Pairs a status answer with a batch's records, given as (key, receiver number), by receiver
/// number: in order, so a receiver the batch carries twice pairs up twice. A number is compared
/// without its leading `+`, as the API may write it either way.
///
/// ```
/// use tc_core::wire::{BatchStatusResponse, DeliveryStatus};
/// use tc_engine::delivery::pair;
///
/// let status: BatchStatusResponse = serde_json::from_str(r#"{"data": [
///     {"receiver_number": "919876543211", "status_info": {"status": "success"}}
/// ]}"#).unwrap();
/// let pairing = pair([(7_u64, "+919876543211")], &status);
/// assert_eq!(pairing.paired[0].key, 7);
/// assert_eq!(pairing.paired[0].status, DeliveryStatus::Success);
/// assert!(pairing.is_settled());
/// ```
pub fn pair<'a, K>(
    records: impl IntoIterator<Item = (K, &'a str)>,
    status: &BatchStatusResponse,
) -> Pairing<K> {
    let digits = |n: &'a str| n.trim_start_matches('+');
    let mut waiting: HashMap<&str, Vec<K>> = HashMap::new();
    let mut count = 0;
    for (key, receiver) in records {
        waiting.entry(digits(receiver)).or_default().push(key);
        count += 1;
    }
    // Each receiver's records pair in the order the batch carried them.
    for keys in waiting.values_mut() {
        keys.reverse();
    }
    let mut paired = Vec::with_capacity(count);
    let mut strangers = 0;
    for entry in &status.data {
        let receiver = entry.receiver_number.trim_start_matches('+');
        match waiting.get_mut(receiver).and_then(Vec::pop) {
            Some(key) => paired.push(Paired {
                key,
                status: entry.status_info.delivery(),
                message: entry.status_info.message.clone(),
            }),
            None => strangers += 1,
        }
    }
    let unpaired = count - paired.len();
    Pairing {
        paired,
        unpaired,
        strangers,
    }
}

/// Whether a status answer, read on its own, says every record it lists has its final
/// delivery. An empty list is not settled: the API has not listed the batch's records yet.
pub fn lists_only_settled(status: &BatchStatusResponse) -> bool {
    !status.data.is_empty()
        && status
            .data
            .iter()
            .all(|record| record.status_info.delivery().is_settled())
}

/// Whether a batch's deliveries settled before the time was up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Settlement {
    /// Every record has its final delivery ([`DeliveryStatus::is_settled`]).
    Settled,
    /// The time was up with a record still pending, processing or queued, or with no record
    /// listed yet.
    TimedOut,
}

/// What to do after reading a batch's status while waiting for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStep {
    /// Stop asking.
    Done(Settlement),
    /// Ask again at this instant.
    AskAt(MonotonicMillis),
}

/// Waiting for one batch's deliveries: ask every `every_ms` until the status settles, or until
/// the next question would start past the deadline. The first question is at once.
///
/// ```
/// use tc_core::transport::MonotonicMillis;
/// use tc_core::wire::BatchStatusResponse;
/// use tc_engine::delivery::{Settlement, StatusWait, WaitStep};
///
/// let start = MonotonicMillis::from_millis(0);
/// let wait = StatusWait::new(start, 2_000, Some(3_000));
/// let pending = BatchStatusResponse::default();
/// assert_eq!(wait.after_read(&pending, start), WaitStep::AskAt(MonotonicMillis::from_millis(2_000)));
/// let later = MonotonicMillis::from_millis(2_000);
/// assert_eq!(wait.after_read(&pending, later), WaitStep::Done(Settlement::TimedOut));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusWait {
    every_ms: i64,
    deadline: Option<MonotonicMillis>,
}

impl StatusWait {
    /// A wait that starts at `now`, asks every `every_ms` (at least 1) and ends `timeout_ms`
    /// after `now` (`None`: when the status settles, however long that takes).
    pub fn new(now: MonotonicMillis, every_ms: i64, timeout_ms: Option<i64>) -> StatusWait {
        StatusWait {
            every_ms: every_ms.max(1),
            deadline: timeout_ms
                .map(|t| MonotonicMillis::from_millis(now.as_millis().saturating_add(t))),
        }
    }

    /// What to do once a status answer was read at `now`.
    pub fn after_read(&self, status: &BatchStatusResponse, now: MonotonicMillis) -> WaitStep {
        if lists_only_settled(status) {
            return WaitStep::Done(Settlement::Settled);
        }
        let next = MonotonicMillis::from_millis(now.as_millis().saturating_add(self.every_ms));
        match self.deadline {
            Some(deadline) if next > deadline => WaitStep::Done(Settlement::TimedOut),
            _ => WaitStep::AskAt(next),
        }
    }
}

/// How often a batch whose deliveries are not all settled is asked again, in milliseconds.
pub const POLL_EVERY_MS: u64 = 2_000;

/// Rate windows between two polls while a full batch waits for a place: sending then keeps all
/// but a sliver of the limit, and deliveries still move.
pub const SATURATED_POLL_WINDOWS: u32 = 10;

/// The pace of a relay's delivery polls beside its sending: one batch every `every_ms`; while
/// a full batch is waiting, every place in the rate window is wanted for sending (a call is
/// about to be placed, its delivery can be told later), so polls wait
/// [`SATURATED_POLL_WINDOWS`] rate windows between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPacer {
    saturated_gap_ms: i64,
    last: Option<MonotonicMillis>,
}

impl PollPacer {
    /// A pacer for a client whose rate window is `window_ms` long.
    pub fn new(window_ms: i64) -> PollPacer {
        PollPacer {
            saturated_gap_ms: window_ms.saturating_mul(i64::from(SATURATED_POLL_WINDOWS)),
            last: None,
        }
    }

    /// Whether to poll at `now`, when the queue holds `queued` records; a `true` counts as a
    /// poll.
    pub fn poll_now(&mut self, now: MonotonicMillis, queued: usize) -> bool {
        let saturated = queued >= tc_core::MAX_BATCH_RECORDS;
        let too_soon = self.last.is_some_and(|at| {
            now.as_millis().saturating_sub(at.as_millis()) < self.saturated_gap_ms
        });
        if saturated && too_soon {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(entries: &[(&str, &str)]) -> BatchStatusResponse {
        let data: Vec<_> = entries
            .iter()
            .map(|(receiver, status)| {
                serde_json::json!({"receiver_number": receiver, "status_info": {"status": status}})
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "data": data })).unwrap()
    }

    #[test]
    fn a_receiver_carried_twice_pairs_twice_in_order() {
        let answer = status(&[
            ("+911", "success"),
            ("911", "push_failed"),
            ("912", "pending"),
        ]);
        let pairing = pair([(1, "+911"), (2, "+912"), (3, "+911")], &answer);
        let keys: Vec<_> = pairing
            .paired
            .iter()
            .map(|p| (p.key, p.status.as_str()))
            .collect();
        assert_eq!(keys, [(1, "success"), (3, "push_failed"), (2, "pending")]);
        assert!(!pairing.is_settled(), "912 is pending");
    }

    #[test]
    fn a_record_the_answer_does_not_name_keeps_the_batch_unsettled() {
        let answer = status(&[("911", "success")]);
        let pairing = pair([(1, "+911"), (2, "+912")], &answer);
        assert_eq!((pairing.paired.len(), pairing.unpaired), (1, 1));
        assert!(!pairing.is_settled());
    }

    #[test]
    fn the_push_and_the_relay_read_the_same_answers_alike() {
        // The push keys a batch's records by input row, the relay by record id; both hand the
        // same status answers to `pair`, so the same receivers get the same deliveries and the
        // batch settles at the same answer, whatever the keys.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct RecordId(i64);
        let receivers = ["+911", "+912", "+911", "+913"];
        let answers = [
            status(&[]),
            status(&[("911", "queued"), ("912", "success")]),
            status(&[
                ("911", "success"),
                ("912", "success"),
                ("911", "push_failed"),
            ]),
            status(&[
                ("911", "success"),
                ("912", "success"),
                ("911", "push_failed"),
                ("913", "not_truecaller_user"),
                ("914", "pending"),
            ]),
        ];
        let rows = [10_u64, 11, 12, 13];
        let ids = [RecordId(7), RecordId(8), RecordId(9), RecordId(10)];
        let mut settled_at = Vec::new();
        for (n, answer) in answers.iter().enumerate() {
            let push = pair(rows.iter().copied().zip(receivers), answer);
            let relay = pair(ids.iter().copied().zip(receivers), answer);
            let push_places: Vec<_> = push
                .paired
                .iter()
                .map(|p| (place(&rows, &p.key), p.status.clone()))
                .collect();
            let relay_places: Vec<_> = relay
                .paired
                .iter()
                .map(|p| (place(&ids, &p.key), p.status.clone()))
                .collect();
            assert_eq!(push_places, relay_places, "answer {n}");
            assert_eq!(push.is_settled(), relay.is_settled(), "answer {n}");
            if push.is_settled() {
                settled_at.push(n);
            }
        }
        assert_eq!(
            settled_at,
            [3],
            "settled once every record has a final delivery"
        );
    }

    /// Where `key` stands among a batch's keys.
    fn place<K: PartialEq>(keys: &[K], key: &K) -> Option<usize> {
        keys.iter().position(|k| k == key)
    }

    #[test]
    fn an_entry_about_no_record_of_the_batch_is_left_out_and_does_not_hold_it_back() {
        // The push used to hold the whole batch back for a pending stranger, the relay did
        // not: one rule now, the relay's.
        let answer = status(&[("911", "success"), ("999", "pending"), ("911", "success")]);
        let pairing = pair([(1, "+911")], &answer);
        assert_eq!(pairing.strangers, 2);
        assert!(pairing.is_settled());
    }

    #[test]
    fn a_wait_settles_only_on_a_non_empty_settled_answer() {
        let start = MonotonicMillis::from_millis(0);
        let wait = StatusWait::new(start, 2_000, None);
        assert_eq!(
            wait.after_read(&status(&[]), start),
            WaitStep::AskAt(MonotonicMillis::from_millis(2_000))
        );
        assert_eq!(
            wait.after_read(&status(&[("911", "success")]), start),
            WaitStep::Done(Settlement::Settled)
        );
    }

    #[test]
    fn a_wait_asks_while_the_next_question_starts_by_the_deadline() {
        let start = MonotonicMillis::from_millis(0);
        let wait = StatusWait::new(start, 2_000, Some(4_000));
        let pending = status(&[("911", "queued")]);
        let at = MonotonicMillis::from_millis;
        assert_eq!(
            wait.after_read(&pending, at(2_000)),
            WaitStep::AskAt(at(4_000))
        );
        assert_eq!(
            wait.after_read(&pending, at(2_001)),
            WaitStep::Done(Settlement::TimedOut)
        );
    }

    #[test]
    fn polls_give_way_to_a_full_queue_for_ten_windows() {
        let mut pacer = PollPacer::new(60_000);
        let at = MonotonicMillis::from_millis;
        assert!(pacer.poll_now(at(0), 0));
        assert!(
            pacer.poll_now(at(1_000), 499),
            "a partial queue does not hold polls back"
        );
        assert!(!pacer.poll_now(at(2_000), 500));
        assert!(!pacer.poll_now(at(600_999), 10_000));
        assert!(pacer.poll_now(at(601_000), 10_000));
    }
}

//! What the simulator remembers: tokens, rate-limit windows, stored batches, counters, and the
//! seeded random source. One mutex, never held across an `.await`.

use crate::config::SimConfig;
use crate::outcome::expected_outcome;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tc_core::wire::{CallRecordBody, RecordStatus, StatusInfo};
use tokio::sync::watch;
use tokio::time::Instant;

/// What the simulator has seen and done so far. A snapshot: it does not change after it is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Every API response sent, by HTTP status (admin endpoints and dropped responses excluded).
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Create requests received, whatever their outcome.
    pub create_requests: u64,
    /// Records stored, duplicates included.
    pub records_stored: u64,
    /// Stored records equal in (caller, receiver, starts_at, ends_at) to one stored before them;
    /// numbers are compared in E.164, so `+91...` and `91...` are the same number.
    pub duplicate_records: u64,
    pub batches_stored: u64,
    pub tokens_created: u64,
    /// Create requests whose batch was stored and whose connection was then dropped unanswered.
    pub responses_dropped: u64,
    /// The pace of admitted create requests, per token: the most ever admitted inside one rate
    /// window (a client that is never too fast keeps it at or below the limit) ...
    pub fullest_create_window: u64,
    /// ... and, for every admitted request that had `limit` admitted before it on its token, the
    /// time since the `limit`-th of them. A client at exactly the limit makes each such gap one
    /// window long, so `window / (gap_total_ms / gaps)` is the share of the limit achieved.
    pub create_window_gaps: u64,
    pub create_window_gap_total_ms: u64,
}

/// One stored record, as the client sent it, with the batch it arrived in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub batch_id: String,
    pub record: CallRecordBody,
}

/// A record ready to store: the body as sent, and its identity with numbers in E.164.
pub(crate) struct Incoming {
    pub body: CallRecordBody,
    pub key: RecordKey,
}

pub(crate) type RecordKey = (String, String, i64, i64);

/// Why the rate limiter said no: how long until a slot frees.
pub(crate) struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds, rounded up, at least 1: a client that waits this long gets a slot.
    pub fn seconds(&self) -> u64 {
        (self.0.as_millis().div_ceil(1000) as u64).max(1)
    }
}

struct TokenState {
    expires: Instant,
    /// Create requests admitted on this token inside the current rate window, oldest first.
    recent: VecDeque<Instant>,
    /// The last `limit` create requests admitted on this token, however old: for the pace.
    last_admitted: VecDeque<Instant>,
}

struct StoredEntry {
    id: String,
    stored: StoredRecord,
}

struct Inner {
    rng: StdRng,
    token_creations: VecDeque<Instant>,
    tokens: HashMap<String, TokenState>,
    storm_position: u64,
    records: Vec<StoredEntry>,
    /// A batch is stored in one piece, so its records are one range of `records`.
    batches: HashMap<String, Range<usize>>,
    seen: HashSet<RecordKey>,
    counters: Counters,
}

/// The simulated account every route answers for: its limits (the config) and what it holds
/// (tokens, batches, records, counters).
pub(crate) struct Account {
    pub config: SimConfig,
    inner: Mutex<Inner>,
    /// The number of records stored so far, sent after every stored batch.
    stored: watch::Sender<u64>,
}

impl Account {
    pub fn new(config: SimConfig) -> Self {
        let inner = Inner {
            rng: StdRng::seed_from_u64(config.seed),
            token_creations: VecDeque::new(),
            tokens: HashMap::new(),
            storm_position: 0,
            records: Vec::new(),
            batches: HashMap::new(),
            seen: HashSet::new(),
            counters: Counters::default(),
        };
        Account {
            config,
            inner: Mutex::new(inner),
            stored: watch::Sender::new(0),
        }
    }

    /// A panic elsewhere must not turn every later request into one: the state stays usable.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Issues a token unless the account's creation limit is used up.
    pub fn create_token(&self, now: Instant) -> Result<String, RetryAfter> {
        let config = &self.config;
        let mut inner = self.lock();
        let window = config.token_creation_window;
        admit(
            &mut inner.token_creations,
            now,
            window,
            config.token_creations_per_window,
        )?;
        inner.tokens.retain(|_, t| t.expires > now);
        let bytes: [u8; 32] = inner.rng.random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let state = TokenState {
            expires: now + config.token_ttl,
            recent: VecDeque::new(),
            last_admitted: VecDeque::new(),
        };
        inner.tokens.insert(token.clone(), state);
        inner.counters.tokens_created += 1;
        Ok(token)
    }

    pub fn token_is_valid(&self, token: &str, now: Instant) -> bool {
        self.lock()
            .tokens
            .get(token)
            .is_some_and(|t| t.expires > now)
    }

    /// Takes a slot of the token's create-request window. A refused request takes no slot, so
    /// a client that waits `Retry-After` is served.
    pub fn admit_create(&self, token: &str, now: Instant) -> Result<(), RetryAfter> {
        let (limit, window) = (self.config.rate_per_minute, self.config.rate_window);
        let mut inner = self.lock();
        let Inner {
            tokens, counters, ..
        } = &mut *inner;
        let Some(state) = tokens.get_mut(token) else {
            return Ok(());
        };
        admit(&mut state.recent, now, window, limit)?;
        counters.fullest_create_window = counters
            .fullest_create_window
            .max(state.recent.len() as u64);
        if state.last_admitted.len() == limit as usize {
            if let Some(earlier) = state.last_admitted.pop_front() {
                counters.create_window_gaps += 1;
                counters.create_window_gap_total_ms +=
                    now.saturating_duration_since(earlier).as_millis() as u64;
            }
        }
        state.last_admitted.push_back(now);
        Ok(())
    }

    /// Whether this create request is one of the storm's 429s (every `storm_every`th).
    pub fn storm_hits(&self) -> bool {
        let every = u64::from(self.config.storm_every);
        if every == 0 {
            return false;
        }
        let mut inner = self.lock();
        inner.storm_position += 1;
        inner.storm_position.is_multiple_of(every)
    }

    /// Draws a fault with probability `rate`. A rate of 0 draws nothing, so turning one fault
    /// on does not change the ids a run produces before it fires.
    pub fn roll(&self, rate: f64) -> bool {
        rate > 0.0 && self.lock().rng.random::<f64>() < rate
    }

    /// Stores a whole batch and returns its new id.
    pub fn store(&self, records: Vec<Incoming>) -> String {
        let mut inner = self.lock();
        let batch_id = random_uuid(&mut inner.rng);
        let start = inner.records.len();
        for Incoming { body, key } in records {
            if !inner.seen.insert(key) {
                inner.counters.duplicate_records += 1;
            }
            let id = random_uuid(&mut inner.rng);
            let stored = StoredRecord {
                batch_id: batch_id.clone(),
                record: body,
            };
            inner.records.push(StoredEntry { id, stored });
            inner.counters.records_stored += 1;
        }
        let range = start..inner.records.len();
        inner.batches.insert(batch_id.clone(), range);
        inner.counters.batches_stored += 1;
        let stored = inner.counters.records_stored;
        // Sent with the state unlocked: a receiver may read the state when it wakes.
        drop(inner);
        // Two batches stored side by side may send out of order: the count never goes back.
        self.stored
            .send_modify(|count| *count = (*count).max(stored));
        batch_id
    }

    /// Follows the number of records stored: changes after every stored batch.
    pub fn watch_stored(&self) -> watch::Receiver<u64> {
        self.stored.subscribe()
    }

    /// The per-record outcomes of a stored batch, or `None` for an unknown id.
    pub fn batch_status(&self, batch_id: &str) -> Option<Vec<RecordStatus>> {
        let inner = self.lock();
        let range = inner.batches.get(batch_id)?.clone();
        Some(inner.records[range].iter().map(record_status).collect())
    }

    pub fn count_create_request(&self) {
        self.lock().counters.create_requests += 1;
    }

    pub fn count_response(&self, status: u16) {
        *self
            .lock()
            .counters
            .requests_by_status
            .entry(status)
            .or_insert(0) += 1;
    }

    pub fn count_dropped(&self) {
        self.lock().counters.responses_dropped += 1;
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    pub fn stored_records(&self) -> Vec<StoredRecord> {
        self.lock()
            .records
            .iter()
            .map(|e| e.stored.clone())
            .collect()
    }
}

/// Exact sliding window: admits unless `limit` events already happened in the last `window`.
fn admit(
    events: &mut VecDeque<Instant>,
    now: Instant,
    window: Duration,
    limit: u32,
) -> Result<(), RetryAfter> {
    while events
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) >= window)
    {
        events.pop_front();
    }
    if events.len() >= limit as usize {
        let oldest = events.front().copied().unwrap_or(now);
        return Err(RetryAfter((oldest + window).saturating_duration_since(now)));
    }
    events.push_back(now);
    Ok(())
}

/// A version-4 UUID from the seeded source, so ids repeat with the seed.
fn random_uuid(rng: &mut StdRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn record_status(entry: &StoredEntry) -> RecordStatus {
    let record = &entry.stored.record;
    let (status, message) = expected_outcome(&record.receiver_number);
    let mut answer = RecordStatus::default();
    answer.id = Some(entry.id.clone());
    answer.caller_number = record.caller_number.clone();
    answer.receiver_number = record.receiver_number.clone();
    answer.label_id = record.label_id.clone();
    answer.dynamic_label_name = record.dynamic_label_name.clone();
    answer.dynamic_call_reason = record.dynamic_call_reason.clone();
    answer.starts_at = Some(record.starts_at);
    answer.ends_at = Some(record.ends_at);
    answer.status_info = StatusInfo::new(&status.into(), message.map(str::to_owned));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_exact_and_retry_after_rounds_up() {
        let mut events = VecDeque::new();
        let t0 = Instant::now();
        let window = Duration::from_secs(60);
        for i in 0..3 {
            assert!(admit(&mut events, t0 + Duration::from_millis(i * 100), window, 3).is_ok());
        }
        let refused = admit(&mut events, t0 + Duration::from_millis(500), window, 3).unwrap_err();
        assert_eq!(refused.0, Duration::from_millis(59_500));
        assert_eq!(refused.seconds(), 60);
        // The refused request took no slot; the first slot frees exactly one window later.
        assert!(admit(
            &mut events,
            t0 + window - Duration::from_millis(1),
            window,
            3
        )
        .is_err());
        assert!(admit(&mut events, t0 + window, window, 3).is_ok());
    }

    #[test]
    fn same_seed_same_tokens_and_ids() {
        let run = || {
            let shared = Account::new(SimConfig::demo());
            let token = shared.create_token(Instant::now()).ok().unwrap();
            let batch_id = shared.store(Vec::new());
            (token, batch_id)
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        assert_eq!(a.0.len(), 64);
        assert!(a.0.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let shared = Account::new(SimConfig {
            token_ttl: Duration::from_secs(1),
            ..SimConfig::demo()
        });
        let t0 = Instant::now();
        let token = shared.create_token(t0).ok().unwrap();
        assert!(shared.token_is_valid(&token, t0 + Duration::from_millis(999)));
        assert!(!shared.token_is_valid(&token, t0 + Duration::from_secs(1)));
        assert!(!shared.token_is_valid("not-a-token", t0));
    }
}

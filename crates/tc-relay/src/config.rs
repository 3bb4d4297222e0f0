//! [`RelayConfig`]: where the queue lives and how batches are cut.

use crate::keys::ProducerKeys;
use crate::store::{Sharing, StoreLocation};
use std::time::Duration;
use tc_core::Region;
use tc_engine::Guarantee;

/// How long the oldest queued record waits for company before a partial batch leaves.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(1);

/// Records queued (acknowledged, not yet sent) above which posts are refused with 503.
pub const DEFAULT_QUEUE_LIMIT: usize = 1_000_000;

/// How long an `Idempotency-Key` or an `external_id` is remembered.
pub const DEFAULT_KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a relay's lease on a shared store lasts: after it dies, another relay takes its
/// records over within this (and a third of it). Renewed three times per lease.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

/// How long a stopping relay keeps its listener open, answering posts and `/readyz` with `503`,
/// before it closes it: long enough for a load balancer's health checks (every few seconds) to
/// see it, short enough not to hold up a restart.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);

/// Batches in flight per token by default: as many as `tcbatch submit` keeps, so a token's
/// window stays full while each batch's round trip (marked in flight in the store, sent,
/// answered, recorded) takes up to a quarter of the time the window gives each request.
pub const DEFAULT_IN_FLIGHT_PER_TOKEN: usize = 4;

/// Everything a relay needs besides its API client and clock. Build with [`RelayConfig::new`]
/// and the `with_*` methods.
///
/// ```
/// use std::time::Duration;
/// let config = tc_relay::RelayConfig::new(std::path::Path::new("relay.db"))
///     .with_linger(Duration::from_millis(250));
/// assert_eq!(config.linger(), Duration::from_millis(250));
///
/// // Several relays on one PostgreSQL queue:
/// let shared: tc_relay::StoreLocation = "postgres://relay@db.internal/tcbatch".parse()?;
/// let config = tc_relay::RelayConfig::new(shared);
/// # Ok::<(), tc_relay::InvalidStoreLocation>(())
/// ```
#[derive(Debug, Clone)]
pub struct RelayConfig {
    store: StoreLocation,
    lease: Duration,
    sharing: Option<Sharing>,
    linger: Duration,
    queue_limit: usize,
    guarantee: Guarantee,
    region: Option<Region>,
    /// `None`: no key is asked for (loopback). Never an empty set: [`ProducerKeys`] has none.
    producer_keys: Option<ProducerKeys>,
    key_retention: Duration,
    in_flight: usize,
    poll_every: Duration,
    drain: Duration,
}

impl RelayConfig {
    /// A relay storing its queue at `store` (a SQLite file, or a PostgreSQL database several
    /// relays share), with a 1 s linger, at least once.
    pub fn new(store: impl Into<StoreLocation>) -> RelayConfig {
        RelayConfig {
            store: store.into(),
            lease: DEFAULT_LEASE,
            sharing: None,
            linger: DEFAULT_LINGER,
            queue_limit: DEFAULT_QUEUE_LIMIT,
            guarantee: Guarantee::AtLeastOnce,
            region: None,
            producer_keys: None,
            key_retention: DEFAULT_KEY_RETENTION,
            in_flight: 0,
            poll_every: std::time::Duration::from_millis(tc_engine::delivery::POLL_EVERY_MS),
            drain: DEFAULT_DRAIN,
        }
    }

    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// At least 1.
    pub fn with_queue_limit(mut self, records: usize) -> Self {
        self.queue_limit = records.max(1);
        self
    }

    /// What to do with a batch whose outcome is unknown. Configure the client with the same
    /// choice (`ClientBuilder::guarantee`).
    pub fn with_guarantee(mut self, guarantee: Guarantee) -> Self {
        self.guarantee = guarantee;
        self
    }

    /// Reads numbers written without `+` or `00` as national numbers of `region`.
    pub fn with_region(mut self, region: Region) -> Self {
        self.region = Some(region);
        self
    }

    /// Posts and reads then need `Authorization: Bearer <key>` with one of `keys`.
    pub fn with_producer_keys(mut self, keys: ProducerKeys) -> Self {
        self.producer_keys = Some(keys);
        self
    }

    /// How long idempotency keys and external ids are remembered (24 hours by default).
    pub fn with_key_retention(mut self, retention: Duration) -> Self {
        self.key_retention = retention;
        self
    }

    /// Batches in flight at once (sent, or waiting in the client for their token's window); 0
    /// (the default) means [`DEFAULT_IN_FLIGHT_PER_TOKEN`] per token of the client. Each is
    /// the most a crash can leave unanswered: its records are queued again on restart, flagged
    /// possibly duplicated.
    pub fn with_in_flight(mut self, batches: usize) -> Self {
        self.in_flight = batches;
        self
    }

    /// How often the status of a sent batch is asked until its deliveries are settled.
    pub fn with_poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every.max(Duration::from_millis(1));
        self
    }

    /// How long this relay's lease on a shared store lasts ([`DEFAULT_LEASE`]); at least
    /// 300 ms.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(300));
        self
    }

    /// How this relay shares the account with other relays of its store. By default: through
    /// the client's coordinator if it has one, else not at all (and the relay refuses to start
    /// beside others). [`Sharing::SplitTokens`] when each relay was given its own share of the
    /// account's tokens.
    pub fn with_sharing(mut self, sharing: Sharing) -> Self {
        self.sharing = Some(sharing);
        self
    }

    /// How long a stopping relay answers posts and `/readyz` with `503` before it closes its
    /// listener ([`DEFAULT_DRAIN`]); zero closes it at once.
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }

    pub fn store(&self) -> &StoreLocation {
        &self.store
    }
    pub fn lease(&self) -> Duration {
        self.lease
    }
    pub fn sharing(&self) -> Option<Sharing> {
        self.sharing
    }
    pub fn linger(&self) -> Duration {
        self.linger
    }
    pub fn queue_limit(&self) -> usize {
        self.queue_limit
    }
    pub fn guarantee(&self) -> Guarantee {
        self.guarantee
    }
    pub fn region(&self) -> Option<Region> {
        self.region
    }
    /// The keys producers must show; `None` when none is asked for.
    pub fn producer_keys(&self) -> Option<&ProducerKeys> {
        self.producer_keys.as_ref()
    }
    pub fn key_retention(&self) -> Duration {
        self.key_retention
    }
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
    pub fn poll_every(&self) -> Duration {
        self.poll_every
    }
    pub fn drain(&self) -> Duration {
        self.drain
    }
}

//! [`ClientConfig`]: where the API is, who the client is, and the limits it keeps.

use secrecy::SecretString;
use std::fmt;
use std::time::Duration;
use tc_core::transport::{
    RetryConfig, WindowLimit, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_TOKEN_WAIT_MS,
    DEFAULT_RATE_GUARD_MS, DEFAULT_REFRESH_MARGIN_MS, DEFAULT_REQUEST_TIMEOUT_MS, MAX_TOKENS,
    TOKEN_TTL_MS,
};
use tc_core::NumberFormat;

/// The one documented API host.
pub const DEFAULT_BASE_URL: &str = "https://enterprise-portal-noneu.truecaller.com";

/// Which path the batch-status endpoint lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusApi {
    /// `GET /v2/clients/{id}/dynamic_call_records?batchId=...`, the documented one.
    #[default]
    V2,
    /// `GET /v3/...`, which the newest documentation shows with the same shape.
    V3,
}

/// Everything a [`crate::Client`] needs. Build with [`ClientConfig::new`] and the `with_*`
/// methods; the defaults are the API's documented limits. `Debug` never shows the API key.
#[derive(Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub client_account_id: String,
    pub key_id: String,
    pub api_key: SecretString,
    /// How phone numbers are written on the wire.
    pub number_format: NumberFormat,
    /// Tokens used at once, 1 to 10; each allows 60 requests per minute.
    pub tokens: usize,
    pub connect_timeout: Duration,
    /// The longest one request may take, answer included. A create request that times out has
    /// an unknown outcome: it may have been stored.
    pub request_timeout: Duration,
    /// Refresh a token this long before it expires.
    pub refresh_margin: Duration,
    pub token_ttl: Duration,
    /// Requests per window on each token (60 per minute).
    pub rate_limit: WindowLimit,
    /// Added to the rate window on our side. Latency cannot bring two requests a window apart
    /// closer at the server (a request holds its window place from when its answer came back);
    /// the guard is for servers whose clocks or windows are coarser than ours.
    pub rate_guard: Duration,
    /// Token creations per window on the account (10 per 30 minutes).
    pub creation_limit: WindowLimit,
    /// The longest a request waits for the creation budget before failing with
    /// [`crate::Error::TokenBudgetExhausted`].
    pub max_token_wait: Duration,
    /// Backoff, attempts, retry budget, and `at_most_once`: never re-send a create request
    /// whose outcome is unknown (it may have been stored), failing with
    /// [`crate::Error::OutcomeUnknown`] instead. Off by default: re-send and flag the batch
    /// `possibly_duplicated`.
    pub retry: RetryConfig,
    /// Seed of the backoff jitter, for reproducible runs; `None` seeds from the OS.
    pub seed: Option<u64>,
    pub status_api: StatusApi,
    /// Labels per page when listing labels (the API's documented maximum is 1000).
    pub labels_page_size: usize,
}

impl ClientConfig {
    /// A configuration with the API's documented limits. `base_url` may be empty for the
    /// documented host.
    pub fn new(
        base_url: impl Into<String>,
        client_account_id: impl Into<String>,
        key_id: impl Into<String>,
        api_key: impl Into<SecretString>,
    ) -> ClientConfig {
        let base_url = base_url.into();
        ClientConfig {
            base_url: if base_url.trim().is_empty() {
                DEFAULT_BASE_URL.to_owned()
            } else {
                base_url
            },
            client_account_id: client_account_id.into(),
            key_id: key_id.into(),
            api_key: api_key.into(),
            number_format: NumberFormat::default(),
            tokens: 1,
            connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
            request_timeout: duration(DEFAULT_REQUEST_TIMEOUT_MS),
            refresh_margin: duration(DEFAULT_REFRESH_MARGIN_MS),
            token_ttl: duration(TOKEN_TTL_MS),
            rate_limit: WindowLimit::REQUESTS_PER_TOKEN,
            rate_guard: duration(DEFAULT_RATE_GUARD_MS),
            creation_limit: WindowLimit::TOKEN_CREATIONS,
            max_token_wait: duration(DEFAULT_MAX_TOKEN_WAIT_MS),
            retry: RetryConfig::default(),
            seed: None,
            status_api: StatusApi::default(),
            labels_page_size: 1000,
        }
    }

    pub fn with_number_format(mut self, format: NumberFormat) -> Self {
        self.number_format = format;
        self
    }

    /// Tokens to use at once; [`crate::Client::new`] refuses anything outside 1 to 10.
    pub fn with_tokens(mut self, tokens: usize) -> Self {
        self.tokens = tokens;
        self
    }

    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// For servers (or simulators) whose tokens live shorter than the documented 60 minutes.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// `limit` requests per `window` on each token.
    pub fn with_rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.rate_limit = WindowLimit::new(limit, millis(window));
        self
    }

    pub fn with_rate_guard(mut self, guard: Duration) -> Self {
        self.rate_guard = guard;
        self
    }

    /// `limit` token creations per `window` on the account.
    pub fn with_creation_limit(mut self, limit: u32, window: Duration) -> Self {
        self.creation_limit = WindowLimit::new(limit, millis(window));
        self
    }

    pub fn with_max_token_wait(mut self, wait: Duration) -> Self {
        self.max_token_wait = wait;
        self
    }

    /// Replaces the whole retry configuration, `at_most_once` included.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Never re-send a create request whose outcome is unknown; it fails with
    /// [`crate::Error::OutcomeUnknown`] instead.
    pub fn with_at_most_once(mut self, at_most_once: bool) -> Self {
        self.retry.at_most_once = at_most_once;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    pub fn with_status_api(mut self, api: StatusApi) -> Self {
        self.status_api = api;
        self
    }

    pub fn with_labels_page_size(mut self, size: usize) -> Self {
        self.labels_page_size = size;
        self
    }

    /// Every setting that cannot work, as one message per problem.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(1..=MAX_TOKENS).contains(&self.tokens) {
            problems.push(format!(
                "tokens must be 1 to {MAX_TOKENS} (the API allows 10 creations per 30 minutes), got {}",
                self.tokens
            ));
        }
        for (name, value) in [
            ("client_account_id", &self.client_account_id),
            ("key_id", &self.key_id),
        ] {
            if value.trim().is_empty() {
                problems.push(format!(
                    "{name} is empty; copy it from the business console"
                ));
            } else if value.chars().any(char::is_control) {
                problems.push(format!("{name} contains control characters; copy it again"));
            }
        }
        if secrecy::ExposeSecret::expose_secret(&self.api_key)
            .trim()
            .is_empty()
        {
            problems.push(
                "the API key is empty; copy the secret API key from the business console".into(),
            );
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            problems.push("timeouts must be longer than zero".into());
        }
        if self.refresh_margin >= self.token_ttl {
            problems.push(format!(
                "refresh_margin ({:?}) must be shorter than the token lifetime ({:?})",
                self.refresh_margin, self.token_ttl
            ));
        }
        if self.retry.max_attempts == 0 {
            problems.push("retry.max_attempts must be at least 1 (the first attempt)".into());
        }
        if !(0.0..=1_000.0).contains(&self.retry.budget_ratio) {
            problems.push("retry.budget_ratio must be between 0 and 1000".into());
        }
        if !(1..=1000).contains(&self.labels_page_size) {
            problems.push(format!(
                "labels_page_size must be 1 to 1000, got {}",
                self.labels_page_size
            ));
        }
        problems
    }
}

pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `ms` milliseconds, a negative count as zero.
pub(crate) fn duration(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("client_account_id", &self.client_account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &"[redacted]")
            .field("number_format", &self.number_format)
            .field("tokens", &self.tokens)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("refresh_margin", &self.refresh_margin)
            .field("token_ttl", &self.token_ttl)
            .field("rate_limit", &self.rate_limit)
            .field("rate_guard", &self.rate_guard)
            .field("creation_limit", &self.creation_limit)
            .field("max_token_wait", &self.max_token_wait)
            .field("retry", &self.retry)
            .field("seed", &self.seed)
            .field("status_api", &self.status_api)
            .field("labels_page_size", &self.labels_page_size)
            .finish()
    }
}

//! [`ClientBuilder`] and [`ClientConfig`]: where the API is, who the client is, and the limits
//! it keeps. [`RetryConfig`] and [`Guarantee`]: what a failed attempt leads to.

use crate::client::Client;
use crate::coordinator::Coordinator;
use crate::error::{ConfigError, Error, Setting};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tc_core::transport::{
    WindowLimit, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_MAX_TOKEN_WAIT_MS, DEFAULT_RATE_GUARD_MS,
    DEFAULT_REFRESH_MARGIN_MS, DEFAULT_REQUEST_TIMEOUT_MS, MAX_TOKENS, TOKEN_TTL_MS,
};
use tc_core::NumberFormat;

/// The one documented API host, used unless [`ClientBuilder::base_url`] says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://enterprise-portal-noneu.truecaller.com";

/// The environment variable [`ClientBuilder::from_env`] reads the client account id from.
pub const ENV_CLIENT_ACCOUNT_ID: &str = "TRUECALLER_CLIENT_ACCOUNT_ID";
/// The environment variable [`ClientBuilder::from_env`] reads the key id from.
pub const ENV_KEY_ID: &str = "TRUECALLER_KEY_ID";
/// The environment variable [`ClientBuilder::from_env`] reads the secret API key from.
pub const ENV_API_KEY: &str = "TRUECALLER_API_KEY";

/// The most labels the API returns per page, and the default page size.
const MAX_LABELS_PAGE_SIZE: usize = 1000;

/// Which path the batch-status endpoint lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StatusApi {
    /// `GET /v2/clients/{id}/dynamic_call_records?batchId=...`, the documented one.
    #[default]
    V2,
    /// `GET /v3/...`, which the newest documentation shows with the same shape.
    V3,
}

/// What the client does with a create request whose outcome is unknown (sent, and no answer
/// says whether it was stored): the API has no idempotency key, so it must choose between a
/// possible duplicate and a possible loss. At least once, the client sends it again and flags
/// the batch [`crate::Created::possibly_duplicated`]; at most once, the call fails with
/// [`crate::Error::OutcomeUnknown`]. Decided once, in `tc-engine`.
pub use tc_engine::Guarantee;

/// How failed attempts are retried: attempts per request, the backoff between them, the cap on
/// a server's `Retry-After`, and the run's retry budget. The defaults are tc-core's
/// ([`tc_core::transport::RetryConfig`]); the policy itself is decided there.
///
/// ```
/// use std::time::Duration;
/// use tc_http::RetryConfig;
///
/// let retry = RetryConfig::default()
///     .with_max_attempts(3)
///     .with_backoff(Duration::from_millis(100), Duration::from_secs(5));
/// assert_eq!(retry.max_attempts(), 3);
/// assert_eq!(retry.max_delay(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RetryConfig {
    policy: tc_core::transport::RetryConfig,
}

impl RetryConfig {
    /// Attempts per request, the first one included (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.policy.max_attempts = attempts;
        self
    }

    /// The backoff ceiling of the first retry (`first`, doubling with each further retry) and
    /// the most it ever grows to (`max`). The wait is a uniform random time below the ceiling.
    #[must_use]
    pub fn with_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.policy.base_delay_ms = millis(first);
        self.policy.max_delay_ms = millis(max);
        self
    }

    /// A `Retry-After` longer than `cap` is shortened to it, so a server cannot stall a
    /// request for hours.
    #[must_use]
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Self {
        self.policy.retry_after_cap_ms = millis(cap);
        self
    }

    /// Retries after failures allowed over a run: `ratio` of the first attempts (0.2: 20% extra
    /// requests) plus `floor` always allowed. Retries after a 429 are not charged.
    #[must_use]
    pub fn with_budget(mut self, ratio: f64, floor: u32) -> Self {
        self.policy.budget_ratio = ratio;
        self.policy.budget_floor = floor;
        self
    }

    /// Attempts per request, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.policy.max_attempts
    }

    /// The backoff ceiling of the first retry.
    pub fn base_delay(&self) -> Duration {
        duration(self.policy.base_delay_ms)
    }

    /// The most the backoff ceiling grows to.
    pub fn max_delay(&self) -> Duration {
        duration(self.policy.max_delay_ms)
    }

    /// The longest `Retry-After` obeyed.
    pub fn retry_after_cap(&self) -> Duration {
        duration(self.policy.retry_after_cap_ms)
    }

    /// The share of first attempts that may be retried after failures, over a run.
    pub fn budget_ratio(&self) -> f64 {
        self.policy.budget_ratio
    }

    /// Retries always allowed over a run.
    pub fn budget_floor(&self) -> u32 {
        self.policy.budget_floor
    }

    /// tc-core's policy settings, with the client's guarantee.
    pub(crate) fn policy(&self, guarantee: Guarantee) -> tc_core::transport::RetryConfig {
        tc_core::transport::RetryConfig {
            at_most_once: guarantee == Guarantee::AtMostOnce,
            ..self.policy
        }
    }
}

/// The settings besides the base URL and the credentials, shared by the builder and the
/// finished configuration.
#[derive(Debug, Clone)]
struct Settings {
    number_format: NumberFormat,
    tokens: usize,
    connect_timeout: Duration,
    request_timeout: Duration,
    refresh_margin: Duration,
    token_ttl: Duration,
    rate_limit: WindowLimit,
    rate_guard: Duration,
    creation_limit: WindowLimit,
    max_token_wait: Duration,
    retry: RetryConfig,
    guarantee: Guarantee,
    seed: Option<u64>,
    status_api: StatusApi,
    labels_page_size: usize,
    coordinator: Option<Arc<dyn Coordinator>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
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
            guarantee: Guarantee::default(),
            seed: None,
            status_api: StatusApi::default(),
            labels_page_size: MAX_LABELS_PAGE_SIZE,
            coordinator: None,
        }
    }
}

/// Builds a [`Client`]: the credentials are required, everything else defaults to the API's
/// documented host and limits. Get one from [`Client::builder`] or [`ClientBuilder::from_env`].
///
/// ```
/// use std::time::Duration;
/// use tc_http::{Client, Error, Setting};
///
/// let client = Client::builder()
///     .client_account_id("my-account")
///     .key_id("my-key-id")
///     .api_key("my-secret".to_owned())
///     .tokens(4)
///     .request_timeout(Duration::from_secs(20))
///     .build()?;
/// assert_eq!(client.config().base_url(), tc_http::DEFAULT_BASE_URL);
///
/// // A missing credential is named, with the variable `from_env` reads it from.
/// let error = Client::builder().client_account_id("my-account").build().unwrap_err();
/// assert_eq!(error.config_error().unwrap().settings(), [Setting::KeyId, Setting::ApiKey]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Default)]
pub struct ClientBuilder {
    base_url: Option<String>,
    client_account_id: Option<String>,
    key_id: Option<String>,
    api_key: Option<SecretString>,
    settings: Settings,
}

impl ClientBuilder {
    /// A builder with the credentials found in [`ENV_CLIENT_ACCOUNT_ID`], [`ENV_KEY_ID`] and
    /// [`ENV_API_KEY`]; an unset or blank variable leaves its setting unset, for
    /// [`ClientBuilder::build`] to name (or for a later call to fill in).
    pub fn from_env() -> ClientBuilder {
        let read = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        ClientBuilder {
            client_account_id: read(ENV_CLIENT_ACCOUNT_ID),
            key_id: read(ENV_KEY_ID),
            api_key: read(ENV_API_KEY).map(SecretString::from),
            ..ClientBuilder::default()
        }
    }

    /// Where the API is, `scheme://host[:port][/path]`; [`DEFAULT_BASE_URL`] unless set.
    /// Plain `http://` is accepted only for this machine (a simulator).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The client account id, from the business console.
    #[must_use]
    pub fn client_account_id(mut self, id: impl Into<String>) -> Self {
        self.client_account_id = Some(id.into());
        self
    }

    /// The key id, from the business console's Manage API Keys page.
    #[must_use]
    pub fn key_id(mut self, id: impl Into<String>) -> Self {
        self.key_id = Some(id.into());
        self
    }

    /// The secret API key. It never appears in `Debug` output, an error or a log.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How phone numbers are written on the wire (E.164 with `+` unless set).
    #[must_use]
    pub fn number_format(mut self, format: NumberFormat) -> Self {
        self.settings.number_format = format;
        self
    }

    /// Tokens used at once, 1 to 10; each allows 60 requests per minute.
    #[must_use]
    pub fn tokens(mut self, tokens: usize) -> Self {
        self.settings.tokens = tokens;
        self
    }

    /// The longest a connection may take to open.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The longest one request may take, answer included. A create request that times out has
    /// an unknown outcome: it may have been stored.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Refresh a token this long before it expires.
    #[must_use]
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.settings.refresh_margin = margin;
        self
    }

    /// For servers (or simulators) whose tokens live shorter than the documented 60 minutes.
    #[must_use]
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.settings.token_ttl = ttl;
        self
    }

    /// `limit` requests per `window` on each token (60 per minute unless set).
    #[must_use]
    pub fn rate_limit(mut self, limit: u32, window: Duration) -> Self {
        self.settings.rate_limit = WindowLimit::new(limit, millis(window));
        self
    }

    /// Added to the rate window on the client's side, for servers whose clocks or windows are
    /// coarser than the client's.
    #[must_use]
    pub fn rate_guard(mut self, guard: Duration) -> Self {
        self.settings.rate_guard = guard;
        self
    }

    /// `limit` token creations per `window` on the account (10 per 30 minutes unless set).
    #[must_use]
    pub fn creation_limit(mut self, limit: u32, window: Duration) -> Self {
        self.settings.creation_limit = WindowLimit::new(limit, millis(window));
        self
    }

    /// The longest a request waits for the creation budget before failing with
    /// [`crate::Error::TokenBudgetExhausted`].
    #[must_use]
    pub fn max_token_wait(mut self, wait: Duration) -> Self {
        self.settings.max_token_wait = wait;
        self
    }

    /// Attempts, backoff and retry budget.
    #[must_use]
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.settings.retry = retry;
        self
    }

    /// Whether a create request whose outcome is unknown is sent again
    /// ([`Guarantee::AtLeastOnce`], the default) or never ([`Guarantee::AtMostOnce`]).
    #[must_use]
    pub fn guarantee(mut self, guarantee: Guarantee) -> Self {
        self.settings.guarantee = guarantee;
        self
    }

    /// Seed of the backoff jitter, for reproducible runs; seeded from the OS unless set.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.settings.seed = Some(seed);
        self
    }

    /// Which path the batch-status endpoint lives under ([`StatusApi::V2`] unless set).
    #[must_use]
    pub fn status_api(mut self, api: StatusApi) -> Self {
        self.settings.status_api = api;
        self
    }

    /// Labels per page when listing labels, 1 to 1000 (1000 unless set).
    #[must_use]
    pub fn labels_page_size(mut self, size: usize) -> Self {
        self.settings.labels_page_size = size;
        self
    }

    /// Shares the account's tokens, creation budget and rate windows with the other processes
    /// that use `coordinator` (the `tc-redis` crate has one over Redis). Without one, the
    /// client assumes it is the account's only user. While the coordinator cannot be reached,
    /// the client sends nothing, and says so in its log.
    #[must_use]
    pub fn coordinator(mut self, coordinator: Arc<dyn Coordinator>) -> Self {
        self.settings.coordinator = Some(coordinator);
        self
    }

    /// Checks the configuration and builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first setting that is missing or cannot work: a missing
    /// credential, a base URL that is not `https://` (or plain `http://` to this machine),
    /// tokens outside 1 to 10, a zero timeout, a refresh margin not shorter than the token
    /// lifetime, no attempts, a page size outside 1 to 1000.
    pub fn build(self) -> Result<Client, Error> {
        Client::from_config(self.into_config()?)
    }

    /// The finished configuration, or the first problem with it.
    fn into_config(self) -> Result<ClientConfig, ConfigError> {
        let missing: Vec<Setting> = [
            (Setting::ClientAccountId, self.client_account_id.is_none()),
            (Setting::KeyId, self.key_id.is_none()),
            (Setting::ApiKey, self.api_key.is_none()),
        ]
        .into_iter()
        .filter_map(|(setting, absent)| absent.then_some(setting))
        .collect();
        let (Some(client_account_id), Some(key_id), Some(api_key)) =
            (self.client_account_id, self.key_id, self.api_key)
        else {
            return Err(ConfigError::Missing { settings: missing });
        };
        let base_url = self.base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        let config = ClientConfig {
            base_url: crate::http::parse_base_url(&base_url)?,
            client_account_id,
            key_id,
            api_key,
            settings: self.settings,
        };
        config.check()?;
        Ok(config)
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("client_account_id", &self.client_account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("settings", &self.settings)
            .finish()
    }
}

/// A checked configuration: what a [`Client`] was built with ([`Client::config`]). `Debug`
/// never shows the API key.
#[derive(Clone)]
pub struct ClientConfig {
    base_url: reqwest::Url,
    client_account_id: String,
    key_id: String,
    api_key: SecretString,
    settings: Settings,
}

impl ClientConfig {
    /// The coordinator the client shares the account's budget through, if any.
    pub fn coordinator(&self) -> Option<&Arc<dyn Coordinator>> {
        self.settings.coordinator.as_ref()
    }

    /// Where the API is.
    pub fn base_url(&self) -> &str {
        self.base_url.as_str().trim_end_matches('/')
    }

    /// The client account id.
    pub fn client_account_id(&self) -> &str {
        &self.client_account_id
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// How phone numbers are written on the wire.
    pub fn number_format(&self) -> NumberFormat {
        self.settings.number_format
    }

    /// Tokens used at once.
    pub fn tokens(&self) -> usize {
        self.settings.tokens
    }

    /// The longest a connection may take to open.
    pub fn connect_timeout(&self) -> Duration {
        self.settings.connect_timeout
    }

    /// The longest one request may take, answer included.
    pub fn request_timeout(&self) -> Duration {
        self.settings.request_timeout
    }

    /// How long before it expires a token is refreshed.
    pub fn refresh_margin(&self) -> Duration {
        self.settings.refresh_margin
    }

    /// How long a token lives.
    pub fn token_ttl(&self) -> Duration {
        self.settings.token_ttl
    }

    /// Requests per window on each token.
    pub fn rate_limit(&self) -> WindowLimit {
        self.settings.rate_limit
    }

    /// Added to the rate window on the client's side.
    pub fn rate_guard(&self) -> Duration {
        self.settings.rate_guard
    }

    /// Token creations per window on the account.
    pub fn creation_limit(&self) -> WindowLimit {
        self.settings.creation_limit
    }

    /// The longest a request waits for the creation budget.
    pub fn max_token_wait(&self) -> Duration {
        self.settings.max_token_wait
    }

    /// Attempts, backoff and retry budget.
    pub fn retry(&self) -> &RetryConfig {
        &self.settings.retry
    }

    /// What a create request whose outcome is unknown leads to.
    pub fn guarantee(&self) -> Guarantee {
        self.settings.guarantee
    }

    /// The backoff jitter's seed, if one was set.
    pub fn seed(&self) -> Option<u64> {
        self.settings.seed
    }

    /// Which path the batch-status endpoint lives under.
    pub fn status_api(&self) -> StatusApi {
        self.settings.status_api
    }

    /// Labels per page when listing labels.
    pub fn labels_page_size(&self) -> usize {
        self.settings.labels_page_size
    }

    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.base_url
    }

    pub(crate) fn api_key(&self) -> &SecretString {
        &self.api_key
    }

    /// The first setting that cannot work.
    fn check(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        let invalid = |setting, problem: String| Err(ConfigError::invalid(setting, problem));
        for (setting, value) in [
            (Setting::ClientAccountId, &self.client_account_id),
            (Setting::KeyId, &self.key_id),
        ] {
            if value.trim().is_empty() {
                return invalid(
                    setting,
                    "is empty; copy it from the business console".into(),
                );
            }
            if value.chars().any(char::is_control) {
                return invalid(setting, "contains control characters; copy it again".into());
            }
        }
        if self.api_key.expose_secret().trim().is_empty() {
            return invalid(
                Setting::ApiKey,
                "is empty; copy the secret API key from the business console".into(),
            );
        }
        if !(1..=MAX_TOKENS).contains(&s.tokens) {
            return invalid(
                Setting::Tokens,
                format!(
                    "must be 1 to {MAX_TOKENS} (the API allows 10 creations per 30 minutes), got {}",
                    s.tokens
                ),
            );
        }
        for (setting, timeout) in [
            (Setting::ConnectTimeout, s.connect_timeout),
            (Setting::RequestTimeout, s.request_timeout),
        ] {
            if timeout.is_zero() {
                return invalid(setting, "must be longer than zero".into());
            }
        }
        if s.refresh_margin >= s.token_ttl {
            return invalid(
                Setting::RefreshMargin,
                format!(
                    "({:?}) must be shorter than the token lifetime ({:?})",
                    s.refresh_margin, s.token_ttl
                ),
            );
        }
        self.check_retry_and_paging()
    }

    fn check_retry_and_paging(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        if s.retry.max_attempts() == 0 {
            return Err(ConfigError::invalid(
                Setting::Retry,
                "max_attempts must be at least 1 (the first attempt)".into(),
            ));
        }
        if !(0.0..=1_000.0).contains(&s.retry.budget_ratio()) {
            return Err(ConfigError::invalid(
                Setting::Retry,
                "the budget ratio must be between 0 and 1000".into(),
            ));
        }
        if !(1..=MAX_LABELS_PAGE_SIZE).contains(&s.labels_page_size) {
            return Err(ConfigError::invalid(
                Setting::LabelsPageSize,
                format!(
                    "must be 1 to {MAX_LABELS_PAGE_SIZE}, got {}",
                    s.labels_page_size
                ),
            ));
        }
        Ok(())
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
            .field("base_url", &self.base_url())
            .field("client_account_id", &self.client_account_id)
            .field("key_id", &self.key_id)
            .field("api_key", &"[redacted]")
            .field("settings", &self.settings)
            .finish()
    }
}

//! [`Error`]: what went wrong with a call, whether the batch may have been stored anyway, and
//! what to do. No variant ever holds the API key or a token.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tc_core::transport::{FailReason, Failed, GiveUpReason};

/// The underlying error behind a failure: reqwest's (with its own chain of causes),
/// serde_json's, or the URL parser's. It is the [`std::error::Error::source`] of the error that
/// holds it, so it can be downcast there; shared, so errors stay cheap to clone.
#[derive(Clone)]
pub struct Cause(Arc<dyn StdError + Send + Sync + 'static>);

impl Cause {
    pub(crate) fn new(error: impl StdError + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(error))
    }

    /// The underlying error, to downcast (`cause.get_ref().downcast_ref::<reqwest::Error>()`).
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }

    fn as_source(&self) -> &(dyn StdError + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

/// A setting of [`crate::ClientBuilder`], as named by a [`ConfigError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`crate::ClientBuilder::base_url`].
    BaseUrl,
    /// [`crate::ClientBuilder::client_account_id`], or [`crate::ENV_CLIENT_ACCOUNT_ID`].
    ClientAccountId,
    /// [`crate::ClientBuilder::key_id`], or [`crate::ENV_KEY_ID`].
    KeyId,
    /// [`crate::ClientBuilder::api_key`], or [`crate::ENV_API_KEY`].
    ApiKey,
    /// [`crate::ClientBuilder::tokens`].
    Tokens,
    /// [`crate::ClientBuilder::connect_timeout`].
    ConnectTimeout,
    /// [`crate::ClientBuilder::request_timeout`].
    RequestTimeout,
    /// [`crate::ClientBuilder::refresh_margin`].
    RefreshMargin,
    /// [`crate::ClientBuilder::retry`].
    Retry,
    /// [`crate::ClientBuilder::labels_page_size`].
    LabelsPageSize,
    /// The `poll_interval` of [`crate::Client::wait_for_batch`].
    PollInterval,
}

impl Setting {
    /// The builder method that sets it.
    pub fn name(self) -> &'static str {
        match self {
            Setting::BaseUrl => "base_url",
            Setting::ClientAccountId => "client_account_id",
            Setting::KeyId => "key_id",
            Setting::ApiKey => "api_key",
            Setting::Tokens => "tokens",
            Setting::ConnectTimeout => "connect_timeout",
            Setting::RequestTimeout => "request_timeout",
            Setting::RefreshMargin => "refresh_margin",
            Setting::Retry => "retry",
            Setting::LabelsPageSize => "labels_page_size",
            Setting::PollInterval => "poll_interval",
        }
    }

    /// The environment variable [`crate::ClientBuilder::from_env`] reads it from, if any.
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Setting::ClientAccountId => Some(crate::ENV_CLIENT_ACCOUNT_ID),
            Setting::KeyId => Some(crate::ENV_KEY_ID),
            Setting::ApiKey => Some(crate::ENV_API_KEY),
            _ => None,
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self.env_var() {
            Some(var) => write!(f, " (${var})"),
            None => Ok(()),
        }
    }
}

/// Why a configuration cannot work. Nothing was sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigError {
    /// Required settings with no value: the credentials.
    Missing {
        /// Every missing setting, in the builder's order.
        settings: Vec<Setting>,
    },
    /// A setting whose value cannot work.
    Invalid {
        /// Which one.
        setting: Setting,
        /// What is wrong with it and what to give instead.
        problem: String,
        /// The parser's own error, for a base URL that is not a URL.
        cause: Option<Cause>,
    },
    /// The HTTP client could not be built (TLS roots, the system's resolver).
    HttpClient(Cause),
}

impl ConfigError {
    pub(crate) fn invalid(setting: Setting, problem: String) -> ConfigError {
        ConfigError::Invalid {
            setting,
            problem,
            cause: None,
        }
    }

    /// The settings at fault.
    pub fn settings(&self) -> &[Setting] {
        match self {
            ConfigError::Missing { settings } => settings,
            ConfigError::Invalid { setting, .. } => std::slice::from_ref(setting),
            ConfigError::HttpClient(_) => &[],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { settings } => {
                let names: Vec<String> = settings.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "missing {}: set them on the builder or in the environment; the key id and \
                     secret API key are on the business console's Manage API Keys page",
                    names.join(", ")
                )
            }
            ConfigError::Invalid {
                setting, problem, ..
            } => write!(f, "{setting} {problem}"),
            ConfigError::HttpClient(_) => write!(
                f,
                "the HTTP client could not be built; check the system's TLS and resolver setup"
            ),
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            ConfigError::Invalid {
                cause: Some(cause), ..
            }
            | ConfigError::HttpClient(cause) => Some(cause.as_source()),
            _ => None,
        }
    }
}

/// The last failed attempt of a call that gave up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// No connection could be made (refused, DNS, TLS): nothing was sent.
    Connect(Cause),
    /// No answer in time after the request was sent.
    Timeout,
    /// The connection broke after the request was sent, before the answer.
    ConnectionLost(Cause),
    /// The call was cancelled before any attempt failed.
    Cancelled,
    /// The server answered with an error status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The API's error slug, empty if the body had none.
        slug: String,
        /// The API's error message, or the start of a body that is not the API's, or the
        /// `Location` of a redirect.
        message: String,
    },
    /// The server answered success with a body that is not the documented one.
    Unreadable {
        /// The HTTP status.
        status: u16,
        /// What is wrong with the body.
        detail: String,
        /// The JSON parser's error, when it was one.
        cause: Option<Cause>,
    },
}

impl AttemptFailure {
    /// The underlying error, if the failure came from one.
    pub fn cause(&self) -> Option<&Cause> {
        match self {
            AttemptFailure::Connect(cause) | AttemptFailure::ConnectionLost(cause) => Some(cause),
            AttemptFailure::Unreadable { cause, .. } => cause.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptFailure::Connect(_) => write!(f, "could not connect"),
            AttemptFailure::Timeout => write!(f, "no answer before the request timeout"),
            AttemptFailure::Cancelled => write!(f, "the call was cancelled"),
            AttemptFailure::ConnectionLost(_) => {
                write!(f, "the connection broke before the answer")
            }
            AttemptFailure::Status {
                status,
                slug,
                message,
            } => {
                write!(f, "HTTP {status}")?;
                if !slug.is_empty() {
                    write!(f, " {slug}")?;
                }
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            AttemptFailure::Unreadable { status, detail, .. } => {
                write!(f, "HTTP {status} with an unreadable body ({detail})")
            }
        }
    }
}

impl StdError for AttemptFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause().map(Cause::as_source)
    }
}

/// Why a call failed. Each message says what happened and what to do next; the underlying
/// error, if any, is the [`std::error::Error::source`] (print the chain, e.g. with `{:#}` of
/// `anyhow`, for the operating system's words). No variant ever holds the API key or a token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; nothing was sent.
    Config(ConfigError),

    /// The API refused the request for good (a 4xx other than 401 and 429). Retrying the same
    /// request cannot help; fix it first.
    Final {
        /// The endpoint called (`create_call_records`, `batch_status`, `labels`, `token`).
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The API's error slug.
        slug: String,
        /// The API's error message.
        message: String,
        /// Requests sent for the call, token requests included.
        attempts: u32,
    },

    /// The credentials or the token were refused even after getting a fresh token.
    Unauthorized {
        /// The endpoint called.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The API's error slug.
        slug: String,
        /// The API's error message.
        message: String,
        /// Requests sent for the call, token requests included.
        attempts: u32,
    },

    /// Every allowed attempt failed, or the run's retry budget is spent.
    GaveUp {
        /// The endpoint called.
        endpoint: &'static str,
        /// Requests sent for the call, token requests included.
        attempts: u32,
        /// Why no further attempt was made.
        reason: String,
        /// The last failed attempt; its cause is this error's source.
        last: AttemptFailure,
        /// An attempt had an unknown outcome, so the batch may be stored.
        possibly_stored: bool,
    },

    /// At-most-once mode: the request was sent but no answer came, so it may have been stored,
    /// and it was not sent again.
    OutcomeUnknown {
        /// The endpoint called.
        endpoint: &'static str,
        /// Requests sent for the call, token requests included.
        attempts: u32,
        /// The attempt whose outcome is unknown; its cause is this error's source.
        last: AttemptFailure,
    },

    /// The account's token-creation budget (10 per 30 minutes) is spent and no usable token is
    /// left. Creating more would lock the account out.
    TokenBudgetExhausted {
        /// How long until the next token may be created.
        retry_after: Duration,
        /// When the next token may be created.
        retry_at: SystemTime,
        /// Requests sent for the call, token requests included.
        attempts: u32,
    },

    /// The server answered success with a body this client cannot read (not the documented
    /// JSON, or far too long). A 2xx to a create request means it was processed: the batch may
    /// be stored.
    InvalidResponse {
        /// The endpoint called.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// What is wrong with the body.
        detail: String,
        /// Requests sent for the call, token requests included.
        attempts: u32,
        /// The request was processed: a create request's batch may be stored.
        possibly_stored: bool,
        /// The JSON parser's error, when it was one; this error's source.
        cause: Option<Cause>,
    },

    /// The server answered with a redirect. The API never redirects and the client never
    /// follows one: the credentials and records go to the configured origin only.
    Redirected {
        /// The endpoint called.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The `Location` header, as sent (at most 200 characters).
        location: String,
        /// Requests sent for the call, token requests included.
        attempts: u32,
    },

    /// The request could not leave before the deadline given to
    /// [`crate::Client::create_call_records_by`]: the rate limit, a backoff or the token budget
    /// held it past the moment a record of the batch stops being valid.
    SendByPassed {
        /// The endpoint called.
        endpoint: &'static str,
        /// Requests sent for the call, token requests included.
        attempts: u32,
        /// How long from when the call ended until the request could have left.
        wait: Duration,
        /// An earlier attempt had an unknown outcome: the batch may be stored.
        possibly_stored: bool,
    },

    /// The batch could not be written as JSON. Records that passed validation always can:
    /// this is a bug to report.
    Encode(Cause),
}

/// What to check after a 401, unless the API's own words already send the reader to the
/// business console.
fn unauthorized_advice(message: &str) -> &'static str {
    if message.contains("business console") {
        ""
    } else {
        "; check the client account id, key id and API key in the business console"
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(error) => write!(f, "invalid client configuration: {error}"),
            Error::Final {
                endpoint,
                status,
                slug,
                message,
                ..
            } => write!(
                f,
                "{endpoint}: the API refused the request with HTTP {status} {slug}: {message}; do \
                 not retry it unchanged, fix what the message names"
            ),
            Error::Unauthorized {
                endpoint,
                status,
                slug,
                message,
                ..
            } => {
                write!(
                    f,
                    "{endpoint}: authorization refused with HTTP {status} {slug}: {message}"
                )?;
                f.write_str(unauthorized_advice(message))
            }
            Error::GaveUp {
                endpoint,
                attempts,
                reason,
                last,
                possibly_stored,
            } => write!(
                f,
                "{endpoint}: gave up after {attempts} attempt(s): {reason}; last failure: {last}. {}",
                stored_advice(possibly_stored)
            ),
            Error::OutcomeUnknown {
                endpoint,
                attempts,
                last,
            } => write!(
                f,
                "{endpoint}: the outcome is unknown after attempt {attempts} ({last}); the batch may \
                 or may not have been stored and at-most-once mode forbids re-sending it: check \
                 before sending it again"
            ),
            Error::TokenBudgetExhausted { retry_after, .. } => write!(
                f,
                "no usable token and the token-creation budget is spent; the next token may be \
                 created in {}s: try again then, and look for other clients creating tokens on \
                 this account",
                retry_after.as_secs()
            ),
            other => other.fmt_response(f),
        }
    }
}

impl Error {
    /// The rest of [`fmt::Display`]: answers the client could not use, and local failures.
    fn fmt_response(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidResponse {
                endpoint,
                status,
                detail,
                possibly_stored,
                ..
            } => write!(
                f,
                "{endpoint}: HTTP {status} with an unreadable body ({detail}); is the base URL the \
                 API's? {}",
                stored_advice(possibly_stored)
            ),
            Error::Redirected {
                endpoint,
                status,
                location,
                ..
            } => write!(
                f,
                "{endpoint}: HTTP {status} redirect to {location}, not followed: the credentials \
                 and records are sent to the configured base URL only; check that it is the API's"
            ),
            Error::SendByPassed {
                endpoint,
                possibly_stored,
                ..
            } => write!(
                f,
                "{endpoint}: not sent: the wait for the rate limit or a retry ran past the earliest \
                 end of the batch's call windows. {}",
                stored_advice(possibly_stored)
            ),
            Error::Encode(_) => write!(
                f,
                "the batch could not be written as JSON; this is a bug in tc-http, please report it"
            ),
            // The other variants are written by `Display::fmt` itself.
            _ => Ok(()),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Config(error) => error.source(),
            Error::GaveUp { last, .. } | Error::OutcomeUnknown { last, .. } => {
                last.cause().map(Cause::as_source)
            }
            Error::InvalidResponse { cause, .. } => cause.as_ref().map(Cause::as_source),
            Error::Encode(cause) => Some(cause.as_source()),
            _ => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(error: ConfigError) -> Error {
        Error::Config(error)
    }
}

fn stored_advice(possibly_stored: &bool) -> &'static str {
    if *possibly_stored {
        "An attempt may have been stored: check the batch status before sending it again"
    } else {
        "Nothing was stored: the request can be sent again later"
    }
}

impl Error {
    /// Whether the request may have been processed although the call failed: a create request
    /// in this state must be checked (batch status) before it is sent again.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Error::OutcomeUnknown { .. } => true,
            Error::GaveUp {
                possibly_stored, ..
            }
            | Error::InvalidResponse {
                possibly_stored, ..
            }
            | Error::SendByPassed {
                possibly_stored, ..
            } => *possibly_stored,
            _ => false,
        }
    }

    /// What `tc-engine` needs to know of a failed create call to decide its batch's outcome
    /// ([`tc_engine::BatchOutcome::of_failure`]) and whether sending halts
    /// ([`tc_engine::CallFailure::halt`]): its kind, the answer's status and slug, whether it
    /// may be stored, and [`Error::message_with_causes`].
    pub fn failure(&self) -> tc_engine::CallFailure {
        use tc_engine::FailureKind as Kind;
        let kind = match self {
            Error::Config(_) | Error::Encode(_) => Kind::Misconfigured,
            Error::Final { .. } => Kind::Refused,
            Error::Unauthorized { .. } => Kind::Unauthorized,
            Error::GaveUp { .. } => Kind::GaveUp,
            Error::OutcomeUnknown { .. } => Kind::Unanswered,
            Error::TokenBudgetExhausted { retry_after, .. } => Kind::TokenBudgetSpent {
                retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            },
            Error::InvalidResponse { .. } => Kind::UnreadableAnswer,
            Error::Redirected { .. } => Kind::Redirected,
            Error::SendByPassed { .. } => Kind::SendByPassed,
        };
        let mut failure = tc_engine::CallFailure::new(kind, self.message_with_causes());
        if let Some(status) = self.status() {
            failure = failure.with_status(status);
        }
        if let Some(slug) = self.slug() {
            failure = failure.with_slug(slug);
        }
        if self.outcome_unknown() {
            failure = failure.possibly_stored();
        }
        failure
    }

    /// The error's message followed by its causes (the operating system's words for a refused
    /// connection, the parser's for an unreadable answer), on one line: what a report or a
    /// record's status says of it.
    pub fn message_with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    /// The HTTP status of the answer behind the error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Final { status, .. }
            | Error::Unauthorized { status, .. }
            | Error::InvalidResponse { status, .. }
            | Error::Redirected { status, .. } => Some(*status),
            Error::GaveUp {
                last: AttemptFailure::Status { status, .. },
                ..
            } => Some(*status),
            _ => None,
        }
    }

    /// The API's error slug (`invalid-input`, `authorization-error`, ...), if any.
    pub fn slug(&self) -> Option<&str> {
        match self {
            Error::Final { slug, .. } | Error::Unauthorized { slug, .. } => Some(slug),
            Error::GaveUp {
                last: AttemptFailure::Status { slug, .. },
                ..
            } => Some(slug),
            _ => None,
        }
    }

    /// Requests sent for the call, token requests included (0 if nothing was sent).
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Config(_) | Error::Encode(_) => 0,
            Error::Final { attempts, .. }
            | Error::Unauthorized { attempts, .. }
            | Error::GaveUp { attempts, .. }
            | Error::OutcomeUnknown { attempts, .. }
            | Error::TokenBudgetExhausted { attempts, .. }
            | Error::InvalidResponse { attempts, .. }
            | Error::Redirected { attempts, .. }
            | Error::SendByPassed { attempts, .. } => *attempts,
        }
    }

    /// Whether sending the same request later can succeed.
    pub fn is_retryable_later(&self) -> bool {
        matches!(
            self,
            Error::GaveUp { .. } | Error::TokenBudgetExhausted { .. }
        )
    }

    /// The configuration problem, for an [`Error::Config`].
    pub fn config_error(&self) -> Option<&ConfigError> {
        match self {
            Error::Config(error) => Some(error),
            _ => None,
        }
    }

    /// The error for a call the exchange ended, with the last attempt's failure as seen on the
    /// wire (`None` if no attempt failed) and `wait`, how long until `TokenBudgetSpent` ends.
    /// A call that may have stored its batch always says so: `outcome_unknown()` is true.
    pub(crate) fn ended(failed: Failed, last: Option<AttemptFailure>, wait: Duration) -> Error {
        let endpoint = failed.endpoint.name();
        let attempts = failed.attempts;
        let last = last.unwrap_or(AttemptFailure::Cancelled);
        match failed.reason {
            FailReason::GaveUp(GiveUpReason::OutcomeUnknownAtMostOnce) => Error::OutcomeUnknown {
                endpoint,
                attempts,
                last,
            },
            FailReason::UnreadableAnswer { status } => Error::InvalidResponse {
                endpoint,
                status,
                detail: last.message(),
                attempts,
                possibly_stored: failed.possibly_stored,
                cause: last.cause().cloned(),
            },
            FailReason::SendByPassed { .. } => Error::SendByPassed {
                endpoint,
                attempts,
                wait,
                possibly_stored: failed.possibly_stored,
            },
            FailReason::TokenBudgetSpent { .. } if !failed.possibly_stored => {
                Error::TokenBudgetExhausted {
                    retry_after: wait,
                    retry_at: SystemTime::now() + wait,
                    attempts,
                }
            }
            reason => Error::answered(endpoint, attempts, reason, last, failed.possibly_stored),
        }
    }

    /// [`Error::ended`] for a final answer, or for giving up.
    fn answered(
        endpoint: &'static str,
        attempts: u32,
        reason: FailReason,
        last: AttemptFailure,
        possibly_stored: bool,
    ) -> Error {
        let (status, slug, message) = match &last {
            AttemptFailure::Status {
                status,
                slug,
                message,
            } => (*status, slug.clone(), message.clone()),
            _ => (0, String::new(), last.to_string()),
        };
        match reason {
            FailReason::Refused { .. } if !possibly_stored => Error::Final {
                endpoint,
                status,
                slug,
                message,
                attempts,
            },
            FailReason::CredentialsRefused { .. } if !possibly_stored => Error::Unauthorized {
                endpoint,
                status,
                slug,
                message,
                attempts,
            },
            FailReason::Redirected { .. } if !possibly_stored => Error::Redirected {
                endpoint,
                status,
                location: message,
                attempts,
            },
            reason => Error::GaveUp {
                endpoint,
                attempts,
                reason: reason.to_string(),
                last,
                possibly_stored,
            },
        }
    }
}

impl AttemptFailure {
    /// The answer's message, or the whole description of a failure without an answer.
    fn message(&self) -> String {
        match self {
            AttemptFailure::Status { message, .. } => message.clone(),
            AttemptFailure::Unreadable { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_shareable<T: Send + Sync + 'static>() {}

    /// Errors cross tasks and threads, and go into `anyhow` and `Box<dyn Error + Send + Sync>`.
    #[test]
    fn errors_are_send_sync_and_static() {
        is_shareable::<Error>();
        is_shareable::<ConfigError>();
        is_shareable::<AttemptFailure>();
    }

    #[test]
    fn a_missing_setting_names_its_variable_and_an_invalid_one_its_problem() {
        let missing = ConfigError::Missing {
            settings: vec![Setting::KeyId, Setting::ApiKey],
        };
        let text = Error::from(missing).to_string();
        assert!(
            text.contains("key_id ($TRUECALLER_KEY_ID), api_key ($TRUECALLER_API_KEY)"),
            "{text}"
        );
        let invalid = ConfigError::invalid(Setting::Tokens, "must be 1 to 10, got 0".into());
        assert_eq!(invalid.to_string(), "tokens must be 1 to 10, got 0");
        assert!(StdError::source(&Error::from(invalid)).is_none());
    }
}

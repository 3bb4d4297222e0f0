//! [`Error`]: what went wrong with a call, whether the batch may have been stored anyway, and
//! what to do. No variant ever holds the API key or a token.

use std::fmt;
use std::time::{Duration, SystemTime};
use tc_core::transport::{FailReason, Failed, GiveUpReason};

/// The last failed attempt of a call that gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptFailure {
    /// No connection could be made (refused, DNS, TLS): nothing was sent.
    Connect(String),
    /// No answer in time after the request was sent.
    Timeout,
    /// The connection broke after the request was sent, before the answer.
    ConnectionLost(String),
    /// The call was cancelled before any attempt failed.
    Cancelled,
    /// The server answered with an error status.
    Status {
        status: u16,
        slug: String,
        message: String,
    },
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptFailure::Connect(detail) => write!(f, "could not connect ({detail})"),
            AttemptFailure::Timeout => write!(f, "no answer before the request timeout"),
            AttemptFailure::Cancelled => write!(f, "the call was cancelled"),
            AttemptFailure::ConnectionLost(detail) => {
                write!(f, "the connection broke before the answer ({detail})")
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
        }
    }
}

/// Why a call failed. Each message says what happened and what to do next.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; nothing was sent.
    #[error("invalid client configuration: {message}")]
    Config { message: String },

    /// The API refused the request for good (a 4xx other than 401 and 429). Retrying the same
    /// request cannot help; fix it first.
    #[error(
        "{endpoint}: the API refused the request with HTTP {status} {slug}: {message}; do not retry \
         it unchanged, fix what the message names"
    )]
    Final {
        endpoint: &'static str,
        status: u16,
        slug: String,
        message: String,
        attempts: u32,
    },

    /// The credentials or the token were refused even after getting a fresh token.
    #[error(
        "{endpoint}: authorization refused with HTTP {status} {slug}: {message}; check the client \
         account id, key id and API key in the business console"
    )]
    Unauthorized {
        endpoint: &'static str,
        status: u16,
        slug: String,
        message: String,
        attempts: u32,
    },

    /// Every allowed attempt failed, or the run's retry budget is spent.
    #[error(
        "{endpoint}: gave up after {attempts} attempt(s): {reason}; last failure: {last}. {}",
        stored_advice(.possibly_stored)
    )]
    GaveUp {
        endpoint: &'static str,
        attempts: u32,
        reason: String,
        last: AttemptFailure,
        /// An attempt had an unknown outcome, so the batch may be stored.
        possibly_stored: bool,
    },

    /// At-most-once mode: the request was sent but no answer came, so it may have been stored,
    /// and it was not sent again.
    #[error(
        "{endpoint}: the outcome is unknown after attempt {attempts} ({last}); the batch may or may \
         not have been stored and at-most-once mode forbids re-sending it: check before sending it \
         again"
    )]
    OutcomeUnknown {
        endpoint: &'static str,
        attempts: u32,
        last: AttemptFailure,
    },

    /// The account's token-creation budget (10 per 30 minutes) is spent and no usable token is
    /// left. Creating more would lock the account out.
    #[error(
        "no usable token and the token-creation budget is spent; the next token may be created in \
         {}s: try again then, and look for other clients creating tokens on this account",
        .retry_after.as_secs()
    )]
    TokenBudgetExhausted {
        retry_after: Duration,
        retry_at: SystemTime,
        attempts: u32,
    },

    /// The server answered success with a body this client cannot read (not the documented
    /// JSON, or far too long). A 2xx to a create request means it was processed: the batch may
    /// be stored.
    #[error(
        "{endpoint}: HTTP {status} with an unreadable body ({detail}); is the base URL the API's? {}",
        stored_advice(.possibly_stored)
    )]
    InvalidResponse {
        endpoint: &'static str,
        status: u16,
        detail: String,
        attempts: u32,
        /// The request was processed: a create request's batch may be stored.
        possibly_stored: bool,
    },

    /// The server answered with a redirect. The API never redirects and the client never
    /// follows one: the credentials and records go to the configured origin only.
    #[error(
        "{endpoint}: HTTP {status} redirect to {location}, not followed: the credentials and \
         records are sent to the configured base URL only; check that it is the API's"
    )]
    Redirected {
        endpoint: &'static str,
        status: u16,
        /// The `Location` header, as sent (at most 200 characters).
        location: String,
        attempts: u32,
    },

    /// The request could not leave before the deadline given to
    /// [`crate::Client::create_call_records_by`]: the rate limit, a backoff or the token budget
    /// held it past the moment a record of the batch stops being valid.
    #[error(
        "{endpoint}: not sent: the wait for the rate limit or a retry ran past the earliest end of          the batch's call windows. {}",
        stored_advice(.possibly_stored)
    )]
    SendByPassed {
        endpoint: &'static str,
        attempts: u32,
        /// How long from when the call ended until the request could have left.
        wait: Duration,
        /// An earlier attempt had an unknown outcome: the batch may be stored.
        possibly_stored: bool,
    },
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
            Error::Config { .. } => 0,
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

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Config {
            message: message.into(),
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
            other => other.to_string(),
        }
    }
}

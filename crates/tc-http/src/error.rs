//! [`Error`]: what went wrong with a call, whether the batch may have been stored anyway, and
//! what to do. No variant ever holds the API key or a token.

use std::fmt;
use std::time::{Duration, SystemTime};

/// The last failed attempt of a call that gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptFailure {
    /// No connection could be made (refused, DNS, TLS): nothing was sent.
    Connect(String),
    /// No answer in time after the request was sent.
    Timeout,
    /// The connection broke after the request was sent, before the answer.
    ConnectionLost(String),
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

    /// The server answered success with a body this client cannot read.
    #[error(
        "{endpoint}: HTTP {status} with an unreadable body ({detail}); is the base URL the API's?"
    )]
    InvalidResponse {
        endpoint: &'static str,
        status: u16,
        detail: String,
        attempts: u32,
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
            } => *possibly_stored,
            _ => false,
        }
    }

    /// The HTTP status of the answer behind the error, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Final { status, .. }
            | Error::Unauthorized { status, .. }
            | Error::InvalidResponse { status, .. } => Some(*status),
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
            | Error::InvalidResponse { attempts, .. } => *attempts,
        }
    }

    /// Records how many attempts the call that ended in this error made.
    pub(crate) fn with_attempts(mut self, made: u32) -> Error {
        match &mut self {
            Error::Config { .. } => {}
            Error::Final { attempts, .. }
            | Error::Unauthorized { attempts, .. }
            | Error::GaveUp { attempts, .. }
            | Error::OutcomeUnknown { attempts, .. }
            | Error::TokenBudgetExhausted { attempts, .. }
            | Error::InvalidResponse { attempts, .. } => *attempts = made,
        }
        self
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
}

//! What the answer to a create call means for its batch's records, and whether every later
//! batch would meet the same failure. The push journals this outcome and the relay stores it;
//! neither decides it again.

use crate::guarantee::Guarantee;
use crate::lifecycle::RecordState;
use crate::reason::ReportCode;
use tc_core::BatchId;

/// How long sending halts after a failure every batch would meet, when the failure itself
/// names no time (the credentials refused, the API unreachable): long enough not to spin,
/// short enough that a fixed key or a network back is used at once.
pub const HALT_WITHOUT_RETRY_AFTER_MS: u64 = 5_000;

/// What kind of failure ended a create call, as the driver saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The API refused the request with a final answer (a 4xx other than 401 and 429).
    Refused,
    /// The credentials or the token were refused even after getting a fresh token.
    Unauthorized,
    /// The answer was a redirect: the base URL is not the API's.
    Redirected,
    /// Every allowed attempt failed, or the run's retry budget is spent.
    GaveUp,
    /// At most once: the request was sent, no answer came, and it was not sent again.
    Unanswered,
    /// The account's token-creation budget is spent and no usable token is left.
    TokenBudgetSpent {
        /// How long until the next token may be created, in milliseconds.
        retry_after_ms: u64,
    },
    /// A success answer whose body could not be read: the request was processed.
    UnreadableAnswer,
    /// The request could not leave before a record of the batch stopped being valid.
    SendByPassed,
    /// The client's settings cannot work, or the batch could not be encoded.
    Misconfigured,
}

/// A failed create call: the facts the engine decides on. A driver builds one from its own
/// error (`tc_http::Error::failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    kind: FailureKind,
    status: Option<u16>,
    slug: Option<String>,
    possibly_stored: bool,
    message: String,
}

impl CallFailure {
    /// A failure of `kind`, described by `message` (what a person reads in a report).
    pub fn new(kind: FailureKind, message: impl Into<String>) -> CallFailure {
        CallFailure {
            kind,
            status: None,
            slug: None,
            possibly_stored: false,
            message: message.into(),
        }
    }

    /// The HTTP status of the answer behind the failure.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> CallFailure {
        self.status = Some(status);
        self
    }

    /// The API's error slug of the answer behind the failure.
    #[must_use]
    pub fn with_slug(mut self, slug: impl Into<String>) -> CallFailure {
        self.slug = Some(slug.into());
        self
    }

    /// An attempt of the call may have been stored: it was sent and no answer said what became
    /// of it, or a success answer could not be read.
    #[must_use]
    pub fn possibly_stored(mut self) -> CallFailure {
        self.possibly_stored = true;
        self
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The HTTP status of the answer behind it, if an answer came.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether an attempt may have been stored.
    pub fn is_possibly_stored(&self) -> bool {
        self.possibly_stored || self.kind == FailureKind::Unanswered
    }

    /// What a person reads about it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The code its records carry: `outcome_unknown` when the batch may be stored, else the
    /// answer's slug or status, else `not_sent`.
    pub fn code(&self) -> ReportCode {
        if self.is_possibly_stored() {
            ReportCode::OutcomeUnknown
        } else {
            ReportCode::of_answer(self.status, self.slug.as_deref())
        }
    }

    /// Whether every later batch would meet this failure too, so that sending must halt
    /// instead of failing the batches one by one: the credentials refused, the base path not
    /// found (404, 405), a redirect, the token budget or the retries spent, settings that
    /// cannot work. The push ends its run (its rows stay to be resumed); the relay pauses.
    pub fn halt(&self) -> Option<Halt> {
        match self.kind {
            FailureKind::TokenBudgetSpent { retry_after_ms } => Some(Halt { retry_after_ms }),
            FailureKind::Misconfigured
            | FailureKind::Unauthorized
            | FailureKind::Redirected
            | FailureKind::GaveUp => Some(Halt::without_retry_after()),
            FailureKind::Refused if matches!(self.status, Some(404 | 405)) => {
                Some(Halt::without_retry_after())
            }
            FailureKind::Refused
            | FailureKind::Unanswered
            | FailureKind::UnreadableAnswer
            | FailureKind::SendByPassed => None,
        }
    }
}

/// Sending halts: every later batch would meet the same failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Halt {
    retry_after_ms: u64,
}

/// A halt for a failure that names no time: [`HALT_WITHOUT_RETRY_AFTER_MS`].
impl Default for Halt {
    fn default() -> Halt {
        Halt::without_retry_after()
    }
}

impl Halt {
    fn without_retry_after() -> Halt {
        Halt {
            retry_after_ms: HALT_WITHOUT_RETRY_AFTER_MS,
        }
    }

    /// How long to hold sending back before trying the queue again, in milliseconds: what the
    /// failure names (the token budget's next creation), else [`HALT_WITHOUT_RETRY_AFTER_MS`].
    pub fn retry_after_ms(self) -> u64 {
        self.retry_after_ms
    }
}

/// What became of one batch, for each of its records. Exhaustive on purpose: a new outcome must
/// be handled by every adapter that stores one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// The API acknowledged the batch.
    Accepted {
        /// The API's id of the batch.
        batch_id: BatchId,
        /// An earlier attempt had an unknown outcome and the batch was sent again: the API
        /// may hold it twice.
        possibly_duplicated: bool,
    },
    /// The API refused the batch for good: its records failed.
    Refused {
        /// Why.
        code: ReportCode,
        /// What a person reads.
        message: String,
    },
    /// Nothing settled: the records are to be sent again, later in the run (the relay's
    /// queue) or by a resumed push. *Resumable*.
    Resumable {
        /// Why they were not accepted this time.
        code: ReportCode,
        /// What a person reads.
        message: String,
        /// An attempt may have been stored: sent again, they are flagged possibly duplicated.
        possibly_stored: bool,
    },
    /// The API may hold the batch, and it is never sent again.
    Unknown {
        /// What a person reads.
        message: String,
    },
}

impl BatchOutcome {
    /// The outcome of a create call that failed, under `guarantee`.
    ///
    /// - A failure every batch would meet ([`CallFailure::halt`]) leaves the records to be sent
    ///   again, and so does a request that could not leave in time.
    /// - A request the API may have stored is unknown unless it is to be sent again, and at most
    ///   once it never is.
    /// - Anything else is a refusal: the records failed.
    pub fn of_failure(failure: &CallFailure, guarantee: Guarantee) -> BatchOutcome {
        let possibly_stored = failure.is_possibly_stored();
        let message = failure.message().to_owned();
        let resumable = failure.halt().is_some() || failure.kind() == FailureKind::SendByPassed;
        if possibly_stored && (!resumable || guarantee == Guarantee::AtMostOnce) {
            return BatchOutcome::Unknown { message };
        }
        let code = failure.code();
        if resumable {
            BatchOutcome::Resumable {
                code,
                message,
                possibly_stored,
            }
        } else {
            BatchOutcome::Refused { code, message }
        }
    }

    /// The state the batch's records move to.
    pub fn record_state(&self) -> RecordState {
        match self {
            BatchOutcome::Accepted { .. } => RecordState::Accepted,
            BatchOutcome::Refused { .. } => RecordState::Failed,
            BatchOutcome::Resumable { .. } => RecordState::Queued,
            BatchOutcome::Unknown { .. } => RecordState::Unknown,
        }
    }

    /// Whether the API may hold the batch's records (accepted ones included): a record sent
    /// again after this is flagged possibly duplicated.
    pub fn may_be_stored(&self) -> bool {
        match self {
            BatchOutcome::Accepted { .. } | BatchOutcome::Unknown { .. } => true,
            BatchOutcome::Resumable {
                possibly_stored, ..
            } => *possibly_stored,
            BatchOutcome::Refused { .. } => false,
        }
    }

    /// The code the records carry, for an outcome that is not an acceptance.
    pub fn code(&self) -> Option<ReportCode> {
        match self {
            BatchOutcome::Accepted { .. } => None,
            BatchOutcome::Refused { code, .. } | BatchOutcome::Resumable { code, .. } => {
                Some(code.clone())
            }
            BatchOutcome::Unknown { .. } => Some(ReportCode::OutcomeUnknown),
        }
    }

    /// What a person reads about an outcome that is not an acceptance.
    pub fn message(&self) -> Option<&str> {
        match self {
            BatchOutcome::Accepted { .. } => None,
            BatchOutcome::Refused { message, .. }
            | BatchOutcome::Resumable { message, .. }
            | BatchOutcome::Unknown { message } => Some(message),
        }
    }
}

/// Whether an attempt before the one that has the last word on a record may have stored it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EarlierAttempts {
    /// No earlier attempt can have stored it.
    StoredNothing,
    /// An earlier attempt may have stored it: it was sent and its answer never came.
    MayHaveStored,
}

/// A record's final answer: its state, and whether the API may hold it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer {
    /// Accepted, failed or unknown.
    pub state: RecordState,
    /// The API may hold the record more than once.
    pub possibly_duplicated: bool,
}

/// The answer a record gets from its batch's outcome (`None`: the batch was sent and never
/// answered) and from what earlier attempts may have done. The one place that decides it: a
/// record that may be stored is never `failed`, and an accepted record that may be stored twice
/// is flagged.
///
/// ```
/// use tc_engine::outcome::{answer, EarlierAttempts};
/// use tc_engine::{BatchOutcome, ReportCode, RecordState};
///
/// let refused = BatchOutcome::Refused { code: ReportCode::Http(400), message: "no".into() };
/// let first = answer(Some(&refused), EarlierAttempts::StoredNothing);
/// assert_eq!(first.state, RecordState::Failed);
/// let again = answer(Some(&refused), EarlierAttempts::MayHaveStored);
/// assert_eq!(again.state, RecordState::Unknown);
/// ```
pub fn answer(outcome: Option<&BatchOutcome>, earlier: EarlierAttempts) -> Answer {
    let stored_before = earlier == EarlierAttempts::MayHaveStored;
    let (state, possibly_duplicated) = match outcome {
        None => (RecordState::Unknown, stored_before),
        Some(BatchOutcome::Accepted {
            possibly_duplicated,
            ..
        }) => (RecordState::Accepted, *possibly_duplicated || stored_before),
        Some(
            BatchOutcome::Refused { .. }
            | BatchOutcome::Resumable {
                possibly_stored: false,
                ..
            },
        ) if stored_before => (RecordState::Unknown, false),
        Some(
            BatchOutcome::Refused { .. }
            | BatchOutcome::Resumable {
                possibly_stored: false,
                ..
            },
        ) => (RecordState::Failed, false),
        Some(
            BatchOutcome::Unknown { .. }
            | BatchOutcome::Resumable {
                possibly_stored: true,
                ..
            },
        ) => (RecordState::Unknown, stored_before),
    };
    Answer {
        state,
        possibly_duplicated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind) -> CallFailure {
        CallFailure::new(kind, "it failed")
    }

    fn outcome(failure: &CallFailure) -> (RecordState, bool) {
        let outcome = BatchOutcome::of_failure(failure, Guarantee::AtLeastOnce);
        (outcome.record_state(), outcome.may_be_stored())
    }

    #[test]
    fn a_record_that_may_be_stored_is_never_failed() {
        use EarlierAttempts::{MayHaveStored, StoredNothing};
        let refused = BatchOutcome::Refused {
            code: ReportCode::Http(400),
            message: String::new(),
        };
        let stopped = BatchOutcome::Resumable {
            code: ReportCode::NotSent,
            message: String::new(),
            possibly_stored: false,
        };
        let unknown = BatchOutcome::Unknown {
            message: String::new(),
        };
        let accepted = BatchOutcome::Accepted {
            batch_id: "b-1".parse().unwrap(),
            possibly_duplicated: false,
        };
        let cases = [
            (None, StoredNothing, RecordState::Unknown, false),
            (None, MayHaveStored, RecordState::Unknown, true),
            (Some(&refused), StoredNothing, RecordState::Failed, false),
            (Some(&refused), MayHaveStored, RecordState::Unknown, false),
            (Some(&stopped), StoredNothing, RecordState::Failed, false),
            (Some(&stopped), MayHaveStored, RecordState::Unknown, false),
            (Some(&unknown), StoredNothing, RecordState::Unknown, false),
            (Some(&unknown), MayHaveStored, RecordState::Unknown, true),
            (Some(&accepted), StoredNothing, RecordState::Accepted, false),
            (Some(&accepted), MayHaveStored, RecordState::Accepted, true),
        ];
        for (outcome, earlier, state, possibly_duplicated) in cases {
            let expected = Answer {
                state,
                possibly_duplicated,
            };
            assert_eq!(
                answer(outcome, earlier),
                expected,
                "{outcome:?} {earlier:?}"
            );
        }
    }

    #[test]
    fn a_final_refusal_fails_the_records_and_the_run_goes_on() {
        let refused = failure(FailureKind::Refused)
            .with_status(400)
            .with_slug("invalid-input");
        assert_eq!(outcome(&refused), (RecordState::Failed, false));
        assert_eq!(refused.code(), ReportCode::Slug("invalid-input".into()));
        assert_eq!(refused.halt(), None);
    }

    #[test]
    fn a_base_path_not_found_halts_sending_and_leaves_the_records_queued() {
        for status in [404, 405] {
            let refused = failure(FailureKind::Refused).with_status(status);
            assert_eq!(outcome(&refused), (RecordState::Queued, false));
            assert!(refused.halt().is_some());
        }
    }

    #[test]
    fn failures_every_batch_would_meet_halt_and_resume() {
        for kind in [
            FailureKind::Unauthorized,
            FailureKind::Redirected,
            FailureKind::GaveUp,
            FailureKind::Misconfigured,
        ] {
            let failed = failure(kind);
            assert_eq!(outcome(&failed), (RecordState::Queued, false), "{kind:?}");
            assert_eq!(
                failed.halt().map(Halt::retry_after_ms),
                Some(HALT_WITHOUT_RETRY_AFTER_MS)
            );
        }
        let spent = failure(FailureKind::TokenBudgetSpent {
            retry_after_ms: 60_000,
        });
        assert_eq!(spent.halt().map(Halt::retry_after_ms), Some(60_000));
    }

    #[test]
    fn given_up_after_an_unknown_attempt_is_sent_again_flagged_at_least_once_only() {
        let gave_up = failure(FailureKind::GaveUp).possibly_stored();
        let again = BatchOutcome::of_failure(&gave_up, Guarantee::AtLeastOnce);
        assert_eq!(again.record_state(), RecordState::Queued);
        assert!(again.may_be_stored());
        assert_eq!(again.code(), Some(ReportCode::OutcomeUnknown));
        let never = BatchOutcome::of_failure(&gave_up, Guarantee::AtMostOnce);
        assert_eq!(never.record_state(), RecordState::Unknown);
    }

    #[test]
    fn an_unreadable_success_is_unknown_and_never_sent_again() {
        // A 2xx means the API processed the request: sending it again would store it twice.
        let unreadable = failure(FailureKind::UnreadableAnswer)
            .with_status(200)
            .possibly_stored();
        for guarantee in [Guarantee::AtLeastOnce, Guarantee::AtMostOnce] {
            let outcome = BatchOutcome::of_failure(&unreadable, guarantee);
            assert_eq!(outcome.record_state(), RecordState::Unknown);
            assert_eq!(outcome.code(), Some(ReportCode::OutcomeUnknown));
        }
    }

    #[test]
    fn an_unanswered_request_at_most_once_is_unknown() {
        let unanswered = failure(FailureKind::Unanswered);
        assert!(unanswered.is_possibly_stored());
        assert_eq!(outcome(&unanswered), (RecordState::Unknown, true));
    }

    #[test]
    fn a_request_that_could_not_leave_in_time_is_sent_again_without_halting() {
        let late = failure(FailureKind::SendByPassed);
        assert_eq!(outcome(&late), (RecordState::Queued, false));
        assert_eq!(late.code(), ReportCode::NotSent);
        assert_eq!(late.halt(), None);
        let late_after_unknown = failure(FailureKind::SendByPassed).possibly_stored();
        assert_eq!(outcome(&late_after_unknown), (RecordState::Queued, true));
        let never = BatchOutcome::of_failure(&late_after_unknown, Guarantee::AtMostOnce);
        assert_eq!(never.record_state(), RecordState::Unknown);
    }
}

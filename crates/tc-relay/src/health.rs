//! What the relay knows of its own trouble: whether its last group commit failed, and whether
//! sending is paused and why. `/readyz` answers from it, `/metrics` shows it, and the log says
//! each trouble once, then how often it repeated, instead of one line per failure.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tc_engine::{CallFailure, FailureKind};
use tokio::time::Instant;

/// How often a failure that keeps repeating is logged again, with how many times it did.
pub(crate) const REPEAT_LOG_EVERY: Duration = Duration::from_secs(10);

/// Why the relay is in trouble: the `reason` label of its metrics. A fixed set of names, never
/// an error's text, which could carry what a label must not (a secret, a customer's number)
/// and would make the label values unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The store failed a write: a group commit, or marking a batch in flight.
    Store,
    /// The API refused the credentials.
    Unauthorized,
    /// The account's token-creation budget is spent.
    TokenBudgetSpent,
    /// The API did not answer, or kept failing, through every retry.
    ApiUnreachable,
    /// The base URL is not the API's (a redirect, or the path not found).
    WrongBaseUrl,
    /// The client's settings cannot work.
    Misconfigured,
    /// The coordinator (Redis) does not answer: nothing leaves until it does.
    CoordinatorUnreachable,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::Store,
        Reason::Unauthorized,
        Reason::TokenBudgetSpent,
        Reason::ApiUnreachable,
        Reason::WrongBaseUrl,
        Reason::Misconfigured,
        Reason::CoordinatorUnreachable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Store => "store",
            Reason::Unauthorized => "unauthorized",
            Reason::TokenBudgetSpent => "token_budget_spent",
            Reason::ApiUnreachable => "api_unreachable",
            Reason::WrongBaseUrl => "wrong_base_url",
            Reason::Misconfigured => "misconfigured",
            Reason::CoordinatorUnreachable => "coordinator_unreachable",
        }
    }

    /// What the operator reads in `/readyz` while sending is paused for this reason.
    pub fn advice(self) -> &'static str {
        match self {
            Reason::Store => "the store failed to record a batch; see the log",
            Reason::Unauthorized => {
                "the API refused the credentials: fix them (--credentials) and restart"
            }
            Reason::TokenBudgetSpent => {
                "the account's token budget is spent: sending resumes when it allows"
            }
            Reason::ApiUnreachable => "the API does not answer: sending resumes when it does",
            Reason::WrongBaseUrl => "the base URL is not the API's: fix --base-url and restart",
            Reason::Misconfigured => "the client's settings cannot work; see the log",
            Reason::CoordinatorUnreachable => {
                "the coordinator (Redis) does not answer: sending resumes when it does"
            }
        }
    }

    /// Why a failure that halts sending halts it.
    pub fn of_halt(failure: &CallFailure) -> Reason {
        match failure.kind() {
            FailureKind::Unauthorized => Reason::Unauthorized,
            FailureKind::TokenBudgetSpent { .. } => Reason::TokenBudgetSpent,
            // A refusal halts sending only when it is a 404 or a 405: the path is not the API's.
            FailureKind::Redirected | FailureKind::Refused => Reason::WrongBaseUrl,
            FailureKind::GaveUp => Reason::ApiUnreachable,
            _ => Reason::Misconfigured,
        }
    }
}

/// The relay's trouble, as the writer and the sender last saw it.
#[derive(Debug, Default)]
pub(crate) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    commit_failing: bool,
    coordinator_down: bool,
    paused: Option<Reason>,
    last: Option<Reason>,
}

/// The relay's trouble at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The last group commit failed, and none has succeeded since.
    pub commit_failing: bool,
    /// Sending is paused, and why.
    pub paused: Option<Reason>,
    /// The reason of the latest error, kept after it is over.
    pub last: Option<Reason>,
}

impl Health {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave three flags half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn commit_failed(&self) {
        let mut state = self.state();
        state.commit_failing = true;
        state.last = Some(Reason::Store);
    }

    /// A group commit succeeded; whether the store was failing until now.
    pub fn commit_succeeded(&self) -> bool {
        std::mem::take(&mut self.state().commit_failing)
    }

    pub fn pause(&self, reason: Reason) {
        let mut state = self.state();
        state.paused = Some(reason);
        state.last = Some(reason);
    }

    /// Notes whether the coordinator answers; `true` when it has just stopped answering.
    pub fn coordinator(&self, down: bool) -> bool {
        let mut state = self.state();
        let went_down = down && !state.coordinator_down;
        state.coordinator_down = down;
        if went_down {
            state.last = Some(Reason::CoordinatorUnreachable);
        }
        went_down
    }

    /// A batch left and was answered in a way that does not halt sending.
    pub fn resume(&self) {
        self.state().paused = None;
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = *self.state();
        Snapshot {
            commit_failing: state.commit_failing,
            paused: state.paused,
            last: state.last,
        }
    }
}

/// An error log line that may repeat many times a second (every group commit while the disk is
/// full): the first is logged, then at most one line per [`REPEAT_LOG_EVERY`] saying how many
/// more there were. A different error is logged at once.
#[derive(Debug, Default)]
pub(crate) struct RepeatedError {
    state: Mutex<Option<Repeating>>,
}

#[derive(Debug)]
struct Repeating {
    error: String,
    logged_at: Instant,
    unlogged: u64,
}

/// Whether to log an occurrence of an error now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogNow {
    /// The first of its kind: log it.
    First,
    /// The interval passed: log it, saying `more` occurrences were not logged before it.
    Again { more: u64 },
    /// Counted, not logged.
    Quiet,
}

impl RepeatedError {
    fn state(&self) -> MutexGuard<'_, Option<Repeating>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one occurrence of `error` and says whether to log it.
    pub fn occurred(&self, error: &str) -> LogNow {
        let now = Instant::now();
        let mut state = self.state();
        match state.as_mut() {
            Some(repeating) if repeating.error == error => {
                if now.saturating_duration_since(repeating.logged_at) < REPEAT_LOG_EVERY {
                    repeating.unlogged += 1;
                    return LogNow::Quiet;
                }
                let more = std::mem::take(&mut repeating.unlogged);
                repeating.logged_at = now;
                LogNow::Again { more }
            }
            _ => {
                *state = Some(Repeating {
                    error: error.to_owned(),
                    logged_at: now,
                    unlogged: 0,
                });
                LogNow::First
            }
        }
    }

    /// The error stopped; how many occurrences since the last line were not logged.
    pub fn ended(&self) -> u64 {
        self.state()
            .take()
            .map_or(0, |repeating| repeating.unlogged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_repeating_error_is_logged_once_per_interval_with_how_many_more() {
        let repeated = RepeatedError::default();
        assert_eq!(repeated.occurred("disk full"), LogNow::First);
        for _ in 0..4 {
            assert_eq!(repeated.occurred("disk full"), LogNow::Quiet);
        }
        tokio::time::sleep(REPEAT_LOG_EVERY).await;
        assert_eq!(repeated.occurred("disk full"), LogNow::Again { more: 4 });
        assert_eq!(repeated.occurred("disk full"), LogNow::Quiet);
        // Another error is news: logged at once.
        assert_eq!(repeated.occurred("database down"), LogNow::First);
        assert_eq!(repeated.occurred("database down"), LogNow::Quiet);
        assert_eq!(repeated.ended(), 1);
        assert_eq!(repeated.occurred("database down"), LogNow::First);
    }
}

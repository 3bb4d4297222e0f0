//! When to retry a failed request, and when to give up: failure classes, exponential backoff
//! with full jitter, `Retry-After`, a cap on attempts, a run-wide retry budget, and the
//! at-most-once switch.

use super::MonotonicMillis;
use std::fmt;

/// Settings of a [`RetryPolicy`]; the defaults suit the API's documented limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; it doubles with each further one.
    pub base_delay_ms: i64,
    /// The backoff ceiling never grows past this.
    pub max_delay_ms: i64,
    /// A `Retry-After` longer than this is shortened to it.
    pub retry_after_cap_ms: i64,
    /// Retries after failures allowed over a run, as a share of first attempts (0.2: at most 20%
    /// extra requests), on top of [`RetryConfig::budget_floor`]. Retries after a 429 are not
    /// charged: they wait for the server's own `Retry-After`, so they add no load it did not
    /// invite, and a throttling storm must not make a healthy run give up.
    pub budget_ratio: f64,
    /// Retries always allowed, so a short run can ride out a brief outage.
    pub budget_floor: u32,
    /// Never re-send a request whose outcome is unknown (it may have been stored).
    pub at_most_once: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 6,
            base_delay_ms: 500,
            max_delay_ms: 60_000,
            retry_after_cap_ms: 120_000,
            budget_ratio: 0.2,
            budget_floor: 10,
            at_most_once: false,
        }
    }
}

/// Why a request was not retried. `Send` and `Debug` only: no payload, no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The server's answer is final for this request (a 4xx other than 401 and 429).
    Final,
    /// Every allowed attempt was spent.
    MaxAttempts(u32),
    /// Retries over the run reached the budget: the server is failing too often to keep going.
    BudgetExhausted {
        /// Retries already granted after failures (429 retries not counted).
        retries: u64,
        /// Requests begun over the run.
        first_attempts: u64,
    },
    /// The request may have been processed, and at-most-once forbids sending it again.
    OutcomeUnknownAtMostOnce,
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::Final => write!(f, "the server's answer is final"),
            GiveUpReason::MaxAttempts(n) => write!(f, "all {n} attempts failed"),
            GiveUpReason::BudgetExhausted {
                retries,
                first_attempts,
            } => write!(
                f,
                "the retry budget is spent ({retries} retries for {first_attempts} requests)"
            ),
            GiveUpReason::OutcomeUnknownAtMostOnce => {
                write!(
                    f,
                    "the outcome is unknown and at-most-once forbids re-sending"
                )
            }
        }
    }
}

/// A request that did not reach the server, or that the server refused without processing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotSentKind {
    /// Connection refused, DNS failure, TLS failure: nothing was sent.
    Connect,
    /// 429: too many requests, optionally with `Retry-After` in milliseconds.
    RateLimited {
        /// The server's `Retry-After`, converted to milliseconds; `None` when absent.
        retry_after_ms: Option<i64>,
    },
    /// 5xx: the server answered that it failed.
    Server {
        /// The 5xx status of the answer.
        status: u16,
    },
}

/// A request that may or may not have been processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownKind {
    /// No answer within the timeout after the request was sent.
    Timeout,
    /// The connection broke after the request was sent and before the answer arrived.
    ConnectionLost,
}

/// A failed attempt, classified by what it means for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Safe to retry: the request was not processed.
    NotSent(NotSentKind),
    /// Retrying may process the request twice.
    OutcomeUnknown(UnknownKind),
    /// A final answer (400, 403, 404, ...): retrying cannot help.
    Final {
        /// The answer's HTTP status.
        status: u16,
        /// The `slug` of the answer's error body, such as `invalid-input`.
        slug: String,
        /// The `message` of the answer's error body, for people.
        message: String,
    },
}

impl Failure {
    fn is_rate_limited(&self) -> bool {
        matches!(self, Failure::NotSent(NotSentKind::RateLimited { .. }))
    }

    fn retry_after_ms(&self) -> Option<i64> {
        match self {
            Failure::NotSent(NotSentKind::RateLimited { retry_after_ms }) => *retry_after_ms,
            _ => None,
        }
    }
}

/// Retry or give up.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new one is a breaking
/// change that the compiler points out in every driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the next attempt at this instant, after the backoff (and any `Retry-After`).
    RetryAt(MonotonicMillis),
    /// Send no further attempt, for this reason.
    GiveUp(GiveUpReason),
}

/// The retry policy of one client over one run. It counts first attempts and retries to enforce
/// the budget, so one policy is shared by all requests of the run.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    config: RetryConfig,
    first_attempts: u64,
    retries: u64,
    charged_retries: u64,
}

impl RetryPolicy {
    /// A policy with `config` and nothing counted yet.
    pub fn new(config: RetryConfig) -> RetryPolicy {
        RetryPolicy {
            config,
            first_attempts: 0,
            retries: 0,
            charged_retries: 0,
        }
    }

    /// The policy's settings.
    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    /// Counts a new request (its first attempt) toward the budget.
    pub fn record_request(&mut self) {
        self.first_attempts += 1;
    }

    /// Every retry granted, 429 retries included.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Retries granted after failures, the ones the budget limits.
    pub fn charged_retries(&self) -> u64 {
        self.charged_retries
    }

    /// Requests counted by [`RetryPolicy::record_request`]; the base of the retry budget.
    pub fn first_attempts(&self) -> u64 {
        self.first_attempts
    }

    fn budget_allows_one_more(&self) -> bool {
        let allowed =
            self.config.budget_floor as f64 + self.config.budget_ratio * self.first_attempts as f64;
        ((self.charged_retries + 1) as f64) <= allowed
    }

    /// The backoff ceiling before retry number `retry` (1 for the first retry):
    /// `min(max_delay, base * 2^(retry - 1))`.
    pub fn ceiling_ms(&self, retry: u32) -> i64 {
        let exponent = retry.saturating_sub(1).min(40);
        self.config
            .base_delay_ms
            .max(0)
            .saturating_mul(1_i64 << exponent)
            .min(self.config.max_delay_ms.max(0))
    }

    /// Decides after attempt number `attempt` (1 for the first) failed with `failure` at `now`.
    /// `random` is any 64-bit random number; the same inputs give the same answer.
    ///
    /// Backoff is "full jitter": a uniform delay in `[0, ceiling]`, which spreads a herd of
    /// failed callers over the whole interval. A 429's `Retry-After` (capped) is a floor: the
    /// retry comes after it, plus a jitter of up to one base delay so the herd does not return
    /// in the same millisecond.
    pub fn decide(
        &mut self,
        attempt: u32,
        failure: &Failure,
        now: MonotonicMillis,
        random: u64,
    ) -> RetryDecision {
        self.decide_for(attempt, failure, now, random, self.config.at_most_once)
    }

    /// [`RetryPolicy::decide`] for a request that is safe to repeat (a read, a token request):
    /// an unknown outcome is retried even in at-most-once mode.
    pub fn decide_idempotent(
        &mut self,
        attempt: u32,
        failure: &Failure,
        now: MonotonicMillis,
        random: u64,
    ) -> RetryDecision {
        self.decide_for(attempt, failure, now, random, false)
    }

    fn decide_for(
        &mut self,
        attempt: u32,
        failure: &Failure,
        now: MonotonicMillis,
        random: u64,
        at_most_once: bool,
    ) -> RetryDecision {
        match failure {
            Failure::Final { .. } => return RetryDecision::GiveUp(GiveUpReason::Final),
            Failure::OutcomeUnknown(_) if at_most_once => {
                return RetryDecision::GiveUp(GiveUpReason::OutcomeUnknownAtMostOnce)
            }
            _ => {}
        }
        if attempt >= self.config.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::MaxAttempts(self.config.max_attempts));
        }
        let charged = !failure.is_rate_limited();
        if charged {
            if !self.budget_allows_one_more() {
                return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted {
                    retries: self.charged_retries,
                    first_attempts: self.first_attempts,
                });
            }
            self.charged_retries += 1;
        }
        self.retries += 1;
        let delay = match failure.retry_after_ms() {
            Some(after) => {
                let floor = after.clamp(0, self.config.retry_after_cap_ms.max(0));
                floor + jitter(random, self.config.base_delay_ms.max(0))
            }
            None => jitter(random, self.ceiling_ms(attempt)),
        };
        RetryDecision::RetryAt(now.plus(delay))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(RetryConfig::default())
    }
}

/// A uniform value in `[0, ceiling]`.
fn jitter(random: u64, ceiling: i64) -> i64 {
    if ceiling <= 0 {
        return 0;
    }
    (random % (ceiling as u64 + 1)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error() -> Failure {
        Failure::NotSent(NotSentKind::Server { status: 503 })
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceilings: Vec<i64> = (1..=9).map(|r| policy.ceiling_ms(r)).collect();
        assert_eq!(
            ceilings,
            [500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(policy.ceiling_ms(u32::MAX), 60_000);
    }

    #[test]
    fn final_failures_are_not_retried() {
        let mut policy = RetryPolicy::default();
        let failure = Failure::Final {
            status: 400,
            slug: "invalid-input".into(),
            message: "x".into(),
        };
        assert_eq!(
            policy.decide(1, &failure, MonotonicMillis(0), 7),
            RetryDecision::GiveUp(GiveUpReason::Final)
        );
    }

    #[test]
    fn attempts_are_capped() {
        let mut policy = RetryPolicy::default();
        policy.record_request();
        for attempt in 1..6 {
            assert!(matches!(
                policy.decide(attempt, &server_error(), MonotonicMillis(0), 1),
                RetryDecision::RetryAt(_)
            ));
        }
        assert_eq!(
            policy.decide(6, &server_error(), MonotonicMillis(0), 1),
            RetryDecision::GiveUp(GiveUpReason::MaxAttempts(6))
        );
    }

    #[test]
    fn retry_after_is_a_floor_and_is_capped() {
        let mut policy = RetryPolicy::default();
        let limited = |ms| {
            Failure::NotSent(NotSentKind::RateLimited {
                retry_after_ms: Some(ms),
            })
        };
        let RetryDecision::RetryAt(at) =
            policy.decide(1, &limited(3_000), MonotonicMillis(1_000), u64::MAX)
        else {
            panic!("429 must be retried")
        };
        assert!(
            at >= MonotonicMillis(4_000) && at <= MonotonicMillis(4_500),
            "{at:?}"
        );
        let RetryDecision::RetryAt(at) =
            policy.decide(1, &limited(3_600_000), MonotonicMillis(0), 0)
        else {
            panic!("429 must be retried")
        };
        assert_eq!(at, MonotonicMillis(120_000));
    }

    #[test]
    fn unknown_outcomes_respect_at_most_once() {
        let unknown = Failure::OutcomeUnknown(UnknownKind::Timeout);
        let mut policy = RetryPolicy::default();
        assert!(matches!(
            policy.decide(1, &unknown, MonotonicMillis(0), 3),
            RetryDecision::RetryAt(_)
        ));
        let mut once = RetryPolicy::new(RetryConfig {
            at_most_once: true,
            ..RetryConfig::default()
        });
        assert_eq!(
            once.decide(1, &unknown, MonotonicMillis(0), 3),
            RetryDecision::GiveUp(GiveUpReason::OutcomeUnknownAtMostOnce)
        );
        assert!(matches!(
            once.decide_idempotent(1, &unknown, MonotonicMillis(0), 3),
            RetryDecision::RetryAt(_)
        ));
        assert!(matches!(
            once.decide(1, &server_error(), MonotonicMillis(0), 3),
            RetryDecision::RetryAt(_)
        ));
    }

    #[test]
    fn budget_allows_floor_plus_ratio() {
        let mut policy = RetryPolicy::new(RetryConfig {
            budget_floor: 2,
            budget_ratio: 0.2,
            ..RetryConfig::default()
        });
        for _ in 0..10 {
            policy.record_request();
        }
        // 2 + 0.2 * 10 = 4 retries.
        for _ in 0..4 {
            assert!(matches!(
                policy.decide(1, &server_error(), MonotonicMillis(0), 0),
                RetryDecision::RetryAt(_)
            ));
        }
        assert_eq!(
            policy.decide(1, &server_error(), MonotonicMillis(0), 0),
            RetryDecision::GiveUp(GiveUpReason::BudgetExhausted {
                retries: 4,
                first_attempts: 10
            })
        );
        let throttled = Failure::NotSent(NotSentKind::RateLimited {
            retry_after_ms: None,
        });
        assert!(
            matches!(
                policy.decide(1, &throttled, MonotonicMillis(0), 0),
                RetryDecision::RetryAt(_)
            ),
            "429 retries are not charged to the budget"
        );
        assert_eq!((policy.retries(), policy.charged_retries()), (5, 4));
    }
}

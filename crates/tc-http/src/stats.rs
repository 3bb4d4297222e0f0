//! [`Stats`]: what a client has sent and seen, for the run report and for tests.

use std::collections::BTreeMap;

/// Counts since the client was made. A snapshot: it does not change after it is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// HTTP requests sent, token requests included, whatever came back.
    pub requests: u64,
    /// Answers by HTTP status.
    pub responses_by_status: BTreeMap<u16, u64>,
    /// Requests with no answer: connect failures, timeouts, connections lost.
    pub transport_failures: u64,
    /// 429 answers seen (create, read and token requests).
    pub rate_limited: u64,
    /// 401 answers seen on bearer requests.
    pub unauthorized: u64,
    /// Attempts after the first, for any reason.
    pub retries: u64,
    /// Token creation requests sent.
    pub token_requests: u64,
    /// Token creation requests that produced a token.
    pub tokens_created: u64,
    /// Create requests answered 200.
    pub batches_created: u64,
    /// Batches created after an attempt whose outcome was unknown: the server may hold them
    /// twice.
    pub possibly_duplicated_batches: u64,
    /// The records of `possibly_duplicated_batches`.
    pub records_possibly_duplicated: u64,
    /// Create calls that failed with an unknown outcome (at-most-once, or giving up after one).
    pub outcome_unknown_batches: u64,
    /// Create calls that gave up or were refused.
    pub failed_batches: u64,
    /// Tokens taken from the other processes sharing the account, through the coordinator.
    pub shared_tokens: u64,
    /// Sends the shared window refused because other processes had filled it.
    pub shared_window_refusals: u64,
    /// Times the coordinator could not be reached and sending paused.
    pub coordinator_outages: u64,
}

//! The transport's decisions, without the transport: rate limits, token lifecycle and retries
//! as pure state machines, in the sans-IO style of `quinn-proto`.
//!
//! Nothing here sleeps, reads a clock or sends a byte. Each call is handed the current time as
//! [`MonotonicMillis`] (any monotonic millisecond clock; `tc-http` counts from its own start)
//! plus what happened, and answers with what to do: send on this token at that instant, create a
//! token first, retry at that instant, or give up. So the guarantees can be tested exactly, in
//! virtual time, over hours of simulated traffic in milliseconds of real time.
//!
//! - [`Exchange`]: one call from token to answer, driven by events; it holds every rule about
//!   failures (401 verdict, 429 holds, token-endpoint statuses, creation backoff, whether a
//!   failed create call may have stored its batch). The state its calls share is a [`Transport`].
//! - [`RateLimiter`]: an exact sliding window, never more than 60 sends in any 60 s window per
//!   token, and exactly 60 when saturated. A 429's `Retry-After` blocks the token until then.
//! - [`TokenPool`]: 1 to 10 tokens, which one to send on next, when to create or refresh one
//!   (single flight: one creation per slot however many callers wait), a [`CreationBudget`] of 10
//!   creations per sliding 30 minutes that is never exceeded, and 401 handling that drops a token
//!   only if it is still current.
//! - [`RetryPolicy`]: failure classes ([`Failure`]), exponential backoff with full jitter from a
//!   caller-supplied random number, `Retry-After` as a floor, attempt cap, run-wide retry budget,
//!   and at-most-once for requests whose outcome is unknown.
//! - [`coordination`]: the protocol with the coordinator of an account several processes
//!   share: what its answers mean for a call, and [`SharedAccount`], what it answers.

pub mod coordination;
pub mod exchange;
mod monotonic;
pub mod rate_limit;
pub mod retry;
pub mod token;

#[cfg(test)]
mod tests;

pub use coordination::{
    KeptToken, PlaceAnswer, RefusalPlan, SendRefusal, SharedAccount, TokenAnswer, TokenRules,
};
pub use exchange::is_success;
pub use exchange::{
    Action, Counts, Delivered, Endpoint, Exchange, FailReason, Failed, SendCheck, Transport,
    TransportConfig, TransportError, COORDINATOR_RETRY_MS, DEFAULT_CONNECT_TIMEOUT_MS,
    DEFAULT_CREATION_HOLD_MS, DEFAULT_MAX_TOKEN_WAIT_MS, DEFAULT_RATE_GUARD_MS,
    DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_THROTTLE_MS, SHARED_TOKEN_RECHECK_MS,
    TOKEN_WAIT_RECHECK_MS,
};
pub use monotonic::MonotonicMillis;
pub use rate_limit::{CreationBudget, RateLimiter, SlidingWindow, WindowLimit};
pub use retry::{
    Failure, GiveUpReason, NotSentKind, RetryConfig, RetryDecision, RetryPolicy, UnknownKind,
};
pub use token::{
    AuthVerdict, CallAuth, CreationRefused, Decision, PoolConfig, SlotState, TokenPool, TokenSlot,
    ValidToken, DEFAULT_REFRESH_MARGIN_MS, MAX_TOKENS, TOKEN_TTL_MS,
};

//! The transport for Truecaller's Call Personalisation Batch v2 API: access tokens, exact rate
//! limits, safe retries and the four endpoints (token, create call records, batch status,
//! labels) over reqwest with rustls.
//!
//! The decisions (which token, when to send, when to create a token, whether and when to
//! retry) are the pure state machines of [`tc_core::transport`]; this crate adds the clock, the
//! sockets, the waiting and the locking around them.
#![doc = include_str!("../../../docs/http.md")]
#![warn(missing_docs)]

mod call;
mod client;
mod clock;
mod config;
mod coordinator;
mod error;
mod http;
mod leaving;
mod memory_coordinator;
mod secret;
mod shared;
mod stats;
mod stop;
mod tokens;
mod wait;
mod wall_clock;

pub use client::{Client, Created};
pub use config::{
    ClientBuilder, ClientConfig, Guarantee, RetryConfig, StatusApi, DEFAULT_BASE_URL, ENV_API_KEY,
    ENV_CLIENT_ACCOUNT_ID, ENV_KEY_ID,
};
pub use coordinator::{
    Claim, Coordinator, CoordinatorError, CoordinatorFuture, Place, Reached, Reservation,
    SharedToken, TokenClaim, TokenTerms,
};
pub use error::{AttemptFailure, Cause, ConfigError, Error, Setting};
pub use leaving::{CreateOptions, Departure, Leaving, LeavingFuture};
pub use memory_coordinator::MemoryCoordinator;
pub use stats::Stats;
pub use stop::StopSignal;
pub use wait::{BatchWait, Settlement};
pub use wall_clock::{Clock, SystemClock, TokioClock};

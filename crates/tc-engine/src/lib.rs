//! The decisions above one call to Truecaller's Call Personalisation Batch v2 API, each taken
//! once and without I/O: what a batch's answer means for its records ([`outcome`]), when a batch
//! is cut from a queue ([`batcher`]), how a status answer pairs with a batch's records and when
//! to ask again ([`delivery`]), the states a record moves through ([`lifecycle`]), and when a
//! paged list of labels is complete ([`labels`]).
//!
//! `tc-core` decides one exchange (a token, a request, its retries); this crate decides what
//! the push (`tc-push`) and the relay (`tc-relay`) do with its result, so the two cannot
//! disagree. Like `tc-core`, it opens no file or socket, reads no clock and spawns no thread:
//! the current time is a parameter of every decision.
//!
//! ```
//! use tc_engine::{BatchOutcome, CallFailure, FailureKind, Guarantee, RecordState};
//!
//! // A create call the API refused for good: its records fail, and the run goes on.
//! let refused = CallFailure::new(FailureKind::Refused, "HTTP 400 invalid-input: bad label")
//!     .with_status(400)
//!     .with_slug("invalid-input");
//! let outcome = BatchOutcome::of_failure(&refused, Guarantee::AtLeastOnce);
//! assert_eq!(outcome.record_state(), RecordState::Failed);
//! assert!(refused.halt().is_none());
//!
//! // The credentials refused: every later batch would meet it, so sending halts and the
//! // records stay to be sent again.
//! let unauthorized = CallFailure::new(FailureKind::Unauthorized, "HTTP 401").with_status(401);
//! let outcome = BatchOutcome::of_failure(&unauthorized, Guarantee::AtLeastOnce);
//! assert_eq!(outcome.record_state(), RecordState::Queued);
//! assert!(unauthorized.halt().is_some());
//! ```
#![warn(missing_docs)]

pub mod batcher;
pub mod delivery;
mod guarantee;
pub mod labels;
pub mod lifecycle;
pub mod outcome;
mod reason;

pub use batcher::{Batcher, BatcherConfig, Cut};
pub use delivery::{Paired, Pairing, Settlement};
pub use guarantee::{Guarantee, InvalidGuarantee};
pub use lifecycle::{InvalidRecordState, RecordState, Transition};
pub use outcome::{answer, Answer, BatchOutcome, CallFailure, EarlierAttempts, FailureKind, Halt};
pub use reason::ReportCode;

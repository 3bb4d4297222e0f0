//! The pure core of the Truecaller Call Personalisation Batch v2 toolkit: request types,
//! E.164 normalisation and every validation rule of the API, with no I/O at all.
//!
//! Nothing in this crate touches files, sockets, clocks or threads. The current time is a
//! parameter ([`Millis`]), so every rule is a plain function of its input and can be tested at
//! its exact boundary. The transport (`tc-http`), the command-line tool (`tcbatch`) and the
//! simulator all depend on this crate for the same checks.
//!
//! The modules follow a record's path from an input row to an HTTP request body:
//!
//! 1. [`input`]: [`RawRecord`], one unvalidated row as read from a CSV, JSON Lines or JSON file.
//! 2. [`validate`]: [`Validator`] turns a [`RawRecord`] into a [`CallRecord`] or reports *every*
//!    problem of the record as a [`Diagnostic`] naming the wire field, a stable [`Code`] and what to
//!    do. A [`CallRecord`] can only be built by validation: holding one means it is sendable.
//! 3. [`phone`]: normalisation of written phone numbers to the [`E164`] newtype.
//! 4. [`batch`]: [`Batch`] (1 to 500 validated records) and [`BatchPlanner`], which packs a stream
//!    of records into full batches.
//! 5. [`wire`]: the JSON bodies of the API, with the exact field names of the documentation.
//!
//! ```
//! use tc_core::{RawRecord, Validator, Millis, Region};
//!
//! let now = Millis(1_753_246_000_000);
//! let validator = Validator::new(now).with_default_region(Region::parse("IN").unwrap());
//! let raw = RawRecord::from_text_fields([
//!     ("caller_number", "+91 98765 43210"),
//!     ("receiver_number", "098765 43211"),
//!     ("dynamic_label_name", "Centro Bank"),
//!     ("dynamic_call_reason", "Calling you for KYC Verification"),
//!     ("starts_at", "1753246858000"),
//!     ("ends_at", "2025-07-23T13:00:58Z"),
//! ]);
//! let record = validator.validate(&raw).expect("valid record");
//! assert_eq!(record.receiver_number().as_str(), "+919876543211");
//! ```

pub mod batch;
pub mod diagnostic;
pub mod input;
pub mod phone;
pub mod record;
pub mod rules;
pub mod timestamp;
pub mod transport;
pub mod validate;
pub mod wire;

pub use batch::{check_batch_size, Batch, BatchError, BatchPlanner, MAX_BATCH_RECORDS};
pub use diagnostic::{Diagnostic, Field};
pub use input::{RawRecord, Scalar};
pub use phone::{PhoneError, Region, E164};
pub use record::{CallRecord, NumberFormat};
pub use rules::{Code, RuleInfo, RULES};
pub use timestamp::{Millis, MAX_WINDOW_MS};
pub use validate::{CallerMemo, Validator};

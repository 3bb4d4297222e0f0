//! The pure core of the Truecaller Call Personalisation Batch v2 toolkit: request types,
//! E.164 normalisation and every validation rule of the API, with no I/O at all.
//!
//! Nothing in this crate touches files, sockets, clocks or threads. The current time is a
//! parameter ([`EpochMillis`] for the rules, [`transport::MonotonicMillis`] for the transport's
//! machines), so every rule is a plain function of its input and can be tested at its exact
//! boundary. The transport (`tc-http`), the push engine (`tc-push`), the command-line tool
//! (`tcbatch`) and the simulator all depend on this crate for the same checks.
//!
//! The modules follow a record's path from an input row to an HTTP request body:
//!
//! 1. [`input`]: [`RawRecord`], one unvalidated row as read from a CSV, JSON Lines or JSON file.
//! 2. [`validate`]: [`Validator`] turns a [`RawRecord`] into a [`CallRecord`] or reports *every*
//!    problem of the record as [`ValidationErrors`]: one [`Diagnostic`] per problem, naming the
//!    wire [`Field`], a stable [`Code`] and what to do. A [`CallRecord`] can only be built by
//!    validation: holding one means it is sendable.
//! 3. [`phone`]: normalisation of written phone numbers to the [`E164`] newtype.
//! 4. [`batch`]: [`Batch`] (1 to 500 validated records) and [`BatchPlanner`], which packs a stream
//!    of records into full batches.
//! 5. [`wire`]: the JSON bodies of the API, with the exact field names of the documentation.
//! 6. [`transport`]: the sans-IO decisions of a client: rate windows, tokens, retries.
//!
//! # Three ways in
//!
//! **Text, as read from a file.** Every field is whatever the file held; numbers may be written
//! as people write them, times as epoch milliseconds or RFC 3339.
//!
//! ```
//! use tc_core::{EpochMillis, RawRecord, Region, Validator};
//!
//! let now: EpochMillis = "2025-07-23T05:00:00Z".parse()?;
//! let validator = Validator::new(now).with_default_region("IN".parse::<Region>()?);
//! let raw = RawRecord::from_text_fields([
//!     ("caller_number", "+91 98765 43210"),
//!     ("receiver_number", "098765 43211"),
//!     ("dynamic_label_name", "Centro Bank"),
//!     ("dynamic_call_reason", "Calling you for KYC Verification"),
//!     ("starts_at", "1753246858000"),
//!     ("ends_at", "2025-07-23T13:00:58Z"),
//! ]);
//! let record = validator.validate(&raw)?;
//! assert_eq!(record.receiver_number().as_str(), "+919876543211");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Typed values, from a program's own structs**, through [`CallRecord::builder`]: the same
//! rules, without turning numbers and times back into text.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use tc_core::{CallRecord, EpochMillis, Validator};
//!
//! let call_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_911_013_200); // 2030-07-23
//! let now = EpochMillis::try_from(call_at - Duration::from_secs(3_600))?;
//! let record = CallRecord::builder(
//!     "+919876543210",
//!     "+919876543211",
//!     EpochMillis::try_from(call_at - Duration::from_secs(900))?,
//!     EpochMillis::try_from(call_at + Duration::from_secs(3_600))?,
//! )
//! .label_name("Centro Bank")
//! .build(&Validator::new(now))?;
//! assert_eq!(record.caller_number().as_str(), "+919876543210");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **A hand-built wire request**, checked with the same rules through its [`RawRecord`]:
//!
//! ```
//! use tc_core::wire::CallRecordBody;
//! use tc_core::{Code, EpochMillis, Field, RawRecord, Validator};
//!
//! let body = CallRecordBody {
//!     caller_number: "+919876543210".into(),
//!     receiver_number: "+9198765".into(),
//!     dynamic_label_name: Some("Centro Bank".into()),
//!     dynamic_call_reason: None,
//!     label_id: None,
//!     starts_at: 1_911_013_200_000,
//!     ends_at: 1_911_016_800_000,
//! };
//! let now = EpochMillis::try_from(1_911_009_600_000)?;
//! let errors = Validator::new(now).validate(&RawRecord::from(&body)).unwrap_err();
//! assert_eq!((errors[0].field, errors[0].code), (Some(Field::ReceiverNumber), Code::PhoneTooShort));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `validator` feature, the wire bodies also implement that crate's `Validate`
//! (the `validator_feature` module, built with the feature, says how).
//!
//! # Batches and the request body
//!
//! [`BatchPlanner`] packs valid records into full batches of 500 (the last may be partial);
//! [`Batch::to_request`] gives the JSON body of the create call.
//!
//! ```
//! use tc_core::{Batch, BatchPlanner, CallRecord, EpochMillis, NumberFormat, Validator};
//!
//! let now = EpochMillis::try_from(1_911_009_600_000)?;
//! let validator = Validator::new(now);
//! let mut planner = BatchPlanner::with_capacity(2);
//! let mut batches = Vec::new();
//! for receiver in ["+919876543211", "+919876543212", "+919876543213"] {
//!     let record = CallRecord::builder("+919876543210", receiver, now, now.plus(3_600_000))
//!         .label_name("Centro Bank")
//!         .build(&validator)?;
//!     batches.extend(planner.push(record));
//! }
//! batches.extend(planner.finish());
//! assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
//!
//! let batch = Batch::try_from(batches.remove(0))?;
//! let body = serde_json::to_value(batch.to_request(NumberFormat::E164))?;
//! assert_eq!(body["call_records"][1]["receiver_number"], "+919876543212");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod batch;
pub mod diagnostic;
pub mod input;
pub mod phone;
pub mod record;
pub mod rules;
pub mod timestamp;
pub mod transport;
pub mod validate;
#[cfg(feature = "validator")]
pub mod validator_feature;
pub mod wire;

pub use batch::{check_batch_size, Batch, BatchError, BatchPlanner, MAX_BATCH_RECORDS};
pub use diagnostic::{Diagnostic, EmptyValidationErrors, Field, ValidationErrors};
pub use input::{RawRecord, Scalar};
pub use phone::{PhoneError, Region, RegionError, E164};
pub use record::{CallRecord, CallRecordBuilder, NumberFormat, UnknownNumberFormat};
pub use rules::{Code, RuleInfo, RULES};
pub use timestamp::{EpochMillis, TimestampError, MAX_WINDOW_MS};
pub use validate::{CallerMemo, Validator};
pub use wire::{
    BatchId, BatchIdError, BatchStatusResponse, CallRecordBody, CreateCallRecordsRequest,
    DeliveryStatus, Label, RecordStatus, StatusInfo,
};

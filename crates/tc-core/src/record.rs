//! [`CallRecord`]: a record that passed every rule. Only [`crate::Validator`] builds one, from
//! text ([`RawRecord`]) or from typed values ([`CallRecordBuilder`]).

use crate::diagnostic::{Diagnostic, Field, ValidationErrors};
use crate::input::{RawRecord, Scalar};
use crate::phone::E164;
use crate::rules::Code;
use crate::timestamp::EpochMillis;
use crate::validate::Validator;
use crate::wire::CallRecordBody;

/// A validated call record: numbers in E.164, text trimmed, window checked against the time it
/// was validated at. Re-check [`CallRecord::check_still_open`] when the record is finally sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub(crate) caller_number: E164,
    pub(crate) receiver_number: E164,
    pub(crate) dynamic_label_name: Option<String>,
    pub(crate) dynamic_call_reason: Option<String>,
    pub(crate) label_id: Option<String>,
    pub(crate) starts_at: EpochMillis,
    pub(crate) ends_at: EpochMillis,
}

/// How phone numbers are written on the wire.
///
/// Serialises as `"e164"` or `"digits"`, the names [`FromStr`](std::str::FromStr) reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum NumberFormat {
    /// `+919876543210`, as the newest documentation asks.
    #[default]
    E164,
    /// `919876543210`, as older pages ask, for accounts whose server wants that form.
    Digits,
}

impl NumberFormat {
    /// `"e164"` or `"digits"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            NumberFormat::E164 => "e164",
            NumberFormat::Digits => "digits",
        }
    }
}

impl std::fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NumberFormat {
    type Err = UnknownNumberFormat;

    fn from_str(text: &str) -> Result<NumberFormat, UnknownNumberFormat> {
        match text.trim().to_ascii_lowercase().as_str() {
            "e164" => Ok(NumberFormat::E164),
            "digits" => Ok(NumberFormat::Digits),
            _ => Err(UnknownNumberFormat),
        }
    }
}

/// A number format name other than `e164` and `digits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownNumberFormat;

impl std::fmt::Display for UnknownNumberFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unknown number format; give e164 (+919876543210) or digits (919876543210)")
    }
}

impl std::error::Error for UnknownNumberFormat {}

impl CallRecord {
    /// Starts a record from typed values, for a program that holds numbers and times rather
    /// than text; [`CallRecordBuilder::build`] checks it with exactly the rules a text record
    /// meets. Numbers may be written as a person would (`"+91 98765 43210"`, or national with
    /// the validator's default region) or be an [`E164`] already.
    ///
    /// ```
    /// use tc_core::{CallRecord, EpochMillis, Region, Validator};
    ///
    /// let now = EpochMillis::try_from(1_911_178_800_000)?; // 2030-07-25T03:00:00Z
    /// let validator = Validator::new(now).with_default_region("IN".parse::<Region>()?);
    /// let record = CallRecord::builder("98765 43211", "+91 98765 43210", now, now.plus(3_600_000))
    ///     .label_name("Centro Bank")
    ///     .call_reason("Your card delivery is today")
    ///     .build(&validator)?;
    /// assert_eq!(record.caller_number().as_str(), "+919876543211");
    ///
    /// // The same rules as text input: a window longer than 24 hours is refused.
    /// let err = CallRecord::builder("+919876543211", "+919876543210", now, now.plus(90_000_000))
    ///     .label_name("Centro Bank")
    ///     .build(&validator)
    ///     .unwrap_err();
    /// assert_eq!(err[0].code, tc_core::Code::WindowTooLong);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(
        caller_number: impl AsRef<str>,
        receiver_number: impl AsRef<str>,
        starts_at: EpochMillis,
        ends_at: EpochMillis,
    ) -> CallRecordBuilder {
        let mut raw = RawRecord::default();
        raw.set_text(Field::CallerNumber, caller_number.as_ref());
        raw.set_text(Field::ReceiverNumber, receiver_number.as_ref());
        raw.set(Field::StartsAt, Some(Scalar::Int(starts_at.as_i64())));
        raw.set(Field::EndsAt, Some(Scalar::Int(ends_at.as_i64())));
        CallRecordBuilder { raw }
    }

    /// The business's number, E.164.
    pub fn caller_number(&self) -> &E164 {
        &self.caller_number
    }
    /// The customer's number, E.164.
    pub fn receiver_number(&self) -> &E164 {
        &self.receiver_number
    }
    /// The name to show, trimmed.
    pub fn dynamic_label_name(&self) -> Option<&str> {
        self.dynamic_label_name.as_deref()
    }
    /// The reason to show, trimmed.
    pub fn dynamic_call_reason(&self) -> Option<&str> {
        self.dynamic_call_reason.as_deref()
    }
    /// The label id in canonical hyphenated lower-case UUID form.
    pub fn label_id(&self) -> Option<&str> {
        self.label_id.as_deref()
    }
    /// When the caller ID starts showing.
    pub fn starts_at(&self) -> EpochMillis {
        self.starts_at
    }
    /// When it stops; at most 24 hours after [`starts_at`](Self::starts_at).
    pub fn ends_at(&self) -> EpochMillis {
        self.ends_at
    }

    /// A record valid when read can expire while it waits to be sent. The sender calls this with
    /// the time of sending (or the earliest moment the rate limit lets it send); an expired
    /// record must go to the report, not to the API.
    ///
    /// # Errors
    ///
    /// A [`Code::WindowExpired`] diagnostic on `ends_at` when the window ends before `sent_at`.
    pub fn check_still_open(&self, sent_at: EpochMillis) -> Result<(), Diagnostic> {
        if self.ends_at < sent_at {
            Err(Diagnostic::new(
                Field::EndsAt,
                Code::WindowExpired,
                format!(
                    "ends_at {} passed before the record could be sent (at {} at the earliest); \
                     move the window later, or send fewer records in it",
                    self.ends_at.to_rfc3339(),
                    sent_at.to_rfc3339()
                ),
            ))
        } else {
            Ok(())
        }
    }

    /// The record as the API's JSON body carries it.
    pub fn to_wire(&self, format: NumberFormat) -> CallRecordBody {
        let number = |n: &E164| match format {
            NumberFormat::E164 => n.as_str().to_owned(),
            NumberFormat::Digits => n.digits().to_owned(),
        };
        CallRecordBody {
            caller_number: number(&self.caller_number),
            receiver_number: number(&self.receiver_number),
            dynamic_label_name: self.dynamic_label_name.clone(),
            dynamic_call_reason: self.dynamic_call_reason.clone(),
            label_id: self.label_id.clone(),
            starts_at: self.starts_at.0,
            ends_at: self.ends_at.0,
        }
    }
}

/// A call record under construction from typed values; see [`CallRecord::builder`].
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct CallRecordBuilder {
    // The typed values are kept as the text route keeps them, so that one set of rules, in
    // one place, judges both.
    raw: RawRecord,
}

impl CallRecordBuilder {
    /// The name the customer's phone shows (3 to 40 characters); required unless a label id
    /// is given.
    pub fn label_name(mut self, name: impl AsRef<str>) -> Self {
        self.raw.set_text(Field::DynamicLabelName, name.as_ref());
        self
    }

    /// Why the business calls (10 to 100 characters).
    pub fn call_reason(mut self, reason: impl AsRef<str>) -> Self {
        self.raw.set_text(Field::DynamicCallReason, reason.as_ref());
        self
    }

    /// The id of a dynamic label from the business console, a UUID.
    pub fn label_id(mut self, id: impl AsRef<str>) -> Self {
        self.raw.set_text(Field::LabelId, id.as_ref());
        self
    }

    /// The record as text, for a program that wants to keep or show it before validating.
    pub fn to_raw(&self) -> RawRecord {
        self.raw.clone()
    }

    /// Checks every rule, exactly as [`Validator::validate`] checks a record read from text.
    ///
    /// # Errors
    ///
    /// Every problem the record has, in field order, as [`ValidationErrors`].
    pub fn build(&self, validator: &Validator) -> Result<CallRecord, ValidationErrors> {
        validator.validate(&self.raw)
    }
}

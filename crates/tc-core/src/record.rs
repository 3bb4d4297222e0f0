//! [`CallRecord`]: a record that passed every rule. Only [`crate::Validator`] builds one.

use crate::diagnostic::{Diagnostic, Field};
use crate::phone::E164;
use crate::rules::Code;
use crate::timestamp::Millis;
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
    pub(crate) starts_at: Millis,
    pub(crate) ends_at: Millis,
}

/// How phone numbers are written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// `+919876543210`, as the newest documentation asks.
    #[default]
    E164,
    /// `919876543210`, as older pages ask, for accounts whose server wants that form.
    Digits,
}

impl CallRecord {
    pub fn caller_number(&self) -> &E164 {
        &self.caller_number
    }
    pub fn receiver_number(&self) -> &E164 {
        &self.receiver_number
    }
    pub fn dynamic_label_name(&self) -> Option<&str> {
        self.dynamic_label_name.as_deref()
    }
    pub fn dynamic_call_reason(&self) -> Option<&str> {
        self.dynamic_call_reason.as_deref()
    }
    /// The label id in canonical hyphenated lower-case UUID form.
    pub fn label_id(&self) -> Option<&str> {
        self.label_id.as_deref()
    }
    pub fn starts_at(&self) -> Millis {
        self.starts_at
    }
    pub fn ends_at(&self) -> Millis {
        self.ends_at
    }

    /// A record valid when read can expire while it waits to be sent. The sender calls this with
    /// the time of sending (or the earliest moment the rate limit lets it send); an expired
    /// record must go to the report, not to the API.
    pub fn check_still_open(&self, sent_at: Millis) -> Result<(), Diagnostic> {
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

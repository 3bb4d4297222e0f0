//! What validation says about a record: which wire field, which rule, and what to do.

use crate::rules::Code;
use std::fmt;

/// A field of a call record, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    CallerNumber,
    ReceiverNumber,
    DynamicLabelName,
    DynamicCallReason,
    LabelId,
    StartsAt,
    EndsAt,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::CallerNumber,
        Field::ReceiverNumber,
        Field::DynamicLabelName,
        Field::DynamicCallReason,
        Field::LabelId,
        Field::StartsAt,
        Field::EndsAt,
    ];

    /// The field's name in the API's JSON body (and in a CSV header).
    pub const fn wire_name(self) -> &'static str {
        match self {
            Field::CallerNumber => "caller_number",
            Field::ReceiverNumber => "receiver_number",
            Field::DynamicLabelName => "dynamic_label_name",
            Field::DynamicCallReason => "dynamic_call_reason",
            Field::LabelId => "label_id",
            Field::StartsAt => "starts_at",
            Field::EndsAt => "ends_at",
        }
    }

    pub fn from_wire_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.wire_name() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl serde::Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.wire_name())
    }
}

/// Reads a field back from its wire name, so journals and reports can hold it typed.
impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Field::from_wire_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown field `{name}`")))
    }
}

/// One problem with one record. A record gets a diagnostic for every problem it has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The wire field at fault; `None` when the record could not be read at all.
    pub field: Option<Field>,
    pub code: Code,
    /// A sentence for a person: what is wrong and what to do about it.
    pub message: String,
}

impl Diagnostic {
    pub fn new(field: impl Into<Option<Field>>, code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.field {
            Some(field) => write!(f, "{field}: {} [{}]", self.message, self.code),
            None => write!(f, "{} [{}]", self.message, self.code),
        }
    }
}

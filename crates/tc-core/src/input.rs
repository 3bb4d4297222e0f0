//! Unvalidated records, as read from a user's file, before any rule has run.
//!
//! Every field is kept as whatever scalar the input held, so a wrong type (a boolean where a
//! number belongs) becomes a diagnostic on that field instead of an unreadable record.

use crate::diagnostic::Field;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One field's value as found in the input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Scalar {
    /// Text, as a CSV cell or a JSON string holds it.
    Text(String),
    /// A whole number that fits `i64`.
    Int(i64),
    /// An integer too large for `i64`.
    BigInt(u64),
    /// A number with a fraction or an exponent.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// An array or an object where a scalar was expected.
    Compound(&'static str),
}

impl Scalar {
    /// A short description for messages: "text", "a boolean", ...
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Text(_) => "text",
            Scalar::Int(_) | Scalar::BigInt(_) => "an integer",
            Scalar::Float(_) => "a decimal number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Compound(kind) => kind,
        }
    }
}

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or a boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v).map_or(Scalar::BigInt(v), Scalar::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound("an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound("an object"))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// One call record as read from the input, before validation. Unknown fields are ignored
/// (exports carry extra columns); `null` and empty text count as absent.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct RawRecord {
    /// See [`Field::CallerNumber`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub caller_number: Option<Scalar>,
    /// See [`Field::ReceiverNumber`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub receiver_number: Option<Scalar>,
    /// See [`Field::DynamicLabelName`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub dynamic_label_name: Option<Scalar>,
    /// See [`Field::DynamicCallReason`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub dynamic_call_reason: Option<Scalar>,
    /// See [`Field::LabelId`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub label_id: Option<Scalar>,
    /// See [`Field::StartsAt`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub starts_at: Option<Scalar>,
    /// See [`Field::EndsAt`].
    #[serde(deserialize_with = "blank_is_absent")]
    pub ends_at: Option<Scalar>,
}

/// `""` in JSON means the same as an empty CSV cell: the field is absent.
fn blank_is_absent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Scalar>, D::Error> {
    let value: Option<Scalar> = de::Deserialize::deserialize(d)?;
    Ok(value.filter(|v| !matches!(v, Scalar::Text(t) if trim(t).is_empty())))
}

impl RawRecord {
    /// Builds a record from `(wire field name, text)` pairs, as from a CSV row.
    /// Names that are not wire fields are ignored.
    pub fn from_text_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut record = RawRecord::default();
        for (name, text) in fields {
            if let Some(field) = Field::from_wire_name(name) {
                record.set_text(field, text);
            }
        }
        record
    }

    /// Sets a field from text. Text that is empty after trimming leaves the field absent.
    /// A field that holds text already keeps its string's room: a record refilled row after
    /// row allocates nothing once its strings are long enough.
    pub fn set_text(&mut self, field: Field, text: &str) {
        let slot = self.slot(field);
        match slot {
            _ if trim(text).is_empty() => *slot = None,
            Some(Scalar::Text(held)) => {
                held.clear();
                held.push_str(text);
            }
            _ => *slot = Some(Scalar::Text(text.to_owned())),
        }
    }

    /// Sets a field to any value, or leaves it absent with `None`.
    pub fn set(&mut self, field: Field, value: Option<Scalar>) {
        *self.slot(field) = value;
    }

    /// The field's value, if present.
    pub fn get(&self, field: Field) -> Option<&Scalar> {
        match field {
            Field::CallerNumber => self.caller_number.as_ref(),
            Field::ReceiverNumber => self.receiver_number.as_ref(),
            Field::DynamicLabelName => self.dynamic_label_name.as_ref(),
            Field::DynamicCallReason => self.dynamic_call_reason.as_ref(),
            Field::LabelId => self.label_id.as_ref(),
            Field::StartsAt => self.starts_at.as_ref(),
            Field::EndsAt => self.ends_at.as_ref(),
        }
    }

    fn slot(&mut self, field: Field) -> &mut Option<Scalar> {
        match field {
            Field::CallerNumber => &mut self.caller_number,
            Field::ReceiverNumber => &mut self.receiver_number,
            Field::DynamicLabelName => &mut self.dynamic_label_name,
            Field::DynamicCallReason => &mut self.dynamic_call_reason,
            Field::LabelId => &mut self.label_id,
            Field::StartsAt => &mut self.starts_at,
            Field::EndsAt => &mut self.ends_at,
        }
    }
}

/// [`str::trim`], answering at once for text that starts and ends with a visible ASCII
/// character, as nearly every field does: the general trim decodes characters from both ends,
/// and a record's fields are trimmed a dozen times on their way through the rules.
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_is_the_standard_trim() {
        for text in [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "abc",
            "\u{a0}x\u{a0}",
            "\u{3000}मुंबई\u{3000}",
            "x\u{2003}",
            "\u{85}y",
            "é",
            " é",
            "!~",
            "a b",
        ] {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn json_keeps_wrong_types_for_the_rules_to_report() {
        let raw: RawRecord = serde_json::from_str(
            r#"{"caller_number": true, "receiver_number": 919876543210, "starts_at": [1],
                "ends_at": "2025-07-24T13:00:58Z", "label_id": null, "customer": "x"}"#,
        )
        .unwrap();
        assert_eq!(raw.caller_number, Some(Scalar::Bool(true)));
        assert_eq!(raw.receiver_number, Some(Scalar::Int(919_876_543_210)));
        assert_eq!(raw.starts_at, Some(Scalar::Compound("an array")));
        assert_eq!(raw.label_id, None);
        let blank: RawRecord =
            serde_json::from_str(r#"{"caller_number": " ", "ends_at": ""}"#).unwrap();
        assert_eq!(blank, RawRecord::default());
    }

    #[test]
    fn blank_text_is_absent() {
        let raw = RawRecord::from_text_fields([("caller_number", "  "), ("ends_at", "1")]);
        assert_eq!(raw.caller_number, None);
        assert_eq!(raw.ends_at, Some(Scalar::Text("1".into())));
    }
}

//! What validation says about a record: which wire field, which rule, and what to do.

use crate::rules::{is_control_character, Code};
use std::borrow::Cow;
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

/// `text` with every control character (see [`is_control_character`]) written as an escape
/// (`\u{1b}`), so that user text echoed in a message can neither drive a terminal (ESC, BEL,
/// backspace) nor reorder what is printed around it (U+202E).
pub fn escape_control_characters(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control_character) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control_character(c) {
            escaped.extend(c.escape_unicode());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// The part of a user's value a message quotes: its first 40 characters, with control
/// characters escaped. One bad cell cannot flood a report or a terminal.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 40;
    let cut = match text.char_indices().nth(MAX) {
        Some((end, _)) => &text[..end],
        None => text,
    };
    let shown = escape_control_characters(cut);
    if cut.len() < text.len() {
        format!("{shown}…")
    } else {
        shown.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            escape_control_characters("a\u{1b}[31mb\u{7}\u{8}\u{202E}सेंट्रो"),
            "a\\u{1b}[31mb\\u{7}\\u{8}\\u{202e}सेंट्रो"
        );
        assert!(matches!(
            escape_control_characters("plain"),
            Cow::Borrowed("plain")
        ));
        assert_eq!(excerpt(&"x".repeat(50)), format!("{}…", "x".repeat(40)));
        assert_eq!(excerpt("\u{200B}ab"), "\\u{200b}ab");
    }
}

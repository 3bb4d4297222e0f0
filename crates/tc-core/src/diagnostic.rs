//! What validation says about a record: which wire field, which rule, and what to do.

use crate::rules::{is_control_character, Code};
use std::borrow::Cow;
use std::fmt;

/// A field of a call record, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
    /// `caller_number`: the business's number the call comes from.
    CallerNumber,
    /// `receiver_number`: the customer's number.
    ReceiverNumber,
    /// `dynamic_label_name`: the name the customer's phone shows.
    DynamicLabelName,
    /// `dynamic_call_reason`: why the business calls.
    DynamicCallReason,
    /// `label_id`: a dynamic label of the business console.
    LabelId,
    /// `starts_at`: when the phone starts showing the caller ID.
    StartsAt,
    /// `ends_at`: when it stops.
    EndsAt,
}

impl Field {
    /// Every field, in the order of the API's documentation (and of diagnostics).
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

    /// The field with this wire name, if any.
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
///
/// Serialises as `{"field": "receiver_number", "code": "phone_too_short", "message": "..."}`,
/// the shape of `tcbatch validate --output json`, and reads back from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Diagnostic {
    /// The wire field at fault; `None` when the record could not be read at all.
    pub field: Option<Field>,
    /// The rule that was broken: stable, for programs to match on.
    pub code: Code,
    /// A sentence for a person: what is wrong and what to do about it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic on `field` (or on the whole record, with `None`).
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

impl std::error::Error for Diagnostic {}

/// Every problem a record has, in field order; never empty. What
/// [`Validator::validate`](crate::Validator::validate) returns for a record it refuses.
///
/// It dereferences to `[Diagnostic]`, iterates, implements [`Error`](std::error::Error) (so `?`
/// carries it into an application's own error type), and serialises as a JSON array of
/// diagnostics.
///
/// ```
/// use tc_core::{Code, EpochMillis, Field, RawRecord, ValidationErrors, Validator};
///
/// let validator = Validator::new(EpochMillis::try_from(1_911_178_800_000)?);
/// let raw = RawRecord::from_text_fields([("caller_number", "+91 98765 43210")]);
/// let errors: ValidationErrors = validator.validate(&raw).unwrap_err();
/// assert_eq!(errors[0].field, Some(Field::ReceiverNumber));
/// assert!(errors.iter().any(|d| d.code == Code::MissingField));
///
/// let json = serde_json::to_string(&errors)?;
/// assert_eq!(serde_json::from_str::<ValidationErrors>(&json)?, errors);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<Diagnostic>", into = "Vec<Diagnostic>")]
pub struct ValidationErrors(Vec<Diagnostic>);

impl ValidationErrors {
    /// The diagnostics, in field order.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }

    /// The diagnostics in field order (a record without a field first); `None` for an empty list,
    /// which is no error.
    pub fn from_diagnostics(mut diagnostics: Vec<Diagnostic>) -> Option<ValidationErrors> {
        if diagnostics.is_empty() {
            return None;
        }
        diagnostics.sort_by_key(|d| d.field);
        Some(ValidationErrors(diagnostics))
    }
}

impl std::ops::Deref for ValidationErrors {
    type Target = [Diagnostic];

    fn deref(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl From<Diagnostic> for ValidationErrors {
    fn from(diagnostic: Diagnostic) -> ValidationErrors {
        ValidationErrors(vec![diagnostic])
    }
}

impl From<ValidationErrors> for Vec<Diagnostic> {
    fn from(errors: ValidationErrors) -> Vec<Diagnostic> {
        errors.0
    }
}

/// An empty list is refused: it would be an error that says nothing is wrong.
impl TryFrom<Vec<Diagnostic>> for ValidationErrors {
    type Error = EmptyValidationErrors;

    fn try_from(diagnostics: Vec<Diagnostic>) -> Result<ValidationErrors, EmptyValidationErrors> {
        ValidationErrors::from_diagnostics(diagnostics).ok_or(EmptyValidationErrors)
    }
}

/// A list of validation errors that holds none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptyValidationErrors;

impl fmt::Display for EmptyValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of validation errors must hold at least one diagnostic")
    }
}

impl std::error::Error for EmptyValidationErrors {}

impl IntoIterator for ValidationErrors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One line per problem: `receiver_number: required: add the customer's number [missing_field]`.
impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        write!(
            f,
            "the record has {count} problem{}",
            if count == 1 { "" } else { "s" }
        )?;
        for diagnostic in &self.0 {
            write!(f, "\n  {diagnostic}")?;
        }
        Ok(())
    }
}

/// The problems are all in the message, so there is no further source.
impl std::error::Error for ValidationErrors {}

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

/// A URL as it may be shown (a config, a start-up line, a log): the password of its user
/// (from the user's `:` up to the authority's LAST `@`, so a password holding `@` is hidden
/// whole) and any `password=` parameter replaced by `[redacted]`.
///
/// ```
/// use tc_core::diagnostic::without_password;
/// assert_eq!(
///     without_password("redis://:p@ssW0rd@127.0.0.1:6392/4?password=x&db=2"),
///     "redis://:[redacted]@127.0.0.1:6392/4?password=[redacted]&db=2"
/// );
/// ```
pub fn without_password(url: &str) -> String {
    let mut shown = url.to_owned();
    if let Some(start) = shown.find("://").map(|at| at + 3) {
        // The authority ends at the first `/` or `?` after its last `@`, if it has one.
        let query = shown[start..]
            .find('?')
            .map_or(shown.len(), |at| start + at);
        if let Some(at) = shown[start..query].rfind('@').map(|at| start + at) {
            if let Some(colon) = shown[start..at].find(':').map(|c| start + c) {
                shown.replace_range(colon + 1..at, "[redacted]");
            }
        }
    }
    let mut from = 0;
    while let Some(found) = shown[from..].find("password=").map(|at| from + at + 9) {
        let end = shown[found..]
            .find(['&', ' '])
            .map_or(shown.len(), |at| found + at);
        shown.replace_range(found..end, "[redacted]");
        from = found + "[redacted]".len();
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_any_password() {
        for (url, shown) in [
            (
                "redis://:p@ssW0rdX@127.0.0.1:6392/4",
                "redis://:[redacted]@127.0.0.1:6392/4",
            ),
            (
                "postgres://relay:a/b@c@db:5432/q?sslmode=require",
                "postgres://relay:[redacted]@db:5432/q?sslmode=require",
            ),
            (
                "redis://127.0.0.1:6379/0?password=hunter2",
                "redis://127.0.0.1:6379/0?password=[redacted]",
            ),
            ("redis://user@host/0", "redis://user@host/0"),
            ("redis://host/0", "redis://host/0"),
        ] {
            assert_eq!(without_password(url), shown);
        }
    }

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

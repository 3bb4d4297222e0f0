//! The rules, applied: [`Validator`] turns a [`RawRecord`] into a [`CallRecord`], or reports
//! every problem the record has.

use crate::diagnostic::{Diagnostic, Field};
use crate::input::{RawRecord, Scalar};
use crate::phone::{Region, E164};
use crate::record::CallRecord;
use crate::rules::{
    Code, CALL_REASON_CHARS, CALL_REASON_FORBIDDEN, CALL_REASON_NOT_AT_EDGES, LABEL_NAME_CHARS,
};
use crate::timestamp::{self, shorten, Millis, MAX_WINDOW_MS};
use validator::ValidateLength;

/// Validates records against the API's rules as of a given time.
#[derive(Debug, Clone, Copy)]
pub struct Validator {
    now: Millis,
    default_region: Option<Region>,
}

impl Validator {
    /// `now` is the time the window rules are checked against; it is never read from a clock here.
    pub fn new(now: Millis) -> Self {
        Validator {
            now,
            default_region: None,
        }
    }

    /// Reads numbers written without `+` or `00` as national numbers of `region`.
    pub fn with_default_region(mut self, region: Region) -> Self {
        self.default_region = Some(region);
        self
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn default_region(&self) -> Option<Region> {
        self.default_region
    }

    /// Checks every rule. On failure the diagnostics are in field order, all of them.
    pub fn validate(&self, raw: &RawRecord) -> Result<CallRecord, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        let caller_number = self.phone(raw, Field::CallerNumber, &mut problems);
        let receiver_number = self.phone(raw, Field::ReceiverNumber, &mut problems);
        let label_id = label_id(raw, &mut problems);
        let dynamic_label_name = label_name(raw, label_id.is_some(), &mut problems);
        let dynamic_call_reason = call_reason(raw, &mut problems);
        let starts_at = timestamp(raw, Field::StartsAt, &mut problems);
        let ends_at = timestamp(raw, Field::EndsAt, &mut problems);
        if let Some(ends_at) = ends_at {
            self.window(starts_at, ends_at, &mut problems);
        }
        match (caller_number, receiver_number, starts_at, ends_at) {
            (Some(caller_number), Some(receiver_number), Some(starts_at), Some(ends_at))
                if problems.is_empty() =>
            {
                Ok(CallRecord {
                    caller_number,
                    receiver_number,
                    dynamic_label_name: dynamic_label_name.flatten(),
                    dynamic_call_reason: dynamic_call_reason.flatten(),
                    label_id,
                    starts_at,
                    ends_at,
                })
            }
            _ => {
                problems.sort_by_key(|d| d.field);
                Err(problems)
            }
        }
    }

    fn phone(&self, raw: &RawRecord, field: Field, problems: &mut Vec<Diagnostic>) -> Option<E164> {
        let text = match raw.get(field) {
            None => {
                problems.push(missing(field));
                return None;
            }
            Some(Scalar::Text(text)) => std::borrow::Cow::Borrowed(text.as_str()),
            // A JSON export may carry the number as an integer: its digits are the number.
            Some(Scalar::Int(n)) if *n > 0 => std::borrow::Cow::Owned(n.to_string()),
            Some(Scalar::BigInt(n)) => std::borrow::Cow::Owned(n.to_string()),
            Some(other) => {
                problems.push(wrong_type(field, "a phone number as text", other));
                return None;
            }
        };
        match E164::normalize(&text, self.default_region) {
            Ok(number) => Some(number),
            Err(err) => {
                let message = format!("`{}`: {err}", shorten(text.trim()));
                problems.push(Diagnostic::new(field, err.code(), message));
                None
            }
        }
    }

    fn window(&self, starts_at: Option<Millis>, ends_at: Millis, problems: &mut Vec<Diagnostic>) {
        let field = Field::EndsAt;
        if ends_at < self.now {
            problems.push(Diagnostic::new(
                field,
                Code::WindowExpired,
                format!(
                    "ends_at {} is before now ({}); the caller ID would never show, so move the \
                     window later",
                    ends_at.to_rfc3339(),
                    self.now.to_rfc3339()
                ),
            ));
        }
        let Some(starts_at) = starts_at else { return };
        let length = ends_at.0.saturating_sub(starts_at.0);
        if length <= 0 {
            problems.push(Diagnostic::new(
                field,
                Code::WindowInverted,
                format!(
                    "ends_at {} is not after starts_at {}; swap or fix them",
                    ends_at.to_rfc3339(),
                    starts_at.to_rfc3339()
                ),
            ));
        } else if length > MAX_WINDOW_MS {
            problems.push(Diagnostic::new(
                field,
                Code::WindowTooLong,
                format!(
                    "the window is {} long, more than the 24 hours allowed; end it by {}",
                    human_duration(length),
                    starts_at.plus(MAX_WINDOW_MS).to_rfc3339()
                ),
            ));
        }
    }
}

/// The text of an optional text field, trimmed; `Some(None)` when absent or blank.
fn text_field(
    raw: &RawRecord,
    field: Field,
    problems: &mut Vec<Diagnostic>,
) -> Option<Option<String>> {
    match raw.get(field) {
        None => Some(None),
        Some(Scalar::Text(text)) => {
            let text = text.trim();
            Some((!text.is_empty()).then(|| text.to_owned()))
        }
        Some(other) => {
            problems.push(wrong_type(field, "text", other));
            None
        }
    }
}

fn label_id(raw: &RawRecord, problems: &mut Vec<Diagnostic>) -> Option<String> {
    // Present but of the wrong type still counts as present for the label-name rule.
    let Some(text) = text_field(raw, Field::LabelId, problems) else {
        return Some(String::new());
    };
    let text = text?;
    match uuid::Uuid::try_parse(&text) {
        Ok(id) => Some(id.hyphenated().to_string()),
        Err(_) => {
            problems.push(Diagnostic::new(
                Field::LabelId,
                Code::LabelIdNotUuid,
                format!(
                    "`{}` is not a UUID; copy the id of a dynamic label from the business console, \
                     like c6d86658-008d-4c08-98fb-2bf2649d59a5",
                    shorten(&text)
                ),
            ));
            // Present but wrong still counts as present for the label-name rule.
            Some(String::new())
        }
    }
}

fn label_name(
    raw: &RawRecord,
    has_label_id: bool,
    problems: &mut Vec<Diagnostic>,
) -> Option<Option<String>> {
    let field = Field::DynamicLabelName;
    let name = text_field(raw, field, problems)?;
    let Some(name) = name else {
        if !has_label_id && raw.get(field).is_none_or(|v| matches!(v, Scalar::Text(_))) {
            problems.push(Diagnostic::new(
                field,
                Code::LabelNameRequired,
                "required unless label_id is given; add the name to show (3 to 40 characters)",
            ));
        }
        return Some(None);
    };
    let (min, max) = LABEL_NAME_CHARS;
    let chars = name.length().unwrap_or(0);
    if !name.validate_length(Some(min), Some(max), None) {
        let (code, advice) = if chars < min {
            (Code::LabelNameTooShort, "lengthen it")
        } else {
            (Code::LabelNameTooLong, "shorten it")
        };
        problems.push(Diagnostic::new(
            field,
            code,
            format!(
                "`{}` has {chars} characters, {min} to {max} are allowed; {advice}",
                shorten(&name)
            ),
        ));
    }
    Some(Some(name))
}

fn call_reason(raw: &RawRecord, problems: &mut Vec<Diagnostic>) -> Option<Option<String>> {
    let field = Field::DynamicCallReason;
    let Some(reason) = text_field(raw, field, problems)? else {
        return Some(None);
    };
    let (min, max) = CALL_REASON_CHARS;
    let chars = reason.length().unwrap_or(0);
    if !reason.validate_length(Some(min), Some(max), None) {
        let (code, advice) = if chars < min {
            (Code::CallReasonTooShort, "say a little more")
        } else {
            (Code::CallReasonTooLong, "shorten it")
        };
        problems.push(Diagnostic::new(
            field,
            code,
            format!(
                "`{}` has {chars} characters, {min} to {max} are allowed; {advice}",
                shorten(&reason)
            ),
        ));
    }
    let mut forbidden: Vec<char> = reason
        .chars()
        .filter(|c| CALL_REASON_FORBIDDEN.contains(c))
        .collect();
    if !forbidden.is_empty() {
        forbidden.sort_unstable();
        forbidden.dedup();
        let list: Vec<String> = forbidden.iter().map(|c| format!("`{c}`")).collect();
        problems.push(Diagnostic::new(
            field,
            Code::CallReasonForbiddenCharacter,
            format!(
                "contains {}, which call reasons may not use (! @ # $ % ^ & * ( ) _ + /); remove or reword",
                list.join(" ")
            ),
        ));
    }
    let first = reason.chars().next();
    let last = reason.chars().next_back();
    if let Some(c) = [first, last]
        .into_iter()
        .flatten()
        .find(|c| CALL_REASON_NOT_AT_EDGES.contains(c))
    {
        problems.push(Diagnostic::new(
            field,
            Code::CallReasonEdgePunctuation,
            format!("starts or ends with `{c}`; `.` `,` `-` may only appear inside the text"),
        ));
    }
    Some(Some(reason))
}

fn timestamp(raw: &RawRecord, field: Field, problems: &mut Vec<Diagnostic>) -> Option<Millis> {
    let Some(value) = raw.get(field) else {
        problems.push(missing(field));
        return None;
    };
    match timestamp::from_scalar(value) {
        Ok(ms) => Some(ms),
        Err((code, message)) => {
            problems.push(Diagnostic::new(field, code, message));
            None
        }
    }
}

fn missing(field: Field) -> Diagnostic {
    let what = match field {
        Field::CallerNumber => "the number the call comes from",
        Field::ReceiverNumber => "the customer's number",
        Field::StartsAt => "when the caller ID starts showing, in epoch milliseconds",
        _ => "when the caller ID stops showing, in epoch milliseconds",
    };
    Diagnostic::new(field, Code::MissingField, format!("required: add {what}"))
}

fn wrong_type(field: Field, expected: &str, found: &Scalar) -> Diagnostic {
    // The field is named by the diagnostic itself; messages never repeat it.
    Diagnostic::new(
        field,
        Code::WrongType,
        format!("must be {expected}, found {}", found.kind()),
    )
}

fn human_duration(ms: i64) -> String {
    let minutes = ms / 60_000;
    let (h, m, rest) = (minutes / 60, minutes % 60, ms % 60_000);
    match (m, rest) {
        (0, 0) => format!("{h} h"),
        (_, 0) => format!("{h} h {m} min"),
        _ => format!("{h} h {m} min {} ms", rest),
    }
}

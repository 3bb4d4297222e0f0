//! The rules, applied: [`Validator`] turns a [`RawRecord`] into a [`CallRecord`], or reports
//! every problem the record has.

use crate::diagnostic::{excerpt, Diagnostic, Field, ValidationErrors};
use crate::input::{RawRecord, Scalar};
use crate::phone::{Region, E164};
use crate::record::CallRecord;
use crate::rules::{
    is_control_character, is_invisible, Code, CALL_REASON_CHARS, CALL_REASON_FORBIDDEN,
    CALL_REASON_NOT_AT_EDGES, LABEL_NAME_CHARS,
};
use crate::timestamp::{self, EpochMillis, MAX_WINDOW_MS};
use crate::PhoneError;
use std::collections::HashMap;

/// Validates records against the API's rules as of a given time.
#[derive(Debug, Clone, Copy)]
pub struct Validator {
    now: EpochMillis,
    default_region: Option<Region>,
}

impl Validator {
    /// `now` is the time the window rules are checked against; it is never read from a clock here.
    pub fn new(now: EpochMillis) -> Self {
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

    /// The time windows are checked against.
    pub fn now(&self) -> EpochMillis {
        self.now
    }

    /// How national numbers are read, if set.
    pub fn default_region(&self) -> Option<Region> {
        self.default_region
    }

    /// Checks every rule.
    ///
    /// # Errors
    ///
    /// Every problem the record has, in field order, as [`ValidationErrors`]: a record with
    /// three problems is reported once, with three diagnostics.
    pub fn validate(&self, raw: &RawRecord) -> Result<CallRecord, ValidationErrors> {
        self.check(raw, None)
    }

    /// [`Validator::validate`], with the caller number's normalisation looked up in `memo`
    /// first: a file's callers are a handful of business lines, and parsing one is most of the
    /// cost of a record. The answer is always the one `validate` gives.
    ///
    /// ```
    /// use tc_core::{CallerMemo, EpochMillis, RawRecord, Validator};
    ///
    /// let validator = Validator::new(EpochMillis::try_from(1_753_246_000_000).unwrap());
    /// let mut memo = CallerMemo::new();
    /// let raw = RawRecord::from_text_fields([
    ///     ("caller_number", "+91 98765 43210"),
    ///     ("receiver_number", "+91 98765 43211"),
    ///     ("dynamic_label_name", "Centro Bank"),
    ///     ("starts_at", "1753246858000"),
    ///     ("ends_at", "1753250458000"),
    /// ]);
    /// let first = validator.validate_with_memo(&raw, &mut memo);
    /// assert_eq!(first, validator.validate(&raw));
    /// assert_eq!(validator.validate_with_memo(&raw, &mut memo), first);
    /// ```
    ///
    /// # Errors
    ///
    /// Every problem of the record, as [`Validator::validate`] reports them.
    pub fn validate_with_memo(
        &self,
        raw: &RawRecord,
        memo: &mut CallerMemo,
    ) -> Result<CallRecord, ValidationErrors> {
        self.check(raw, Some(memo))
    }

    fn check(
        &self,
        raw: &RawRecord,
        memo: Option<&mut CallerMemo>,
    ) -> Result<CallRecord, ValidationErrors> {
        let mut problems = Vec::new();
        let caller_number = self.phone(raw, Field::CallerNumber, memo, &mut problems);
        let receiver_number = self.phone(raw, Field::ReceiverNumber, None, &mut problems);
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
            _ => Err(ValidationErrors::from_diagnostics(problems)
                .expect("a record without all four required values has a problem saying why")),
        }
    }

    fn phone(
        &self,
        raw: &RawRecord,
        field: Field,
        memo: Option<&mut CallerMemo>,
        problems: &mut Vec<Diagnostic>,
    ) -> Option<E164> {
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
        let normalized = match memo {
            Some(memo) => memo.normalize(&text, self.default_region),
            None => E164::normalize(&text, self.default_region),
        };
        match normalized {
            Ok(number) => Some(number),
            Err(err) => {
                let message = format!("`{}`: {err}", excerpt(text.trim()));
                problems.push(Diagnostic::new(field, err.code(), message));
                None
            }
        }
    }

    fn window(
        &self,
        starts_at: Option<EpochMillis>,
        ends_at: EpochMillis,
        problems: &mut Vec<Diagnostic>,
    ) {
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

/// How many distinct caller numbers a [`CallerMemo`] holds. A file's callers are the business's
/// own lines, a handful; past this many the memo starts afresh, so a file whose every caller
/// differs costs a lookup per record, never memory.
const CALLER_MEMO_ENTRIES: usize = 256;

/// Caller numbers already normalised in this run, keyed by their text as written and the
/// default region they were read with. Owned by one thread (each worker of a parallel run has
/// its own): it needs no lock, and a clone starts with what the original held.
///
/// It holds numbers from the user's file, so its `Debug` output shows only how many.
#[derive(Clone, Default)]
pub struct CallerMemo {
    region: Option<Region>,
    numbers: HashMap<Box<str>, Result<E164, PhoneError>>,
}

impl CallerMemo {
    /// An empty memo.
    pub fn new() -> Self {
        CallerMemo::default()
    }

    /// How many written numbers it holds.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether it holds no number.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    /// [`E164::normalize`], answered from the memo when `text` was seen with `region` before.
    ///
    /// # Errors
    ///
    /// Why `text` is not a number we send, as [`E164::normalize`] says.
    pub fn normalize(&mut self, text: &str, region: Option<Region>) -> Result<E164, PhoneError> {
        if self.region != region {
            self.numbers.clear();
            self.region = region;
        }
        if let Some(known) = self.numbers.get(text) {
            return known.clone();
        }
        let normalized = E164::normalize(text, region);
        if self.numbers.len() >= CALLER_MEMO_ENTRIES {
            self.numbers.clear();
        }
        self.numbers.insert(text.into(), normalized.clone());
        normalized
    }
}

impl std::fmt::Debug for CallerMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerMemo")
            .field("region", &self.region)
            .field("numbers", &self.numbers.len())
            .finish()
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
            let text = crate::input::trim(text);
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
                    excerpt(&text)
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
    // Characters as a phone counts them: Unicode scalar values, counted once.
    let chars = name.chars().count() as u64;
    if !(min..=max).contains(&chars) {
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
                excerpt(&name)
            ),
        ));
    }
    check_characters(field, &name, problems);
    Some(Some(name))
}

fn call_reason(raw: &RawRecord, problems: &mut Vec<Diagnostic>) -> Option<Option<String>> {
    let field = Field::DynamicCallReason;
    let Some(reason) = text_field(raw, field, problems)? else {
        return Some(None);
    };
    let (min, max) = CALL_REASON_CHARS;
    // Characters as a phone counts them: Unicode scalar values, counted once.
    let chars = reason.chars().count() as u64;
    if !(min..=max).contains(&chars) {
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
                excerpt(&reason)
            ),
        ));
    }
    check_characters(field, &reason, problems);
    // The forbidden characters are ASCII, and in UTF-8 a byte below 128 is always the ASCII
    // character: the bytes are tested against a bit set, no character decoded.
    let mut forbidden: Vec<char> = reason
        .bytes()
        .filter(|&b| b < 128 && FORBIDDEN_BYTES & (1 << b) != 0)
        .map(char::from)
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

/// [`CALL_REASON_FORBIDDEN`] as a set of bytes: bit `b` for the character `b`.
const FORBIDDEN_BYTES: u128 = {
    let mut set = 0u128;
    let mut i = 0;
    while i < CALL_REASON_FORBIDDEN.len() {
        let c = CALL_REASON_FORBIDDEN[i] as u32;
        assert!(c < 128, "the forbidden characters are ASCII");
        set |= 1 << c;
        i += 1;
    }
    set
};

/// The character rules of the texts a phone shows: no control characters, and at least one
/// visible character.
fn check_characters(field: Field, text: &str, problems: &mut Vec<Diagnostic>) {
    // Nearly every text is ASCII: a byte test answers for it without decoding characters.
    if text.is_ascii()
        && !text.bytes().any(|b| is_control_character(char::from(b)))
        && !text.bytes().all(|b| is_invisible(char::from(b)))
    {
        return;
    }
    let mut found: Vec<char> = text.chars().filter(|&c| is_control_character(c)).collect();
    if !found.is_empty() {
        found.sort_unstable();
        found.dedup();
        let list: Vec<String> = found.iter().map(|&c| character_name(c)).collect();
        problems.push(Diagnostic::new(
            field,
            Code::TextControlCharacter,
            format!(
                "contains {}, which a caller ID cannot show and which can disguise the text; \
                 remove {} (such characters come from copying text out of other programs)",
                list.join(", "),
                if list.len() == 1 { "it" } else { "them" }
            ),
        ));
    }
    if text.chars().all(is_invisible) {
        problems.push(Diagnostic::new(
            field,
            Code::TextInvisible,
            "has no visible character, only zero-width or blank ones; write the text to show",
        ));
    }
}

/// `U+001B (escape)`: how a message names a character it must not print.
fn character_name(c: char) -> String {
    let name = match c {
        '\u{7}' => " (bell)",
        '\u{8}' => " (backspace)",
        '\u{9}' => " (tab)",
        '\n' | '\r' | '\u{2028}' | '\u{2029}' => " (line break)",
        '\u{1B}' => " (escape)",
        '\u{AD}' => " (soft hyphen)",
        '\u{200B}' => " (zero-width space)",
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => " (bidirectional control)",
        '\u{FEFF}' => " (byte order mark)",
        _ => "",
    };
    format!("U+{:04X}{name}", u32::from(c))
}

fn timestamp(raw: &RawRecord, field: Field, problems: &mut Vec<Diagnostic>) -> Option<EpochMillis> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_of(label: &str, reason: &str) -> Vec<(Field, Code)> {
        let raw = RawRecord::from_text_fields([
            ("caller_number", "+91 98765 43210"),
            ("receiver_number", "+91 98765 43211"),
            ("dynamic_label_name", label),
            ("dynamic_call_reason", reason),
            ("starts_at", "1753246858000"),
            ("ends_at", "1753250458000"),
        ]);
        match Validator::new(EpochMillis(1_753_246_000_000)).validate(&raw) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .iter()
                .map(|d| (d.field.unwrap(), d.code))
                .collect(),
        }
    }

    #[test]
    fn terminal_and_bidi_controls_in_texts_are_rejected() {
        let reason = "Calling you for KYC Verification";
        for bad in [
            "Centro\u{1b}[2J Bank",
            "Centro\u{7}Bank",
            "Centro\u{8}\u{8}Bank",
        ] {
            assert_eq!(
                codes_of(bad, reason),
                [(Field::DynamicLabelName, Code::TextControlCharacter)],
                "{bad:?}"
            );
        }
        assert_eq!(
            codes_of("Centro Bank", "Calling you for \u{202E}noitacifireV CYK"),
            [(Field::DynamicCallReason, Code::TextControlCharacter)]
        );
        assert_eq!(
            codes_of("Centro Bank", "Calling you\nfor KYC Verification"),
            [(Field::DynamicCallReason, Code::TextControlCharacter)]
        );
    }

    #[test]
    fn the_message_names_the_character_and_never_holds_it() {
        let raw = RawRecord::from_text_fields([("dynamic_label_name", "Centro\u{1b}[2J Bank")]);
        let problems = Validator::new(EpochMillis::MIN).validate(&raw).unwrap_err();
        let control = problems
            .iter()
            .find(|d| d.code == Code::TextControlCharacter)
            .unwrap();
        assert!(
            control.message.contains("U+001B (escape)"),
            "{}",
            control.message
        );
        assert!(problems.iter().all(|d| !d.message.contains('\u{1b}')));
    }

    #[test]
    fn a_text_of_only_invisible_characters_is_rejected() {
        let zero_width = "\u{200B}".repeat(10);
        assert_eq!(
            codes_of("Centro Bank", &zero_width),
            [
                (Field::DynamicCallReason, Code::TextControlCharacter),
                (Field::DynamicCallReason, Code::TextInvisible)
            ]
        );
        // Joiners are allowed inside text, but are not text on their own.
        assert_eq!(
            codes_of(
                "\u{200D}\u{3164}\u{200C}",
                "Calling you for KYC Verification"
            ),
            [(Field::DynamicLabelName, Code::TextInvisible)]
        );
    }

    #[test]
    fn joiners_and_direction_marks_that_shape_real_text_are_accepted() {
        let hindi = "क्\u{200D}ष बैंक";
        let family = "Bank \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let arabic = "بنك\u{200F} 24";
        for label in [hindi, family, arabic] {
            assert_eq!(
                codes_of(label, "Calling you for KYC Verification"),
                [],
                "{label:?}"
            );
        }
    }
}

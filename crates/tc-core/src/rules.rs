//! The rules of the API as one table: every [`Code`] a diagnostic can carry, the field it is
//! reported on, and where the rule comes from.
//!
//! Codes are stable: they are printed by `tcbatch validate --output json` and written to reports,
//! so scripts match on them. Add new codes; never rename or reuse one.

use crate::diagnostic::Field;
use std::fmt;

/// Field length bounds, in Unicode scalar values, after trimming surrounding whitespace.
pub const LABEL_NAME_CHARS: (u64, u64) = (3, 40);
/// Call reason length bounds, in Unicode scalar values, after trimming.
pub const CALL_REASON_CHARS: (u64, u64) = (10, 100);
/// Characters the call-reason guidelines forbid anywhere in the text.
pub const CALL_REASON_FORBIDDEN: &[char] = &[
    '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', '/',
];
/// Characters allowed inside a call reason but not as its first or last character.
pub const CALL_REASON_NOT_AT_EDGES: &[char] = &['.', ',', '-'];

/// The characters written between the digits of a phone number and read as nothing, besides
/// white space. A character that is none of these, no digit, no letter and no leading `+` is
/// [`Code::PhoneInvalidCharacters`]. docs/rules.md lists exactly these, in this order (a tidy
/// test holds it to this table).
pub const PHONE_SEPARATORS: &[char] = &[
    // ASCII.
    '-', '.', '/', '~', '(', ')', '[', ']',
    // Their full-width forms, in the same order.
    '\u{FF0D}', '\u{FF0E}', '\u{FF0F}', '\u{FF5E}', '\u{FF08}', '\u{FF09}', '\u{FF3B}', '\u{FF3D}',
    // The dashes a word processor puts for `-`.
    '\u{2010}', '\u{2011}', '\u{2012}', '\u{2013}', '\u{2014}', '\u{2015}',
    // The minus sign and the katakana middle dot.
    '\u{2212}', '\u{30FB}',
];

/// The zero of each script whose decimal digits a phone number may be written in (ASCII,
/// Arabic-Indic, Devanagari, full-width and the others libphonenumber reads); each zero's nine
/// successors are 1 to 9, read as their ASCII values. Any other digit is no digit of a number.
pub const PHONE_DIGIT_ZEROS: &[char] = &[
    '0', '\u{660}', '\u{6F0}', '\u{7C0}', '\u{966}', '\u{9E6}', '\u{A66}', '\u{AE6}', '\u{B66}',
    '\u{BE6}', '\u{C66}', '\u{CE6}', '\u{D66}', '\u{DE6}', '\u{E50}', '\u{ED0}', '\u{F20}',
    '\u{1040}', '\u{1090}', '\u{17E0}', '\u{1810}', '\u{1946}', '\u{19D0}', '\u{1A80}', '\u{1A90}',
    '\u{1B50}', '\u{1BB0}', '\u{1C40}', '\u{1C50}', '\u{A620}', '\u{A8D0}', '\u{A900}', '\u{A9D0}',
    '\u{A9F0}', '\u{AA50}', '\u{ABF0}', '\u{FF10}',
];

/// Fewest digits a written phone number holds in all ([`Code::PhoneTooShort`] below it).
pub const PHONE_MIN_DIGITS: usize = 2;

/// Most digits a written phone number may hold after its `+` or `00` (or in all, with
/// neither): 15 for E.164, plus room for a trunk or carrier prefix ([`Code::PhoneTooLong`]
/// above it).
pub const PHONE_MAX_DIGITS: usize = 17;

/// Whether `c` has no place in a label name or call reason ([`Code::TextControlCharacter`]):
/// every C0 and C1 control (ESC, BEL, backspace, tab and line breaks inside the text), the line
/// and paragraph separators, the bidirectional embeddings, overrides and isolates (U+202E can
/// make a name read backwards), and the invisible format characters that do nothing in a caller
/// ID (zero-width space, word joiner, soft hyphen, byte order mark, ...).
///
/// The format characters that shape visible text stay allowed: the zero-width joiner and
/// non-joiner (Indic scripts, emoji sequences), the direction marks U+200E, U+200F and U+061C
/// (mixed-script text), the Arabic number signs and the emoji tag characters.
pub const fn is_control_character(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | '\u{AD}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0001}'
    )
}

/// Whether `c` shows nothing on its own: white space, control characters, every format
/// character (joiners and direction marks included), variation selectors, the combining grapheme
/// joiner and the blank fillers (Hangul fillers, braille blank). A text made only of these is
/// [`Code::TextInvisible`].
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || is_control_character(c)
        || matches!(
            c,
            '\u{34F}'
                | '\u{61C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200C}'..='\u{200F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

macro_rules! codes {
    ($( $variant:ident = $name:literal, $field:expr, $source:literal, $summary:literal; )*) => {
        /// A stable, machine-readable reason for a diagnostic. See [`RULES`] for the table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code { $( #[doc = $summary] $variant, )* }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The snake_case name printed in reports and JSON output.
            pub const fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $name, )* }
            }

            /// The table row of this code.
            pub fn info(self) -> &'static RuleInfo {
                &RULES[self as usize]
            }

            /// Looks a code up by its snake_case name.
            pub fn from_name(name: &str) -> Option<Code> {
                match name { $( $name => Some(Code::$variant), )* _ => None }
            }
        }

        /// One row per code: the rules of the API as this project enforces them.
        pub const RULES: &[RuleInfo] = &[ $( RuleInfo {
            code: Code::$variant,
            field: $field,
            source: $source,
            summary: $summary,
        }, )* ];
    };
}

/// A row of the rules table.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// The code diagnostics carry.
    pub code: Code,
    /// The wire field the diagnostic names; `None` for whole-record or whole-batch problems.
    /// Phone and timestamp codes apply to more than one field: this is the first of them.
    pub field: Option<Field>,
    /// `doc` when the API documentation states the rule, `decision` when the project decided
    /// what the documentation leaves open (docs/rules.md records each decision), `input` for the
    /// toolkit's own input checks.
    pub source: &'static str,
    /// The rule in one sentence, as docs/rules.md shows it.
    pub summary: &'static str,
}

use Field::*;

codes! {
    RecordUnreadable = "record_unreadable", None, "input",
        "The row could not be read at all (broken CSV quoting, malformed JSON).";
    WrongType = "wrong_type", None, "input",
        "A field holds a value of the wrong type (for example `true` for a phone number).";
    MissingField = "missing_field", Some(CallerNumber), "doc",
        "A required field (`caller_number`, `receiver_number`, `starts_at`, `ends_at`) is absent or empty.";
    PhoneScientificNotation = "phone_scientific_notation", Some(CallerNumber), "input",
        "A spreadsheet wrote the number in scientific notation (`9.19877E+11`), which has lost its last digits.";
    PhoneHasLetters = "phone_has_letters", Some(CallerNumber), "decision",
        "Letters are never mapped to digits: a typo `O` for `0` must not become another person's number.";
    PhoneHasExtension = "phone_has_extension", Some(CallerNumber), "decision",
        "Numbers with an extension (`ext. 12`, `x12`, `#12`) cannot receive a personalised call.";
    PhoneInvalidCharacters = "phone_invalid_characters", Some(CallerNumber), "decision",
        "Only digits, white space, one leading `+` or `00` and the separators of `PHONE_SEPARATORS` (`-` `.` `/` `~`, brackets, their full-width forms, dashes) make up a written number.";
    PhoneInvalidCountryCode = "phone_invalid_country_code", Some(CallerNumber), "decision",
        "The number starts with a country calling code that does not exist.";
    PhoneTooShort = "phone_too_short", Some(CallerNumber), "decision",
        "The number has too few digits for its country.";
    PhoneTooLong = "phone_too_long", Some(CallerNumber), "decision",
        "The number has too many digits for its country (E.164 allows at most 15).";
    PhoneInvalid = "phone_invalid", Some(CallerNumber), "decision",
        "The number is not a valid number for its country (full validity, not just plausible length).";
    PhoneAmbiguousPrefix = "phone_ambiguous_prefix", Some(CallerNumber), "decision",
        "A number written with `00` is one valid number with `00` as the international prefix and another as the default region reads it.";
    LabelNameRequired = "label_name_required", Some(DynamicLabelName), "decision",
        "`dynamic_label_name` is required unless `label_id` is present.";
    LabelNameTooShort = "label_name_too_short", Some(DynamicLabelName), "doc",
        "`dynamic_label_name` has fewer than 3 characters.";
    LabelNameTooLong = "label_name_too_long", Some(DynamicLabelName), "doc",
        "`dynamic_label_name` has more than 40 characters.";
    LabelIdNotUuid = "label_id_not_uuid", Some(LabelId), "decision",
        "`label_id`, when present, must be a UUID.";
    CallReasonTooShort = "call_reason_too_short", Some(DynamicCallReason), "doc",
        "`dynamic_call_reason`, when present, has fewer than 10 characters.";
    CallReasonTooLong = "call_reason_too_long", Some(DynamicCallReason), "doc",
        "`dynamic_call_reason` has more than 100 characters.";
    CallReasonForbiddenCharacter = "call_reason_forbidden_character", Some(DynamicCallReason), "doc",
        "`dynamic_call_reason` contains one of `! @ # $ % ^ & * ( ) _ + /`.";
    CallReasonEdgePunctuation = "call_reason_edge_punctuation", Some(DynamicCallReason), "doc",
        "`dynamic_call_reason` starts or ends with `.`, `,` or `-`.";
    TextControlCharacter = "text_control_character", Some(DynamicLabelName), "decision",
        "A label name or call reason holds a control or invisible format character (ESC, BEL, U+202E, a zero-width space).";
    TextInvisible = "text_invisible", Some(DynamicLabelName), "decision",
        "A label name or call reason has no visible character (only zero-width or blank characters).";
    TimestampInvalid = "timestamp_invalid", Some(StartsAt), "doc",
        "A timestamp is neither whole epoch milliseconds nor an RFC 3339 date-time, or is out of range.";
    TimestampInSeconds = "timestamp_in_seconds", Some(StartsAt), "decision",
        "A timestamp below 100,000,000,000 is almost certainly epoch seconds given by mistake.";
    WindowExpired = "window_expired", Some(EndsAt), "doc",
        "`ends_at` is before the current time (equal to now is accepted).";
    WindowInverted = "window_inverted", Some(EndsAt), "decision",
        "`ends_at` is not after `starts_at`.";
    WindowTooLong = "window_too_long", Some(EndsAt), "doc",
        "`ends_at` is more than 24 hours (86,400,000 ms) after `starts_at`.";
    BatchEmpty = "batch_empty", None, "doc",
        "A request must carry at least one call record.";
    BatchTooLarge = "batch_too_large", None, "doc",
        "A request carries at most 500 call records.";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Reads a code back from its snake_case name, so journals and reports can hold it typed.
impl<'de> serde::Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Code::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule code `{name}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_line_up_with_codes() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(RULES[i].code, *code);
            assert_eq!(Code::from_name(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn code_names_are_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(seen.insert(name), "duplicate code {name}");
        }
    }

    #[test]
    fn codes_and_fields_read_back_what_they_write() {
        for code in Code::ALL {
            let text = serde_json::to_string(code).unwrap();
            assert_eq!(serde_json::from_str::<Code>(&text).unwrap(), *code);
        }
        for field in Field::ALL {
            let text = serde_json::to_string(&field).unwrap();
            assert_eq!(serde_json::from_str::<Field>(&text).unwrap(), field);
        }
        let err = serde_json::from_str::<Code>("\"no_such_code\"").unwrap_err();
        assert!(err.to_string().contains("no_such_code"), "{err}");
    }
}

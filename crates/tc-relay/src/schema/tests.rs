//! The schemas against the readers they describe: what a schema admits the relay reads, and
//! what the relay reads a schema admits, but for the rules the descriptions name.

use super::*;
use proptest::prelude::*;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};
use tc_core::{Code, Field, RawRecord, Region, Validator, E164};

// Each schema built once: its classes are read off every character of the plane.
static LABEL_NAME: LazyLock<Value> = LazyLock::new(label_name);
static CALL_REASON: LazyLock<Value> = LazyLock::new(call_reason);
static PHONE: LazyLock<Value> = LazyLock::new(|| phone(""));
static IDEMPOTENCY_KEY: LazyLock<Value> = LazyLock::new(idempotency_key);

/// The compiled pattern of `schema`, compiled once per pattern: the character classes are
/// long, and the properties match thousands of texts.
fn pattern_of(schema: &Value) -> Regex {
    static COMPILED: Mutex<BTreeMap<String, Regex>> = Mutex::new(BTreeMap::new());
    let pattern = schema["pattern"]
        .as_str()
        .or_else(|| schema["anyOf"][0]["pattern"].as_str())
        .expect("a schema with a pattern");
    let mut compiled = COMPILED.lock().unwrap();
    compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).unwrap())
        .clone()
}

/// Whether `text` is what `schema` (a string schema) admits: its pattern and its length in
/// characters, as JSON Schema counts them.
fn admits(schema: &Value, text: &str) -> bool {
    let chars = text.chars().count() as u64;
    let min = schema["minLength"].as_u64().unwrap_or(0);
    let max = schema["maxLength"].as_u64().unwrap_or(u64::MAX);
    pattern_of(schema).is_match(text) && (min..=max).contains(&chars)
}

/// The codes the validator gives `field` of a record that is valid but for `value` there.
fn codes_of(field: Field, value: &str) -> Vec<Code> {
    let now = EpochMillis::MIN;
    let (starts, ends) = (now.as_i64().to_string(), (now.as_i64() + 1).to_string());
    let mut fields = vec![
        ("caller_number", "+919876543210"),
        ("receiver_number", "+919876543211"),
        ("starts_at", starts.as_str()),
        ("ends_at", ends.as_str()),
    ];
    if field != Field::DynamicLabelName {
        fields.push(("dynamic_label_name", "Centro Bank"));
    }
    fields.push((field.wire_name(), value));
    match Validator::new(now).validate(&RawRecord::from_text_fields(fields)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .filter(|d| d.field == Some(field))
            .map(|d| d.code)
            .collect(),
    }
}

/// Text with what the text rules care about: white space, controls, the call reason's
/// forbidden and edge characters, format characters, letters of several scripts, emoji.
fn text() -> impl Strategy<Value = String> {
    "[ \\t\\n\\u{1b}\\u{85}\\u{a0}\\u{ad}\\u{200b}\\u{200d}\\u{202e}\\u{3000}!@#$%^&*()_+/.,\\-a-zA-Zé०-९सेंट्रो😀]{0,110}"
}

proptest! {
    /// A label name the schema admits breaks no rule of its own but the invisible-text one
    /// its description names; one that breaks none, written trimmed, the schema admits.
    #[test]
    fn the_label_name_schema_is_the_label_name_rules(name in text()) {
        let codes = codes_of(Field::DynamicLabelName, &name);
        let admitted = admits(&LABEL_NAME, &name);
        if admitted {
            prop_assert!(codes.iter().all(|c| *c == Code::TextInvisible), "{name:?}: {codes:?}");
        }
        if codes.is_empty() && name.trim() == name {
            prop_assert!(admitted, "{:?}", name);
        }
    }

    #[test]
    fn the_call_reason_schema_is_the_call_reason_rules(reason in text()) {
        let codes = codes_of(Field::DynamicCallReason, &reason);
        let admitted = admits(&CALL_REASON, &reason);
        if admitted {
            prop_assert!(codes.iter().all(|c| *c == Code::TextInvisible), "{reason:?}: {codes:?}");
        }
        if codes.is_empty() && reason.trim() == reason && !reason.is_empty() {
            prop_assert!(admitted, "{:?}", reason);
        }
    }

    /// Every number the relay reads matches the phone pattern; one that matches is refused
    /// for its country at most, never for how it is written.
    #[test]
    fn the_phone_pattern_is_the_written_form_the_relay_reads(
        number in "[+＋0]{0,2}[0-9０-９٠-٩ \\-.()/]{0,22}[a-zA-Z#,;*]{0,1}[0-9 ]{0,3}",
        region in proptest::option::of(proptest::sample::select(vec!["IN", "ID", "US", "GB"])),
    ) {
        let region = region.map(|r| r.parse::<Region>().unwrap());
        let matched = pattern_of(&PHONE).is_match(&number);
        match E164::normalize(&number, region) {
            Ok(_) => prop_assert!(matched, "{:?} is read but not admitted", number),
            Err(error) => prop_assert!(
                !matched || !matches!(
                    error.code(),
                    Code::PhoneHasLetters
                        | Code::PhoneHasExtension
                        | Code::PhoneInvalidCharacters
                        | Code::PhoneScientificNotation
                        | Code::MissingField
                ),
                "{:?} is admitted but refused for how it is written: {:?}", number, error
            ),
        }
    }

    /// The pattern and the bound of the `Idempotency-Key` are what the relay takes (for a
    /// value without spaces around it, which HTTP strips anyway).
    #[test]
    fn the_idempotency_key_schema_is_what_the_relay_takes(key in "[ -~\\t\\u{80}-\\u{ff}]{0,205}") {
        prop_assume!(key.trim() == key);
        let mut headers = axum::http::HeaderMap::new();
        let Ok(value) = axum::http::HeaderValue::from_str(&key) else {
            return Ok(());
        };
        headers.insert(crate::IDEMPOTENCY_KEY, value);
        let taken = crate::api::idempotency_key(&headers).is_ok();
        prop_assert_eq!(admits(&IDEMPOTENCY_KEY, &key), taken, "{:?}", key);
    }
}

#[test]
fn every_written_number_of_the_rules_table_that_is_read_is_admitted() {
    for (written, region) in [
        ("+91 98765 43210", None),
        ("(+91) 98765.43210", None),
        ("0091 98765 43210", None),
        ("919876543210", None),
        ("＋９１ ９８７６５ ４３２１０", None),
        ("+९१ ९८७६५ ४३२१०", None),
        ("098765 43210", Some("IN")),
        ("(212) 555-0100", Some("US")),
        ("0081 003768 312345678", None),
        ("000 800 934 7131", Some("IN")),
    ] {
        let region = region.map(|r| r.parse::<Region>().unwrap());
        assert!(E164::normalize(written, region).is_ok(), "{written}");
        assert!(pattern_of(&PHONE).is_match(written), "{written}");
    }
    for refused in [
        "+91 98765 4321O",
        "9.19877E+11",
        "+1 212 555 0100 ext. 12",
        "+91*98765",
    ] {
        assert!(!pattern_of(&PHONE).is_match(refused), "{refused}");
    }
}

#[test]
fn the_timestamp_range_is_the_rules_range() {
    let schema = timestamp("");
    let (min, max) = (
        schema["anyOf"][0]["minimum"].as_i64().unwrap(),
        schema["anyOf"][0]["maximum"].as_i64().unwrap(),
    );
    for (ms, in_range) in [(min - 1, false), (min, true), (max, true), (max + 1, false)] {
        assert_eq!(EpochMillis::try_from(ms).is_ok(), in_range, "{ms}");
    }
}

#[test]
fn the_example_record_passes_every_rule_until_its_window_closes() {
    let example = example_record();
    let fields: Vec<(&str, String)> = example
        .as_object()
        .unwrap()
        .iter()
        .filter(|(key, _)| key.as_str() != EXTERNAL_ID_KEY)
        .map(|(key, value)| {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            (key.as_str(), text)
        })
        .collect();
    let raw = RawRecord::from_text_fields(fields.iter().map(|(k, v)| (*k, v.as_str())));
    let just_before = EpochMillis::MAX.plus(-1);
    assert!(Validator::new(just_before).validate(&raw).is_ok());
}

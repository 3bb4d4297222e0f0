//! The JSON Schemas of what a producer sends the relay: a post's records, its
//! `Idempotency-Key` and a record's id. Every bound comes from the constant the relay or
//! tc-core enforces it with, so the OpenAPI document cannot drift from the rules.
//!
//! The schemas state the canonical form: the form a generated client writes and every record
//! the relay stores can be written in. The relay reads more (keys in any letter case, white
//! space around text, decimal numbers with no fraction, milliseconds as text); each schema's
//! description says what it reads beyond the schema and which rules no JSON Schema can state
//! (a number valid for its country, a window that has not closed).
//!
//! Patterns are ECMA 262, as OpenAPI asks, written so Python's `re` (the fuzzer's generator)
//! and Rust's `regex` read them the same way: character classes of `\uXXXX` escapes, no Unicode
//! property classes, no flags. The classes list characters of the Basic Multilingual Plane
//! only: the one control character beyond it (U+E0001, a language tag) is left to the relay.

use crate::api::MAX_IDEMPOTENCY_KEY_BYTES;
use crate::intake::{EXTERNAL_ID_KEY, MAX_EXTERNAL_ID_CHARS};
use crate::status::RecordId;
use crate::MAX_BODY_BYTES;
use serde_json::{json, Value};
use tc_core::rules::{
    is_control_character, CALL_REASON_CHARS, CALL_REASON_FORBIDDEN, CALL_REASON_NOT_AT_EDGES,
    LABEL_NAME_CHARS, PHONE_DIGIT_ZEROS, PHONE_MAX_DIGITS, PHONE_MIN_DIGITS, PHONE_SEPARATORS,
};
use tc_core::{EpochMillis, MAX_WINDOW_MS};

/// The name of the schema of one record in `components.schemas`.
pub(crate) const RECORD: &str = "CallRecordIn";
/// The name of the schema of a post's body.
pub(crate) const POST_BODY: &str = "PostBody";

/// The schemas this module adds to `components.schemas`, by name.
pub(crate) fn components() -> Vec<(&'static str, Value)> {
    vec![(RECORD, record()), (POST_BODY, post_body())]
}

/// A post's body: one record, an array of records, or the API's own `{"call_records": [...]}`.
fn post_body() -> Value {
    let records = json!({
        "type": "array",
        "minItems": 1,
        "items": { "$ref": format!("#/components/schemas/{RECORD}") },
    });
    json!({
        "description": format!(
            "One record object, an array of records, or the API's own body \
             `{{\"call_records\": [...]}}` (the key matched ignoring case and surrounding \
             spaces). A post holds any number of records: the body's size is the limit, {} \
             bytes ({} MiB, answered 413 above it). A post with no record is answered 422 \
             with no problem listed.",
            MAX_BODY_BYTES,
            MAX_BODY_BYTES >> 20
        ),
        "anyOf": [
            { "$ref": format!("#/components/schemas/{RECORD}") },
            records,
            {
                "type": "object",
                "required": ["call_records"],
                "properties": { "call_records": records },
            },
        ],
        "example": { "call_records": [example_record()] },
    })
}

/// A record that passes every rule at any time before the year 9999: its window closes at the
/// latest time a record can hold.
fn example_record() -> Value {
    let ends_at = EpochMillis::MAX.as_i64();
    json!({
        "caller_number": "+919876543210",
        "receiver_number": "+919876543211",
        "dynamic_label_name": "Centro Bank",
        "dynamic_call_reason": "Calling about your KYC verification",
        "starts_at": ends_at - MAX_WINDOW_MS,
        "ends_at": ends_at,
        EXTERNAL_ID_KEY: "crm-4711",
    })
}

/// One call record as a producer posts it.
fn record() -> Value {
    json!({
        "type": "object",
        "description": format!(
            "One call record, in the fields of the API's create call, plus an optional \
             `{EXTERNAL_ID_KEY}`. Keys are matched ignoring letter case and surrounding spaces; \
             a key that names no field is ignored and listed in the answer's `ignored_keys`. \
             Rules no JSON Schema states, checked by the relay (a record that breaks one is \
             listed in the answer's `problems` with its code, and its neighbours are still \
             queued): each phone number must be valid for its country; `ends_at` must not have \
             passed, must be after `starts_at` and at most {MAX_WINDOW_MS} ms (24 hours) after \
             it; a text may not consist of invisible characters only."
        ),
        "required": ["caller_number", "receiver_number", "starts_at", "ends_at"],
        "anyOf": [
            { "required": ["dynamic_label_name"] },
            { "required": ["label_id"] },
        ],
        "properties": {
            "caller_number": phone("the number the call comes from"),
            "receiver_number": phone("the customer's number, who receives the call"),
            "dynamic_label_name": label_name(),
            "dynamic_call_reason": call_reason(),
            "label_id": label_id(),
            "starts_at": timestamp("when the caller ID starts showing"),
            "ends_at": timestamp("when the caller ID stops showing"),
            EXTERNAL_ID_KEY: external_id(),
        },
        "example": example_record(),
    })
}

/// A phone number as written before normalisation: text in any common written form, or an
/// integer whose digits are the number.
fn phone(what: &str) -> Value {
    let digits = class(is_phone_digit, false);
    let zeros = class(|c| PHONE_DIGIT_ZEROS.contains(&c), false);
    let blanks = class(
        |c| c.is_whitespace() || PHONE_SEPARATORS.contains(&c),
        false,
    );
    let plus = class(|c| c == '+' || c == '\u{FF0B}', false);
    let digit = format!("{digits}{blanks}*");
    let counted = format!("(?:{digit}){{{PHONE_MIN_DIGITS},{PHONE_MAX_DIGITS}}}");
    let pattern = format!(
        "^{blanks}*(?:{plus}{blanks}*{counted}|{zeros}{blanks}*{zeros}{blanks}*{counted}|{counted})$"
    );
    let smallest = 10_i64.pow(PHONE_MIN_DIGITS as u32 - 1);
    let largest = 10_i64.pow(PHONE_MAX_DIGITS as u32) - 1;
    json!({
        "description": format!(
            "{what}. Text: digits (ASCII, or of another script such as Devanagari or \
             full-width, read as their ASCII values), with spaces and the separators - . / ~ \
             ( ) [ ] and their full-width forms between them: with + or 00 and the country \
             code, or bare digits, read as country code and number (as a national number when \
             the relay runs with --region); \
             {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits after the + or 00. Letters, \
             extensions and scientific notation are refused. Or an integer whose digits are \
             the number with its country code. Sent to the API as E.164. The pattern states \
             the written form; whether the number is valid for its country (the phone_* codes \
             of the rules) no JSON Schema can state."
        ),
        "anyOf": [
            { "type": "string", "pattern": pattern },
            { "type": "integer", "minimum": smallest, "maximum": largest },
        ],
        "example": "+91 98765 43210",
    })
}

/// A digit a phone number may be written with: one of a script's ten.
fn is_phone_digit(c: char) -> bool {
    PHONE_DIGIT_ZEROS
        .iter()
        .any(|&zero| (zero as u32..zero as u32 + 10).contains(&(c as u32)))
}

/// A text field's pattern: no control character anywhere (`text_control_character`), no
/// character of `never` anywhere, and neither white space (the relay trims it, and counts the
/// length after trimming) nor a character of `not_at_edges` first or last.
fn text_pattern(never: &[char], not_at_edges: &[char]) -> String {
    let inner = class(|c| is_control_character(c) || never.contains(&c), true);
    let edge = class(
        |c| {
            is_control_character(c)
                || never.contains(&c)
                || not_at_edges.contains(&c)
                || c.is_whitespace()
        },
        true,
    );
    format!("^{edge}(?:{inner}*{edge})?$")
}

fn label_name() -> Value {
    let (shortest, longest) = LABEL_NAME_CHARS;
    json!({
        "type": "string",
        "description": format!(
            "The name the caller ID shows, {shortest} to {longest} characters (Unicode scalar \
             values), with no control character. Required unless `label_id` is given. The \
             schema states the text trimmed; the relay trims white space around it itself, and \
             counts the length after."
        ),
        "minLength": shortest,
        "maxLength": longest,
        "pattern": text_pattern(&[], &[]),
        "example": "Centro Bank",
    })
}

fn call_reason() -> Value {
    let (shortest, longest) = CALL_REASON_CHARS;
    let forbidden: String = CALL_REASON_FORBIDDEN.iter().collect();
    let edges: String = CALL_REASON_NOT_AT_EDGES.iter().collect();
    json!({
        "type": ["string", "null"],
        "description": format!(
            "Why the call is made, {shortest} to {longest} characters after trimming, \
             optional. None of `{forbidden}` anywhere, none of `{edges}` first or last."
        ),
        "minLength": shortest,
        "maxLength": longest,
        "pattern": text_pattern(CALL_REASON_FORBIDDEN, CALL_REASON_NOT_AT_EDGES),
        "example": "Calling about your KYC verification",
    })
}

fn label_id() -> Value {
    // The forms the `uuid` crate reads, which tc-core's rule uses: hyphenated, 32 hex digits,
    // braced, or a URN (its prefix in any letter case).
    let hex = "[0-9a-fA-F]";
    let hyphenated = format!("{hex}{{8}}-{hex}{{4}}-{hex}{{4}}-{hex}{{4}}-{hex}{{12}}");
    let urn = "[uU][rR][nN]:[uU][uU][iI][dD]:";
    json!({
        "type": "string",
        "description": "The id of a dynamic label, a UUID: hyphenated, 32 hex digits, braced or \
                        as a urn:uuid: URN, in any letter case.",
        "pattern": format!("^(?:{hyphenated}|{hex}{{32}}|\\{{{hyphenated}\\}}|{urn}{hyphenated})$"),
        "example": "123e4567-e89b-12d3-a456-426614174000",
    })
}

fn timestamp(what: &str) -> Value {
    let (earliest, latest) = (EpochMillis::MIN, EpochMillis::MAX);
    json!({
        "description": format!(
            "{what}: epoch milliseconds, from {} ({}; a smaller number is taken for epoch \
             seconds given by mistake) to {} ({}), or an RFC 3339 date-time with an offset in \
             that range (the relay also reads whole milliseconds written as text).",
            earliest.as_i64(),
            earliest.to_rfc3339(),
            latest.as_i64(),
            latest.to_rfc3339()
        ),
        "anyOf": [
            { "type": "integer", "minimum": earliest.as_i64(), "maximum": latest.as_i64() },
            { "type": "string", "format": "date-time" },
        ],
    })
}

fn external_id() -> Value {
    json!({
        "description": format!(
            "Your own id of the record, optional: a record whose external id the relay saw in \
             the last 24 hours is not queued again. Text of at most {MAX_EXTERNAL_ID_CHARS} \
             characters after trimming (blank is none), or an integer."
        ),
        "anyOf": [
            { "type": "string", "maxLength": MAX_EXTERNAL_ID_CHARS },
            { "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX },
            { "type": "null" },
        ],
        "example": "crm-4711",
    })
}

/// The `Idempotency-Key` header's schema: what `api::idempotency_key` takes.
pub(crate) fn idempotency_key() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_BYTES,
        // Visible ASCII, spaces inside; the relay trims spaces around it.
        "pattern": "^[\\u0020-\\u007E]*[\\u0021-\\u007E][\\u0020-\\u007E]*$",
    })
}

/// The path's record id: what `RecordId`'s `FromStr` reads.
pub(crate) fn record_id() -> Value {
    json!({
        "type": "string",
        "pattern": RecordId::pattern(),
        "example": "r17-9f86d081884c7d65",
    })
}

/// A regular-expression character class of the characters of the Basic Multilingual Plane
/// for which `member` holds, as ranges of `\uXXXX` escapes, which every dialect reads the same
/// way; `negated`, the class of every other character (`[^...]`), astral ones included (an
/// emoji in a label name). Surrogates are never listed.
fn class(member: impl Fn(char) -> bool, negated: bool) -> String {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let bmp = (0..=0xFFFF_u32).filter_map(char::from_u32);
    for code in bmp.filter(|&c| member(c)).map(u32::from) {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == code => *end = code,
            _ => ranges.push((code, code)),
        }
    }
    let mut out = String::from(if negated { "[^" } else { "[" });
    for (start, end) in ranges {
        out.push_str(&format!("\\u{start:04X}"));
        if end > start {
            out.push_str(&format!("-\\u{end:04X}"));
        }
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests;

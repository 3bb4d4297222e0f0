//! Shared by the property tests: case counts, the fixed "now", and generators of text and
//! phone numbers that sit exactly on the documented boundaries.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use tc_core::{Diagnostic, Field, RawRecord, Scalar};

/// 2025-07-23T05:00:00Z, the "now" of most properties.
pub const NOW: i64 = 1_753_246_800_000;
pub const DAY_MS: i64 = 86_400_000;

/// `default_cases` keeps `cargo xtask ci` quick; `PROPTEST_CASES` (set by `cargo xtask fuzz`)
/// overrides it for long runs.
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        ..Config::default()
    }
}

/// A record that passes every rule at [`NOW`]; properties change one field at a time.
pub fn valid_record() -> RawRecord {
    RawRecord::from_text_fields([
        ("caller_number", "+91 98450 00001"),
        ("receiver_number", "+91 98765 43210"),
        ("dynamic_label_name", "Centro Bank"),
        ("dynamic_call_reason", "Calling you for KYC Verification"),
        ("starts_at", "1753246800000"),
        ("ends_at", "1753257600000"),
    ])
}

pub fn text(value: &str) -> Option<Scalar> {
    Some(Scalar::Text(value.to_owned()))
}

/// `(field, code name)` of each diagnostic, sorted, for comparing whole results.
pub fn codes(diagnostics: &[Diagnostic]) -> Vec<(Option<Field>, &'static str)> {
    let mut codes: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.field, d.code.as_str()))
        .collect();
    codes.sort();
    codes
}

/// Characters that may stand anywhere in a text, including its first and last position:
/// ASCII, Latin with accents, Devanagari (with combining signs), CJK and emoji.
pub const EDGE_CHARS: &[char] = &[
    'a',
    'Z',
    '7',
    'é',
    'ß',
    'क',
    'ि',
    'ं',
    '्',
    'ब',
    'ै',
    '中',
    '文',
    '😀',
    '🏦',
    '👍',
    '\u{1F3FD}',
    'Ω',
    'ж',
];
/// Characters allowed inside a text but not at its edges (inner space, the call reason's
/// edge punctuation), and the zero-width joiner, which is no text on its own: with it at both
/// edges, a short text could be invisible.
pub const INNER_CHARS: &[char] = &[' ', '.', ',', '-', 'x', 'न', '🙂', '\u{200D}'];

/// Control characters a label name or call reason may not hold anywhere (ESC, BEL, backspace,
/// an inner line break, bidirectional overrides, zero-width space, byte order mark, C1).
pub const CONTROL_CHARS: &[char] = &[
    '\u{0}', '\u{7}', '\u{8}', '\t', '\n', '\u{1B}', '\u{7F}', '\u{85}', '\u{9B}', '\u{AD}',
    '\u{200B}', '\u{2028}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{2060}', '\u{FEFF}',
];

/// White space that trimming removes: ASCII and Unicode (no-break space, em space, ideographic).
pub fn padding() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{A0}', '\u{2003}', '\u{3000}',
        ]),
        0..4,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Text of exactly `len` Unicode scalar values that trimming leaves alone and that contains no
/// call-reason punctuation at its edges and no forbidden character.
pub fn text_of_len(len: usize) -> BoxedStrategy<String> {
    let edge = prop::sample::select(EDGE_CHARS);
    let inner = prop::sample::select([EDGE_CHARS, INNER_CHARS].concat());
    match len {
        0 => Just(String::new()).boxed(),
        1 => edge.prop_map(String::from).boxed(),
        _ => (edge.clone(), prop::collection::vec(inner, len - 2), edge)
            .prop_map(|(first, middle, last)| {
                let mut s = String::from(first);
                s.extend(middle);
                s.push(last);
                s
            })
            .boxed(),
    }
}

/// A length near `boundary`: one below, on it, one above, or anywhere in `range`.
pub fn around(
    boundaries: &[usize],
    range: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = usize> {
    let mut choices: Vec<BoxedStrategy<usize>> =
        boundaries.iter().map(|b| Just(*b).boxed()).collect();
    choices.push(range.boxed());
    proptest::strategy::Union::new(choices)
}

/// A number that is valid for its country: `(country code, national number)`.
pub fn valid_number() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        // India: mobiles start with 6 to 9.
        ("[6-9][0-9]{9}").prop_map(|n| ("91", n)),
        // UK: mobiles 75xx, London 20 7xxx, Manchester 161.
        ("(75[0-9]{8}|207[0-9]{7}|161[0-9]{7})").prop_map(|n| ("44", n)),
        // US: real area codes, exchange starting 2 to 9.
        ("(212|415|646|312|617)[2-9][0-9]{6}").prop_map(|n| ("1", n)),
    ]
}

/// The wire fields on which each code may be reported, as docs/rules.md lists them.
pub fn documented_fields() -> &'static HashMap<String, Vec<String>> {
    static FIELDS: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/rules.md");
        let text = std::fs::read_to_string(path).expect("docs/rules.md exists");
        let rows =
            xtask::rules_doc::rule_rows(&text).expect("docs/rules.md has a readable rules table");
        rows.into_iter().map(|row| (row.code, row.fields)).collect()
    })
}

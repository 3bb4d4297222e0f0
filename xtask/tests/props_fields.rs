//! Properties of each field rule at its documented boundary (docs/rules.md): text lengths in
//! Unicode scalar values after trimming, call-reason characters, label ids, timestamps, the
//! display window and batch sizes.

mod common;

use common::*;
use proptest::prelude::*;
use tc_core::rules::{CALL_REASON_FORBIDDEN, CALL_REASON_NOT_AT_EDGES};
use tc_core::{
    check_batch_size, Batch, BatchError, Code, EpochMillis, Field, RawRecord, Scalar, Validator,
    MAX_WINDOW_MS,
};

fn validator() -> Validator {
    Validator::new(EpochMillis::try_from(NOW).unwrap())
}

fn with(field: Field, value: Option<Scalar>) -> RawRecord {
    let mut raw = valid_record();
    raw.set(field, value);
    raw
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn label_name_is_3_to_40_scalar_values_after_trimming(
        (name, len) in around(&[1, 2, 3, 40, 41], 1..=60).prop_flat_map(|len| (text_of_len(len), Just(len))),
        before in padding(),
        after in padding(),
    ) {
        let raw = with(Field::DynamicLabelName, text(&format!("{before}{name}{after}")));
        let result = validator().validate(&raw);
        match len {
            3..=40 => {
                let record = result.map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
                prop_assert_eq!(record.dynamic_label_name(), Some(name.as_str()));
            }
            _ => {
                let code = if len < 3 { "label_name_too_short" } else { "label_name_too_long" };
                prop_assert_eq!(codes(&result.unwrap_err()), [(Some(Field::DynamicLabelName), code)]);
            }
        }
    }

    #[test]
    fn call_reason_is_10_to_100_scalar_values_after_trimming(
        (reason, len) in around(&[1, 9, 10, 100, 101], 1..=130).prop_flat_map(|len| (text_of_len(len), Just(len))),
        before in padding(),
        after in padding(),
    ) {
        let raw = with(Field::DynamicCallReason, text(&format!("{before}{reason}{after}")));
        let result = validator().validate(&raw);
        match len {
            10..=100 => {
                let record = result.map_err(|d| TestCaseError::fail(format!("{d:?}")))?;
                prop_assert_eq!(record.dynamic_call_reason(), Some(reason.as_str()));
            }
            _ => {
                let code = if len < 10 { "call_reason_too_short" } else { "call_reason_too_long" };
                prop_assert_eq!(codes(&result.unwrap_err()), [(Some(Field::DynamicCallReason), code)]);
            }
        }
    }

    #[test]
    fn blank_text_counts_as_absent(blank in padding()) {
        // A blank reason is simply absent; a blank name is missing (no label_id here).
        let reason = validator().validate(&with(Field::DynamicCallReason, text(&blank)));
        prop_assert_eq!(reason.map(|r| r.dynamic_call_reason().map(str::to_owned)), Ok(None));
        let name = validator().validate(&with(Field::DynamicLabelName, text(&blank)));
        prop_assert_eq!(codes(&name.unwrap_err()), [(Some(Field::DynamicLabelName), "label_name_required")]);
    }

    #[test]
    fn each_forbidden_character_anywhere_in_a_call_reason_is_rejected(
        reason in (10usize..=99).prop_flat_map(text_of_len),
        forbidden in prop::sample::select(CALL_REASON_FORBIDDEN),
        at in any::<prop::sample::Index>(),
    ) {
        let chars: Vec<char> = reason.chars().collect();
        let at = at.index(chars.len() + 1);
        let with_forbidden: String = chars[..at].iter().chain([forbidden].iter()).chain(chars[at..].iter()).collect();
        let result = validator().validate(&with(Field::DynamicCallReason, text(&with_forbidden)));
        let diagnostics = result.unwrap_err();
        prop_assert_eq!(codes(&diagnostics), [(Some(Field::DynamicCallReason), "call_reason_forbidden_character")]);
        let quoted = format!("`{forbidden}`");
        prop_assert!(diagnostics[0].message.contains(&quoted), "{}", diagnostics[0].message);
    }

    #[test]
    fn a_control_character_inside_a_label_or_reason_is_rejected_and_never_echoed(
        (field, written) in prop_oneof![
            (3usize..=39).prop_flat_map(text_of_len).prop_map(|t| (Field::DynamicLabelName, t)),
            (10usize..=99).prop_flat_map(text_of_len).prop_map(|t| (Field::DynamicCallReason, t)),
        ],
        control in prop::sample::select(CONTROL_CHARS),
        at in any::<prop::sample::Index>(),
    ) {
        let chars: Vec<char> = written.chars().collect();
        // Inside, not at an edge: trimming removes white-space controls (tab, line breaks) there.
        let at = 1 + at.index(chars.len() - 1);
        let with_control: String = chars[..at].iter().chain([control].iter()).chain(chars[at..].iter()).collect();
        let diagnostics = validator().validate(&with(field, text(&with_control))).unwrap_err();
        prop_assert_eq!(codes(&diagnostics), [(Some(field), "text_control_character")]);
        let named = format!("U+{:04X}", u32::from(control));
        prop_assert!(diagnostics[0].message.contains(&named), "{}", diagnostics[0].message);
        prop_assert!(diagnostics.iter().all(|d| !d.message.contains(control)));
    }

    #[test]
    fn a_text_of_only_invisible_characters_is_rejected(
        field in prop::sample::select(vec![Field::DynamicLabelName, Field::DynamicCallReason]),
        invisible in prop::collection::vec(
            prop::sample::select(vec!['\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{2060}', '\u{3164}', '\u{FE0F}', '\u{2800}', ' ']),
            10..=40,
        ),
    ) {
        let written: String = invisible.into_iter().collect();
        prop_assume!(!written.trim().is_empty());
        let diagnostics = validator().validate(&with(field, text(&written))).unwrap_err();
        prop_assert!(
            codes(&diagnostics).contains(&(Some(field), "text_invisible")),
            "{:?}: {:?}", written, codes(&diagnostics)
        );
    }

    #[test]
    fn edge_punctuation_is_rejected_at_the_edges_and_accepted_inside(
        reason in (10usize..=99).prop_flat_map(text_of_len),
        mark in prop::sample::select(CALL_REASON_NOT_AT_EDGES),
        at in any::<prop::sample::Index>(),
        before in padding(),
        after in padding(),
    ) {
        let chars: Vec<char> = reason.chars().collect();
        let check = |written: String, expect_edge: bool| -> Result<(), TestCaseError> {
            let result = validator().validate(&with(Field::DynamicCallReason, text(&format!("{before}{written}{after}"))));
            if expect_edge {
                prop_assert_eq!(codes(&result.unwrap_err()), [(Some(Field::DynamicCallReason), "call_reason_edge_punctuation")]);
            } else {
                prop_assert!(result.is_ok(), "`{}` inside: {:?}", mark, result);
            }
            Ok(())
        };
        check(format!("{mark}{reason}"), true)?;
        check(format!("{reason}{mark}"), true)?;
        let inside = 1 + at.index(chars.len() - 1);
        check(chars[..inside].iter().chain([mark].iter()).chain(chars[inside..].iter()).collect(), false)?;
    }

    #[test]
    fn label_id_must_be_a_uuid_in_any_common_form(
        bytes in any::<[u8; 16]>(),
        form in 0..4usize,
        upper in any::<bool>(),
        corruption in prop_oneof![Just(None), (0..36usize, "[g-zG-Z_ ]").prop_map(Some)],
    ) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let canonical = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        let mut written = match form {
            0 => canonical.clone(),
            1 => hex.clone(),
            2 => format!("{{{canonical}}}"),
            _ => format!("urn:uuid:{canonical}"),
        };
        if upper {
            written = written.to_uppercase();
        }
        let raw = with(Field::LabelId, text(&written));
        match corruption {
            None => {
                let record = validator().validate(&raw).map_err(|d| TestCaseError::fail(format!("{written}: {d:?}")))?;
                prop_assert_eq!(record.label_id(), Some(canonical.as_str()));
            }
            Some((at, bad)) => {
                // One character of the hexadecimal part replaced by a non-hex one.
                let hex_at: Vec<usize> = written.char_indices().filter(|(_, c)| c.is_ascii_hexdigit()).map(|(i, _)| i).collect();
                let i = hex_at[at % hex_at.len()];
                let mut broken = written.clone();
                broken.replace_range(i..i + 1, &bad);
                let result = validator().validate(&with(Field::LabelId, text(&broken)));
                prop_assert_eq!(codes(&result.unwrap_err()), [(Some(Field::LabelId), "label_id_not_uuid")]);
            }
        }
    }

    #[test]
    fn label_name_is_required_unless_a_label_id_is_present(
        name in prop_oneof![Just(None), Just(Some("Centro Bank"))],
        label_id in prop_oneof![Just(None), Just(Some("c6d86658-008d-4c08-98fb-2bf2649d59a5")), Just(Some("label-7"))],
    ) {
        let mut raw = valid_record();
        raw.set(Field::DynamicLabelName, name.and_then(text));
        raw.set(Field::LabelId, label_id.and_then(text));
        let mut expected = Vec::new();
        if name.is_none() && label_id.is_none() {
            expected.push((Some(Field::DynamicLabelName), "label_name_required"));
        }
        if label_id == Some("label-7") {
            expected.push((Some(Field::LabelId), "label_id_not_uuid"));
        }
        expected.sort();
        let got = validator().validate(&raw).err().map(|d| codes(&d)).unwrap_or_default();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn integers_below_100_billion_are_epoch_seconds(
        value in prop_oneof![Just(0i64), Just(999_999_999), Just(1_000_000_000), Just(99_999_999_999), Just(1_753_246_858), 0i64..100_000_000_000],
        as_text in any::<bool>(),
    ) {
        let scalar = if as_text { Scalar::Text(value.to_string()) } else { Scalar::Int(value) };
        let result = validator().validate(&with(Field::StartsAt, Some(scalar)));
        let diagnostics = result.unwrap_err();
        prop_assert_eq!(codes(&diagnostics), [(Some(Field::StartsAt), "timestamp_in_seconds")]);
        // Multiplying by 1000 is advised only where the value, as seconds, is from 2001 on.
        let in_ms = format!("({value}000)");
        let advised = diagnostics[0].message.contains(&in_ms);
        prop_assert_eq!(advised, value >= 1_000_000_000, "{}", diagnostics[0].message);
    }

    #[test]
    fn from_100_billion_on_a_timestamp_is_milliseconds_in_any_form(
        ms in prop_oneof![Just(100_000_000_000i64), Just(253_402_300_799_999), 100_000_000_000i64..=253_402_300_799_999],
        form in 0..4usize,
    ) {
        let scalar = match form {
            0 => Scalar::Int(ms),
            1 => Scalar::Text(ms.to_string()),
            2 => Scalar::Text(EpochMillis::try_from(ms).unwrap().to_rfc3339()),
            _ => Scalar::Float(ms as f64),
        };
        // ends_at far in the past: the record fails on the window, never on starts_at itself.
        let mut raw = with(Field::StartsAt, Some(scalar.clone()));
        raw.set(Field::EndsAt, Some(Scalar::Int(ms)));
        let diagnostics = Validator::new(EpochMillis::try_from(ms).unwrap()).validate(&raw).unwrap_err();
        prop_assert!(diagnostics.iter().all(|d| d.field != Some(Field::StartsAt)), "{:?}: {:?}", scalar, diagnostics);
        prop_assert_eq!(EpochMillis::try_from(ms).unwrap().to_rfc3339().parse::<EpochMillis>(), Ok(EpochMillis::try_from(ms).unwrap()));
    }

    #[test]
    fn the_window_follows_the_documented_boundaries(
        starts_offset in prop_oneof![Just(0i64), -2 * DAY_MS..2 * DAY_MS],
        length in prop_oneof![
            Just(-1i64), Just(0), Just(1), Just(MAX_WINDOW_MS), Just(MAX_WINDOW_MS + 1),
            -DAY_MS..2 * DAY_MS,
        ],
        now_vs_ends in prop_oneof![Just(-1i64), Just(0), Just(1), -DAY_MS..DAY_MS],
    ) {
        let starts = NOW + starts_offset;
        let ends = starts + length;
        // now_vs_ends = now - ends: 0 is "ends exactly now", 1 is "ended a millisecond ago".
        let now = ends + now_vs_ends;
        let mut raw = valid_record();
        raw.set(Field::StartsAt, Some(Scalar::Int(starts)));
        raw.set(Field::EndsAt, Some(Scalar::Int(ends)));
        let mut expected = Vec::new();
        if ends < now {
            expected.push((Some(Field::EndsAt), "window_expired"));
        }
        if ends <= starts {
            expected.push((Some(Field::EndsAt), "window_inverted"));
        } else if ends - starts > 86_400_000 {
            expected.push((Some(Field::EndsAt), "window_too_long"));
        }
        expected.sort();
        let got = Validator::new(EpochMillis::try_from(now).unwrap()).validate(&raw).err().map(|d| codes(&d)).unwrap_or_default();
        prop_assert_eq!(got, expected, "starts {} ends {} now {}", starts, ends, now);
    }

    #[test]
    fn a_request_carries_1_to_500_records(len in prop_oneof![Just(0usize), Just(1), Just(500), Just(501), 0usize..5000]) {
        let expected = match len {
            0 => Err(BatchError::Empty),
            1..=500 => Ok(()),
            n => Err(BatchError::TooLarge(n)),
        };
        let got = check_batch_size(len);
        prop_assert_eq!(&got, &expected);
        if let Err(err) = got {
            let code = if len == 0 { Code::BatchEmpty } else { Code::BatchTooLarge };
            prop_assert_eq!(err.code(), code);
            prop_assert_eq!(err.to_diagnostic().field, None);
        }
    }
}

#[test]
fn batch_new_accepts_1_to_500_records() {
    let record = validator()
        .validate(&valid_record())
        .expect("the base record is valid");
    for (len, ok) in [
        (0, false),
        (1, true),
        (2, true),
        (499, true),
        (500, true),
        (501, false),
        (1000, false),
    ] {
        let batch = Batch::new(vec![record.clone(); len]);
        assert_eq!(batch.is_ok(), ok, "{len} records");
        if let Ok(batch) = batch {
            assert_eq!(batch.len(), len);
            assert_eq!(batch.to_request(Default::default()).call_records.len(), len);
        }
    }
}

#[test]
fn the_window_boundaries_by_example() {
    let at = |starts: i64, ends: i64, now: i64| {
        let mut raw = valid_record();
        raw.set(Field::StartsAt, Some(Scalar::Int(starts)));
        raw.set(Field::EndsAt, Some(Scalar::Int(ends)));
        Validator::new(EpochMillis::try_from(now).unwrap())
            .validate(&raw)
            .err()
            .map(|d| codes(&d))
            .unwrap_or_default()
    };
    let expired = vec![(Some(Field::EndsAt), "window_expired")];
    assert_eq!(at(NOW, NOW + DAY_MS, NOW), []);
    assert_eq!(
        at(NOW, NOW + DAY_MS + 1, NOW),
        [(Some(Field::EndsAt), "window_too_long")]
    );
    assert_eq!(at(NOW - 60_000, NOW, NOW), []);
    assert_eq!(at(NOW - 60_000, NOW - 1, NOW), expired);
    assert_eq!(
        at(NOW + 1, NOW + 1, NOW),
        [(Some(Field::EndsAt), "window_inverted")]
    );
}

//! Properties of whole records: validation never panics on any input, says something about
//! every record it rejects, reports each problem on a documented field, and reports *all* the
//! problems of a record at once.

mod common;

use common::*;
use proptest::prelude::*;
use tc_core::{
    CallRecord, Code, Diagnostic, EpochMillis, Field, RawRecord, Region, Scalar, Validator,
};

/// Any value a JSON or CSV reader can hand over, weighted towards the interesting ones.
fn any_scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<String>().prop_map(Scalar::Text),
        "[ +0-9()\\-.]{0,24}".prop_map(Scalar::Text),
        "\\PC{0,60}".prop_map(Scalar::Text),
        "[0-9]{9,16}".prop_map(Scalar::Text),
        any::<i64>().prop_map(Scalar::Int),
        (100_000_000_000i64..2_000_000_000_000).prop_map(Scalar::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Scalar::BigInt),
        any::<f64>().prop_map(Scalar::Float),
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            Just(1.5e12)
        ]
        .prop_map(Scalar::Float),
        any::<bool>().prop_map(Scalar::Bool),
        prop_oneof![Just("an array"), Just("an object")].prop_map(Scalar::Compound),
    ]
}

fn any_record() -> impl Strategy<Value = RawRecord> {
    prop::collection::vec(prop::option::weighted(0.8, any_scalar()), 7).prop_map(|values| {
        let mut raw = RawRecord::default();
        for (field, value) in Field::ALL.into_iter().zip(values) {
            raw.set(field, value);
        }
        raw
    })
}

fn any_region() -> impl Strategy<Value = Option<Region>> {
    prop::option::of(prop::sample::select(vec![
        "IN", "GB", "US", "DE", "BR", "JP",
    ]))
    .prop_map(|code| code.map(|c| c.parse::<Region>().expect("a known region")))
}

/// What a validated record promises, checked independently of how validation got there.
fn check_valid(record: &CallRecord, now: EpochMillis) -> Result<(), TestCaseError> {
    for number in [record.caller_number(), record.receiver_number()] {
        let s = number.as_str();
        let shape = s.len() >= 8
            && s.len() <= 16
            && s.starts_with('+')
            && s[1..].starts_with(|c: char| ('1'..='9').contains(&c))
            && s[1..].bytes().all(|b| b.is_ascii_digit());
        prop_assert!(shape, "`{}` is not E.164", s);
    }
    for text in [record.dynamic_label_name(), record.dynamic_call_reason()]
        .into_iter()
        .flatten()
    {
        prop_assert!(
            !text.contains(tc_core::rules::is_control_character)
                && !text.chars().all(tc_core::rules::is_invisible),
            "text {:?}",
            text
        );
    }
    if let Some(name) = record.dynamic_label_name() {
        prop_assert!(
            (3..=40).contains(&name.chars().count()) && name.trim() == name,
            "label `{}`",
            name
        );
    } else {
        prop_assert!(
            record.label_id().is_some(),
            "neither a label name nor a label id"
        );
    }
    if let Some(reason) = record.dynamic_call_reason() {
        prop_assert!((10..=100).contains(&reason.chars().count()) && reason.trim() == reason);
        prop_assert!(
            !reason.contains(tc_core::rules::CALL_REASON_FORBIDDEN),
            "reason `{}`",
            reason
        );
        let edges = [reason.chars().next(), reason.chars().next_back()];
        prop_assert!(edges
            .iter()
            .flatten()
            .all(|c| !tc_core::rules::CALL_REASON_NOT_AT_EDGES.contains(c)));
    }
    let (starts, ends) = (record.starts_at().as_i64(), record.ends_at().as_i64());
    prop_assert!(
        ends >= now.as_i64() && ends > starts && ends - starts <= 86_400_000,
        "{} {} {}",
        starts,
        ends,
        now.as_i64()
    );
    prop_assert!(starts >= 100_000_000_000);
    Ok(())
}

/// What every rejection promises: at least one diagnostic, each on a field the rules table
/// documents for its code, with a short message that says something.
fn check_rejected(diagnostics: &[Diagnostic]) -> Result<(), TestCaseError> {
    prop_assert!(!diagnostics.is_empty(), "rejected without a reason");
    for d in diagnostics {
        // Validation judges one record: whole-row and whole-batch codes belong to the reader
        // and the batcher.
        prop_assert!(
            !matches!(
                d.code,
                Code::RecordUnreadable | Code::BatchEmpty | Code::BatchTooLarge
            ),
            "{:?}",
            d
        );
        let field = d
            .field
            .ok_or_else(|| TestCaseError::fail(format!("no field on {d:?}")))?;
        let documented = &documented_fields()[d.code.as_str()];
        prop_assert!(
            documented.iter().any(|f| f == field.wire_name()),
            "`{}` on `{}` is not in docs/rules.md",
            d.code,
            field
        );
        if let Some(table_field) = d.code.info().field {
            prop_assert!(documented.iter().any(|f| f == table_field.wire_name()));
        }
        prop_assert!(!d.message.trim().is_empty());
    }
    prop_assert!(
        diagnostics.windows(2).all(|w| w[0].field <= w[1].field),
        "not in field order"
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn any_record_validates_or_says_why(
        raw in any_record(),
        now in 100_000_000_000i64..=253_402_300_799_999,
        region in any_region(),
    ) {
        let mut validator = Validator::new(EpochMillis::try_from(now).unwrap());
        if let Some(region) = region {
            validator = validator.with_default_region(region);
        }
        let result = validator.validate(&raw);
        // Pure: the same input gives the same answer.
        prop_assert_eq!(&result, &validator.validate(&raw));
        match &result {
            Ok(record) => check_valid(record, EpochMillis::try_from(now).unwrap())?,
            Err(diagnostics) => check_rejected(diagnostics)?,
        }
    }

    #[test]
    fn messages_stay_short_whatever_the_value(raw in any_record()) {
        if let Err(diagnostics) = Validator::new(EpochMillis::try_from(NOW).unwrap()).validate(&raw) {
            check_short_messages(&diagnostics)?;
        }
    }

    #[test]
    fn a_huge_cell_gives_a_short_message(cell in "\\PC{2000,4000}", field in prop::sample::select(Field::ALL.to_vec())) {
        let mut raw = valid_record();
        raw.set(field, text(&cell));
        if let Err(diagnostics) = Validator::new(EpochMillis::try_from(NOW).unwrap()).validate(&raw) {
            check_rejected(&diagnostics)?;
            check_short_messages(&diagnostics)?;
        }
    }
}

/// One bad cell must not flood a report: user text is cut short in messages.
fn check_short_messages(diagnostics: &[Diagnostic]) -> Result<(), TestCaseError> {
    for d in diagnostics {
        let chars = d.message.chars().count();
        prop_assert!(
            chars <= MAX_MESSAGE_CHARS,
            "{} characters: {}",
            chars,
            d.message
        );
    }
    Ok(())
}

/// Well above the longest fixed message text plus 40 characters of quoted user text.
const MAX_MESSAGE_CHARS: usize = 300;

/// One field's value and the codes it must cause on its own.
type Case = (Option<Scalar>, Vec<&'static str>);

fn phone_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        4 => valid_number().prop_map(|(cc, n)| (text(&format!("+{cc} {n}")), vec![])),
        1 => Just((None, vec!["missing_field"])),
        1 => Just((text("+91 98765 4321O"), vec!["phone_has_letters"])),
        1 => Just((text("+1 212 555 0100 x12"), vec!["phone_has_extension"])),
        1 => Just((text("+91*9876543210"), vec!["phone_invalid_characters"])),
        1 => Just((text("+999 1234567"), vec!["phone_invalid_country_code"])),
        1 => Just((text("+91 98"), vec!["phone_too_short"])),
        1 => Just((text("+91 01234 56789"), vec!["phone_invalid"])),
        1 => Just((Some(Scalar::Bool(true)), vec!["wrong_type"])),
    ]
}

fn label_name_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => (3usize..=40).prop_flat_map(text_of_len).prop_map(|t| (text(&t), vec![])),
        1 => Just((None, vec![])),
        1 => Just((text("ab"), vec!["label_name_too_short"])),
        1 => (41usize..=80).prop_flat_map(text_of_len).prop_map(|t| (text(&t), vec!["label_name_too_long"])),
        1 => Just((Some(Scalar::Int(7)), vec!["wrong_type"])),
    ]
}

fn label_id_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        Just((None, vec![])),
        Just((text("c6d86658-008d-4c08-98fb-2bf2649d59a5"), vec![])),
        Just((text("label-7"), vec!["label_id_not_uuid"])),
    ]
}

fn call_reason_case() -> impl Strategy<Value = Case> {
    prop_oneof![
        3 => (10usize..=100).prop_flat_map(text_of_len).prop_map(|t| (text(&t), vec![])),
        1 => Just((None, vec![])),
        1 => Just((text("Call me"), vec!["call_reason_too_short"])),
        1 => (101usize..=150).prop_flat_map(text_of_len).prop_map(|t| (text(&t), vec!["call_reason_too_long"])),
        1 => Just((text("Your order #12345 is ready"), vec!["call_reason_forbidden_character"])),
        1 => Just((text("Your order is ready."), vec!["call_reason_edge_punctuation"])),
        // Two problems in one field are both reported.
        1 => Just((text("Hi @ you."), vec!["call_reason_too_short", "call_reason_forbidden_character", "call_reason_edge_punctuation"])),
        1 => Just((Some(Scalar::Bool(false)), vec!["wrong_type"])),
    ]
}

/// A timestamp field: a usable time (milliseconds, and how it is written) or a broken value
/// with its code.
#[derive(Debug, Clone)]
enum Time {
    At(i64, Scalar),
    Broken(Option<Scalar>, &'static str),
}

fn time_case(at: i64) -> impl Strategy<Value = Time> {
    prop_oneof![
        4 => prop_oneof![Just(Scalar::Int(at)), Just(Scalar::Text(at.to_string())), Just(Scalar::Text(EpochMillis::try_from(at).unwrap().to_rfc3339()))]
            .prop_map(move |written| Time::At(at, written)),
        1 => Just(Time::Broken(None, "missing_field")),
        1 => Just(Time::Broken(Some(Scalar::Int(1_753_246_858)), "timestamp_in_seconds")),
        1 => Just(Time::Broken(text("tomorrow"), "timestamp_invalid")),
        1 => Just(Time::Broken(Some(Scalar::Compound("an array")), "wrong_type")),
    ]
}

fn window() -> impl Strategy<Value = (Time, Time)> {
    (
        -2 * DAY_MS..2 * DAY_MS,
        prop_oneof![
            Just(0i64),
            Just(DAY_MS),
            Just(DAY_MS + 1),
            -DAY_MS..2 * DAY_MS
        ],
    )
        .prop_flat_map(|(offset, length)| {
            (time_case(NOW + offset), time_case(NOW + offset + length))
        })
}

fn time_value(time: &Time) -> Option<Scalar> {
    match time {
        Time::At(_, written) => Some(written.clone()),
        Time::Broken(value, _) => value.clone(),
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn a_record_gets_all_its_problems_at_once(
        caller in phone_case(),
        receiver in phone_case(),
        name in label_name_case(),
        label_id in label_id_case(),
        reason in call_reason_case(),
        (starts, ends) in window(),
    ) {
        let mut raw = RawRecord::default();
        let mut expected = Vec::new();
        for (field, (value, codes)) in [
            (Field::CallerNumber, caller),
            (Field::ReceiverNumber, receiver),
            (Field::DynamicLabelName, name.clone()),
            (Field::LabelId, label_id.clone()),
            (Field::DynamicCallReason, reason),
        ] {
            raw.set(field, value);
            expected.extend(codes.into_iter().map(|c| (Some(field), c)));
        }
        if name.0.is_none() && label_id.0.is_none() {
            expected.push((Some(Field::DynamicLabelName), "label_name_required"));
        }
        raw.set(Field::StartsAt, time_value(&starts));
        raw.set(Field::EndsAt, time_value(&ends));
        for (field, time) in [(Field::StartsAt, &starts), (Field::EndsAt, &ends)] {
            if let Time::Broken(_, code) = time {
                expected.push((Some(field), *code));
            }
        }
        // The window is judged on what could be read: expiry needs ends_at, the rest both.
        if let Time::At(ends, _) = ends {
            if ends < NOW {
                expected.push((Some(Field::EndsAt), "window_expired"));
            }
            if let Time::At(starts, _) = starts {
                if ends <= starts {
                    expected.push((Some(Field::EndsAt), "window_inverted"));
                } else if ends - starts > DAY_MS {
                    expected.push((Some(Field::EndsAt), "window_too_long"));
                }
            }
        }
        expected.sort();
        let got = Validator::new(EpochMillis::try_from(NOW).unwrap()).validate(&raw).err().map(|d| codes(&d)).unwrap_or_default();
        prop_assert_eq!(got, expected);
    }
}

//! The three ways into validation agree: a record read from text, the same values given to the
//! typed builder, and the same values in a hand-built wire body get exactly the same answer,
//! valid record or diagnostics, because one set of rules judges all three.

mod common;

use common::*;
use proptest::prelude::*;
use tc_core::wire::CallRecordBody;
use tc_core::{CallRecord, EpochMillis, RawRecord, Region, Validator};

fn phone_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => valid_number().prop_map(|(cc, n)| format!("+{cc} {n}")),
        1 => valid_number().prop_map(|(_, n)| n),
        1 => "[ +0-9()\\-.xA-Z]{0,20}",
        1 => "\\PC{0,24}",
    ]
}

fn optional_text(max: usize) -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.8,
        prop_oneof![
            (0..=max).prop_flat_map(text_of_len),
            "\\PC{0,12}",
            Just("   ".to_owned()),
        ],
    )
}

fn label_id() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("c6d86658-008d-4c08-98fb-2bf2649d59a5".to_owned()),
        Just("C6D86658008D4C0898FB2BF2649D59A5".to_owned()),
        Just("label-7".to_owned()),
    ])
}

/// Two valid times around [`NOW`]; the window between them may be inverted, too long or passed.
fn times() -> impl Strategy<Value = (EpochMillis, EpochMillis)> {
    (-2 * DAY_MS..2 * DAY_MS, -DAY_MS..2 * DAY_MS).prop_map(|(offset, length)| {
        let starts = EpochMillis::try_from(NOW + offset).expect("a time near NOW");
        (starts, starts.plus(length))
    })
}

#[derive(Debug, Clone)]
struct Values {
    caller: String,
    receiver: String,
    name: Option<String>,
    reason: Option<String>,
    label_id: Option<String>,
    starts_at: EpochMillis,
    ends_at: EpochMillis,
}

fn values() -> impl Strategy<Value = Values> {
    (
        phone_text(),
        phone_text(),
        optional_text(45),
        optional_text(105),
        label_id(),
        times(),
    )
        .prop_map(
            |(caller, receiver, name, reason, label_id, (starts_at, ends_at))| Values {
                caller,
                receiver,
                name,
                reason,
                label_id,
                starts_at,
                ends_at,
            },
        )
}

fn as_text(v: &Values) -> RawRecord {
    let (starts, ends) = (v.starts_at.to_string(), v.ends_at.to_string());
    let mut fields = vec![
        ("caller_number", v.caller.as_str()),
        ("receiver_number", v.receiver.as_str()),
        ("starts_at", starts.as_str()),
        ("ends_at", ends.as_str()),
    ];
    for (name, value) in [
        ("dynamic_label_name", &v.name),
        ("dynamic_call_reason", &v.reason),
        ("label_id", &v.label_id),
    ] {
        if let Some(value) = value {
            fields.push((name, value.as_str()));
        }
    }
    RawRecord::from_text_fields(fields)
}

fn built(v: &Values, validator: &Validator) -> Result<CallRecord, tc_core::ValidationErrors> {
    let mut builder = CallRecord::builder(&v.caller, &v.receiver, v.starts_at, v.ends_at);
    if let Some(name) = &v.name {
        builder = builder.label_name(name);
    }
    if let Some(reason) = &v.reason {
        builder = builder.call_reason(reason);
    }
    if let Some(id) = &v.label_id {
        builder = builder.label_id(id);
    }
    builder.build(validator)
}

fn as_wire_body(v: &Values) -> CallRecordBody {
    CallRecordBody {
        caller_number: v.caller.clone(),
        receiver_number: v.receiver.clone(),
        dynamic_label_name: v.name.clone(),
        dynamic_call_reason: v.reason.clone(),
        label_id: v.label_id.clone(),
        starts_at: v.starts_at.as_i64(),
        ends_at: v.ends_at.as_i64(),
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn text_builder_and_wire_body_get_the_same_answer(v in values(), national in any::<bool>()) {
        let mut validator = Validator::new(EpochMillis::try_from(NOW).unwrap());
        if national {
            validator = validator.with_default_region("IN".parse::<Region>().unwrap());
        }
        let from_text = validator.validate(&as_text(&v));
        let from_builder = built(&v, &validator);
        let from_body = validator.validate(&RawRecord::from(&as_wire_body(&v)));
        prop_assert_eq!(&from_text, &from_builder);
        prop_assert_eq!(&from_text, &from_body);
    }
}

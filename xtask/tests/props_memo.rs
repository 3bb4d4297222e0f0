//! The caller memo gives the answer parsing again gives: for any sequence of written numbers and
//! regions, repeated or not, more distinct than the memo holds or not, and for whole records.

mod common;

use common::*;
use proptest::prelude::*;
use tc_core::{CallerMemo, EpochMillis, RawRecord, Region, Scalar, Validator, E164};

const REGIONS: [&str; 4] = ["IN", "GB", "US", "BR"];

fn any_region() -> impl Strategy<Value = Option<Region>> {
    prop::option::of(prop::sample::select(REGIONS.to_vec()))
        .prop_map(|c| c.map(|code| code.parse::<Region>().expect("a known region")))
}

/// A written number: valid ones in a few common forms, near misses, and arbitrary text.
fn written_number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (valid_number(), 0..4u8).prop_map(|((cc, national), form)| match form {
            0 => format!("+{cc} {national}"),
            1 => format!("00{cc}-{national}"),
            2 => format!("{cc}{national}"),
            _ => format!(" {national} "),
        }),
        2 => "[ +0-9()\\-.]{0,20}",
        1 => "[0-9]{6,12}[xO#][0-9]{0,3}",
        1 => any::<String>(),
    ]
}

/// A call of the memo: one of a small pool of numbers (so most calls repeat an earlier one) or a
/// fresh one, with one of the regions.
#[derive(Debug, Clone)]
enum Pick {
    Pooled(prop::sample::Index),
    Fresh(String),
}

fn calls() -> impl Strategy<Value = (Vec<String>, Vec<(Pick, Option<Region>)>)> {
    let pool = prop::collection::vec(written_number(), 1..12);
    let pick = prop_oneof![
        4 => any::<prop::sample::Index>().prop_map(Pick::Pooled),
        1 => written_number().prop_map(Pick::Fresh),
    ];
    let regions = prop_oneof![
        // Mostly one region per run, as a real run has; sometimes it changes on the way.
        3 => any_region().prop_map(|r| vec![r]),
        1 => prop::collection::vec(any_region(), 2..4),
    ];
    (
        pool,
        prop::collection::vec((pick, any::<prop::sample::Index>()), 0..120),
        regions,
    )
        .prop_map(|(pool, picks, regions)| {
            let calls = picks
                .into_iter()
                .map(|(pick, region)| (pick, regions[region.index(regions.len())]))
                .collect();
            (pool, calls)
        })
}

fn text_of<'a>(pick: &'a Pick, pool: &'a [String]) -> &'a str {
    match pick {
        Pick::Pooled(index) => &pool[index.index(pool.len())],
        Pick::Fresh(text) => text,
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_memo_answers_as_parsing_again_does((pool, calls) in calls()) {
        let mut memo = CallerMemo::new();
        for (pick, region) in &calls {
            let text = text_of(pick, &pool);
            prop_assert_eq!(
                memo.normalize(text, *region),
                E164::normalize(text, *region),
                "{:?} read in {:?}", text, region
            );
        }
    }

    #[test]
    fn a_record_checked_with_the_memo_gets_the_same_verdict(
        (pool, calls) in calls(),
        as_integer in any::<bool>(),
    ) {
        let mut memo = CallerMemo::new();
        for (pick, region) in &calls {
            let mut validator = Validator::new(EpochMillis::try_from(NOW).unwrap());
            if let Some(region) = region {
                validator = validator.with_default_region(*region);
            }
            let mut raw: RawRecord = valid_record();
            let text = text_of(pick, &pool);
            // A JSON export may give the caller as an integer; the memo sees its digits.
            let caller = match text.trim().parse::<i64>() {
                Ok(n) if as_integer => Scalar::Int(n),
                _ => Scalar::Text(text.to_owned()),
            };
            raw.caller_number = Some(caller);
            prop_assert_eq!(
                validator.validate_with_memo(&raw, &mut memo),
                validator.validate(&raw),
                "caller {:?} read in {:?}", text, region
            );
        }
    }
}

/// More distinct callers than the memo holds: it starts afresh and still answers right, and it
/// never grows past its bound.
#[test]
fn a_run_of_distinct_callers_stays_bounded_and_right() {
    let mut memo = CallerMemo::new();
    let region = "IN".parse::<Region>().ok();
    for i in 0..2_000u32 {
        let text = format!("+91 98{:08}", i * 7);
        assert_eq!(
            memo.normalize(&text, region),
            E164::normalize(&text, region)
        );
        assert!(memo.len() <= 256, "the memo grew to {}", memo.len());
    }
    // A clone carries what the original held, and its `Debug` output names no number.
    let clone = memo.clone();
    assert_eq!(clone.len(), memo.len());
    assert!(!format!("{clone:?}").contains('+'));
}

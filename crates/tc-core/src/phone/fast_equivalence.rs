//! The fast path against the library path, number by number: whenever the fast path answers,
//! the library gives the same E.164; and the fast path does answer for the common shapes, so a
//! change that quietly sends everything to the library fails here too.

use super::*;
use proptest::prelude::*;
use rlibphonenumber::PhoneNumberType;

/// What each path makes of `text` read in `region`, as `normalize` would call them after its
/// own checks; `None` for text `normalize` stops before either path.
struct Both {
    fast: Option<E164>,
    library: Result<E164, PhoneError>,
}

fn both(text: &str, region: Option<&str>) -> Option<Both> {
    let region = region.map(|r| r.parse::<Region>().expect("a known region"));
    let read = || {
        let cleaned = clean(text).ok()?;
        let national = !cleaned.is_international() && region.is_some();
        let length_ok = (2..=MAX_DIGITS).contains(&cleaned.digits().len());
        length_ok.then_some((cleaned, region.filter(|_| national)))
    };
    let (cleaned, region) = read()?;
    let fast = fast_path(cleaned, region).ok();
    let (cleaned, region) = read()?;
    let library = E164::library_path(&cleaned, region);
    Some(Both { fast, library })
}

/// Asserts soundness for one text; says whether the fast path answered.
fn fast_agrees(text: &str, region: Option<&str>) -> bool {
    let Some(Both { fast, library }) = both(text, region) else {
        return false;
    };
    if let Some(fast) = &fast {
        assert_eq!(
            Ok(fast),
            library.as_ref(),
            "the fast path read {text:?} in {region:?} as {fast}, the library did not"
        );
    }
    fast.is_some()
}

fn digits(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(0..10u8, len)
        .prop_map(|ds| ds.into_iter().map(|d| char::from(b'0' + d)).collect())
}

/// A calling code that exists, with a region that has it (for national forms).
fn calling_code() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("91", "IN"),
        ("44", "GB"),
        ("1", "US"),
        ("1", "CA"),
        ("1", "JM"),
        ("7", "RU"),
        ("7", "KZ"),
        ("49", "DE"),
        ("39", "IT"),
        ("33", "FR"),
        ("55", "BR"),
        ("81", "JP"),
        ("61", "AU"),
        ("971", "AE"),
        ("966", "SA"),
        ("880", "BD"),
        ("92", "PK"),
        ("62", "ID"),
        ("86", "CN"),
        ("234", "NG"),
        ("358", "FI"),
        ("262", "RE"),
        ("590", "GP"),
        ("47", "NO"),
        ("290", "SH"),
        ("800", "IN"),
        ("212", "MA"),
        ("599", "CW"),
        ("61", "CC"),
        ("44", "JE"),
        ("47", "SJ"),
        ("358", "AX"),
    ])
}

/// National numbers of the common shapes, and of none, written in the ways people write them.
fn written_number() -> impl Strategy<Value = (String, Option<&'static str>)> {
    let indian = (
        "[6-9][0-9]{9}",
        prop::sample::select(vec!["+91", "0091", "91", "0", ""]),
    );
    let british = (
        "(7[0-9]{9}|20[0-9]{8}|161[0-9]{7}|1[0-9]{9}|[0-9]{9,11})",
        prop::sample::select(vec!["+44", "0044", "0", ""]),
    );
    let american = (
        "[2-9][0-9]{2}[2-9][0-9]{6}",
        prop::sample::select(vec!["+1", "001", "1", ""]),
    );
    prop_oneof![
        indian.prop_map(|(n, p)| (format!("{p}{n}"), Some("IN"))),
        british.prop_map(|(n, p)| (format!("{p} {n}"), Some("GB"))),
        american.prop_map(|(n, p)| (format!("{p}{n}"), Some("US"))),
        (
            calling_code(),
            digits(0..=16),
            prop::sample::select(vec!["+", "00", ""])
        )
            .prop_map(|((cc, _), n, p)| (format!("{p}{cc}{n}"), None)),
        (calling_code(), digits(1..=15), "0{0,3}")
            .prop_map(|((_, region), n, zeros)| (format!("{zeros}{n}"), Some(region))),
        (calling_code(), digits(1..=15), "0{0,3}")
            .prop_map(|((cc, _), n, zeros)| (format!("+{cc}{zeros}{n}"), None)),
    ]
    .prop_flat_map(|(text, region)| {
        (Just(text), prop::option::weighted(0.8, Just(region)))
            .prop_map(|(text, region)| (text, region.flatten()))
    })
}

/// Every region's example numbers: calling code, national significant number, region.
fn examples() -> &'static [(i32, String, String)] {
    static EXAMPLES: std::sync::OnceLock<Vec<(i32, String, String)>> = std::sync::OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let mut out = Vec::new();
        for region in PHONE_NUMBER_UTIL.get_supported_regions() {
            for kind in TYPES {
                if let Ok(n) =
                    PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, kind)
                {
                    let nsn = rlibphonenumber::get_national_significant_number_owned(&n);
                    out.push((
                        n.country_code,
                        nsn,
                        region.as_region_str().as_str().to_owned(),
                    ));
                }
            }
        }
        out
    })
}

/// A real number's first digits with random ones after: the neighbourhood where the patterns
/// of regions sharing a code, their leading digits and their lengths decide.
fn near_an_example() -> impl Strategy<Value = (String, Option<String>)> {
    (
        any::<prop::sample::Index>(),
        0..8usize,
        digits(0..=9),
        any::<bool>(),
    )
        .prop_map(|(pick, keep, tail, in_region)| {
            let (cc, nsn, region) = pick.get(examples());
            let head = &nsn[..keep.min(nsn.len())];
            if in_region {
                (format!("{head}{tail}"), Some(region.clone()))
            } else {
                (format!("+{cc}{head}{tail}"), None)
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn what_the_fast_path_answers_the_library_answers((text, region) in written_number()) {
        fast_agrees(&text, region);
    }

    #[test]
    fn numbers_near_real_ones_agree((text, region) in near_an_example()) {
        fast_agrees(&text, region.as_deref());
    }
}

/// A tiny generator, so the hit-rate sample is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn digit(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % 10) as u8
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + self.digit()))
            .collect()
    }

    /// One of `choices`, such as the first digit of a mobile number.
    fn one_of(&mut self, choices: &str) -> char {
        let choices = choices.as_bytes();
        char::from(choices[usize::from(self.digit()) % choices.len()])
    }
}

/// Of the numbers in `sample` the library accepts, the share the fast path answered.
fn hit_rate(sample: impl Iterator<Item = (String, Option<&'static str>)>) -> f64 {
    let (mut valid, mut fast) = (0u32, 0u32);
    for (text, region) in sample {
        let library_accepts = both(&text, region).is_some_and(|b| b.library.is_ok());
        if library_accepts {
            valid += 1;
            fast += u32::from(fast_agrees(&text, region));
        }
    }
    assert!(valid > 500, "the sample has only {valid} valid numbers");
    f64::from(fast) / f64::from(valid)
}

#[test]
fn the_fast_path_takes_most_common_valid_numbers() {
    let mut rng = Lcg(20_250_723);
    type Shape = fn(&mut Lcg) -> String;
    let shapes: [(&str, Shape, Option<&'static str>); 13] = [
        (
            "+91 mobile",
            |r| format!("+91{}{}", r.one_of("6789"), r.digits(9)),
            None,
        ),
        (
            "IN national mobile",
            |r| format!("{}{}", r.one_of("6789"), r.digits(9)),
            Some("IN"),
        ),
        ("+44 mobile", |r| format!("+447{}", r.digits(9)), None),
        ("+44 London", |r| format!("+4420{}", r.digits(8)), None),
        (
            "+1 New York",
            |r| format!("+1212{}{}", r.one_of("23456789"), r.digits(6)),
            None,
        ),
        (
            "+1 San Francisco",
            |r| format!("+1415{}{}", r.one_of("23456789"), r.digits(6)),
            None,
        ),
        (
            "US national",
            |r| format!("646{}{}", r.one_of("23456789"), r.digits(6)),
            Some("US"),
        ),
        (
            "GB national mobile",
            |r| format!("7{}", r.digits(9)),
            Some("GB"),
        ),
        (
            "IN national mobile with its trunk 0",
            |r| format!("0{}{}", r.one_of("6789"), r.digits(9)),
            Some("IN"),
        ),
        (
            "GB national mobile with its trunk 0",
            |r| format!("07{}", r.digits(9)),
            Some("GB"),
        ),
        (
            "+44 (0) London",
            |r| format!("+44 (0)20 {}", r.digits(8)),
            None,
        ),
        (
            "US national with its trunk 1",
            |r| format!("1 212 {}{}", r.one_of("23456789"), r.digits(6)),
            Some("US"),
        ),
        // The library weighs reading these as +91 and eight digits, and keeps all ten.
        (
            "IN national mobile starting 91",
            |r| format!("91{}", r.digits(8)),
            Some("IN"),
        ),
    ];
    for (name, shape, region) in shapes {
        let sample: Vec<_> = (0..1000).map(|_| (shape(&mut rng), region)).collect();
        let rate = hit_rate(sample.into_iter());
        assert!(
            rate > 0.9,
            "the fast path answered only {:.0}% of valid {name} numbers",
            rate * 100.0
        );
    }
}

const TYPES: [PhoneNumberType; 11] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::FixedLineOrMobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::PremiumRate,
    PhoneNumberType::SharedCost,
    PhoneNumberType::VoIP,
    PhoneNumberType::PersonalNumber,
    PhoneNumberType::Pager,
    PhoneNumberType::UAN,
    PhoneNumberType::VoiceMail,
];

/// The national number, with its last digit changed, with a digit more and with one fewer.
fn variants(nsn: &str) -> Vec<String> {
    let mut out = vec![nsn.to_owned(), format!("{nsn}5"), format!("{nsn}0")];
    if let Some((last_at, last)) = nsn.char_indices().last() {
        let head = &nsn[..last_at];
        out.push(head.to_owned());
        let changed = (last.to_digit(10).unwrap_or(0) + 1) % 10;
        out.push(format!("{head}{changed}"));
    }
    out
}

#[test]
fn every_regions_example_numbers_and_their_neighbours_agree() {
    let (mut checked, mut answered) = (0u32, 0u32);
    for region in PHONE_NUMBER_UTIL.get_supported_regions() {
        let code = region.as_region_str().as_str().to_owned();
        for kind in TYPES {
            let Ok(example) =
                PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, kind)
            else {
                continue;
            };
            let nsn = rlibphonenumber::get_national_significant_number_owned(&example);
            let cc = example.country_code;
            for national in variants(&nsn) {
                for (text, read_in) in [
                    (format!("+{cc}{national}"), None),
                    (national.clone(), Some(code.as_str())),
                    (format!("+{cc}{national}"), Some(code.as_str())),
                ] {
                    checked += 1;
                    answered += u32::from(fast_agrees(&text, read_in));
                }
            }
        }
    }
    eprintln!("examples: fast answered {answered} of {checked}");
    assert!(
        checked > 5000,
        "only {checked} example numbers were checked"
    );
    assert!(
        answered > checked / 4,
        "the fast path answered only {answered} of {checked}"
    );
}

#[test]
fn matchers_of_the_common_countries_stay_small() {
    // A path of its own: the shared one holds whatever other tests compiled.
    let fast = Box::new(fast::FastPath::new(region_rules));
    for digits in ["919876543210", "447911123456", "12125550100"] {
        let accepted = fast.international(digits);
        assert_eq!(accepted, Some(fast::Accepted::AsWritten), "+{digits}");
    }
    let bytes = fast.compiled_bytes();
    eprintln!("the matchers of IN, GB and US take {bytes} bytes");
    assert!(
        bytes < 1 << 20,
        "the matchers of IN, GB and US take {bytes} bytes"
    );
}

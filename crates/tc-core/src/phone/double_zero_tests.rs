//! A leading `00` with a default region, against the library's two readings of it: `00` as the
//! international prefix (the digits after it, as after `+`) and the region's own reading of all
//! the digits. One valid reading is the number; two different valid ones are refused.

use super::*;
use rlibphonenumber::PhoneNumberType;

/// The library's valid reading of `text`, as E.164; national in `region` when there is one.
fn library_reading(text: &str, region: Option<Region>) -> Option<String> {
    let number = PHONE_NUMBER_UTIL.parse(text, region.map(|r| r.0)).ok()?;
    let e164 = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164);
    let valid = PHONE_NUMBER_UTIL.is_valid_number(&number) && is_e164_shape(&e164);
    valid.then(|| e164.into_owned())
}

/// What `normalize` must answer for `written` (ASCII digits after a `00`, with separators)
/// in `region`: `Ok` with the number, `Err` with the code.
fn expected(written: &str, region: Region) -> Result<String, Code> {
    let digits: String = written.chars().filter(char::is_ascii_digit).collect();
    let after_00 = &digits[2..];
    // A country code never starts with 0: then only the region's reading is left.
    let international = (!after_00.starts_with('0'))
        .then(|| library_reading(&format!("+{after_00}"), None))
        .flatten();
    let national = library_reading(&digits, Some(region));
    match (international, national) {
        (Some(i), Some(n)) if i != n => Err(Code::PhoneAmbiguousPrefix),
        (Some(number), _) | (None, Some(number)) => Ok(number),
        (None, None) => Err(Code::PhoneInvalid),
    }
}

const TYPES: [PhoneNumberType; 10] = [
    PhoneNumberType::FixedLine,
    PhoneNumberType::Mobile,
    PhoneNumberType::TollFree,
    PhoneNumberType::PremiumRate,
    PhoneNumberType::SharedCost,
    PhoneNumberType::VoIP,
    PhoneNumberType::PersonalNumber,
    PhoneNumberType::Pager,
    PhoneNumberType::UAN,
    PhoneNumberType::VoiceMail,
];

/// Each region's example numbers written with `00`: its own in national form when that starts
/// with `00`, and every example of a few busy countries as `00`, code and number.
fn written_with_00(region: rlibphonenumber::Region) -> Vec<String> {
    let mut written = Vec::new();
    for kind in TYPES {
        if let Ok(n) = PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, kind) {
            let national = PHONE_NUMBER_UTIL.format(&n, PhoneNumberFormat::National);
            if national.trim_start().starts_with("00") {
                written.push(national.into_owned());
            }
        }
    }
    for abroad in ["IN", "GB", "US", "RU", "DE", "ID", "BR", "NG"] {
        let abroad = abroad.parse::<Region>().expect("a known region").0;
        for kind in TYPES {
            if let Ok(n) = PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(abroad, kind) {
                let nsn = rlibphonenumber::get_national_significant_number_owned(&n);
                written.push(format!("00 {} {nsn}", n.country_code));
            }
        }
    }
    written
}

#[test]
fn a_leading_00_gives_the_one_valid_reading_and_refuses_two() {
    let (mut checked, mut ambiguous) = (0u32, 0u32);
    let mut wrong = Vec::new();
    for region in PHONE_NUMBER_UTIL.get_supported_regions() {
        let default = Region(region);
        for written in written_with_00(region) {
            let want = expected(&written, default);
            let got = E164::normalize(&written, Some(default));
            let got = got.as_ref().map(|n| n.as_str().to_owned());
            let agrees = match (&want, &got) {
                (Ok(want), Ok(got)) => want == got,
                (Err(Code::PhoneAmbiguousPrefix), Err(err)) => {
                    err.code() == Code::PhoneAmbiguousPrefix
                }
                // Neither reading is valid: any refusal but the ambiguous one.
                (Err(_), Err(err)) => err.code() != Code::PhoneAmbiguousPrefix,
                _ => false,
            };
            checked += 1;
            ambiguous += u32::from(want == Err(Code::PhoneAmbiguousPrefix));
            if !agrees {
                wrong.push(format!(
                    "`{written}` in {default}: {got:?}, expected {want:?}"
                ));
            }
        }
    }
    eprintln!("00 readings: {checked} checked, {ambiguous} ambiguous");
    assert!(checked > 10_000, "only {checked} numbers were checked");
    assert!(
        ambiguous > 0,
        "no number had two readings: the test checks nothing"
    );
    assert!(
        wrong.is_empty(),
        "{} of {checked} numbers written with 00 disagree with the library's readings:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

fn norm(written: &str, region: Option<&str>) -> Result<String, PhoneError> {
    let region = region.map(|r| r.parse::<Region>().expect("a known region"));
    E164::normalize(written, region).map(|n| n.as_str().to_owned())
}

#[test]
fn an_indonesian_toll_free_number_is_not_silently_read_as_a_russian_one() {
    // Indonesia's international prefix is 008 or 009, not 00: 007803 opens its toll-free
    // numbers, while 00 as a prefix makes +7 803..., a Russian number.
    let err = norm("00 7803 025 1580", Some("ID")).unwrap_err();
    assert_eq!(err.code(), Code::PhoneAmbiguousPrefix, "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("+78030251580") && message.contains("+620078030251580"),
        "{message}"
    );
    // Written in E.164, either is read as written.
    assert_eq!(
        norm("+7 803 025 1580", Some("ID")).as_deref(),
        Ok("+78030251580")
    );
    assert_eq!(
        norm("+62 007803 025 1580", Some("ID")).as_deref(),
        Ok("+620078030251580")
    );
    // One valid reading is the number: Indonesia's own prefix 009 would make +1 987..., no
    // number, so 0091 is India's +91.
    assert_eq!(
        norm("0091 98765 43210", Some("ID")).as_deref(),
        Ok("+919876543210")
    );
}

#[test]
fn an_indian_000_800_number_is_read_in_india_only() {
    // 000 800 opens India's international toll-free numbers: valid for the phone library when
    // read in India, and no country code after a 00 without a region.
    assert_eq!(
        norm("000 800 934 7131", Some("IN")).as_deref(),
        Ok("+910008009347131")
    );
    assert_eq!(
        norm("000 800 934 7131", None),
        Err(PhoneError::InvalidCountryCode)
    );
    // In a region where it is no number, it stays refused.
    let err = norm("000 800 934 7131", Some("GB")).unwrap_err();
    assert_eq!(err.code(), Code::PhoneInvalidCountryCode, "{err:?}");
}

#[test]
fn a_region_said_to_dial_out_reads_00_as_plus_does() {
    // Numbers of busy countries after the 00, and one starting 0 (never a prefix).
    let after_00 = [
        "919876543210",
        "447911123456",
        "12125550100",
        "78030251580",
        "4915123456789",
        "9921234567",
        "08009347131",
    ];
    let mut dialling_out = 0u32;
    for region in PHONE_NUMBER_UTIL.get_supported_regions() {
        let default = Region(region);
        for digits in after_00 {
            if !default.dials_out(digits) {
                continue;
            }
            dialling_out += 1;
            let as_plus = PHONE_NUMBER_UTIL.parse(format!("+{digits}"), None).ok();
            let as_00 = PHONE_NUMBER_UTIL
                .parse(format!("00{digits}"), Some(region))
                .ok();
            assert_eq!(as_00, as_plus, "00{digits} in {default}");
        }
    }
    // Most regions' international prefix is 00: those stay on the one reading.
    assert!(
        dialling_out > 150 * 6,
        "only {dialling_out} took the shortcut"
    );
    for (region, digits) in [("IN", "919876543210"), ("GB", "447911123456")] {
        let region = region.parse::<Region>().expect("a known region");
        assert!(region.dials_out(digits), "{region}");
    }
    for (region, digits) in [
        ("ID", "78030251580"),
        ("US", "447911123456"),
        ("IN", "08009347131"),
    ] {
        let region = region.parse::<Region>().expect("a known region");
        assert!(!region.dials_out(digits), "{region}");
    }
}

//! Properties of phone-number normalisation: never a panic, always E.164 out, idempotent, the
//! same number whichever common way it is written, and letters never read as digits.

mod common;

use common::*;
use proptest::prelude::*;
use tc_core::{Code, Region, E164};

const REGIONS: [&str; 6] = ["IN", "GB", "US", "DE", "BR", "JP"];

fn region(code: &str) -> Region {
    code.parse::<Region>().expect("a known region")
}

fn any_region() -> impl Strategy<Value = Option<Region>> {
    prop::option::of(prop::sample::select(REGIONS.to_vec())).prop_map(|c| c.map(region))
}

/// `^\+[1-9][0-9]{6,14}$`, written out so the test does not trust tc-core's own check.
fn is_e164(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or("");
    s.starts_with('+')
        && (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Text that looks like a phone number, or nearly: digits of several scripts, separators,
/// stray symbols and letters.
fn phoneish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::char::range('0', '9'),
            1 => prop::sample::select(vec![' ', '-', '.', '(', ')', '/', '+', '＋', '\u{A0}', '#', ',', ';', 'x', 'e', 'O', '*', '９', '४', '٣', '~']),
        ],
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Digits of the same value in another script: ASCII, full-width, Devanagari, Arabic-Indic.
fn in_script(digit: char, script: u8) -> char {
    let zero = match script {
        0 => return digit,
        1 => 0xFF10,
        2 => 0x966,
        _ => 0x660,
    };
    char::from_u32(zero + digit.to_digit(10).unwrap_or(0)).unwrap_or(digit)
}

/// A written form of `+{cc}{national}`: an international prefix (`+`, full-width `＋`, `00`,
/// or none for a bare digit string), separators between any digits, optional brackets around
/// the country code, digits of one script, and surrounding white space.
#[derive(Debug, Clone)]
struct Writing {
    prefix: u8,
    separators: Vec<&'static str>,
    bracket_country_code: bool,
    script: u8,
    padding: (String, String),
}

fn writing() -> impl Strategy<Value = Writing> {
    (
        0..4u8,
        prop::collection::vec(
            prop::sample::select(vec!["", "", "", " ", "-", ".", "/", " - ", "\u{A0}"]),
            20,
        ),
        any::<bool>(),
        0..4u8,
        (padding(), padding()),
    )
        .prop_map(
            |(prefix, separators, bracket_country_code, script, padding)| Writing {
                prefix,
                separators,
                bracket_country_code,
                script,
                padding,
            },
        )
}

impl Writing {
    /// Whether the written form says it is international (so any default region reads it alike).
    fn is_international(&self) -> bool {
        self.prefix != 3
    }

    fn write(&self, cc: &str, national: &str) -> String {
        let digits = |s: &str, from: usize| -> String {
            let mut out = String::new();
            for (i, d) in s.chars().enumerate() {
                if i > 0 {
                    out.push_str(self.separators[(from + i) % self.separators.len()]);
                }
                out.push(in_script(d, self.script));
            }
            out
        };
        let prefix = match self.prefix {
            0 => "+".to_owned(),
            1 => "＋".to_owned(),
            2 => digits("00", 0),
            _ => String::new(),
        };
        let country = format!("{prefix}{}", digits(cc, 0));
        let country = if self.bracket_country_code {
            format!("({country})")
        } else {
            country
        };
        format!(
            "{}{country} {}{}",
            self.padding.0,
            digits(national, cc.len()),
            self.padding.1
        )
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn any_text_normalises_or_is_rejected_without_panic(
        input in prop_oneof![any::<String>(), phoneish(), "\\+?[0-9]{0,20}"],
        region in any_region(),
    ) {
        match E164::normalize(&input, region) {
            Ok(number) => {
                prop_assert!(is_e164(number.as_str()), "`{}` -> `{}`", input, number);
                // Idempotent: the output reads back as itself, whatever the default region.
                prop_assert_eq!(E164::normalize(number.as_str(), None), Ok(number.clone()));
                prop_assert_eq!(E164::normalize(number.as_str(), Some(region_for(&input))), Ok(number.clone()));
                // The older documentation's digits-only form reads back as the same number.
                prop_assert_eq!(E164::normalize(number.digits(), None), Ok(number.clone()));
            }
            Err(err) => {
                let code = err.code();
                let phone_code = matches!(
                    code,
                    Code::MissingField | Code::PhoneScientificNotation | Code::PhoneHasLetters | Code::PhoneHasExtension | Code::PhoneInvalidCharacters
                        | Code::PhoneInvalidCountryCode | Code::PhoneTooShort | Code::PhoneTooLong | Code::PhoneInvalid
                        | Code::PhoneAmbiguousPrefix
                );
                prop_assert!(phone_code, "`{}`: {:?}", input, err);
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    #[test]
    fn a_number_a_spreadsheet_wrote_in_scientific_notation_is_named_so(
        first in 1u8..=9,
        fraction in "[0-9]{0,9}",
        separator in prop::sample::select(vec!['.', ',']),
        marker in prop::sample::select(vec!["E+", "e+", "E", "e"]),
        exponent in 6u8..=16,
        region in any_region(),
    ) {
        let written = if fraction.is_empty() {
            format!("{first}{marker}{exponent}")
        } else {
            format!("{first}{separator}{fraction}{marker}{exponent}")
        };
        let err = E164::normalize(&written, region).unwrap_err();
        prop_assert_eq!(err.code(), Code::PhoneScientificNotation, "`{}`", written);
        let message = err.to_string();
        prop_assert!(message.contains("scientific notation") && !message.contains("typo"), "{}", message);
    }

    #[test]
    fn a_valid_number_written_any_common_way_gives_the_same_e164(
        (cc, national) in valid_number(),
        writing in writing(),
        region in any_region(),
    ) {
        let expected = format!("+{cc}{national}");
        let written = writing.write(cc, &national);
        // Without a default region every form is read as country code plus number; with one,
        // only the international forms are (a bare digit string is then a national number).
        let region = if writing.is_international() { region } else { None };
        let got = E164::normalize(&written, region);
        prop_assert_eq!(got.as_ref().map(E164::as_str), Ok(expected.as_str()), "written `{}`", written);
    }

    #[test]
    fn a_national_number_with_its_region_gives_the_same_e164(
        (cc, national) in valid_number(),
        writing in writing(),
    ) {
        // The national forms: a trunk 0 in India and the UK, the bare ten digits in the US.
        let (code, trunk) = match cc {
            "91" => ("IN", "0"),
            "44" => ("GB", "0"),
            _ => ("US", ""),
        };
        let mut plain = writing.clone();
        plain.prefix = 3;
        let written = plain.write("", &format!("{trunk}{national}"));
        let got = E164::normalize(&written, Some(region(code)));
        let expected = format!("+{cc}{national}");
        prop_assert_eq!(got.as_ref().map(E164::as_str), Ok(expected.as_str()), "written `{}` in {}", written, code);
    }

    #[test]
    fn a_letter_anywhere_in_a_number_is_rejected(
        (cc, national) in valid_number(),
        writing in writing(),
        letter in prop_oneof![
            prop::char::range('a', 'z'),
            prop::char::range('A', 'Z'),
            prop::sample::select(vec!['O', 'o', 'l', 'I', 'Ｏ', 'ｌ', 'क', 'ö', 'Ω', 'ж', 'x', 'X', 'e', 'E']),
            // Letters of other scripts: Greek, Cyrillic, Arabic, Devanagari, CJK, Hangul and
            // full-width Latin.
            prop::char::ranges(
                vec!['α'..='ω', 'а'..='я', 'ب'..='ي', 'क'..='ह', '一'..='龥', '가'..='힣', 'Ａ'..='Ｚ'].into()
            ),
        ],
        at in any::<prop::sample::Index>(),
        region in any_region(),
    ) {
        let written = writing.write(cc, &national);
        let chars: Vec<char> = written.chars().collect();
        let at = at.index(chars.len() + 1);
        let typo: String = chars[..at].iter().chain([letter].iter()).chain(chars[at..].iter()).collect();
        let before_any_digit = !chars[..at].iter().any(|c| c.is_numeric());
        let err = E164::normalize(&typo, region).map(|n| n.to_string());
        let code = err.as_ref().map_err(|e| e.code());
        // A letter after the digits may read as an extension marker (`x12`): rejected either way.
        let rejected = matches!(code, Err(Code::PhoneHasLetters))
            || (!before_any_digit && matches!(code, Err(Code::PhoneHasExtension)));
        prop_assert!(rejected, "`{}` gave {:?}", typo, err);
    }
}

/// A region derived from the input, so idempotence is checked under varied regions.
fn region_for(input: &str) -> Region {
    region(REGIONS[input.len() % REGIONS.len()])
}

//! Written phone numbers to E.164, following the project's phone decisions (docs/rules.md,
//! "Phone numbers").
//!
//! The parsing library stays behind this module: nothing else in the workspace names it, so it
//! can be swapped. Input is reduced to an optional `+` and ASCII digits before the library sees
//! it, which both pins down our own decisions (letters, extensions, `00`) and keeps arbitrary
//! text away from the library.

#[cfg(test)]
mod double_zero_tests;
mod fast;
#[cfg(test)]
mod fast_equivalence;

use crate::rules::{Code, PHONE_DIGIT_ZEROS, PHONE_MAX_DIGITS, PHONE_MIN_DIGITS, PHONE_SEPARATORS};
use rlibphonenumber::{ParseError, PhoneNumberFormat, ValidationError, PHONE_NUMBER_UTIL};
use std::fmt;
use std::str::FromStr;

/// The library's decision without its per-call costs, for the numbers whose reading it can
/// replicate exactly (see `fast.rs`); every other number goes to the library.
static FAST: fast::FastPath<rlibphonenumber::Region> = fast::FastPath::new(region_rules);

/// A phone number in E.164 form: `+`, a country code and the national number, at most 15 digits.
/// Only [`E164::normalize`] builds one, so holding one means the number is valid for its country.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct E164(String);

/// A default region (ISO 3166 alpha-2, such as `IN`) for numbers written in national form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(rlibphonenumber::Region);

/// Why a written number is not a phone number we will send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PhoneError {
    /// Nothing but blanks.
    Empty,
    /// `9.19877E+11`: a spreadsheet turned the number into scientific notation, losing digits.
    ScientificNotation,
    /// A letter, which is never read as a digit.
    HasLetters,
    /// An extension (`x12`, `ext. 12`), which cannot receive the call.
    HasExtension,
    /// A character that is neither a digit nor a separator people write.
    InvalidCharacter(char),
    /// A country code that does not exist.
    InvalidCountryCode,
    /// Too few digits for the country.
    TooShort {
        /// Read in national form, with the default region: a missing `+` is the likeliest fix.
        national: bool,
    },
    /// Too many digits for the country.
    TooLong {
        /// Read in national form, with the default region.
        national: bool,
    },
    /// The right length, but no number of the country's plan.
    Invalid {
        /// Read in national form, with the default region.
        national: bool,
    },
    /// Written with `00` in a region whose own reading of the digits is another valid number
    /// than `00` as the international prefix gives (`00 7803 025 1580` in Indonesia, where
    /// `007803` opens toll-free numbers): neither is likelier, so neither is chosen.
    AmbiguousPrefix {
        /// The number with `00` as the international prefix.
        international: E164,
        /// The number as the region reads all the digits, `00` included.
        national: E164,
        /// The default region the number was read in.
        region: Region,
    },
}

/// Most digits a written number may hold after its `+` or `00` (or in all, with neither).
const MAX_DIGITS: usize = PHONE_MAX_DIGITS;

impl E164 {
    /// Normalises a written number. `region` is how numbers without `+` or `00` are read; without
    /// it such a number is read as country code plus number (`919876543210` is `+919876543210`).
    /// A number written with `00` is read with `00` as the international prefix, unless `region`
    /// reads its digits otherwise (see [`PhoneError::AmbiguousPrefix`]).
    ///
    /// # Errors
    ///
    /// A [`PhoneError`] saying why the text is not a valid number of its country, with the
    /// fix when there is a likely one.
    pub fn normalize(input: &str, region: Option<Region>) -> Result<E164, PhoneError> {
        let cleaned = clean(input)?;
        let national = !cleaned.is_international() && region.is_some();
        let digits = cleaned.digits();
        if digits.len() < PHONE_MIN_DIGITS {
            return Err(PhoneError::TooShort { national });
        }
        if digits.len() > MAX_DIGITS {
            return Err(PhoneError::TooLong { national });
        }
        match region {
            Some(region) if cleaned.prefix == Prefix::DoubleZero && !region.dials_out(digits) => {
                E164::either_reading(cleaned, region)
            }
            _ => E164::read(cleaned, region.filter(|_| national)),
        }
    }

    /// The fast path's reading of `cleaned` when it is sure of it, else the library's: national
    /// in `region` when there is one.
    fn read(cleaned: Cleaned, region: Option<Region>) -> Result<E164, PhoneError> {
        match fast_path(cleaned, region) {
            Ok(e164) => Ok(e164),
            Err(cleaned) => E164::library_path(&cleaned, region),
        }
    }

    /// `00` and `cleaned`'s digits, in a `region` that may not take that `00` for its
    /// international prefix: the one valid reading of the two, `00` as the international prefix
    /// or the region's own; two different valid readings are refused, as neither is likelier.
    /// With none, the error is the international reading's, as where `00` is the prefix.
    fn either_reading(cleaned: Cleaned, region: Region) -> Result<E164, PhoneError> {
        let as_national = E164::read(cleaned.with_00_as_digits(), Some(region));
        match (E164::read(cleaned, None), as_national) {
            (Ok(international), Ok(national)) if international != national => {
                Err(PhoneError::AmbiguousPrefix {
                    international,
                    national,
                    region,
                })
            }
            (Ok(number), _) | (Err(_), Ok(number)) => Ok(number),
            (Err(err), Err(_)) => Err(err),
        }
    }

    /// The phone library's reading of `cleaned`: national in `region` when there is one.
    fn library_path(cleaned: &Cleaned, region: Option<Region>) -> Result<E164, PhoneError> {
        let national = region.is_some();
        let digits = cleaned.digits();
        let parsed = if national {
            PHONE_NUMBER_UTIL.parse(digits, region.map(|r| r.0))
        } else {
            PHONE_NUMBER_UTIL.parse(cleaned.with_plus.as_str(), None)
        };
        let number = parsed.map_err(|e| match e {
            ParseError::InvalidCountryCode => PhoneError::InvalidCountryCode,
            ParseError::TooShortAfterIdd | ParseError::TooShortNsn => {
                PhoneError::TooShort { national }
            }
            ParseError::TooLongNsn => PhoneError::TooLong { national },
            ParseError::NotANumber(_) => PhoneError::Invalid { national },
        })?;
        if !PHONE_NUMBER_UTIL.is_valid_number(&number) {
            return Err(
                match PHONE_NUMBER_UTIL.is_possible_number_with_reason(&number) {
                    Err(ValidationError::InvalidCountryCode) => PhoneError::InvalidCountryCode,
                    Err(ValidationError::TooShort) => PhoneError::TooShort { national },
                    Err(ValidationError::TooLong) => PhoneError::TooLong { national },
                    _ => PhoneError::Invalid { national },
                },
            );
        }
        let e164 = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164);
        if !is_e164_shape(&e164) {
            return Err(PhoneError::Invalid { national });
        }
        Ok(E164(e164.into_owned()))
    }

    /// `+919876543210`
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `919876543210`: the older documentation's wire form, without `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

/// `cleaned` in E.164 when the fast path is sure the library would give exactly that (read
/// in national form in `region` when there is one); `cleaned` back, untouched, when it is not.
fn fast_path(cleaned: Cleaned, region: Option<Region>) -> Result<E164, Cleaned> {
    // normalize's own last check on the library's answer holds for the fast path's too.
    match region {
        None => match FAST.international(cleaned.digits()) {
            // Written as `+` and the E.164 digits: the text is the answer, no copy needed.
            Some(fast::Accepted::AsWritten) if is_e164_shape(&cleaned.with_plus) => {
                Ok(E164(cleaned.with_plus))
            }
            Some(fast::Accepted::Rewritten(e164)) if is_e164_shape(&e164) => Ok(E164(e164)),
            _ => Err(cleaned),
        },
        Some(region) => PHONE_NUMBER_UTIL
            .get_country_code_for_region(region.0)
            .and_then(|code| u16::try_from(code).ok())
            .and_then(|code| FAST.national(cleaned.digits(), code, region.0))
            .filter(|e164| is_e164_shape(e164))
            .map(E164)
            .ok_or(cleaned),
    }
}

/// The fast path's view of the regions of calling code `code`, in the order the library tries
/// them; `None` when the code does not exist, no regions when one of them has no metadata of
/// its own (a non-geographic code), which leaves the code to the library.
fn region_rules(code: u16) -> Option<Vec<fast::RegionRules<rlibphonenumber::Region>>> {
    use rlibphonenumber::interfaces::AsOriginal;
    // The metadata's types cannot be named from here, so a macro reads each description.
    macro_rules! desc {
        ($desc:expr) => {
            fast::Desc {
                pattern: $desc.national_number_pattern().pattern_base.clone(),
                possible_lengths: $desc.original.possible_length.clone(),
            }
        };
    }
    let regions = PHONE_NUMBER_UTIL.get_regions_for_country_calling_code(i32::from(code))?;
    let library = AsOriginal::as_original(&*PHONE_NUMBER_UTIL);
    let rules = regions
        .map(|region| {
            let m = library.get_metadata_for_region(region)?;
            // get_number_type_helper's order does not matter for validity, only which match.
            let mut kinds = vec![
                desc!(m.premium_rate),
                desc!(m.toll_free),
                desc!(m.shared_cost),
                desc!(m.voip),
                desc!(m.personal_number),
                desc!(m.pager),
                desc!(m.uan),
                desc!(m.voicemail),
                desc!(m.fixed_line),
            ];
            if !m.original.same_mobile_and_fixed_line_pattern() {
                kinds.push(desc!(m.mobile));
            }
            Some(fast::RegionRules {
                key: region,
                general: desc!(m.general_desc),
                local_only_lengths: m.general_desc.original.possible_length_local_only.clone(),
                kinds,
                leading_digits: m.leading_digits().pattern_base.clone(),
                national_prefix_for_parsing: m.national_prefix_for_parsing().pattern_base.clone(),
                international_prefix: m.international_prefix().pattern_base.clone(),
            })
        })
        .collect::<Option<Vec<_>>>();
    Some(rules.unwrap_or_default())
}

/// `^\+[1-9][0-9]{6,14}$`, the shape every output of [`E164::normalize`] has.
pub fn is_e164_shape(s: &str) -> bool {
    let b = s.as_bytes();
    (8..=16).contains(&b.len())
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.0)
    }
}

impl Region {
    /// Whether a number of this region written as `00` and `after_00` surely dials out: the
    /// library then reads it as `+` and `after_00`, so there is no second reading to weigh.
    fn dials_out(self, after_00: &str) -> bool {
        PHONE_NUMBER_UTIL
            .get_country_code_for_region(self.0)
            .and_then(|code| u16::try_from(code).ok())
            .is_some_and(|code| FAST.takes_00_for_international_prefix(after_00, code, self.0))
    }
}

/// Parses an ISO 3166 alpha-2 code that the phone metadata knows (`IN`, `gb`).
///
/// ```
/// use tc_core::Region;
///
/// let india: Region = "in".parse()?;
/// assert_eq!(india.to_string(), "IN");
/// assert!("XX".parse::<Region>().is_err());
/// # Ok::<(), tc_core::RegionError>(())
/// ```
impl FromStr for Region {
    type Err = RegionError;

    fn from_str(code: &str) -> Result<Region, RegionError> {
        let code = code.trim();
        rlibphonenumber::Region::from_code(code)
            .ok()
            .filter(|r| PHONE_NUMBER_UTIL.get_country_code_for_region(*r).is_some())
            .map(Region)
            .ok_or_else(|| RegionError {
                given: crate::diagnostic::excerpt(code),
            })
    }
}

/// A region code that is not an ISO 3166 alpha-2 code with phone numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionError {
    given: String,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a region with phone numbers; give an ISO 3166 code such as IN, GB or US",
            self.given
        )
    }
}

impl std::error::Error for RegionError {}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        code.parse().map_err(serde::de::Error::custom)
    }
}

/// Normalises a number written internationally (`+91 98765 43210`, `0091...`, or country code
/// and number as bare digits); [`E164::normalize`] reads national forms with a region.
///
/// ```
/// use tc_core::E164;
///
/// let number: E164 = "+91 98765-43210".parse()?;
/// assert_eq!(number.as_str(), "+919876543210");
/// # Ok::<(), tc_core::PhoneError>(())
/// ```
impl FromStr for E164 {
    type Err = PhoneError;

    fn from_str(text: &str) -> Result<E164, PhoneError> {
        E164::normalize(text, None)
    }
}

impl TryFrom<&str> for E164 {
    type Error = PhoneError;

    fn try_from(text: &str) -> Result<E164, PhoneError> {
        text.parse()
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;

    fn try_from(text: String) -> Result<E164, PhoneError> {
        text.parse()
    }
}

impl From<E164> for String {
    fn from(number: E164) -> String {
        number.0
    }
}

impl AsRef<str> for E164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Deserialising validates: the text is normalised as by [`FromStr`], and a number that is not
/// valid for its country is an error naming why.
impl<'de> serde::Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_region_str().as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({self})")
    }
}

impl PhoneError {
    /// The rule broken, as a diagnostic reports it.
    pub fn code(&self) -> Code {
        match self {
            PhoneError::Empty => Code::MissingField,
            PhoneError::ScientificNotation => Code::PhoneScientificNotation,
            PhoneError::HasLetters => Code::PhoneHasLetters,
            PhoneError::HasExtension => Code::PhoneHasExtension,
            PhoneError::InvalidCharacter(_) => Code::PhoneInvalidCharacters,
            PhoneError::InvalidCountryCode => Code::PhoneInvalidCountryCode,
            PhoneError::TooShort { .. } => Code::PhoneTooShort,
            PhoneError::TooLong { .. } => Code::PhoneTooLong,
            PhoneError::Invalid { .. } => Code::PhoneInvalid,
            PhoneError::AmbiguousPrefix { .. } => Code::PhoneAmbiguousPrefix,
        }
    }
}

/// For a number read in national form, the likeliest fix is a missing `+`.
const INTERNATIONAL_HINT: &str =
    "; if it is an international number, write it with + and its country code";

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = |national: &bool| if *national { INTERNATIONAL_HINT } else { "" };
        match self {
            PhoneError::Empty => f.write_str("the number is empty"),
            PhoneError::ScientificNotation => f.write_str(
                "a spreadsheet converted the number to scientific notation, which drops its last \
                 digits; format the phone column as text and export again from the original data",
            ),
            PhoneError::HasLetters => f.write_str(
                "the number contains letters; letters are never read as digits, so fix the typo",
            ),
            PhoneError::HasExtension => f.write_str(
                "the number has an extension, which cannot receive the call; give the direct number",
            ),
            PhoneError::InvalidCharacter(c) => write!(
                f,
                "the number contains `{}`; use only digits, spaces, + - . / and brackets",
                c.escape_debug()
            ),
            PhoneError::InvalidCountryCode => f.write_str(
                "the number starts with a country code that does not exist; check the digits after +",
            ),
            PhoneError::TooShort { national } => {
                write!(f, "the number is too short for its country{}", hint(national))
            }
            PhoneError::TooLong { national } => {
                write!(f, "the number is too long for its country{}", hint(national))
            }
            PhoneError::Invalid { national } => {
                write!(f, "not a valid number for its country{}", hint(national))
            }
            PhoneError::AmbiguousPrefix {
                international,
                national,
                region,
            } => write!(
                f,
                "with 00 as the international prefix this is {international}, but as a number \
                 of {region} it is {national}; write the one meant with + and its country code"
            ),
        }
    }
}

impl std::error::Error for PhoneError {}

struct Cleaned {
    /// `+` and the digits after any international prefix: the library reads the international
    /// form from it without another copy, and the national form is the same text after the `+`.
    with_plus: String,
    prefix: Prefix,
}

/// How a written number marks itself international.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// `+` before the first digit.
    Plus,
    /// `00` as its first digits, written without `+`.
    DoubleZero,
    /// Neither: national when there is a default region.
    Bare,
}

impl Cleaned {
    fn new() -> Cleaned {
        // The `+` and the most digits kept, one past the limit: never grown.
        let mut with_plus = String::with_capacity(MAX_DIGITS + 2);
        with_plus.push('+');
        Cleaned {
            with_plus,
            prefix: Prefix::Bare,
        }
    }

    fn digits(&self) -> &str {
        &self.with_plus[1..]
    }

    fn is_international(&self) -> bool {
        self.prefix != Prefix::Bare
    }

    /// The same digits with their `00` in front, as a number without a prefix: how a region
    /// whose international prefix is not `00` may read them.
    fn with_00_as_digits(&self) -> Cleaned {
        let mut with_plus = String::with_capacity(self.with_plus.len() + 2);
        with_plus.push_str("+00");
        with_plus.push_str(self.digits());
        Cleaned {
            with_plus,
            prefix: Prefix::Bare,
        }
    }

    /// Whether nothing but blanks and separators came before (the `00` prefix is digits).
    fn no_digit_yet(&self) -> bool {
        self.with_plus.len() == 1 && self.prefix != Prefix::DoubleZero
    }

    /// Keeps a digit. A second `0` opening a number without `+` makes the two its international
    /// prefix, which is not kept: the limit counts the digits after `00` as it does after `+`.
    fn push_digit(&mut self, digit: char) -> Result<(), PhoneError> {
        if digit == '0' && self.prefix == Prefix::Bare && self.with_plus == "+0" {
            self.with_plus.truncate(1);
            self.prefix = Prefix::DoubleZero;
            return Ok(());
        }
        // One digit past the limit is kept, so normalize says too long with its hint for
        // national numbers; more would grow the buffer for nothing.
        if self.digits().len() > MAX_DIGITS {
            return Err(PhoneError::TooLong { national: false });
        }
        self.with_plus.push(digit);
        Ok(())
    }

    /// Reads a character that is not a digit; `rest` is the text from it on.
    fn read_non_digit(&mut self, c: char, rest: &str) -> Result<(), PhoneError> {
        match c {
            '+' | '\u{FF0B}' if self.no_digit_yet() && self.prefix == Prefix::Bare => {
                self.prefix = Prefix::Plus;
            }
            c if c.is_whitespace() || PHONE_SEPARATORS.contains(&c) => {}
            '#' | ';' | ',' if !self.no_digit_yet() => return Err(PhoneError::HasExtension),
            c if c.is_alphabetic() => {
                return Err(if !self.no_digit_yet() && is_extension(rest) {
                    PhoneError::HasExtension
                } else {
                    PhoneError::HasLetters
                });
            }
            c => return Err(PhoneError::InvalidCharacter(c)),
        }
        Ok(())
    }
}

/// Reduces written text to its digits and how it was marked international (`+` or `00`),
/// rejecting letters, extensions and stray characters.
fn clean(input: &str) -> Result<Cleaned, PhoneError> {
    let text = crate::input::trim(input);
    if text.is_empty() {
        return Err(PhoneError::Empty);
    }
    if is_scientific(text) {
        return Err(PhoneError::ScientificNotation);
    }
    let mut cleaned = Cleaned::new();
    for (at, c) in text.char_indices() {
        match decimal_digit(c) {
            Some(digit) => cleaned.push_digit(digit)?,
            None => cleaned.read_non_digit(c, &text[at..])?,
        }
    }
    Ok(cleaned)
}

/// `9.19877E+11`, `9,19877E+11` (a decimal comma), `9.19877e11`: how a spreadsheet writes a
/// long number in a cell formatted as a number.
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let (whole, fraction) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, ""));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

/// `ext. 12`, `x12`, `extension 12`: a marker, then digits to the end.
fn is_extension(rest: &str) -> bool {
    let lower = rest.to_lowercase();
    let after = ["extension", "extn", "ext", "x", "доб"]
        .iter()
        .find_map(|marker| lower.strip_prefix(marker));
    after.is_some_and(|after| {
        let after = after
            .trim_start_matches(|c: char| c == '.' || c == ':' || c == '=' || c.is_whitespace());
        !after.is_empty()
            && after
                .chars()
                .all(|c| decimal_digit(c).is_some() || c.is_whitespace())
    })
}

/// Decimal digits of any common script, read as their ASCII value, as libphonenumber does.
/// Each of [`PHONE_DIGIT_ZEROS`] is a script's zero; its nine successors are 1 to 9.
#[inline]
fn decimal_digit(c: char) -> Option<char> {
    let cp = c as u32;
    if c.is_ascii() {
        return c.is_ascii_digit().then_some(c);
    }
    PHONE_DIGIT_ZEROS
        .iter()
        .map(|&zero| zero as u32)
        .find(|&zero| (zero..zero + 10).contains(&cp))
        .map(|zero| char::from(b'0' + (cp - zero) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str, region: Option<&str>) -> Result<String, PhoneError> {
        let region = region.map(|r| r.parse::<Region>().unwrap());
        E164::normalize(s, region).map(|n| n.as_str().to_owned())
    }

    #[test]
    fn messy_written_forms() {
        let ok = "+919876543210";
        for s in [
            "+91 98765 43210",
            "+91-98765-43210",
            "(+91) 98765.43210",
            "0091 98765 43210",
            "919876543210",
            " 91 9876543210 ",
            "＋９１９８７６５４３２１０",
            "+९१९८७६५४३२१०",
        ] {
            assert_eq!(norm(s, None).as_deref(), Ok(ok), "{s}");
        }
        for s in [
            "098765 43210",
            "9876543210",
            "+919876543210",
            "919876543210",
            "0091 9876543210",
        ] {
            assert_eq!(norm(s, Some("IN")).as_deref(), Ok(ok), "{s} in IN");
        }
    }

    #[test]
    fn every_separator_of_the_table_is_read_as_nothing() {
        for separator in PHONE_SEPARATORS {
            let written = format!("+91{separator}98765{separator}43210");
            assert_eq!(
                norm(&written, None).as_deref(),
                Ok("+919876543210"),
                "U+{:04X}",
                u32::from(*separator)
            );
        }
        // The full-width forms of `/ ~ [ ]`, as a Japanese input method writes them.
        assert_eq!(
            norm("［+91］９８７６５／４３２１０～", None).as_deref(),
            Ok("+919876543210")
        );
    }

    #[test]
    fn indian_mobile_starting_with_91_keeps_its_digits() {
        assert_eq!(
            norm("9106542107", Some("IN")).as_deref(),
            Ok("+919106542107")
        );
    }

    #[test]
    fn foreign_digits_with_a_region_are_not_second_guessed() {
        let err = norm("447911123456", Some("IN")).unwrap_err();
        assert!(
            matches!(
                err,
                PhoneError::TooLong { national: true } | PhoneError::Invalid { national: true }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("write it with +"));
        assert_eq!(
            norm("+447911123456", Some("IN")).as_deref(),
            Ok("+447911123456")
        );
    }

    #[test]
    fn letters_and_extensions_are_rejected() {
        assert_eq!(norm("+91 98765 4321O", None), Err(PhoneError::HasLetters));
        assert_eq!(norm("1-800-FLOWERS", None), Err(PhoneError::HasLetters));
        assert_eq!(
            norm("+1 212 555 0100 ext. 12", None),
            Err(PhoneError::HasExtension)
        );
        assert_eq!(
            norm("+1 212 555 0100 x12", None),
            Err(PhoneError::HasExtension)
        );
        assert_eq!(
            norm("+1 212 555 0100#12", None),
            Err(PhoneError::HasExtension)
        );
        assert_eq!(
            norm("+91*9876543210", None),
            Err(PhoneError::InvalidCharacter('*'))
        );
    }

    #[test]
    fn spreadsheet_scientific_notation_is_named_not_called_a_typo() {
        for written in [
            "9.19877E+11",
            "9,19877E+11",
            "9.19877e11",
            "+9.19877E+11",
            "9E+11",
        ] {
            let err = norm(written, Some("IN")).unwrap_err();
            assert_eq!(err, PhoneError::ScientificNotation, "{written}");
            assert_eq!(err.code(), Code::PhoneScientificNotation);
            let message = err.to_string();
            assert!(
                message.contains("scientific notation")
                    && message.contains("format the phone column as text"),
                "{message}"
            );
            assert!(!message.contains("typo"), "{message}");
        }
        // Letters that merely include an `E` are still letters.
        assert_eq!(norm("98E76 543210", None), Err(PhoneError::HasLetters));
    }

    #[test]
    fn validity_is_full_not_just_length() {
        assert_eq!(
            norm("+91 01234 56789", None).unwrap_err().code(),
            Code::PhoneInvalid
        );
        assert_eq!(
            norm("+999 1234567", None).unwrap_err().code(),
            Code::PhoneInvalidCountryCode
        );
        assert_eq!(norm("+9", None).unwrap_err().code(), Code::PhoneTooShort);
        assert_eq!(
            norm("+91 98765 43210 12345 678", None).unwrap_err().code(),
            Code::PhoneTooLong
        );
    }

    #[test]
    fn the_digit_limit_counts_the_digits_after_the_international_prefix() {
        // Japan's carrier prefix 003768 after the code: 17 digits of a valid number, and 18
        // with the trunk 0 the library also takes off. Only the limit tells them apart.
        for written in ["+81 003768 312345678", "0081 003768 312345678"] {
            assert_eq!(
                norm(written, None).as_deref(),
                Ok("+81312345678"),
                "{written}"
            );
        }
        for written in ["+81 0037680 312345678", "0081 0037680 312345678"] {
            let err = norm(written, None).unwrap_err();
            assert_eq!(err, PhoneError::TooLong { national: false }, "{written}");
        }
    }

    #[test]
    fn regions() {
        assert!("in".parse::<Region>().is_ok());
        assert!("ZZ".parse::<Region>().is_err());
        assert!("IND".parse::<Region>().is_err());
        assert_eq!("gb".parse::<Region>().unwrap().to_string(), "GB");
    }
}
